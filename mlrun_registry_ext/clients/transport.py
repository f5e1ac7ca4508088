"""A small HTTP/1.1 transport on the standard library: pooled keep-alive connections, TLS, proxies
from the environment, streamed bodies both ways.

Why not httpx: a registry copy is a few hundred small requests and a few large streams. On a busy
2-core machine httpx cost ~1.5 ms of CPU per request and ~70 ms to import, and moved every 64 KiB
of a blob through four copies; ``http.client`` costs a fraction of that per request and
``readinto`` fills the caller's buffer straight from the socket. The registry protocol (auth,
errors, retries) lives in :mod:`.registry.client`; this module only moves bytes.

Errors are :class:`TransportError` (with the socket, DNS or TLS error as its ``__cause__``) or
:class:`TransportTimeout`; an HTTP error status is a normal :class:`Response`.

Bounded time: a per-read timeout alone lets a peer that sends one byte a second hold a request
forever. Every request therefore runs against a :class:`Deadline` (connect, proxy tunnel, TLS,
headers and body together): before each ``recv``/``sendall`` the socket timeout is shrunk to what is
left, and once it is past the request fails with :class:`TransportTimeout`. Long streams use a
:class:`StallDeadline` instead (see there). Bounded memory: a body read whole is capped
(:data:`MAX_BODY`; error answers are cut at :data:`MAX_ERROR_BODY` and the connection dropped).
"""

from __future__ import annotations

import base64
import functools
import http.client
import io
import ipaddress
import json
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Optional, Union
from urllib.parse import unquote, urljoin, urlsplit

from mlrun_registry_ext.core.origin import Origin, bracketed, host_name, split_host_port, url_origin
from mlrun_registry_ext.errors import ConfigError, RegistryExtError

#: A socket's timeout: ``TimeoutError`` from Python 3.10 on; on 3.9 ``socket.timeout``, an ``OSError`` that
#: ``except TimeoutError`` does not catch.
SOCKET_TIMEOUTS = (TimeoutError, socket.timeout)

# a runtime alias: typing's spelling, which Python 3.9 evaluates (``X | Y`` of types needs 3.10)
Body = Optional[Union[bytes, Iterable[Union[bytes, memoryview]]]]

#: Status codes that carry a ``Location`` to follow (when asked to).
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
#: Idle connections kept per origin (more are closed when released).
MAX_IDLE = 32
#: Errors that mean "the kept-alive connection was closed by the peer": resend on a fresh one.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
#: The most a body read whole may hold (manifests: distribution's own limit is 4 MiB).
MAX_BODY = 4 << 20
#: Error answers are read only for their error code: the rest is cut and the connection dropped.
MAX_ERROR_BODY = 64 << 10


class TransportError(RegistryExtError):
    """No (complete) HTTP answer: DNS, refused, TLS, a dropped connection. The cause is chained. A
    :class:`~mlrun_registry_ext.errors.RegistryExtError` (exit 1), so a caller catching the package's
    errors catches this one too; the registry client turns it into a typed connection error first.

    ``proxy`` is ``host:port`` of the proxy when the failure was the proxy's (refused, unknown,
    or it would not open the tunnel), so callers do not blame the registry for it."""

    proxy: str | None = None


class TransportTimeout(TransportError):
    """Connecting, sending or reading took longer than the timeout or the overall deadline;
    ``detail`` says which (e.g. "did not answer within 2 s")."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail or message


class BodyTooLarge(TransportError):
    """A body read whole was larger than its cap."""


class Deadline:
    """An overall bound on one network step: connect, tunnel, TLS, headers and body together.

    :meth:`left` is what remains (the transport shrinks the socket timeout to it before every recv
    and send) and raises :class:`TransportTimeout` once it is past.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.end = self.started + seconds

    def left(self) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            detail = f"did not answer within {self.seconds:g} s"
            raise TransportTimeout(f"no complete answer within {self.seconds:g} s", detail)
        return remaining

    def progress(self, n: int) -> None:
        """``n`` bytes moved (a fixed deadline does not care)."""


