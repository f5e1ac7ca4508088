"""Where registry settings come from: environment, ``.env`` and the YAML config file.

Each source is read on its own (pydantic-settings' env source, python-dotenv and PyYAML for the
files) so that resolution can merge them field by field and remember, for every value, where it
came from.

Files are read defensively, because a path in an environment variable can name anything: only a
regular file is opened (a FIFO, a device or ``/dev/zero`` would block or never end), at most
:data:`MAX_FILE_BYTES`, strict UTF-8; YAML aliases (the "billion laughs" bomb), nesting deeper than
:data:`MAX_YAML_DEPTH` and duplicate keys (silently last-wins otherwise) are refused.
"""

from __future__ import annotations

import functools
import io
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from mlrun_registry_ext.core.service import RegistryService, validate_dns1123_label
from mlrun_registry_ext.errors import ConfigError, quote

ENV_PREFIX = "MLRUN_REGISTRY_EXT_"
#: Fields of a service that a layer may set (resources and role come from the config file only).
LAYER_FIELDS = ("url", "username", "password", "image_prefix", "secret_name", "insecure", "ca_bundle")
CREDENTIAL_FIELDS = ("username", "password", "secret_name")
#: What belongs to one registry: taken only from a layer that names no URL or the same registry.
REGISTRY_FIELDS = (*CREDENTIAL_FIELDS, "insecure", "ca_bundle")
#: The largest config or ``.env`` file read (a registry config is a few hundred bytes).
MAX_FILE_BYTES = 1024 * 1024
#: The deepest YAML nesting accepted (a service is four levels deep).
MAX_YAML_DEPTH = 16


def expand_path(path: str | Path, field: str) -> Path:
    """``~`` expanded; ``~nouser/x`` or a missing home is a :class:`ConfigError`, not a RuntimeError."""
    text = str(path)
    if not text.strip() or "\x00" in text:
        raise ConfigError(field, "expected a file path")
    try:
        return Path(text).expanduser()
    except (RuntimeError, KeyError):
        raise ConfigError(field, f"{quote(text)}: the home directory in '~' cannot be determined") from None


def read_text_file(path: Path, field: str, limit: int = MAX_FILE_BYTES) -> str:
    """The text of a regular file of at most ``limit`` bytes, strict UTF-8; anything else a :class:`ConfigError`.

    ``stat`` comes first, so a FIFO or device is refused without being opened; the file is then
    opened non-blocking and checked again (it may have been swapped in between), and never more than
    ``limit`` + 1 bytes are read.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(field, f"{quote(str(path))} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(field, f"{quote(str(path))} cannot be read ({type(exc).__name__})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(field, f"{quote(str(path))} is not a regular file")
    if info.st_size > limit:
        raise ConfigError(field, f"{quote(str(path))} is {info.st_size} bytes; at most {limit} are read")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError(field, f"{quote(str(path))} cannot be read ({type(exc).__name__})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ConfigError(field, f"{quote(str(path))} is not a regular file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ConfigError(field, f"{quote(str(path))} is larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(field, f"{quote(str(path))} is not UTF-8 text (byte {exc.start})") from None


def load_yaml(text: str, field: str) -> Any:
    """``yaml.safe_load`` without aliases, duplicate keys or deep nesting; errors name ``field``."""
    import yaml

    loader = None
    try:
        loader = _strict_loader()(text)  # the reader already refuses control characters here
        return loader.get_single_data()
    except _YamlRefused as exc:
        raise ConfigError(field, str(exc)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(field, f"not readable YAML{where} ({type(exc).__name__})") from None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        # ValueError: e.g. an integer of thousands of digits; TypeError: an unhashable mapping key
        raise ConfigError(field, f"not readable YAML ({type(exc).__name__})") from None
    finally:
        if loader is not None:
            loader.dispose()


class _YamlRefused(Exception):
    """A YAML construct the config file may not use (alias, duplicate key, deep nesting)."""


@functools.cache
def _strict_loader() -> Any:
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """SafeLoader that refuses aliases, duplicate keys and nesting deeper than MAX_YAML_DEPTH."""

        _depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise _YamlRefused(f"YAML aliases (*name) are not allowed (line {mark.line + 1})")
            self._depth += 1
            try:
                if self._depth > MAX_YAML_DEPTH:
                    mark = self.peek_event().start_mark
                    raise _YamlRefused(f"nested deeper than {MAX_YAML_DEPTH} levels (line {mark.line + 1})")
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:
                    raise _YamlRefused(f"a mapping key is not a plain value (line {key_node.start_mark.line + 1})")\
                        from None
                if duplicate:
                    raise _YamlRefused(f"duplicate key {quote(key)} (line {key_node.start_mark.line + 1}); each key "
                                       "may appear once")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


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
    """``MLRUN_REGISTRY_EXT_*`` from a ``.env`` file (default: ``./.env``), below the real environment.

    A missing ``.env`` or a directory of that name (a virtualenv) is no layer; a FIFO, a device, an
    oversized or non-UTF-8 file, or one of our variables set twice is a :class:`ConfigError`.
    """
    env_file = expand_path(path, "dotenv") if path else Path(".env")
    try:
        info = os.stat(env_file)
    except FileNotFoundError:
        return Layer("dotenv")
    except OSError:
        info = None
    if info is not None and stat.S_ISDIR(info.st_mode):
        return Layer("dotenv")
    field = f".env {env_file}"
    text = read_text_file(env_file, field)
    values = _dotenv_values(text, field)
    source = _text_dotenv_source()(settings_class(), values, env_prefix=ENV_PREFIX, env_ignore_empty=True)
    raw = {key: value for key, value in source().items() if value is not None}
    return _layer_from_raw("dotenv", raw, f".env {env_file} {{var}}")


def _dotenv_values(text: str, field: str) -> dict[str, str | None]:
    """python-dotenv's reading of ``text``; one of our variables given twice is refused."""
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    seen: set[str] = set()
    for binding in parse_stream(io.StringIO(text)):
        key = (binding.key or "").upper()
        if not key.startswith(ENV_PREFIX):
            continue
        if key in seen:
            raise ConfigError(field, f"{quote(key)} is set twice (line {binding.original.line}); set it once")
        seen.add(key)
    return dict(dotenv_values(stream=io.StringIO(text)))


