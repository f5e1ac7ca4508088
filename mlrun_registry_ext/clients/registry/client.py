"""A small Docker Registry HTTP API v2 client: ping, Basic/Bearer auth, push/pull probes.

It is the one place that talks to registries, so the doctor and the migration engine share the same
TLS rules (system store or an explicit CA bundle, never a silent plain-HTTP fallback), the same
401 -> challenge -> token -> retry dance, and the same typed errors. Secrets stay in ``SecretStr``
until the moment an ``Authorization`` header is built; messages never carry them. Bytes move through
:mod:`~mlrun_registry_ext.clients.transport` (the standard library's ``http.client``, pooled).

Beside it: :mod:`.errors` (the exception types), :mod:`.challenge` (the ``WWW-Authenticate`` parser)
and :mod:`.tls` (why a connection failed, shared with the doctor).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Optional, TypeVar, Union
from urllib.parse import urlencode, urljoin, urlsplit

from mlrun_registry_ext.clients.registry.challenge import Challenge, preferred, response_challenges
from mlrun_registry_ext.clients.registry.errors import (
    DeniedError,
    ListingError,
    ListingLimitError,
    ListingLinkError,
    NameUnknownError,
    NotARegistryError,
    NotFoundError,
    RegistryConnectionError,
    RegistryHTTPError,
    RegistryTimeoutError,
    RegistryTLSError,
    TooManyRequestsError,
    TransientError,
    UnauthorizedError,
    UnsupportedError,
)
from mlrun_registry_ext.clients.registry.tls import connection_error, is_loopback
from mlrun_registry_ext.clients.transport import (
    MAX_ERROR_BODY,
    Deadline,
    Response,
    Transport,
    TransportError,
    tls_context,
)
from mlrun_registry_ext.core.manifest import MANIFEST_ACCEPT
from mlrun_registry_ext.core.origin import registry_origin, same_origin, url_origin
from mlrun_registry_ext.core.reference import validate_repository
from mlrun_registry_ext.errors import ConfigError, RegistryAPIError

if TYPE_CHECKING:
    from mlrun_registry_ext.core.location import RegistryAccess
    from mlrun_registry_ext.core.providers import RegistryProvider
    from mlrun_registry_ext.core.secrets import SecretValue
    from mlrun_registry_ext.core.service import RegistryService

log = logging.getLogger(__name__)
T = TypeVar("T")

PULL = ("pull",)
PUSH = ("pull", "push")
#: The token action for a manifest DELETE (distribution maps DELETE to ``delete``).
DELETE = ("delete",)
#: The OAuth2 ``client_id`` sent with an identity token (distribution: any meaningful value, for auditing).
CLIENT_ID = "mlrun-registry-ext"
#: Refetch a cached token this long before the server says it expires.
TOKEN_MARGIN = 10.0
#: A token server's answer is a small JSON document; more is refused.
MAX_TOKEN_BODY = 1 << 20
#: RFC 6750 section 2.1 ``b64token``: the only characters a Bearer token may have. Anything else (a
#: newline, a space) would be refused by http.client with the whole header, token included, in its
#: message, or worse, end the header early.
B64TOKEN_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")

# Caps on one paged listing (the catalog, or one repository's tags). A registry whose listing never
# ends (a fresh ``Link: <...&last=N+1>; rel="next"`` on every page) stops with ListingLimitError
# instead of being read on with memory growing. Each is a keyword argument of the listing calls
# (RegistryClient.list_pages, tags, catalog) and of a client (its listing_caps); these are the defaults, read at
# call time.
#: 100,000 tags in one repository is legitimate (a CI that tags every commit); five times that is not
#: a registry but a loop. At most ~50 MB of names.
MAX_LISTING_ITEMS = 500_000
#: Registries page by 100 or 1,000 names when asked for 1,000: 10,000 pages hold the item cap at 50 a page.
MAX_LISTING_PAGES = 10_000
#: Every page of one listing together; each page's request keeps its own timeout within it.
MAX_LISTING_SECONDS = 600.0
#: Names asked for per page (``n``); distribution caps the catalog at 1,000 (PAGINATION_NUMBER_INVALID).
LISTING_PAGE_SIZE = 1000
#: The catalog page size when a registry refuses LISTING_PAGE_SIZE.
SMALL_LISTING_PAGE_SIZE = 100


# --- results -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PingResult:
    """``GET /v2/``: ``status`` 200 (open) or 401 (auth needed) and the challenge offered."""

    status: int
    challenge: Challenge | None
    api_version: str | None


@dataclass(frozen=True)
class AuthResult:
    """Who the registry let in: ``scheme`` (None, ``basic`` or ``bearer``) and whether anonymously."""

    scheme: str | None
    anonymous: bool


@dataclass(frozen=True)
class ManifestInfo:
    """What a manifest HEAD tells: the digest (``Docker-Content-Digest``), media type and size."""

    digest: str | None
    media_type: str | None
    size: int | None


@dataclass
class _Token:
    value: str
    expires_at: float


# typing's spelling: a runtime alias that Python 3.9 evaluates
Content = Optional[Union[bytes, str, Iterable[Union[bytes, memoryview]]]]

#: A blob moves in chunks of this size (one buffer per transfer).
CHUNK_SIZE = 1 << 20
#: The slowest average a blob stream may keep (after a stall-limit head start): a peer dripping a byte
#: now and then to dodge the stall limit still fails; at 16 KiB/s a 1 GiB layer may take 18 hours.
MIN_RATE = 16 * 1024.0
#: Requests that may be sent again as they are: reads, deletes, and a manifest PUT (the same bytes under
#: the same name). Not a POST (each opens another upload session) nor the PUT that commits an upload (the
#: session is gone after it): a blob copy is retried as a whole, by :func:`.transfer.copy_blob`.
IDEMPOTENT = frozenset({"GET", "HEAD", "DELETE"})


class RetryPolicy:
    """When and how a request is sent again; the one retry policy of the registry API.

    Retried: 429 (after ``Retry-After`` when given, capped at ``max_delay``), 5xx, a connection that
    dropped or timed out (a deadline that passed is retried once only: each try already waited its whole
    limit), a stream that broke (:class:`TransientError`). Not retried: other 4xx, TLS, DNS and proxy
    failures, a body too large. Backoff is exponential with jitter. Which requests: the idempotent ones
    (:data:`IDEMPOTENT`, manifest PUTs) with a body that can be sent again; streams are retried by the
    operation they belong to. A client without a policy (the doctor: its deadline is the point) sends
    every request once.
    """

    def __init__(self, attempts: int = 5, base_delay: float = 0.5, max_delay: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep

    @staticmethod
    def retryable(exc: BaseException) -> bool:
        if isinstance(exc, (TooManyRequestsError, TransientError)):
            return True
        if isinstance(exc, RegistryHTTPError):
            return exc.status is not None and exc.status >= 500
        if isinstance(exc, RegistryConnectionError):
            return not isinstance(exc, RegistryTLSError) and exc.kind not in ("dns", "too-large", "proxy")
        return False

    @staticmethod
    def applies(method: str, url: str, content: Content) -> bool:
        """Whether a request may be sent again: idempotent, with a body that can be sent again."""
        rewindable = content is None or isinstance(content, (bytes, str))
        return rewindable and (method in IDEMPOTENT or (method == "PUT" and "/manifests/" in url))

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
                if attempt + 1 >= self.attempts or not self.retryable(exc) or (self.timed_out(exc) and attempt):
                    raise
                wait = self.delay(attempt, exc)
                log.warning("%s: %s; retrying in %.1f s (%d/%d)", what, exc, wait, attempt + 1, self.attempts - 1)
                self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


class ListingBudget:
    """The caps of one paged listing, counted as its pages come in: the one place they are enforced
    (the registry API's catalog and tags here, ECR's ``DescribeRepositories``/``DescribeImages`` in
    :mod:`~mlrun_registry_ext.clients.aws`). Each cap None: the module constant, read now.

    Call :meth:`next_page` before asking for a page, :meth:`left` for the seconds a request may still
    take, and :meth:`add` with each page's items; each raises :class:`ListingLimitError` naming the
    cap passed.
    """

    def __init__(self, what: str, host: str, repository: str | None = None, max_pages: int | None = None,
                 max_items: int | None = None, max_seconds: float | None = None) -> None:
        self.what, self.host, self.repository = what, host, repository
        self.caps = {
            "max_pages": MAX_LISTING_PAGES if max_pages is None else max_pages,
            "max_items": MAX_LISTING_ITEMS if max_items is None else max_items,
            "max_seconds": MAX_LISTING_SECONDS if max_seconds is None else max_seconds,
        }
        self.end = time.monotonic() + self.caps["max_seconds"]
        self.pages = 0  # pages read
        self.items = 0  # items kept

    def error(self, limit: str) -> ListingLimitError:
        unit = {"max_pages": "pages", "max_items": "names", "max_seconds": "s"}[limit]
        return ListingLimitError(
            f"{self.what} on {self.host} passed its cap of {self.caps[limit]:g} {unit} ({limit}) after "
            f"{self.pages} pages and {self.items} names; stopped: a listing that does not end is a registry "
            f"fault, a registry this large needs a higher {limit}",
            limit=limit, host=self.host, repository=self.repository, items=self.items, pages=self.pages,
        )

    def next_page(self) -> None:
        """Another page is about to be asked for."""
        if self.pages >= self.caps["max_pages"]:
            raise self.error("max_pages")
        self.left()

    def left(self) -> float:
        """The seconds the listing may still take (more than 0)."""
        seconds = self.end - time.monotonic()
        if seconds <= 0:
            raise self.error("max_seconds")
        return seconds

    def add(self, page: list[T]) -> list[T]:
        """A page came in: ``page``, when the names so far and it stay within the item cap."""
        if self.items + len(page) > self.caps["max_items"]:
            raise self.error("max_items")
        self.items += len(page)
        self.pages += 1
        return page


# --- the client --------------------------------------------------------------------------------------
class RegistryClient:
    """One registry host, one pool of keep-alive connections; use as a context manager or call :meth:`close`.

    The one registry API of the package: the doctor, migrate, prune and kaniko-image all talk through
    it. ``request``/``stream`` are the building blocks (they authenticate for
    ``repository:<scope_repo>:<actions>``, and ``request`` retries idempotent requests under the client's
    :class:`RetryPolicy`); on top: the probes (ping, auth, push, pull), the listings (``catalog``,
    ``tags``: every page, within caps), manifests (``manifest_digest``, ``get_manifest``,
    ``head_manifest``, ``delete_manifest``) and ``blob_exists``. The copy steps (mount or upload,
    stream a blob, put a manifest) are plain functions over it in :mod:`.transfer`.
    Thread-safe: the doctor and the migration engine share one client between worker threads.
    """

    def __init__(
        self,
        host: str,
        *,
        username: str | None = None,
        password: SecretValue | None = None,
        insecure: bool = False,
        ca_bundle: str | None = None,
        timeout: float = 5.0,
        identity_token: SecretValue | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        for secret in (password, identity_token):
            if secret is not None and not callable(getattr(secret, "get_secret_value", None)):
                raise TypeError("password must be a SecretStr (or another object with get_secret_value())")
        self.host = host
        self.username = username
        self._password = password
        #: an OAuth2 refresh token (docker config ``identitytoken``), traded at the token realm
        self._identity_token = identity_token
        self.insecure = insecure
        self.scheme = "http" if insecure else "https"
        self.base_url = f"{self.scheme}://{host}"
        try:
            #: The registry's origin: credentials go to URLs of this origin only.
            self.origin = registry_origin(host, insecure)
        except ValueError as exc:
            raise ConfigError("url", str(exc)) from None
        self.ca_bundle = ca_bundle  # MLRUN_REGISTRY_EXT_CA_BUNDLE reaches here through the resolved service
        self.timeout = timeout
        self.ssl_context: ssl.SSLContext | None = None if insecure else tls_context(self.ca_bundle)
        self._http = Transport(
            ssl_context=self.ssl_context,
            verify=not insecure,  # an insecure registry's https token realm is not verified either
            timeout=timeout,
            headers={"User-Agent": "mlrun-registry-ext"},
        )
        self._lock = threading.Lock()
        #: Requests sent to the registry itself (token server calls not counted): what a run cost it.
        self.requests = 0
        self._challenge: Challenge | None = None
        self._anonymous_ok = False
        self._tokens: dict[tuple[str, ...], _Token] = {}
        #: Idempotent requests are retried under it (None: each request is sent once).
        self.retry = retry
        #: How the registry is shown in reports, and its provider's naming rules (``for_access`` sets them).
        self.display = self.base_url
        self.rules: RegistryProvider | None = None
        #: A blob stream fails when no byte moved for ``stall`` seconds or it averages under ``min_rate``.
        self.stall = timeout
        self.min_rate = MIN_RATE
        self.chunk_size = CHUNK_SIZE
        #: The caps on each catalog and tag listing (None: the MAX_LISTING_* defaults).
        self.listing_caps: dict[str, Any] = {"max_pages": None, "max_items": None, "max_seconds": None}
        #: What the registry showed about cross-repository mounts (see :attr:`probes_by_mount`).
        self.mounts_refused = False
        self.mounts_ignored = False

    @classmethod
    def for_service(cls, service: RegistryService, timeout: float = 5.0) -> RegistryClient:
        """A client with the service's own login (:func:`.login.login` finds one where the user keeps it)."""
        return cls.for_access(service.access, timeout=timeout)

    @classmethod
    def for_access(cls, access: RegistryAccess, timeout: float = 5.0, *, retry: RetryPolicy | None = None,
                   max_pages: int | None = None, max_items: int | None = None,
                   max_seconds: float | None = None) -> RegistryClient:
        """A client for ``access`` (location, login, CA bundle): ``timeout`` bounds each request and is
        a blob stream's stall limit; ``retry`` (None: none) retries idempotent requests; the ``max_*``
        caps bound each listing."""
        where = access.location
        if where.is_server_default:
            raise ConfigError(
                "url", "'.' is the MLRun server's registry; resolve it to a host before checking it"
            )
        client = cls(
            where.host,
            username=access.username,
            password=access.password,
            identity_token=access.identity_token,
            insecure=where.insecure,
            ca_bundle=access.ca_bundle,
            timeout=timeout,
            retry=retry,
        )
        client.display = where.display
        client.rules = where.rules
        client.listing_caps = {"max_pages": max_pages, "max_items": max_items, "max_seconds": max_seconds}
        return client

    def __repr__(self) -> str:
        user = f", username={self.username!r}" if self.username else ""
        return f"RegistryClient({self.base_url!r}{user}, insecure={self.insecure})"

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def has_credentials(self) -> bool:
        return self._identity_token is not None or bool(self.username and self._password is not None)

    def url(self, path_or_url: str) -> str:
        """An absolute URL: ``/v2/...`` paths (and relative ``Location`` headers) join the base URL."""
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return self.base_url + ("" if path_or_url.startswith("/") else "/") + path_or_url

    # --- generic, authenticated requests -------------------------------------------------------
    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        scope_repo: str | None = None,
        actions: Sequence[str] = PULL,
        scope: str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        content: Content = None,
        timeout: float | None = None,
        follow_redirects: bool = False,
        raise_for_status: bool = True,
        deadline: Deadline | None = None,
    ) -> Response:
        """Send one request with the right credentials; on 401 fetch a (new) token and retry once.

        ``scope`` overrides the ``repository:<scope_repo>:<actions>`` scope (e.g. ``registry:catalog:*``).
        A non-rewindable ``content`` (an iterator) is sent once, already authenticated.
        With ``raise_for_status`` an HTTP error becomes a typed :class:`RegistryHTTPError`. With a
        :class:`RetryPolicy`, an idempotent request (:meth:`RetryPolicy.applies`) that failed in a way
        worth retrying is sent again.
        """

        def once() -> Response:
            response = self._send(
                method,
                path_or_url,
                self._scopes(scope_repo, actions, scope),
                headers,
                params,
                content,
                timeout,
                follow_redirects,
                stream=False,
                deadline=deadline,
            )
            if raise_for_status and response.status_code >= 400:
                raise self.error_for(response, scope_repo)
            return response

        if self.retry is None or not RetryPolicy.applies(method, path_or_url, content):
            return once()
        return self.retry.call(f"{method} {_short_path(self.url(path_or_url))}", once)

    @contextlib.contextmanager
    def stream(
        self,
        method: str,
        path_or_url: str,
        *,
        scope_repo: str | None = None,
        actions: Sequence[str] = PULL,
        scope: str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        content: Content = None,
        timeout: float | None = None,
        follow_redirects: bool = False,
        raise_for_status: bool = True,
        deadline: Deadline | None = None,
    ) -> Iterator[Response]:
        """Like :meth:`request` but the body is not read: ``response.readinto()`` for large blobs."""
        response = self._send(
            method,
            path_or_url,
            self._scopes(scope_repo, actions, scope),
            headers,
            params,
            content,
            timeout,
            follow_redirects,
            stream=True,
            deadline=deadline,
        )
        try:
            if raise_for_status and response.status_code >= 400:
                response.read(MAX_ERROR_BODY, truncate=True)
                raise self.error_for(response, scope_repo)
            yield response
        finally:
            response.close()

    @staticmethod
    def _scopes(repo: str | None, actions: Sequence[str], scope: str | None) -> tuple[str, ...]:
        if scope:
            return (scope,)
        return (f"repository:{repo}:{','.join(actions)}",) if repo else ()

    def _send(
        self,
        method: str,
        path_or_url: str,
        scopes: tuple[str, ...],
        headers: Mapping[str, str] | None,
        params: Mapping[str, Any] | None,
        content: Content,
        timeout: float | None,
        follow_redirects: bool,
        *,
        stream: bool,
        deadline: Deadline | None = None,
    ) -> Response:
        url = self.url(path_or_url)
        # Credentials go only to the registry's own origin (core.origin: scheme, host in any case, the
        # port with its default), never to a redirect or Location elsewhere.
        own = same_origin(url, self.origin)
        rewindable = content is None or isinstance(content, (bytes, str))
        if own and self._challenge is None and not self._anonymous_ok and not rewindable:
            # Learn the auth scheme first, so that even a one-shot body goes out authenticated. A
            # request that can be sent again needs no ping: its own 401 brings the challenge, and an
            # open registry answers it at once (one round trip fewer on a run's first request).
            self.ping(timeout=timeout)
        sent_auth = self._auth_header(scopes, timeout) if own else None
        response = self._raw(
            method, url, headers, params, content, timeout, follow_redirects, stream, sent_auth, deadline
        )
        if response.status_code != 401 or not own or not rewindable:
            return response
        challenge = preferred(response_challenges(response))
        if challenge is None:
            return response
        retry_auth = self._auth_for(challenge, scopes, timeout, refresh=True)
        if retry_auth is None or retry_auth == sent_auth:
            return response
        response.close()
        return self._raw(
            method, url, headers, params, content, timeout, follow_redirects, stream, retry_auth, deadline
        )

    def _raw(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        params: Mapping[str, Any] | None,
        content: Content,
        timeout: float | None,
        follow_redirects: bool,
        stream: bool,
        authorization: str | None,
        deadline: Deadline | None = None,
    ) -> Response:
        merged = dict(headers or {})
        if authorization:
            merged["Authorization"] = authorization
        with self._lock:
            self.requests += 1
        try:
            return self._http.request(
                method,
                _with_params(url, params),
                headers=merged,
                body=content.encode() if isinstance(content, str) else content,
                timeout=self.timeout if timeout is None else timeout,
                stream=stream,
                follow_redirects=follow_redirects,
                deadline=deadline,
            )
        except TransportError as exc:
            raise connection_error(
                exc, self.host, self.ca_bundle, self.timeout if timeout is None else timeout
            ) from exc

    # --- auth ----------------------------------------------------------------------------------
    def _basic(self) -> str | None:
        if not self.username or self._password is None:
            return None
        pair = f"{self.username}:{self._password.get_secret_value()}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def _auth_header(self, scopes: tuple[str, ...], timeout: float | None) -> str | None:
        challenge = self._challenge
        if challenge is None or self._anonymous_ok:
            return None
        return self._auth_for(challenge, scopes, timeout, refresh=False)

    def _remember(self, challenge: Challenge) -> None:
        """Keep how to authenticate, not what one response asked for (its scope and error)."""
        params = {k: v for k, v in challenge.params.items() if k in ("realm", "service")}
        self._challenge = Challenge(challenge.scheme, params)
        self._anonymous_ok = False  # an open /v2/ may still guard pushes

    def _auth_for(
        self, challenge: Challenge, scopes: tuple[str, ...], timeout: float | None, refresh: bool
    ) -> str | None:
        self._remember(challenge)
        if challenge.scheme == "basic":
            return self._basic()
        if challenge.scheme != "bearer":
            return None
        # A challenge may ask for several scopes, space-separated (e.g. a cross-repository mount).
        wanted = (*scopes, *(s for s in (challenge.scope or "").split() if s not in scopes))
        return "Bearer " + self.token(wanted, challenge=challenge, timeout=timeout, refresh=refresh)

    def token(
        self,
        scopes: Sequence[str],
        *,
        challenge: Challenge | None = None,
        timeout: float | None = None,
        refresh: bool = False,
    ) -> str:
        """A Bearer token for ``scopes`` (cached until shortly before it expires).

        The token server may silently grant fewer actions than asked: a token proves who you are,
        not what you may do; :meth:`check_push` is the proof for pushes.
        """
        challenge = challenge or self._challenge
        if challenge is None or challenge.scheme != "bearer" or not challenge.realm:
            raise NotARegistryError(f"{self.host} did not offer a Bearer token realm", host=self.host)
        key = tuple(sorted(scopes))
        with self._lock:
            cached = self._tokens.get(key)
        if cached and not refresh and cached.expires_at - TOKEN_MARGIN > time.monotonic():
            return cached.value
        realm = urlsplit(challenge.realm)
        if realm.scheme not in ("http", "https") or not realm.hostname:
            raise RegistryHTTPError(
                f"{self.host} announced an unusable token realm scheme {realm.scheme!r}", host=self.host
            )
        basic = self._basic()
        if basic and realm.scheme == "http" and not self.insecure and not is_loopback(realm.hostname):
            raise RegistryHTTPError(
                f"refusing to send the credentials for {self.host} to a plain-HTTP token "
                f"realm ({realm.hostname})",
                host=self.host,
            )
        if self._identity_token is not None and realm.scheme == "http" and not self.insecure \
                and not is_loopback(realm.hostname):
            raise RegistryHTTPError(
                f"refusing to send the identity token for {self.host} to a plain-HTTP token "
                f"realm ({realm.hostname})",
                host=self.host,
            )
        params: list[tuple[str, str | int | float | bool | None]] = (
            [("service", challenge.service)] if challenge.service else []
        )
        headers = {"Authorization": basic} if basic else {}
        log.debug("fetching a token for %s from %s", ", ".join(key) or "no scope", realm.hostname)
        try:
            if self._identity_token is not None:
                # distribution docs/spec/auth/oauth.md: the refresh token is POSTed as a form
                # (grant_type=refresh_token, service, client_id, scope as one space-separated list)
                form = [*params, ("grant_type", "refresh_token"), ("client_id", CLIENT_ID),
                        ("refresh_token", self._identity_token.get_secret_value())]
                if key:
                    form.append(("scope", " ".join(key)))
                response = self._http.request(
                    "POST",
                    challenge.realm,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                    body=urlencode(form).encode(),
                    timeout=self.timeout if timeout is None else timeout,
                    max_body=MAX_TOKEN_BODY,
                )
            else:
                response = self._http.request(
                    "GET",
                    _with_params(challenge.realm, [*params, *(("scope", s) for s in key)]),
                    headers=headers,
                    timeout=self.timeout if timeout is None else timeout,
                    max_body=MAX_TOKEN_BODY,
                )
        except TransportError as exc:
            raise connection_error(
                exc, realm.netloc, self.ca_bundle, self.timeout if timeout is None else timeout
            ) from exc
        if response.status_code in (401, 403):
            raise self._rejected(token_server=realm.hostname)
        if response.status_code >= 400:
            raise self.error_for(response, None)
        try:
            body = response.json()
            value = body.get("token") or body.get("access_token")
            expires_in = float(body.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            value = None
        if not value:
            raise RegistryHTTPError(
                f"the token server of {self.host} answered without a token", host=self.host
            )
        if not isinstance(value, str) or len(value) > MAX_TOKEN_BODY or not B64TOKEN_RE.fullmatch(value):
            # never echoed: the token (or what it ends with) is a secret whatever its shape
            raise RegistryHTTPError(
                f"the token server of {self.host} ({realm.hostname}) answered with a malformed token "
                "(not an RFC 6750 b64token: letters, digits and -._~+/ only); not used",
                host=self.host,
            )
        with self._lock:
            self._tokens[key] = _Token(str(value), time.monotonic() + expires_in)
        return str(value)

    def _rejected(self, token_server: str | None = None) -> UnauthorizedError:
        """The message a person needs: whose password, rejected by which registry (never the password)."""
        where = f"{self.host} (token server {token_server})" if token_server else self.host
        if self._identity_token is not None:
            message = f"the identity token (docker config identitytoken) was rejected by {where}"
        elif self.has_credentials:
            message = f"the password for user {self.username} was rejected by {where}"
        else:
            message = f"{self.host} requires authentication and no username/password is configured"
        return UnauthorizedError(message, status=401, code="UNAUTHORIZED", host=self.host)

    # --- errors -----------------------------------------------------------------------------------
    def error_for(self, response: Response, repository: str | None) -> RegistryHTTPError:
        """Turn an error response into its typed error (distribution error codes when present)."""
        status = response.status_code
        code, detail = _error_code(response)
        path = response.path
        what = f"{response.method} {path}"
        text = (
            f"{what} on {self.host}: {status}"
            + (f" {code}" if code else "")
            + (f": {detail}" if detail else "")
        )
        kwargs: dict[str, Any] = {"status": status, "code": code, "host": self.host, "repository": repository}
        if status == 429 or code == "TOOMANYREQUESTS":
            retry_after = _retry_after(response.headers.get("retry-after"))
            hint = f"; retry after {retry_after:g} s" if retry_after is not None else ""
            return TooManyRequestsError(
                f"{self.host} is rate limiting ({text}){hint}", retry_after=retry_after, **kwargs
            )
        who = f"user {self.username}" if self.username else "anonymous access"
        denied = f"{who} is not allowed to {_verb(response)} {repository or path} on {self.host}"
        if status == 401 or code == "UNAUTHORIZED":
            challenge = preferred(response_challenges(response))
            # A Bearer token fetched with accepted credentials but refused: a permission, not a password.
            if (challenge is not None and challenge.error == "insufficient_scope") or (
                self.has_credentials and self._challenge is not None and self._challenge.scheme == "bearer"
            ):
                return DeniedError(denied, **kwargs)
            return UnauthorizedError(self._rejected().message, **kwargs)
        if status == 403 or code == "DENIED":
            return DeniedError(f"{denied} ({status}{' ' + code if code else ''})", **kwargs)
        if code == "NAME_UNKNOWN":
            return NameUnknownError(
                f"repository {repository or path} does not exist on {self.host}", **kwargs
            )
        if status == 404:
            return NotFoundError(text, **kwargs)
        if status == 405 or code == "UNSUPPORTED":
            allow = response.headers.get("allow")
            hint = f" (it allows only {allow})" if allow else ""
            return UnsupportedError(
                f"{self.host} does not accept {what}{hint}: read-only registry?", **kwargs
            )
        return RegistryHTTPError(text, **kwargs)

    # --- probes ------------------------------------------------------------------------------------
    def ping(self, *, timeout: float | None = None) -> PingResult:
        """``GET /v2/`` without credentials: 200 open, 401 + challenge, anything else is not a registry."""
        response = self._raw("GET", self.url("/v2/"), None, None, None, timeout, False, False, None)
        api_version = response.headers.get("docker-distribution-api-version")
        if response.status_code == 200:
            self._anonymous_ok = True
            return PingResult(200, None, api_version)
        if response.status_code == 401:
            challenge = preferred(response_challenges(response))
            if challenge is not None:
                self._remember(challenge)
                return PingResult(401, challenge, api_version)
        if response.status_code == 429 or response.status_code >= 500:
            raise self.error_for(response, None)  # a registry in trouble, not "not a registry"
        raise NotARegistryError(
            f"{self.base_url}/v2/ answered {response.status_code}: not a Docker Registry v2 API"
            + ("" if api_version else " (no Docker-Distribution-Api-Version header)"),
            status=response.status_code,
            host=self.host,
        )

    def check_auth(self, *, timeout: float | None = None) -> AuthResult:
        """Prove the credentials: Basic ``GET /v2/`` or a Bearer token fetch, then ``GET /v2/`` with it."""
        ping = self.ping(timeout=timeout)
        if ping.challenge is None:
            return AuthResult(None, anonymous=True)
        if not self.has_credentials and ping.challenge.scheme == "basic":
            raise self._rejected()
        response = self.request("GET", "/v2/", timeout=timeout, raise_for_status=False)
        if response.status_code == 200:
            return AuthResult(ping.challenge.scheme, anonymous=not self.has_credentials)
        raise self.error_for(response, None)

    def check_push(self, repository: str, *, timeout: float | None = None) -> None:
        """Prove push rights by opening a blob upload, then cancelling it: nothing is pushed.

        Raises :class:`DeniedError`/:class:`UnauthorizedError` (no push), :class:`UnsupportedError`
        (read-only), :class:`NameUnknownError` (repository must be created first, e.g. ECR).
        """
        response = self.request(
            "POST",
            f"/v2/{repository}/blobs/uploads/",
            scope_repo=repository,
            actions=PUSH,
            timeout=timeout,
            raise_for_status=False,
        )
        if response.status_code >= 400:
            raise self.error_for(response, repository)
        location = response.headers.get("location")
        if response.status_code != 202 or not location:
            raise RegistryHTTPError(
                f"POST /v2/{repository}/blobs/uploads/ on {self.host} answered "
                f"{response.status_code} without an upload location",
                host=self.host,
                status=response.status_code,
                repository=repository,
            )
        with contextlib.suppress(RegistryAPIError, TransportError):
            self.request(
                "DELETE",
                location,
                scope_repo=repository,
                actions=PUSH,
                timeout=timeout,
                raise_for_status=False,
            )

    def check_pull(self, repository: str, *, timeout: float | None = None) -> bool:
        """Prove pull rights on ``repository``; returns whether it exists (``NAME_UNKNOWN`` is allowed).
        One page of its tags, not the whole listing: the right is what is proved."""
        try:
            self.request("GET", f"/v2/{repository}/tags/list?n=1", scope_repo=repository, timeout=timeout)
        except NameUnknownError:
            return False
        return True

    def tags(
        self,
        repository: str,
        *,
        timeout: float | None = None,
        max_pages: int | None = None,
        max_items: int | None = None,
        max_seconds: float | None = None,
    ) -> list[str]:
        """Every tag of ``repository``, all pages, within the listing caps (:meth:`list_pages`);
        :class:`NameUnknownError` when the repository does not exist."""
        return self.list_pages(
            f"/v2/{repository}/tags/list?n={LISTING_PAGE_SIZE}",
            "tags",
            scope_repo=repository,
            timeout=timeout,
            max_pages=max_pages,
            max_items=max_items,
            max_seconds=max_seconds,
        )

    def catalog(
        self,
        n: int = LISTING_PAGE_SIZE,
        last: str | None = None,
        *,
        timeout: float | None = None,
        max_pages: int | None = None,
        max_items: int | None = None,
        max_seconds: float | None = None,
    ) -> list[str]:
        """Every repository of ``GET /v2/_catalog`` after ``last``, ``n`` a page, within the listing caps
        (:meth:`list_pages`). The catalog is a distribution extension many registries disable (404).
        A registry that refuses ``n`` (``PAGINATION_NUMBER_INVALID``) is asked again by 100."""

        def listing(size: int) -> list[str]:
            params = urlencode({"n": size, **({"last": last} if last else {})})
            return self.list_pages(
                f"/v2/_catalog?{params}", "repositories", scope="registry:catalog:*", timeout=timeout,
                max_pages=max_pages, max_items=max_items, max_seconds=max_seconds,
            )

        try:
            return listing(n)
        except RegistryHTTPError as exc:
            if exc.code != "PAGINATION_NUMBER_INVALID" or n <= SMALL_LISTING_PAGE_SIZE:
                raise
        return listing(SMALL_LISTING_PAGE_SIZE)

    def list_pages(
        self,
        path: str,
        key: str,
        *,
        scope_repo: str | None = None,
        scope: str | None = None,
        timeout: float | None = None,
        max_pages: int | None = None,
        max_items: int | None = None,
        max_seconds: float | None = None,
    ) -> list[str]:
        """Every name of a paged listing: ``key`` (``repositories``, ``tags``) of each page, following
        ``Link: <...>; rel="next"`` (relative to the page, RFC 8288) to the end. The one pager.

        Bounded: at most ``max_pages`` pages, ``max_items`` names and ``max_seconds`` for all pages
        together (each None: the client's :attr:`listing_caps`, else :data:`MAX_LISTING_PAGES`,
        :data:`MAX_LISTING_ITEMS`, :data:`MAX_LISTING_SECONDS`), else :class:`ListingLimitError` naming
        the cap. A next page on another origin (the credentials would follow it), or one already read, is
        :class:`ListingLinkError`. A page that is not a JSON object with a ``key`` list of strings is
        an error, never read as "no names". Each page's request is retried as any other.
        """
        what = f"the tag listing of {scope_repo}" if scope_repo else "the catalog"
        caps = self.listing_caps
        budget = ListingBudget(what, self.host, scope_repo,
                               caps["max_pages"] if max_pages is None else max_pages,
                               caps["max_items"] if max_items is None else max_items,
                               caps["max_seconds"] if max_seconds is None else max_seconds)
        per_request = self.timeout if timeout is None else timeout
        names: list[str] = []
        seen: set[str] = set()
        url = self.url(path)
        while True:
            budget.next_page()
            seen.add(url)

            seconds = min(per_request, budget.left())
            try:
                response = self.request("GET", url, scope_repo=scope_repo, scope=scope, timeout=seconds)
            except RegistryTimeoutError:
                budget.left()  # the listing's time cap, when that is what ran out
                raise
            names += budget.add(_listing_page(response, key, what, self.host))
            link = response.links.get("next", {}).get("url")
            if not link:
                return names
            nxt = urljoin(url, link)
            if not same_origin(nxt, self.origin):
                raise ListingLinkError(
                    f"{what} on {self.host} links its next page to another origin "
                    f"({_origin_text(nxt)}); refused: the registry's credentials stay on "
                    f"{self.origin}",
                    limit="origin", host=self.host, repository=scope_repo, items=budget.items, pages=budget.pages,
                )
            if nxt in seen:
                raise ListingLinkError(
                    f"{what} on {self.host} links its next page to a page already read "
                    f"({_short_path(nxt)}); refused: the listing loops",
                    limit="loop", host=self.host, repository=scope_repo, items=budget.items, pages=budget.pages,
                )
            url = nxt

    def head_manifest(
        self, repository: str, reference: str, *, timeout: float | None = None
    ) -> ManifestInfo | None:
        """``HEAD`` a manifest by tag or digest; ``None`` when it (or the repository) does not exist."""
        try:
            response = self.request(
                "HEAD",
                f"/v2/{repository}/manifests/{reference}",
                scope_repo=repository,
                headers={"Accept": MANIFEST_ACCEPT},
                timeout=timeout,
            )
        except NotFoundError:
            return None
        size = response.headers.get("content-length")
        return ManifestInfo(
            response.headers.get("docker-content-digest"),
            response.headers.get("content-type"),
            int(size) if size and size.isdigit() else None,
        )

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest ``reference`` resolves to: the HEAD's ``Docker-Content-Digest``, or (a registry that
        omits it) the sha256 of the manifest's bytes; None when it does not exist."""
        info = self.head_manifest(repository, reference)
        if info is None:
            return None
        if info.digest:
            return info.digest
        raw, _ = self.get_manifest(repository, reference)
        return "sha256:" + hashlib.sha256(raw).hexdigest()

    def get_manifest(self, repository: str, reference: str) -> tuple[bytes, str | None]:
        """The manifest's exact bytes and its Content-Type."""
        response = self.request("GET", f"/v2/{repository}/manifests/{reference}", scope_repo=repository,
                                headers={"Accept": MANIFEST_ACCEPT})
        return response.content, response.headers.get("content-type")

    def delete_manifest(self, repository: str, digest: str, *, timeout: float | None = None) -> bool:
        """``DELETE /v2/<repository>/manifests/<digest>`` (by digest: the API deletes no tags); True when
        deleted, False when it was not there (404). A registry without delete answers 405
        ``UNSUPPORTED`` (:class:`UnsupportedError`); no right to delete is :class:`DeniedError`."""
        try:
            self.request("DELETE", f"/v2/{repository}/manifests/{digest}", scope_repo=repository, actions=DELETE,
                         timeout=timeout)
        except NotFoundError:
            return False
        return True

    def manifest_exists(self, repository: str, reference: str, *, timeout: float | None = None) -> bool:
        return self.head_manifest(repository, reference, timeout=timeout) is not None

    def blob_exists(self, repository: str, digest: str, *, timeout: float | None = None) -> bool:
        try:
            self.request("HEAD", f"/v2/{repository}/blobs/{digest}", scope_repo=repository, timeout=timeout,
                         follow_redirects=True)
        except NotFoundError:
            return False
        return True

    # --- what a copy asks first ----------------------------------------------------------------
    def check_repository_name(self, repository: str) -> None:
        """A repository name the registry (and its provider's rules) accepts, as a push target."""
        validate_repository(repository, "to")
        if self.rules is not None:
            self.rules.validate_repository(repository, self.host, "to")

    def repositories(self, *, required: bool = True) -> list[str] | None:
        """The catalog as a run's first request, which proves the login when it works. When the listing
        is refused, :meth:`check_auth` tells whether the login is the reason (with its one-line
        message). Without a catalog (Docker Hub, GHCR...): an error if ``required``, else None. A
        listing stopped by its caps or its ``Link`` is always an error: the registry has a catalog, and
        a partial one is not "none"."""
        try:
            return self.catalog()
        except (RegistryConnectionError, ListingError):
            raise
        except RegistryAPIError as exc:
            self.check_auth()
            if not required:
                log.debug("%s offers no catalog (%s)", self.host, exc)
                return None
            if isinstance(exc, RegistryHTTPError) and exc.status == 404:
                raise RegistryAPIError(f"{self.host} does not offer /v2/_catalog (the listing extension); "
                                       "the repositories cannot be listed") from None
            raise

    @property
    def probes_by_mount(self) -> bool:
        """Whether a mount of a blob into its own repository can stand in for the HEAD before an upload:
        201 when the blob is there, else the upload session the copy needs anyway (one request, not
        two). Not where mounts are refused or ignored, nor on ECR, where mounting is opt-in."""
        opt_in = self.rules is not None and not self.rules.mounts_blobs
        return not (self.mounts_refused or self.mounts_ignored or opt_in)


