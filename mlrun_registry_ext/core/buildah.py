"""MLRun's builder backends: which one builds a function, and what MLRun's Buildah backend obeys.

Pure: settings and services in, names, arguments and notes out. This is the one place that knows
the Buildah facts; ``targets`` (what is written into a function), ``platform_config`` (what the MLRun
API is set to) and the builder-image and real-build code import them from here.

Where each fact comes from (mlrun/mlrun, read by commit with the search tool's ``read_file``; the PRs
are #9920 (the ``BuilderBackend`` seam), #9930 (rootless Buildah), #9942 (cloud-registry logins) and
#9976, July 2026; no release tag that ships them could be read here):

- ``BUILDAH_PY`` = ``server/py/services/api/utils/builder/buildah.py`` at 9c0c31d1 (the newest stored):
  ``make_buildah_pod``, ``_build_env``, ``_build_script``, ``_tls_verify_flag``.
- ``BASE_PY`` = ``server/py/services/api/utils/builder/base.py`` at 82eefe7: ``make_dockerfile``,
  ``_parse_extra_args_for_dockerfile``, ``_validate_extra_args``, ``resolve_builder_pod_labels``.
- ``INIT_PY`` = ``server/py/services/api/utils/builder/__init__.py`` at 7f3709e:
  ``resolve_builder_backend``, ``_buildah_fallback_reason``, ``build_image`` (the build pod's labels).
- ``KANIKO_PY`` = ``server/py/services/api/utils/builder/kaniko.py`` at c4da47ad: ``make_kaniko_pod``,
  ``configure_kaniko_ecr_env_and_init_container``.
- ``REGISTRY_AUTH`` = ``server/py/services/api/utils/builder/registry_auth.py`` at 53b1179: the cloud logins
  of a Buildah build (ECR: the pod's own AWS identity; ACR: the Azure workload-identity token the
  ``azure.workload.identity/use`` build-pod label brings; GAR: the GKE metadata server), merged into the
  authfile over a copied-in ``spec.build.secret``.
- ``BACKEND_TESTS`` = ``server/py/services/api/tests/unit/utils/test_builder_backend.py`` at d96454a: the
  default is Kaniko; ECR, ACR and GAR targets stay on Buildah (INIT_PY at 7f3709e, older, still sent them to
  Kaniko: ``_buildah_fallback_reason``, removed with ML-12886).
- Another variant is stored too, ``server/py/services/api/utils/image_builder/`` at 3264284
  (``httpdb.builder.container_builder_kind``, ``DOCKER_CONFIG=/tmp/.docker``, vfs fixed); with one stored
  version against 26 of ``builder/buildah.py`` it looks like a side line, and which variant a release ships
  could not be read: this module follows ``builder/``.
- ``CLIENT_SPEC`` = ``server/py/services/api/crud/client_spec.py`` at a639934 and
  ``mlrun/common/schemas/client_spec.py`` at 28b5b95: the client-spec has no builder field.
- mlrun 1.12.1 (PyPI) ``mlrun/config.py``: ``httpdb.builder.pod_labels`` and
  ``default_function_pod_labels`` (base64 of a JSON map, default ``e30=``), the insecure modes (default
  ``auto``), ``kaniko_image`` ``gcr.io/kaniko-project/executor:v1.23.2``. It has no Buildah keys; the
  ``mlrun/config.py`` that has them (and their defaults) was not among the stored versions, so the keys
  below are the ones the backend code reads.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mlrun_registry_ext.core.notes import Note
from mlrun_registry_ext.errors import ConfigError, quote

if TYPE_CHECKING:  # annotations only: core.service reads the setting's grammar from here
    from mlrun_registry_ext.core.service import RegistryService

# --- which backend ------------------------------------------------------------------------------------
BackendName = Literal["kaniko", "buildah"]
KANIKO: BackendName = "kaniko"
BUILDAH: BackendName = "buildah"
AUTO = "auto"
#: What the MLRun server can run: INIT_PY ``resolve_builder_backend``'s table (anything else is refused).
BACKENDS: tuple[BackendName, ...] = (KANIKO, BUILDAH)
#: The package's ``builder_backend`` setting: ``auto`` takes what the server reports, else MLRun's default.
BACKEND_SETTINGS = (AUTO, KANIKO, BUILDAH)
#: MLRun's default (BACKEND_TESTS ``test_resolve_builder_backend_default_is_kaniko``: "the shipped
#: default"); every MLRun before the seam (1.12.1 and older) only has Kaniko.
MLRUN_DEFAULT_BACKEND: BackendName = KANIKO

# --- the MLRun API's settings (mlconf keys as the env of the mlrun-api Deployment) -------------------
#: INIT_PY: ``config.httpdb.builder.builder_backend`` picks the backend server-wide.
BUILDER_BACKEND_ENV = "MLRUN_HTTPDB__BUILDER__BUILDER_BACKEND"
#: BUILDAH_PY ``make_buildah_pod``: the build pod's image.
BUILDAH_IMAGE_ENV = "MLRUN_HTTPDB__BUILDER__BUILDAH_IMAGE"
#: BUILDAH_PY: ``--storage-driver``, checked against :data:`STORAGE_DRIVERS`.
BUILDAH_STORAGE_DRIVER_ENV = "MLRUN_HTTPDB__BUILDER__BUILDAH_STORAGE_DRIVER"
#: BUILDAH_PY ``_build_script``: ``push --retry``.
BUILDAH_PUSH_RETRY_ENV = "MLRUN_HTTPDB__BUILDER__BUILDAH_PUSH_RETRY"
#: BUILDAH_PY and KANIKO_PY read the same two modes (``enabled``/``disabled``/``auto``).
INSECURE_PUSH_ENV = "MLRUN_HTTPDB__BUILDER__INSECURE_PUSH_REGISTRY_MODE"
INSECURE_PULL_ENV = "MLRUN_HTTPDB__BUILDER__INSECURE_PULL_REGISTRY_MODE"
#: BASE_PY ``resolve_builder_pod_labels`` (both backends; KANIKO_PY before the refactor too): the labels
#: of every build pod, ``config.get_builder_pod_labels()`` = base64 JSON of ``httpdb.builder.pod_labels``.
BUILDER_POD_LABELS_ENV = "MLRUN_HTTPDB__BUILDER__POD_LABELS"
#: mlrun 1.12.1 ``mlrun/config.py`` ``default_function_pod_labels``: labels of every function pod
#: (below ``function.metadata.labels``).
FUNCTION_POD_LABELS_ENV = "MLRUN_DEFAULT_FUNCTION_POD_LABELS"
#: BUILDAH_PY ``_SUPPORTED_STORAGE_DRIVERS``; anything else raises before a pod is made.
STORAGE_DRIVERS = ("overlay", "vfs")
#: What platform-config recommends: vfs needs neither /dev/fuse nor rootless kernel overlay in the pod
#: (the build runs rootless, uid 1000, SETUID/SETGID only: BUILDAH_PY ``_caps_security_context``).
DEFAULT_STORAGE_DRIVER = "vfs"
#: The image BUILDAH_PY's ``BuildahBackend`` docstring builds on ("the stock quay.io/buildah/stable image");
#: MLRun's configured default tag could not be read.
STOCK_IMAGE = "quay.io/buildah/stable"

# --- the build pod (BUILDAH_PY) -----------------------------------------------------------------------
#: ``_AUTHFILE_DIR`` / ``_AUTHFILE_PATH``: ``spec.build.secret``'s ``.dockerconfigjson`` is mounted there as
#: ``config.json`` (with a cloud registry: copied there by an init container and merged with the minted
#: logins), and ``REGISTRY_AUTH_FILE`` points at it.
AUTHFILE_DIR = "/auth"
AUTHFILE = "/auth/config.json"
AUTHFILE_ENV = "REGISTRY_AUTH_FILE"
#: ``_CONTEXT_DIR``: the Dockerfile and staged files; bind-mounted into RUN steps with ``--volume``.
CONTEXT_DIR = "/empty"
DOCKERFILE = f"{CONTEXT_DIR}/Dockerfile"
#: ``_BUILD_UID``/``_BUILD_HOME``; ``BUILDAH_ISOLATION=chroot`` in ``_build_env``.
BUILD_UID = 1000
BUILD_HOME = "/home/build"
ISOLATION = "chroot"
#: The insecure modes (KANIKO_PY and BUILDAH_PY ``_tls_verify_flag``).
INSECURE_MODES = ("enabled", "disabled", "auto")


def tls_verify_args(mode: str, has_registry_auth: bool) -> list[str]:
    """BUILDAH_PY ``_tls_verify_flag``: ``--tls-verify=false`` when the mode is ``enabled``, or ``auto``
    with no login for that side (``bud``: the pull side, ``push``: the push side); Kaniko's
    ``--insecure-pull`` / ``--insecure`` follow the same rule (KANIKO_PY ``make_kaniko_pod``)."""
    if mode not in INSECURE_MODES:
        raise ConfigError("insecure mode", f"{quote(mode)} is not allowed; allowed: {', '.join(INSECURE_MODES)}")
    return ["--tls-verify=false"] if mode == "enabled" or (mode == "auto" and not has_registry_auth) else []


def _global_args(storage_driver: str, verbose: bool) -> list[str]:
    if storage_driver not in STORAGE_DRIVERS:
        raise ConfigError("buildah_storage_driver", f"{quote(storage_driver)} is not allowed; allowed: "
                                                    f"{', '.join(STORAGE_DRIVERS)}")
    return ["buildah", *(["--log-level", "debug"] if verbose else []), "--storage-driver", storage_driver]


def bud_args(dest: str, *, storage_driver: str = DEFAULT_STORAGE_DRIVER, insecure_pull_mode: str = "auto",
             has_pull_auth: bool = False, build_arg_names: Sequence[str] = (), verbose: bool = False) -> list[str]:
    """BUILDAH_PY ``_build_script``'s build command, word for word: ``buildah [--log-level debug]
    --storage-driver D bud --volume /empty:/empty [--tls-verify=false] [--build-arg NAME]... --tag DEST
    --file /empty/Dockerfile /empty``. The base image is pulled here, through ``REGISTRY_AUTH_FILE``
    (no ``--authfile``); ``has_pull_auth``: a build secret, or a cloud login for the base image's registry.
    ``build_arg_names``: the builder env and project secrets, by name (their values come from the pod env)."""
    args = [*_global_args(storage_driver, verbose), "bud", "--volume", f"{CONTEXT_DIR}:{CONTEXT_DIR}"]
    args += tls_verify_args(insecure_pull_mode, has_pull_auth)
    for name in build_arg_names:
        args += ["--build-arg", name]
    return [*args, "--tag", dest, "--file", DOCKERFILE, CONTEXT_DIR]


def push_args(dest: str, *, storage_driver: str = DEFAULT_STORAGE_DRIVER, insecure_push_mode: str = "auto",
              has_push_auth: bool = False, retry: int | str = 3, verbose: bool = False) -> list[str]:
    """BUILDAH_PY ``_build_script``'s push command, word for word: ``buildah [...] --storage-driver D push
    [--tls-verify=false] --retry N [--authfile /auth/config.json] DEST docker://DEST``; ``has_push_auth``:
    a build secret, or a cloud login for the destination."""
    args = [*_global_args(storage_driver, verbose), "push", *tls_verify_args(insecure_push_mode, has_push_auth)]
    args += ["--retry", str(retry)]
    if has_push_auth:
        args += ["--authfile", AUTHFILE]
    return [*args, dest, f"docker://{dest}"]


def build_env(*, has_secret: bool, cloud_registry: bool = False) -> dict[str, str]:
    """BUILDAH_PY ``_build_env``'s fixed variables (the Dockerfile and staged files come as base64 too)."""
    env = {"BUILDAH_ISOLATION": ISOLATION, "HOME": BUILD_HOME}
    if has_secret or cloud_registry:
        env[AUTHFILE_ENV] = AUTHFILE
    return env


