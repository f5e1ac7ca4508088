"""The platform's settings for a registry: what ``platform-config`` prints or applies, and
``ActiveRegistry.platform_config()`` returns.

The core's :func:`~mlrun_registry_ext.core.platform_config.platform_config` for the active service, plus
what needs the configured services and the installed versions: the platform's own images from a
``platform_images`` service (air gap), the Kaniko executor that trusts the services' CAs (private
CA) and, on a Buildah server, the Buildah builder image (CA, mirrors). It takes plain values (the
service, every configured service, what the platform reported, the builder backend), not an
``ActiveRegistry``, so neither it nor :mod:`.kaniko_image` depends on :mod:`.api`.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlrun_registry_ext.clients.platform_probe import PlatformInfo
from mlrun_registry_ext.core.buildah import BUILDAH
from mlrun_registry_ext.core.config import platform_images_service
from mlrun_registry_ext.core.platform_config import (
    PlatformConfig,
    platform_config,
    with_buildah_image,
    with_kaniko_ca,
    with_platform_images,
)
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.features.kaniko_image import ca_plan
from mlrun_registry_ext.features.platform_images import image_plan


def platform_config_for(service: RegistryService, services: Mapping[str, RegistryService],
                        platform: PlatformInfo, backend: str = "kaniko") -> PlatformConfig:
    """The settings for the active ``service`` (``services``: every configured one; ``platform``: what
    the MLRun API and Nuclio reported, for the platform's own image versions; ``backend``: the MLRun
    server's builder backend, ``ActiveRegistry.builder()``)."""
    config = platform_config(service)
    images = platform_images_service(services)
    if images is not None:  # air gap: the platform's own images from the internal registry
        config = with_platform_images(config, image_plan(images, platform))
    plan = ca_plan(service, services)
    if plan is not None:  # private CA: Nuclio builds with Kaniko whatever MLRun's backend is
        config = with_kaniko_ca(config, plan.reference, plan.services)
    if backend == BUILDAH:  # MLRun's Buildah builds run httpdb.builder.buildah_image: the Buildah builder image
        image = ca_plan(service, services, BUILDAH)
        if image is not None:
            why = [f"trusts the CA bundle of {', '.join(image.services)}"] if image.services else []
            why += [f"pulls {prefix} through {', '.join(locations)}" for prefix, locations in image.mirrors.items()]
            config = with_buildah_image(config, image.reference, "; ".join(why))
    return config
