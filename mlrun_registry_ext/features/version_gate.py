"""Version gates against what the platform really runs (MLRun API, Nuclio dashboard, mlrun package)."""

from __future__ import annotations

from mlrun_registry_ext.clients.platform_probe import PlatformInfo, probe_platform
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.core.versions import builders_of, check_gates


def check_version_gates(service: RegistryService, platform: PlatformInfo | None = None,
                        kind: str | None = None) -> list[str]:
    """Warnings for unknown or dev versions of what builds ``kind`` (None: MLRun and Nuclio); raises
    ``VersionGateError`` below a gate."""
    info = platform if platform is not None else probe_platform()
    return check_gates(service.url, service.is_external, info.versions(), builders_of(kind)) + list(info.problems)
