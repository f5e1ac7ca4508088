"""Registry providers: one class per provider (ZenML-flavour style), detected from the host.

:class:`Provider` is the provider as data (JSON output, ``public_dict``, CLI choices); the behaviour
is on its class (see :mod:`.base` for the design): :func:`detect_provider` picks the value from a
host, :func:`provider_for` gives its class instance. The rules come from each provider's
documentation (see shared/reference/registries.md).

Modules: :mod:`.base` (``Provider``, ``RegistryProvider``, ``DoctorCheck``, ``PushPreparation``),
:mod:`.ecr`, :mod:`.acr`, :mod:`.google` (GCR and GAR), :mod:`.ghcr`, :mod:`.quay`, :mod:`.dockerhub`,
:mod:`.on_cluster`, :mod:`.generic`.
"""

from __future__ import annotations

from mlrun_registry_ext.core.origin import host_name
from mlrun_registry_ext.core.providers.acr import ACR_TOKEN_USER, AcrProvider
from mlrun_registry_ext.core.providers.base import DoctorCheck, Provider, PushPreparation, RegistryProvider
from mlrun_registry_ext.core.providers.dockerhub import DOCKERHUB_HOSTS, DOCKERHUB_LOGIN_KEY, DockerHubProvider
from mlrun_registry_ext.core.providers.ecr import (
    ECR_HOST_RE,
    ECR_REPOSITORY_RE,
    EcrLocation,
    EcrProvider,
    ecr_token_password,
    parse_ecr_host,
)
from mlrun_registry_ext.core.providers.generic import GenericProvider
from mlrun_registry_ext.core.providers.ghcr import GhcrProvider
from mlrun_registry_ext.core.providers.google import GCR_USERS, GarProvider, GcrProvider
from mlrun_registry_ext.core.providers.on_cluster import ON_CLUSTER_WARNING, OnClusterProvider, is_on_cluster_host
from mlrun_registry_ext.core.providers.quay import QuayProvider

#: One instance per provider, in detection order: the first whose ``matches`` says yes wins
#: (Artifact Registry before Container Registry, the on-cluster names after every public host,
#: generic last).
PROVIDERS: tuple[RegistryProvider, ...] = (
    EcrProvider(), AcrProvider(), GarProvider(), GcrProvider(), GhcrProvider(), QuayProvider(),
    DockerHubProvider(), OnClusterProvider(), GenericProvider(),
)
_BY_VALUE: dict[Provider, RegistryProvider] = {p.provider: p for p in PROVIDERS}


def provider_for(provider: Provider) -> RegistryProvider:
    """The class instance holding ``provider``'s rules."""
    return _BY_VALUE[provider]


def detect_provider(host: str, namespace_domain: str | None = None) -> Provider:
    """Which provider a registry host belongs to (``.`` is the MLRun server's own, on-cluster)."""
    if host in ("", "."):
        return Provider.ON_CLUSTER
    bare = host_name(host)
    for candidate in PROVIDERS:
        if candidate.matches(host, bare, namespace_domain):
            return candidate.provider
    return Provider.GENERIC


__all__ = [
    "ACR_TOKEN_USER",
    "DOCKERHUB_HOSTS",
    "DOCKERHUB_LOGIN_KEY",
    "ECR_HOST_RE",
    "ECR_REPOSITORY_RE",
    "GCR_USERS",
    "ON_CLUSTER_WARNING",
    "PROVIDERS",
    "AcrProvider",
    "DockerHubProvider",
    "DoctorCheck",
    "EcrLocation",
    "EcrProvider",
    "GarProvider",
    "GcrProvider",
    "GenericProvider",
    "GhcrProvider",
    "OnClusterProvider",
    "Provider",
    "PushPreparation",
    "QuayProvider",
    "RegistryProvider",
    "detect_provider",
    "ecr_token_password",
    "is_on_cluster_host",
    "parse_ecr_host",
    "provider_for",
]
