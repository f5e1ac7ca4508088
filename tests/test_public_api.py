"""The public surface, pinned (as httpx's ``tests/test_exported_members.py`` pins ``httpx.__all__``): a
name added or dropped here is a decision about the API, not an accident of an import."""

from __future__ import annotations

import importlib
import inspect

import mlrun_registry_ext
from mlrun_registry_ext.clients.transport import TransportError
from mlrun_registry_ext.errors import RegistryExtError

PUBLIC = [
    "ActiveRegistry",
    "ConfigError",
    "PlatformConfig",
    "Provider",
    "PushTarget",
    "RegistryAPIError",
    "RegistryExtError",
    "RegistryService",
    "ResolvedRegistry",
    "VersionGateError",
    "build_image",
    "check_version_gates",
    "configure_function",
    "configure_project",
    "doctor",
    "migrate",
    "nuclio",
    "prune",
    "registry_context",
    "resolve",
    "setup",
    "target",
]


def test_all_is_exactly_the_public_surface() -> None:
    assert sorted(mlrun_registry_ext.__all__) == PUBLIC
    assert len(set(mlrun_registry_ext.__all__)) == len(mlrun_registry_ext.__all__)


def test_every_public_name_resolves_to_something_of_the_package_with_a_docstring() -> None:
    fresh = importlib.reload(mlrun_registry_ext)
    for name in fresh.__all__:
        value = getattr(fresh, name)
        module = value.__name__ if inspect.ismodule(value) else value.__module__
        assert module.startswith("mlrun_registry_ext."), name
        assert inspect.getdoc(value), name


def test_nothing_public_besides_all() -> None:
    public = {name for name in vars(mlrun_registry_ext) if not name.startswith("_")}
    assert public - set(PUBLIC) <= {"annotations", "TYPE_CHECKING", "Any", "errors", "core", "features", "clients",
                                    "cli"}


def test_one_resolver_and_one_way_to_a_target() -> None:
    assert not hasattr(mlrun_registry_ext, "resolve_registry") and not hasattr(mlrun_registry_ext, "push_target")


def test_every_error_the_package_raises_is_a_registry_ext_error() -> None:
    assert issubclass(TransportError, RegistryExtError)
