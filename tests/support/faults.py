"""Loopback fault servers: peers that misbehave the way hostile or broken servers do.

Raw sockets, not ``http.server``: a fault is in the bytes (a header dripped one byte at a time, a body
that never ends, a connection cut mid-body). Each server answers every connection with one
behaviour, records the requests it read (method, path, headers) and stops when its context ends.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

#: How long a dripping server waits between bytes (the drip goes on until the client gives up).
DRIP = 0.2
#: What a new interpreter may take to start and import what a command needs (mlrun's defaults included) on a
#: loaded 2-core machine.
START_UP = 30.0


def ended_by_deadline(seconds: float, timeout: float, *, start_up: float = 0.0) -> bool:
    """Whether a call against a peer that never finishes (a drip, a blackhole, a writer-less FIFO) ended
    through its deadline.

    Such a peer holds a call whose deadline does not work for ever (until the test's own timeout), so a
    bound far above the deadline still proves that the deadline ended it, and cannot flake on a loaded
    2-core machine: ``4 x timeout + 5 s``, plus ``start_up`` for a new interpreter. How close to its
    deadline a call ends is a speed figure, measured in benchmarks/, not asserted here.
    """
    return seconds < 4 * timeout + 5 + start_up


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class FaultServer:
    url: str
    host: str
    port: int
    requests: list[Request] = field(default_factory=list)


Behaviour = Callable[[socket.socket, Request, FaultServer], None]


def _read_request(conn: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > 1 << 20:
            return None
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    method, path, _ = [*head[0].split(" "), "", ""][:3]
    headers = {}
    for line in head[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return Request(method, path, headers)


@contextlib.contextmanager
def fault_server(behaviour: Behaviour, host: str = "127.0.0.1") -> Iterator[FaultServer]:
    """A loopback server that answers each request on each connection with ``behaviour``."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))
    listener.listen(32)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    server = FaultServer(f"http://{host}:{port}", host, port)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            try:
                while not stop.is_set():
                    request = _read_request(conn)
                    if request is None:
                        return
                    server.requests.append(request)
                    behaviour(conn, request, server)
            except OSError:
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:  # TimeoutError from 3.10 on; on 3.9 an OSError of its own
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def _drip(conn: socket.socket, data: bytes, interval: float = DRIP) -> None:
    for i in range(len(data)):
        conn.sendall(data[i:i + 1])
        time.sleep(interval)


# --- behaviours --------------------------------------------------------------------------------------
def drip_headers(conn: socket.socket, request: Request, server: FaultServer) -> None:
    """A status line, then header bytes one at a time, forever (each read gets a byte in time)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    while True:
        _drip(conn, b"X-Drip: " + b"a" * 64 + b"\r\n")


def drip_body(conn: socket.socket, request: Request, server: FaultServer) -> None:
    """Complete headers announcing a large body, then the body one byte at a time."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Docker-Distribution-Api-Version: registry/2.0\r\nContent-Length: 1000000\r\n\r\n")
    while True:
        _drip(conn, b"{" * 64)


def endless_body(status: int = 200, headers: bytes = b"") -> Behaviour:
    """A chunked body that never ends, as fast as the client reads it."""
    reason = {200: b"OK", 401: b"Unauthorized"}.get(status, b"Error")

    def behave(conn: socket.socket, request: Request, server: FaultServer) -> None:
        conn.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n%s\r\n"
                     % (status, reason, headers))
        chunk = b'{"repositories": [' + b'"x",' * 16000
        frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        while True:
            conn.sendall(frame)

    return behave


def close_mid_body(conn: socket.socket, request: Request, server: FaultServer) -> None:
    """Announce 1000 bytes, send 10, hang up."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"0123456789")
    conn.shutdown(socket.SHUT_RDWR)
    raise OSError("closed")


def huge_headers(conn: socket.socket, request: Request, server: FaultServer) -> None:
    """Header lines without end, as fast as the client reads them."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    line = b"X-Huge: " + b"h" * 1000 + b"\r\n"
    while True:
        conn.sendall(line * 64)


def answer(conn: socket.socket, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)


def token_registry(token: str) -> Behaviour:
    """A registry whose token server (on the same port) hands out ``token`` as it is (a newline too)."""

    def behave(conn: socket.socket, request: Request, server: FaultServer) -> None:
        if request.path.startswith("/token"):
            answer(conn, 200, json.dumps({"token": token, "expires_in": 300}).encode(),
                   {"Content-Type": "application/json"})
            return
        challenge = f'Bearer realm="{server.url}/token",service="faults"'
        answer(conn, 401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
               {"WWW-Authenticate": challenge, "Docker-Distribution-Api-Version": "registry/2.0",
                "Content-Type": "application/json"})

    return behave


def redirect_loop(conn: socket.socket, request: Request, server: FaultServer) -> None:
    """Every request is redirected to another path of the same server, forever."""
    answer(conn, 307, headers={"Location": f"/loop/{len(server.requests)}"})


def redirect_to(location: Callable[[FaultServer], str]) -> Behaviour:
    """``/start`` redirects to ``location(server)``; anything else answers 200 ``ok``."""

    def behave(conn: socket.socket, request: Request, server: FaultServer) -> None:
        if request.path.startswith("/start"):
            answer(conn, 307, headers={"Location": location(server)})
        else:
            answer(conn, 200, b"ok")

    return behave


def basic_registry_with_upload_location(location: Callable[[FaultServer], str]) -> Behaviour:
    """A registry asking for Basic auth whose upload ``Location`` is written by ``location(server)``
    (another spelling of its own origin); every request without credentials gets 401."""

    def behave(conn: socket.socket, request: Request, server: FaultServer) -> None:
        if not request.headers.get("authorization", "").startswith("Basic "):
            answer(conn, 401, b"{}", {"WWW-Authenticate": 'Basic realm="faults"',
                                      "Docker-Distribution-Api-Version": "registry/2.0"})
        elif request.method == "POST":
            answer(conn, 202, headers={"Location": location(server)})
        else:
            answer(conn, 204 if request.method == "DELETE" else 200, b"" if request.method == "DELETE" else b"{}")

    return behave
