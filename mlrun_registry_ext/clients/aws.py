"""AWS client: ECR tokens, repositories and IAM checks through ``boto3`` (imported inside functions).

For ECR the service's username/password are an AWS access key ID and secret access key (the platform's
Docker Registry page says so); blank means the default credential chain (the cluster's IAM role,
IRSA, or the environment). ``AWS_ENDPOINT_URL`` is honoured by boto3 itself (tests use moto on loopback).

Authorization tokens are cached per (account, region, identity, endpoint) in a JSON file shared by
every process of the user (``0600`` in a ``0700`` directory, guarded by ``flock``) and refreshed at
half-life, as amazon-ecr-credential-helper does.

Nothing here knows MLRun: its project secrets (``mlrun-project-secrets-<project>``) are read and
judged in :mod:`mlrun_registry_ext.features.credentials`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from mlrun_registry_ext.clients.extras import extra_module
from mlrun_registry_ext.clients.local_config import read_text_file
from mlrun_registry_ext.clients.registry.client import ListingBudget
from mlrun_registry_ext.core.credentials.docker_config import ECR_TOKEN_LIFETIME_SECONDS
from mlrun_registry_ext.core.credentials.iam import (
    ECR_TOKEN_ACTION,
    ecr_repository_arn,
    ecr_repository_prefix,
    ecr_required_checks,
    evaluate_policies,
)
from mlrun_registry_ext.core.providers import PushPreparation, ecr_token_password
from mlrun_registry_ext.core.providers.ecr import cache_lifecycle_policy, is_cache_repository, repositories_with_cache
from mlrun_registry_ext.core.secrets import SecretText as SecretStr
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.errors import ConfigError, RegistryAPIError

CACHE_ENV = "MLRUN_REGISTRY_EXT_CACHE_DIR"
CACHE_FILE = "ecr-tokens.json"


def _require_ecr(service: RegistryService) -> tuple[str, str]:
    if service.ecr is None:
        raise ConfigError("url", f"{service.url!r} is not an ECR registry (<account>.dkr.ecr.<region>"
                                 ".amazonaws.com[/path])")
    return service.ecr.account, service.ecr.region


def _botocore_config() -> Any:
    Config = extra_module("botocore.config").Config

    return Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=30)


def session(service: RegistryService) -> Any:
    """A boto3 session for ``service``: its access keys when it has them, else the default chain."""
    boto3 = extra_module("boto3")

    _account, region = _require_ecr(service)
    if service.has_credentials and service.password is not None:
        return boto3.Session(aws_access_key_id=service.username,
                             aws_secret_access_key=service.password.get_secret_value(), region_name=region)
    return boto3.Session(region_name=region)


def client(service: RegistryService, name: str, boto_session: Any = None) -> Any:
    boto_session = boto_session or session(service)
    return boto_session.client(name, config=_botocore_config())


@contextlib.contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """botocore errors as one line naming the action (no request bodies, no credentials)."""
    BotoCoreError = extra_module("botocore.exceptions").BotoCoreError
    ClientError = extra_module("botocore.exceptions").ClientError
    NoCredentialsError = extra_module("botocore.exceptions").NoCredentialsError
    ResponseParserError = extra_module("botocore.parsers").ResponseParserError

    try:
        yield
    except NoCredentialsError:
        raise RegistryAPIError(f"{action}: no AWS credentials (set the service's access key ID/secret access key, "
                               "or give the pod an IAM role)") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "Error")
        message = str(error.get("Message", ""))[:300]
        raise RegistryAPIError(f"{action}: {code}: {message}") from None
    except (BotoCoreError, ResponseParserError) as exc:
        raise RegistryAPIError(f"{action}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from None


def ecr_listing(ecr: Any, operation: str, key: str, *, what: str, host: str = "ECR",
                max_pages: int | None = None, max_items: int | None = None, max_seconds: float | None = None,
                **params: Any) -> list[Any]:
    """Every item ``key`` of ECR's paged ``operation`` (``describe_repositories``: ``repositories``,
    ``describe_images``: ``imageDetails``), following ``nextToken`` within the registry listing caps
    (:class:`~mlrun_registry_ext.clients.registry.client.ListingBudget`): a listing whose ``nextToken``
    never ends stops with ListingLimitError, as the registry API's catalog and tags do. botocore errors
    are the caller's to translate (:func:`aws_errors`)."""
    budget = ListingBudget(what, host, params.get("repositoryName"), max_pages, max_items, max_seconds)
    pages = iter(ecr.get_paginator(operation).paginate(**params))
    items: list[Any] = []
    while True:
        budget.next_page()
        try:
            page = next(pages)
        except StopIteration:
            return items
        found = page.get(key) if isinstance(page, Mapping) else None
        if not isinstance(found, list):  # never read as "no items": a listing read short looks complete
            raise RegistryAPIError(f"ECR {operation} answered a page without a {key!r} list; not read as empty")
        items += budget.add(found)


