"""Private CA: build and push a Kaniko executor image that trusts the services' CAs.

The builders cannot mount a CA for ``--registry-certificate`` (see :mod:`mlrun_registry_ext.core.kaniko_ca`),
so the CA goes into the executor image itself, once, and the server is told to use that image
(``platform-config``: ``MLRUN_HTTPDB__BUILDER__KANIKO_IMAGE``, ``NUCLIO_KANIKO_CONTAINER_IMAGE``).

Which CAs: the ``ca_bundle`` of the active service, of the services it pulls from (``pull_from``) and
of the ``platform_images`` service (Kaniko pulls base images from it on an air-gapped site). Which
base: the executor the installed MLRun uses (``httpdb.builder.kaniko_image``), from the internal
registry when a ``platform_images`` service is configured, else from its public registry (or what
``MLRUN_REGISTRY_EXT_PLATFORM_SOURCES`` names for it). Where to: the ``platform_images`` service, else
the active one, at ``<path>/kaniko-project/executor:<tag>-ca-<sha>``. A multi-platform base: only its
linux/amd64 image (Kaniko pods run there; the result is a single-platform image, and says so).

The base layers are copied blob by blob (digests kept, mounted on the same registry, skipped when
present); only the layers from the top down to the one that holds the trust store are read, each as
a stream, its digest checked; the new layer and config are small and built in memory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlrun_registry_ext.clients.local_config import read_text_file
from mlrun_registry_ext.clients.registry.client import RegistryClient, RetryPolicy
from mlrun_registry_ext.clients.registry.login import login
from mlrun_registry_ext.clients.registry.transfer import TIMEOUT, copy_blob, open_blob, put_manifest, upload_blob
from mlrun_registry_ext.core.build import pulled_services
from mlrun_registry_ext.core.config import platform_images_service
from mlrun_registry_ext.core.kaniko_ca import (
    CA_FILE,
    EXECUTOR_PATH,
    MAX_CONFIG,
    appended_config,
    appended_manifest,
    bundle_of,
    ca_image_reference,
    ca_tag,
    combined_trust,
    file_layer,
    find_in_layer,
    pick_platform,
    short_sha,
)
from mlrun_registry_ext.core.manifest import Manifest, parse_manifest, sha256_digest
from mlrun_registry_ext.core.platform_images import (
    SOURCES_ENV,
    PlatformImage,
    parse_source_overrides,
    source_url,
    split_public,
)
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.errors import ConfigError, RegistryAPIError
from mlrun_registry_ext.features.migrate.ecr_login import ecr_repository_ensurer
from mlrun_registry_ext.features.platform_images import installed_mlrun_defaults


@dataclass(frozen=True)
class CaPlan:
    """What the CA executor is made of and where it goes (no network needed to know it)."""

    services: tuple[str, ...]
    bundle: bytes = field(repr=False)
    base_image: str  # the public reference MLRun's config names
    tag: str
    target: RegistryService
    reference: str


def ca_services(service: RegistryService, services: Mapping[str, RegistryService]) -> tuple[RegistryService, ...]:
    """The services whose ``ca_bundle`` Kaniko must trust, each once: the active ``service``, those it pulls
    from and the ``platform_images`` one among the configured ``services``."""
    candidates = [service, *pulled_services(service, services)]
    images = platform_images_service(services)
    if images is not None:
        candidates.append(images)
    seen: dict[str, RegistryService] = {}
    for candidate in candidates:
        if candidate.ca_bundle and not candidate.insecure:
            seen.setdefault(candidate.name, candidate)
    return tuple(seen.values())


def _pem_text(service: RegistryService) -> tuple[str, str]:
    value = service.ca_bundle or ""
    where = f"services.{service.name}.ca_bundle"
    if value.lstrip().startswith("-----BEGIN"):
        return where, value
    return where, read_text_file(Path(os.path.expanduser(value)), where)


def ca_plan(service: RegistryService, services: Mapping[str, RegistryService]) -> CaPlan | None:
    """The CA executor for the builds of the active ``service`` (``services``: every configured one); None
    when no service has a CA bundle or the target is '.' (the MLRun server's own registry: nothing to push
    to)."""
    trusted = ca_services(service, services)
    target = platform_images_service(services) or service
    if not trusted or target.is_server_default:
        return None
    bundle = bundle_of([_pem_text(each) for each in trusted])
    base_image = installed_mlrun_defaults()["httpdb.builder.kaniko_image"]
    _, _, tag = split_public(base_image)
    return CaPlan(tuple(s.name for s in trusted), bundle, base_image, tag, target,
                  ca_image_reference(target.url, tag, bundle))


@dataclass
class KanikoImageResult:
    reference: str
    digest: str
    source: str
    services: list[str]
    platform: str
    pushed: bool
    present: bool  # the tag already pointed at this digest
    dry_run: bool
    bundle_sha256: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _repository(base_path: str, path: str) -> str:
    return f"{base_path}/{path}" if base_path else path


def _read_small(src: RegistryClient, repository: str, digest: str, size: int) -> bytes:
    if size > MAX_CONFIG:
        raise RegistryAPIError(f"the base image config is {size} bytes (more than {MAX_CONFIG}); refused")
    with open_blob(src, repository, digest, size) as blob:
        parts = []
        while chunk := blob.read(size + 1):
            parts.append(chunk)
        blob.finish()
    return b"".join(parts)


def build_kaniko_ca_image(service: RegistryService, services: Mapping[str, RegistryService], *,
                          dry_run: bool = False, timeout: float | None = None) -> KanikoImageResult:
    """Make the CA executor of :func:`ca_plan` and push it (unless ``dry_run`` or it is there already).
    The target's login is the credential chain's (:func:`~mlrun_registry_ext.clients.registry.login.login`):
    a ``role: system`` target has none of its own, so the environment's or a docker config's."""
    plan = ca_plan(service, services)
    if plan is None:
        raise ConfigError("ca_bundle", "no service has a ca_bundle (or the registry is '.'); set ca_bundle on the "
                                       "registry (or a pull_from service) that uses a private CA")
    limit = TIMEOUT if timeout is None else timeout
    registry, public_repository, tag = split_public(plan.base_image)
    images = platform_images_service(services)
    target = plan.target
    target_access = login(target, side="TO")
    if images is not None:  # air gap: the executor is on the internal registry (the target, same login)
        image = PlatformImage("executor", registry, public_repository, tag)
        source_access = target_access
        source_repository = _repository(images.path, image.path)
        source_text = image.internal(images.url)
    else:
        overrides = parse_source_overrides(os.environ.get(SOURCES_ENV))
        source_access = RegistryService(name="public", url=source_url(registry, overrides)).access
        source_repository = public_repository
        source_text = plan.base_image
    repository = _repository(target.path, EXECUTOR_PATH)
    new_tag = ca_tag(tag, plan.bundle)
    notes: list[str] = []
    with RegistryClient.for_access(source_access, timeout=limit, retry=RetryPolicy()) as src, \
            RegistryClient.for_access(target_access, timeout=limit, retry=RetryPolicy()) as dst:
        raw, content_type = src.get_manifest(source_repository, tag)
        manifest = parse_manifest(raw, content_type, f"{source_text}")
        platform = "single-platform"
        if manifest.is_index:
            child = pick_platform(manifest.raw, "linux", "amd64")
            raw, content_type = src.get_manifest(source_repository, child)
            if sha256_digest(raw) != child:
                raise RegistryAPIError(f"{source_text}: the linux/amd64 manifest does not hash to {child}")
            manifest = parse_manifest(raw, content_type, f"{source_text}@{child}")
            platform = "linux/amd64"
            notes.append("the base is multi-platform: the CA image holds its linux/amd64 image only")
        config_descriptor, *layers = manifest.blobs
        config = _read_small(src, source_repository, config_descriptor.digest, config_descriptor.size)
        state, system = "absent", b""
        for descriptor in reversed(layers):  # the last layer that has the file wins
            with open_blob(src, source_repository, descriptor.digest, descriptor.size) as blob:
                state, system = find_in_layer(blob)  # type: ignore[arg-type]
                blob.finish()
            if state != "absent":
                break
        if state != "file":
            raise RegistryAPIError(f"{source_text} has no /{CA_FILE}; is it a Kaniko executor image?")
        layer = file_layer(CA_FILE, combined_trust(system, plan.bundle))
        new_config = appended_config(config, layer, f"mlrun-registry kaniko-image: appended the CA bundle "
                                                    f"{short_sha(plan.bundle)} of {', '.join(plan.services)}")
        body = appended_manifest(manifest.raw, manifest.media_type, new_config, layer)
        result = Manifest(sha256_digest(body), manifest.media_type, body)
        present = dst.manifest_digest(repository, new_tag) == result.digest
        if not present and not dry_run:
            dst.check_repository_name(repository)
            ensure = ecr_repository_ensurer(target)
            if ensure is not None:
                ensure(repository)
            same = src.host == dst.host
            for descriptor in layers:
                if not descriptor.foreign:
                    copy_blob(src, dst, source_repository, repository, descriptor.digest, descriptor.size,
                              mount_from=source_repository if same else None, probe=dst.probes_by_mount)
            upload_blob(dst, repository, layer.data, layer.digest)
            upload_blob(dst, repository, new_config, sha256_digest(new_config))
            put_manifest(dst, repository, new_tag, result)
    if present:
        notes.append("already there: nothing pushed")
    return KanikoImageResult(reference=plan.reference, digest=result.digest, source=source_text,
                             services=list(plan.services), platform=platform, pushed=not present and not dry_run,
                             present=present,
                             dry_run=dry_run, bundle_sha256=sha256_digest(plan.bundle), notes=notes)
