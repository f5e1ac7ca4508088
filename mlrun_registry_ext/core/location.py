"""Where a registry is: the URL grammar, and the host/path/provider derived from it.

``host[:port][/path]``, ``https://`` (stripped) or ``http://`` (explicitly insecure); ``.`` is the
MLRun server's own registry. :class:`RegistryLocation` is the one definition of host, path, scheme
and provider; :class:`~mlrun_registry_ext.core.service.RegistryService` keeps the one it parsed as
``location``. The provider is detected once, when the location is made; the tenant's namespace
domain (``IGZ_NAMESPACE_DOMAIN``, read by the caller) comes in as an argument.
"""

from __future__ import annotations

from dataclasses import field

from mlrun_registry_ext.core import origin
from mlrun_registry_ext.core.compat import slotted
from mlrun_registry_ext.core.providers import (
    EcrLocation,
    Provider,
    RegistryProvider,
    detect_provider,
    parse_ecr_host,
    provider_for,
)
from mlrun_registry_ext.core.reference import (
    ALLOWED_REPOSITORY,
    MAX_NAME_LENGTH,
    REPOSITORY_RE,
    is_registry_host,
    validate_host,
    validate_repository,
)
from mlrun_registry_ext.core.secrets import SecretValue, check_credential_pair
from mlrun_registry_ext.errors import ConfigError, quote

#: MLRun's default repository when the registry URL carries no path.
DEFAULT_REPOSITORY = "mlrun"
#: MLRun's convention: an image starting with "." lives on the server's configured registry.
SERVER_REGISTRY = "."


URL_CREDENTIALS_MESSAGE = ("credentials in the URL are not allowed (they would be printed and logged); "
                           "set username and password instead")


def has_userinfo(text: str) -> bool:
    """True when a URL carries ``user[:password]@``, wherever its password puts '/', '#', '?' or ':'.

    A registry URL never contains '@' (hosts, ports and repository paths cannot), so any '@' is taken
    as userinfo: splitting at the first '/' first would miss ``https://ci:pa/ss@host`` and print the
    password as a "host".
    """
    return "@" in text


def parse_registry_url(raw: str, field: str = "url") -> tuple[str, str, bool]:
    """Split a registry URL into (host, path, insecure-by-scheme).

    ``https://`` is accepted and stripped; ``http://`` marks an explicitly insecure registry; the host
    is lower-cased; the path is the repository namespace and must already be a valid lowercase path.
    Errors never quote a URL that carries credentials, and quote at most a few dozen characters.
    """
    if not isinstance(raw, str):
        raise ConfigError(field, f"expected a string host[:port][/path], got {type(raw).__name__}")
    if has_userinfo(raw):
        raise ConfigError(field, URL_CREDENTIALS_MESSAGE)
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
            raise ConfigError(field, f"scheme {quote(scheme + '://')} is not allowed; use host[:port][/path], "
                                     "https:// or (explicitly insecure) http://")
    text = text.rstrip("/")
    if any(ch in text for ch in "?#") or any(ch.isspace() or not ch.isprintable() for ch in text):
        raise ConfigError(field, f"{quote(raw)} has a query, fragment, space or control character; "
                                 "expected host[:port][/path]")
    host, _, path = text.partition("/")
    host = validate_host(host, field)
    if len(text) > MAX_NAME_LENGTH:
        raise ConfigError(field, f"{quote(text)} is {len(text)} characters; registries accept at most "
                                 f"{MAX_NAME_LENGTH} for host/name")
    if not is_registry_host(host):
        raise ConfigError(field, f"{quote(host)} has no '.' and no ':port' and is not 'localhost': Docker reads it "
                                 f"as a Docker Hub namespace (docker.io/{host}/...), not as a registry; give the "
                                 f"registry's full name or its port (e.g. {host}.example.com or {host}:5000)")
    if path and not REPOSITORY_RE.fullmatch(path):
        raise ConfigError(field, f"path {quote(path)} is not a valid repository namespace; "
                                 f"allowed: {ALLOWED_REPOSITORY}")
    return host, path, insecure


