"""What the server side must be set to so it agrees with the client-side targets.

The MLRun API reads ``MLRUN_HTTPDB__BUILDER__*``; the Nuclio dashboard reads only environment
variables for its builder (``platform.yaml`` cannot set them). Both are produced here from the active
service, as env lines or Helm values (the Nuclio chart's and MLRun CE's keys).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from mlrun_registry_ext.core import buildah
from mlrun_registry_ext.core.compat import slotted
from mlrun_registry_ext.core.platform_images import ImageSettings
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.core.strict_yaml import dump_yaml
from mlrun_registry_ext.core.targets import MLRUN_NAME_TEMPLATE

NUCLIO_DEFAULT_PREFIX_TEMPLATE = "{{ .ProjectName }}-{{ .FunctionName }}-"
#: What the MLRun chart already sets from ``global.registry.url`` / ``global.registry.secretName``.
_MLRUN_CHART_GLOBAL_KEYS = frozenset({
    "MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY",
    "MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY_SECRET",
    "MLRUN_FUNCTION__SPEC__IMAGE_PULL_SECRET__DEFAULT",
})


@slotted(frozen=True, kw_only=True)
class PlatformConfig:
    """Environment for the MLRun API and Nuclio dashboard Deployments, and the registry's resources."""

    service: str
    mlrun_env: dict[str, str]
    nuclio_env: dict[str, str]
    registry_resources: dict[str, dict[str, str]]
    notes: tuple[str, ...] = ()
    #: air gap: the platform's own images from an internal registry
    images: ImageSettings | None = None
    #: private CA: the Kaniko executor that trusts the services' CA bundle
    kaniko_ca_image: str | None = None

    def env_lines(self) -> str:
        out = ["# MLRun API (mlrun-api Deployment)"]
        out += [f"{k}={_quote(v)}" for k, v in self.mlrun_env.items()]
        out += ["", "# Nuclio dashboard (nuclio-dashboard Deployment)"]
        out += [f"{k}={_quote(v)}" for k, v in self.nuclio_env.items()]
        if self.registry_resources:
            out += ["", "# registry pods: CPU/memory requests and limits"]
            for kind, values in self.registry_resources.items():
                out += [f"# {kind}: " + ", ".join(f"{k}={v}" for k, v in values.items())]
        out += _image_env_lines(self.images, self.kaniko_ca_image)
        out += _kaniko_ca_lines(self.kaniko_ca_image)
        out += [f"# note: {note}" for note in self.notes]
        return "\n".join(out) + "\n"

    def all_env(self) -> tuple[dict[str, str], dict[str, str]]:
        """Every variable of the MLRun API and of the Nuclio dashboard, as :meth:`env_lines` lists them
        (the registry's, then the air gap's, then the private CA's executor)."""
        mlrun_env, nuclio_env = dict(self.mlrun_env), dict(self.nuclio_env)
        if self.images is not None:
            mlrun_env.update(self.images.mlrun_env)
            nuclio_env.update(self.images.nuclio_env)
        if self.kaniko_ca_image:
            mlrun_env[MLRUN_KANIKO_IMAGE_ENV] = nuclio_env[NUCLIO_KANIKO_IMAGE_ENV] = self.kaniko_ca_image
        return mlrun_env, nuclio_env

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``platform-config --json``: both Deployments' env, the Helm values, the notes."""
        mlrun_env, nuclio_env = self.all_env()
        return {"service": self.service, "mlrun_api_env": mlrun_env, "nuclio_dashboard_env": nuclio_env,
                "registry_resources": self.registry_resources, "helm_values": self.helm_values(),
                "notes": list(self.notes)}

    def helm_values(self) -> dict[str, Any]:
        """Values for the MLRun CE umbrella chart (mlrun/ce ``charts/mlrun-ce/values.yaml``).

        ``global.registry.url`` / ``global.registry.secretName`` feed both sub-charts: the MLRun chart turns
        them into the builder registry, its secret and the default pull secret, and the Nuclio chart falls
        back to them for ``registry.pushPullUrl`` / ``registry.secretName`` (nuclio/nuclio
        ``hack/k8s/helm/nuclio/templates/_helpers.tpl`` at 9e837f6). Only what those keys do not cover goes
        elsewhere: an ECR AWS-credentials secret as ``mlrun.defaultDockerRegistrySecretName`` and
        ``nuclio.dashboard.kaniko.registryProviderSecretName`` (as mlrun/mlrun ``hack/mlsetup.py`` sets them),
        the insecure flags and the name prefix templates. Nothing is duplicated under ``extraEnvKeyValue``.
        """
        mlrun_env, env = self.mlrun_env, self.nuclio_env
        values: dict[str, Any] = {}
        if not mlrun_env and not env:
            return _kaniko_ca_values(_image_values(values, self.images), self.kaniko_ca_image)
        registry: dict[str, Any] = {"url": mlrun_env["MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY"]}
        pull_secret = env.get("NUCLIO_REGISTRY_CREDENTIALS_SECRET_NAME") or mlrun_env.get(
            "MLRUN_FUNCTION__SPEC__IMAGE_PULL_SECRET__DEFAULT")
        if pull_secret:
            registry["secretName"] = pull_secret
        values["global"] = {"registry": registry}
        mlrun: dict[str, Any] = {}
        provider_secret = env.get("NUCLIO_KANIKO_REGISTRY_PROVIDER_AUTH_SECRET_NAME")
        if provider_secret:
            mlrun["defaultDockerRegistrySecretName"] = provider_secret
        extra = {k: v for k, v in mlrun_env.items() if k not in _MLRUN_CHART_GLOBAL_KEYS}
        if extra:
            mlrun["api"] = {"extraEnvKeyValue": extra}
        if mlrun:
            values["mlrun"] = mlrun
        nuclio_registry: dict[str, Any] = {}
        if env.get("NUCLIO_DASHBOARD_RUN_REGISTRY_URL"):
            nuclio_registry["runRegistryURL"] = env["NUCLIO_DASHBOARD_RUN_REGISTRY_URL"]
        if env.get("NUCLIO_REGISTRY_KIND"):
            nuclio_registry["kind"] = env["NUCLIO_REGISTRY_KIND"]
        dashboard: dict[str, Any] = {"containerBuilderKind": env.get("NUCLIO_CONTAINER_BUILDER_KIND", "kaniko")}
        kaniko: dict[str, Any] = {}
        if provider_secret:
            kaniko["registryProviderSecretName"] = provider_secret
        if env.get("NUCLIO_KANIKO_INSECURE_PUSH_REGISTRY") == "true":
            kaniko["insecurePushRegistry"] = True
        if env.get("NUCLIO_KANIKO_INSECURE_PULL_REGISTRY") == "true":
            kaniko["insecurePullRegistry"] = True
        if kaniko:
            dashboard["kaniko"] = kaniko
        if env.get("NUCLIO_DASHBOARD_IMAGE_NAME_PREFIX_TEMPLATE"):
            dashboard["imageNamePrefixTemplate"] = env["NUCLIO_DASHBOARD_IMAGE_NAME_PREFIX_TEMPLATE"]
        nuclio: dict[str, Any] = {"dashboard": dashboard}
        if nuclio_registry:
            nuclio["registry"] = nuclio_registry
        values["nuclio"] = nuclio
        if self.registry_resources:
            values["docker-registry"] = {"resources": self.registry_resources}
        return _kaniko_ca_values(_image_values(values, self.images), self.kaniko_ca_image)

    def helm_yaml(self) -> str:
        """The values as YAML, after the notes as comments (they cite where each setting comes from)."""
        comments = "".join(f"# note: {' '.join(note.split())}\n" for note in self.notes)
        return comments + dump_yaml(self.helm_values())


