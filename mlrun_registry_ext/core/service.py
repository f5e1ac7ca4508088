"""The registry service model: what a platform admin enters on the platform's Docker Registry page.

URL (required), optional username/password, optional image prefix, CPU/memory requests and limits,
and a role (``system`` images the platform itself needs, ``user`` images MLRun and Nuclio build).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlrun_registry_ext.core.buildah import AUTO as BACKEND_AUTO
from mlrun_registry_ext.core.buildah import parse_backend_setting
from mlrun_registry_ext.core.compat import slotted

# The URL grammar lives in core.location; re-exported here for existing imports.
from mlrun_registry_ext.core.location import DEFAULT_REPOSITORY as DEFAULT_REPOSITORY
from mlrun_registry_ext.core.location import SERVER_REGISTRY as SERVER_REGISTRY
from mlrun_registry_ext.core.location import RegistryAccess, RegistryLocation, validate_image_prefix
from mlrun_registry_ext.core.location import parse_location as parse_location
from mlrun_registry_ext.core.location import parse_registry_url as parse_registry_url
from mlrun_registry_ext.core.providers import EcrLocation, Provider, RegistryProvider
from mlrun_registry_ext.core.quantity import parse_quantity
from mlrun_registry_ext.core.secrets import SecretText, as_secret, check_credential_pair
from mlrun_registry_ext.errors import ConfigError, quote

DNS1123_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
DNS1123_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")


def validate_dns1123_label(value: str, field: str) -> str:
    if not isinstance(value, str) or len(value) > 63 or not DNS1123_LABEL_RE.fullmatch(value):
        raise ConfigError(field, f"{quote(value)} is not a DNS-1123 label: lowercase letters, digits and '-', "
                                 "starting and ending with a letter or digit, at most 63 characters")
    return value


def validate_project_name(value: Any, field: str = "project") -> str:
    """An MLRun project name (a DNS-1123 label, as MLRun checks it): the one rule, for the project
    arguments, the ``projects`` map's exact keys and push targets."""
    if not isinstance(value, str) or len(value) > 63 or not DNS1123_LABEL_RE.fullmatch(value):
        raise ConfigError(field, f"{quote(value)} is not a valid MLRun project name: lowercase letters, digits "
                                 "and '-', starting and ending with a letter or digit, at most 63 characters")
    return value


def validate_dns1123_subdomain(value: str, field: str) -> str:
    if not isinstance(value, str) or len(value) > 253 or not DNS1123_SUBDOMAIN_RE.fullmatch(value):
        raise ConfigError(field, f"{quote(value)} is not a valid Kubernetes name (DNS-1123 subdomain): lowercase "
                                 "letters, digits, '-' and '.', starting and ending with a letter or digit, "
                                 "at most 253 characters")
    return value


ROLES = ("system", "user")
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def parse_bool(value: Any, field: str) -> bool:
    """A boolean setting, read as pydantic read it: true/false, yes/no, on/off, t/f, y/n, 1/0 in any case,
    or the numbers 0 and 1. Anything else is a :class:`ConfigError` (the value is not echoed)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        low = value.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    raise ConfigError(field, "expected a boolean: true/false, yes/no, on/off or 1/0")


def _text(value: Any, field: str) -> str | None:
    """Optional text: whitespace-only is no value; anything but text is a :class:`ConfigError`."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(field, f"expected text, got {type(value).__name__}")
    return value if value.strip() else None


def _unknown(data: dict[str, Any], allowed: tuple[str, ...], where: str = "") -> None:
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{where}{key}" if isinstance(key, str) else where.rstrip("."),
                              f"unknown field; allowed: {', '.join(allowed)}")


def _mapping(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(field, f"expected a mapping, got {type(value).__name__}")
    return value


@slotted(frozen=True)
class ResourceList:
    """CPU and memory of one side (requests or limits), as Kubernetes quantity text."""

    cpu: str | None = None
    memory: str | None = None

    @classmethod
    def parse(cls, value: Any, field: str) -> ResourceList:
        if value is None:
            return cls()
        if isinstance(value, ResourceList):
            return value
        data = _mapping(value, field)
        _unknown(data, ("cpu", "memory"), f"{field}.")
        out: dict[str, str | None] = {}
        for kind in ("cpu", "memory"):
            item = data.get(kind)
            if isinstance(item, (int, float)):
                item = str(item)
            elif item is not None and not isinstance(item, str):
                raise ConfigError(f"{field}.{kind}", f"expected a Kubernetes quantity, got {type(item).__name__}")
            out[kind] = item
        return cls(**out)

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("cpu", self.cpu), ("memory", self.memory)) if v is not None}


