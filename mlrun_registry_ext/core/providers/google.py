"""Google's registries: Container Registry (``gcr.io``, ``*.gcr.io``) and Artifact Registry
(``*-docker.pkg.dev``, images ``PROJECT/REPOSITORY/IMAGE``); logins as ``_json_key``,
``_json_key_base64`` (a service-account key) or ``oauth2accesstoken`` (an access token)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import ClassVar

from mlrun_registry_ext.core.providers.base import Provider, RegistryProvider
from mlrun_registry_ext.core.secrets import SecretText
from mlrun_registry_ext.errors import ConfigError

#: A Google service account's e-mail (GKE Workload Identity maps the Kubernetes one to it).
GSA_RE = re.compile(r"[a-z][-a-z0-9]{4,28}[a-z0-9]@[a-z0-9][-a-z0-9.:]*\.iam\.gserviceaccount\.com")
GCR_USERS = ("_json_key", "_json_key_base64", "oauth2accesstoken")
_USER_BY_OPTION = {"json_key": "_json_key", "json_key_base64": "_json_key_base64", "access_token": "oauth2accesstoken"}


class GcrProvider(RegistryProvider):
    provider = Provider.GCR
    ambient_auth = "the node's or workload identity's service account"
    credential_hint = "_json_key with a service-account JSON key, or oauth2accesstoken with an access token"
    login_options: ClassVar[Mapping[str, str]] = {"auth": "json_key, json_key_base64 or access_token"}
    credential_helper = "gcr"
    identity_annotation = "iam.gke.io/gcp-service-account"
    identity_hint = "a Google service account, <name>@<project>.iam.gserviceaccount.com (GKE Workload Identity)"

    def validate_identity(self, identity: str | None, field: str = "identity") -> None:
        super().validate_identity(identity, field)
        if identity is not None and not GSA_RE.fullmatch(identity):
            raise ConfigError(field, f"not a Google service account; expected {self.identity_hint}")

    @classmethod
    def matches(cls, host: str, bare: str, namespace_domain: str | None) -> bool:
        return bare == "gcr.io" or bare.endswith(".gcr.io")

    def login_user(self, username: str, password: SecretText, options: Mapping[str, str], path: str) -> str:
        auth = options.get("auth")
        if auth is not None:
            if auth not in _USER_BY_OPTION:
                raise ConfigError("option auth", f"{auth!r} is not allowed; allowed: {', '.join(_USER_BY_OPTION)}")
            username = _USER_BY_OPTION[auth]
        if username not in GCR_USERS:
            raise ConfigError("username", f"Google registries take the user {', '.join(GCR_USERS)} "
                                          "(service-account key or access token), or --option auth=...")
        if username == "_json_key":
            try:
                parsed = json.loads(password.get_secret_value())
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict) or "private_key" not in parsed:
                raise ConfigError("password",
                                  "for _json_key the password must be a service-account JSON key file")
        return username


class GarProvider(GcrProvider):
    provider = Provider.GAR

    @classmethod
    def matches(cls, host: str, bare: str, namespace_domain: str | None) -> bool:
        return bare.endswith("-docker.pkg.dev")

    def validate_repository(self, repository: str, host: str, field: str = "image") -> None:
        super().validate_repository(repository, host, field)
        if repository.count("/") < 2:
            raise ConfigError(field, f"Artifact Registry images are PROJECT/REPOSITORY/IMAGE; {repository!r} "
                                     "has fewer than three levels")
