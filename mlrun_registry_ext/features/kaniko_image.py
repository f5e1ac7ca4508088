"""Private CA and mirrors: build and push the builder image (Kaniko executor or Buildah) the server runs.

The builders cannot mount a CA for ``--registry-certificate`` (see :mod:`mlrun_registry_ext.core.kaniko_ca`),
and MLRun's Buildah backend passes no CA, registries.conf or mirror to buildah at all (see
:mod:`mlrun_registry_ext.core.builder_image`), so the CA (and, for Buildah, the mirrors) go into the
builder image itself, once, and the server is told to use that image (``platform-config``:
``MLRUN_HTTPDB__BUILDER__KANIKO_IMAGE``, ``NUCLIO_KANIKO_CONTAINER_IMAGE``; for Buildah
``MLRUN_HTTPDB__BUILDER__BUILDAH_IMAGE``).

Which CAs: the ``ca_bundle`` of the active service, of the services it pulls from (``pull_from``) and
of the ``platform_images`` service (the builder pulls base images from it on an air-gapped site). Which
mirrors (Buildah): the Docker Hub mirror of the build (``mirror``, as Kaniko's ``--registry-mirror``).
Which base: the executor the installed MLRun uses (``httpdb.builder.kaniko_image``), or the stock
Buildah image (``httpdb.builder.buildah_image``), from the internal registry when a ``platform_images``
service is configured, else from its public registry (or what ``MLRUN_REGISTRY_EXT_PLATFORM_SOURCES``
names for it). Where to: the ``platform_images`` service, else the active one, at
``<path>/kaniko-project/executor:<tag>-ca-<sha>`` or ``<path>/buildah/stable:<tag>-ca-<sha>``. A
multi-platform base: only its linux/amd64 image (the build pods run there; the result is a
single-platform image, and says so).

The base layers are copied blob by blob (digests kept, mounted on the same registry, skipped when
present); only the layers from the top down to the ones that hold the files to extend are read, each
as a stream, its digest checked; the new layer and config are small and built in memory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlrun_registry_ext.clients.extras import extra_module
from mlrun_registry_ext.clients.local_config import read_text_file
from mlrun_registry_ext.clients.registry.client import RegistryClient, RetryPolicy
from mlrun_registry_ext.clients.registry.login import login
from mlrun_registry_ext.clients.registry.transfer import TIMEOUT, copy_blob, open_blob, put_manifest, upload_blob
from mlrun_registry_ext.core.build import pulled_services, registry_mirror
from mlrun_registry_ext.core.builder_image import (
    BACKENDS,
    BUILDAH_IMAGE,
    DOCKER_HUB,
    REGISTRIES_CONF,
    TRUST_BUNDLE,
    Backend,
    builder_layer,
    builder_tag,
    image_path,
)
from mlrun_registry_ext.core.config import platform_images_service
from mlrun_registry_ext.core.kaniko_ca import (
    CA_FILE,
    MAX_CONFIG,
    appended_config,
    appended_manifest,
    bundle_of,
    pick_platform,
    scan_layer,
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
    """What the builder image is made of and where it goes (no network needed to know it)."""

    services: tuple[str, ...]
    bundle: bytes = field(repr=False)
    base_image: str  # the public reference MLRun's config names
    tag: str
    target: RegistryService
    reference: str
    backend: Backend = "kaniko"
    #: registries.conf prefix -> mirror locations, in order (Buildah)
    mirrors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: host[:port] -> the CA bundle of the services on it (Buildah's certs.d)
    per_host: dict[str, bytes] = field(default_factory=dict, repr=False)


def ca_services(service: RegistryService, services: Mapping[str, RegistryService]) -> tuple[RegistryService, ...]:
    """The services whose ``ca_bundle`` the builder must trust, each once: the active ``service``, those it
    pulls from and the ``platform_images`` one among the configured ``services``."""
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


def buildah_base_image() -> str:
    """The image MLRun's Buildah backend runs by default: the installed mlrun's
    ``httpdb.builder.buildah_image`` when it has one, else the stock image its backend names."""
    try:
        default_config = extra_module("mlrun.config").default_config
    except ImportError:  # no mlrun (the extra's one-line error is a ModuleNotFoundError): the stock image
        return f"{BUILDAH_IMAGE}:latest"
    value = default_config.get("httpdb", {}).get("builder", {}).get("buildah_image")
    return str(value) if value else f"{BUILDAH_IMAGE}:latest"


def buildah_mirrors(service: RegistryService, services: Mapping[str, RegistryService]) -> dict[str, tuple[str, ...]]:
    """registries.conf mirrors for the build: Docker Hub's (the ``mirror`` Kaniko gets as ``--registry-mirror``)."""
    mirror = registry_mirror(service, pulled_services(service, services))
    return {DOCKER_HUB: (mirror,)} if mirror else {}


def ca_plan(service: RegistryService, services: Mapping[str, RegistryService], backend: Backend = "kaniko",
            base_image: str | None = None) -> CaPlan | None:
    """The builder image for the builds of the active ``service`` (``services``: every configured one);
    None when there is nothing to add (no service has a CA bundle, and for Buildah no mirror either) or
    the target is '.' (the MLRun server's own registry: nothing to push to)."""
    if backend not in BACKENDS:
        raise ConfigError("backend", f"{backend!r} is not a builder backend; allowed: {', '.join(BACKENDS)}")
    trusted = ca_services(service, services)
    mirrors = buildah_mirrors(service, services) if backend == "buildah" else {}
    target = platform_images_service(services) or service
    if (not trusted and not mirrors) or target.is_server_default:
        return None
    texts = {each.name: _pem_text(each) for each in trusted}
    bundle = bundle_of(list(texts.values()))
    by_host: dict[str, list[tuple[str, str]]] = {}
    for each in trusted:
        by_host.setdefault(each.host, []).append(texts[each.name])
    per_host = {host: bundle_of(pems) for host, pems in by_host.items()}
    if base_image is None:
        base_image = installed_mlrun_defaults()["httpdb.builder.kaniko_image"] if backend == "kaniko" \
            else buildah_base_image()
    _, _, tag = split_public(base_image)
    new_tag = builder_tag(backend, tag, bundle, mirrors)
    reference = f"{target.url.rstrip('/')}/{image_path(backend)}:{new_tag}"
    return CaPlan(tuple(s.name for s in trusted), bundle, base_image, new_tag, target, reference,
                  backend, mirrors, per_host)


