"""Reading the local configuration: the environment, ``.env`` and the YAML config file.

The clients tier's one reader of local settings; what the content means is parsed by
the core (:mod:`~mlrun_registry_ext.core.settings`, :mod:`~mlrun_registry_ext.core.dotenv`,
:mod:`~mlrun_registry_ext.core.config`), which never reads anything itself.

Files are read defensively, because a path in an environment variable can name anything: only a
regular file is opened (a FIFO, a device or ``/dev/zero`` would block or never end), at most
:data:`MAX_FILE_BYTES`, strict UTF-8.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from mlrun_registry_ext.core.config import ConfigFile
from mlrun_registry_ext.core.dotenv import parse_dotenv
from mlrun_registry_ext.core.settings import ENV_PREFIX, Layer, env_var, layer_from_settings, settings_from
from mlrun_registry_ext.errors import ConfigError, quote

#: The largest config or ``.env`` file read (a registry config is a few hundred bytes).
MAX_FILE_BYTES = 1024 * 1024
#: The tenant's namespace domain on an Iguazio / MLRun CE cluster (``docker-registry.<domain>``).
NAMESPACE_DOMAIN_VAR = "IGZ_NAMESPACE_DOMAIN"


def namespace_domain(environ: Mapping[str, str] | None = None) -> str | None:
    """``IGZ_NAMESPACE_DOMAIN`` (None when unset)."""
    return (os.environ if environ is None else environ).get(NAMESPACE_DOMAIN_VAR)


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


def read_env_layer(environ: Mapping[str, str] | None = None) -> Layer:
    """``MLRUN_REGISTRY_EXT_*`` from the process environment."""
    environ = os.environ if environ is None else environ
    if not any(key.upper().startswith(ENV_PREFIX) for key in environ):
        return Layer("env")
    return layer_from_settings("env", settings_from(environ), "env {var}")


def read_dotenv_layer(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Layer:
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
    values = parse_dotenv(text, field, os.environ if environ is None else environ)
    return layer_from_settings("dotenv", settings_from(values), f".env {env_file} {{var}}")


def load_config_file(path: str | Path, namespace_domain: str | None = None) -> ConfigFile:
    """The YAML config file at ``path`` (``~`` expanded), read safely and parsed by the core."""
    file = expand_path(path, env_var("config"))
    return ConfigFile.from_text(file, read_text_file(file, env_var("config")), namespace_domain)
