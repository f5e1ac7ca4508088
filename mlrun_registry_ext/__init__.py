"""mlrun-registry-ext: external container registries for MLRun and Nuclio builds.

Importing the package is cheap: mlrun, nuclio, kubernetes and boto3 are imported only by the
functions that need them. Typical notebook use::

    import mlrun_registry_ext as registry
    active = registry.resolve(url="123456789012.dkr.ecr.us-east-1.amazonaws.com/team")
    registry.configure_project(project, active)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlrun_registry_ext.errors import ConfigError, RegistryAPIError, RegistryExtError, VersionGateError

__version__ = "0.1.0"

# name -> module that defines it; resolved on first access (PEP 562) to keep the import light. One
# resolver (``resolve``, an ActiveRegistry) and one way to a push target (``target``, the same rule as
# ``ActiveRegistry.target``); the pieces they are built from stay in their modules. tests/test_public_api.py
# pins this list: a change to it is a change to the public API.
_LAZY = {
    "RegistryService": "mlrun_registry_ext.core.service",
    "Provider": "mlrun_registry_ext.core.providers",
    "PushTarget": "mlrun_registry_ext.core.targets",
    "ResolvedRegistry": "mlrun_registry_ext.core.resolution",
    "PlatformConfig": "mlrun_registry_ext.core.platform_config",
    "ActiveRegistry": "mlrun_registry_ext.features.api",
    "resolve": "mlrun_registry_ext.features.api",
    "target": "mlrun_registry_ext.features.api",
    "configure_function": "mlrun_registry_ext.features.mlrun_hooks",
    "configure_project": "mlrun_registry_ext.features.mlrun_hooks",
    "setup": "mlrun_registry_ext.features.mlrun_hooks",
    "build_image": "mlrun_registry_ext.features.mlrun_hooks",
    "registry_context": "mlrun_registry_ext.features.mlrun_hooks",
    "check_version_gates": "mlrun_registry_ext.features.version_gate",
    "nuclio": "mlrun_registry_ext.features.nuclio_hooks",
    "doctor": "mlrun_registry_ext.features.doctor",
    "migrate": "mlrun_registry_ext.features.migrate",
    "prune": "mlrun_registry_ext.features.prune",
}

__all__ = ["ConfigError", "RegistryAPIError", "RegistryExtError", "VersionGateError", *_LAZY]

if TYPE_CHECKING:
    from mlrun_registry_ext.core.platform_config import PlatformConfig
    from mlrun_registry_ext.core.providers import Provider
    from mlrun_registry_ext.core.resolution import ResolvedRegistry
    from mlrun_registry_ext.core.service import RegistryService
    from mlrun_registry_ext.core.targets import PushTarget
    from mlrun_registry_ext.features import nuclio_hooks as nuclio
    from mlrun_registry_ext.features.api import ActiveRegistry, resolve, target
    from mlrun_registry_ext.features.doctor import doctor
    from mlrun_registry_ext.features.migrate import migrate
    from mlrun_registry_ext.features.mlrun_hooks import (
        build_image,
        configure_function,
        configure_project,
        registry_context,
        setup,
    )
    from mlrun_registry_ext.features.prune import prune
    from mlrun_registry_ext.features.version_gate import check_version_gates


#: Names this module's own code uses, which a ``registry.<TAB>`` should not offer.
_NOT_PUBLIC = {"Any", "TYPE_CHECKING", "annotations"}


def __dir__() -> list[str]:
    """Every public name, the lazy ones included: what Jupyter's tab completion and ``dir()`` offer.

    Without it ``dir(mlrun_registry_ext)`` lists only what is already loaded (the errors), so a
    notebook's ``registry.<TAB>`` offered none of the functions (PEP 562).
    """
    return sorted({*globals(), *__all__} - _NOT_PUBLIC)


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'mlrun_registry_ext' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(module_name)
    value = module if name == "nuclio" else getattr(module, name)
    globals()[name] = value
    return value
