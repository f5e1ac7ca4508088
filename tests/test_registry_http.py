"""The registry HTTP client against real Debian docker-registry processes (and broken peers)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from mlrun_registry_ext.clients.registry.challenge import parse_www_authenticate
from mlrun_registry_ext.clients.registry.client import PUSH, RegistryClient
from mlrun_registry_ext.clients.registry.errors import (
    DeniedError,
    NameUnknownError,
    NotARegistryError,
    RegistryConnectionError,
    RegistryTimeoutError,
    RegistryTLSError,
    TooManyRequestsError,
    UnauthorizedError,
    UnsupportedError,
)
from mlrun_registry_ext.core.manifest import MANIFEST_MEDIA_TYPES
from mlrun_registry_ext.errors import RegistryAPIError
from tests.support.env import CANARY
from tests.support.faults import ended_by_deadline
from tests.support.registry import RunningRegistry

Factory = Callable[..., RunningRegistry]


def client_for(
    registry: RunningRegistry,
    user: str | None = None,
    password: str | None = None,
    *,
    ca: bool = True,
    timeout: float = 5.0,
) -> RegistryClient:
    return RegistryClient.for_service(registry.service(user, password, ca=ca), timeout=timeout)


def uploads_left(registry: RunningRegistry, repository: str) -> list[Path]:
    """Open upload sessions (their data); distribution 2.8.2 leaves an empty ``hashstates`` dir on cancel."""
    folder = registry.root / "data/docker/registry/v2/repositories" / repository / "_uploads"
    return [p for p in folder.glob("*/*") if p.name in ("data", "startedat")]


# --- WWW-Authenticate --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
            'scope="repository:team/app:pull,push"',
            [
                (
                    "bearer",
                    {
                        "realm": "https://auth.example.com/token",
                        "service": "registry.example.com",
                        "scope": "repository:team/app:pull,push",
                    },
                )
            ],
        ),
        ('Basic realm="Registry Realm"', [("basic", {"realm": "Registry Realm"})]),
        (
            'Basic realm="a, b", Bearer realm="https://t/x" , service = svc, error="insufficient_scope"',
            [
                ("basic", {"realm": "a, b"}),
                ("bearer", {"realm": "https://t/x", "service": "svc", "error": "insufficient_scope"}),
            ],
        ),
        ('Bearer realm="say \\"hi\\", then go"', [("bearer", {"realm": 'say "hi", then go'})]),
        ("Basic", [("basic", {})]),
        ('BEARER Realm="https://t"', [("bearer", {"realm": "https://t"})]),
        ('Bearer realm="unterminated', [("bearer", {"realm": "unterminated"})]),
        ("", []),
    ],
)
def test_www_authenticate_parser(header: str, expected: list[tuple[str, dict[str, str]]]) -> None:
    assert [(c.scheme, dict(c.params)) for c in parse_www_authenticate(header)] == expected


# --- anonymous ---------------------------------------------------------------------------------------
def test_anonymous_registry_ping_push_pull_and_nothing_left(registry_anonymous: RunningRegistry) -> None:
    with client_for(registry_anonymous) as client:
        assert client.base_url.startswith("http://")
        assert client.ping().status == 200
        assert client.check_auth().anonymous
        client.check_push("mlrun/doctor")
        assert uploads_left(registry_anonymous, "mlrun/doctor") == []
        assert "mlrun/doctor" not in client.catalog()
        assert client.check_pull("mlrun/doctor") is False  # pull allowed, repository not there
        assert client.head_manifest("mlrun/doctor", "latest") is None
        with pytest.raises(NameUnknownError):
            client.tags("mlrun/doctor")


def test_generic_request_and_stream_move_a_blob(registry_token: RunningRegistry) -> None:
    """What the migration engine builds on: authenticated uploads (one-shot body) and streamed reads."""
    data = b"layer-bytes" * 1000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    repo = "team/blob"
    with client_for(registry_token, "pusher", registry_token.users["pusher"]) as client:
        started = client.request("POST", f"/v2/{repo}/blobs/uploads/", scope_repo=repo, actions=PUSH)
        assert started.status_code == 202

        def chunks() -> Iterator[bytes]:  # not rewindable: must go out already authenticated
            yield data[:5000]
            yield data[5000:]

        done = client.request(
            "PUT",
            started.headers["location"],
            scope_repo=repo,
            actions=PUSH,
            params={"digest": digest},
            content=chunks(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201
        assert client.blob_exists(repo, digest)
        with client.stream(
            "GET", f"/v2/{repo}/blobs/{digest}", scope_repo=repo, follow_redirects=True
        ) as resp:
            assert b"".join(resp.iter_raw()) == data
        assert not client.blob_exists(repo, "sha256:" + "0" * 64)
        # A cross-repository mount: the registry's challenge asks for two scopes, space-separated.
        mounted = client.request(
            "POST",
            "/v2/team/other/blobs/uploads/",
            scope_repo="team/other",
            actions=PUSH,
            params={"mount": digest, "from": repo},
        )
        assert mounted.status_code == 201


# --- htpasswd + TLS ------------------------------------------------------------------------------
def test_tls_with_ca_and_password(registry_htpasswd_tls: RunningRegistry) -> None:
    with client_for(registry_htpasswd_tls, "ci-builder", "builder-pw-1") as client:
        assert client.base_url.startswith("https://")
        ping = client.ping()
        assert ping.status == 401 and ping.challenge is not None and ping.challenge.scheme == "basic"
        assert client.check_auth().scheme == "basic"
        client.check_push("team/doctor")
        assert uploads_left(registry_htpasswd_tls, "team/doctor") == []
        assert client.check_pull("team/doctor") is False


def test_missing_ca_is_diagnosed_as_unknown_authority(registry_htpasswd_tls: RunningRegistry) -> None:
    client = client_for(registry_htpasswd_tls, "ci-builder", "builder-pw-1", ca=False)
    with client, pytest.raises(RegistryTLSError) as caught:
        client.ping()
    assert caught.value.kind == "unknown-authority"
    assert "unknown authority" in str(caught.value)
    assert "MLRUN_REGISTRY_EXT_CA_BUNDLE" in str(caught.value)


def test_ca_bundle_from_environment(
    registry_htpasswd_tls: RunningRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pydantic import SecretStr

    from mlrun_registry_ext.features.api import resolve_registry

    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", registry_htpasswd_tls.host)
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CA_BUNDLE", str(registry_htpasswd_tls.ca_path))
    service = resolve_registry(username="ci-builder", password=SecretStr("builder-pw-1")).service
    with RegistryClient.for_service(service) as client:
        assert client.check_auth().scheme == "basic"
    # the variable belongs to the active service: a client for another registry keeps the system store
    with RegistryClient(registry_htpasswd_tls.host) as other, pytest.raises(RegistryTLSError):
        other.ping()


def test_wrong_password_names_user_and_registry(registry_htpasswd_tls: RunningRegistry) -> None:
    with client_for(registry_htpasswd_tls, "ci-builder", CANARY) as client:
        with pytest.raises(UnauthorizedError) as caught:
            client.check_auth()
        with pytest.raises(UnauthorizedError):
            client.check_push("team/doctor")
    assert (
        str(caught.value) == f"the password for user ci-builder was rejected by {registry_htpasswd_tls.host}"
    )


def test_hostname_mismatch_and_expired_certificate(registry_factory: Factory) -> None:
    wrong_name = registry_factory(tls=True, cert_hosts=("localhost",))
    expired = registry_factory(tls=True, cert_days=-1)
    for registry, kind in ((wrong_name, "hostname-mismatch"), (expired, "expired")):
        with client_for(registry) as client, pytest.raises(RegistryTLSError) as caught:
            client.ping()
        assert caught.value.kind == kind, str(caught.value)


def test_https_to_a_plain_http_registry_is_not_tls(registry_anonymous: RunningRegistry) -> None:
    with RegistryClient(registry_anonymous.host) as client, pytest.raises(RegistryTLSError) as caught:
        client.ping()
    assert caught.value.kind == "not-tls"


# --- token auth ------------------------------------------------------------------------------------
def test_token_auth_tells_pull_only_user_from_pusher(registry_token: RunningRegistry) -> None:
    users = registry_token.users
    with client_for(registry_token, "pusher", users["pusher"]) as pusher:
        assert pusher.check_auth().scheme == "bearer"
        pusher.check_push("team/app")
        assert pusher.check_pull("team/app") is False
    with client_for(registry_token, "reader", users["reader"]) as reader:
        assert reader.check_auth().scheme == "bearer"  # the token server accepts the password...
        with pytest.raises(DeniedError) as caught:  # ...and grants pull only, without an error
            reader.check_push("team/app")
        assert reader.check_pull("team/app") is False
    assert str(caught.value) == f"user reader is not allowed to push to team/app on {registry_token.host}"


def test_token_server_rejects_wrong_password(registry_token: RunningRegistry) -> None:
    with client_for(registry_token, "pusher", CANARY) as client, pytest.raises(UnauthorizedError) as caught:
        client.check_auth()
    assert "the password for user pusher was rejected by" in str(caught.value)
    assert CANARY not in str(caught.value)


def test_tokens_are_cached_per_scope(registry_token: RunningRegistry) -> None:
    assert registry_token.token_server is not None
    with client_for(registry_token, "pusher", registry_token.users["pusher"]) as client:
        for _ in range(3):
            client.check_pull("team/app")
        pull_fetches = [
            s for _, s in registry_token.token_server.requests if s == ["repository:team/app:pull"]
        ]
        assert len(pull_fetches) == 1


def test_access_token_field_and_anonymous_pull(registry_factory: Factory) -> None:
    registry = registry_factory(auth="token", token_key="access_token", anonymous_actions=frozenset({"pull"}))
    with client_for(registry) as client:
        assert client.check_auth().anonymous
        assert client.check_pull("team/app") is False
        with pytest.raises(DeniedError, match="anonymous access is not allowed to push"):
            client.check_push("team/app")


# --- read-only, errors, broken peers -----------------------------------------------------------------
def test_read_only_registry_refuses_push_allows_pull(registry_readonly: RunningRegistry) -> None:
    with client_for(registry_readonly) as client:
        with pytest.raises(UnsupportedError, match="read-only"):
            client.check_push("mlrun/doctor")
        assert client.check_pull("mlrun/doctor") is False


class _CannedErrors(BaseHTTPRequestHandler):
    """A loopback HTTP server answering ``/v2/<status>/...`` with that status and a distribution error body."""

    CODES: ClassVar[dict[int, str]] = {429: "TOOMANYREQUESTS", 403: "DENIED", 404: "NAME_UNKNOWN", 401: "UNAUTHORIZED"}

    def do_GET(self) -> None:
        status = 200 if self.path == "/v2/" else int(self.path.split("/")[2])
        body = b"{}" if status == 200 else json.dumps(
            {"errors": [{"code": self.CODES[status], "message": "canned"}]}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if status == 429:
            self.send_header("Retry-After", "7")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_distribution_error_bodies_become_typed_errors() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CannedErrors)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    errors = {}
    try:
        with RegistryClient(f"127.0.0.1:{server.server_address[1]}", insecure=True) as client:
            for status in (429, 403, 404, 401):
                with pytest.raises(RegistryAPIError) as caught:
                    client.request("GET", f"/v2/{status}/tags/list", scope_repo="team/app")
                errors[status] = caught.value
    finally:
        server.shutdown()
        server.server_close()
    limited, denied, unknown, unauthorized = errors[429], errors[403], errors[404], errors[401]
    assert isinstance(limited, TooManyRequestsError) and limited.retry_after == 7.0
    assert "retry after 7 s" in str(limited)
    assert isinstance(denied, DeniedError) and denied.code == "DENIED" and denied.status == 403
    assert isinstance(unknown, NameUnknownError) and "team/app does not exist" in str(unknown)
    assert isinstance(unauthorized, UnauthorizedError)
    assert all(isinstance(e, RegistryAPIError) for e in (limited, denied, unknown, unauthorized))
    assert set(MANIFEST_MEDIA_TYPES) >= {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }


def test_not_a_registry(registry_token: RunningRegistry) -> None:
    assert registry_token.token_server is not None
    realm = urlsplit(registry_token.token_server.realm)
    with RegistryClient(realm.netloc, insecure=True) as client, pytest.raises(NotARegistryError):
        client.ping()  # the token server is an HTTP server but not a registry


def test_stopped_registry_fails_fast(closed_port_host: str) -> None:
    started = time.monotonic()
    client = RegistryClient(closed_port_host, insecure=True, timeout=1.0)
    with client, pytest.raises(RegistryConnectionError) as caught:
        client.ping()
    assert caught.value.kind == "refused"
    assert ended_by_deadline(time.monotonic() - started, 1.0)


@pytest.mark.parametrize("insecure", [True, False])
def test_blackhole_times_out_within_bound(blackhole_host: str, insecure: bool) -> None:
    started = time.monotonic()
    client = RegistryClient(blackhole_host, insecure=insecure, timeout=1.0)
    with client, pytest.raises(RegistryTimeoutError):
        client.ping()
    assert ended_by_deadline(time.monotonic() - started, 1.0)


# --- secrets ---------------------------------------------------------------------------------------------
def test_password_never_in_repr_errors_or_logs(
    registry_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    htpasswd = registry_factory(auth="htpasswd", tls=True, htpasswd_users={"ci-builder": CANARY})
    token = registry_factory(auth="token", token_users={"reader": (CANARY, frozenset({"pull"}))})
    seen: list[str] = []
    for registry, user in ((htpasswd, "ci-builder"), (token, "reader")):
        for password in (CANARY, CANARY + "-wrong"):
            with client_for(registry, user, password) as client:
                seen.append(repr(client))
                for probe in (
                    client.check_auth,
                    lambda c=client: c.check_push("team/x"),
                    lambda c=client: c.check_pull("team/x"),
                ):
                    try:
                        probe()
                    except RegistryAPIError as exc:
                        seen += [str(exc), repr(exc)]
    assert any("rejected" in text for text in seen)
    text = "\n".join(seen) + caplog.text
    assert CANARY not in text
    with pytest.raises(TypeError):
        RegistryClient("r.example.com", username="u", password=CANARY)  # type: ignore[arg-type]
    assert CANARY not in repr(RegistryClient("r.example.com", username="u", password=SecretStr(CANARY)))


def test_one_retry_policy_sends_reads_and_manifest_puts_again_but_never_a_post() -> None:
    """A registry answering 502 once to every request: with a RetryPolicy the GET, HEAD and the manifest
    PUT succeed on their second try; the POST that opens an upload is sent once (a retried POST would
    open a second session; a blob copy is retried as a whole). Without a policy (the doctor) nothing is."""
    from mlrun_registry_ext.clients.registry.client import RetryPolicy

    seen: list[tuple[str, str]] = []

    class Flaky(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            key = (self.command, self.path)
            seen.append(key)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status = 502 if seen.count(key) == 1 else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.send_header("Docker-Content-Digest", "sha256:" + "0" * 64)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(b"{}")

        do_GET = do_HEAD = do_PUT = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    try:
        policy = RetryPolicy(attempts=3, base_delay=0.0, sleep=lambda _: None)
        with RegistryClient(host, insecure=True, retry=policy) as client:
            client.request("GET", "/v2/team/app/tags/list")
            assert client.head_manifest("team/app", "v1") is not None
            client.request("PUT", "/v2/team/app/manifests/v1", content=b"{}", actions=PUSH)
            with pytest.raises(RegistryAPIError, match="502"):
                client.request("POST", "/v2/team/app/blobs/uploads/", actions=PUSH)
            assert client.requests == 7
        assert seen.count(("POST", "/v2/team/app/blobs/uploads/")) == 1
        with RegistryClient(host, insecure=True) as client, pytest.raises(RegistryAPIError, match="502"):
            client.request("GET", "/v2/other/tags/list")
    finally:
        server.shutdown()
        server.server_close()
