"""Air gap: which platform images the installed MLRun and Nuclio need, and where they go.

The versions are the platform's own when it reports them (the MLRun server's version, the Nuclio
dashboard's label, else the MLRun server's ``nuclio_version``), else the installed mlrun package and
the Nuclio chart's default (:data:`~mlrun_registry_ext.core.platform_images.DEFAULT_NUCLIO_VERSION`).
MLRun's image defaults are read from the installed mlrun's ``mlrun.config.default_config`` (the
environment does not change it), only here and only when a service says ``platform_images: true``.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlrun_registry_ext.clients.extras import extra_module
from mlrun_registry_ext.clients.platform_probe import PlatformInfo
from mlrun_registry_ext.core.config import platform_images_service
from mlrun_registry_ext.core.platform_images import (
    DEFAULT_NUCLIO_VERSION,
    MLRUN_DEFAULTS,
    ImageSettings,
    image_settings,
    mlrun_defaults_from_config,
    platform_images,
)
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.core.versions import DEV_LABELS
from mlrun_registry_ext.errors import ConfigError


def installed_mlrun_defaults() -> dict[str, str]:
    """The installed mlrun's image defaults (its 1.12.1 values when mlrun is not installed)."""
    try:
        default_config = extra_module("mlrun.config").default_config
    except ImportError:
        return dict(MLRUN_DEFAULTS)
    return mlrun_defaults_from_config(default_config)


def _usable(version: str | None) -> str | None:
    return version if version and version.strip().lower() not in DEV_LABELS else None


def platform_versions(platform: PlatformInfo) -> tuple[str, str]:
    """``(mlrun, nuclio)`` versions whose images the platform pulls."""
    mlrun = _usable(platform.mlrun_server) or _usable(platform.mlrun_client)
    if mlrun is None:
        raise ConfigError("mlrun version", "unknown: install the mlrun package or set MLRUN_DBPATH to the MLRun API, "
                                           "so the MLRun images' tag is known")
    nuclio = _usable(platform.nuclio_dashboard) or _usable(platform.nuclio_from_mlrun) or DEFAULT_NUCLIO_VERSION
    return mlrun, nuclio


def images_service(services: Mapping[str, RegistryService]) -> RegistryService:
    """The ``platform_images: true`` service, or a :class:`ConfigError` saying how to mark one."""
    service = platform_images_service(services)
    if service is None:
        raise ConfigError("platform_images", "no service says platform_images: true; mark the internal registry "
                                             "(role: system) in the config file")
    return service


def image_plan(service: RegistryService, platform: PlatformInfo) -> ImageSettings:
    """The platform images of the reported (or installed) versions, on ``service``, with their settings."""
    if service.is_server_default:
        raise ConfigError("platform_images", "the internal registry needs a real URL, not '.'")
    defaults = installed_mlrun_defaults()
    mlrun, nuclio = platform_versions(platform)
    return image_settings(service.url, platform_images(mlrun, nuclio, mlrun_defaults=defaults), defaults)
