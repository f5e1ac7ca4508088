"""Registry credentials as data: docker configs, AWS credentials files, Kubernetes manifests, IAM policies.

Pure: no network and no kubernetes/boto3 imports. The clients (``clients/kube.py``, ``clients/aws.py``)
send what is built here. Secret values are held in :class:`pydantic.SecretStr` and only leave it inside
base64 ``data`` of a Secret manifest, the one place they must be; reprs and errors never show them.

Per-provider login formats (shared/reference/registries.md):

========== ================================================ ===================================
provider   ``auths`` key                                    username
========== ================================================ ===================================
Docker Hub ``https://index.docker.io/v1/``                  the user
ECR        the registry host                                ``AWS`` (password: an ECR token)
ACR        the registry host                                admin user, service principal, or
                                                            ``00000000-0000-...`` (refresh token)
GCR / GAR  the registry host                                ``_json_key``, ``_json_key_base64``
                                                            or ``oauth2accesstoken``
GHCR       ``ghcr.io``                                      the GitHub user (password: a PAT)
Quay       ``quay.io``                                      a robot ``org+name``
others     the registry host (or Nuclio's ``loginUrl``)     the user
========== ================================================ ===================================
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlrun_registry_ext.core.providers import ACR_TOKEN_USER, Provider, parse_ecr_host
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

DOCKERHUB_LOGIN_KEY = "https://index.docker.io/v1/"
GCR_USERS = ("_json_key", "_json_key_base64", "oauth2accesstoken")
#: ECR tokens live 12 hours; the refresh CronJob runs well inside that.
ECR_TOKEN_LIFETIME_SECONDS = 12 * 3600
DEFAULT_REFRESH_SCHEDULE = "0 */4 * * *"

AWS_ACCESS_KEY_ID_RE = re.compile(r"^(?:AKIA|ASIA|AIDA|AROA|ANPA|ANVA|APKA)[A-Z0-9]{12,124}\Z")
PROJECT_SECRET_PREFIX = "mlrun-project-secrets-"

#: Options each provider accepts (``--option key=value`` on the command line).
PROVIDER_OPTIONS: dict[Provider, dict[str, str]] = {
    Provider.ACR: {"auth": "user (admin user or service principal, default) or token (ACR refresh token)"},
    Provider.GCR: {"auth": "json_key, json_key_base64 or access_token"},
    Provider.GAR: {"auth": "json_key, json_key_base64 or access_token"},
    Provider.QUAY: {"robot": "robot account short name; the username becomes <organization>+<name>"},
}


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


def _b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


# --- docker config ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DockerLogin:
    """One ``auths`` entry. The password is a SecretStr and never part of the repr."""

    key: str
    username: str
    password: SecretStr = field(repr=False)

    def entry(self) -> dict[str, str]:
        secret = self.password.get_secret_value()
        return {
            "username": self.username,
            "password": secret,
            "auth": _b64(f"{self.username}:{secret}"),
        }

    def docker_config(self) -> dict[str, Any]:
        return {"auths": {self.key: self.entry()}}

    def docker_config_json(self) -> str:
        return json.dumps(self.docker_config(), separators=(",", ":"), sort_keys=True)


def normalise_login_host(login_url: str, field: str = "login_url") -> str:
    """Nuclio's ``loginUrl``: accept a scheme and a path, keep ``host[:port]`` (Docker Hub keeps its URL)."""
    text = login_url.strip()
    if not text:
        raise ConfigError(field, "the login URL is empty; expected host[:port]")
    if text.rstrip("/") in ("https://index.docker.io/v1", "index.docker.io/v1"):
        return DOCKERHUB_LOGIN_KEY
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme.lower() not in ("http", "https"):
            raise ConfigError(field, f"scheme {scheme + '://'!r} is not allowed; use host[:port] or https://host")
    host = text.split("/", 1)[0]
    from mlrun_registry_ext.core.reference import validate_host

    return validate_host(host, field)


def check_provider_options(provider: Provider, options: Mapping[str, str] | None) -> dict[str, str]:
    """Unknown options are an error naming the ones this provider accepts."""
    options = dict(options or {})
    allowed = PROVIDER_OPTIONS.get(provider, {})
    for key in options:
        if key not in allowed:
            names = ", ".join(sorted(allowed)) or "none"
            raise ConfigError(f"option {key}",
                              f"unknown option for provider {provider.value}; allowed: {names}")
    return options


def ecr_token_password(token: str | SecretStr) -> SecretStr:
    """ECR's authorization token is base64 of ``AWS:<password>``; return the password part."""
    text = token.get_secret_value() if isinstance(token, SecretStr) else token
    try:
        decoded = base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ConfigError("token", "the ECR authorization token is not base64 of AWS:<password>") from None
    user, sep, password = decoded.partition(":")
    if not sep or user != "AWS" or not password:
        raise ConfigError("token", "the ECR authorization token is not base64 of AWS:<password>")
    return SecretStr(password)


