"""GitHub Container Registry (``ghcr.io``): a GitHub user and a personal access token."""

from __future__ import annotations

from mlrun_registry_ext.core.providers.base import Provider, RegistryProvider


class GhcrProvider(RegistryProvider):
    provider = Provider.GHCR
    credential_hint = "a GitHub user and a classic personal access token with write:packages"

    @classmethod
    def matches(cls, host: str, bare: str, namespace_domain: str | None) -> bool:
        return bare == "ghcr.io"
