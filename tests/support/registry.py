"""Fixtures: real Debian ``docker-registry`` (distribution 2.8.2) processes on loopback, plus broken peers.

``start_registry(tmp_path, auth=..., tls=..., readonly=...)`` starts one registry and returns a
:class:`RunningRegistry`; the ``registry_factory`` fixture wraps it and stops everything at teardown.
Named fixtures cover the usual set-ups. Peers that fail on purpose: ``closed_port_host`` (connection
refused) and ``blackhole_host`` (accepts TCP, never answers).

Auth flavours: ``"none"``; ``"htpasswd"`` (bcrypt, made with ``htpasswd -Bbn``); ``"token"`` (the
registry trusts JWTs from :class:`TokenServer`, a small stdlib HTTP server that grants each user the
actions listed in ``token_users``; it grants fewer actions than asked, silently, as real ones do).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from mlrun_registry_ext.core.service import RegistryService

REGISTRY_BIN = "/usr/bin/docker-registry"
Auth = Literal["none", "htpasswd", "token"]

#: Default users. htpasswd: every user may push. token: "pusher" pulls and pushes, "reader" only pulls.
HTPASSWD_USERS: Mapping[str, str] = {"ci-builder": "builder-pw-1"}
TOKEN_USERS: Mapping[str, tuple[str, frozenset[str]]] = {
    "pusher": ("pusher-pw-1", frozenset({"pull", "push"})),
    "reader": ("reader-pw-1", frozenset({"pull"})),
}
TOKEN_SERVICE = "test-registry"
TOKEN_ISSUER = "test-token-issuer"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- certificates (openssl, as an admin would make them) --------------------------------------
def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_tls_files(
    directory: Path, *, hosts: tuple[str, ...] = ("127.0.0.1", "localhost"), days: int = 2
) -> tuple[Path, Path, Path]:
    """A CA and a server certificate it signs (SAN from ``hosts``): returns (ca.pem, cert.pem, key.pem).

    ``days=-1`` makes an already expired server certificate.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ec_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req",
        "-x509",
        *ec_key,
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=mlrun-registry-ext test CA",
        # a CA as Python 3.13's default (VERIFY_X509_STRICT) requires: key usage stated
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )
    _openssl(
        "req",
        *ec_key,
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        f"/CN={hosts[0]}",
        cwd=directory,
    )
    san = ",".join(f"IP:{h}" if h.replace(".", "").isdigit() else f"DNS:{h}" for h in hosts)
    (directory / "server.ext").write_text(
        f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        str(days),
        "-extfile",
        "server.ext",
        cwd=directory,
    )
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


