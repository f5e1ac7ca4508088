"""The on-cluster registry: the MLRun server's own (``.``) or the tenant's ``docker-registry`` service.

Reached inside the cluster without credentials; its images are lost when it restarts, which is said
whenever it is resolved and by the doctor.
"""

from __future__ import annotations

from typing import ClassVar

from mlrun_registry_ext.core.origin import host_name
from mlrun_registry_ext.core.providers.base import DoctorCheck, Provider, RegistryProvider

ON_CLUSTER_WARNING = (
    "the active registry is the on-cluster docker-registry: its images are lost when it restarts; "
    "an external registry is recommended (set MLRUN_REGISTRY_EXT_URL or a config file)"
)
#: The doctor check's name in reports.
ON_CLUSTER_CHECK = "on-cluster registry"


def is_on_cluster_host(host: str, namespace_domain: str | None = None) -> bool:
    """The tenant's ``docker-registry`` service (or any in-cluster service name)."""
    bare = host_name(host)
    return _is_on_cluster_name(bare, namespace_domain)


def _is_on_cluster_name(bare: str, namespace_domain: str | None) -> bool:
    if bare == "docker-registry" or bare.endswith(".svc") or bare.endswith(".svc.cluster.local"):
        return True
    if namespace_domain and bare == f"docker-registry.{namespace_domain.lower()}":
        return True
    return bare.startswith("docker-registry.default-tenant.")


class OnClusterProvider(RegistryProvider):
    provider = Provider.ON_CLUSTER
    credential_hint = "none: the on-cluster registry is reached inside the cluster without credentials"
    on_cluster = True
    warning = ON_CLUSTER_WARNING
    doctor_checks: ClassVar[tuple[DoctorCheck, ...]] = (
        DoctorCheck(ON_CLUSTER_CHECK, "always", detail=ON_CLUSTER_WARNING, severity="warning"),
    )

    @classmethod
    def matches(cls, host: str, bare: str, namespace_domain: str | None) -> bool:
        return host in ("", ".") or _is_on_cluster_name(bare, namespace_domain)