class StallDeadline(Deadline):
    """A deadline for a stream (a blob of any size), measured on progress rather than in total.

    A fixed total for a 1 GiB layer is wrong both ways: generous enough for a slow link, it lets a
    stalled peer hold a transfer for that long; tight enough to catch a stall, it fails honest slow
    copies. So the stream fails when no byte moved for ``stall`` seconds (a dead or blackholed peer),
    or when the average since the start drops below ``min_rate`` bytes/s after a ``stall`` seconds'
    head start (a peer that drips one byte now and then to dodge the stall limit). A healthy copy at
    any realistic speed never meets either limit.
    """

    def __init__(self, stall: float, min_rate: float) -> None:
        super().__init__(stall)
        self.stall = stall
        self.min_rate = min_rate
        self.moved = 0
        self.last = self.started

    def left(self) -> float:
        now = time.monotonic()
        stalled = self.last + self.stall - now
        slow = self.started + self.stall + self.moved / self.min_rate - now
        if stalled <= 0:
            detail = f"sent nothing for {self.stall:g} s"
            raise TransportTimeout(f"the transfer stalled: {detail}", detail)
        if slow <= 0:
            detail = f"sent less than {self.min_rate / 1024:g} KiB/s"
            raise TransportTimeout(f"the transfer is too slow: {detail}", detail)
        return min(stalled, slow)

    def progress(self, n: int) -> None:
        if n > 0:
            self.moved += n
            self.last = time.monotonic()


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
    """``(scheme, host, port)``: what a kept-alive connection is for (a Location may point anywhere);
    the one definition of same origin (:mod:`mlrun_registry_ext.core.origin`)."""
    try:
        return url_origin(url)
    except ValueError:  # e.g. a port that is not a number
        raise TransportError(f"not an http(s) URL: {url[:200]!r}") from None


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

    def read(self, limit: int = MAX_BODY, *, truncate: bool = False) -> bytes:
        """The whole body (read once, kept); the connection goes back to the pool.

        At most ``limit`` bytes: a longer body raises :class:`BodyTooLarge`, or with ``truncate`` is
        cut there (the rest is not read; the connection is dropped instead of drained).
        """
        if self._content is None:
            announced = self.headers.get("content-length")
            try:
                if not truncate and announced and announced.isdigit() and int(announced) > limit:
                    raise BodyTooLarge(f"{self.method} {_short(self.url)} announced a {int(announced)}-byte body; "
                                       f"more than the {limit} bytes allowed")
                content = self._raw.read(limit + 1)
            except (OSError, http.client.HTTPException, TransportError) as exc:
                self._content = b""
                self._finish(reusable=False)
                raise _wrap(exc, "reading the response body from", self.url) from exc
            if (self.method != "HEAD" and self.status_code not in (204, 304) and announced and announced.isdigit()
                    and len(content) < min(int(announced), limit + 1)):
                self._content = b""
                self._finish(reusable=False)
                raise TransportError(f"the connection closed after {len(content)} of the {int(announced)} bytes "
                                     f"announced by {self.method} {_short(self.url)}")
            if len(content) > limit:
                self._content = content[:limit]
                self._finish(reusable=False)
                if not truncate:
                    raise BodyTooLarge(f"{self.method} {_short(self.url)} sent a body larger than the "
                                       f"{limit} bytes allowed")
            else:
                self._content = content
                self._finish(reusable=True)
        return self._content

    def json(self) -> Any:
        return json.loads(self.read())

    def readinto(self, buffer: memoryview | bytearray) -> int:
        """Read up to ``len(buffer)`` body bytes into ``buffer``; 0 at the end (or when the peer closed)."""
        try:
            n = self._raw.readinto(buffer)
        except (OSError, http.client.HTTPException, TransportError) as exc:
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
                timeout: float | None = None, stream: bool = False, follow_redirects: bool = False,
                deadline: Deadline | None = None, max_body: int = MAX_BODY) -> Response:
        """Send one request. Redirects (when followed) drop ``Authorization`` when they leave the origin.

        ``timeout`` bounds each read; ``deadline`` (default: ``timeout`` from now) bounds the whole
        request, redirects and, with ``stream``, the reading of the body. A body read here is capped
        at ``max_body`` (error answers at :data:`MAX_ERROR_BODY`, cut, not refused).
        """
        per_read = self.timeout if timeout is None else timeout
        deadline = deadline or Deadline(per_read)
        sent = {**self.headers, **(headers or {})}
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send(method, url, sent, body, per_read, deadline)
            location = response.headers.get("location")
            if not (follow_redirects and response.status_code in REDIRECTS and location):
                break
            response.read(MAX_ERROR_BODY, truncate=True)
            nxt = urljoin(url, location)
            if origin_of(nxt) != origin_of(url):
                sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
            if response.status_code == 303 and method != "HEAD":
                method, body = "GET", None
            url = nxt
        else:
            raise TransportError(f"more than {MAX_REDIRECTS} redirects from {_short(url)}")
        if not stream:
            if response.status_code >= 400:
                response.read(min(max_body, MAX_ERROR_BODY), truncate=True)
            else:
                response.read(max_body)
        return response

    # --- connections ---------------------------------------------------------------------------
    def _send(self, method: str, url: str, headers: dict[str, str], body: Body, timeout: float,
              deadline: Deadline) -> Response:
        key = origin_of(url)
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        rewindable = body is None or isinstance(body, (bytes, bytearray, memoryview))
        for attempt in (0, 1):
            conn, reused, via_proxy = self._acquire(key, timeout, deadline)
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
                    raise _wrap(exc, "sending the request to", _short(url)) from exc
                raw = early
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise _wrap(exc, "talking to", _short(url)) from exc
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

    def _acquire(self, key: Origin, timeout: float,
                 deadline: Deadline) -> tuple[http.client.HTTPConnection, bool, bool]:
        """(connection, reused, through a plain-HTTP proxy)."""
        proxy = self._proxy(key)
        with self._lock:
            idle = self._idle.get(key)
            conn = idle.pop() if idle else None
        if conn is not None and (conn.sock is None or _dropped(conn.sock)):
            conn.close()  # the server closed it while it was idle (an upload body could not be resent)
            conn = None
        if conn is not None and conn.sock is not None:
            assert isinstance(conn, _Timed)
            conn.arm(timeout, deadline)
            return conn, True, proxy is not None and key[0] == "http"
        scheme, host, port = key
        conn = self._new_connection(scheme, host, port, proxy, timeout)
        try:
            conn.arm(timeout, deadline)
            conn.connect()
        except (OSError, http.client.HTTPException, TransportError) as exc:
            conn.close()
            if proxy is None:
                raise _wrap(exc, "connecting to", f"{scheme}://{bracketed(host)}:{port}") from exc
            error = _wrap(exc, "connecting to", f"{scheme}://{bracketed(host)}:{port} through the proxy {proxy.netloc}")
            if not any(isinstance(c, ssl.SSLError) for c in causes(exc)):
                error.proxy = proxy.netloc  # refused, unknown, or no tunnel: the proxy's failure
            raise error from exc
        return conn, False, proxy is not None and scheme == "http"

    def _new_connection(self, scheme: str, host: str, port: int, proxy: Proxy | None,
                        timeout: float) -> _Timed:
        conn: _Timed
        if proxy is None:
            if scheme == "https":
                return _TimedHTTPS(host, port, timeout=timeout, context=self.ssl_context)
            return _TimedHTTP(host, port, timeout=timeout)
        if scheme == "http":  # absolute URLs through the proxy
            conn = _TimedHTTP(proxy.host, proxy.port, timeout=timeout)
            conn.putheader = _with_headers(conn.putheader, proxy.headers)  # type: ignore[method-assign]
            return conn
        conn = _TimedHTTPS(proxy.host, proxy.port, timeout=timeout, context=self.ssl_context)
        conn.set_tunnel(host, port, headers=proxy.headers)
        return conn

    def _proxy(self, key: Origin) -> Proxy | None:
        """The proxy for ``key`` (see :func:`proxy_for`), unless this transport ignores the environment."""
        return proxy_for(key) if self.trust_env else None