#: Nuclio's dashboard-wide Kaniko cache repository (nuclio/nuclio ``pkg/containerimagebuilderpusher/types.go``
#: ``NewContainerBuilderConfiguration`` at 2b002e8: ``NUCLIO_BUILD_CACHE_REPO``, read with this legacy key
#: as fallback, which is the only key of the 1.14 line); Kaniko gets ``--cache=true`` unless a function
#: sets ``spec.build.noCache``.
NUCLIO_CACHE_REPO_ENV = "NUCLIO_DASHBOARD_KANIKO_CACHE_REPO"
#: mlconf ``function.spec.service_account.default``: the service account of MLRun's function and Kaniko
#: pods when the function names none (mlrun/api/utils/builder.py make_kaniko_pod,
#: resolve_project_default_service_account).
MLRUN_SERVICE_ACCOUNT_ENV = "MLRUN_FUNCTION__SPEC__SERVICE_ACCOUNT__DEFAULT"


def _identity_and_cache(service: RegistryService, mlrun_env: dict[str, str], nuclio_env: dict[str, str]
                        ) -> list[str]:
    notes: list[str] = []
    if service.cache:
        cache_repo = f"{service.host}/{service.rules.cache_repository(service.path or 'nuclio')}"
        nuclio_env[NUCLIO_CACHE_REPO_ENV] = cache_repo
        mlrun_side = ("MLRun's Buildah builds use no layer cache (buildah.py at 9c0c31d1 passes no cache flag)"
                      if service.builder_backend == "buildah" else
                      "MLRun builds get --cache-repo=<image repository>/cache in each function's "
                      "spec.build.extra_args")
        notes.append(f"Kaniko layer cache: {mlrun_side}; Nuclio builds share {cache_repo}")
    if service.workload_identity:
        if service.service_account != "default":
            mlrun_env[MLRUN_SERVICE_ACCOUNT_ENV] = service.service_account
        annotations, labels = service.rules.service_account_metadata(service.identity)
        meta = ", ".join(f"{k}={v}" for k, v in {**annotations, **labels}.items()) or "no annotation (EKS Pod Identity)"
        notes.append(f"workload identity: service account {service.service_account} in the MLRun and functions' "
                     f"namespaces needs {meta} (`mlrun-registry secret apply` patches it)")
    return notes