def _identity_key(boto_session: Any) -> str:
    """A stable, non-secret fingerprint of the session's identity (hash of its access key ID)."""
    with aws_errors("AWS credentials"):
        credentials = boto_session.get_credentials()
    if credentials is None:
        raise RegistryAPIError("ecr token: no AWS credentials (set the service's access key ID/secret access key, "
                               "or give the pod an IAM role)")
    key_id = credentials.get_frozen_credentials().access_key
    return hashlib.sha256(key_id.encode()).hexdigest()[:16]


# --- token cache -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class EcrToken:
    """An ECR authorization token. ``password`` goes in a docker config under user ``AWS``."""

    token: SecretStr = field(repr=False)
    proxy_endpoint: str
    issued_at: float
    expires_at: float
    from_cache: bool = False

    @property
    def password(self) -> SecretStr:
        """The token's password part (checked to be base64 of ``AWS:<password>``)."""
        return ecr_token_password(self.token)

    @property
    def refresh_at(self) -> float:
        return self.issued_at + (self.expires_at - self.issued_at) / 2

    def expires_iso(self) -> str:
        return datetime.fromtimestamp(self.expires_at).astimezone().isoformat(timespec="seconds")


def cache_dir() -> Path:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mlrun-registry-ext"


def private_dir(directory: Path) -> Path:
    """A directory only this user can enter, at or under ``directory``; the mode of a directory this
    did not create is never changed.

    Created here: made 0700. Already there and private (ours, no group/other access): used as is.
    Anything else (a shared 1777 ``/tmp``-like directory, someone else's, or ours but open to others):
    a subdirectory ``mlrun-registry-ext-<uid>`` inside it, created 0700, is used instead; one that
    exists but is not ours, not a directory (a planted symlink) or not private is refused.
    """
    uid = os.getuid()
    try:
        directory.mkdir(parents=True, mode=0o700)
        os.chmod(directory, 0o700)  # ours: mkdir's mode went through the umask
        return directory
    except FileExistsError:
        pass
    info = os.lstat(directory)
    if stat.S_ISDIR(info.st_mode) and info.st_uid == uid and not info.st_mode & 0o077:
        return directory
    sub = directory / f"mlrun-registry-ext-{uid}"
    try:
        sub.mkdir(mode=0o700)
        os.chmod(sub, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(sub)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid or info.st_mode & 0o077:
        raise ConfigError(CACHE_ENV, f"{sub} exists but is not a private directory of this user (0700); "
                                     "remove it or choose another cache directory")
    return sub


@contextlib.contextmanager
def _locked_cache(directory: Path) -> Iterator[Path]:
    directory = private_dir(directory)
    lock_path = directory / (CACHE_FILE + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield directory / CACHE_FILE
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def get_ecr_token(service: RegistryService, *, use_cache: bool = True, boto_session: Any = None,
                  now: float | None = None) -> EcrToken:
    """An ECR token for the service's registry account, from the shared cache while before half-life."""
    account, region = _require_ecr(service)
    boto_session = boto_session or session(service)
    endpoint = os.environ.get("AWS_ENDPOINT_URL_ECR") or os.environ.get("AWS_ENDPOINT_URL") or ""
    key = f"{account}|{region}|{_identity_key(boto_session)}|{endpoint}"
    if not use_cache:
        return _fetch_token(service, boto_session, account, time.time())
    with _locked_cache(cache_dir()) as path:
        current = time.time() if now is None else now
        data = _read_cache(path)
        entry = data.get(key)
        if isinstance(entry, dict):
            try:
                cached = EcrToken(token=SecretStr(entry["token"]), proxy_endpoint=entry["proxy_endpoint"],
                                  issued_at=float(entry["issued_at"]), expires_at=float(entry["expires_at"]),
                                  from_cache=True)
                if current < cached.refresh_at:
                    return cached
            except (KeyError, TypeError, ValueError):
                pass
        token = _fetch_token(service, boto_session, account, current)
        data = {k: v for k, v in data.items() if isinstance(v, dict) and float(v.get("expires_at", 0)) > current}
        data[key] = {"token": token.token.get_secret_value(), "proxy_endpoint": token.proxy_endpoint,
                     "issued_at": token.issued_at, "expires_at": token.expires_at}
        _write_cache(path, data)
        return token


def _fetch_token(service: RegistryService, boto_session: Any, account: str, now: float) -> EcrToken:
    ecr = client(service, "ecr", boto_session)
    with aws_errors("ecr GetAuthorizationToken"):
        answer = ecr.get_authorization_token(registryIds=[account])
    data = (answer.get("authorizationData") or [{}])[0]
    token = data.get("authorizationToken")
    if not token:
        raise RegistryAPIError("ecr GetAuthorizationToken: the answer carried no token")
    expires = data.get("expiresAt")
    expires_at = expires.timestamp() if isinstance(expires, datetime) else 0.0
    if expires_at <= now:
        # a clock far off (or an emulator's fixed date): assume ECR's documented 12-hour lifetime
        expires_at = now + ECR_TOKEN_LIFETIME_SECONDS
    return EcrToken(token=SecretStr(token), proxy_endpoint=str(data.get("proxyEndpoint", "")),
                    issued_at=now, expires_at=expires_at)


# --- repositories ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RepositoryResult:
    name: str
    action: str  # created | exists | updated
    arn: str

    def __str__(self) -> str:
        return f"{self.name}: {self.action}"


def ensure_repositories(
    service: RegistryService,
    repositories: Iterable[str],
    *,
    with_cache: bool | None = None,
    immutable: bool | None = None,
    scan_on_push: bool | None = None,
    boto_session: Any = None,
) -> list[RepositoryResult]:
    """Create the repositories (and ``<repo>/cache`` when ``with_cache``, by default when the service says
    ``cache: true``: only then does Kaniko push layers there); an existing one is success (its settings are
    updated only when ``immutable`` / ``scan_on_push`` are given and differ)."""
    _require_ecr(service)
    with_cache = service.cache if with_cache is None else with_cache
    plan = service.rules.prepare_push(repositories, service.host, with_cache=with_cache)
    return create_repositories(service, plan, immutable=immutable, scan_on_push=scan_on_push,
                               boto_session=boto_session)


def create_repositories(
    service: RegistryService,
    plan: PushPreparation,
    *,
    immutable: bool | None = None,
    scan_on_push: bool | None = None,
    boto_session: Any = None,
) -> list[RepositoryResult]:
    """Execute a push preparation (the provider's pure plan, names already validated): create each
    repository; an existing one is success (settings updated as in :func:`ensure_repositories`)."""
    account, _region = _require_ecr(service)
    ecr = client(service, "ecr", boto_session)
    results: list[RepositoryResult] = []
    for name in plan.create_repositories:
        kwargs: dict[str, Any] = {"repositoryName": name, "registryId": account}
        if immutable is not None:
            kwargs["imageTagMutability"] = "IMMUTABLE" if immutable else "MUTABLE"
        if scan_on_push is not None:
            kwargs["imageScanningConfiguration"] = {"scanOnPush": scan_on_push}
        ClientError = extra_module("botocore.exceptions").ClientError

        created: dict[str, Any] | None = None
        with aws_errors(f"ecr CreateRepository {name}"):
            try:
                created = ecr.create_repository(**kwargs)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "RepositoryAlreadyExistsException":
                    raise
        if created is not None:
            if is_cache_repository(name):
                # Kaniko's layer cache: created with the policy that expires it
                with aws_errors(f"ecr PutLifecyclePolicy {name}"):
                    ecr.put_lifecycle_policy(registryId=account, repositoryName=name,
                                             lifecyclePolicyText=json.dumps(cache_lifecycle_policy()))
            results.append(RepositoryResult(name, "created", created["repository"]["repositoryArn"]))
            continue
        with aws_errors(f"ecr DescribeRepositories {name}"):
            repo = ecr.describe_repositories(registryId=account, repositoryNames=[name])["repositories"][0]
        action = "exists"
        if immutable is not None and repo.get("imageTagMutability") != kwargs["imageTagMutability"]:
            with aws_errors(f"ecr PutImageTagMutability {name}"):
                ecr.put_image_tag_mutability(registryId=account, repositoryName=name,
                                             imageTagMutability=kwargs["imageTagMutability"])
            action = "updated"
        current_scan = (repo.get("imageScanningConfiguration") or {}).get("scanOnPush")
        if scan_on_push is not None and bool(current_scan) != scan_on_push:
            with aws_errors(f"ecr PutImageScanningConfiguration {name}"):
                ecr.put_image_scanning_configuration(registryId=account, repositoryName=name,
                                                     imageScanningConfiguration={"scanOnPush": scan_on_push})
            action = "updated"
        results.append(RepositoryResult(name, action, repo["repositoryArn"]))
    return results


def ensure_repository(service: RegistryService, repository: str, *, with_cache: bool = False,
                      boto_session: Any = None) -> RepositoryResult:
    """One repository (e.g. a migration target); existing is success."""
    return ensure_repositories(service, [repository], with_cache=with_cache, boto_session=boto_session)[0]


# --- identity and permissions ----------------------------------------------------------------------
@dataclass(frozen=True)
class PermissionCheck:
    action: str
    resource: str
    decision: str  # allowed | explicitDeny | implicitDeny

    @property
    def allowed(self) -> bool:
        return self.decision == "allowed"


@dataclass
class PermissionReport:
    identity: str
    principal: str
    method: str
    checks: list[PermissionCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        out: list[str] = []
        for check in self.checks:
            if not check.allowed and check.action not in out:
                out.append(check.action)
        return out

    @property
    def ok(self) -> bool:
        return not self.missing

    def as_dict(self) -> dict[str, Any]:
        return {"identity": self.identity, "principal": self.principal, "method": self.method, "ok": self.ok,
                "missing": self.missing, "notes": list(self.notes),
                "checks": [{"action": c.action, "resource": c.resource, "decision": c.decision}
                           for c in self.checks]}


def caller_identity(service: RegistryService, boto_session: Any = None) -> dict[str, str]:
    sts = client(service, "sts", boto_session)
    with aws_errors("sts GetCallerIdentity"):
        answer = sts.get_caller_identity()
    return {"arn": answer["Arn"], "account": answer["Account"], "user_id": answer.get("UserId", "")}


def _principal_arn(arn: str, iam: Any) -> tuple[str, str, str]:
    """(principal ARN for IAM, kind user|role|root, name) from an STS caller ARN."""
    parts = arn.split(":", 5)
    resource = parts[5] if len(parts) == 6 else ""
    if resource.startswith("assumed-role/"):
        role = resource.split("/")[1]
        with aws_errors("iam GetRole"):
            return iam.get_role(RoleName=role)["Role"]["Arn"], "role", role
    if resource.startswith("user/"):
        return arn, "user", resource.rsplit("/", 1)[-1]
    if resource == "root":
        return arn, "root", "root"
    return arn, "other", resource


def _policy_documents(iam: Any, kind: str, name: str) -> list[dict[str, Any]]:
    """Identity-based policies of a user (with its groups) or role: attached managed and inline."""
    def doc(value: Any) -> dict[str, Any]:
        return json.loads(unquote(value)) if isinstance(value, str) else dict(value)

    def managed(arns: Iterable[str]) -> list[dict[str, Any]]:
        out = []
        for arn in arns:
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            out.append(doc(iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]))
        return out

    docs: list[dict[str, Any]] = []
    if kind == "user":
        attached = iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
        docs += managed(p["PolicyArn"] for p in attached)
        for policy in iam.list_user_policies(UserName=name)["PolicyNames"]:
            docs.append(doc(iam.get_user_policy(UserName=name, PolicyName=policy)["PolicyDocument"]))
        for group in iam.list_groups_for_user(UserName=name)["Groups"]:
            gname = group["GroupName"]
            docs += managed(p["PolicyArn"] for p in iam.list_attached_group_policies(GroupName=gname)
                            ["AttachedPolicies"])
            for policy in iam.list_group_policies(GroupName=gname)["PolicyNames"]:
                docs.append(doc(iam.get_group_policy(GroupName=gname, PolicyName=policy)["PolicyDocument"]))
    elif kind == "role":
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        docs += managed(p["PolicyArn"] for p in attached)
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            docs.append(doc(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]))
    return docs


def verify_permissions(
    service: RegistryService,
    *,
    prefix: str | None = None,
    repositories: Iterable[str] = (),
    boto_session: Any = None,
) -> PermissionReport:
    """Check the caller (STS) against the least-privilege policy with IAM's policy simulator.

    When the simulator is unavailable (an emulator, or no ``iam:SimulatePrincipalPolicy`` right), the
    principal's own identity policies are read and evaluated locally (Allow/Deny, wildcards; statements
    with conditions are not counted as Allow), and the report says so.
    """
    BotoCoreError = extra_module("botocore.exceptions").BotoCoreError
    ClientError = extra_module("botocore.exceptions").ClientError
    ResponseParserError = extra_module("botocore.parsers").ResponseParserError

    _require_ecr(service)
    ecr_repository_prefix(service, prefix)
    boto_session = boto_session or session(service)
    identity = caller_identity(service, boto_session)
    iam = client(service, "iam", boto_session)
    principal, kind, name = _principal_arn(identity["arn"], iam)
    checks_wanted = ecr_required_checks(service, prefix, repositories)
    report = PermissionReport(identity=identity["arn"], principal=principal, method="iam:SimulatePrincipalPolicy")
    if kind == "root":
        report.method = "root account"
        report.notes.append("the root account is allowed everything; use an IAM user or role for builds")
        report.checks = [PermissionCheck(a, r, "allowed") for a, r in checks_wanted]
        return report
    by_resource: dict[str, list[str]] = {}
    for action, resource in checks_wanted:
        by_resource.setdefault(resource, []).append(action)
    try:
        for resource, actions in by_resource.items():
            kwargs: dict[str, Any] = {"PolicySourceArn": principal, "ActionNames": actions}
            if resource != "*":
                kwargs["ResourceArns"] = [resource]
            answer = iam.simulate_principal_policy(**kwargs)
            for result in answer.get("EvaluationResults", []):
                report.checks.append(PermissionCheck(result["EvalActionName"], resource, result["EvalDecision"]))
        return report
    except (ClientError, BotoCoreError, ResponseParserError) as exc:
        reason = exc.response.get("Error", {}).get("Code", "error") if isinstance(exc, ClientError) \
            else type(exc).__name__
    report.checks = []
    report.method = "local evaluation of the principal's identity policies"
    report.notes.append(f"IAM policy simulation unavailable ({reason}); evaluated the attached and inline "
                        "policies locally (no conditions, permission boundaries or SCPs)")
    with aws_errors("iam (reading the principal's policies)"):
        documents = _policy_documents(iam, kind, name)
    for action, resource in checks_wanted:
        report.checks.append(PermissionCheck(action, resource, evaluate_policies(documents, action, resource)))
    return report


# --- workload identity (IRSA) -------------------------------------------------------------------------
#: What EKS injects into a pod whose service account carries eks.amazonaws.com/role-arn.
WEB_IDENTITY_ENV = ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")


def web_identity_ecr_token(service: RegistryService, role_arn: str, token_file: str) -> EcrToken:
    """IRSA's exchange, step by step as the ecr-login helper does it: STS ``AssumeRoleWithWebIdentity``
    with the projected service-account token, then ECR ``GetAuthorizationToken`` with the returned
    temporary credentials. The token file is read with the package's file rules (regular, <= 1 MiB)."""
    boto3 = extra_module("boto3")

    account, region = _require_ecr(service)
    token = read_text_file(Path(token_file), "AWS_WEB_IDENTITY_TOKEN_FILE").strip()
    sts = boto3.Session(region_name=region).client("sts", config=_botocore_config())
    with aws_errors("sts AssumeRoleWithWebIdentity"):
        answer = sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="mlrun-registry-ext",
                                                   WebIdentityToken=token, DurationSeconds=900)
    creds = answer.get("Credentials") or {}
    if not creds.get("AccessKeyId"):
        raise RegistryAPIError("sts AssumeRoleWithWebIdentity: the answer carried no credentials")
    assumed = boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                            aws_session_token=creds.get("SessionToken"), region_name=region)
    return _fetch_token(service, assumed, account, time.time())


