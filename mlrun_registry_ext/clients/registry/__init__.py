"""The registry client: Docker Registry HTTP API v2 requests, auth challenges, TLS diagnosis, transfers.

- :mod:`.client`: :class:`RegistryClient`, the one registry API (requests and their retries under one
  :class:`RetryPolicy`, ping, auth, push/pull probes, manifests, paged listings within caps);
- :mod:`.login`: the one credential chain (``login(service) -> access``);
- :mod:`.errors`: its exception types (:class:`RegistryHTTPError` and :class:`RegistryConnectionError` families);
- :mod:`.challenge`: the ``WWW-Authenticate`` parser;
- :mod:`.tls`: why a connection failed (handshake, proxy tunnel, DNS), shared with the doctor;
- :mod:`.transfer`: the copy steps (mount or upload, stream a blob, put a manifest) as functions over
  the client, for migrate, prune and kaniko-image.

The package exports the client and its exceptions; everything else is imported from its module.
"""

from mlrun_registry_ext.clients.registry.client import RegistryClient, RetryPolicy
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
    UnauthorizedError,
    UnsupportedError,
)

__all__ = [
    "DeniedError",
    "ListingError",
    "ListingLimitError",
    "ListingLinkError",
    "NameUnknownError",
    "NotARegistryError",
    "NotFoundError",
    "RegistryClient",
    "RegistryConnectionError",
    "RegistryHTTPError",
    "RegistryTLSError",
    "RegistryTimeoutError",
    "RetryPolicy",
    "TooManyRequestsError",
    "UnauthorizedError",
    "UnsupportedError",
]
