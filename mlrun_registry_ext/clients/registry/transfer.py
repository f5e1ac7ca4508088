"""The copy steps, as plain functions over :class:`~.client.RegistryClient`: mount or upload, stream a blob
from one registry into another, upload a small blob, read a blob as a checked stream, put a manifest.

A blob's bytes never touch the disk: the source's GET body is read (``readinto`` one reused buffer)
and fed chunk by chunk into one monolithic ``PUT <upload>?digest=`` on the target, hashed on another
thread while each chunk is sent; the last chunk goes out only when size and sha256 match, otherwise
the request is aborted, the upload cancelled and :class:`DigestMismatchError` raised. The requests
themselves, their retries (:class:`~.client.RetryPolicy`) and their listings are the client's; a
blob copy (an upload session, then its commit) is retried as a whole here.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from mlrun_registry_ext.clients.registry.client import (
    CHUNK_SIZE,
    MIN_RATE,
    PULL,
    PUSH,
    RegistryClient,
    RetryPolicy,
)
from mlrun_registry_ext.clients.registry.errors import (
    DeniedError,
    DigestMismatchError,
    RegistryConnectionError,
    RegistryHTTPError,
    RegistryTimeoutError,
    TransientError,
    UnauthorizedError,
)
from mlrun_registry_ext.clients.transport import Response, StallDeadline, TransportError, TransportTimeout
from mlrun_registry_ext.core.manifest import Manifest
from mlrun_registry_ext.errors import RegistryAPIError

__all__ = [
    "CHUNK_SIZE", "MIN_RATE", "TIMEOUT", "DigestMismatchError", "RetryPolicy", "TransientError", "VerifiedBlob",
    "cancel_upload", "copy_blob", "open_blob", "put_manifest", "start_upload", "upload_blob",
]

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Bound on one request (connect, headers, body, all together) of a copy; for blob streams, the stall
#: limit: no byte moved for this long fails the transfer (see http_transport.StallDeadline).
TIMEOUT = 60.0


class _SourceReadError(Exception):
    """Raised inside the upload body when the source stream breaks (kept apart from target errors)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def _transient(exc: Exception, host: str) -> TransientError:
    if isinstance(exc, (TransportTimeout, RegistryTimeoutError)):
        detail = exc.detail if isinstance(exc, TransportTimeout) else str(exc)
        error = TransientError(f"{host}: the blob transfer failed: {detail.removeprefix(host + ' ')}")
        error.timeout = True
        return error
    return TransientError(f"{host}: the connection broke while streaming ({type(exc).__name__}: {exc})")


def _retried(client: RegistryClient, what: str, fn: Callable[[], T]) -> T:
    """``fn`` under the client's retry policy (once, without one): for operations of several requests."""
    return client.retry.call(what, fn) if client.retry is not None else fn()


# --- manifests -------------------------------------------------------------------------------------
def put_manifest(client: RegistryClient, repository: str, reference: str, manifest: Manifest) -> str | None:
    """Write the manifest bytes unchanged under ``reference`` (tag or digest). Returns the digest the
    registry says it stored (``Docker-Content-Digest``, None when it does not say); another digest than
    the manifest's is an error."""
    response = client.request("PUT", f"/v2/{repository}/manifests/{reference}", scope_repo=repository,
                              actions=PUSH, headers={"Content-Type": manifest.media_type}, content=manifest.raw)
    written = response.headers.get("docker-content-digest")
    if written and written != manifest.digest:
        raise RegistryAPIError(f"{client.host} stored {repository}:{reference} as {written}, not {manifest.digest}")
    return written or None


# --- blobs -----------------------------------------------------------------------------------------
def start_upload(client: RegistryClient, repository: str, digest: str, mount_from: str | None) -> str | None:
    """Mount or upload, in one request: a ``POST`` with ``mount=<digest>&from=<mount_from>`` answers 201
    (mounted: None here) or opens an upload session (its Location); without ``mount_from`` a plain
    ``POST`` opens one.

    A registry whose token must also grant ``pull`` on the other repository may refuse the mount
    (401/403): then the client stops trying mounts and uploads instead.
    """
    if mount_from and not client.mounts_refused:
        try:
            response = client.request("POST", f"/v2/{repository}/blobs/uploads/", scope_repo=repository,
                                      actions=PUSH, params={"mount": digest, "from": mount_from})
        except (UnauthorizedError, DeniedError) as exc:
            log.info("%s refused a cross-repository mount (%s); uploading instead", client.host, exc)
            client.mounts_refused = True
        else:
            if response.status_code == 201:
                return None
            if mount_from != repository:
                # it opened an upload for a mount from a repository that has the blob: it does not
                # mount, so a mount cannot tell whether a blob is present either
                log.info("%s answered a cross-repository mount with an upload; not relying on mounts",
                         client.host)
                client.mounts_ignored = True
            return _location(client, response, repository)
    response = client.request("POST", f"/v2/{repository}/blobs/uploads/", scope_repo=repository, actions=PUSH)
    return _location(client, response, repository)