def dockerfile_args(extra_args: str) -> list[str]:
    """What ``spec.build.extra_args`` becomes on Buildah: BASE_PY ``make_dockerfile`` turns each
    ``--build-arg K=V`` into ``ARG K`` (``_parse_extra_args_for_dockerfile``; the name only) and BUILDAH_PY
    never passes ``extra_args`` to buildah: every other flag, and the value, is dropped. (Kaniko gets
    the same ``ARG K`` and the flags as they are: KANIKO_PY ``_add_kaniko_args_with_all_build_args``.)"""
    names: list[str] = []
    is_build_arg = False
    for word in extra_args.split():
        if word == "--build-arg":
            is_build_arg = True
        elif word.startswith("--"):
            is_build_arg = False
        elif is_build_arg:
            names.append(word.split("=", 1)[0])
    return [f"ARG {name}" for name in names]


# --- cloud registries on a Buildah server (REGISTRY_AUTH) ---------------------------------------------
#: Note code: how MLRun's Buildah build logs in to a cloud registry (not with what Kaniko would use).
BUILDAH_CLOUD_LOGIN = "buildah-cloud-login"


def cloud_login_notes(service: RegistryService) -> tuple[Note, ...]:
    """REGISTRY_AUTH: a Buildah build mints its own login for ECR, ACR and GAR/GCR from the build pod's
    identity; what the package configures for Kaniko there (ECR keys in the server's AWS secret, the
    ``credHelpers`` config of workload identity) is not what it uses."""
    cite = "registry_auth.py at 53b1179"
    if service.ecr is not None:
        keys = (" The access keys configured here (and MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY_SECRET) are not "
                "used by it." if service.has_credentials else "")
        return (Note(BUILDAH_CLOUD_LOGIN,
                     f"ECR on Buildah: an init container mints the token with the build pod's own AWS identity "
                     f"(IRSA or the node's role) and creates the repository ({cite}).{keys}"),)
    if service.rules.identity_labels:  # the provider with pod-labelled workload identity: ACR
        return (Note(BUILDAH_CLOUD_LOGIN,
                     "ACR on Buildah: an init container exchanges the build pod's Azure workload-identity token "
                     "for an ACR token; the pod gets the token only with the azure.workload.identity/use label "
                     f"from httpdb.builder.pod_labels ({cite}; `platform-config` sets it for auth: "
                     "workload-identity)"),)
    if service.rules.credential_helper == "gcr":  # GCR and Artifact Registry
        return (Note(BUILDAH_CLOUD_LOGIN,
                     "Artifact Registry / GCR on Buildah: the build asks the GKE metadata server for the build "
                     f"pod's service account token just before `bud` and `push` ({cite})"),)
    return ()