@slotted(frozen=True)
class Resources:
    """CPU and memory requests and limits (Kubernetes quantities), request <= limit.

    ``requests`` and ``limits`` may be given as mappings (``{"cpu": "1", "memory": "1Gi"}``).
    """

    requests: ResourceList = field(default_factory=ResourceList)
    limits: ResourceList = field(default_factory=ResourceList)

    def __post_init__(self) -> None:
        object.__setattr__(self, "requests", ResourceList.parse(self.requests, "resources.requests"))
        object.__setattr__(self, "limits", ResourceList.parse(self.limits, "resources.limits"))
        for kind in ("cpu", "memory"):
            request = getattr(self.requests, kind)
            limit = getattr(self.limits, kind)
            req_q = parse_quantity(request, f"resources.requests.{kind}") if request is not None else None
            lim_q = parse_quantity(limit, f"resources.limits.{kind}") if limit is not None else None
            if req_q is not None and lim_q is not None and req_q > lim_q:
                raise ConfigError(f"resources.requests.{kind}",
                                  f"request {request} is above the limit {limit}; a request must be <= its limit")

    @classmethod
    def parse(cls, value: Any, field: str = "resources") -> Resources:
        """From a mapping (a YAML entry) or a :class:`Resources`; None is no resources."""
        if value is None:
            return cls()
        if isinstance(value, Resources):
            return value
        data = _mapping(value, field)
        _unknown(data, ("requests", "limits"), f"{field}.")
        return cls(requests=data.get("requests"), limits=data.get("limits"))  # type: ignore[arg-type]

    def as_kubernetes(self) -> dict[str, dict[str, str]]:
        out = {"requests": self.requests.as_dict(), "limits": self.limits.as_dict()}
        return {k: v for k, v in out.items() if v}

    @property
    def empty(self) -> bool:
        return not self.as_kubernetes()