_BUILDAH_PY = "server/py/services/api/utils/builder/buildah.py at 9c0c31d1"


def _builder_backend(service: RegistryService, mlrun_env: dict[str, str]) -> list[str]:
    """The MLRun API's builder backend (core.buildah): set when the service names one; for Buildah also the
    storage driver, and what the insecure modes and the image mean there. ``auto`` leaves the server as is."""
    if service.builder_backend not in buildah.BACKENDS:
        return []
    mlrun_env[buildah.BUILDER_BACKEND_ENV] = service.builder_backend
    where = "mlrun/mlrun server/py/services/api/utils/builder/__init__.py at 7f3709e resolve_builder_backend"
    if service.builder_backend == buildah.KANIKO:
        return [f"builder backend: kaniko, server-wide (httpdb.builder.builder_backend, {where}; Kaniko is "
                "MLRun's default, and the only backend before July 2026)"]
    mlrun_env[buildah.BUILDAH_STORAGE_DRIVER_ENV] = buildah.DEFAULT_STORAGE_DRIVER
    notes = [
        f"builder backend: buildah, server-wide (httpdb.builder.builder_backend, {where}); MLRun builds then "
        f"run `buildah bud` and `buildah push` in a rootless pod (uid {buildah.BUILD_UID}, SETUID/SETGID, "
        f"{_BUILDAH_PY} make_buildah_pod); Nuclio keeps its own builder",
        f"buildah storage driver: {buildah.DEFAULT_STORAGE_DRIVER} (httpdb.builder.buildah_storage_driver, "
        f"allowed {' or '.join(buildah.STORAGE_DRIVERS)}: {_BUILDAH_PY} _SUPPORTED_STORAGE_DRIVERS); vfs needs "
        "neither /dev/fuse nor rootless kernel overlay, overlay is faster where the nodes allow it",
        f"insecure modes on Buildah: {buildah.INSECURE_PULL_ENV} and {buildah.INSECURE_PUSH_ENV} become "
        f"`--tls-verify=false` on `bud` (pull) and `push` when 'enabled', or 'auto' without a login "
        f"({_BUILDAH_PY} _tls_verify_flag); platform-config sets both "
        f"{'enabled' if service.insecure else 'disabled'}",
        f"buildah image: httpdb.builder.buildah_image ({buildah.BUILDAH_IMAGE_ENV}) stays MLRun's default (the "
        f"stock {buildah.STOCK_IMAGE}, {_BUILDAH_PY} BuildahBackend) unless a builder image carries a private CA "
        "or mirrors (`mlrun-registry builder-image --backend buildah`)",
        f"build secret on Buildah: spec.build.secret's .dockerconfigjson is the authfile {buildah.AUTHFILE} "
        f"({buildah.AUTHFILE_ENV}; {_BUILDAH_PY} make_buildah_pod); spec.build.extra_args never reaches buildah "
        "(only --build-arg names become ARGs: server/py/services/api/utils/builder/base.py at 82eefe7 "
        "make_dockerfile), so the package writes no Kaniko flags there",
    ]
    return notes


