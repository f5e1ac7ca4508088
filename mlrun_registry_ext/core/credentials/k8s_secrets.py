"""Kubernetes Secret manifests as data: the labels marking what this package manages, the docker
config and AWS credentials Secrets, the secrets a service needs (:class:`SecretPlan`), and the names
Kubernetes accepts.

Pure: :mod:`mlrun_registry_ext.clients.kube` sends what is built here. Secret values appear only
inside base64 ``data``; reprs and errors never show them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlrun_registry_ext.core.credentials.docker_config import (
    DockerConfigSource,
    DockerLogin,
    b64,
    credential_helper_config,
)
from mlrun_registry_ext.core.secrets import SecretText as SecretStr
from mlrun_registry_ext.core.service import (
    RegistryService,
    validate_dns1123_label,
    validate_dns1123_subdomain,
)
from mlrun_registry_ext.errors import ConfigError

# --- labels marking what this package manages ------------------------------------------------------
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "mlrun-registry-ext"
PART_OF_LABEL = "app.kubernetes.io/part-of"
KIND_LABEL = "mlrun-registry-ext/secret-kind"
SERVICE_LABEL = "mlrun-registry-ext/service"
PROVIDER_LABEL = "mlrun-registry-ext/provider"
LOGIN_ANNOTATION = "mlrun-registry-ext/login-host"
USERNAME_ANNOTATION = "mlrun-registry-ext/username"
COPIED_FROM_ANNOTATION = "mlrun-registry-ext/copied-from"
EXPIRES_ANNOTATION = "mlrun-registry-ext/expires-at"

KIND_DOCKER_CONFIG = "docker-config"
KIND_AWS_CREDENTIALS = "aws-credentials"

DOCKER_CONFIG_TYPE = "kubernetes.io/dockerconfigjson"
DOCKER_CONFIG_KEY = ".dockerconfigjson"
AWS_CREDENTIALS_TYPE = "Opaque"
AWS_CREDENTIALS_KEY = "credentials"

AWS_ACCESS_KEY_ID_RE = re.compile(r"^(?:AKIA|ASIA|AIDA|AROA|ANPA|ANVA|APKA)[A-Z0-9]{12,124}\Z")
#: MLRun's per-project secret (``mlrun-project-secrets-<project>``).
PROJECT_SECRET_PREFIX = "mlrun-project-secrets-"


def validate_namespace(value: str, field: str = "namespace") -> str:
    """A Kubernetes namespace is a DNS-1123 label."""
    if not isinstance(value, str) or not value:
        raise ConfigError(field, "a namespace is required (a DNS-1123 label)")
    return validate_dns1123_label(value, field)


def validate_namespaces(values: Iterable[str], field: str = "to") -> list[str]:
    """Validate all before anything is written; duplicates are dropped, order kept."""
    out: list[str] = []
    for value in values:
        validate_namespace(value, field)
        if value not in out:
            out.append(value)
    return out


def validate_secret_name(value: str, field: str = "secret_name") -> str:
    """A Secret name is a DNS-1123 subdomain."""
    if not isinstance(value, str) or not value:
        raise ConfigError(field, "a secret name is required (a DNS-1123 subdomain)")
    return validate_dns1123_subdomain(value, field)



def docker_config_secret(
    name: str,
    namespace: str,
    login: DockerConfigSource,
    *,
    service: RegistryService | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A ``kubernetes.io/dockerconfigjson`` Secret manifest (the password only inside base64 ``data``)."""
    validate_secret_name(name, "secret_name")
    validate_namespace(namespace)
    meta_annotations = {LOGIN_ANNOTATION: login.key, USERNAME_ANNOTATION: login.username}
    meta_annotations.update(annotations or {})
    return _secret(name, namespace, managed_labels(KIND_DOCKER_CONFIG, service, labels), meta_annotations,
                   DOCKER_CONFIG_TYPE, DOCKER_CONFIG_KEY, login.docker_config_json())