# --- the setting and the backend of a build -----------------------------------------------------------
def parse_backend_setting(value: object, field: str = "builder_backend") -> str:
    """``auto`` (default), ``kaniko`` or ``buildah``; any case; anything else is a :class:`ConfigError`."""
    if value is None or value == "":
        return AUTO
    if not isinstance(value, str) or value.strip().lower() not in BACKEND_SETTINGS:
        raise ConfigError(field, f"{quote(value)} is not allowed; allowed: {', '.join(BACKEND_SETTINGS)}")
    return value.strip().lower()


@dataclass(frozen=True)
class BuilderBackend:
    """The backend that builds MLRun functions, and where that was learnt."""

    name: BackendName = MLRUN_DEFAULT_BACKEND
    source: str = "MLRun's default (kaniko)"

    @property
    def takes_kaniko_flags(self) -> bool:
        """Only Kaniko reads ``spec.build.extra_args`` flags (BUILDAH_PY drops them)."""
        return self.name == KANIKO


def builder_backend(setting: str = AUTO, reported: str | None = None, *, setting_source: str = "the setting",
                    reported_source: str = "the MLRun server") -> BuilderBackend:
    """The backend of MLRun's builds: an explicit setting wins; ``auto`` takes what the server reported
    (CLIENT_SPEC has no such field at the commits read, so today ``auto`` means MLRun's default)."""
    for name in BACKENDS:
        if setting == name:
            return BuilderBackend(name, f"builder_backend: {name} ({setting_source})")
    for name in BACKENDS:
        if reported and reported.strip().lower() == name:
            return BuilderBackend(name, f"{reported_source} reports {name}")
    return BuilderBackend()