def validate_service_url(raw: str, field: str) -> str:
    """An ``http(s)://host[:port][/path]`` service URL (the MLRun API, the Nuclio dashboard), checked before
    any connection: no credentials, no spaces or control characters, a valid host. Returns it unchanged.

    Single-label hosts are fine here (``http://mlrun-api:8080`` is a Kubernetes service name).
    """
    if has_userinfo(raw):
        raise ConfigError(field, URL_CREDENTIALS_MESSAGE.replace("username and password", "a token variable"))
    if any(ch.isspace() or not ch.isprintable() for ch in raw):
        raise ConfigError(field, f"{quote(raw)} contains a space or control character; expected "
                                 "http(s)://host[:port][/path]")
    scheme, sep, rest = raw.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        raise ConfigError(field, f"{quote(raw)} is not an http:// or https:// URL")
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    validate_host(host, field)
    return raw


def same_registry(a: RegistryLocation, b: RegistryLocation) -> bool:
    """True when ``a`` and ``b`` are the same registry: lower-cased host, the scheme's default port folded.

    ``Ghcr.IO`` is ``ghcr.io:443``, ``http://localhost`` is ``localhost:80``; the repository path does
    not matter (a login, a CA and plain HTTP belong to a host). ``http://host`` and ``https://host`` are
    different registries (ports 80 and 443), so an insecure layer never describes a secure one.
    """
    return origin.same_registry(a.host, b.host, a.insecure, b.insecure)


def validate_image_prefix(value: str, field: str = "image_prefix") -> str:
    """An image prefix goes before image names: no leading '/', no '//', a valid repository start."""
    if value:
        if len(value) >= MAX_NAME_LENGTH:
            raise ConfigError(field, f"{quote(value)} is {len(value)} characters; an image name (with the prefix) "
                                     f"is at most {MAX_NAME_LENGTH}")
        if value.startswith("/") or "//" in value:
            raise ConfigError(field, f"{quote(value)} may not start with '/' or contain '//'")
        validate_repository(value + "x", field)
    return value


@slotted(frozen=True)
class RegistryLocation:
    """A registry host with its repository namespace (``path``) and whether it is plain http.

    ``namespace_domain`` is the tenant's (``IGZ_NAMESPACE_DOMAIN``): ``docker-registry.<domain>`` is
    the on-cluster registry. The provider (and ECR's account and region) are worked out once, here.
    """

    host: str
    path: str = ""
    insecure: bool = False
    namespace_domain: str | None = field(default=None, compare=False, repr=False)
    provider: Provider = field(init=False, compare=False, repr=False)
    ecr: EcrLocation | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        provider = detect_provider(self.host, self.namespace_domain)
        object.__setattr__(self, "provider", provider)
        # parse_ecr_host matches exactly the hosts detected as ECR (None for every other).
        object.__setattr__(self, "ecr", parse_ecr_host(self.host))

    @classmethod
    def from_url(cls, normalised: str, insecure: bool = False, namespace_domain: str | None = None
                 ) -> RegistryLocation:
        """From an already normalised ``host[/path]`` (what :attr:`url` gives)."""
        host, _, path = normalised.partition("/")
        return cls(host, path, insecure, namespace_domain)

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
    def rules(self) -> RegistryProvider:
        """The provider's class instance: its naming, login and push rules."""
        return provider_for(self.provider)

    def check_naming(self, field: str = "url") -> None:
        """The provider's rules for the URL's path (Docker Hub needs a namespace, ECR's path rules)."""
        self.rules.check_url_path(self.path, self.host, field)


def parse_location(raw: str, field: str = "url", namespace_domain: str | None = None) -> RegistryLocation:
    """A registry URL as a :class:`RegistryLocation` (errors name ``field``)."""
    host, path, insecure = parse_registry_url(raw, field)
    return RegistryLocation(host, path, insecure, namespace_domain)


@slotted(frozen=True)
class RegistryAccess:
    """What it takes to talk to a registry: where it is, the login (both or neither) and a CA bundle."""

    location: RegistryLocation
    username: str | None = None
    password: SecretValue | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    #: An OAuth2 refresh token (a docker config's ``identitytoken``, what ``az acr login`` writes): traded at
    #: the token realm for access tokens (distribution ``docs/spec/auth/oauth.md``), instead of a password.
    identity_token: SecretValue | None = field(default=None, repr=False)
    #: Where the login came from (``clients.registry.login``), for the doctor and error messages.
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.identity_token is None:
            check_credential_pair(self.username, self.password is not None)

    @property
    def has_login(self) -> bool:
        return self.identity_token is not None or bool(self.username and self.password is not None)