@dataclass
class KanikoImageResult:
    """What ``builder-image`` (``kaniko-image``) did."""

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
    backend: str = "kaniko"
    mirrors: dict[str, list[str]] = field(default_factory=dict)

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
    """The Kaniko executor that trusts the services' CAs (``kaniko-image``): :func:`build_builder_image`
    with ``backend="kaniko"``."""
    return build_builder_image(service, services, "kaniko", dry_run=dry_run, timeout=timeout)


def build_builder_image(service: RegistryService, services: Mapping[str, RegistryService],
                        backend: Backend = "kaniko", *, dry_run: bool = False, timeout: float | None = None,
                        base_image: str | None = None) -> KanikoImageResult:
    """Make the builder image of :func:`ca_plan` and push it (unless ``dry_run`` or it is there already).
    The target's login is the credential chain's (:func:`~mlrun_registry_ext.clients.registry.login.login`):
    a ``role: system`` target has none of its own, so the environment's or a docker config's."""
    plan = ca_plan(service, services, backend, base_image)
    if plan is None:
        field_text = "ca_bundle" if backend == "kaniko" else "ca_bundle or mirror"
        raise ConfigError("ca_bundle", f"no service has a {field_text} (or the registry is '.'); set ca_bundle on the "
                                       "registry (or a pull_from service) that uses a private CA"
                                       + ("" if backend == "kaniko" else ", or mirror on the build service"))
    limit = TIMEOUT if timeout is None else timeout
    registry, public_repository, tag = split_public(plan.base_image)
    images = platform_images_service(services)
    target = plan.target
    target_access = login(target, side="TO")
    if base_image is not None and registry == target.host:  # an explicit base on the target: its login
        source_access, source_repository, source_text = target_access, public_repository, plan.base_image
    elif images is not None and base_image is None:  # air gap: the base is on the internal registry (same login)
        image = PlatformImage("executor" if backend == "kaniko" else "buildah", registry, public_repository, tag)
        source_access = target_access
        source_repository = _repository(images.path, image.path)
        source_text = image.internal(images.url)
    else:
        overrides = parse_source_overrides(os.environ.get(SOURCES_ENV))
        source_access = RegistryService(name="public", url=source_url(registry, overrides)).access
        source_repository = public_repository
        source_text = plan.base_image
    repository = _repository(target.path, image_path(backend))
    wanted = (CA_FILE,) if backend == "kaniko" else (TRUST_BUNDLE, REGISTRIES_CONF)
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
            notes.append("the base is multi-platform: the builder image holds its linux/amd64 image only")
        config_descriptor, *layers = manifest.blobs
        config = _read_small(src, source_repository, config_descriptor.digest, config_descriptor.size)
        states = {path: ("absent", b"") for path in wanted}
        for descriptor in reversed(layers):  # the last layer that has a file wins
            pending = tuple(path for path, (state, _) in states.items() if state == "absent")
            if not pending:
                break
            with open_blob(src, source_repository, descriptor.digest, descriptor.size) as blob:
                found = scan_layer(blob, pending)  # type: ignore[arg-type]
                blob.finish()
            states.update({path: value for path, value in found.items() if value[0] != "absent"})
        trust_path = wanted[0]
        if plan.bundle and states[trust_path][0] != "file":
            kind = "a Kaniko executor" if backend == "kaniko" else "a Fedora-based Buildah image"
            raise RegistryAPIError(f"{source_text} has no /{trust_path}; is it {kind}?")
        base_conf = states[REGISTRIES_CONF][1].decode("utf-8", "replace") if backend == "buildah" \
            and states[REGISTRIES_CONF][0] == "file" else None
        try:
            layer = builder_layer(backend, states[trust_path][1], plan.bundle, plan.per_host, base_conf, plan.mirrors)
        except ValueError as exc:
            raise ConfigError("mirror", str(exc)) from None
        what = [f"the CA bundle {short_sha(plan.bundle)} of {', '.join(plan.services)}"] if plan.bundle else []
        what += [f"mirrors of {prefix}: {', '.join(locations)}" for prefix, locations in plan.mirrors.items()]
        new_config = appended_config(config, layer, f"mlrun-registry builder-image: appended {'; '.join(what)}")
        body = appended_manifest(manifest.raw, manifest.media_type, new_config, layer)
        result = Manifest(sha256_digest(body), manifest.media_type, body)
        present = dst.manifest_digest(repository, plan.tag) == result.digest
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
            put_manifest(dst, repository, plan.tag, result)
    if present:
        notes.append("already there: nothing pushed")
    return KanikoImageResult(reference=plan.reference, digest=result.digest, source=source_text,
                             services=list(plan.services), platform=platform, pushed=not present and not dry_run,
                             present=present, dry_run=dry_run,
                             bundle_sha256=sha256_digest(plan.bundle) if plan.bundle else "", notes=notes,
                             backend=backend, mirrors={k: list(v) for k, v in plan.mirrors.items()})
