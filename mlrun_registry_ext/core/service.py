"""The registry service model: what a platform admin enters on the platform's Docker Registry page.

URL (required), optional username/password, optional image prefix, CPU/memory requests and limits,
and a role (``system`` images the platform itself needs, ``user`` images MLRun and Nuclio build).
"""

from __future__ import annotations

import html
import os
import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from mlrun_registry_ext.core.providers import (
    EcrLocation,
    Provider,
    ProviderRules,
    detect_provider,
    parse_ecr_host,
    rules_for,
)
from mlrun_registry_ext.core.quantity import parse_quantity
from mlrun_registry_ext.core.reference import (
    ALLOWED_REPOSITORY,
    REPOSITORY_RE,
    validate_host,
    validate_repository,
)
from mlrun_registry_ext.errors import ConfigError, config_error_from

#: MLRun's default repository when the registry URL carries no path.
DEFAULT_REPOSITORY = "mlrun"
#: MLRun's convention: an image starting with "." lives on the server's configured registry.
SERVER_REGISTRY = "."

DNS1123_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def validate_dns1123_label(value: str, field: str) -> str:
    if len(value) > 63 or not DNS1123_LABEL_RE.match(value):
        raise ConfigError(field, f"{value!r} is not a DNS-1123 label: lowercase letters, digits and '-', "
                                 "starting and ending with a letter or digit, at most 63 characters")
    return value


def validate_dns1123_subdomain(value: str, field: str) -> str:
    if len(value) > 253 or not DNS1123_SUBDOMAIN_RE.match(value):
        raise ConfigError(field, f"{value!r} is not a valid Kubernetes name (DNS-1123 subdomain): lowercase "
                                 "letters, digits, '-' and '.', starting and ending with a letter or digit, "
                                 "at most 253 characters")
    return value


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


class ResourceList(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu: str | None = None
    memory: str | None = None

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("cpu", self.cpu), ("memory", self.memory)) if v is not None}


