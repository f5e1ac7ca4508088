"""Azure Container Registry: ``*.azurecr.io`` (and the sovereign clouds); logins as an admin user, a
service principal, or the all-zero user with an ACR refresh token."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar

from mlrun_registry_ext.core.providers.base import Provider, RegistryProvider
from mlrun_registry_ext.core.secrets import SecretText
from mlrun_registry_ext.errors import ConfigError

ACR_HOST_RE = re.compile(r"\.azurecr\.(io|cn|us)\Z")
#: The docker login user of an ACR refresh token.
ACR_TOKEN_USER = "00000000-0000-0000-0000-000000000000"
_GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class AcrProvider(RegistryProvider):
    provider = Provider.ACR
    ambient_auth = "the cluster's managed identity (AKS attached to ACR)"
    credential_hint = f"an admin user, a service principal (appId/secret), or {ACR_TOKEN_USER} with a refresh token"
    login_options: ClassVar[Mapping[str, str]] = {
        "auth": "user (admin user or service principal, default) or token (ACR refresh token)",
    }
    # Azure workload identity: the webhook injects the federated token into pods labelled
    # azure.workload.identity/use=true whose service account carries the client id; Kaniko's acr-env
    # helper reads AZURE_CLIENT_ID / AZURE_FEDERATED_TOKEN_FILE from that injection.
    credential_helper = "acr-env"
    identity_annotation = "azure.workload.identity/client-id"
    identity_labels: ClassVar[Mapping[str, str]] = {"azure.workload.identity/use": "true"}
    identity_hint = "the client id (a GUID) of the managed identity or app registration (Azure workload identity)"

    def validate_identity(self, identity: str | None, field: str = "identity") -> None:
        super().validate_identity(identity, field)
        if identity is not None and not _GUID_RE.fullmatch(identity):
            raise ConfigError(field, f"not a client id; expected {self.identity_hint}")

    @classmethod
    def matches(cls, host: str, bare: str, namespace_domain: str | None) -> bool:
        return ACR_HOST_RE.search(bare) is not None

    def login_user(self, username: str, password: SecretText, options: Mapping[str, str], path: str) -> str:
        auth = options.get("auth", "token" if username == ACR_TOKEN_USER else "user")
        if auth not in ("user", "token"):
            raise ConfigError("option auth", f"{auth!r} is not allowed for acr; allowed: user, token")
        return ACR_TOKEN_USER if auth == "token" else username