class Proxy(tuple[str, int, dict[str, str]]):
    """``(host, port, headers)`` of an http:// proxy; ``headers`` carries ``Proxy-Authorization``."""

    @property
    def host(self) -> str:
        return self[0]

    @property
    def port(self) -> int:
        return self[1]

    @property
    def headers(self) -> dict[str, str]:
        return self[2]

    @property
    def netloc(self) -> str:
        return f"{bracketed(self.host)}:{self.port}"

    def __repr__(self) -> str:  # never the Proxy-Authorization header
        return f"Proxy({self.netloc})"


def proxy_for(key: Origin) -> Proxy | None:
    """The proxy for an origin from ``HTTPS_PROXY``/``HTTP_PROXY`` and ``NO_PROXY`` (as curl reads them,
    CIDR ranges included: :func:`no_proxy_matches`); None for a direct connection."""
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        return None
    import urllib.request

    scheme, host, port = key
    proxy = urllib.request.getproxies().get(scheme)
    no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    if not proxy or no_proxy_matches(no_proxy, host, port):
        return None
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.scheme != "http" or not parts.hostname:
        raise TransportError(f"unsupported proxy {parts.scheme}://{parts.hostname}: only http:// proxies")
    headers = {}
    if parts.username:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(pair).decode()
    return Proxy((parts.hostname, parts.port or 80, headers))