def _pod_labels(service: RegistryService, mlrun_env: dict[str, str]) -> list[str]:
    """Azure workload identity: the webhook (azure-workload-identity >= v1.0) injects the federated token
    only into pods labelled ``azure.workload.identity/use: "true"``. Function pods get the label from each
    function's ``metadata.labels`` (mlrun_hooks) and, server-wide, ``default_function_pod_labels``; the build
    pod only from ``httpdb.builder.pod_labels``: MLRun's build pod carries just its ``mlrun/*`` labels and
    those (builder/__init__.py at 7f3709e build_image, base.py at 82eefe7 resolve_builder_pod_labels)."""
    labels = service.rules.identity_labels if service.workload_identity else {}
    if not labels:
        return []
    value = buildah.pod_labels_setting(labels)
    mlrun_env[buildah.BUILDER_POD_LABELS_ENV] = value
    mlrun_env[buildah.FUNCTION_POD_LABELS_ENV] = value
    shown = ", ".join(f"{k}={v}" for k, v in labels.items())
    return [f"workload identity pod labels ({shown}): {buildah.BUILDER_POD_LABELS_ENV} puts them on every build "
            "pod, Kaniko or Buildah (mlrun/mlrun server/py/services/api/utils/builder/base.py at 82eefe7 "
            f"resolve_builder_pod_labels; key httpdb.builder.pod_labels in mlrun 1.12.1's mlrun/config.py), "
            f"{buildah.FUNCTION_POD_LABELS_ENV} on every function pod (default_function_pod_labels, mlrun "
            "1.12.1); configure_function also writes them into each function's metadata.labels. An MLRun "
            "without these keys (1.5.2 has neither) labels no build pod: its builds get no federated token"]


def _quote(value: str) -> str:
    return value if value and all(c.isalnum() or c in "-_./:" for c in value) else f"'{value}'"


