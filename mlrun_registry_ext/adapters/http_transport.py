"""A small HTTP/1.1 transport on the standard library: pooled keep-alive connections, TLS, proxies
from the environment, streamed bodies both ways.

Why not httpx: a registry copy is a few hundred small requests and a few large streams. On a busy
2-core machine httpx cost ~1.5 ms of CPU per request and ~70 ms to import, and moved every 64 KiB
of a blob through four copies; ``http.client`` costs a fraction of that per request and
``readinto`` fills the caller's buffer straight from the socket. The registry protocol (auth,
errors, retries) lives in :mod:`registry_http`; this module only moves bytes.

Errors are :class:`TransportError` (with the socket, DNS or TLS error as its ``__cause__``) or
:class:`TransportTimeout`; an HTTP error status is a normal :class:`Response`.
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import os
import select
import socket
import ssl
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from mlrun_registry_ext.errors import ConfigError

Body = bytes | Iterable[bytes | memoryview] | None

#: Status codes that carry a ``Location`` to follow (when asked to).
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
#: Idle connections kept per origin (more are closed when released).
MAX_IDLE = 32
#: Errors that mean "the kept-alive connection was closed by the peer": resend on a fresh one.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class TransportError(Exception):
    """No (complete) HTTP answer: DNS, refused, TLS, a dropped connection. The cause is chained."""


class TransportTimeout(TransportError):
    """Connecting, sending or one read took longer than the timeout."""


Origin = tuple[str, str, int]


@functools.cache
def system_context() -> ssl.SSLContext:
    """The system trust store; loading it costs ~50 ms (more when threads contend): once per process."""
    return ssl.create_default_context()


def tls_context(ca_bundle: str | None, field: str = "ca_bundle") -> ssl.SSLContext:
    """The system trust store, or only ``ca_bundle`` (a PEM file path or PEM text) when given; a bad
    bundle is a :class:`ConfigError` naming ``field`` (the setting it came from)."""
    if not ca_bundle:
        return system_context()
    if ca_bundle.lstrip().startswith("-----BEGIN"):
        try:
            return ssl.create_default_context(cadata=ca_bundle)
        except ssl.SSLError as exc:
            raise ConfigError(field, f"the PEM text is not a CA bundle ({exc.reason or exc})") from None
    path = os.path.expanduser(ca_bundle)
    if not os.path.isfile(path):
        raise ConfigError(field, f"CA bundle file {path!r} does not exist or is not a file")
    try:
        return ssl.create_default_context(cafile=path)
    except ssl.SSLError as exc:
        raise ConfigError(field, f"{path!r} is not a PEM CA bundle ({exc.reason or exc})") from None


def origin_of(url: str) -> Origin:
    """``(scheme, host, port)``: what a kept-alive connection is for (a Location may point anywhere)."""
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:  # e.g. a port that is not a number
        host = None
    if host is None or scheme not in ("http", "https"):
        raise TransportError(f"not an http(s) URL: {url!r}")
    return scheme, host, port or (443 if scheme == "https" else 80)


class Response:
    """One response. Without ``stream`` the body is already read (:attr:`content`); with it, read it
    with :meth:`readinto` / :meth:`iter_raw` and :meth:`close` the response (the context manager does)."""

    def __init__(self, raw: http.client.HTTPResponse, method: str, url: str,
                 release: Any) -> None:
        self._raw = raw
        self._release = release
        self._content: bytes | None = None
        self.method = method
        self.url = url
        self.status_code = raw.status
        self.headers = raw.headers
        self.http_version = "HTTP/1.1" if raw.version == 11 else "HTTP/1.0"

    def __repr__(self) -> str:
        return f"<Response {self.status_code} {self.method} {self.url}>"

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def content(self) -> bytes:
        return self.read()

    def read(self) -> bytes:
        """The whole body (read once, kept); the connection goes back to the pool."""
        if self._content is None:
            try:
                self._content = self._raw.read()
            except (OSError, http.client.HTTPException) as exc:
                self._content = b""
                self._finish(reusable=False)
                raise _wrap(exc, "reading the response body from", self.url) from exc
            self._finish(reusable=True)
        return self._content

    def json(self) -> Any:
        return json.loads(self.read())

    def readinto(self, buffer: memoryview | bytearray) -> int:
        """Read up to ``len(buffer)`` body bytes into ``buffer``; 0 at the end (or when the peer closed)."""
        try:
            n = self._raw.readinto(buffer)
        except (OSError, http.client.HTTPException) as exc:
            self._finish(reusable=False)
            raise _wrap(exc, "reading the response body from", self.url) from exc
        if not n:
            self._finish(reusable=True)
        return n

    def iter_raw(self, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        buffer = bytearray(chunk_size)
        view = memoryview(buffer)
        while n := self.readinto(view):
            yield bytes(view[:n])

    @property
    def links(self) -> dict[str, dict[str, str]]:
        """The ``Link`` header by ``rel`` (``{"next": {"url": ...}}``), URLs as written."""
        out: dict[str, dict[str, str]] = {}
        for value in self.headers.get_all("link") or []:
            for part in value.split(","):
                url, _, params = part.strip().partition(";")
                url = url.strip().strip("<>")
                attrs = {"url": url}
                for param in params.split(";"):
                    key, _, val = param.partition("=")
                    if key.strip():
                        attrs[key.strip().lower()] = val.strip().strip('"')
                if "rel" in attrs:
                    out[attrs["rel"]] = attrs
        return out

    def close(self) -> None:
        """Done with the response: a fully read body keeps the connection, anything else closes it."""
        self._finish(reusable=self._raw.isclosed())

    def _finish(self, reusable: bool) -> None:
        release, self._release = self._release, None
        if release is not None:
            release(reusable and self._raw.isclosed() and not self._raw.will_close)


class Transport:
    """Keep-alive connections per origin, shared by threads (each request checks one out)."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, verify: bool = True, timeout: float = 5.0,
                 trust_env: bool = True, headers: Mapping[str, str] | None = None) -> None:
        self._ssl_context = ssl_context
        self.verify = verify
        self.timeout = timeout
        self.trust_env = trust_env
        self.headers = dict(headers or {})
        self._idle: dict[Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The given context, else on first https use: the system store, or with ``verify=False`` no
        verification at all (only for what the user marked insecure)."""
        if self._ssl_context is None:
            if self.verify:
                self._ssl_context = system_context()
            else:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                self._ssl_context = context
        return self._ssl_context

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None, body: Body = None,
                timeout: float | None = None, stream: bool = False, follow_redirects: bool = False) -> Response:
        """Send one request. Redirects (when followed) drop ``Authorization`` when they leave the origin."""
        sent = {**self.headers, **(headers or {})}
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send(method, url, sent, body, self.timeout if timeout is None else timeout)
            location = response.headers.get("location")
            if not (follow_redirects and response.status_code in REDIRECTS and location):
                break
            response.read()
            nxt = urljoin(url, location)
            if origin_of(nxt) != origin_of(url):
                sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
            if response.status_code == 303 and method != "HEAD":
                method, body = "GET", None
            url = nxt
        else:
            raise TransportError(f"more than {MAX_REDIRECTS} redirects from {url}")
        if not stream:
            response.read()
        return response

    # --- connections ---------------------------------------------------------------------------
    def _send(self, method: str, url: str, headers: dict[str, str], body: Body, timeout: float) -> Response:
        key = origin_of(url)
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        rewindable = body is None or isinstance(body, bytes | bytearray | memoryview)
        for attempt in (0, 1):
            conn, reused, via_proxy = self._acquire(key, timeout)
            try:
                conn.request(method, url if via_proxy else target, body=body, headers=headers)
                raw = conn.getresponse()
            except _STALE as exc:
                if reused and rewindable and attempt == 0:
                    conn.close()  # the server closed the idle connection: once more on a new one
                    continue
                early = _early_response(conn)
                if early is None:
                    conn.close()
                    raise _wrap(exc, "sending the request to", url) from exc
                raw = early
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise _wrap(exc, "talking to", url) from exc
            except BaseException:
                conn.close()  # e.g. the body iterator refused to go on: the request must not complete
                raise
            return Response(raw, method, url, self._releaser(key, conn))
        raise AssertionError("unreachable")  # pragma: no cover

    def _releaser(self, key: Origin, conn: http.client.HTTPConnection) -> Any:
        def release(reusable: bool) -> None:
            if reusable:
                with self._lock:
                    idle = self._idle.setdefault(key, [])
                    if not self._closed and len(idle) < MAX_IDLE:
                        idle.append(conn)
                        return
            conn.close()

        return release

    def _acquire(self, key: Origin, timeout: float) -> tuple[http.client.HTTPConnection, bool, bool]:
        """(connection, reused, through a plain-HTTP proxy)."""
        proxy = self._proxy(key)
        with self._lock:
            idle = self._idle.get(key)
            conn = idle.pop() if idle else None
        if conn is not None and (conn.sock is None or _dropped(conn.sock)):
            conn.close()  # the server closed it while it was idle (an upload body could not be resent)
            conn = None
        if conn is not None and conn.sock is not None:
            conn.timeout = timeout
            conn.sock.settimeout(timeout)
            return conn, True, proxy is not None and key[0] == "http"
        scheme, host, port = key
        conn = self._new_connection(scheme, host, port, proxy, timeout)
        try:
            conn.connect()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            via = f" through the proxy {proxy[0]}:{proxy[1]}" if proxy else ""
            raise _wrap(exc, "connecting to", f"{scheme}://{host}:{port}{via}") from exc
        return conn, False, proxy is not None and scheme == "http"

    def _new_connection(self, scheme: str, host: str, port: int, proxy: tuple[str, int, dict[str, str]] | None,
                        timeout: float) -> http.client.HTTPConnection:
        if proxy is None:
            if scheme == "https":
                return http.client.HTTPSConnection(host, port, timeout=timeout, context=self.ssl_context)
            return http.client.HTTPConnection(host, port, timeout=timeout)
        proxy_host, proxy_port, proxy_headers = proxy
        if scheme == "http":  # absolute URLs through the proxy
            conn = http.client.HTTPConnection(proxy_host, proxy_port, timeout=timeout)
            conn.putheader = _with_headers(conn.putheader, proxy_headers)  # type: ignore[method-assign]
            return conn
        tunnel = http.client.HTTPSConnection(proxy_host, proxy_port, timeout=timeout, context=self.ssl_context)
        tunnel.set_tunnel(host, port, headers=proxy_headers)
        return tunnel

    def _proxy(self, key: Origin) -> tuple[str, int, dict[str, str]] | None:
        """The proxy for ``key`` from ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` (as curl reads them)."""
        if not self.trust_env or not any(name.lower().endswith("_proxy") for name in os.environ):
            return None
        import urllib.request

        scheme, host, port = key
        proxy = urllib.request.getproxies().get(scheme)
        if not proxy or urllib.request.proxy_bypass(f"{host}:{port}") or urllib.request.proxy_bypass(host):
            return None
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if parts.scheme != "http" or not parts.hostname:
            raise TransportError(f"unsupported proxy {parts.scheme}://{parts.hostname}: only http:// proxies")
        headers = {}
        if parts.username:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            headers["Proxy-Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return parts.hostname, parts.port or 80, headers


def _with_headers(putheader: Any, extra: Mapping[str, str]) -> Any:
    """``putheader`` that adds ``extra`` once, after the request line (Proxy-Authorization)."""
    def put(header: str, *values: Any) -> None:
        putheader(header, *values)
        if header.lower() == "host":
            for name, value in extra.items():
                putheader(name, value)

    return put


def _dropped(sock: socket.socket) -> bool:
    """An idle kept-alive socket that is readable has been closed by the peer (or holds garbage)."""
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _early_response(conn: http.client.HTTPConnection) -> http.client.HTTPResponse | None:
    """A server may answer (401, 413, ...) and close before it read the whole body: keep that answer."""
    try:
        raw = conn.getresponse()
    except (OSError, http.client.HTTPException):
        return None
    raw.will_close = True
    return raw


def _wrap(exc: BaseException, doing: str, where: str) -> TransportError:
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, TimeoutError | socket.timeout):
        return TransportTimeout(f"timed out {doing} {where}")
    return TransportError(f"{type(exc).__name__} {doing} {where}: {exc}")