# --- what has no effect on Buildah --------------------------------------------------------------------
#: Kaniko flags this package writes into ``spec.build.extra_args`` and Nuclio's ``spec.build.flags``; the
#: flags it owns (see ``targets.merge_owned_flags``).
OWNED_KANIKO_FLAGS = ("--registry-mirror", "--cache", "--cache-repo")
#: Note code: configured build features that MLRun's Buildah backend does not apply.
BUILDAH_IGNORED = "buildah-ignored"


def ignored_features(service: RegistryService, pulled: Sequence[RegistryService] = (),
                     mirror: str | None = None) -> tuple[Note, ...]:
    """Notes for what the service configures that a Buildah build does not apply, and why (BUILDAH_PY:
    ``extra_args`` never reaches buildah, no ``--cert-dir``, no ``registries.conf``, no ``--layers`` /
    ``--cache-to`` / ``--cache-from``; the only CA mounted is the pip CA). ``mirror``: the Docker Hub
    mirror the build would use (``build.registry_mirror``)."""
    items: list[str] = []
    if service.cache:
        items.append("the layer cache (cache: true): MLRun's Buildah build runs `buildah bud` with no cache "
                     "flag, so every build starts cold; --cache=true/--cache-repo are not written")
    if mirror:
        items.append(f"the Docker Hub mirror {mirror}: Buildah has no mirror flag and reads mirrors only from "
                     "/etc/containers/registries.conf in its image; build one with `mlrun-registry builder-image "
                     "--backend buildah` and point httpdb.builder.buildah_image at it")
    ca_hosts = [s.host for s in (service, *pulled) if s.ca_bundle]
    if ca_hosts:
        items.append(f"the private CA of {', '.join(dict.fromkeys(ca_hosts))}: the Buildah pod gets no CA flag "
                     "and no CA mount (only the pip CA); the CA has to be in the trust store of the image "
                     "httpdb.builder.buildah_image names (`mlrun-registry builder-image --backend buildah`)")
    if not items:
        return ()
    return (Note(BUILDAH_IGNORED, "MLRun's Buildah backend (server/py/services/api/utils/builder/buildah.py at "
                                  "9c0c31d1) does not apply: " + "; ".join(items)),)


