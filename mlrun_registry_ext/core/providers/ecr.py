"""Amazon ECR: account/region hosts, single-separator repository names, logins as 12-hour tokens
traded for AWS keys (user ``AWS``), repositories created before a push, the AWS side in the doctor.

The host grammar covers the commercial, China, GovCloud, ISO and FIPS endpoints
(shared/reference/registries.md).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from mlrun_registry_ext.core.notes import Note
from mlrun_registry_ext.core.origin import host_name
from mlrun_registry_ext.core.providers.base import DoctorCheck, Provider, PushPreparation, RegistryProvider
from mlrun_registry_ext.core.secrets import SecretText
from mlrun_registry_ext.errors import ConfigError

ECR_HOST_RE = re.compile(
    r"^(?P<account>\d{12})\.dkr[.-]ecr(?P<fips>-fips)?\.(?P<region>[a-z0-9-]+)\."
    r"(?:amazonaws\.com(?:\.cn)?|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)\Z"
)
#: An IAM role ARN (commercial, China, GovCloud and ISO partitions).
IAM_ROLE_ARN_RE = re.compile(r"arn:aws(?:-cn|-us-gov|-iso(?:-[a-z])?)?:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
#: IRSA's service-account annotation (EKS "IAM roles for service accounts").
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
ECR_REPOSITORY_RE = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*\Z")
#: The docker login user of an ECR token.
ECR_TOKEN_USER = "AWS"
#: Name of the doctor's probe for the AWS side (identity, token, IAM actions).
ECR_PROBE = "ecr"
#: The doctor check's name in reports.
ECR_CHECK = "ECR (AWS)"

#: Note codes (stable; adapters and tools match on these, never on the text).
ECR_BUILD_SECRET_NOT_MOUNTED = "ecr-build-secret-not-mounted"
ECR_INSTANCE_ROLE = "ecr-instance-role"
ECR_SERVER_UNPREPARED = "ecr-server-unprepared"


@dataclass(frozen=True)
class EcrLocation:
    account: str
    region: str
    fips: bool = False


def parse_ecr_host(host: str) -> EcrLocation | None:
    """Account and region of an ECR host (``host`` may carry a port); None for any other host."""
    match = ECR_HOST_RE.match(host_name(host))
    if not match:
        return None
    return EcrLocation(account=match["account"], region=match["region"], fips=bool(match["fips"]))


def ecr_token_password(token: str | SecretText) -> SecretText:
    """ECR's authorization token is base64 of ``AWS:<password>``; return the password part."""
    text = token.get_secret_value() if isinstance(token, SecretText) else token
    try:
        decoded = base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ConfigError("token", "the ECR authorization token is not base64 of AWS:<password>") from None
    user, sep, password = decoded.partition(":")
    if not sep or user != ECR_TOKEN_USER or not password:
        raise ConfigError("token", "the ECR authorization token is not base64 of AWS:<password>")
    return SecretText(password)


def repositories_with_cache(repositories: Iterable[str], with_cache: bool = True) -> list[str]:
    """Each repository and, as MLRun and Nuclio expect for Kaniko's layer cache, ``<repo>/cache``."""
    out: list[str] = []
    for repo in repositories:
        for name in (repo, f"{repo}/cache") if with_cache else (repo,):
            if name not in out:
                out.append(name)
    return out


#: Days a Kaniko cache image lives in ``<repo>/cache`` unless ``ecr lifecycle --cache-days`` says otherwise.
DEFAULT_CACHE_DAYS = 7


def cache_lifecycle_policy(days: int = DEFAULT_CACHE_DAYS) -> dict[str, Any]:
    """For Kaniko's ``<repo>/cache`` repositories: every cache image expires ``days`` after its push
    (a cache entry is only worth its reuse; a miss costs one rebuild of a layer), so the cache never
    reaches ECR's per-repository image limit (kaniko 3089)."""
    if days < 1:
        raise ConfigError("--cache-days", f"{days} is not allowed; expected 1 or more")
    return {"rules": [
        {"rulePriority": 1, "description": f"expire Kaniko cache images {days} day(s) after push",
         "selection": {"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days",
                       "countNumber": days},
         "action": {"type": "expire"}},
    ]}


def repository_lifecycle_policy(keep: int, *, untagged_days: int = 1) -> dict[str, Any]:
    """For a function repository: the lifecycle policy closest to ``prune --keep N``: untagged images
    expire after ``untagged_days``, and all but the ``keep`` newest images. ECR knows nothing of which
    images functions use: only ``prune`` protects those."""
    if keep < 1:
        raise ConfigError("--keep", f"{keep} is not allowed; an ECR lifecycle rule keeps at least 1 image")
    return {"rules": [
        {"rulePriority": 1, "description": f"expire untagged images after {untagged_days} day(s)",
         "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                       "countNumber": untagged_days},
         "action": {"type": "expire"}},
        {"rulePriority": 2, "description": f"keep the {keep} newest images",
         "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
         "action": {"type": "expire"}},
    ]}


def is_cache_repository(name: str) -> bool:
    return name.endswith("/cache")


