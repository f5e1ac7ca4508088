"""What the server side must be set to so it agrees with the client-side targets.

The MLRun API reads ``MLRUN_HTTPDB__BUILDER__*``; the Nuclio dashboard reads only environment
variables for its builder (``platform.yaml`` cannot set them). Both are produced here from the active
service, as env lines or Helm values (the Nuclio chart's and MLRun CE's keys).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from mlrun_registry_ext.core.providers import Provider
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.core.targets import MLRUN_NAME_TEMPLATE

NUCLIO_DEFAULT_PREFIX_TEMPLATE = "{{ .ProjectName }}-{{ .FunctionName }}-"


class PlatformConfig(BaseModel):
    """Environment for the MLRun API and Nuclio dashboard Deployments, and the registry's resources."""

    model_config = ConfigDict(frozen=True)

    service: str
    mlrun_env: dict[str, str]
    nuclio_env: dict[str, str]
    registry_resources: dict[str, dict[str, str]]
    notes: tuple[str, ...] = ()

    def env_lines(self) -> str:
        out = ["# MLRun API (mlrun-api Deployment)"]
        out += [f"{k}={_quote(v)}" for k, v in self.mlrun_env.items()]
        out += ["", "# Nuclio dashboard (nuclio-dashboard Deployment)"]
        out += [f"{k}={_quote(v)}" for k, v in self.nuclio_env.items()]
        if self.registry_resources:
            out += ["", "# registry pods: CPU/memory requests and limits"]
            for kind, values in self.registry_resources.items():
                out += [f"# {kind}: " + ", ".join(f"{k}={v}" for k, v in values.items())]
        out += [f"# note: {note}" for note in self.notes]
        return "\n".join(out) + "\n"

    def helm_values(self) -> dict[str, Any]:
        env = self.nuclio_env
        registry: dict[str, Any] = {"pushPullUrl": env["NUCLIO_DASHBOARD_REGISTRY_URL"]}
        if env.get("NUCLIO_REGISTRY_CREDENTIALS_SECRET_NAME"):
            registry["secretName"] = env["NUCLIO_REGISTRY_CREDENTIALS_SECRET_NAME"]
        if env.get("NUCLIO_DASHBOARD_RUN_REGISTRY_URL"):
            registry["runRegistryURL"] = env["NUCLIO_DASHBOARD_RUN_REGISTRY_URL"]
        if env.get("NUCLIO_REGISTRY_KIND"):
            registry["kind"] = env["NUCLIO_REGISTRY_KIND"]
        dashboard: dict[str, Any] = {"containerBuilderKind": env.get("NUCLIO_CONTAINER_BUILDER_KIND", "kaniko")}
        if env.get("NUCLIO_KANIKO_REGISTRY_PROVIDER_AUTH_SECRET_NAME"):
            provider_secret = env["NUCLIO_KANIKO_REGISTRY_PROVIDER_AUTH_SECRET_NAME"]
            dashboard["kaniko"] = {"registryProviderSecretName": provider_secret}
        if env.get("NUCLIO_DASHBOARD_IMAGE_NAME_PREFIX_TEMPLATE"):
            dashboard["imageNamePrefixTemplate"] = env["NUCLIO_DASHBOARD_IMAGE_NAME_PREFIX_TEMPLATE"]
        values: dict[str, Any] = {
            "nuclio": {"registry": registry, "dashboard": dashboard},
            "mlrun": {"api": {"extraEnvKeyValue": dict(self.mlrun_env)}},
        }
        if self.registry_resources:
            values["docker-registry"] = {"resources": self.registry_resources}
        return values

    def helm_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.helm_values(), sort_keys=False)


def _quote(value: str) -> str:
    return value if value and all(c.isalnum() or c in "-_./:" for c in value) else f"'{value}'"


def platform_config(service: RegistryService) -> PlatformConfig:
    """Server-side settings for ``service``; on-cluster needs none beyond the platform's own."""
    notes: list[str] = []
    url = service.url
    ecr = service.provider is Provider.ECR
    docker_secret = service.docker_secret_name or ""
    build_secret = (service.aws_secret_name or "") if ecr else docker_secret
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
    if service.is_server_default:
        notes.append("the active registry is '.', the MLRun server's own: nothing to change on the server side")
    if ecr and not service.has_credentials:
        notes.append("ECR without credentials: the MLRun API, Nuclio dashboard and Kaniko pods need an IAM role "
                     "(instance profile or IRSA) with the push and CreateRepository actions")
    if ecr and service.has_credentials:
        notes.append(f"ECR: {service.aws_secret_name} must hold an AWS credentials file under key 'credentials'; "
                     f"{docker_secret} holds the 12-hour pull token (refresh it with a CronJob)")
    if docker_secret:
        notes.append(f"copy the secret {docker_secret} to every namespace functions deploy to")
    if service.resources.empty:
        notes.append("no CPU/memory requests or limits set for the registry service")
    return PlatformConfig(service=service.name, mlrun_env=mlrun_env, nuclio_env=nuclio_env,
                          registry_resources=service.resources.as_kubernetes(), notes=tuple(notes))
