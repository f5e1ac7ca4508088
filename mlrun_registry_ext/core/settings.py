"""The ``MLRUN_REGISTRY_EXT_*`` settings: their names, and each source of them as a :class:`Layer`.

Pure: the variables come in as a mapping (the environment, a parsed ``.env``); resolution
(:mod:`~mlrun_registry_ext.core.resolution`) merges the layers field by field and remembers, for every
value, where it came from. The fields a layer may set are the service model's layered fields
(:data:`~mlrun_registry_ext.core.service.LAYER_FIELDS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlrun_registry_ext.core.secrets import as_secret
from mlrun_registry_ext.core.service import LAYER_FIELDS

ENV_PREFIX = "MLRUN_REGISTRY_EXT_"
#: Every ``MLRUN_REGISTRY_EXT_<NAME>`` a layer reads: the layered fields, the config file and the active service.
SETTING_NAMES = (*LAYER_FIELDS, "config", "active")


def env_var(name: str) -> str:
    return f"{ENV_PREFIX}{name.upper()}"


@dataclass
class Layer:
    """Values one source gives, each labelled with where it came from."""

    name: str
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def set(self, key: str, value: Any, source: str) -> None:
        if value is None or (isinstance(value, str) and value == ""):
            return
        self.values[key] = value
        self.sources[key] = source


def settings_from(variables: Mapping[str, str | None]) -> dict[str, str]:
    """Our settings among ``variables`` (the environment, a ``.env``): ``{field: text}``, names matched
    without regard to case, empty values left out. The exact upper-case name wins over other spellings."""
    out: dict[str, str] = {}
    exact: set[str] = set()
    for key, value in variables.items():
        upper = key.upper()
        if not upper.startswith(ENV_PREFIX) or value is None or value == "":
            continue
        name = upper[len(ENV_PREFIX):].lower()
        if name not in SETTING_NAMES or (name in exact and key != upper):
            continue
        out[name] = value
        if key == upper:
            exact.add(name)
    return out


def layer_from_settings(name: str, settings: Mapping[str, Any], label: str) -> Layer:
    """A :class:`Layer` from :func:`settings_from`'s values; ``label`` may use ``{var}`` (the variable)."""
    layer = Layer(name)
    for key in SETTING_NAMES:
        if key in settings:
            value = settings[key]
            if key == "password":
                value = as_secret(value, env_var(key))
            layer.set(key, value, label.format(var=env_var(key)))
    return layer