class EcrProvider(RegistryProvider):
    provider = Provider.ECR
    ambient_auth = "the cluster's IAM role (instance profile or IRSA)"
    credential_hint = "an AWS access key ID as username and secret access key as password, or blank for the IAM role"
    token_login = True
    creates_repositories_on_push = False
    build_secret_per_function = False
    mounts_blobs = False
    doctor_checks: ClassVar[tuple[DoctorCheck, ...]] = (DoctorCheck(ECR_CHECK, "network", probe=ECR_PROBE),)
    # ECR's username/password are AWS keys: the registry login is a token from the AWS API.
    doctor_auth_detail = "ECR logins are tokens from the AWS API (GetAuthorizationToken): see the ECR check"
    credential_helper = "ecr-login"
    identity_annotation = IRSA_ANNOTATION
    identity_hint = ("an IAM role ARN (arn:aws:iam::<account>:role/<name>) for IRSA, or none for EKS Pod "
                     "Identity (the association names the role)")
    identity_bound_elsewhere = ("EKS Pod Identity: the association names the role (aws eks "
                                "list-pod-identity-associations; not checked)")

    def validate_identity(self, identity: str | None, field: str = "identity") -> None:
        """IRSA needs the role ARN on the service account; EKS Pod Identity needs nothing there (the
        association made with ``aws eks create-pod-identity-association`` names the role)."""
        if identity is not None and not IAM_ROLE_ARN_RE.fullmatch(identity):
            raise ConfigError(field, f"not an IAM role ARN; expected {self.identity_hint}")

    @classmethod
    def matches(cls, host: str, bare: str, namespace_domain: str | None) -> bool:
        return ECR_HOST_RE.match(bare) is not None

    def validate_repository(self, repository: str, host: str, field: str = "image") -> None:
        super().validate_repository(repository, host, field)
        if len(repository) > 256:
            raise ConfigError(field, f"ECR repository names are at most 256 characters ({len(repository)} given)")
        if not ECR_REPOSITORY_RE.match(repository):
            raise ConfigError(field, f"{repository!r} is not a valid ECR repository name; ECR allows only single "
                                     "'.', '_' or '-' between lowercase letters and digits")

    def check_url_path(self, path: str, host: str, field: str = "url") -> None:
        if path:
            self.validate_repository(path + "/x", host, field)

    def token_password(self, token: str | SecretText) -> tuple[str, SecretText]:
        return ECR_TOKEN_USER, ecr_token_password(token)

    def prepare_push(self, repositories: Iterable[str], host: str, *, with_cache: bool = False,
                     field: str = "repository") -> PushPreparation:
        """ECR refuses a push to a repository that does not exist: create each (and ``/cache``) first."""
        names = repositories_with_cache(repositories, with_cache)
        for name in names:
            self.validate_repository(name, host, field)
        return PushPreparation(tuple(names))

    def build_notes(self, builder: str, has_credentials: bool, aws_secret_name: str | None) -> tuple[Note, ...]:
        """MLRun's and Nuclio's ECR rules: no per-function build secret; keys go through the server's
        AWS credentials secret, else the IAM role."""
        if has_credentials:
            who = "MLRun" if builder == "mlrun" else "Nuclio"
            setting = ("MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY_SECRET" if builder == "mlrun"
                       else "NUCLIO_KANIKO_REGISTRY_PROVIDER_AUTH_SECRET_NAME")
            mounted = Note(ECR_BUILD_SECRET_NOT_MOUNTED,
                           f"ECR: {who} does not mount a per-function build secret for ECR; the build uses the "
                           f"server's AWS credentials secret ({setting}={aws_secret_name}) or the "
                           "cluster's IAM role. See `mlrun-registry platform-config`.")
            if builder != "mlrun":
                return (mounted,)
            # The keys reach the build only through the server's setting: mlrun/mlrun
            # server/py/services/api/utils/builder/kaniko.py at c4da47ad (and mlrun 1.5.2's
            # mlrun/api/utils/builder.py) configure_kaniko_ecr_env_and_init_container assumes the instance
            # role when docker_registry_secret is empty, and make_kaniko_pod adds --insecure-pull/--insecure
            # in the default "auto" modes when the function has no build secret (ECR functions have none).
            return (mounted, Note(ECR_SERVER_UNPREPARED,
                                  "ECR: the credentials configured here reach the build only if the MLRun API has "
                                  f"MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY_SECRET={aws_secret_name}; on a server "
                                  "without it, its Kaniko pod falls back to the node's IAM role "
                                  "(AWS_SDK_LOAD_CONFIG=true) and, in the default 'auto' insecure modes, passes "
                                  "--insecure --insecure-pull (plain HTTP allowed to ECR and base-image "
                                  "registries): apply `mlrun-registry platform-config` first"))
        if builder == "mlrun":
            # mlrun server builder.py make_kaniko_pod: with insecure_*_registry_mode "auto" (the default)
            # and no secret, Kaniko gets --insecure --insecure-pull; configure_kaniko_ecr_init_container
            # assumes the instance role when docker_registry_secret is empty.
            return (Note(ECR_INSTANCE_ROLE,
                         "ECR: no credentials configured, so the MLRun server (without "
                         "MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY_SECRET) pushes with the node's IAM role "
                         "(instance profile or IRSA), and in its default 'auto' insecure mode it passes "
                         "--insecure --insecure-pull to Kaniko (plain HTTP allowed to ECR and base-image "
                         "registries); set MLRUN_HTTPDB__BUILDER__INSECURE_PUSH_REGISTRY_MODE=disabled and "
                         "..._INSECURE_PULL_REGISTRY_MODE=disabled (see `mlrun-registry platform-config`)"),)
        return (Note(ECR_INSTANCE_ROLE, "ECR: builds push with the cluster's IAM role (no credentials "
                                        "configured)"),)

    def platform_notes(self, has_credentials: bool, aws_secret_name: str | None,
                       docker_secret: str) -> tuple[str, ...]:
        if not has_credentials:
            return ("ECR without credentials: the MLRun API, Nuclio dashboard and Kaniko pods need an IAM role "
                    "(instance profile or IRSA) with the push and CreateRepository actions",)
        return (f"ECR: {aws_secret_name} must hold an AWS credentials file under key 'credentials'; "
                f"{docker_secret} holds the 12-hour pull token (refresh it with a CronJob)",)
