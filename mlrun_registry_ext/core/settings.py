"""Where registry settings come from: environment, ``.env`` and the YAML config file.

Each source is read on its own (pydantic-settings' env and dotenv sources, PyYAML for the file) so
that resolution can merge them field by field and remember, for every value, where it came from.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from mlrun_registry_ext.core.service import RegistryService, validate_dns1123_label
from mlrun_registry_ext.errors import ConfigError

ENV_PREFIX = "MLRUN_REGISTRY_EXT_"
#: Fields of a service that a layer may set (resources and role come from the config file only).
LAYER_FIELDS = ("url", "username", "password", "image_prefix", "secret_name", "insecure", "ca_bundle")
CREDENTIAL_FIELDS = ("username", "password", "secret_name")


@functools.cache
def settings_class() -> Any:
    """The ``MLRUN_REGISTRY_EXT_*`` settings model, built on first use (pydantic-settings costs ~0.1 s)."""
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class RegistrySettings(BaseSettings):
        """The ``MLRUN_REGISTRY_EXT_*`` variables (environment or ``.env``)."""

        model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", env_ignore_empty=True)

        url: str | None = None
        username: str | None = None
        password: SecretStr | None = None
        image_prefix: str | None = None
        secret_name: str | None = None
        insecure: bool | None = None
        ca_bundle: str | None = None
        config: str | None = None
        active: str | None = None

    return RegistrySettings


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


def _layer_from_raw(name: str, raw: dict[str, Any], label: str) -> Layer:
    layer = Layer(name)
    for key in (*LAYER_FIELDS, "config", "active"):
        if key in raw:
            value = raw[key]
            if key == "password" and value is not None and not isinstance(value, SecretStr):
                value = SecretStr(str(value))
            layer.set(key, value, label.format(var=env_var(key)))
    return layer


def read_env_layer() -> Layer:
    """``MLRUN_REGISTRY_EXT_*`` from the process environment."""
    if not any(key.startswith(ENV_PREFIX) for key in os.environ):
        return Layer("env")
    from pydantic_settings import EnvSettingsSource

    raw = EnvSettingsSource(settings_class(), env_prefix=ENV_PREFIX, env_ignore_empty=True)()
    return _layer_from_raw("env", raw, "env {var}")


def read_dotenv_layer(path: str | Path | None = None) -> Layer:
    """``MLRUN_REGISTRY_EXT_*`` from a ``.env`` file (default: ``./.env``), below the real environment."""
    env_file = Path(path) if path else Path(".env")
    if not env_file.is_file():
        return Layer("dotenv")
    from pydantic_settings import DotEnvSettingsSource

    source = DotEnvSettingsSource(settings_class(), env_file=env_file, env_prefix=ENV_PREFIX, env_ignore_empty=True)
    raw = {key: value for key, value in source().items() if value is not None}
    return _layer_from_raw("dotenv", raw, f".env {env_file} {{var}}")


@dataclass
class ConfigFile:
    """A YAML file with several named services and an ``active`` one."""

    path: Path
    services: dict[str, RegistryService]
    active: str | None

    @classmethod
    def load(cls, path: str | Path) -> ConfigFile:
        import yaml

        file = Path(path).expanduser()
        where = f"config file {file}"
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(env_var("config"), f"{file} does not exist") from None
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(env_var("config"), f"{file} is not readable YAML ({type(exc).__name__})") from None
        if not isinstance(data, dict):
            raise ConfigError(where, "expected a mapping with 'services' and optionally 'active'")
        unknown = sorted(set(data) - {"services", "active"})
        if unknown:
            raise ConfigError(f"{where}: {unknown[0]}", "unknown key; allowed: services, active")
        raw_services = data.get("services") or {}
        if isinstance(raw_services, list):
            for index, item in enumerate(raw_services):
                if not isinstance(item, dict) or "name" not in item:
                    raise ConfigError(f"{where}: services[{index}]", "expected a mapping with a name and fields")
            raw_services = {str(item["name"]): item for item in raw_services}
        if not isinstance(raw_services, dict):
            raise ConfigError(f"{where}: services", "expected a mapping of service name to fields")
        services: dict[str, RegistryService] = {}
        for name, fields in raw_services.items():
            validate_dns1123_label(str(name), f"{where}: services name")
            if isinstance(fields, dict):
                fields = {k: v for k, v in fields.items() if k != "name"}
            try:
                services[str(name)] = RegistryService.from_mapping(fields, name=str(name))
            except ConfigError as exc:
                raise ConfigError(f"{where}: services.{name}.{exc.field}".rstrip("."),
                                  exc.detail) from None
        active = data.get("active")
        if active is not None and str(active) not in services:
            raise ConfigError(f"{where}: active", f"{active!r} is not a configured service; allowed: "
                                                  f"{', '.join(services) or '(none configured)'}")
        return cls(path=file, services=services, active=str(active) if active is not None else None)
