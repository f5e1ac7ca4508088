"""The stdlib HTTP transport under the registry client: keep-alive, stale connections, redirects,
early answers to uploads, and proxies (a real Debian ``tinyproxy``) in front of real registries."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import SecretStr

from mlrun_registry_ext.clients.registry.client import RegistryClient
from mlrun_registry_ext.clients.registry.errors import RegistryConnectionError
from mlrun_registry_ext.clients.transport import Transport, TransportError
from mlrun_registry_ext.errors import RegistryAPIError
from tests.support.registry import RunningRegistry, free_port

Factory = Callable[..., RunningRegistry]


# --- small loopback peers ------------------------------------------------------------------------
class _Peer(BaseHTTPRequestHandler):
    """HTTP/1.1 peer; the test class attributes say how it behaves, ``seen`` records what it got."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, str, int, str | None]]] = []
    close_after_each = False
    redirect_to: ClassVar[str | None] = None
    refuse_uploads = False

    def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.close_after_each:  # like a server whose idle timeout closes kept-alive connections
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

    def do_GET(self) -> None:
        self.seen.append(("GET", self.path, self.client_address[1], self.headers.get("Authorization")))
        if self.redirect_to and self.path.startswith("/redirect"):
            self._answer(307, headers={"Location": self.redirect_to + "/landed"})
        else:
            self._answer(200, b"hello")

    def do_PUT(self) -> None:
        self.seen.append(("PUT", self.path, self.client_address[1], self.headers.get("Authorization")))
        if self.refuse_uploads:  # answer before reading the body, then hang up (as registries do on 401/413)
            self.close_connection = True
            self._answer(413, b'{"errors":[{"code":"SIZE_INVALID","message":"too big"}]}',
                         {"Content-Type": "application/json", "Connection": "close"})
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        length = int(self.headers.get("Content-Length") or 0)
        while length:
            length -= len(self.rfile.read(min(length, 1 << 16)))
        self._answer(201)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def peer(**behaviour: object) -> Iterator[tuple[str, list[tuple[str, str, int, str | None]]]]:
    handler = type("Peer", (_Peer,), {"seen": [], **behaviour})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.seen
    finally:
        server.shutdown()
        server.server_close()


def test_requests_reuse_one_kept_alive_connection() -> None:
    with peer() as (url, seen), Transport() as transport:
        for _ in range(20):
            assert transport.request("GET", url + "/x").content == b"hello"
    assert len(seen) == 20 and len({port for *_, port, _ in seen}) == 1


def test_a_connection_the_server_closed_is_replaced_without_an_error() -> None:
    with peer(close_after_each=True) as (url, seen), Transport() as transport:
        answers = [transport.request("GET", url + f"/{i}").status_code for i in range(5)]
    assert answers == [200] * 5
    assert len({port for *_, port, _ in seen}) == 5  # a new connection each time, silently


def test_redirects_keep_credentials_on_the_origin_and_drop_them_elsewhere() -> None:
    with peer() as (other, other_seen), peer(redirect_to=other) as (url, seen), Transport() as transport:
        response = transport.request("GET", url + "/redirect", headers={"Authorization": "Basic c2VjcmV0"},
                                     follow_redirects=True)
        assert response.status_code == 200 and response.url == other + "/landed"
        assert seen[0][3] == "Basic c2VjcmV0"
        assert other_seen[0][3] is None
        unfollowed = transport.request("GET", url + "/redirect")
        assert unfollowed.status_code == 307


def test_an_answer_sent_before_the_upload_was_read_is_reported_not_a_broken_pipe() -> None:
    def body() -> Iterator[bytes]:
        for _ in range(64):
            yield b"x" * (1 << 20)

    with peer(refuse_uploads=True) as (url, _seen), Transport() as transport:
        response = transport.request("PUT", url + "/upload", body=body(),
                                     headers={"Content-Length": str(64 << 20)})
    assert response.status_code == 413 and b"SIZE_INVALID" in response.content


def test_a_refused_connection_is_a_transport_error_naming_the_url() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{held.getsockname()[1]}/v2/"
        with Transport() as transport, pytest.raises(TransportError, match="connecting to") as caught:
            transport.request("GET", url)
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


# --- proxies: a real tinyproxy --------------------------------------------------------------------
PROXY_USER, PROXY_PASSWORD = "proxy-user", "proxy-pw-1"


@pytest.fixture
def tinyproxy(tmp_path: Path) -> Iterator[str]:
    """Debian's tinyproxy on loopback with Basic proxy auth; yields ``127.0.0.1:PORT``."""
    port = free_port()
    log = tmp_path / "tinyproxy.log"
    conf = tmp_path / "tinyproxy.conf"
    conf.write_text(f"Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nMaxClients 50\n"
                    f"LogFile \"{log}\"\nLogLevel Connect\nBasicAuth {PROXY_USER} {PROXY_PASSWORD}\n"
                    "DisableViaHeader Yes\n")
    process = subprocess.Popen(["tinyproxy", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tinyproxy did not start: {log.read_text() if log.exists() else ''}")
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _proxied_client(registry: RunningRegistry, user: str, password: str) -> RegistryClient:
    return RegistryClient(registry.host, username=user, password=SecretStr(password), insecure=not registry.tls,
                          ca_bundle=str(registry.ca_path) if registry.ca_path else None)


@pytest.mark.parametrize("tls", [True, False], ids=["https-connect-tunnel", "http-absolute-uri"])
def test_registries_are_reached_through_the_environment_proxy(
        tls: bool, tinyproxy: str, registry_factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = registry_factory(auth="htpasswd", tls=tls)
    user, password = next(iter(registry.users.items()))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    variable = "HTTPS_PROXY" if tls else "HTTP_PROXY"
    # urllib (and curl) skip proxies for loopback unless NO_PROXY says otherwise: name a host that is not
    monkeypatch.setenv("no_proxy", "example.invalid")
    monkeypatch.setenv(variable, f"http://{PROXY_USER}:{PROXY_PASSWORD}@{tinyproxy}")
    with _proxied_client(registry, user, password) as client:
        assert client.check_auth().scheme == "basic"
        client.check_push("mlrun/through-proxy")

    # the traffic really went through it: with the wrong proxy password the proxy refuses (tinyproxy
    # answers 401, to a CONNECT and to a plain-HTTP request alike)
    monkeypatch.setenv(variable, f"http://{PROXY_USER}:wrong-proxy-pw@{tinyproxy}")
    with _proxied_client(registry, user, password) as client, pytest.raises(RegistryAPIError) as caught:
        client.check_auth()
    if tls:
        assert isinstance(caught.value, RegistryConnectionError)
        assert f"through the proxy {tinyproxy}" in str(caught.value)
    assert "wrong-proxy-pw" not in str(caught.value) and password not in str(caught.value)

    # NO_PROXY wins: a dead proxy does not matter for a host it names
    monkeypatch.setenv(variable, "http://127.0.0.1:9")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with _proxied_client(registry, user, password) as client:
        assert client.check_auth().scheme == "basic"