def check_web_identity(service: RegistryService, environ: Mapping[str, str]) -> tuple[str, bool, str]:
    """The doctor's web-identity check: the role EKS injected must match the service's ``identity``, and
    the exchange must give an ECR token."""
    role_arn, token_file = (environ.get(key) for key in WEB_IDENTITY_ENV)
    if not role_arn or not token_file:
        return ("ecr web identity", False, "AWS_ROLE_ARN / AWS_WEB_IDENTITY_TOKEN_FILE are not set: this pod's "
                                           "service account has no eks.amazonaws.com/role-arn (IRSA)")
    if service.identity and role_arn != service.identity:
        return ("ecr web identity", False, f"the pod's role {role_arn} is not the service's identity "
                                           f"{service.identity}")
    try:
        token = web_identity_ecr_token(service, role_arn, token_file)
    except (RegistryAPIError, ConfigError) as exc:
        return ("ecr web identity", False, str(exc))
    return ("ecr web identity", True, f"{role_arn}: ECR token valid until {token.expires_iso()}")


def check_ecr(service: RegistryService) -> list[tuple[str, bool, str]]:
    """Doctor checks for ECR: identity, token, permissions. Each (name, ok, detail); never raises for
    an AWS answer (a failed check carries the one-line reason)."""
    if service.ecr is None:
        return []
    out: list[tuple[str, bool, str]] = []
    if service.workload_identity and service.identity:
        out.append(check_web_identity(service, os.environ))
    boto_session = None
    try:
        boto_session = session(service)
        identity = caller_identity(service, boto_session)
        out.append(("ecr identity", True, identity["arn"]))
    except RegistryAPIError as exc:
        out.append(("ecr identity", False, str(exc)))
        return out
    try:
        token = get_ecr_token(service, boto_session=boto_session)
        out.append(("ecr token", True, f"valid until {token.expires_iso()}" + (" (cached)" if token.from_cache
                                                                             else "")))
    except RegistryAPIError as exc:
        out.append(("ecr token", False, str(exc)))
    try:
        report = verify_permissions(service, boto_session=boto_session)
        detail = "all actions allowed" if report.ok else "missing: " + ", ".join(report.missing)
        if report.method != "iam:SimulatePrincipalPolicy":
            detail += f" ({report.method})"
        out.append(("ecr permissions", report.ok, detail))
    except RegistryAPIError as exc:
        out.append(("ecr permissions", False, str(exc)))
    return out


__all__ = [
    "ECR_TOKEN_ACTION",
    "EcrToken",
    "PermissionCheck",
    "PermissionReport",
    "RepositoryResult",
    "caller_identity",
    "check_ecr",
    "check_web_identity",
    "create_repositories",
    "ecr_repository_arn",
    "ensure_repositories",
    "ensure_repository",
    "get_ecr_token",
    "repositories_with_cache",
    "session",
    "verify_permissions",
    "web_identity_ecr_token",
]