def platform_config(service: RegistryService) -> PlatformConfig:
    """Server-side settings for ``service``; on-cluster needs none beyond the platform's own.

    For '.' (the server's own registry) nothing is emitted: ``DOCKER_REGISTRY=.`` would make the server
    build ``./mlrun/func-...``, and the insecure modes are left as the platform has them (an on-cluster
    registry serves plain HTTP).
    """
    notes: list[str] = []
    if service.is_server_default:
        notes.append("the active registry is '.', the MLRun server's own: nothing to change on the server side "
                     "(its registry, secret and insecure settings stay as they are)")
        return PlatformConfig(service=service.name, mlrun_env={}, nuclio_env={},
                              registry_resources=service.resources.as_kubernetes(), notes=tuple(notes))
    url = service.url
    docker_secret = service.docker_secret_name or ""
    build_secret = docker_secret if service.rules.build_secret_per_function else (service.aws_secret_name or "")
    insecure = "enabled" if service.insecure else "disabled"
    mlrun_env = {
        "MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY": url,
        "MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY_SECRET": build_secret,
        "MLRUN_HTTPDB__BUILDER__INSECURE_PUSH_REGISTRY_MODE": insecure,
        "MLRUN_HTTPDB__BUILDER__INSECURE_PULL_REGISTRY_MODE": insecure,
    }
    if service.image_prefix:
        mlrun_env["MLRUN_HTTPDB__BUILDER__FUNCTION_TARGET_IMAGE_NAME_PREFIX_TEMPLATE"] = (
            service.image_prefix + MLRUN_NAME_TEMPLATE)
    if docker_secret:
        mlrun_env["MLRUN_FUNCTION__SPEC__IMAGE_PULL_SECRET__DEFAULT"] = docker_secret
    nuclio_env = {
        "NUCLIO_DASHBOARD_REGISTRY_URL": url,
        "NUCLIO_REGISTRY_CREDENTIALS_SECRET_NAME": docker_secret,
        "NUCLIO_KANIKO_REGISTRY_PROVIDER_AUTH_SECRET_NAME": service.aws_secret_name or "",
        "NUCLIO_KANIKO_INSECURE_PUSH_REGISTRY": "true" if service.insecure else "false",
        "NUCLIO_KANIKO_INSECURE_PULL_REGISTRY": "true" if service.insecure else "false",
        "NUCLIO_REGISTRY_KIND": "offCluster" if service.is_external else "onCluster",
        "NUCLIO_CONTAINER_BUILDER_KIND": "kaniko",
    }
    if service.run_registry:
        nuclio_env["NUCLIO_DASHBOARD_RUN_REGISTRY_URL"] = service.run_registry
    if service.image_prefix:
        template = service.image_prefix + NUCLIO_DEFAULT_PREFIX_TEMPLATE
        nuclio_env["NUCLIO_DASHBOARD_IMAGE_NAME_PREFIX_TEMPLATE"] = template
    notes.extend(_identity_and_cache(service, mlrun_env, nuclio_env))
    notes.extend(_builder_backend(service, mlrun_env))
    notes.extend(_pod_labels(service, mlrun_env))
    notes.extend(service.rules.platform_notes(service.has_credentials, service.aws_secret_name, docker_secret))
    if docker_secret:
        notes.append(f"copy the secret {docker_secret} to every namespace functions deploy to")
    if service.resources.empty:
        notes.append("no CPU/memory requests or limits set for the registry service")
    return PlatformConfig(service=service.name, mlrun_env=mlrun_env, nuclio_env=nuclio_env,
                          registry_resources=service.resources.as_kubernetes(), notes=tuple(notes))


# --- air gap ------------------------------------------------------------------
def with_platform_images(config: PlatformConfig, images: ImageSettings) -> PlatformConfig:
    """``config`` that also points MLRun and Nuclio at the internal registry for their own images."""
    note = (f"air gap: copy the {len(images.images)} platform images to {images.base} first: "
            "mlrun-registry migrate --platform-images; check them: mlrun-registry doctor --images")
    return replace(config, images=images, notes=(*config.notes, note))


def _image_env_lines(images: ImageSettings | None, kaniko_ca_image: str | None = None) -> list[str]:
    if images is None:
        return []
    skip = {MLRUN_KANIKO_IMAGE_ENV, NUCLIO_KANIKO_IMAGE_ENV} if kaniko_ca_image else set()
    out = ["", f"# air gap: the platform's own images from {images.base}", "# MLRun API (mlrun-api Deployment)"]
    out += [f"{k}={_quote(v)}" for k, v in images.mlrun_env.items() if k not in skip]
    out += ["# Nuclio dashboard (nuclio-dashboard Deployment)"]
    out += [f"{k}={_quote(v)}" for k, v in images.nuclio_env.items() if k not in skip]
    return out


