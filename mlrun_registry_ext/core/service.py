"""The registry service model: what a platform admin enters on the platform's Docker Registry page.

URL (required), optional username/password, optional image prefix, CPU/memory requests and limits,
and a role (``system`` images the platform itself needs, ``user`` images MLRun and Nuclio build).
"""

from __future__ import annotations

import html
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

# The URL grammar lives in the pydantic-free core.location; re-exported here for existing imports.
from mlrun_registry_ext.core.location import DEFAULT_REPOSITORY as DEFAULT_REPOSITORY
from mlrun_registry_ext.core.location import SERVER_REGISTRY as SERVER_REGISTRY
from mlrun_registry_ext.core.location import (
    RegistryAccess,
    RegistryLocation,
    parse_location,
    validate_image_prefix,
)
from mlrun_registry_ext.core.location import parse_registry_url as parse_registry_url
from mlrun_registry_ext.core.providers import EcrLocation, Provider, ProviderRules
from mlrun_registry_ext.core.quantity import parse_quantity
from mlrun_registry_ext.core.secrets import check_credential_pair
from mlrun_registry_ext.errors import ConfigError, config_error_from, quote

DNS1123_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
DNS1123_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")


def validate_dns1123_label(value: str, field: str) -> str:
    if not isinstance(value, str) or len(value) > 63 or not DNS1123_LABEL_RE.fullmatch(value):
        raise ConfigError(field, f"{quote(value)} is not a DNS-1123 label: lowercase letters, digits and '-', "
                                 "starting and ending with a letter or digit, at most 63 characters")
    return value


def validate_dns1123_subdomain(value: str, field: str) -> str:
    if not isinstance(value, str) or len(value) > 253 or not DNS1123_SUBDOMAIN_RE.fullmatch(value):
        raise ConfigError(field, f"{quote(value)} is not a valid Kubernetes name (DNS-1123 subdomain): lowercase "
                                 "letters, digits, '-' and '.', starting and ending with a letter or digit, "
                                 "at most 253 characters")
    return value


def _truthy(value: Any) -> bool:
    """What pydantic reads as ``True`` for a bool field (``"yes"``, ``1``, ``"on"`` ...)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "t", "yes", "y", "on")
    return value is True or (isinstance(value, int | float) and value == 1)


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
        for key in data:
            if not isinstance(key, str):
                raise ConfigError("", f"field names are text; got {type(key).__name__} {quote(key, 40)}")
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
        location = parse_location(url)
        data["url"] = location.url
        if location.insecure:
            data["insecure"] = True
        elif url.strip().lower().startswith("https://") and _truthy(data.get("insecure")):
            # https:// is never downgraded: a plain-HTTP registry is chosen by writing http://
            raise ConfigError("insecure", "the URL says https://, so the registry is not insecure; write http:// "
                                          "(or leave the scheme out) for a plain-HTTP registry")
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
        return validate_image_prefix(value, "image_prefix")

    @field_validator("run_registry")
    @classmethod
    def _run_registry(cls, value: str | None) -> str | None:
        if not value:
            return None
        location = parse_location(value, "run_registry")
        if location.insecure:
            raise ConfigError("run_registry", "give the pull registry without a scheme (host[:port][/path])")
        return location.url

    @model_validator(mode="after")
    def _consistency(self) -> RegistryService:
        check_credential_pair(self.username, self.password is not None)
        if self.role == "system" and (self.username or self.password is not None):
            raise ConfigError("username", "a system registry takes no username/password: the platform pulls system "
                                          "images with the cluster's role (e.g. EKS with ECR, AKS with ACR)")
        self.location.check_naming("url")
        return self

    # --- derived values ---------------------------------------------------------------------
    @property
    def location(self) -> RegistryLocation:
        """Host, path and scheme, and the provider they imply (see :mod:`mlrun_registry_ext.core.location`)."""
        return RegistryLocation.from_url(self.url, self.insecure)

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
    def rules(self) -> ProviderRules:
        return self.location.rules

    @property
    def is_external(self) -> bool:
        """Anything but the on-cluster registry needs the version gates."""
        return self.provider is not Provider.ON_CLUSTER

    @property
    def ecr(self) -> EcrLocation | None:
        return self.location.ecr

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
        return self.location.scheme

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
