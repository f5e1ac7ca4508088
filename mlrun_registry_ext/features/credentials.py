"""Registry credentials from Python (notebooks, ``project_setup.py``) and the ``secret`` / ``ecr`` commands.

Everything takes ``registry``: a :class:`RegistryService`, a resolved registry (``ResolvedRegistry`` or
``ActiveRegistry``) or nothing (resolved from explicit overrides, env, ``.env`` and the config file)::

    import mlrun_registry_ext.features.credentials as creds
    creds.apply_registry_secret(namespace="mlrun", to=["team-a"])           # push/pull secret(s)
    creds.ensure_ecr_repositories(project="proj", functions={"trainer": "job", "serve": "serving"})
    creds.verify_ecr_permissions().missing                                   # [] when the role is enough
    creds.refresh_ecr_pull_secret(namespace="mlrun", to=["team-a"])          # 12-hour ECR token

Kubernetes is reached with in-cluster config or the kubeconfig; AWS with the service's access keys or the
default credential chain. ``dry_run=True`` builds the manifests without a cluster.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlrun_registry_ext.clients.aws import create_repositories, get_ecr_token, verify_permissions
from mlrun_registry_ext.clients.extras import extra_module
from mlrun_registry_ext.clients.kube import ApplyResult, connect, copy_manifest, ensure_namespace_value, secret_summary
from mlrun_registry_ext.core import credentials as core
from mlrun_registry_ext.core.build import MergedLogins, pulled_services
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.core.targets import project_image_target, push_target
from mlrun_registry_ext.errors import ConfigError, RegistryExtError, quote
from mlrun_registry_ext.features.api import as_service
from mlrun_registry_ext.features.mlrun_hooks import project_functions

__all__ = [
    "SecretReport",
    "apply_registry_secret",
    "copy_registry_secret",
    "delete_registry_secret",
    "ecr_policy",
    "ecr_refresh_cronjob",
    "ensure_ecr_repositories",
    "project_secret_notes",
    "project_secret_session",
    "refresh_ecr_pull_secret",
    "registry_secret_manifests",
    "show_registry_secret",
    "verify_ecr_permissions",
]


@dataclass
class SecretReport:
    """What an apply/refresh/copy/delete did (or would do): results per namespace, notes, manifests."""

    results: list[Any] = field(default_factory=list)
    manifests: list[dict[str, Any]] = field(default_factory=list, repr=False)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    def lines(self) -> list[str]:
        return [str(r) for r in self.results] + [f"note: {n}" for n in self.notes]

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "notes": list(self.notes),
                "results": [{"namespace": r.namespace, "name": r.name, "action": r.action} for r in self.results]}

    def __repr__(self) -> str:
        return f"<SecretReport {'; '.join(self.lines()) or 'nothing to do'}>"


def _namespaces(namespace: str | None, to: Iterable[str] | str | None) -> tuple[str, list[str]]:
    if isinstance(to, str):
        to = [to]
    targets = core.validate_namespaces(to or [], "to")
    main = ensure_namespace_value(namespace)
    return main, [t for t in targets if t != main]


def registry_secret_manifests(
    registry: Any = None,
    *,
    namespace: str = "default",
    secret_name: str | None = None,
    login_url: str | None = None,
    options: Mapping[str, str] | None = None,
    ecr_token: Any = None,
    fetch_ecr_token: bool = True,
    services: Mapping[str, RegistryService] | None = None,
    **overrides: Any,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The Secret manifests the service needs in ``namespace`` and notes. Pure for non-ECR registries;
    for ECR, the pull secret's token comes from ``ecr_token`` or boto3 (never from ``options``: option
    values are command-line text).

    With ``pull_from`` the docker config secret is ONE secret with every login merged: the
    service's own and those of the services it names (looked up in ``services``, default: the resolved
    registry's configured services); see :mod:`mlrun_registry_ext.core.build` for why one."""
    if services is None:
        services = _services_of(registry)
    service = as_service(registry, **overrides)
    pulled = pulled_services(service, services or {}) if service.pull_from else ()
    core.validate_namespace(namespace)
    opts = core.check_provider_options(service.provider, options)
    plan = core.secret_plan(service, secret_name)
    notes: list[str] = []
    manifests: list[dict[str, Any]] = []
    if service.workload_identity:
        logins = _pulled_logins(pulled, fetch_ecr_token, notes) if pulled else []
        return _workload_identity_manifests(service, namespace, plan, logins, notes)
    if service.rules.token_login:
        if plan.aws_credentials:
            manifests.append(core.aws_credentials_secret(plan.aws_credentials, namespace, service))
        if plan.docker_config:
            token = ecr_token
            if token is None and fetch_ecr_token:
                fetched = get_ecr_token(service)
                token = fetched.token
                expires = fetched.expires_iso()
            else:
                expires = None
            if token is not None:
                login: Any = core.docker_login(service, login_url=login_url, options=opts, ecr_token=token)
                if pulled:
                    login = MergedLogins((login, *_pulled_logins(pulled, fetch_ecr_token, notes)))
                manifest = core.docker_config_secret(
                    plan.docker_config, namespace, login, service=service,
                    annotations={core.EXPIRES_ANNOTATION: expires} if expires else None)
                manifests.append(manifest)
                notes.append(f"{plan.docker_config} holds an ECR token valid 12 hours: refresh it with "
                             "`mlrun-registry ecr refresh` (see `mlrun-registry ecr cronjob`)")
        else:
            notes.append("ECR on the cluster's IAM role: no pull secret is named (set secret_name to manage "
                         "one with a refreshed token)")
        if not plan.aws_credentials:
            notes.append("ECR without access keys: Kaniko pushes with the cluster's IAM role")
        return manifests, notes
    if plan.docker_config is None:
        hint = service.rules.credential_hint
        raise ConfigError("username", f"the {service.provider.value} service has no username/password to store "
                                      f"in a secret ({hint})")
    if not pulled:
        login = core.docker_login(service, login_url=login_url, options=opts)
        manifests.append(core.docker_config_secret(plan.docker_config, namespace, login, service=service))
        return manifests, notes
    own = [core.docker_login(service, login_url=login_url, options=opts)] if service.has_credentials else []
    logins = [*own, *_pulled_logins(pulled, fetch_ecr_token, notes)]
    if not logins:
        raise ConfigError("pull_from", f"neither {service.name!r} nor the services it pulls from "
                                       f"({', '.join(service.pull_from)}) have a login to store")
    merged = MergedLogins(tuple(logins))
    merged.docker_config()  # two different logins for one host: refused before anything is written
    manifests.append(core.docker_config_secret(plan.docker_config, namespace, merged, service=service))
    notes.append(f"{plan.docker_config} carries the logins for {merged.key}: the build secret (MLRun "
                 "spec.build.secret, Nuclio spec.imagePullSecrets) and the functions' pull secret")
    return manifests, notes