def _with_params(url: str, params: Any) -> str:
    """Add ``params`` (a mapping or pairs) to the URL's own query, which is kept (a Location's ``_state``)."""
    if not params:
        return url
    pairs = params.items() if isinstance(params, Mapping) else params
    query = urlencode([(k, v) for k, v in pairs if v is not None])
    return f"{url}{'&' if '?' in url else '?'}{query}" if query else url


def _short_path(url: str) -> str:
    """A page URL as an error shows it: the path and query, at most 120 characters."""
    parts = urlsplit(url)
    text = parts.path + (f"?{parts.query}" if parts.query else "")
    return text if len(text) <= 120 else text[:117] + "..."


def _origin_text(url: str) -> str:
    """The origin of ``url`` for a message (``scheme://host:port``); the URL's start when it has none."""
    try:
        return str(url_origin(url))
    except ValueError:
        return url[:80]


def _listing_page(response: Response, key: str, what: str, host: str) -> list[str]:
    """The names of one listing page: ``{"<key>": [str, ...]}`` (``null`` is an empty page, as
    distribution writes a repository without tags). Anything else is an error, not "no names": a
    listing read as shorter than it is would let prune plan against tags it never saw."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and key in body and body[key] is None:
        return []
    names = body.get(key) if isinstance(body, dict) else None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise RegistryAPIError(
            f"{what} on {host}: GET {_short_path(response.url)} did not answer a JSON object with a "
            f"{key!r} list of names; not read as empty"
        )
    return names


def _verb(response: Response) -> str:
    return "pull from" if response.method in ("GET", "HEAD") else "push to"


def _error_code(response: Response) -> tuple[str | None, str]:
    """First distribution error ``(code, message)`` from a JSON body; ``(None, "")`` otherwise."""
    if response.method == "HEAD" or not response.content:
        return None, ""
    try:
        errors = response.json().get("errors")
        first = errors[0]
        return str(first.get("code") or "") or None, str(first.get("message") or "")[:200]
    except (ValueError, AttributeError, TypeError, IndexError, KeyError):
        return None, ""


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date turned into a delay."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