@slotted(frozen=True, init=False)
class RegistryService:
    """One registry service. Immutable: derive a changed copy with :meth:`replace`.

    A plain frozen dataclass (not pydantic: the CLI starts in a fraction of the time) that checks
    every field when it is made and says what is wrong in one line, naming the field and never
    echoing a password. The URL is parsed once; :attr:`location` keeps the result (host, path,
    scheme and the provider, detected once). ``namespace_domain`` is the tenant's
    ``IGZ_NAMESPACE_DOMAIN`` (read by the caller), which makes ``docker-registry.<domain>`` on-cluster.
    """

    name: str
    url: str
    username: str | None
    password: SecretText | None
    image_prefix: str
    secret_name: str | None
    insecure: bool
    ca_bundle: str | None
    role: str
    run_registry: str | None
    resources: Resources
    pull_from: tuple[str, ...]
    mirror: str | None
    auth: str
    identity: str | None
    service_account: str
    cache: bool
    platform_images: bool
    builder_backend: str  # auto | kaniko | buildah (core.buildah)
    location: RegistryLocation = field(compare=False, repr=False)

    def __init__(self, *, namespace_domain: str | None = None, **fields: Any) -> None:
        """Every field of :data:`FIELDS` by keyword (a missing one takes its default); any other keyword
        is a :class:`ConfigError` naming it. Each value goes through its field's parser, then the rules
        between fields are checked (:func:`_check_together`)."""
        for key in fields:
            if key not in FIELD_NAMES:
                raise ConfigError(str(key), f"unknown field; allowed: {', '.join(FIELD_NAMES)}")
        url = fields.get("url", "")
        # the URL first: everything else is about this registry
        if not isinstance(url, str):
            raise ConfigError("url", f"expected a string host[:port][/path], got {type(url).__name__}")
        host, path, url_insecure = parse_registry_url(url, "url")
        values = {spec.name: spec.parse(fields.get(spec.name, spec.default), spec.name)
                  for spec in FIELDS if spec.name != "url"}
        if url_insecure:
            values["insecure"] = True
        elif url.strip().lower().startswith("https://") and values["insecure"]:
            # https:// is never downgraded: a plain-HTTP registry is chosen by writing http://
            raise ConfigError("insecure", "the URL says https://, so the registry is not insecure; write http:// "
                                          "(or leave the scheme out) for a plain-HTTP registry")
        location = RegistryLocation(host, path, values["insecure"], namespace_domain)
        values["url"] = location.url
        values["location"] = location
        for key, value in values.items():
            object.__setattr__(self, key, value)
        _check_together(self)

    @classmethod
    def from_mapping(cls, data: Any, name: str | None = None, namespace_domain: str | None = None
                     ) -> RegistryService:
        """Build from plain data (a YAML entry, env values); errors are :class:`ConfigError`."""
        if not isinstance(data, dict):
            raise ConfigError(name or "service", f"expected a mapping of fields, got {type(data).__name__}")
        for key in data:
            if not isinstance(key, str):
                raise ConfigError("", f"field names are text; got {type(key).__name__} {quote(key, 40)}")
        if name is not None:
            data = {"name": name, **data}
        if "namespace_domain" in data:
            raise ConfigError("namespace_domain", f"unknown field; allowed: {', '.join(FIELD_NAMES)}")
        return cls(**data, namespace_domain=namespace_domain)

    # --- derived values ---------------------------------------------------------------------
    @property
    def access(self) -> RegistryAccess:
        """The location with this service's login and CA bundle, as the registry client needs it."""
        return RegistryAccess(self.location, self.username, self.password, self.ca_bundle)

    @property
    def host(self) -> str:
        """``host[:port]``; ``.`` for the MLRun server's own registry."""
        return self.location.host

    @property
    def path(self) -> str:
        """The repository namespace from the URL ('' when it has none)."""
        return self.location.path

    @property
    def is_server_default(self) -> bool:
        return self.location.is_server_default

    @property
    def provider(self) -> Provider:
        return self.location.provider

    @property
    def rules(self) -> RegistryProvider:
        return self.location.rules

    @property
    def is_external(self) -> bool:
        """Anything but the on-cluster registry needs the version gates."""
        return not self.rules.on_cluster

    @property
    def ecr(self) -> EcrLocation | None:
        return self.location.ecr

    @property
    def has_credentials(self) -> bool:
        return bool(self.username and self.password is not None)

    @property
    def docker_secret_name(self) -> str | None:
        """The ``kubernetes.io/dockerconfigjson`` secret builds and pods use (None: no secret needed).

        An explicit ``secret_name`` wins; with credentials (or workload identity: the Kaniko config that
        names the credential helper) and no name, a name derived from the service.
        """
        if self.secret_name:
            return self.secret_name
        # with pull_from the secret carries the other services' logins too, so it exists without our own;
        # with workload identity it holds the credential-helper config
        helper_config = self.workload_identity and self.rules.build_secret_per_function
        return f"mlrun-registry-{self.name}" if self.has_credentials or self.pull_from or helper_config else None

    # --- workload identity and the Kaniko layer cache ----------------------------------------
    @property
    def workload_identity(self) -> bool:
        """``auth: workload-identity``: no keys; builds log in through the provider's credential helper."""
        return self.auth == AUTH_WORKLOAD_IDENTITY

    def cache_repository(self, repository: str) -> str | None:
        """Kaniko's ``--cache-repo`` for a build pushing to ``repository`` (None: cache off)."""
        if not self.cache:
            return None
        return f"{self.host}/{self.rules.cache_repository(repository)}"

    @property
    def aws_secret_name(self) -> str | None:
        """ECR with access keys: the AWS credentials-file secret Kaniko reads (None: the IAM role)."""
        if not self.rules.token_login or not self.has_credentials:
            return None
        return f"{self.docker_secret_name}-aws"

    @property
    def scheme(self) -> str:
        return self.location.scheme

    @property
    def pull_registry(self) -> str:
        return self.run_registry or self.url

    def fields(self) -> dict[str, Any]:
        """The fields as given to the constructor (the password still a :class:`SecretText`)."""
        return {key: getattr(self, key) for key in FIELD_NAMES}

    def replace(self, **changes: Any) -> RegistryService:
        """A validated copy with ``changes`` applied."""
        data = {**self.fields(), "namespace_domain": self.location.namespace_domain}
        data.update(changes)
        return RegistryService(**data)

    def public_dict(self) -> dict[str, Any]:
        """Plain data for JSON output: the password is reported as set or not, never shown."""
        data: dict[str, Any] = {key: getattr(self, key) for key in FIELD_NAMES if key != "password"}
        data["resources"] = self.resources.as_kubernetes()
        data["pull_from"] = list(self.pull_from)
        data["password"] = "set" if self.password is not None else None
        data["provider"] = self.provider.value
        data["host"] = self.host
        data["path"] = self.path
        if self.ecr:
            data["ecr"] = {"account": self.ecr.account, "region": self.ecr.region}
        return data

    def to_dict(self) -> dict[str, Any]:
        """The same plain data as :meth:`public_dict` (JSON-safe; the password as set or not)."""
        return self.public_dict()

    def to_json(self) -> str:
        return json.dumps(self.public_dict())

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in self.public_dict().items()
            if v not in (None, "", {}, False) or k in ("insecure",)
        )
        return f"<table><caption>Registry service <b>{html.escape(self.name)}</b></caption>{rows}</table>"