def _location(client: RegistryClient, response: Response, repository: str) -> str:
    location = response.headers.get("location")
    if response.status_code != 202 or not location:
        raise RegistryHTTPError(f"POST /v2/{repository}/blobs/uploads/ on {client.host} answered "
                                f"{response.status_code} without an upload location", host=client.host,
                                status=response.status_code, repository=repository)
    return location


def cancel_upload(client: RegistryClient, repository: str, location: str) -> None:
    """Cancel an upload session (best effort: the registry expires it anyway)."""
    with contextlib.suppress(RegistryAPIError, TransportError):
        client.request("DELETE", location, scope_repo=repository, actions=PUSH, raise_for_status=False, timeout=10)


def _commit_url(location: str, digest: str) -> str:
    """The upload URL keeps its own query (``_state``): the digest is appended to it."""
    return f"{location}{'&' if '?' in location else '?'}digest={quote(digest, safe='')}"


def copy_blob(source: RegistryClient, target: RegistryClient, source_repository: str, repository: str, digest: str,
              size: int, *, mount_from: str | None = None, probe: bool = False,
              on_bytes: Callable[[int], Any] | None = None) -> Literal["copied", "mounted", "present"]:
    """Copy one blob into ``repository`` on ``target``: mount it from ``mount_from`` (same registry) when
    given, else stream it from ``source``. With ``probe`` (see :attr:`RegistryClient.probes_by_mount`)
    the upload is opened by a mount from ``repository`` itself: "present" when the blob is already
    there. Retried as a whole under the target's policy; a digest mismatch is never retried."""
    sent = [0]
    streamed = [False]

    def progress(n: int) -> None:
        sent[0] += n
        streamed[0] = True
        if on_bytes is not None:
            on_bytes(n)

    def attempt() -> Literal["copied", "mounted", "present"]:
        if sent[0] and on_bytes is not None:
            on_bytes(-sent[0])  # a retry starts over
        sent[0] = 0
        mount = repository if probe and mount_from is None else mount_from
        location = start_upload(target, repository, digest, mount)
        if location is None:
            # an earlier attempt may have committed it before its connection broke
            return ("copied" if streamed[0] else "present") if mount == repository else "mounted"
        committed = False
        try:
            _stream_into(target, source, source_repository, repository, digest, size, location, progress)
            committed = True
        finally:
            if not committed:
                cancel_upload(target, repository, location)
        return "copied"

    return _retried(target, f"copy blob {digest[:19]} to {repository}", attempt)


def _stream_into(target: RegistryClient, source: RegistryClient, source_repository: str, repository: str,
                 digest: str, size: int, location: str, on_bytes: Callable[[int], Any]) -> None:
    """Upload the source blob's bytes in one monolithic ``PUT <location>?digest=`` (one request
    instead of PATCH + PUT), which also commits it.

    Blobs up to one chunk are read and checked whole first (a bytes body needs no pre-flight ping).
    Larger ones are fed from the source's response into the PUT body; the last chunk is held back
    until size and digest are checked, so a mismatch aborts the request before the registry has
    the whole body: it is never committed.
    """
    algorithm, _, expected = digest.partition(":")
    if algorithm not in hashlib.algorithms_available:
        raise RegistryAPIError(f"blob {digest}: unsupported digest algorithm {algorithm!r}")
    hasher = hashlib.new(algorithm)
    received = [0]
    where = f"blob {digest} in {source.host}/{source_repository}"
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
    commit = _commit_url(location, digest)
    with source.stream("GET", f"/v2/{source_repository}/blobs/{digest}", scope_repo=source_repository,
                       actions=PULL, follow_redirects=True,
                       deadline=StallDeadline(source.stall, source.min_rate)) as response:
        announced = response.headers.get("content-length")
        if announced and announced.isdigit() and int(announced) != size:
            raise DigestMismatchError(f"{where}: the source serves {announced} bytes but the manifest says "
                                      f"{size}; not copied")

        def body() -> Iterator[bytes | memoryview]:
            try:
                for chunk in _body_chunks(response, size, target.chunk_size):
                    received[0] += len(chunk)
                    if received[0] > size:
                        raise DigestMismatchError(f"{where}: the source sent more than the {size} bytes "
                                                  "announced; not copied")
                    on_bytes(len(chunk))
                    if received[0] == size:  # the last chunk goes out only once the digest is right
                        hasher.update(chunk)
                        _check(where, hasher, expected, received[0], size)
                        yield chunk
                    else:
                        # hashed on another thread while this one sends the same (read-only) bytes:
                        # sha256 and the socket both release the GIL; the buffer is read again only
                        # after both are done
                        hashed = _hashing_pool().submit(hasher.update, chunk)
                        try:
                            yield chunk
                        finally:
                            hashed.result()
            except TransportError as exc:
                raise _SourceReadError(_transient(exc, source.host)) from exc
            # a body that ended short: never let the request finish (the registry would commit
            # nothing, but say why here rather than with its own error)
            _check(where, hasher, expected, received[0], size)

        try:
            if size <= target.chunk_size:
                data = b"".join(bytes(chunk) for chunk in body())  # views share one buffer
                content: bytes | Iterator[bytes | memoryview] = data
            else:
                # views of one reused buffer, each sent before the next is read
                content = body()
            target.request("PUT", commit, scope_repo=repository, actions=PUSH, content=content,
                           headers=headers, deadline=StallDeadline(target.stall, target.min_rate))
        except _SourceReadError as exc:
            raise exc.error from None
        except RegistryConnectionError as exc:
            raise _transient(exc, target.host) from exc
    _check(where, hasher, expected, received[0], size)


