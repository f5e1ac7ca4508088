"""ECR permissions as data: the least-privilege IAM policy, the actions and ARNs it names (with the
partition of each region), and a tiny evaluator of identity policies.

Pure: :mod:`mlrun_registry_ext.clients.aws` asks IAM's simulator and falls back to
:func:`evaluate_policies` when it is unavailable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from mlrun_registry_ext.core.providers import EcrProvider, parse_ecr_host
from mlrun_registry_ext.errors import ConfigError

if TYPE_CHECKING:
    from mlrun_registry_ext.core.service import RegistryService

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
        EcrProvider().validate_repository(value, service.host, "prefix")
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
    if service.ecr is None:
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