# --- labels the pods need -----------------------------------------------------------------------------
def pod_labels_setting(labels: Mapping[str, str]) -> str:
    """A labels map as mlconf reads ``httpdb.builder.pod_labels`` / ``default_function_pod_labels``
    (``decode_base64_config_and_load_to_object``: base64 of JSON), sorted so the text is stable."""
    return base64.b64encode(json.dumps(dict(labels), sort_keys=True, separators=(",", ":")).encode()).decode()


# --- what the MLRun API's Deployment says (the doctor reads its env) -----------------------------------
#: mlconf ``httpdb.builder.docker_registry_secret``: for ECR, the AWS credentials secret (KANIKO_PY).
DOCKER_REGISTRY_SECRET_ENV = "MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY_SECRET"


def decode_labels_setting(value: str | None) -> dict[str, str]:
    """:func:`pod_labels_setting` backwards; what cannot be decoded counts as no labels."""
    if not value:
        return {}
    try:
        data = json.loads(base64.b64decode(value, validate=True))
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def server_build_findings(service: RegistryService, env: Mapping[str, str], where: str
                          ) -> tuple[bool, str, Literal["info", "warning", "error"]]:
    """The MLRun API's ``MLRUN_*`` env (``where``: its Deployment) against what ``service``'s builds need:
    the backend the package writes for, the AWS credentials secret ECR keys depend on (else the node's
    IAM role and ``--insecure --insecure-pull``, KANIKO_PY), the workload-identity build-pod labels (BASE_PY
    ``resolve_builder_pod_labels``). (ok, detail, severity) for the doctor."""
    running = env.get(BUILDER_BACKEND_ENV) or MLRUN_DEFAULT_BACKEND
    shown = f"{BUILDER_BACKEND_ENV}={env[BUILDER_BACKEND_ENV]}" if env.get(BUILDER_BACKEND_ENV) else (
        f"{BUILDER_BACKEND_ENV} unset: MLRun's default")
    problems: list[str] = []
    if service.builder_backend in BACKENDS and service.builder_backend != running:
        problems.append(f"it builds with {running} ({shown}) but builder_backend is {service.builder_backend}: "
                        "functions carry the other backend's settings")
    if service.ecr is not None and service.has_credentials and not env.get(DOCKER_REGISTRY_SECRET_ENV):
        problems.append(f"ECR keys are configured but it has no {DOCKER_REGISTRY_SECRET_ENV}: its Kaniko pod "
                        "falls back to the node's IAM role and, in the default 'auto' insecure modes, passes "
                        "--insecure --insecure-pull")
    wanted = dict(service.rules.identity_labels) if service.workload_identity else {}
    labels = decode_labels_setting(env.get(BUILDER_POD_LABELS_ENV))
    missing = {k: v for k, v in wanted.items() if labels.get(k) != v}
    if missing:
        problems.append(f"build pods get no {', '.join(f'{k}={v}' for k, v in missing.items())} (it has no "
                        f"such {BUILDER_POD_LABELS_ENV}): Azure injects no token, the build cannot push")
    if problems:
        return False, f"the MLRun API ({where}): " + "; ".join(problems) + "; fix: mlrun-registry platform-config " \
                                                                          "--apply", "error"
    return True, f"the MLRun API ({where}) builds with {running} ({shown})", "info"
