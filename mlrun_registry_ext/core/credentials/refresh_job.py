"""The ECR token refresh job as data: ServiceAccount, Role(s), RoleBinding(s) and the CronJob that
rewrites the ECR pull secret before its 12-hour token expires, and the schedules that are allowed.

Pure: the manifests are applied by the caller (``kubectl apply`` or the kube client).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from mlrun_registry_ext.core.credentials.k8s_secrets import (
    managed_labels,
    secret_plan,
    validate_namespace,
    validate_namespaces,
    validate_secret_name,
)
from mlrun_registry_ext.core.pod_command import POD_HOME, SECURITY_CONTEXT, cli_command, kube_escape
from mlrun_registry_ext.core.service import RegistryService, validate_dns1123_label, validate_dns1123_subdomain
from mlrun_registry_ext.errors import ConfigError

DEFAULT_REFRESH_SCHEDULE = "0 */4 * * *"


def _cron_hours(field: str) -> set[int]:
    hours: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = 0, 23
        elif "-" in base:
            start_text, _, end_text = base.partition("-")
            start, end = int(start_text), int(end_text)
        else:
            start = int(base)
            end = 23 if step_text else start
        if not (0 <= start <= end <= 23) or step < 1:
            raise ValueError(part)
        hours.update(range(start, end + 1, step))
    return hours


def validate_schedule(schedule: str) -> str:
    """A 5-field cron schedule that fires every day at least every 6 hours (ECR tokens live 12 h)."""
    fields = schedule.split()
    if len(fields) != 5:
        raise ConfigError("schedule", "a cron schedule has 5 fields (minute hour day month weekday), "
                                      "e.g. '0 */4 * * *'")
    if any(f != "*" for f in fields[2:]):
        raise ConfigError("schedule", "day, month and weekday must be '*': ECR tokens expire after 12 hours")
    try:
        hours = sorted(_cron_hours(fields[1]))
    except ValueError:
        raise ConfigError("schedule",
                          f"hour field {fields[1]!r} is not a cron hour list (e.g. */4)") from None
    gaps = [(b - a) for a, b in zip(hours, hours[1:])] + [hours[0] + 24 - hours[-1]]
    if max(gaps) > 6:
        raise ConfigError("schedule", f"hour field {fields[1]!r} leaves {max(gaps)} hours between refreshes; "
                                      "ECR tokens expire after 12 hours: refresh at least every 6 hours")
    return schedule


def refresh_cronjob_manifests(
    service: RegistryService,
    namespace: str,
    *,
    image: str,
    secret_name: str | None = None,
    to_namespaces: Iterable[str] = (),
    schedule: str = DEFAULT_REFRESH_SCHEDULE,
    name: str = "mlrun-registry-ecr-refresh",
    service_account: str | None = None,
    role_arn: str | None = None,
    aws_secret_name: str | None = None,
) -> list[dict[str, Any]]:
    """ServiceAccount, Role, RoleBinding and CronJob that rewrite the ECR pull secret on a schedule.

    The container runs ``mlrun-registry ecr refresh`` with the service's CPU/memory requests and limits.
    AWS identity: ``role_arn`` (IRSA annotation on the service account), else the AWS credentials secret
    (``aws_secret_name``, mounted as ``AWS_SHARED_CREDENTIALS_FILE``), else the node's role.
    """
    if service.ecr is None:
        raise ConfigError("url", "the refresh CronJob is for ECR registries (tokens expire after 12 hours)")
    validate_namespace(namespace)
    validate_dns1123_label(name, "name")
    targets = validate_namespaces(to_namespaces)
    validate_schedule(schedule)
    if not image or any(ch.isspace() for ch in image):
        raise ConfigError("image", "the CronJob needs an image that has mlrun-registry-ext installed")
    plan = secret_plan(service, secret_name)
    if plan.docker_config is None:
        raise ConfigError("secret_name", "ECR on the IAM role: name the pull secret to refresh (secret_name)")
    pull = plan.docker_config
    sa_name = service_account or name
    validate_dns1123_subdomain(sa_name, "service_account")
    labels = managed_labels("ecr-refresh", service)
    sa_meta: dict[str, Any] = {"name": sa_name, "namespace": namespace, "labels": labels}
    if role_arn:
        if not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+\Z", role_arn):
            raise ConfigError("role_arn", "expected arn:aws:iam::<account>:role/<name>")
        sa_meta["annotations"] = {"eks.amazonaws.com/role-arn": role_arn}
    env: list[dict[str, Any]] = [
        {"name": "MLRUN_REGISTRY_EXT_URL", "value": service.url},
        {"name": "MLRUN_REGISTRY_EXT_SECRET_NAME", "value": pull},
        {"name": "AWS_REGION", "value": service.ecr.region if service.ecr else ""},
        {"name": "HOME", "value": POD_HOME},  # the token cache; any UID can write there
    ]
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    aws_secret = aws_secret_name or (plan.aws_credentials if not role_arn else None)
    if aws_secret:
        validate_secret_name(aws_secret, "aws_secret_name")
        volumes.append({"name": "aws-credentials", "secret": {"secretName": aws_secret}})
        mounts.append({"name": "aws-credentials", "mountPath": "/tmp/aws", "readOnly": True})
        env.append({"name": "AWS_SHARED_CREDENTIALS_FILE", "value": "/tmp/aws/credentials"})
    args = ["ecr", "refresh", "--namespace", namespace]
    for target in targets:
        args += ["--to", target]
    container: dict[str, Any] = {
        "name": "refresh",
        "image": image,
        "command": cli_command([]),
        "args": [kube_escape(arg) for arg in args],
        "env": env,
        "securityContext": dict(SECURITY_CONTEXT),
    }
    resources = service.resources.as_kubernetes()
    if resources:
        container["resources"] = resources
    if mounts:
        container["volumeMounts"] = mounts
    pod_spec: dict[str, Any] = {"serviceAccountName": sa_name, "restartPolicy": "OnFailure",
                                "containers": [container]}
    if volumes:
        pod_spec["volumes"] = volumes
    role_rules: list[dict[str, Any]] = [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "update", "patch"],
         "resourceNames": [pull]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
    ]
    manifests: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": sa_meta}]
    # the Job's own namespace first, then each other one it writes the pull secret into
    for where in [namespace, *(t for t in targets if t != namespace)]:
        meta = {"name": name, "namespace": where, "labels": labels}
        manifests += [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": role_rules},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": dict(meta),
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
             "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": namespace}]},
        ]
    manifests.append({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "startingDeadlineSeconds": 600,
            "jobTemplate": {"spec": {"backoffLimit": 3, "activeDeadlineSeconds": 600,
                                     "template": {"metadata": {"labels": labels}, "spec": pod_spec}}},
        },
    })
    return manifests