def docker_login(
    service: RegistryService,
    *,
    login_url: str | None = None,
    options: Mapping[str, str] | None = None,
    ecr_token: str | SecretStr | None = None,
) -> DockerLogin:
    """The ``auths`` entry ``service`` needs, with the provider's login key and user.

    ``login_url`` is Nuclio's ``loginUrl`` when the login host differs from the push path. For ECR the
    service's username/password are AWS keys, not a docker login: pass ``ecr_token`` (from
    ``GetAuthorizationToken``) and the entry is ``AWS`` with the token's password.
    """
    provider = service.provider
    opts = check_provider_options(provider, options)
    key = normalise_login_host(login_url) if login_url else service.rules.login_key(service.host)
    if provider is Provider.ON_CLUSTER and service.is_server_default:
        raise ConfigError("url", "'.' is the MLRun server's own registry: give the registry URL to log in to")

    if provider is Provider.ECR:
        if ecr_token is None:
            raise ConfigError("token", "an ECR docker login needs an authorization token "
                                       "(GetAuthorizationToken): use `mlrun-registry ecr refresh` or "
                                       "the Python API refresh_ecr_pull_secret")
        return DockerLogin(key=key, username="AWS", password=ecr_token_password(ecr_token))

    if not service.has_credentials or service.password is None or not service.username:
        hint = service.rules.credential_hint
        raise ConfigError("username",
                          f"a docker login for {provider.value} needs a username and password: {hint}")
    username: str = service.username
    password = service.password

    if provider is Provider.ACR:
        auth = opts.get("auth", "token" if username == ACR_TOKEN_USER else "user")
        if auth not in ("user", "token"):
            raise ConfigError("option auth", f"{auth!r} is not allowed for acr; allowed: user, token")
        if auth == "token":
            username = ACR_TOKEN_USER
    elif provider in (Provider.GCR, Provider.GAR):
        username = _google_username(username, password, opts.get("auth"))
    elif provider is Provider.QUAY:
        robot = opts.get("robot")
        if robot is not None:
            org = service.path.split("/", 1)[0]
            if not org or not re.match(r"^[a-z][a-z0-9_]{1,254}\Z", robot):
                raise ConfigError("option robot", "a Quay robot needs the organization as the URL path "
                                                  "(quay.io/<org>) and a short name of [a-z0-9_]")
            username = f"{org}+{robot}"
        elif "+" in username and not re.match(r"^[a-z0-9_]+\+[a-z0-9_]+\Z", username):
            raise ConfigError("username", "a Quay robot account is written <organization>+<name>")
    return DockerLogin(key=key, username=username, password=password)


def _google_username(username: str, password: SecretStr, auth: str | None) -> str:
    by_option = {"json_key": "_json_key", "json_key_base64": "_json_key_base64",
                 "access_token": "oauth2accesstoken"}
    if auth is not None:
        if auth not in by_option:
            raise ConfigError("option auth", f"{auth!r} is not allowed; allowed: {', '.join(by_option)}")
        username = by_option[auth]
    if username not in GCR_USERS:
        raise ConfigError("username", f"Google registries take the user {', '.join(GCR_USERS)} "
                                      "(service-account key or access token), or --option auth=...")
    if username == "_json_key":
        try:
            parsed = json.loads(password.get_secret_value())
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or "private_key" not in parsed:
            raise ConfigError("password",
                              "for _json_key the password must be a service-account JSON key file")
    return username


def docker_config_secret(
    name: str,
    namespace: str,
    login: DockerLogin,
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
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": managed_labels(KIND_DOCKER_CONFIG, service, labels),
            "annotations": meta_annotations,
        },
        "type": DOCKER_CONFIG_TYPE,
        "data": {DOCKER_CONFIG_KEY: _b64(login.docker_config_json())},
    }


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
    if service.provider is not Provider.ECR or service.ecr is None:
        raise ConfigError("url",
                          "an AWS credentials secret is for ECR registries (<account>.dkr.ecr.<region>...)")
    key_id, secret = validate_aws_keys(service.username, service.password)
    text = aws_credentials_file(key_id, secret, region=service.ecr.region)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": managed_labels(KIND_AWS_CREDENTIALS, service, labels),
            "annotations": {USERNAME_ANNOTATION: key_id},
        },
        "type": AWS_CREDENTIALS_TYPE,
        "data": {AWS_CREDENTIALS_KEY: _b64(text.get_secret_value())},
    }


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
    return SecretPlan(docker_config=docker, aws_credentials=aws, ecr_token=service.provider is Provider.ECR)


# --- manifests for the ECR refresh CronJob -----------------------------------------------------------
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
    gaps = [(b - a) for a, b in itertools.pairwise(hours)] + [hours[0] + 24 - hours[-1]]
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
    if service.provider is not Provider.ECR:
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
        "command": ["mlrun-registry"],
        "args": args,
        "env": env,
        "securityContext": {"allowPrivilegeEscalation": False},
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
    manifests: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": sa_meta},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": name, "namespace": namespace, "labels": labels}, "rules": role_rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": name, "namespace": namespace, "labels": labels},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": namespace}]},
    ]
    for target in targets:
        if target == namespace:
            continue
        manifests += [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
             "metadata": {"name": name, "namespace": target, "labels": labels}, "rules": role_rules},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": name, "namespace": target, "labels": labels},
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


