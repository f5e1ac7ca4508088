"""Air gap: copy the platform's own images from their public registries into the internal one.

The copy engine (:mod:`.engine`) unchanged: public registries offer no catalog (Docker Hub, GCR, Quay
refuse ``/v2/_catalog`` to anonymous callers), so the source side is an endpoint that *knows* its
repositories and tags instead of listing them (:class:`KnownImages`), and the naming puts each image at
its path on the internal registry (:class:`ImageNaming`, ``library/python`` -> ``<path>/python``). One
engine run per public registry; digests are preserved (a multi-platform tag is copied with every
platform), what the target already has is skipped, and every copied tag is verified.

Where a public registry is read from: its API host over HTTPS (Docker Hub's is
``registry-1.docker.io``), or what ``MLRUN_REGISTRY_EXT_PLATFORM_SOURCES`` names for it (a mirror on
the connected side; the tests point every public name at a loopback registry).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlrun_registry_ext.clients.registry.client import RegistryClient, RetryPolicy
from mlrun_registry_ext.clients.registry.login import login
from mlrun_registry_ext.clients.registry.transfer import TIMEOUT
from mlrun_registry_ext.core.platform_images import PlatformImage, source_url
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.features.migrate.ecr_login import ecr_repository_ensurer
from mlrun_registry_ext.features.migrate.engine import Migration
from mlrun_registry_ext.features.migrate.model import DEFAULT_OPTIONS, MigrateOptions, Naming
from mlrun_registry_ext.features.migrate.report import MigrationReport
from mlrun_registry_ext.features.migrate.ui import Progress, live_progress


class KnownImages(RegistryClient):
    """A source whose repositories and tags are given, not listed (public registries have no catalog)."""

    known: dict[str, list[str]]

    def repositories(self, *, required: bool = True) -> list[str] | None:
        return sorted(self.known)

    def tags(self, repository: str, **caps: Any) -> list[str]:
        return list(self.known.get(repository, ()))


@dataclass(frozen=True)
class ImageNaming(Naming):
    """Each public repository at its internal path (:attr:`PlatformImage.path`) under the target's path."""

    paths: Mapping[str, str] = field(default_factory=dict)

    def relative(self, repository: str) -> str | None:
        return repository if repository in self.paths else None

    def target_repository(self, repository: str) -> str:
        path = self.paths[repository]
        return f"{self.target_path}/{path}" if self.target_path else path


def by_registry(images: Sequence[PlatformImage]) -> dict[str, list[PlatformImage]]:
    out: dict[str, list[PlatformImage]] = {}
    for image in images:
        out.setdefault(image.registry, []).append(image)
    return out


def migrate_platform_images(images: Sequence[PlatformImage], target: RegistryService,
                            options: MigrateOptions = DEFAULT_OPTIONS, *,
                            overrides: Mapping[str, str] | None = None, progress: bool | Progress | None = None
                            ) -> list[MigrationReport]:
    """Copy ``images`` into ``target`` (the ``platform_images`` service): one report per public registry,
    in a stable order. A ``role: system`` service has no login of its own (the cluster pulls with its
    role): the push takes the credential chain's (:func:`~mlrun_registry_ext.clients.registry.login.login`)."""
    limit = TIMEOUT if options.timeout is None else options.timeout
    destination = login(target, side="TO")
    reports = []
    for registry, group in sorted(by_registry(images).items()):
        source = RegistryService(name="public", url=source_url(registry, overrides or {}))
        naming = ImageNaming(target_path=target.path, paths={image.repository: image.path for image in group})
        with KnownImages.for_access(source.access, timeout=limit, retry=RetryPolicy()) as src, \
                RegistryClient.for_access(destination, timeout=limit, retry=RetryPolicy()) as dst:
            assert isinstance(src, KnownImages)
            src.known = {}
            for image in group:
                src.known.setdefault(image.repository, []).append(image.tag)
            sink = live_progress(progress)
            report = Migration(src, dst, naming, options, progress=sink,
                               ensure_repository=ecr_repository_ensurer(target)).run()
        report.source = f"{registry} (from {source.location.display})" if overrides and registry in overrides \
            else registry
        reports.append(report)
    return reports
