"""mlrun-registry-ext: external container registries for MLRun and Nuclio builds.

Importing the package is cheap: mlrun, nuclio, kubernetes and boto3 are imported only by the
functions that need them. Typical notebook use::

    import mlrun_registry_ext as registry
    active = registry.resolve(url="123456789012.dkr.ecr.us-east-1.amazonaws.com/team")
    registry.configure_project(project, active)
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from mlrun_registry_ext.errors import ConfigError, RegistryAPIError, RegistryExtError, VersionGateError

__version__ = "0.1.0"

# name -> module that defines it; resolved on first access (PEP 562) to keep the import light.
_LAZY = {
    "RegistryService": "mlrun_registry_ext.core.service",
    "Provider": "mlrun_registry_ext.core.providers",
    "PushTarget": "mlrun_registry_ext.core.targets",
    "push_target": "mlrun_registry_ext.core.targets",
    "ResolvedRegistry": "mlrun_registry_ext.core.resolution",
    "resolve_registry": "mlrun_registry_ext.core.resolution",
    "PlatformConfig": "mlrun_registry_ext.core.platform_config",
    "ActiveRegistry": "mlrun_registry_ext.api",
    "resolve": "mlrun_registry_ext.api",
    "target": "mlrun_registry_ext.api",
    "configure_function": "mlrun_registry_ext.adapters.mlrun",
    "configure_project": "mlrun_registry_ext.adapters.mlrun",
    "setup": "mlrun_registry_ext.adapters.mlrun",
    "registry_context": "mlrun_registry_ext.adapters.mlrun",
    "check_version_gates": "mlrun_registry_ext.versions_gate",
    "nuclio": "mlrun_registry_ext.adapters.nuclio",
    "doctor": "mlrun_registry_ext.doctor",
    "migrate": "mlrun_registry_ext.migrate",
    "prune": "mlrun_registry_ext.prune",
}

__all__ = ["ConfigError", "RegistryAPIError", "RegistryExtError", "VersionGateError", *_LAZY]

if TYPE_CHECKING:
    from mlrun_registry_ext.adapters import nuclio as nuclio
    from mlrun_registry_ext.adapters.mlrun import (
        configure_function,
        configure_project,
        registry_context,
        setup,
    )
    from mlrun_registry_ext.api import ActiveRegistry, resolve, target
    from mlrun_registry_ext.core.platform_config import PlatformConfig
    from mlrun_registry_ext.core.providers import Provider
    from mlrun_registry_ext.core.resolution import ResolvedRegistry, resolve_registry
    from mlrun_registry_ext.core.service import RegistryService
    from mlrun_registry_ext.core.targets import PushTarget, push_target
    from mlrun_registry_ext.prune import prune
    from mlrun_registry_ext.versions_gate import check_version_gates


#: Public functions named like the submodule that defines them. The import system binds a submodule
#: to its package's attribute once it is imported (``from mlrun_registry_ext.prune import ...``), which
#: would make ``mlrun_registry_ext.prune(...)`` call a module; the package keeps the function instead.
_FUNCTION_OVER_MODULE = frozenset({"prune"})


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        if name in _FUNCTION_OVER_MODULE and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'mlrun_registry_ext' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(module_name)
    value = module if name == "nuclio" else getattr(module, name)
    globals()[name] = value
    return value
