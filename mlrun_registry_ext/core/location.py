"""Where a registry is: the URL grammar, and the host/path/provider derived from it (no pydantic).

``host[:port][/path]``, ``https://`` (stripped) or ``http://`` (explicitly insecure); ``.`` is the
MLRun server's own registry. :class:`RegistryLocation` is the one definition of host, path, scheme
and provider; :class:`~mlrun_registry_ext.core.service.RegistryService` exposes it as ``location``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mlrun_registry_ext.core.providers import (
    EcrLocation,
    Provider,
    ProviderRules,
    detect_provider,
    parse_ecr_host,
    rules_for,
)
from mlrun_registry_ext.core.reference import ALLOWED_REPOSITORY, REPOSITORY_RE, validate_host, validate_repository
from mlrun_registry_ext.core.secrets import SecretValue, check_credential_pair
from mlrun_registry_ext.errors import ConfigError

#: MLRun's default repository when the registry URL carries no path.
DEFAULT_REPOSITORY = "mlrun"
#: MLRun's convention: an image starting with "." lives on the server's configured registry.
SERVER_REGISTRY = "."


def parse_registry_url(raw: str, field: str = "url") -> tuple[str, str, bool]:
    """Split a registry URL into (host, path, insecure-by-scheme).

    ``https://`` is accepted and stripped; ``http://`` marks an explicitly insecure registry; the host
    is lower-cased; the path is the repository namespace and must already be a valid lowercase path.
    """
    text = raw.strip()
    if not text:
        raise ConfigError(field, "the registry URL is required: host[:port][/path], e.g. registry.example.com/team")
    if text == SERVER_REGISTRY:
        return SERVER_REGISTRY, "", False
    insecure = False
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme.lower() == "http":
            insecure = True
        elif scheme.lower() != "https":
            raise ConfigError(field, f"scheme {scheme + '://'!r} is not allowed; use host[:port][/path], "
                                     "https:// or (explicitly insecure) http://")
    text = text.rstrip("/")
    if "@" in text.split("/", 1)[0]:
        raise ConfigError(field, "credentials in the URL are not allowed; set username and password instead")
    if any(ch in text for ch in "?# \t"):
        raise ConfigError(field, f"{raw!r} has a query, fragment or space; expected host[:port][/path]")
    host, _, path = text.partition("/")
    host = validate_host(host, field)
    if path and not REPOSITORY_RE.match(path):
        raise ConfigError(field, f"path {path!r} is not a valid repository namespace; allowed: {ALLOWED_REPOSITORY}")
    return host, path, insecure


def validate_image_prefix(value: str, field: str = "image_prefix") -> str:
    """An image prefix goes before image names: no leading '/', no '//', a valid repository start."""
    if value:
        if value.startswith("/") or "//" in value:
            raise ConfigError(field, f"{value!r} may not start with '/' or contain '//'")
        validate_repository(value + "x", field)
    return value


@dataclass(frozen=True)
class RegistryLocation:
    """A registry host with its repository namespace (``path``) and whether it is plain http."""

    host: str
    path: str = ""
    insecure: bool = False

    @classmethod
    def from_url(cls, normalised: str, insecure: bool = False) -> RegistryLocation:
        """From an already normalised ``host[/path]`` (what :attr:`url` gives)."""
        host, _, path = normalised.partition("/")
        return cls(host, path, insecure)

    @property
    def url(self) -> str:
        """``host[:port][/path]`` without a scheme; ``.`` for the MLRun server's registry."""
        return f"{self.host}/{self.path}" if self.path else self.host

    @property
    def is_server_default(self) -> bool:
        return self.host == SERVER_REGISTRY

    @property
    def scheme(self) -> str:
        return "http" if self.insecure else "https"

    @property
    def display(self) -> str:
        return f"{self.scheme}://{self.url}"

    @property
    def provider(self) -> Provider:
        return detect_provider(self.host, os.environ.get("IGZ_NAMESPACE_DOMAIN"))

    @property
    def rules(self) -> ProviderRules:
        return rules_for(self.provider)

    @property
    def ecr(self) -> EcrLocation | None:
        return parse_ecr_host(self.host) if self.provider is Provider.ECR else None

    def check_naming(self, field: str = "url") -> None:
        """The provider's rules for the URL's path (Docker Hub needs a namespace, ECR's path rules)."""
        provider = self.provider
        if provider is Provider.DOCKERHUB and not self.path:
            raise ConfigError(field, "Docker Hub needs a namespace: docker.io/<user or organization>")
        if provider is Provider.ECR and self.path:
            rules_for(Provider.ECR).validate_repository(self.path + "/x", self.host, field)


def parse_location(raw: str, field: str = "url") -> RegistryLocation:
    """A registry URL as a :class:`RegistryLocation` (errors name ``field``)."""
    host, path, insecure = parse_registry_url(raw, field)
    return RegistryLocation(host, path, insecure)


@dataclass(frozen=True)
class RegistryAccess:
    """What it takes to talk to a registry: where it is, the login (both or neither) and a CA bundle."""

    location: RegistryLocation
    username: str | None = None
    password: SecretValue | None = field(default=None, repr=False)
    ca_bundle: str | None = None

    def __post_init__(self) -> None:
        check_credential_pair(self.username, self.password is not None)
