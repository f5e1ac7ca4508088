"""Registry operations the migration needs, on top of :class:`RegistryClient` (auth, TLS, typed errors).

Adds what the client does not have: paginated listings (``Link: <...>; rel="next"``), retries with
backoff for 429 (honouring ``Retry-After``), 5xx and dropped connections, manifest GET/PUT with the
exact bytes, cross-repository mounts, and a streamed blob copy: the source's GET body is read
(``readinto`` one reused buffer) and fed chunk by chunk into one monolithic ``PUT <upload>?digest=``
on the target (no disk, one chunk in memory per transfer), hashed on the way; the last chunk goes
out only when size and sha256 match, otherwise the request is aborted, the upload cancelled and
:class:`DigestMismatchError` raised.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote

from mlrun_registry_ext.clients.registry.client import PULL, PUSH, RegistryClient
from mlrun_registry_ext.clients.registry.errors import (
    DeniedError,
    ListingError,
    NameUnknownError,
    RegistryConnectionError,
    RegistryHTTPError,
    RegistryTimeoutError,
    RegistryTLSError,
    TooManyRequestsError,
    UnauthorizedError,
)
from mlrun_registry_ext.clients.transport import Response, StallDeadline, TransportError, TransportTimeout
from mlrun_registry_ext.core.manifest import MANIFEST_ACCEPT, Manifest
from mlrun_registry_ext.core.providers import RegistryProvider
from mlrun_registry_ext.core.reference import validate_repository
from mlrun_registry_ext.errors import RegistryAPIError

if TYPE_CHECKING:
    from mlrun_registry_ext.core.location import RegistryAccess

log = logging.getLogger(__name__)
T = TypeVar("T")
CHUNK_SIZE = 1 << 20
#: Bound on one request (connect, headers, body, all together); for blob streams, the stall limit:
#: no byte moved for this long fails the transfer (see http_transport.StallDeadline).
TIMEOUT = 60.0
#: The slowest average a blob stream may keep (after a TIMEOUT head start): a peer dripping a byte
#: now and then to dodge the stall limit still fails; at 16 KiB/s a 1 GiB layer may take 18 hours.
MIN_RATE = 16 * 1024.0


class DigestMismatchError(RegistryAPIError):
    """The bytes a source served do not hash to the digest (or size) they were requested by."""


class TransientError(RegistryAPIError):
    """A failure worth retrying (a connection dropped while streaming a body); ``timeout`` when the
    stream stalled or crawled (retried once only: a peer that drips does not get better)."""

    timeout = False


class _SourceReadError(Exception):
    """Raised inside the upload body when the source stream breaks (kept apart from target errors)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class RetryPolicy:
    """Exponential backoff with jitter; 429 waits ``Retry-After`` when given (capped at ``max_delay``)."""

    def __init__(self, attempts: int = 5, base_delay: float = 0.5, max_delay: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep

    @staticmethod
    def retryable(exc: BaseException) -> bool:
        if isinstance(exc, TooManyRequestsError | TransientError):
            return True
        if isinstance(exc, RegistryHTTPError):
            return exc.status is not None and exc.status >= 500
        if isinstance(exc, RegistryConnectionError):
            return not isinstance(exc, RegistryTLSError) and exc.kind not in ("dns", "too-large", "proxy")
        return False

    def delay(self, attempt: int, exc: BaseException) -> float:
        if isinstance(exc, TooManyRequestsError) and exc.retry_after is not None:
            return min(self.max_delay, exc.retry_after)
        return min(self.max_delay, self.base_delay * 2 ** attempt) * (0.5 + random.random() / 2)

    @staticmethod
    def timed_out(exc: BaseException) -> bool:
        return isinstance(exc, RegistryTimeoutError) or (isinstance(exc, TransientError) and exc.timeout)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        for attempt in range(self.attempts):
            try:
                return fn()
            except RegistryAPIError as exc:
                # a deadline that passed is retried once: each try already waited its whole limit
                if attempt + 1 >= self.attempts or not self.retryable(exc) or (self.timed_out(exc) and attempt):
                    raise
                wait = self.delay(attempt, exc)
                log.warning("%s: %s; retrying in %.1f s (%d/%d)", what, exc, wait, attempt + 1, self.attempts - 1)
                self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


def _transient(exc: Exception, host: str) -> TransientError:
    if isinstance(exc, TransportTimeout | RegistryTimeoutError):
        detail = exc.detail if isinstance(exc, TransportTimeout) else str(exc)
        error = TransientError(f"{host}: the blob transfer failed: {detail.removeprefix(host + ' ')}")
        error.timeout = True
        return error
    return TransientError(f"{host}: the connection broke while streaming ({type(exc).__name__}: {exc})")


class RegistryEndpoint:
    """One side of a migration: a :class:`RegistryClient` plus retries and transfer operations."""

    def __init__(self, client: RegistryClient, *, display: str | None = None, rules: RegistryProvider | None = None,
                 retry: RetryPolicy | None = None, chunk_size: int = CHUNK_SIZE, stall: float = TIMEOUT,
                 min_rate: float = MIN_RATE, max_pages: int | None = None, max_items: int | None = None,
                 max_seconds: float | None = None) -> None:
        self.client = client
        #: The caps on each catalog and tag listing (None: the client's MAX_LISTING_* defaults).
        self.listing_caps: dict[str, Any] = {"max_pages": max_pages, "max_items": max_items,
                                             "max_seconds": max_seconds}
        self.stall = stall
        self.min_rate = min_rate
        self.display = display or client.base_url
        self.rules = rules
        self.retry = retry or RetryPolicy()
        self.chunk_size = chunk_size
        self.mounts_refused = False
        #: Set when the registry opened an upload for a mount from a repository that has the blob:
        #: it does not mount, so a mount cannot tell whether a blob is present either.
        self.mounts_ignored = False

    @classmethod
    def for_access(cls, access: RegistryAccess, *, retry: RetryPolicy | None = None,
                   timeout: float = TIMEOUT, max_pages: int | None = None, max_items: int | None = None,
                   max_seconds: float | None = None) -> RegistryEndpoint:
        where = access.location
        client = RegistryClient.for_access(access, timeout=timeout)
        return cls(client, display=where.display, rules=where.rules, retry=retry, stall=timeout,
                   max_pages=max_pages, max_items=max_items, max_seconds=max_seconds)

    def __enter__(self) -> RegistryEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"RegistryEndpoint({self.client!r})"

    @property
    def host(self) -> str:
        return self.client.host

    def check_repository_name(self, repository: str) -> None:
        validate_repository(repository, "to")
        if self.rules is not None:
            self.rules.validate_repository(repository, self.host, "to")

    def check_access(self) -> None:
        """Fail early, with the client's one-line message, when the credentials are refused."""
        self.retry.call(f"GET {self.host}/v2/", self.client.check_auth)

    # --- listings ------------------------------------------------------------------------------
    def _send_page(self, what: str, fetch: Callable[[], Response]) -> Response:
        return self.retry.call(what, fetch)

    def list_repositories(self) -> list[str]:
        """Every repository in ``/v2/_catalog`` (all pages, within the listing caps: ListingLimitError)."""
        try:
            return self.client.catalog(send=self._send_page, **self.listing_caps)
        except RegistryHTTPError as exc:
            if exc.status == 404:
                raise RegistryAPIError(f"{self.host} does not offer /v2/_catalog (the listing extension); "
                                       "migrate needs it to find repositories") from None
            raise

    def repositories(self, *, required: bool = True) -> list[str] | None:
        """:meth:`list_repositories` as a run's first request, which proves the login when it works.
        When the listing is refused, :meth:`check_access` tells whether the login is the reason (with
        its one-line message). Without a catalog (Docker Hub, GHCR...): an error if ``required``, else
        None. A listing stopped by its caps or its ``Link`` is always an error: the registry has a
        catalog, and a partial one is not "none"."""
        try:
            return self.list_repositories()
        except (RegistryConnectionError, ListingError):
            raise
        except RegistryAPIError as exc:
            self.check_access()
            if required:
                raise
            log.debug("%s offers no catalog (%s)", self.host, exc)
            return None

    def list_tags(self, repository: str) -> list[str]:
        """Every tag of ``repository`` (all pages, within the listing caps); none when the repository
        vanished."""
        try:
            return self.client.tags(repository, send=self._send_page, **self.listing_caps)
        except NameUnknownError:
            return []

    # --- manifests -----------------------------------------------------------------------------
    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest ``reference`` resolves to (HEAD; GET + sha256 when the registry omits the header)."""
        info = self.retry.call(f"HEAD {repository}:{reference}",
                               lambda: self.client.head_manifest(repository, reference))
        if info is None:
            return None
        if info.digest:
            return info.digest
        raw, _ = self.get_manifest(repository, reference)
        return "sha256:" + hashlib.sha256(raw).hexdigest()

    def get_manifest(self, repository: str, reference: str) -> tuple[bytes, str | None]:
        """The manifest's exact bytes and its Content-Type."""
        response = self.retry.call(f"GET manifest {repository}@{reference}", lambda: self.client.request(
            "GET", f"/v2/{repository}/manifests/{reference}", scope_repo=repository,
            headers={"Accept": MANIFEST_ACCEPT}))
        return response.content, response.headers.get("content-type")

    def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> str | None:
        """Write the manifest bytes unchanged under ``reference`` (tag or digest). Returns the digest the
        registry says it stored (``Docker-Content-Digest``, None when it does not say); another digest
        than the manifest's is an error."""
        response = self.retry.call(f"PUT manifest {repository}:{reference}", lambda: self.client.request(
            "PUT", f"/v2/{repository}/manifests/{reference}", scope_repo=repository, actions=PUSH,
            headers={"Content-Type": manifest.media_type}, content=manifest.raw))
        written = response.headers.get("docker-content-digest")
        if written and written != manifest.digest:
            raise RegistryAPIError(f"{self.host} stored {repository}:{reference} as {written}, not {manifest.digest}")
        return written or None

    # --- blobs ---------------------------------------------------------------------------------
    @property
    def probes_by_mount(self) -> bool:
        """Whether a mount of a blob into its own repository can stand in for the HEAD before an upload:
        201 when the blob is there, else the upload session the copy needs anyway (one request, not
        two). Not where mounts are refused or ignored, nor on ECR, where mounting is opt-in."""
        opt_in = self.rules is not None and not self.rules.mounts_blobs
        return not (self.mounts_refused or self.mounts_ignored or opt_in)

    def blob_exists(self, repository: str, digest: str) -> bool:
        return self.retry.call(f"HEAD blob {repository}@{digest}",
                               lambda: self.client.blob_exists(repository, digest))

    def _start_upload(self, repository: str, digest: str, mount_from: str | None) -> str | None:
        """Open an upload session (its Location), or None when the mount succeeded (201).

        A registry whose token must also grant ``pull`` on the other repository may refuse the mount
        (401/403): then this endpoint stops trying mounts and uploads instead.
        """
        if mount_from and not self.mounts_refused:
            try:
                response = self.client.request("POST", f"/v2/{repository}/blobs/uploads/", scope_repo=repository,
                                               actions=PUSH, params={"mount": digest, "from": mount_from})
            except (UnauthorizedError, DeniedError) as exc:
                log.info("%s refused a cross-repository mount (%s); uploading instead", self.host, exc)
                self.mounts_refused = True
            else:
                if response.status_code == 201:
                    return None
                if mount_from != repository:
                    log.info("%s answered a cross-repository mount with an upload; not relying on mounts",
                             self.host)
                    self.mounts_ignored = True
                return self._location(response, repository)
        response = self.client.request("POST", f"/v2/{repository}/blobs/uploads/", scope_repo=repository,
                                       actions=PUSH)
        return self._location(response, repository)

    def _location(self, response: Response, repository: str) -> str:
        location = response.headers.get("location")
        if response.status_code != 202 or not location:
            raise RegistryHTTPError(f"POST /v2/{repository}/blobs/uploads/ on {self.host} answered "
                                    f"{response.status_code} without an upload location", host=self.host,
                                    status=response.status_code, repository=repository)
        return location

    def _cancel(self, repository: str, location: str) -> None:
        with contextlib.suppress(RegistryAPIError, TransportError):
            self.client.request("DELETE", location, scope_repo=repository, actions=PUSH, raise_for_status=False,
                                timeout=10)

    def copy_blob_from(self, source: RegistryEndpoint, source_repository: str, repository: str, digest: str,
                       size: int, *, mount_from: str | None = None, probe: bool = False,
                       on_bytes: Callable[[int], Any] | None = None) -> Literal["copied", "mounted", "present"]:
        """Copy one blob into ``repository``: mount it from ``mount_from`` (same registry) when given,
        else stream it from ``source``. With ``probe`` (see :attr:`probes_by_mount`) the upload is opened
        by a mount from ``repository`` itself: "present" when the blob is already there. Retried as a
        whole; a digest mismatch is never retried."""
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
            outcome = self._copy_blob_once(source, source_repository, repository, digest, size, mount, progress)
            if outcome == "mounted" and mount == repository:
                # an earlier attempt may have committed it before its connection broke
                return "copied" if streamed[0] else "present"
            return outcome

        return self.retry.call(f"copy blob {digest[:19]} to {repository}", attempt)

    def _copy_blob_once(self, source: RegistryEndpoint, source_repository: str, repository: str, digest: str,
                        size: int, mount_from: str | None,
                        on_bytes: Callable[[int], Any]) -> Literal["copied", "mounted"]:
        location = self._start_upload(repository, digest, mount_from)
        if location is None:
            return "mounted"
        committed = False
        try:
            self._stream_into(source, source_repository, repository, digest, size, location, on_bytes)
            committed = True
        finally:
            if not committed:
                self._cancel(repository, location)
        return "copied"

    def _stream_into(self, source: RegistryEndpoint, source_repository: str, repository: str, digest: str,
                     size: int, location: str, on_bytes: Callable[[int], Any]) -> None:
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
        # the upload URL keeps its own query (``_state``): append to it
        commit = f"{location}{'&' if '?' in location else '?'}digest={quote(digest, safe='')}"
        with source.client.stream("GET", f"/v2/{source_repository}/blobs/{digest}", scope_repo=source_repository,
                                  actions=PULL, follow_redirects=True,
                                  deadline=StallDeadline(source.stall, source.min_rate)) as response:
            announced = response.headers.get("content-length")
            if announced and announced.isdigit() and int(announced) != size:
                raise DigestMismatchError(f"{where}: the source serves {announced} bytes but the manifest says "
                                          f"{size}; not copied")

            def body() -> Iterator[bytes | memoryview]:
                try:
                    for chunk in _body_chunks(response, size, self.chunk_size):
                        received[0] += len(chunk)
                        if received[0] > size:
                            raise DigestMismatchError(f"{where}: the source sent more than the {size} bytes "
                                                      "announced; not copied")
                        on_bytes(len(chunk))
                        if received[0] == size:  # the last chunk goes out only once the digest is right
                            hasher.update(chunk)
                            self._check(where, hasher, expected, received[0], size)
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
                self._check(where, hasher, expected, received[0], size)

            try:
                if size <= self.chunk_size:
                    data = b"".join(bytes(chunk) for chunk in body())  # views share one buffer
                    content: bytes | Iterator[bytes | memoryview] = data
                else:
                    # views of one reused buffer, each sent before the next is read
                    content = body()
                self.client.request("PUT", commit, scope_repo=repository, actions=PUSH, content=content,
                                    headers=headers, deadline=StallDeadline(self.stall, self.min_rate))
            except _SourceReadError as exc:
                raise exc.error from None
            except RegistryConnectionError as exc:
                raise _transient(exc, self.host) from exc
        self._check(where, hasher, expected, received[0], size)

    def upload_blob(self, repository: str, data: bytes, digest: str) -> Literal["uploaded", "present"]:
        """Put a small blob held in memory (a new layer or config): nothing when the registry has it,
        else one monolithic ``PUT ?digest=`` (the registry checks the digest before it commits)."""
        if self.blob_exists(repository, digest):
            return "present"

        def attempt() -> Literal["uploaded", "present"]:
            location = self._start_upload(repository, digest, None)
            assert location is not None
            commit = f"{location}{'&' if '?' in location else '?'}digest={quote(digest, safe='')}"
            try:
                self.client.request("PUT", commit, scope_repo=repository, actions=PUSH, content=data,
                                    headers={"Content-Type": "application/octet-stream",
                                             "Content-Length": str(len(data))})
            except BaseException:
                self._cancel(repository, location)
                raise
            return "uploaded"

        return self.retry.call(f"upload blob {digest[:19]} to {repository}", attempt)

    @contextlib.contextmanager
    def open_blob(self, repository: str, digest: str, size: int) -> Iterator[VerifiedBlob]:
        """A blob as a read-only stream (``read(n)``) that never yields more than ``size`` bytes and,
        once read to the end (:meth:`VerifiedBlob.finish`), checks size and digest."""
        with self.client.stream("GET", f"/v2/{repository}/blobs/{digest}", scope_repo=repository, actions=PULL,
                                follow_redirects=True, deadline=StallDeadline(self.stall, self.min_rate)) as response:
            yield VerifiedBlob(response, f"blob {digest} in {self.host}/{repository}", digest, size)

    @staticmethod
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
        RegistryEndpoint._check(self.where, self.hasher, self.expected, self.received, self.size)
