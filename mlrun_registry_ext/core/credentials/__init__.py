"""Registry credentials as data: docker logins, Kubernetes Secret manifests, the ECR refresh job, IAM
policies.

Pure: no network and no kubernetes/boto3 imports. The clients (``clients/kube.py``, ``clients/aws.py``)
send what is built here. Secret values are held in :class:`~.secrets.SecretText` and only leave it inside
base64 ``data`` of a Secret manifest, the one place they must be; reprs and errors never show them.

By seam:

- :mod:`.docker_config`: the ``auths`` entry per provider (:func:`docker_login`; the per-provider
  login rules are on the provider classes, :mod:`mlrun_registry_ext.core.providers`), login hosts;
- :mod:`.k8s_secrets`: Secret manifests, the labels marking what this package manages, the secrets a
  service needs (:class:`SecretPlan`), namespace and secret names;
- :mod:`.refresh_job`: the CronJob and RBAC refreshing ECR pull secrets, schedule validation;
- :mod:`.iam`: the least-privilege ECR policy, actions, ARNs and partitions, a tiny policy evaluator.

This package re-exports the public names of all four, so ``core.credentials.X`` keeps working.
"""

from __future__ import annotations

from mlrun_registry_ext.core.credentials.docker_config import (
    ECR_TOKEN_LIFETIME_SECONDS,
    PROVIDER_OPTIONS,
    DockerLogin,
    check_provider_options,
    credential_helper_config,
    docker_login,
    normalise_login_host,
)
from mlrun_registry_ext.core.credentials.iam import (
    ECR_PULL_ACTIONS,
    ECR_PUSH_ACTIONS,
    ECR_REPOSITORY_ACTIONS,
    ECR_TOKEN_ACTION,
    aws_partition,
    ecr_policy_document,
    ecr_policy_resources,
    ecr_repository_actions,
    ecr_repository_arn,
    ecr_repository_prefix,
    ecr_required_checks,
    evaluate_policies,
)
from mlrun_registry_ext.core.credentials.k8s_secrets import (
    AWS_ACCESS_KEY_ID_RE,
    AWS_CREDENTIALS_KEY,
    AWS_CREDENTIALS_TYPE,
    COPIED_FROM_ANNOTATION,
    DOCKER_CONFIG_KEY,
    DOCKER_CONFIG_TYPE,
    EXPIRES_ANNOTATION,
    KIND_AWS_CREDENTIALS,
    KIND_DOCKER_CONFIG,
    KIND_LABEL,
    LOGIN_ANNOTATION,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    PART_OF_LABEL,
    PROJECT_SECRET_PREFIX,
    PROVIDER_LABEL,
    SERVICE_LABEL,
    USERNAME_ANNOTATION,
    SecretPlan,
    aws_credentials_file,
    aws_credentials_secret,
    docker_config_secret,
    helper_config_secret,
    is_managed,
    managed_labels,
    project_secret_name,
    secret_plan,
    service_account_manifest,
    validate_aws_keys,
    validate_namespace,
    validate_namespaces,
    validate_secret_name,
)
from mlrun_registry_ext.core.credentials.refresh_job import (
    DEFAULT_REFRESH_SCHEDULE,
    refresh_cronjob_manifests,
    validate_schedule,
)

# The login constants and the ECR token format live with their providers; re-exported here.
from mlrun_registry_ext.core.providers import DOCKERHUB_LOGIN_KEY, GCR_USERS, ecr_token_password
from mlrun_registry_ext.core.secrets import SecretText as SecretStr

__all__ = [
    "AWS_ACCESS_KEY_ID_RE",
    "AWS_CREDENTIALS_KEY",
    "AWS_CREDENTIALS_TYPE",
    "COPIED_FROM_ANNOTATION",
    "DEFAULT_REFRESH_SCHEDULE",
    "DOCKERHUB_LOGIN_KEY",
    "DOCKER_CONFIG_KEY",
    "DOCKER_CONFIG_TYPE",
    "ECR_PULL_ACTIONS",
    "ECR_PUSH_ACTIONS",
    "ECR_REPOSITORY_ACTIONS",
    "ECR_TOKEN_ACTION",
    "ECR_TOKEN_LIFETIME_SECONDS",
    "EXPIRES_ANNOTATION",
    "GCR_USERS",
    "KIND_AWS_CREDENTIALS",
    "KIND_DOCKER_CONFIG",
    "KIND_LABEL",
    "LOGIN_ANNOTATION",
    "MANAGED_BY_LABEL",
    "MANAGED_BY_VALUE",
    "PART_OF_LABEL",
    "PROJECT_SECRET_PREFIX",
    "PROVIDER_LABEL",
    "PROVIDER_OPTIONS",
    "SERVICE_LABEL",
    "USERNAME_ANNOTATION",
    "DockerLogin",
    "SecretPlan",
    "SecretStr",
    "aws_credentials_file",
    "aws_credentials_secret",
    "aws_partition",
    "check_provider_options",
    "credential_helper_config",
    "docker_config_secret",
    "docker_login",
    "ecr_policy_document",
    "ecr_policy_resources",
    "ecr_repository_actions",
    "ecr_repository_arn",
    "ecr_repository_prefix",
    "ecr_required_checks",
    "ecr_token_password",
    "evaluate_policies",
    "helper_config_secret",
    "is_managed",
    "managed_labels",
    "normalise_login_host",
    "project_secret_name",
    "refresh_cronjob_manifests",
    "secret_plan",
    "service_account_manifest",
    "validate_aws_keys",
    "validate_namespace",
    "validate_namespaces",
    "validate_schedule",
    "validate_secret_name",
]