def _secret(name: str, namespace: str, labels: dict[str, str], annotations: dict[str, str], kind: str,
            key: str, value: str) -> dict[str, Any]:
    """A Secret manifest with one base64 ``data`` key (the callers check name and namespace first)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
        "type": kind,
        "data": {key: b64(value)},
    }


def helper_config_secret(name: str, namespace: str, service: RegistryService,
                         pulled: Sequence[DockerLogin] = ()) -> dict[str, Any]:
    """The ``kubernetes.io/dockerconfigjson`` Secret for ``auth: workload-identity``: no login for the
    host, only its credential helper, plus the logins of the registries it pulls from
    (:func:`.docker_config.credential_helper_config`)."""
    validate_secret_name(name, "secret_name")
    validate_namespace(namespace)
    config = json.dumps(credential_helper_config(service, pulled), separators=(",", ":"), sort_keys=True)
    return _secret(name, namespace, managed_labels(KIND_DOCKER_CONFIG, service),
                   {LOGIN_ANNOTATION: service.rules.login_key(service.host)}, DOCKER_CONFIG_TYPE,
                   DOCKER_CONFIG_KEY, config)


def service_account_manifest(service: RegistryService, namespace: str) -> dict[str, Any]:
    """The builder's and functions' ServiceAccount with the provider's workload-identity annotation and
    labels (applied as a merge patch: other annotations and labels on the account stay)."""
    validate_namespace(namespace)
    annotations, labels = service.rules.service_account_metadata(service.identity)
    metadata: dict[str, Any] = {"name": service.service_account, "namespace": namespace}
    if annotations:
        metadata["annotations"] = annotations
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def managed_labels(kind: str, service: RegistryService | None = None,
                   extra: Mapping[str, str] | None = None) -> dict[str, str]:
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, KIND_LABEL: kind}
    if service is not None:
        labels[SERVICE_LABEL] = service.name
        labels[PROVIDER_LABEL] = service.provider.value
    labels.update(extra or {})
    return labels


def is_managed(manifest: Mapping[str, Any]) -> bool:
    labels = (manifest.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE


# --- AWS credentials file ---------------------------------------------------------------------------
def validate_aws_keys(
    access_key_id: str | None, secret_access_key: SecretStr | None
) -> tuple[str, SecretStr]:
    if not access_key_id or secret_access_key is None or not secret_access_key.get_secret_value():
        raise ConfigError("username", "ECR credentials are an AWS access key ID (username) and secret access "
                                      "key (password); leave both blank to use the cluster's IAM role")
    if not AWS_ACCESS_KEY_ID_RE.match(access_key_id):
        raise ConfigError("username", "for ECR the username is an AWS access key ID (AKIA... or ASIA..., "
                                      "upper-case letters and digits), not a docker login")
    secret = secret_access_key.get_secret_value()
    if any(ch in secret for ch in "\r\n") or len(secret) < 16:
        raise ConfigError("password",
                          "for ECR the password is an AWS secret access key (one line, 40 characters)")
    return access_key_id, secret_access_key


def aws_credentials_file(
    access_key_id: str,
    secret_access_key: SecretStr,
    *,
    region: str | None = None,
    session_token: SecretStr | None = None,
    profile: str = "default",
) -> SecretStr:
    """The text of ``~/.aws/credentials`` (what MLRun mounts at /tmp/aws and Nuclio's Kaniko reads)."""
    validate_aws_keys(access_key_id, secret_access_key)
    if not re.match(r"^[A-Za-z0-9_.-]+\Z", profile):
        raise ConfigError("profile", "an AWS profile name is letters, digits, '.', '_' and '-'")
    lines = [f"[{profile}]", f"aws_access_key_id = {access_key_id}",
             f"aws_secret_access_key = {secret_access_key.get_secret_value()}"]
    if session_token is not None:
        lines.append(f"aws_session_token = {session_token.get_secret_value()}")
    if region:
        lines.append(f"region = {region}")
    return SecretStr("\n".join(lines) + "\n")


def aws_credentials_secret(
    name: str,
    namespace: str,
    service: RegistryService,
    *,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An Opaque Secret with key ``credentials``: an AWS credentials file from the service's keys."""
    validate_secret_name(name, "secret_name")
    validate_namespace(namespace)
    if service.ecr is None:
        raise ConfigError("url",
                          "an AWS credentials secret is for ECR registries (<account>.dkr.ecr.<region>...)")
    key_id, secret = validate_aws_keys(service.username, service.password)
    text = aws_credentials_file(key_id, secret, region=service.ecr.region)
    return _secret(name, namespace, managed_labels(KIND_AWS_CREDENTIALS, service, labels),
                   {USERNAME_ANNOTATION: key_id}, AWS_CREDENTIALS_TYPE, AWS_CREDENTIALS_KEY,
                   text.get_secret_value())


# --- which secrets a service needs -----------------------------------------------------------------
@dataclass(frozen=True)
class SecretPlan:
    """The secrets a service needs (names only), following the service's naming
    (:attr:`RegistryService.docker_secret_name`, :attr:`RegistryService.aws_secret_name`).

    - non-ECR with credentials: one docker config (push and pull);
    - ECR with access keys: the AWS credentials file (MLRun's ``docker_registry_secret``, Nuclio's
      ``NUCLIO_KANIKO_REGISTRY_PROVIDER_AUTH_SECRET_NAME``) and a docker config holding a 12-hour token
      (``NUCLIO_REGISTRY_CREDENTIALS_SECRET_NAME`` and pods' ``imagePullSecrets``);
    - ECR on the IAM role: a token docker config only when a ``secret_name`` is set.
    """

    docker_config: str | None
    aws_credentials: str | None
    ecr_token: bool

    def names(self) -> list[str]:
        return [n for n in (self.aws_credentials, self.docker_config) if n]


def secret_plan(service: RegistryService, secret_name: str | None = None) -> SecretPlan:
    if secret_name:
        validate_secret_name(secret_name, "secret_name")
        service = service.replace(secret_name=secret_name)
    docker = service.docker_secret_name
    aws = service.aws_secret_name
    if docker:
        validate_secret_name(docker, "secret_name")
    if aws:
        validate_secret_name(aws, "secret_name")
    return SecretPlan(docker_config=docker, aws_credentials=aws, ecr_token=service.rules.token_login)



def project_secret_name(project: str) -> str:
    validate_dns1123_label(project, "project")
    return PROJECT_SECRET_PREFIX + project