def _services_of(registry: Any) -> Mapping[str, RegistryService]:
    """The configured services a resolved registry knows (empty for a bare RegistryService)."""
    resolved = getattr(registry, "resolved", registry)
    found = getattr(resolved, "all_services", None)
    return found if isinstance(found, dict) else {}


def _pulled_logins(pulled: Iterable[RegistryService], fetch_ecr_token: bool, notes: list[str]) -> list[Any]:
    """The docker logins of the services a build pulls from: an ECR token fetched with that service's
    keys (or the caller's AWS identity), a username/password login, or nothing for an anonymous one."""
    out: list[Any] = []
    for other in pulled:
        if other.rules.token_login:
            if not fetch_ecr_token:
                notes.append(f"{other.name}: no ECR token fetched (dry run without AWS): its login is left out")
                continue
            out.append(core.docker_login(other, ecr_token=get_ecr_token(other).token))
            notes.append(f"{other.name}: the ECR token in the merged secret is valid 12 hours")
        elif other.has_credentials:
            out.append(core.docker_login(other))
        else:
            notes.append(f"{other.name}: no login configured, pulled anonymously")
    return out


def _workload_identity_manifests(service: RegistryService, namespace: str, plan: core.SecretPlan,
                                 pulled: Sequence[Any], notes: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """``auth: workload-identity``: the service account's annotation and labels, and (where the build
    mounts a per-function secret) Kaniko's config naming the credential helper, without a login for the
    host (``pulled``: the logins of the registries in ``pull_from`` stay in it)."""
    rules = service.rules
    manifests: list[dict[str, Any]] = []
    notes.append(f"workload identity: Kaniko logs in to {service.host} through docker-credential-"
                 f"{rules.credential_helper}, with the identity of service account {service.service_account}")
    if plan.docker_config:
        manifests.append(core.helper_config_secret(plan.docker_config, namespace, service, pulled))
    else:
        notes.append("ECR: MLRun and Nuclio mount no per-function build secret for ECR; Kaniko's own config "
                     "already names ecr-login, which reads the web identity (IRSA) or EKS Pod Identity")
    manifests.append(core.service_account_manifest(service, namespace))
    if service.identity is None:
        notes.append(f"EKS Pod Identity: no annotation; create the association for service account "
                     f"{service.service_account} (aws eks create-pod-identity-association)")
    notes.append("image pulls of running functions go through the node (kubelet), not the workload identity: "
                 "give the nodes pull rights on the registry")
    return manifests, notes


def apply_registry_secret(
    registry: Any = None,
    *,
    namespace: str | None = None,
    to: Iterable[str] | str | None = None,
    secret_name: str | None = None,
    login_url: str | None = None,
    options: Mapping[str, str] | None = None,
    dry_run: bool = False,
    force: bool = False,
    kubeconfig: str | None = None,
    client: Any = None,
    ecr_token: Any = None,
    services: Mapping[str, RegistryService] | None = None,
    **overrides: Any,
) -> SecretReport:
    """Create or update the service's secret(s) in ``namespace`` and every ``to`` namespace, idempotently.

    Everything is validated and built before the first write (bad input leaves the cluster untouched).
    ``ecr_token`` is an ECR authorization token obtained elsewhere (default: boto3 fetches one).
    """
    main, targets = _namespaces(namespace, to)
    first, notes = registry_secret_manifests(registry, namespace=main, secret_name=secret_name,
                                             login_url=login_url, options=options, ecr_token=ecr_token,
                                             services=services, **overrides)
    # the same docker configs in the other namespaces (one token fetch, identical data); the AWS
    # credentials file stays where Kaniko runs (functions' namespaces only need to pull)
    manifests = list(first)
    for ns in targets:
        manifests += [_readdress(m, ns, copy_manifest) for m in first if m.get("type") == core.DOCKER_CONFIG_TYPE]
        manifests += [_readdress_account(m, ns) for m in first if m["kind"] == "ServiceAccount"]
    report = SecretReport(manifests=manifests, notes=notes, dry_run=dry_run)
    if dry_run:
        report.results = [ApplyResult(m["metadata"]["namespace"], m["metadata"]["name"], "would-apply")
                          for m in manifests]
        return report
    kube = client or _kube(kubeconfig)
    report.results = [kube.patch_service_account(m) if m["kind"] == "ServiceAccount" else
                      kube.apply_secret(m, force=force) for m in manifests]
    return report


def _readdress_account(manifest: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    copied = json.loads(json.dumps(manifest))
    copied["metadata"]["namespace"] = namespace
    return copied


def _readdress(manifest: Mapping[str, Any], namespace: str, copier: Any) -> dict[str, Any]:
    copied: dict[str, Any] = copier(manifest, namespace)
    copied["metadata"]["annotations"].pop(core.COPIED_FROM_ANNOTATION, None)
    return copied


def _kube(kubeconfig: str | None) -> Any:
    return connect(kubeconfig)


def show_registry_secret(
    registry: Any = None,
    *,
    namespace: str | None = None,
    secret_name: str | None = None,
    kubeconfig: str | None = None,
    client: Any = None,
    **overrides: Any,
) -> list[dict[str, Any]]:
    """Summaries (type, keys, login hosts, users; never values) of the service's secrets in ``namespace``."""
    main, _ = _namespaces(namespace, None)
    names = _secret_names(registry, secret_name, overrides)
    kube = client or _kube(kubeconfig)
    out = []
    for name in names:
        secret = kube.get_secret(main, name)
        out.append(secret_summary(secret) if secret else {"name": name, "namespace": main, "exists": False})
    return out


def _secret_names(registry: Any, secret_name: str | None, overrides: dict[str, Any]) -> list[str]:
    service = as_service(registry, **overrides)
    names = core.secret_plan(service, secret_name).names()
    if not names:
        if secret_name:
            return [core.validate_secret_name(secret_name)]
        raise ConfigError("secret_name", "the service needs no secret (no credentials); name one with secret_name")
    return names


def copy_registry_secret(
    registry: Any = None,
    *,
    namespace: str | None = None,
    to: Iterable[str] | str,
    secret_name: str | None = None,
    force: bool = False,
    kubeconfig: str | None = None,
    client: Any = None,
    **overrides: Any,
) -> SecretReport:
    """Copy the service's secret(s) from ``namespace`` to every ``to`` namespace (Nuclio functions deploy
    to namespaces other than the dashboard's; secrets do not cross namespaces)."""
    main, targets = _namespaces(namespace, to)
    if not targets:
        raise ConfigError("to", "name at least one target namespace other than the source")
    names = _secret_names(registry, secret_name, overrides)
    kube = client or _kube(kubeconfig)
    report = SecretReport()
    for name in names:
        report.results += kube.copy_secret(name, main, targets, force=force)
    return report


def delete_registry_secret(
    registry: Any = None,
    *,
    namespace: str | None = None,
    to: Iterable[str] | str | None = None,
    secret_name: str | None = None,
    dry_run: bool = False,
    kubeconfig: str | None = None,
    client: Any = None,
    **overrides: Any,
) -> SecretReport:
    """Delete the service's secret(s) in ``namespace`` and ``to`` — only those this package manages."""
    main, targets = _namespaces(namespace, to)
    names = _secret_names(registry, secret_name, overrides)
    report = SecretReport(dry_run=dry_run)
    if dry_run:
        report.results = [ApplyResult(ns, n, "would-delete") for ns in [main, *targets] for n in names]
        return report
    kube = client or _kube(kubeconfig)
    for ns in [main, *targets]:
        for name in names:
            report.results.append(kube.delete_secret(ns, name))
    return report


# --- MLRun project secrets ----------------------------------------------------------------------------
def project_secret_notes(service: RegistryService, project_secret: Mapping[str, Any] | None,
                         project: str) -> list[str]:
    """Warnings about ``mlrun-project-secrets-<project>``'s AWS keys for ECR builds (see mlrun.md)."""
    notes: list[str] = []
    data = (project_secret or {}).get("data") or {}
    has_id, has_key = "AWS_ACCESS_KEY_ID" in data, "AWS_SECRET_ACCESS_KEY" in data
    name = core.PROJECT_SECRET_PREFIX + project
    if has_id != has_key:
        notes.append(f"{name} has only one of AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; set both or neither")
    if has_id and has_key:
        notes.append(f"{name} sets AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: MLRun removes them from the Kaniko "
                     "build of ECR targets (they would conflict with the role), so the build uses "
                     + (f"the server's AWS credentials secret ({service.aws_secret_name})" if service.has_credentials
                        else "the cluster's IAM role")
                     + "; they still reach the function's own pods")
    elif not service.has_credentials:
        notes.append(f"{name} has no AWS keys and the service has none: builds and pulls rely on the cluster's "
                     "IAM role (instance profile or IRSA)")
    return notes


def project_secret_session(project_secret: Mapping[str, Any] | None, region: str) -> Any:
    """A boto3 session from the project secret's AWS keys (None when it has none)."""
    boto3 = extra_module("boto3")  # heavy: only when a project secret is really used

    data = (project_secret or {}).get("data") or {}
    if "AWS_ACCESS_KEY_ID" not in data or "AWS_SECRET_ACCESS_KEY" not in data:
        return None
    key_id = base64.b64decode(data["AWS_ACCESS_KEY_ID"]).decode().strip()
    secret = base64.b64decode(data["AWS_SECRET_ACCESS_KEY"]).decode().strip()
    return boto3.Session(aws_access_key_id=key_id, aws_secret_access_key=secret, region_name=region)


# --- ECR ---------------------------------------------------------------------------------------------
def _ecr_service(registry: Any, overrides: dict[str, Any]) -> RegistryService:
    service = as_service(registry, **overrides)
    if service.ecr is None:
        raise ConfigError("url", f"{quote(service.url)} is not an ECR registry (<account>.dkr.ecr.<region>"
                                 ".amazonaws.com[/path])")
    if service.has_credentials:
        core.validate_aws_keys(service.username, service.password)
    return service


def ecr_policy(registry: Any = None, *, prefix: str | None = None, push: bool = True, pull: bool = True,
               create: bool = True, **overrides: Any) -> dict[str, Any]:
    """The least-privilege IAM policy document for the service's repository prefix."""
    return core.ecr_policy_document(_ecr_service(registry, overrides), prefix=prefix, push=push, pull=pull,
                                    create=create)


def _function_kinds(functions: Any) -> dict[str, str]:
    if functions is None:
        return {}
    if isinstance(functions, Mapping):
        return {str(k): str(v) for k, v in functions.items()}
    if isinstance(functions, str):
        functions = [functions]
    if hasattr(functions, "spec") and hasattr(functions, "metadata"):  # an MLRun project
        return {name: getattr(fn, "kind", "job") or "job" for name, fn in project_functions(functions).items()}
    out: dict[str, str] = {}
    for item in functions:
        name, _, kind = str(item).partition(":")
        out[name] = kind or "job"
    return out


def ecr_repositories_for(registry: Any = None, *, project: str | None = None, functions: Any = None,
                         tag: str | None = None, **overrides: Any) -> list[str]:
    """The repositories the push targets of ``project``'s ``functions`` need (the project image when no
    function is named)."""
    service = _ecr_service(registry, {**overrides, "project": project})
    kinds = _function_kinds(functions)
    if kinds and not project:
        raise ConfigError("project", "functions need their project to compute their image names")
    repos: list[str] = []
    if project and not kinds:
        repos.append(project_image_target(service, project, tag).repository)
    for name, kind in kinds.items():
        target = push_target(service, project or "", name, kind, tag)
        repo = target.image.rsplit(":", 1)[0].split("/", 1)[1]  # host/<repository>:tag
        if repo not in repos:
            repos.append(repo)
    return repos


def ensure_ecr_repositories(
    registry: Any = None,
    *,
    project: str | None = None,
    functions: Any = None,
    repositories: Iterable[str] = (),
    with_cache: bool | None = None,
    immutable: bool | None = None,
    scan_on_push: bool | None = None,
    tag: str | None = None,
    **overrides: Any,
) -> list[Any]:
    """Create what the targets need, plus ``<repo>/cache`` when the service says ``cache: true`` (or
    ``with_cache``); existing repositories are success."""
    service = _ecr_service(registry, {**overrides, "project": project})
    repos = list(repositories)
    if project or functions:
        repos += [r for r in ecr_repositories_for(service, project=project, functions=functions, tag=tag)
                  if r not in repos]
    if not repos:
        raise ConfigError("project", "name a project (and functions) or repositories to create")
    with_cache = service.cache if with_cache is None else with_cache
    plan = service.rules.prepare_push(repos, service.host, with_cache=with_cache)
    return create_repositories(service, plan, immutable=immutable, scan_on_push=scan_on_push)


def verify_ecr_permissions(
    registry: Any = None,
    *,
    prefix: str | None = None,
    project: str | None = None,
    namespace: str | None = None,
    kubeconfig: str | None = None,
    client: Any = None,
    **overrides: Any,
) -> Any:
    """Simulate the caller's rights against the policy; with ``project`` (and a cluster) also check the
    project secrets ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` and MLRun's role/key conflict."""
    service = _ecr_service(registry, {**overrides, "project": project})
    report = verify_permissions(service, prefix=prefix)
    if project:
        name = core.project_secret_name(project)
        main, _ = _namespaces(namespace, None)
        try:
            kube = client or _kube(kubeconfig)
            secret = kube.get_secret(main, name)
        except RegistryExtError as exc:
            report.notes.append(f"could not read {name} in {main}: {exc}")
        else:
            if secret is None:
                report.notes.append(f"{name} not found in namespace {main}")
            report.notes += project_secret_notes(service, secret, project)
    return report


def refresh_ecr_pull_secret(
    registry: Any = None,
    *,
    namespace: str | None = None,
    to: Iterable[str] | str | None = None,
    secret_name: str | None = None,
    dry_run: bool = False,
    kubeconfig: str | None = None,
    client: Any = None,
    **overrides: Any,
) -> SecretReport:
    """Rewrite the ECR pull secret with a fresh token (cached until half-life) in every namespace: what the
    refresh CronJob runs."""
    service = _ecr_service(registry, overrides)
    plan = core.secret_plan(service, secret_name)
    if plan.docker_config is None:
        raise ConfigError("secret_name", "ECR on the IAM role: name the pull secret to refresh (secret_name)")
    main, targets = _namespaces(namespace, to)
    token = get_ecr_token(service)
    login = core.docker_login(service, ecr_token=token.token)
    manifests = [core.docker_config_secret(plan.docker_config, ns, login, service=service,
                                           annotations={core.EXPIRES_ANNOTATION: token.expires_iso()})
                 for ns in [main, *targets]]
    report = SecretReport(manifests=manifests, dry_run=dry_run,
                          notes=[f"token valid until {token.expires_iso()}"
                                 + (" (from the shared cache)" if token.from_cache else "")])
    if dry_run:
        report.results = [ApplyResult(ns, plan.docker_config, "would-apply") for ns in [main, *targets]]
        return report
    kube = client or _kube(kubeconfig)
    report.results = [kube.apply_secret(m) for m in manifests]
    return report


def ecr_refresh_cronjob(registry: Any = None, *, namespace: str, image: str, to: Iterable[str] = (),
                        secret_name: str | None = None, schedule: str = core.DEFAULT_REFRESH_SCHEDULE,
                        role_arn: str | None = None, **overrides: Any) -> list[dict[str, Any]]:
    """ServiceAccount, Role(s), RoleBinding(s) and the CronJob that keeps the ECR pull secret fresh."""
    service = _ecr_service(registry, overrides)
    return core.refresh_cronjob_manifests(service, namespace, image=image, secret_name=secret_name,
                                          to_namespaces=to, schedule=schedule, role_arn=role_arn)