def _image_values(values: dict[str, Any], images: ImageSettings | None) -> dict[str, Any]:
    """Merge the air-gap settings into the MLRun CE values: MLRun's as ``mlrun.api.extraEnvKeyValue``
    (the chart has no keys of its own for them), Nuclio's under its chart keys (``registry.default*`` and
    ``dashboard.kaniko.*``, which its dashboard template turns into the env vars above)."""
    if images is None:
        return values
    _merge(values, copy.deepcopy({"mlrun": {"api": {"extraEnvKeyValue": images.mlrun_env}},
                                  "nuclio": images.nuclio_values}))
    return values


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
# --- private CA --------------------------------------------------------------
#: The executor image setting of each builder: mlconf ``httpdb.builder.kaniko_image`` (mlrun 1.12.1
#: ``mlrun/config.py``) and the Nuclio dashboard's ``NUCLIO_KANIKO_CONTAINER_IMAGE`` (nuclio/nuclio
#: ``hack/k8s/helm/nuclio/templates/deployment/dashboard.yaml`` at 9e837f6, from ``dashboard.kaniko.image``).
MLRUN_KANIKO_IMAGE_ENV = "MLRUN_HTTPDB__BUILDER__KANIKO_IMAGE"
NUCLIO_KANIKO_IMAGE_ENV = "NUCLIO_KANIKO_CONTAINER_IMAGE"


def with_kaniko_ca(config: PlatformConfig, reference: str, services: tuple[str, ...]) -> PlatformConfig:
    """``config`` that also makes both builders run the executor ``reference`` (which trusts the CA
    bundle of ``services``): once, server-wide, for every function's build."""
    note = (f"private CA: every Kaniko build trusts the CA bundle of {', '.join(services)} through the executor "
            f"{reference}; make and push it first: mlrun-registry kaniko-image")
    return replace(config, kaniko_ca_image=reference, notes=(*config.notes, note))


def with_buildah_image(config: PlatformConfig, reference: str, why: str) -> PlatformConfig:
    """``config`` that also makes MLRun's Buildah builds run ``reference`` (a builder image with the CA or the
    mirrors: ``why``), server-wide through ``httpdb.builder.buildah_image``."""
    note = (f"buildah image: {reference} ({why}); make and push it first: mlrun-registry builder-image "
            "--backend buildah")
    return replace(config, mlrun_env={**config.mlrun_env, buildah.BUILDAH_IMAGE_ENV: reference},
                   notes=(*config.notes, note))


def _kaniko_ca_lines(reference: str | None) -> list[str]:
    if not reference:
        return []
    return ["", "# private CA: the Kaniko executor that trusts it (mlrun-registry kaniko-image)",
            "# MLRun API (mlrun-api Deployment)", f"{MLRUN_KANIKO_IMAGE_ENV}={_quote(reference)}",
            "# Nuclio dashboard (nuclio-dashboard Deployment)", f"{NUCLIO_KANIKO_IMAGE_ENV}={_quote(reference)}"]


def _kaniko_ca_values(values: dict[str, Any], reference: str | None) -> dict[str, Any]:
    """MLRun's as ``mlrun.api.extraEnvKeyValue``; Nuclio's as its chart's ``dashboard.kaniko.image``."""
    if not reference:
        return values
    repository, _, tag = reference.rpartition(":")
    _merge(values, {"mlrun": {"api": {"extraEnvKeyValue": {MLRUN_KANIKO_IMAGE_ENV: reference}}},
                    "nuclio": {"dashboard": {"kaniko": {"image": {"repository": repository, "tag": tag}}}}})
    return values


# --- end air gap --------------------------------------------------------------------------------