class Resources(BaseModel):
    """CPU and memory requests and limits (Kubernetes quantities), request <= limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests: ResourceList = Field(default_factory=ResourceList)
    limits: ResourceList = Field(default_factory=ResourceList)

    @model_validator(mode="after")
    def _check(self) -> Resources:
        for kind in ("cpu", "memory"):
            request = getattr(self.requests, kind)
            limit = getattr(self.limits, kind)
            req_q = parse_quantity(request, f"resources.requests.{kind}") if request is not None else None
            lim_q = parse_quantity(limit, f"resources.limits.{kind}") if limit is not None else None
            if req_q is not None and lim_q is not None and req_q > lim_q:
                raise ConfigError(f"resources.requests.{kind}",
                                  f"request {request} is above the limit {limit}; a request must be <= its limit")
        return self

    def as_kubernetes(self) -> dict[str, dict[str, str]]:
        out = {"requests": self.requests.as_dict(), "limits": self.limits.as_dict()}
        return {k: v for k, v in out.items() if v}

    @property
    def empty(self) -> bool:
        return not self.as_kubernetes()


class RegistryService(BaseModel):
    """One registry service. Immutable: derive a changed copy with :meth:`replace`."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    name: str = "default"
    url: str
    username: str | None = None
    password: SecretStr | None = None
    image_prefix: str = ""
    secret_name: str | None = None
    insecure: bool = False
    ca_bundle: str | None = None
    role: Literal["system", "user"] = "user"
    run_registry: str | None = None
    resources: Resources = Field(default_factory=Resources)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise config_error_from(exc, tuple(type(self).model_fields)) from None

    @classmethod
    def from_mapping(cls, data: Any, name: str | None = None) -> RegistryService:
        """Build from plain data (a YAML entry, env values); errors become :class:`ConfigError`."""
        if not isinstance(data, dict):
            raise ConfigError(name or "service", f"expected a mapping of fields, got {type(data).__name__}")
        if name is not None:
            data = {"name": name, **data}
        return cls(**data)

    # --- validation -------------------------------------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key in ("username", "secret_name", "ca_bundle", "run_registry", "image_prefix"):
            if isinstance(data.get(key), str) and not data[key].strip():
                data[key] = None if key != "image_prefix" else ""
        password = data.get("password")
        secret_text = password.get_secret_value() if isinstance(password, SecretStr) else password
        if secret_text is None or secret_text == "":
            data["password"] = None
        url = data.get("url", "")
        if not isinstance(url, str):
            raise ConfigError("url", f"expected a string host[:port][/path], got {type(url).__name__}")
        host, path, insecure = parse_registry_url(url)
        data["url"] = f"{host}/{path}" if path else host
        if insecure:
            data["insecure"] = True
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_dns1123_label(value, "name")

    @field_validator("secret_name")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        return validate_dns1123_subdomain(value, "secret_name") if value else None

    @field_validator("image_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value:
            if value.startswith("/") or "//" in value:
                raise ConfigError("image_prefix", f"{value!r} may not start with '/' or contain '//'")
            validate_repository(value + "x", "image_prefix")
        return value

    @field_validator("run_registry")
    @classmethod
    def _run_registry(cls, value: str | None) -> str | None:
        if not value:
            return None
        host, path, insecure = parse_registry_url(value, "run_registry")
        if insecure:
            raise ConfigError("run_registry", "give the pull registry without a scheme (host[:port][/path])")
        return f"{host}/{path}" if path else host

    @model_validator(mode="after")
    def _consistency(self) -> RegistryService:
        if self.password is not None and not self.username:
            raise ConfigError("username", "a password was given without a username")
        if self.username and self.password is None:
            raise ConfigError("password", f"the password for user {self.username!r} is empty; give both or neither")
        if self.role == "system" and (self.username or self.password is not None):
            raise ConfigError("username", "a system registry takes no username/password: the platform pulls system "
                                          "images with the cluster's role (e.g. EKS with ECR, AKS with ACR)")
        if self.provider is Provider.DOCKERHUB and not self.path:
            raise ConfigError("url", "Docker Hub needs a namespace: docker.io/<user or organization>")
        if self.provider is Provider.ECR and self.path:
            rules_for(Provider.ECR).validate_repository(self.path + "/x", self.host, "url")
        return self

    # --- derived values ---------------------------------------------------------------------
    @property
    def host(self) -> str:
        """``host[:port]``; ``.`` for the MLRun server's own registry."""
        return self.url.split("/", 1)[0]

    @property
    def path(self) -> str:
        """The repository namespace from the URL ('' when it has none)."""
        return self.url.partition("/")[2]

    @property
    def is_server_default(self) -> bool:
        return self.url == SERVER_REGISTRY

    @property
    def provider(self) -> Provider:
        return detect_provider(self.host, os.environ.get("IGZ_NAMESPACE_DOMAIN"))

    @property
    def rules(self) -> ProviderRules:
        return rules_for(self.provider)

    @property
    def is_external(self) -> bool:
        """Anything but the on-cluster registry needs the version gates."""
        return self.provider is not Provider.ON_CLUSTER

    @property
    def ecr(self) -> EcrLocation | None:
        return parse_ecr_host(self.host) if self.provider is Provider.ECR else None

    @property
    def has_credentials(self) -> bool:
        return bool(self.username and self.password is not None)

    @property
    def docker_secret_name(self) -> str | None:
        """The ``kubernetes.io/dockerconfigjson`` secret builds and pods use (None: no secret needed).

        An explicit ``secret_name`` wins; with credentials and no name, a name derived from the service.
        """
        if self.secret_name:
            return self.secret_name
        return f"mlrun-registry-{self.name}" if self.has_credentials else None

    @property
    def aws_secret_name(self) -> str | None:
        """ECR with access keys: the AWS credentials-file secret Kaniko reads (None: the IAM role)."""
        if self.provider is not Provider.ECR or not self.has_credentials:
            return None
        return f"{self.docker_secret_name}-aws"

    @property
    def scheme(self) -> str:
        return "http" if self.insecure else "https"

    @property
    def pull_registry(self) -> str:
        return self.run_registry or self.url

    def replace(self, **changes: Any) -> RegistryService:
        """A validated copy with ``changes`` applied."""
        data = self.model_dump()
        data.update(changes)
        return RegistryService(**data)

    def public_dict(self) -> dict[str, Any]:
        """Plain data for JSON output: the password is reported as set or not, never shown."""
        data = self.model_dump(mode="json", exclude={"password"})
        data["password"] = "set" if self.password is not None else None
        data["provider"] = self.provider.value
        data["host"] = self.host
        data["path"] = self.path
        if self.ecr:
            data["ecr"] = {"account": self.ecr.account, "region": self.ecr.region}
        data["resources"] = self.resources.as_kubernetes()
        return data

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in self.public_dict().items()
            if v not in (None, "", {}, False) or k in ("insecure",)
        )
        return f"<table><caption>Registry service <b>{html.escape(self.name)}</b></caption>{rows}</table>"