# --- workload identity and the Kaniko layer cache ------------------------------------------------------------
#: ``auth``: ``keys`` (username/password, or the cluster's ambient role when blank) or ``workload-identity``.
AUTH_KEYS = "keys"
AUTH_WORKLOAD_IDENTITY = "workload-identity"
AUTH_MODES = (AUTH_KEYS, AUTH_WORKLOAD_IDENTITY)
DEFAULT_SERVICE_ACCOUNT = "default"


def _check_together(service: RegistryService) -> None:
    """The rules between fields, once each field is valid on its own."""
    check_credential_pair(service.username, service.password is not None)
    has_keys = bool(service.username or service.password is not None)
    if service.role == "system" and has_keys:
        raise ConfigError("username", "a system registry takes no username/password: the platform pulls system "
                                      "images with the cluster's role (e.g. EKS with ECR, AKS with ACR)")
    for index, item in enumerate(service.pull_from):
        if item == service.name:
            raise ConfigError(f"pull_from[{index}]", "a service does not pull from itself: its own login is always "
                                                     "in its secret")
    if service.platform_images and service.role != "system":
        raise ConfigError("platform_images", "only a 'role: system' service holds the images the platform "
                                             "pulls by itself; add role: system")
    location = service.location
    rules = location.rules
    if service.auth == AUTH_WORKLOAD_IDENTITY:
        if rules.credential_helper is None:
            raise ConfigError("auth", f"workload-identity is available for ECR, ACR, GCR and Artifact Registry; "
                                      f"{rules.provider.value} takes {rules.credential_hint}")
        if has_keys:
            raise ConfigError("username", "auth: workload-identity takes no username/password: the build logs in "
                                          f"through the {rules.credential_helper} credential helper")
        rules.validate_identity(service.identity, "identity")
    elif service.identity is not None:
        raise ConfigError("identity", "an identity is used only with auth: workload-identity")
    if service.cache:
        if location.is_server_default:
            raise ConfigError("cache", "'.' is the MLRun server's own registry: give the registry URL for a "
                                       "cache repository")
        if rules.cache_off_reason:
            raise ConfigError("cache", rules.cache_off_reason)
    location.check_naming("url")


def _auth(value: Any, field: str) -> str:
    auth = value or AUTH_KEYS
    if auth not in AUTH_MODES:
        raise ConfigError(field, f"{quote(auth)} is not allowed; allowed: {', '.join(AUTH_MODES)}")
    return str(auth)


def _service_account(value: Any, field: str) -> str:
    return validate_dns1123_subdomain(_text(value, field) or DEFAULT_SERVICE_ACCOUNT, field)


def _role(value: Any, field: str) -> str:
    if value not in ROLES:
        raise ConfigError(field, "allowed: 'system' or 'user'")
    return str(value)


