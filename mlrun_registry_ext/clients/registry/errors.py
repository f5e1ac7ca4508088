"""The registry client's public exception types, one class per thing a person must do differently.

Every one is a :class:`~mlrun_registry_ext.errors.RegistryAPIError` (exit code 1), so callers that only
want "the registry said no" catch that; callers that act on the cause (the doctor telling "can pull but
not push" from "wrong password", the copy engine retrying a 429) catch the subclass. Two families:

- :class:`RegistryHTTPError`: the registry answered, with an HTTP error (``status``, and the
  distribution error ``code`` when the body had one);
- :class:`RegistryConnectionError`: no HTTP answer at all (DNS, refused, proxy, TLS, timeout); ``kind``
  says which, for programs; the message says it for people.

Beside them, :class:`ListingError`: a paged listing (the catalog, a repository's tags) was stopped,
because it passed one of its caps (:class:`ListingLimitError`) or its ``Link`` led elsewhere
(:class:`ListingLinkError`).

Messages are one line and never carry a password or token. The classifiers that build these from a
response or a transport error are :meth:`RegistryClient.error_for` and :func:`.tls.connection_error`.
"""

from __future__ import annotations

from typing import Any

from mlrun_registry_ext.errors import RegistryAPIError

__all__ = [
    "DeniedError",
    "ListingError",
    "ListingLimitError",
    "ListingLinkError",
    "NameUnknownError",
    "NotARegistryError",
    "NotFoundError",
    "RegistryConnectionError",
    "RegistryHTTPError",
    "RegistryTLSError",
    "RegistryTimeoutError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "UnsupportedError",
]


class RegistryHTTPError(RegistryAPIError):
    """The registry answered with an HTTP error; ``code`` is the distribution error code when given."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        host: str = "",
        repository: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.host = host
        self.repository = repository


class UnauthorizedError(RegistryHTTPError):
    """Credentials missing or rejected (401 / ``UNAUTHORIZED``)."""


class DeniedError(RegistryHTTPError):
    """Authenticated, but the action is not allowed (403 / ``DENIED`` / a token without the action)."""


class NotFoundError(RegistryHTTPError):
    """404: manifest, blob or path unknown."""


class NameUnknownError(NotFoundError):
    """``NAME_UNKNOWN``: the repository does not exist (ECR and friends need it created first)."""


class TooManyRequestsError(RegistryHTTPError):
    """429 / ``TOOMANYREQUESTS``; ``retry_after`` is in seconds when the registry said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class UnsupportedError(RegistryHTTPError):
    """405 / ``UNSUPPORTED``: e.g. a read-only registry refusing a push."""


class NotARegistryError(RegistryHTTPError):
    """``GET /v2/`` did not answer like a Docker Registry v2 API (e.g. 404)."""


class RegistryConnectionError(RegistryAPIError):
    """No HTTP answer: DNS, refused connection, TLS or timeout. ``kind`` says which."""

    def __init__(self, message: str, *, kind: str, host: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.host = host


class RegistryTLSError(RegistryConnectionError):
    """The TLS handshake failed; ``kind`` is unknown-authority, hostname-mismatch, expired,
    not-yet-valid, not-tls or tls."""


class RegistryTimeoutError(RegistryConnectionError):
    """The registry did not answer within the timeout."""


class ListingError(RegistryAPIError):
    """A paged listing (``/v2/_catalog`` or ``/v2/<name>/tags/list``) was stopped before its end.

    Never retried, and never read as "no more items": a listing cut short would look complete, and
    prune would plan against a registry it did not fully read. ``limit`` names the rule
    (``max_pages``, ``max_items``, ``max_seconds``, ``origin``, ``loop``); ``items`` and ``pages``
    are what was read before it stopped.
    """

    def __init__(self, message: str, *, limit: str, host: str, repository: str | None = None,
                 items: int = 0, pages: int = 0) -> None:
        super().__init__(message)
        self.limit = limit
        self.host = host
        self.repository = repository
        self.items = items
        self.pages = pages


class ListingLimitError(ListingError):
    """A listing passed one of its caps (``limit`` is ``max_pages``, ``max_items`` or ``max_seconds``):
    a registry whose listing never ends, or one bigger than the caps allow (raise them by keyword)."""


class ListingLinkError(ListingError):
    """A listing's ``Link: <...>; rel="next"`` was refused: another origin (``limit`` ``origin``; the
    credentials would follow it) or a page already read (``loop``)."""


class DigestMismatchError(RegistryAPIError):
    """The bytes a source served do not hash to the digest (or size) they were requested by."""


class TransientError(RegistryAPIError):
    """A failure worth retrying (a connection dropped while streaming a body); ``timeout`` when the
    stream stalled or crawled (retried once only: a peer that drips does not get better)."""

    timeout = False
