"""Registry operations the migration needs, on top of :class:`RegistryClient` (auth, TLS, typed errors).

Adds what the client does not have: paginated listings (``Link: <...>; rel="next"``), retries with
backoff for 429 (honouring ``Retry-After``), 5xx and dropped connections, manifest GET/PUT with the
exact bytes, cross-repository mounts, and a streamed blob copy: the source's GET body is fed chunk
by chunk into the target's ``PATCH`` (no disk, one chunk in memory per transfer), hashed on the way,
and the upload is committed (``PUT ?digest=``) only when size and sha256 match; otherwise it is
cancelled and :class:`DigestMismatchError` is raised.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote

import httpx

from mlrun_registry_ext.adapters.registry_http import (
    MANIFEST_ACCEPT,
    PULL,
    PUSH,
    DeniedError,
    NameUnknownError,
    RegistryClient,
    RegistryConnectionError,
    RegistryHTTPError,
    RegistryTLSError,
    TooManyRequestsError,
    UnauthorizedError,
)
from mlrun_registry_ext.core.reference import validate_repository
from mlrun_registry_ext.errors import RegistryAPIError

if TYPE_CHECKING:
    from mlrun_registry_ext.core.providers import ProviderRules
    from mlrun_registry_ext.core.service import RegistryService
    from mlrun_registry_ext.migrate import Manifest

log = logging.getLogger(__name__)
T = TypeVar("T")
CHUNK_SIZE = 1 << 20
#: Timeout for one network operation (connect, one read, one write); blob bodies are streamed.
TIMEOUT = 60.0


class DigestMismatchError(RegistryAPIError):
    """The bytes a source served do not hash to the digest (or size) they were requested by."""


class TransientError(RegistryAPIError):
    """A failure worth retrying (a connection dropped while streaming a body)."""


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
            return not isinstance(exc, RegistryTLSError) and exc.kind != "dns"
        return False

    def delay(self, attempt: int, exc: BaseException) -> float:
        if isinstance(exc, TooManyRequestsError) and exc.retry_after is not None:
            return min(self.max_delay, exc.retry_after)
        return min(self.max_delay, self.base_delay * 2 ** attempt) * (0.5 + random.random() / 2)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        for attempt in range(self.attempts):
            try:
                return fn()
            except RegistryAPIError as exc:
                if attempt + 1 >= self.attempts or not self.retryable(exc):
                    raise
                wait = self.delay(attempt, exc)
                log.warning("%s: %s; retrying in %.1f s (%d/%d)", what, exc, wait, attempt + 1, self.attempts - 1)
                self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


def _transient(exc: httpx.HTTPError, host: str) -> TransientError:
    return TransientError(f"{host}: the connection broke while streaming ({type(exc).__name__}: {exc})")


class RegistryEndpoint:
    """One side of a migration: a :class:`RegistryClient` plus retries and transfer operations."""

    def __init__(self, client: RegistryClient, *, display: str | None = None, rules: ProviderRules | None = None,
                 retry: RetryPolicy | None = None, chunk_size: int = CHUNK_SIZE) -> None:
        self.client = client
        self.display = display or client.base_url
        self.rules = rules
        self.retry = retry or RetryPolicy()
        self.chunk_size = chunk_size
        self.mounts_refused = False

    @classmethod
    def for_service(cls, service: RegistryService, *, jobs: int = 6, retry: RetryPolicy | None = None,
                    timeout: float = TIMEOUT) -> RegistryEndpoint:
        client = RegistryClient.for_service(service, timeout=timeout)
        return cls(client, display=f"{service.scheme}://{service.url}", rules=service.rules, retry=retry)

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
    def _pages(self, path: str, key: str, *, scope_repo: str | None = None, scope: str | None = None) -> list[str]:
        out: list[str] = []
        url: str | None = path
        while url:
            page_url = url

            def get(page_url: str = page_url) -> httpx.Response:
                return self.client.request("GET", page_url, scope_repo=scope_repo, scope=scope)

            response = self.retry.call(f"GET {page_url}", get)
            out += list(response.json().get(key) or [])
            nxt = response.links.get("next", {}).get("url")
            url = nxt if nxt and nxt != page_url else None
        return out

    def list_repositories(self) -> list[str]:
        """Every repository in ``/v2/_catalog`` (all pages)."""
        try:
            return self._pages("/v2/_catalog?n=1000", "repositories", scope="registry:catalog:*")
        except RegistryHTTPError as exc:
            if exc.code == "PAGINATION_NUMBER_INVALID":
                return self._pages("/v2/_catalog?n=100", "repositories", scope="registry:catalog:*")
            if exc.status == 404:
                raise RegistryAPIError(f"{self.host} does not offer /v2/_catalog (the listing extension); "
                                       "migrate needs it to find repositories") from None
            raise

    def list_tags(self, repository: str) -> list[str]:
        """Every tag of ``repository`` (all pages); none when the repository vanished."""
        try:
            return self._pages(f"/v2/{repository}/tags/list?n=1000", "tags", scope_repo=repository)
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

    def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> None:
        """Write the manifest bytes unchanged under ``reference`` (tag or digest)."""
        response = self.retry.call(f"PUT manifest {repository}:{reference}", lambda: self.client.request(
            "PUT", f"/v2/{repository}/manifests/{reference}", scope_repo=repository, actions=PUSH,
            headers={"Content-Type": manifest.media_type}, content=manifest.raw))
        written = response.headers.get("docker-content-digest")
        if written and written != manifest.digest:
            raise RegistryAPIError(f"{self.host} stored {repository}:{reference} as {written}, not {manifest.digest}")

    # --- blobs ---------------------------------------------------------------------------------
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
                return self._location(response, repository)
        response = self.client.request("POST", f"/v2/{repository}/blobs/uploads/", scope_repo=repository,
                                       actions=PUSH)
        return self._location(response, repository)

    def _location(self, response: httpx.Response, repository: str) -> str:
        location = response.headers.get("location")
        if response.status_code != 202 or not location:
            raise RegistryHTTPError(f"POST /v2/{repository}/blobs/uploads/ on {self.host} answered "
                                    f"{response.status_code} without an upload location", host=self.host,
                                    status=response.status_code, repository=repository)
        return location

    def _cancel(self, repository: str, location: str) -> None:
        with contextlib.suppress(RegistryAPIError, httpx.HTTPError):
            self.client.request("DELETE", location, scope_repo=repository, actions=PUSH, raise_for_status=False,
                                timeout=10)

    def copy_blob_from(self, source: RegistryEndpoint, source_repository: str, repository: str, digest: str,
                       size: int, *, mount_from: str | None = None,
                       on_bytes: Callable[[int], Any] | None = None) -> Literal["copied", "mounted"]:
        """Copy one blob into ``repository``: mount it from ``mount_from`` (same registry) when given,
        else stream it from ``source``. Retried as a whole; a digest mismatch is never retried."""
        sent = [0]

        def progress(n: int) -> None:
            sent[0] += n
            if on_bytes is not None:
                on_bytes(n)

        def attempt() -> Literal["copied", "mounted"]:
            if sent[0] and on_bytes is not None:
                on_bytes(-sent[0])  # a retry starts over
            sent[0] = 0
            return self._copy_blob_once(source, source_repository, repository, digest, size, mount_from, progress)

        return self.retry.call(f"copy blob {digest[:19]} to {repository}", attempt)

    def _copy_blob_once(self, source: RegistryEndpoint, source_repository: str, repository: str, digest: str,
                        size: int, mount_from: str | None,
                        on_bytes: Callable[[int], Any]) -> Literal["copied", "mounted"]:
        location = self._start_upload(repository, digest, mount_from)
        if location is None:
            return "mounted"
        committed = False
        try:
            location = self._stream_into(source, source_repository, repository, digest, size, location, on_bytes)
            # httpx's ``params`` would replace the session's own query (``_state``): append instead
            commit = f"{location}{'&' if '?' in location else '?'}digest={quote(digest, safe='')}"
            self.client.request("PUT", commit, scope_repo=repository, actions=PUSH,
                                headers={"Content-Length": "0"}, content=b"")
            committed = True
        finally:
            if not committed:
                self._cancel(repository, location)
        return "copied"

    def _stream_into(self, source: RegistryEndpoint, source_repository: str, repository: str, digest: str,
                     size: int, location: str, on_bytes: Callable[[int], Any]) -> str:
        """PATCH the source blob's bytes into the upload; returns the session's next Location.

        Blobs up to one chunk are read whole (one chunk in memory either way, and a bytes body needs no
        pre-flight ping); larger ones are fed from the source's response into the PATCH body.
        """
        algorithm, _, expected = digest.partition(":")
        if algorithm not in hashlib.algorithms_available:
            raise RegistryAPIError(f"blob {digest}: unsupported digest algorithm {algorithm!r}")
        hasher = hashlib.new(algorithm)
        received = [0]
        where = f"blob {digest} in {source.host}/{source_repository}"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        with source.client.stream("GET", f"/v2/{source_repository}/blobs/{digest}", scope_repo=source_repository,
                                  actions=PULL, follow_redirects=True) as response:
            announced = response.headers.get("content-length")
            if announced and announced.isdigit() and int(announced) != size:
                raise DigestMismatchError(f"{where}: the source serves {announced} bytes but the manifest says "
                                          f"{size}; not copied")

            def body() -> Iterator[bytes]:
                try:
                    for chunk in response.iter_raw(self.chunk_size):
                        hasher.update(chunk)
                        received[0] += len(chunk)
                        if received[0] > size:
                            raise DigestMismatchError(f"{where}: the source sent more than the {size} bytes "
                                                      "announced; not copied")
                        on_bytes(len(chunk))
                        yield chunk
                except httpx.HTTPError as exc:
                    raise _SourceReadError(_transient(exc, source.host)) from exc

            try:
                if size <= self.chunk_size:
                    data = b"".join(body())
                    self._check(where, hasher, expected, received[0], size)
                    content: bytes | Iterator[bytes] = data
                else:
                    content = body()
                patched = self.client.request("PATCH", location, scope_repo=repository, actions=PUSH,
                                              content=content, headers=headers)
            except _SourceReadError as exc:
                raise exc.error from None
            except httpx.HTTPError as exc:
                raise _transient(exc, self.host) from exc
        self._check(where, hasher, expected, received[0], size)
        return patched.headers.get("location") or location

    @staticmethod
    def _check(where: str, hasher: Any, expected: str, received: int, size: int) -> None:
        if received != size or hasher.hexdigest() != expected:
            raise DigestMismatchError(f"{where} is corrupt: received {received} bytes hashing to "
                                      f"{hasher.name}:{hasher.hexdigest()}; refused, not committed")
