"""The platform's settings for a registry: what ``platform-config`` prints or applies, and
``ActiveRegistry.platform_config()`` returns.

The core's :func:`~mlrun_registry_ext.core.platform_config.platform_config` for the active service, plus
what needs the configured services and the installed versions: the platform's own images from a
``platform_images`` service (air gap) and the Kaniko executor that trusts the services' CAs (private
CA). It takes plain values (the service, every configured service, what the platform reported), not
an ``ActiveRegistry``, so neither it nor :mod:`.kaniko_image` depends on :mod:`.api`.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlrun_registry_ext.clients.platform_probe import PlatformInfo
from mlrun_registry_ext.core.config import platform_images_service
from mlrun_registry_ext.core.platform_config import (
    PlatformConfig,
    platform_config,
    with_kaniko_ca,
    with_platform_images,
)
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.features.kaniko_image import ca_plan
from mlrun_registry_ext.features.platform_images import image_plan


def platform_config_for(service: RegistryService, services: Mapping[str, RegistryService],
                        platform: PlatformInfo) -> PlatformConfig:
    """The settings for the active ``service`` (``services``: every configured one; ``platform``: what
    the MLRun API and Nuclio reported, for the platform's own image versions)."""
    config = platform_config(service)
    images = platform_images_service(services)
    if images is not None:  # air gap: the platform's own images from the internal registry
        config = with_platform_images(config, image_plan(images, platform))
    plan = ca_plan(service, services)
    if plan is not None:  # private CA: the builders run an executor that trusts the services' CAs
        config = with_kaniko_ca(config, plan.reference, plan.services)
    return config
