"""Air gap: the images MLRun and Nuclio pull for themselves, and where each lives on an internal registry.

An air-gapped cluster reaches no public registry, so every image the platform pulls on its own (not
the ones users name) must come from the internal one, and the platform must be told so. This module
is the one place that knows, per installed version, which images those are and which settings point
the platform at the copies. Pure: versions and config defaults in, references and settings out.

Where the knowledge comes from (read at these versions; a test compares with the installed mlrun):

- mlrun 1.12.1 (PyPI) ``mlrun/config.py`` ``default_config``: ``images_registry`` and
  ``vendor_images_registry`` (both "": Docker Hub), ``images_to_enrich_registry``
  (``^mlrun/*,^python:3.(9|11)$``), ``default_base_image`` ``mlrun/mlrun``, ``kfp_image``
  ``mlrun/mlrun-kfp``, ``httpdb.builder.kaniko_image`` ``gcr.io/kaniko-project/executor:v1.23.2``,
  ``kaniko_init_container_image`` ``alpine:3.20``, ``kaniko_aws_cli_image`` ``amazon/aws-cli:2.17.16``.
- mlrun 1.12.1 ``mlrun/utils/helpers.py`` ``enrich_image_url``: an ``mlrun/`` image gets the version as
  its tag (``+`` -> ``-``, ``0.0.0-`` dropped) and, for a Python 3.9 client on 1.9.x-1.10.x, ``-py39``
  (``mlrun-kfp`` only from 1.10.0-rc0); then ``images_registry`` (``mlrun/`` images) or
  ``vendor_images_registry`` (the rest) is put in front of images matching ``images_to_enrich_registry``.
- nuclio/nuclio at 9e837f6 (chart 0.20.1, Nuclio 1.14.1):
  ``pkg/containerimagebuilderpusher/types.go``: ``NUCLIO_DASHBOARD_DEFAULT_BASE_REGISTRY_URL`` (default
  "": base images from Docker Hub) and ``NUCLIO_DASHBOARD_DEFAULT_ONBUILD_REGISTRY_URL`` (default
  ``quay.io``); ``pkg/processor/build/runtime/python/runtime.go``: base image ``python:<version>``, onbuild
  image ``<onbuild registry>/nuclio/handler-builder-python-onbuild:<label>-<arch>``;
  ``pkg/processor/build/builder.go`` ``getProcessorDockerfileBaseImage``: ``<base registry>/<image>``;
  ``hack/k8s/helm/nuclio/templates/deployment/dashboard.yaml``: ``NUCLIO_KANIKO_CONTAINER_IMAGE``,
  ``NUCLIO_BUSYBOX_CONTAINER_IMAGE``, ``NUCLIO_AWS_CLI_CONTAINER_IMAGE`` from ``values.yaml``
  (``dashboard.kaniko.image`` executor v1.23.2, ``initContainerImage.busybox`` busybox:stable,
  ``initContainerImage.awscli`` amazon/aws-cli:2.17.16), ``registry.defaultBaseRegistryURL`` and
  ``registry.defaultOnbuildRegistryURL``.

On the internal registry an image keeps its path without the public host (``docker.io/library/`` is
dropped, as Docker writes it): ``mlrun/mlrun:1.12.1``, ``python:3.11``, ``kaniko-project/executor:v1.23.2``,
``nuclio/handler-builder-python-onbuild:1.14.1-amd64``. That is the only layout every setting above
can point at: MLRun and Nuclio put a registry in front of the image's own path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from packaging.version import InvalidVersion, Version

from mlrun_registry_ext.core.compat import slotted
from mlrun_registry_ext.core.location import parse_location
from mlrun_registry_ext.errors import ConfigError, quote

#: The mlrun 1.12.1 defaults this module reads (``mlrun.config.default_config``), by the key's path.
MLRUN_DEFAULTS: Mapping[str, str] = {
    "default_base_image": "mlrun/mlrun",
    "kfp_image": "mlrun/mlrun-kfp",
    "images_to_enrich_registry": "^mlrun/*,^python:3.(9|11)$",
    "httpdb.builder.kaniko_image": "gcr.io/kaniko-project/executor:v1.23.2",
    "httpdb.builder.kaniko_init_container_image": "alpine:3.20",
    "httpdb.builder.kaniko_aws_cli_image": "amazon/aws-cli:2.17.16",
}
#: Nuclio chart 0.20.1 (``hack/k8s/helm/nuclio/values.yaml`` at 9e837f6): the dashboard's Kaniko images.
NUCLIO_KANIKO_DEFAULTS: Mapping[str, str] = {
    "executor": "gcr.io/kaniko-project/executor:v1.23.2",
    "busybox": "busybox:stable",
    "awscli": "amazon/aws-cli:2.17.16",
}
#: The Nuclio version of that chart (its ``appVersion``): used when neither Nuclio nor MLRun reports one.
DEFAULT_NUCLIO_VERSION = "1.14.1"
#: MLRun's default Nuclio runtime (mlrun 1.12.1 ``default_nuclio_runtime``): the base image Nuclio pulls.
DEFAULT_PYTHON = "3.11"
DEFAULT_ARCH = "amd64"
#: Where a public registry's API answers when that is not its name.
PUBLIC_API_HOST: Mapping[str, str] = {"docker.io": "registry-1.docker.io"}
#: The environment variable that points public registries elsewhere (see :func:`parse_source_overrides`).
SOURCES_ENV = "MLRUN_REGISTRY_EXT_PLATFORM_SOURCES"


@slotted(frozen=True)
class PlatformImage:
    """One image the platform pulls by itself.

    ``registry`` is the public registry's name (``docker.io``), ``repository`` the path it stores the image
    under (``library/python``), ``path`` the image's path on the internal registry (``python``).
    """

    purpose: str
    registry: str
    repository: str
    tag: str

    @property
    def path(self) -> str:
        if self.registry == "docker.io" and self.repository.startswith("library/"):
            return self.repository[len("library/"):]
        return self.repository

    @property
    def source(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"

    def internal(self, base: str) -> str:
        """The reference on the internal registry ``base`` (``host[:port][/path]``)."""
        return f"{base.rstrip('/')}/{self.path}:{self.tag}"

    def to_dict(self, base: str | None = None) -> dict[str, str]:
        data = {"purpose": self.purpose, "source": self.source}
        if base is not None:
            data["internal"] = self.internal(base)
        return data


def split_public(reference: str) -> tuple[str, str, str]:
    """``(registry, repository, tag)`` of a public reference as Docker reads it: no registry is Docker
    Hub, a single name there is under ``library/``; the first segment is a registry when it holds a ``.``
    or ``:`` or is ``localhost``."""
    name, sep, tag = reference.rpartition(":")
    if not sep or "/" in tag:
        name, tag = reference, "latest"
    head, slash, rest = name.partition("/")
    if slash and ("." in head or ":" in head or head == "localhost"):
        registry, repository = head, rest
    else:
        registry, repository = "docker.io", name
    if registry == "docker.io" and "/" not in repository:
        repository = f"library/{repository}"
    return registry, repository, tag


def mlrun_image_tag(image: str, mlrun_version: str, python_version: str = DEFAULT_PYTHON) -> str:
    """The tag MLRun gives ``image`` (``mlrun/...``) for ``mlrun_version``, as ``enrich_image_url`` does."""
    tag = mlrun_version.replace("+", "-").replace("0.0.0-", "")
    py39 = python_version.startswith("3.9")
    if mlrun_version.startswith("0.0.0-") or "unstable" in mlrun_version:
        suffix = "-py39" if py39 else ""
    else:
        try:
            version = Version(mlrun_version)
        except InvalidVersion:
            raise ConfigError("mlrun version", f"{quote(mlrun_version)} is not a version; expected e.g. 1.12.1")\
                from None
        suffix = "-py39" if py39 and Version("1.9.0rc0") <= version < Version("1.11.0rc0") else ""
        if "mlrun-kfp" in image and version < Version("1.10.0rc0"):
            suffix = ""
    return tag + suffix


def platform_images(mlrun_version: str, nuclio_version: str = DEFAULT_NUCLIO_VERSION, *,
                    mlrun_defaults: Mapping[str, str] = MLRUN_DEFAULTS, python_version: str = DEFAULT_PYTHON,
                    arch: str = DEFAULT_ARCH) -> tuple[PlatformImage, ...]:
    """Every image MLRun ``mlrun_version`` and Nuclio ``nuclio_version`` pull by themselves, once each.

    ``mlrun_defaults``: the installed mlrun's config defaults (keys of :data:`MLRUN_DEFAULTS`; see
    :func:`mlrun_defaults_from_config`). The MLRun images get the tag MLRun itself would ask for.
    """
    wanted: list[tuple[str, str]] = []
    for key, purpose in (("default_base_image", "MLRun function base image (default_base_image)"),
                         ("kfp_image", "MLRun workflow runner (kfp_image)")):
        image = mlrun_defaults[key]
        if ":" not in image.rsplit("/", 1)[-1]:
            image = f"{image}:{mlrun_image_tag(image, mlrun_version, python_version)}"
        wanted.append((image, purpose))
    wanted += [
        (mlrun_defaults["httpdb.builder.kaniko_image"], "MLRun Kaniko executor (httpdb.builder.kaniko_image)"),
        (mlrun_defaults["httpdb.builder.kaniko_init_container_image"],
         "MLRun Kaniko init container (httpdb.builder.kaniko_init_container_image)"),
        (mlrun_defaults["httpdb.builder.kaniko_aws_cli_image"],
         "MLRun ECR init container (httpdb.builder.kaniko_aws_cli_image)"),
        (f"python:{python_version}", "Nuclio base image and MLRun vendor image (python runtime)"),
        (f"quay.io/nuclio/handler-builder-python-onbuild:{nuclio_version}-{arch}", "Nuclio onbuild image (python)"),
        (NUCLIO_KANIKO_DEFAULTS["executor"], "Nuclio Kaniko executor (dashboard.kaniko.image)"),
        (NUCLIO_KANIKO_DEFAULTS["busybox"], "Nuclio Kaniko init container (initContainerImage.busybox)"),
        (NUCLIO_KANIKO_DEFAULTS["awscli"], "Nuclio ECR init container (initContainerImage.awscli)"),
    ]
    seen: dict[str, PlatformImage] = {}
    for reference, purpose in wanted:
        found = PlatformImage(purpose, *split_public(reference))
        if found.source in seen:
            first = seen[found.source]
            seen[found.source] = PlatformImage(f"{first.purpose}; {purpose}", first.registry, first.repository,
                                               first.tag)
        else:
            seen[found.source] = found
    return tuple(seen.values())


def mlrun_defaults_from_config(default_config: Mapping[str, Any]) -> dict[str, str]:
    """The keys of :data:`MLRUN_DEFAULTS` read from mlrun's ``mlrun.config.default_config`` (a missing
    one keeps the 1.12.1 value)."""
    out = dict(MLRUN_DEFAULTS)
    for key in MLRUN_DEFAULTS:
        node: Any = default_config
        for part in key.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if isinstance(node, str) and node.strip():
            out[key] = node.strip()
    return out


@slotted(frozen=True)
class ImageSettings:
    """What points MLRun and Nuclio at the internal registry ``base`` for ``images``."""

    base: str
    images: tuple[PlatformImage, ...]
    mlrun_env: dict[str, str]
    nuclio_env: dict[str, str]
    nuclio_values: dict[str, Any]


def _find(images: tuple[PlatformImage, ...], text: str) -> PlatformImage:
    return next(image for image in images if text in image.purpose)


def _repository_tag(reference: str) -> dict[str, str]:
    repository, _, tag = reference.rpartition(":")
    return {"repository": repository, "tag": tag}


def image_settings(base: str, images: tuple[PlatformImage, ...],
                   mlrun_defaults: Mapping[str, str] = MLRUN_DEFAULTS) -> ImageSettings:
    """The MLRun API's and the Nuclio dashboard's settings (env and Nuclio chart values) for ``base``.

    MLRun: ``images_registry`` and ``vendor_images_registry`` (with the trailing ``/`` MLRun expects),
    ``images_to_enrich_registry`` (its default, written out so a changed value on the server cannot
    leave ``python:3.x`` on Docker Hub) and the three Kaniko images. Nuclio: the base and onbuild
    registries and its own three Kaniko images.
    """
    base = base.rstrip("/")
    kaniko = _find(images, "MLRun Kaniko executor").internal(base)
    mlrun_env = {
        "MLRUN_IMAGES_REGISTRY": f"{base}/",
        "MLRUN_VENDOR_IMAGES_REGISTRY": f"{base}/",
        "MLRUN_IMAGES_TO_ENRICH_REGISTRY": mlrun_defaults["images_to_enrich_registry"],
        "MLRUN_HTTPDB__BUILDER__KANIKO_IMAGE": kaniko,
        "MLRUN_HTTPDB__BUILDER__KANIKO_INIT_CONTAINER_IMAGE":
            _find(images, "MLRun Kaniko init container").internal(base),
        "MLRUN_HTTPDB__BUILDER__KANIKO_AWS_CLI_IMAGE": _find(images, "MLRun ECR init container").internal(base),
    }
    executor = _find(images, "Nuclio Kaniko executor").internal(base)
    busybox = _find(images, "Nuclio Kaniko init container").internal(base)
    awscli = _find(images, "Nuclio ECR init container").internal(base)
    nuclio_env = {
        "NUCLIO_DASHBOARD_DEFAULT_BASE_REGISTRY_URL": base,
        "NUCLIO_DASHBOARD_DEFAULT_ONBUILD_REGISTRY_URL": base,
        "NUCLIO_KANIKO_CONTAINER_IMAGE": executor,
        "NUCLIO_BUSYBOX_CONTAINER_IMAGE": busybox,
        "NUCLIO_AWS_CLI_CONTAINER_IMAGE": awscli,
    }
    nuclio_values = {
        "registry": {"defaultBaseRegistryURL": base, "defaultOnbuildRegistryURL": base},
        "dashboard": {"kaniko": {"image": _repository_tag(executor), "initContainerImage": {
            "busybox": _repository_tag(busybox), "awscli": _repository_tag(awscli)}}},
    }
    return ImageSettings(base, images, mlrun_env, nuclio_env, nuclio_values)


_HOST_RE = re.compile(r"[a-z0-9.-]+(:[0-9]{1,5})?")


def parse_source_overrides(text: str | None, field: str = SOURCES_ENV) -> dict[str, str]:
    """``docker.io=URL,quay.io=URL``: read a public registry's images from another registry instead (a
    pull-through mirror on the connected side; the tests' loopback registries). Each URL is a registry
    URL as everywhere (``http://`` only by explicit choice); one-line :class:`ConfigError` otherwise."""
    out: dict[str, str] = {}
    if not text or not text.strip():
        return out
    for item in text.split(","):
        name, sep, url = item.strip().partition("=")
        name = name.strip().lower()
        if not sep or not _HOST_RE.fullmatch(name) or not url.strip():
            raise ConfigError(field, f"{quote(item.strip(), 60)} is not registry=URL; expected e.g. "
                                     "docker.io=https://mirror.example.com,quay.io=https://quay-mirror.example.com")
        if name in out:
            raise ConfigError(field, f"{quote(name)} is given twice; name each public registry once")
        parse_location(url.strip(), field)  # the URL grammar's own one-line errors
        out[name] = url.strip()
    return out


def source_url(registry: str, overrides: Mapping[str, str]) -> str:
    """Where to read ``registry``'s images: an override, else the registry's API host over HTTPS."""
    return overrides.get(registry) or f"https://{PUBLIC_API_HOST.get(registry, registry)}"