def upload_blob(client: RegistryClient, repository: str, data: bytes, digest: str) -> Literal["uploaded", "present"]:
    """Put a small blob held in memory (a new layer or config): nothing when the registry has it,
    else one monolithic ``PUT ?digest=`` (the registry checks the digest before it commits)."""
    if client.blob_exists(repository, digest):
        return "present"

    def attempt() -> Literal["uploaded", "present"]:
        location = start_upload(client, repository, digest, None)
        assert location is not None
        try:
            client.request("PUT", _commit_url(location, digest), scope_repo=repository, actions=PUSH, content=data,
                           headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
        except BaseException:
            cancel_upload(client, repository, location)
            raise
        return "uploaded"

    return _retried(client, f"upload blob {digest[:19]} to {repository}", attempt)


@contextlib.contextmanager
def open_blob(client: RegistryClient, repository: str, digest: str, size: int) -> Iterator[VerifiedBlob]:
    """A blob as a read-only stream (``read(n)``) that never yields more than ``size`` bytes and,
    once read to the end (:meth:`VerifiedBlob.finish`), checks size and digest."""
    with client.stream("GET", f"/v2/{repository}/blobs/{digest}", scope_repo=repository, actions=PULL,
                       follow_redirects=True, deadline=StallDeadline(client.stall, client.min_rate)) as response:
        yield VerifiedBlob(response, f"blob {digest} in {client.host}/{repository}", digest, size)


def _check(where: str, hasher: Any, expected: str, received: int, size: int) -> None:
    if received != size or hasher.hexdigest() != expected:
        raise DigestMismatchError(f"{where} is corrupt: received {received} bytes hashing to "
                                  f"{hasher.name}:{hasher.hexdigest()}; refused, not committed")


@functools.cache
def _hashing_pool() -> ThreadPoolExecutor:
    """The threads that hash blob chunks while they are sent (one per transfer at a time is enough)."""
    return ThreadPoolExecutor(max_workers=16, thread_name_prefix="sha256")


def _body_chunks(response: Response, size: int, chunk_size: int) -> Iterator[memoryview]:
    """A blob body in chunks of up to ``chunk_size`` bytes, read into one reused buffer (each view is
    valid until the next one is read); ends early if the source closes. At most ``size + 1`` bytes
    are read: one more than announced is enough to refuse the blob."""
    buffer = memoryview(bytearray(max(1, min(chunk_size, size + 1))))
    left = size + 1
    while left > 0:
        n = response.readinto(buffer[: min(len(buffer), left)])
        if not n:
            return
        left -= n
        yield buffer[:n]


class VerifiedBlob:
    """A blob response read as a file (for ``tarfile`` streams): capped at the announced size, hashed as
    it goes; :meth:`finish` drains the rest and refuses a short, long or corrupt blob."""

    def __init__(self, response: Response, where: str, digest: str, size: int) -> None:
        algorithm, _, self.expected = digest.partition(":")
        if algorithm not in hashlib.algorithms_available:
            raise RegistryAPIError(f"blob {digest}: unsupported digest algorithm {algorithm!r}")
        self.hasher = hashlib.new(algorithm)
        self.response, self.where, self.size, self.received = response, where, size, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        left = self.size + 1 - self.received  # one byte more than announced is enough to refuse it
        want = left if n is None or n < 0 else min(n, left)
        if want <= 0:
            return b""
        buffer = bytearray(min(want, CHUNK_SIZE))
        try:
            got = self.response.readinto(memoryview(buffer))
        except TransportError as exc:
            raise _transient(exc, self.where) from exc
        data = bytes(buffer[:got])
        self.received += got
        self.hasher.update(data)
        if self.received > self.size:
            raise DigestMismatchError(f"{self.where}: more than the {self.size} bytes announced; refused")
        return data

    def finish(self) -> None:
        while self.read(CHUNK_SIZE):
            pass
        _check(self.where, self.hasher, self.expected, self.received, self.size)