def no_proxy_matches(no_proxy: str, host: str, port: int | None = None) -> bool:
    """Whether ``NO_PROXY`` exempts ``host`` the way curl reads it: ``*`` for everything; a name
    matches itself and its subdomains (a leading dot is optional); an IP address matches itself or
    a CIDR range (``10.0.0.0/8``, ``::1/128``); an entry with ``:port`` only for that port."""
    name = host_name(host).rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(name)
    except ValueError:
        address = None
    for raw in no_proxy.replace(" ", ",").split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if "/" in entry:  # CIDR
            if address is not None:
                try:
                    if address in ipaddress.ip_network(entry.strip("[]"), strict=False):
                        return True
                except ValueError:
                    pass
            continue
        want_port: int | None = None
        if entry.startswith("[") or entry.count(":") == 1:
            try:
                entry, want_port = split_host_port(entry)
            except ValueError:
                continue
        if want_port is not None and port is not None and want_port != port:
            continue
        entry = entry.strip("[]").rstrip(".")
        if address is not None:
            try:
                if address == ipaddress.ip_address(entry):
                    return True
            except ValueError:
                pass
            continue
        entry = entry.lstrip(".")
        if entry and (name == entry or name.endswith("." + entry)):
            return True
    return False


# --- deadlines on the socket ---------------------------------------------------------------------
class _DeadlineReader(io.RawIOBase):
    """What ``HTTPResponse`` reads from: each ``recv`` first shrinks the socket timeout to the deadline."""

    def __init__(self, sock: _TimedSocket) -> None:
        super().__init__()
        self._sock = sock
        # like socket.makefile: the socket's fd stays open until this reader is closed too (http.client
        # closes the connection while a "Connection: close" response is still being read)
        sock.raw._io_refs += 1  # type: ignore[attr-defined]

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._sock.raw._decref_socketios()  # type: ignore[attr-defined]

    def readinto(self, buffer: Any) -> int:
        self._sock.before_io()
        try:
            n = self._sock.raw.recv_into(buffer)
        except SOCKET_TIMEOUTS:
            self._sock.deadline.left()  # the deadline's own error (what was exceeded) when it is past
            raise
        self._sock.deadline.progress(n)
        return n


class _TimedSocket:
    """A connection's socket with the current request's deadline applied to every recv and send."""

    def __init__(self, raw: socket.socket, owner: _Timed) -> None:
        self.raw = raw
        self._owner = owner
        self._set: float | None = None

    @property
    def deadline(self) -> Deadline:
        return self._owner.deadline

    def before_io(self) -> None:
        wait = min(self._owner.read_timeout, self.deadline.left())
        if wait != self._set:
            self.raw.settimeout(wait)
            self._set = wait

    def sendall(self, data: Any) -> None:
        self.before_io()
        try:
            self.raw.sendall(data)
        except SOCKET_TIMEOUTS:
            self.deadline.left()
            raise
        self.deadline.progress(len(data))

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class _Timed(http.client.HTTPConnection):
    """An ``HTTPConnection`` whose every step runs against the current request's :class:`Deadline`."""

    deadline: Deadline
    read_timeout: float

    def arm(self, timeout: float, deadline: Deadline) -> None:
        """The next request's per-read timeout and overall deadline."""
        self.read_timeout = timeout
        self.deadline = deadline
        self.timeout = min(timeout, deadline.left())  # connect and TLS handshake take this from here

    def response_class(self, sock: Any, *args: Any, **kwargs: Any) -> http.client.HTTPResponse:  # type: ignore[override]
        # also the proxy's answer to CONNECT (read before TLS): bounded by the same deadline
        timed = sock if isinstance(sock, _TimedSocket) else _TimedSocket(sock, self)
        return http.client.HTTPResponse(timed, *args, **kwargs)  # type: ignore[arg-type]

    def connect(self) -> None:
        self.timeout = min(self.read_timeout, self.deadline.left())
        super().connect()

    def _timed(self) -> None:
        if self.sock is not None and not isinstance(self.sock, _TimedSocket):
            self.sock = _TimedSocket(self.sock, self)


class _TimedHTTP(_Timed):
    def connect(self) -> None:
        super().connect()
        self._timed()


class _TimedHTTPS(http.client.HTTPSConnection, _Timed):
    def connect(self) -> None:
        http.client.HTTPSConnection.connect(self)  # TCP (and tunnel) through _Timed.connect, then TLS
        self._timed()


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions behind it (``__cause__``, else ``__context__``), each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _short(url: str) -> str:
    """A URL for a message: no query (upload state, tokens), cut to a sane length."""
    return url.split("?", 1)[0][:200]


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
    if isinstance(exc, SOCKET_TIMEOUTS):
        return TransportTimeout(f"timed out {doing} {where}", "did not answer in time")
    return TransportError(f"{type(exc).__name__} {doing} {where}: {str(exc)[:300]}")