@functools.cache
def _text_dotenv_source() -> Any:
    """pydantic-settings' dotenv source, fed text that :func:`read_text_file` already read safely."""
    from pydantic_settings import DotEnvSettingsSource
    from pydantic_settings.sources.utils import parse_env_vars

    class TextDotEnvSource(DotEnvSettingsSource):
        def __init__(self, settings_cls: Any, text_values: dict[str, str | None], **kwargs: Any) -> None:
            self.text_values = text_values  # before __init__, which reads the variables
            super().__init__(settings_cls, env_file=None, **kwargs)

        def _read_env_files(self) -> Any:
            return parse_env_vars(self.text_values, self.case_sensitive, self.env_ignore_empty,
                                  self.env_parse_none_str)

    return TextDotEnvSource


@dataclass
class ConfigFile:
    """A YAML file with several named services and an ``active`` one."""

    path: Path
    services: dict[str, RegistryService]
    active: str | None

    @classmethod
    def load(cls, path: str | Path) -> ConfigFile:
        file = expand_path(path, env_var("config"))
        where = f"config file {file}"
        text = read_text_file(file, env_var("config"))
        data = load_yaml(text, f"{env_var('config')} {file}") or {}
        if not isinstance(data, dict):
            raise ConfigError(where, "expected a mapping with 'services' and optionally 'active'")
        unknown = sorted(str(key) for key in set(data) - {"services", "active"})
        if unknown:
            raise ConfigError(f"{where}: {quote(unknown[0], 40)}", "unknown key; allowed: services, active")
        raw_services = data.get("services") or {}
        if isinstance(raw_services, list):
            for index, item in enumerate(raw_services):
                if not isinstance(item, dict) or "name" not in item:
                    raise ConfigError(f"{where}: services[{index}]", "expected a mapping with a name and fields")
            names = [str(item["name"]) for item in raw_services]
            for index, name in enumerate(names):
                if name in names[:index]:
                    raise ConfigError(f"{where}: services[{index}].name", f"{quote(name)} is used twice; "
                                                                          "each service needs its own name")
            raw_services = dict(zip(names, raw_services, strict=True))
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
            raise ConfigError(f"{where}: active", f"{quote(active)} is not a configured service; allowed: "
                                                  f"{', '.join(services) or '(none configured)'}")
        return cls(path=file, services=services, active=str(active) if active is not None else None)