def _image_prefix(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(field, f"expected text, got {type(value).__name__}")
    return validate_image_prefix(value if value.strip() else "", field)


def _secret_name(value: Any, field: str) -> str | None:
    secret = _text(value, field)
    return validate_dns1123_subdomain(secret, field) if secret else None


def _run_registry(raw: Any, field: str = "run_registry") -> str | None:
    """The pull registry (``spec.runRegistry``): host[:port][/path], no scheme."""
    value = _text(raw, field)
    if not value:
        return None
    host, path, insecure = parse_registry_url(value, "run_registry")
    if insecure:
        raise ConfigError("run_registry", "give the pull registry without a scheme (host[:port][/path])")
    return f"{host}/{path}" if path else host


# --- the build fields: pull_from, mirror -----------------------------------------------------------
def _pull_from(value: Any, field: str = "pull_from") -> tuple[str, ...]:
    """Names of other services (DNS-1123 labels, each once, not the service itself); a single name is
    accepted for a list of one. Whether they exist is checked where the services are known (the
    config file, :func:`mlrun_registry_ext.core.build.pulled_services`)."""
    if value is None or value == () or value == []:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ConfigError("pull_from", f"expected a list of service names, got {type(value).__name__}")
    out: list[str] = []
    for index, item in enumerate(items):
        where = f"pull_from[{index}]"
        if not isinstance(item, str):
            raise ConfigError(where, f"expected a service name, got {type(item).__name__}")
        validate_dns1123_label(item, where)
        if item in out:
            raise ConfigError(where, f"{quote(item)} is named twice; name each service once")
        out.append(item)
    return tuple(out)


def _mirror(raw: Any, field: str = "mirror") -> str | None:
    """A Docker Hub mirror as Kaniko's ``--registry-mirror`` takes it: host[:port][/path], no scheme
    (Kaniko talks HTTPS to it)."""
    value = _text(raw, field)
    if not value:
        return None
    host, path, insecure = parse_registry_url(value, "mirror")
    if insecure or "://" in value:
        raise ConfigError("mirror", "give the mirror without a scheme (host[:port][/path]); Kaniko uses HTTPS")
    return f"{host}/{path}" if path else host


# --- the fields, declared once --------------------------------------------------------------------------
@dataclass(frozen=True)
class ServiceField:
    """One field of a registry service, as the model, resolution and the config loader all read it.

    ``layered``: any settings layer (explicit arguments, the environment, ``.env``, the config file's
    service) may set it, field by field. ``service_only``: it comes with the chosen service as a whole
    (the config file's, or one passed in), never from the environment. ``per_registry``: it belongs to
    one registry (a login, ``insecure``, a CA bundle), so resolution takes it only from a layer that
    names no URL or the same registry. ``parse(value, field)`` checks one value and returns it normalised.
    """

    name: str
    default: Any
    parse: Callable[[Any, str], Any]
    layered: bool = False
    service_only: bool = False
    per_registry: bool = False


def _url(value: Any, field: str) -> Any:
    return value  # parsed by RegistryService itself, first: every other field is about that registry


def _password(value: Any, field: str) -> SecretText | None:
    return as_secret(value, field)


#: Every field, in the order they are checked and shown.
FIELDS: tuple[ServiceField, ...] = (
    ServiceField("name", "default", validate_dns1123_label),
    ServiceField("url", "", _url, layered=True),
    ServiceField("username", None, _text, layered=True, per_registry=True),
    ServiceField("password", None, _password, layered=True, per_registry=True),
    ServiceField("image_prefix", "", _image_prefix, layered=True),
    ServiceField("secret_name", None, _secret_name, layered=True, per_registry=True),
    ServiceField("insecure", False, parse_bool, layered=True, per_registry=True),
    ServiceField("ca_bundle", None, _text, layered=True, per_registry=True),
    ServiceField("role", "user", _role, service_only=True),
    ServiceField("run_registry", None, _run_registry, service_only=True),
    ServiceField("resources", None, Resources.parse, service_only=True),
    # what a build pulls from besides the push target: ``pull_from`` names other services of the config
    # file whose logins the build secret carries; ``mirror`` is a Docker Hub pull-through mirror
    ServiceField("pull_from", (), _pull_from, service_only=True),
    ServiceField("mirror", None, _mirror, service_only=True),
    # workload identity (``auth``, ``identity``: the cloud identity the Kubernetes service account maps
    # to; ``service_account``: what builds and functions run as) and Kaniko's layer ``cache``
    ServiceField("auth", AUTH_KEYS, _auth, service_only=True),
    ServiceField("identity", None, _text, service_only=True),
    ServiceField("service_account", DEFAULT_SERVICE_ACCOUNT, _service_account, service_only=True),
    ServiceField("cache", False, parse_bool, service_only=True),
    # air gap: the internal registry of every image the platform pulls by itself (at most one service)
    ServiceField("platform_images", False, parse_bool, service_only=True),
    # the MLRun server's builder backend (core.buildah): what a build of this service's images obeys
    # (Kaniko flags, or Buildah's authfile and nothing else); any layer may set it
    ServiceField("builder_backend", BACKEND_AUTO, parse_backend_setting, layered=True),
)
FIELD_NAMES: tuple[str, ...] = tuple(spec.name for spec in FIELDS)
#: Fields a settings layer may set, field by field.
LAYER_FIELDS: tuple[str, ...] = tuple(spec.name for spec in FIELDS if spec.layered)
#: Fields that come with the chosen service as a whole.
SERVICE_ONLY_FIELDS: tuple[ServiceField, ...] = tuple(spec for spec in FIELDS if spec.service_only)
#: What belongs to one registry: taken only from a layer that names no URL or the same registry.
REGISTRY_FIELDS: tuple[str, ...] = tuple(spec.name for spec in FIELDS if spec.per_registry)