# --- token server ------------------------------------------------------------------------------
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """A docker token server (``GET /token?service=&scope=``) signing ES256 JWTs with an ``x5c`` chain.

    ``requests`` records ``(user or None, [scopes])`` per call, so tests can count token fetches.
    ``token_key`` picks the response field (``token`` or ``access_token``), both seen in the wild.
    """

    def __init__(
        self,
        directory: Path,
        users: Mapping[str, tuple[str, frozenset[str]]],
        *,
        anonymous_actions: frozenset[str] = frozenset(),
        token_key: str = "token",
    ) -> None:
        self.users = dict(users)
        self.anonymous_actions = anonymous_actions
        self.token_key = token_key
        self.requests: list[tuple[str | None, list[str]]] = []
        #: OAuth2 refresh tokens (``identitytoken`` in a docker config) -> user; ``POST /token`` with
        #: ``grant_type=refresh_token`` trades them (distribution ``docs/spec/auth/oauth.md``)
        self.refresh_tokens: dict[str, str] = {}
        #: the form of each POST, for tests that check what a client sent
        self.posts: list[dict[str, list[str]]] = []
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test token signer")])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_path = directory / "token-signer.pem"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._handle(self)

            def do_POST(self) -> None:
                server._handle_post(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.realm = f"http://127.0.0.1:{self._httpd.server_address[1]}/token"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="token-server", daemon=True
        )
        self._thread.start()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        url = urlsplit(request.path)
        if url.path != "/token":
            self._reply(request, 404, {"error": "not found"})
            return
        query = parse_qs(url.query)
        scopes = query.get("scope", [])
        user: str | None = None
        allowed = self.anonymous_actions
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            known = self.users.get(user)
            if known is None or known[0] != password:
                self.requests.append((user, scopes))
                self._reply(
                    request, 401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}
                )
                return
            allowed = known[1]
        self.requests.append((user, scopes))
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = [a for a in actions.split(",") if a in allowed]
            access.append({"type": kind, "name": name, "actions": granted})
        self._reply(request, 200, {self.token_key: self.sign(user or "", access), "expires_in": 300})

    def _handle_post(self, request: BaseHTTPRequestHandler) -> None:
        """The OAuth2 token endpoint: ``grant_type=refresh_token`` with ``service``, ``client_id`` (both
        required) and a space-separated ``scope``; ``access_token`` in the answer. A 404 for anything else,
        as token servers without OAuth2 answer (the spec's note)."""
        length = int(request.headers.get("Content-Length") or 0)
        form = parse_qs(request.rfile.read(length).decode())
        self.posts.append(form)
        if urlsplit(request.path).path != "/token" or form.get("grant_type") != ["refresh_token"]:
            self._reply(request, 404, {"error": "unsupported"})
            return
        if not form.get("client_id") or form.get("service") != [TOKEN_SERVICE]:
            self._reply(request, 400, {"error": "invalid_request"})
            return
        user = self.refresh_tokens.get((form.get("refresh_token") or [""])[0])
        scopes = " ".join(form.get("scope", [])).split()
        self.requests.append((user, scopes))
        if user is None:
            self._reply(request, 401, {"error": "invalid_grant"})
            return
        allowed = self.users[user][1]
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": [a for a in actions.split(",") if a in allowed]})
        self._reply(request, 200, {"access_token": self.sign(user, access), "expires_in": 300})

    def sign(self, subject: str, access: list[dict[str, Any]]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [self._x5c]}
        claims = {
            "iss": TOKEN_ISSUER,
            "sub": subject,
            "aud": TOKEN_SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# --- the registry process ------------------------------------------------------------------------
@dataclass
class RunningRegistry:
    """A started registry. ``url`` is the base URL (scheme://host:port), ``host`` is ``127.0.0.1:port``."""

    url: str
    host: str
    ca_path: Path | None
    auth: Auth
    tls: bool
    readonly: bool
    root: Path
    users: dict[str, str] = field(default_factory=dict)
    token_server: TokenServer | None = None
    process: subprocess.Popen[bytes] | None = None

    def service(
        self,
        username: str | None = None,
        password: str | None = None,
        *,
        path: str = "",
        name: str = "default",
        ca: bool = True,
        **extra: Any,
    ) -> RegistryService:
        """A :class:`RegistryService` for this registry (``ca=False`` leaves the CA bundle out)."""
        url = f"{self.host}/{path}" if path else self.host
        fields: dict[str, Any] = {
            "name": name,
            "url": url,
            "username": username,
            "password": password,
            "insecure": not self.tls,
            "ca_bundle": str(self.ca_path) if ca and self.ca_path else None,
        }
        return RegistryService(**{**fields, **extra})

    def stop(self) -> None:
        """Stop the registry (and its token server); safe to call twice."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.token_server is not None:
            self.token_server.stop()
            self.token_server = None


def _registry_config(
    root: Path,
    port: int,
    *,
    auth: Auth,
    tls_files: tuple[Path, Path] | None,
    readonly: bool,
    htpasswd: Path | None,
    token: TokenServer | None,
) -> dict[str, Any]:
    storage: dict[str, Any] = {
        "filesystem": {"rootdirectory": str(root / "data")},
        "delete": {"enabled": True},
    }
    if readonly:
        storage["maintenance"] = {"readonly": {"enabled": True}}
    http: dict[str, Any] = {"addr": f"127.0.0.1:{port}", "secret": "test-secret"}
    if tls_files:
        http["tls"] = {"certificate": str(tls_files[0]), "key": str(tls_files[1])}
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": storage,
        "http": http,
    }
    if auth == "htpasswd":
        config["auth"] = {"htpasswd": {"realm": "test-registry", "path": str(htpasswd)}}
    elif auth == "token" and token is not None:
        config["auth"] = {
            "token": {
                "realm": token.realm,
                "service": TOKEN_SERVICE,
                "issuer": TOKEN_ISSUER,
                "rootcertbundle": str(token.cert_path),
            }
        }
    return config


def _wait_ready(registry: RunningRegistry, log: Path, deadline: float) -> bool:
    """Poll ``/v2/`` until the registry answers; False when the process died (e.g. port taken)."""
    assert registry.process is not None
    with httpx.Client(verify=False, timeout=1.0) as client:  # any answer will do, even to a bad certificate
        while time.monotonic() < deadline:
            if registry.process.poll() is not None:
                return False
            try:
                client.get(f"{registry.url}/v2/")
                return True
            except httpx.HTTPError:
                time.sleep(0.02)
    registry.stop()
    raise RuntimeError(f"docker-registry did not answer within 10 s; log:\n{log.read_text()[-2000:]}")


def start_registry(
    tmp_path: Path,
    *,
    auth: Auth = "none",
    tls: bool = False,
    readonly: bool = False,
    htpasswd_users: Mapping[str, str] = HTPASSWD_USERS,
    token_users: Mapping[str, tuple[str, frozenset[str]]] = TOKEN_USERS,
    anonymous_actions: frozenset[str] = frozenset(),
    token_key: str = "token",
    cert_hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
    cert_days: int = 2,
    root: Path | None = None,
) -> RunningRegistry:
    """Start ``docker-registry serve`` on a free loopback port and wait until it answers.

    ``root`` (default: a new directory under ``tmp_path``) holds config, certificates and storage;
    pass the same ``root`` again to restart a registry on its old data. The caller must ``stop()`` it
    (the ``registry_factory`` fixture does).
    """
    root = root or Path(tmp_path) / f"registry-{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True, exist_ok=True)
    ca_path: Path | None = None
    tls_files: tuple[Path, Path] | None = None
    if tls:
        ca_path, cert, key = make_tls_files(root / "tls", hosts=cert_hosts, days=cert_days)
        tls_files = (cert, key)
    htpasswd: Path | None = None
    users: dict[str, str] = {}
    if auth == "htpasswd":
        htpasswd = root / "htpasswd"
        lines = [
            subprocess.run(
                ["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True
            ).stdout.strip()
            for user, password in htpasswd_users.items()
        ]
        htpasswd.write_text("\n".join(lines) + "\n")
        users = dict(htpasswd_users)
    token = None
    if auth == "token":
        token = TokenServer(root, token_users, anonymous_actions=anonymous_actions, token_key=token_key)
        users = {user: password for user, (password, _) in token_users.items()}
    log = root / "registry.log"
    for _attempt in range(5):  # another process may grab the free port between probe and bind
        port = free_port()
        config = root / "config.yml"
        config.write_text(
            json.dumps(
                _registry_config(
                    root,
                    port,
                    auth=auth,
                    tls_files=tls_files,
                    readonly=readonly,
                    htpasswd=htpasswd,
                    token=token,
                )
            )
        )
        registry = RunningRegistry(
            url=f"{'https' if tls else 'http'}://127.0.0.1:{port}",
            host=f"127.0.0.1:{port}",
            ca_path=ca_path,
            auth=auth,
            tls=tls,
            readonly=readonly,
            root=root,
            users=users,
            token_server=token,
        )
        with log.open("ab") as out:
            registry.process = subprocess.Popen(
                [REGISTRY_BIN, "serve", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        if _wait_ready(registry, log, time.monotonic() + 10):
            return registry
    if token is not None:
        token.stop()
    raise RuntimeError(f"docker-registry failed to start; log:\n{log.read_text()[-2000:]}")


# --- peers that fail on purpose ------------------------------------------------------------------
@contextlib.contextmanager
def closed_port() -> Iterator[str]:
    """``127.0.0.1:PORT`` where nothing listens (connection refused); the port is held so nobody takes it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@contextlib.contextmanager
def blackhole() -> Iterator[str]:
    """``127.0.0.1:PORT`` that completes TCP handshakes (kernel backlog) and never says a byte."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


# --- pytest fixtures -----------------------------------------------------------------------------
@pytest.fixture
def registry_factory(tmp_path: Path) -> Iterator[Callable[..., RunningRegistry]]:
    """``registry_factory(**start_registry_kwargs)``: start as many registries as a test needs."""
    started: list[RunningRegistry] = []

    def start(**kwargs: Any) -> RunningRegistry:
        registry = start_registry(tmp_path, **kwargs)
        started.append(registry)
        return registry

    yield start
    for registry in started:
        registry.stop()


@pytest.fixture
def registry_anonymous(registry_factory: Callable[..., RunningRegistry]) -> RunningRegistry:
    return registry_factory()


@pytest.fixture
def registry_htpasswd_tls(registry_factory: Callable[..., RunningRegistry]) -> RunningRegistry:
    return registry_factory(auth="htpasswd", tls=True)


@pytest.fixture
def registry_token(registry_factory: Callable[..., RunningRegistry]) -> RunningRegistry:
    return registry_factory(auth="token")


@pytest.fixture
def registry_readonly(registry_factory: Callable[..., RunningRegistry]) -> RunningRegistry:
    return registry_factory(readonly=True)


@pytest.fixture
def closed_port_host() -> Iterator[str]:
    with closed_port() as host:
        yield host


@pytest.fixture
def blackhole_host() -> Iterator[str]:
    with blackhole() as host:
        yield host