# --- IAM ---------------------------------------------------------------------------------------------
ECR_PUSH_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:BatchGetImage",
)
ECR_PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage")
ECR_REPOSITORY_ACTIONS = ("ecr:CreateRepository", "ecr:DescribeRepositories")
ECR_TOKEN_ACTION = "ecr:GetAuthorizationToken"


def ecr_repository_actions(*, push: bool = True, pull: bool = True, create: bool = True) -> list[str]:
    actions: list[str] = []
    groups = ((ECR_PUSH_ACTIONS, push), (ECR_PULL_ACTIONS, pull), (ECR_REPOSITORY_ACTIONS, create))
    for group, wanted in groups:
        if wanted:
            actions += [a for a in group if a not in actions]
    return actions


def aws_partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    return "aws"


def ecr_repository_prefix(service: RegistryService, prefix: str | None = None) -> str:
    """The repository prefix a policy is scoped to: explicit, else the URL path ('' = every repository)."""
    value = service.path if prefix is None else prefix.strip("/")
    if value:
        from mlrun_registry_ext.core.providers import rules_for

        rules_for(Provider.ECR).validate_repository(value, service.host, "prefix")
    return value


def ecr_repository_arn(service: RegistryService, repository: str) -> str:
    location = parse_ecr_host(service.host)
    if location is None:
        raise ConfigError("url", "not an ECR registry host (<account>.dkr.ecr.<region>.amazonaws.com)")
    partition = aws_partition(location.region)
    return f"arn:{partition}:ecr:{location.region}:{location.account}:repository/{repository}"


def ecr_policy_resources(service: RegistryService, prefix: str | None = None) -> list[str]:
    value = ecr_repository_prefix(service, prefix)
    return [ecr_repository_arn(service, f"{value}/*" if value else "*")]


def ecr_policy_document(
    service: RegistryService,
    *,
    prefix: str | None = None,
    push: bool = True,
    pull: bool = True,
    create: bool = True,
) -> dict[str, Any]:
    """Least-privilege IAM policy: the token on ``*``, the rest on the repository prefix's ARN."""
    if service.provider is not Provider.ECR:
        raise ConfigError("url", "an ECR policy needs an ECR registry URL (<account>.dkr.ecr.<region>...)")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "EcrAuthorizationToken", "Effect": "Allow", "Action": [ECR_TOKEN_ACTION],
             "Resource": "*"},
            {"Sid": "EcrRepositories", "Effect": "Allow",
             "Action": ecr_repository_actions(push=push, pull=pull, create=create),
             "Resource": ecr_policy_resources(service, prefix)},
        ],
    }


def ecr_required_checks(service: RegistryService, prefix: str | None = None,
                        repositories: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(action, resource ARN) pairs a verification simulates: every action of the policy on one sample
    repository under the prefix (or each given repository), and the token on ``*``."""
    value = ecr_repository_prefix(service, prefix)
    repos = list(repositories) or [f"{value}/mlrun-registry-check" if value else "mlrun-registry-check"]
    checks = [(ECR_TOKEN_ACTION, "*")]
    for repo in repos:
        arn = ecr_repository_arn(service, repo)
        checks += [(action, arn) for action in ecr_repository_actions()]
    return checks


# --- a tiny IAM evaluator (used when the IAM simulator is not available) ------------------------------
def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _glob(pattern: str, value: str, *, case: bool) -> bool:
    """IAM wildcards: ``*`` any run of characters, ``?`` one character."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def evaluate_policies(documents: Iterable[Mapping[str, Any]], action: str, resource: str) -> str:
    """``allowed``, ``explicitDeny`` or ``implicitDeny`` for identity policies (no conditions evaluated:
    a statement with a Condition is not counted as an Allow)."""
    allowed = False
    for document in documents:
        statements = document.get("Statement", [])
        if isinstance(statements, Mapping):
            statements = [statements]
        for st in statements:
            if "Action" in st:
                action_ok = any(_glob(p, action, case=False) for p in _as_list(st["Action"]))
            else:
                action_ok = not any(_glob(p, action, case=False) for p in _as_list(st.get("NotAction")))
            if "Resource" in st:
                res_ok = any(_glob(p, resource, case=True) for p in _as_list(st["Resource"]))
            else:
                res_ok = not any(_glob(p, resource, case=True) for p in _as_list(st.get("NotResource")))
            if not (action_ok and res_ok):
                continue
            if st.get("Effect") == "Deny":
                return "explicitDeny"
            if st.get("Effect") == "Allow" and not st.get("Condition"):
                allowed = True
    return "allowed" if allowed else "implicitDeny"


def project_secret_name(project: str) -> str:
    validate_dns1123_label(project, "project")
    return PROJECT_SECRET_PREFIX + project
