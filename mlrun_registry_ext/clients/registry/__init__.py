"""The registry client: Docker Registry HTTP API v2 requests, auth challenges, TLS diagnosis, transfers.

- :mod:`.client`: :class:`RegistryClient`, the requests (ping, auth, push/pull probes, manifests, tags);
- :mod:`.errors`: its exception types (:class:`RegistryHTTPError` and :class:`RegistryConnectionError` families);
- :mod:`.challenge`: the ``WWW-Authenticate`` parser;
- :mod:`.tls`: why a connection failed (handshake, proxy tunnel, DNS), shared with the doctor;
- :mod:`.transfer`: blob and manifest copies for the migration.

The package exports the client and its exceptions; everything else is imported from its module.
"""

from mlrun_registry_ext.clients.registry.client import RegistryClient
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
    "TooManyRequestsError",
    "UnauthorizedError",
    "UnsupportedError",
]
