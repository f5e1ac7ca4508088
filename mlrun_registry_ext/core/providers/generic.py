"""Any other registry (distribution, Harbor, Nexus, ...): the base rules, the last to be tried."""

from __future__ import annotations

from mlrun_registry_ext.core.providers.base import Provider, RegistryProvider


class GenericProvider(RegistryProvider):
    provider = Provider.GENERIC

    @classmethod
    def matches(cls, host: str, bare: str, namespace_domain: str | None) -> bool:
        return True
