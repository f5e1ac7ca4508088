"""Kubernetes client: registry secrets and platform Deployments through the ``kubernetes`` client.

The client is imported inside functions (``import mlrun_registry_ext`` stays light). Configuration:
in-cluster when running in a pod (``KUBERNETES_SERVICE_HOST`` and no ``KUBECONFIG``), else kubeconfig.

Objects are exchanged as plain dicts (``_preload_content=False``), so what is sent is exactly the
manifest built by :mod:`mlrun_registry_ext.core.credentials`. Errors become one line:
403 names the verb, resource and namespace RBAC must allow; 409 conflicts are retried.

The Deployment patches of :func:`apply_platform_config` are planned in
:mod:`mlrun_registry_ext.core.platform_patch`; this module only reads the Deployments and sends them.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlrun_registry_ext.clients.extras import extra_module
from mlrun_registry_ext.core.credentials.k8s_secrets import (
    AWS_CREDENTIALS_KEY,
    COPIED_FROM_ANNOTATION,
    DOCKER_CONFIG_KEY,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    is_managed,
    service_account_manifest,
    validate_namespace,
    validate_namespaces,
    validate_secret_name,
)
from mlrun_registry_ext.core.platform_config import PlatformConfig, platform_config
from mlrun_registry_ext.core.platform_patch import (
    Change,
    PlatformDiff,
    env_ops,
    registry_resources,
    resource_ops,
    service_account_changes,
)
from mlrun_registry_ext.errors import ConfigError, RegistryAPIError, RegistryExtError

if TYPE_CHECKING:
    from mlrun_registry_ext.core.resolution import ResolvedRegistry

log = logging.getLogger(__name__)

MAX_CONFLICT_RETRIES = 5
#: Deployments ``platform-config --apply`` patches, by role (missing ones are reported and skipped).
MLRUN_API_DEPLOYMENTS = ("mlrun-api-chief", "mlrun-api-worker", "mlrun-api")
NUCLIO_DASHBOARD_DEPLOYMENTS = ("nuclio-dashboard",)
REGISTRY_DEPLOYMENTS = ("docker-registry",)
#: Metadata fields the server owns; dropped when a secret is copied.
SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "ownerReferences",
                   "generation", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds")


@dataclass(frozen=True)
class ApplyResult:
    namespace: str
    name: str
    action: str  # created | updated | unchanged | deleted | absent | would-create | would-update

    def __str__(self) -> str:
        return f"secret/{self.name} {self.action} in namespace {self.namespace}"


def _api_client(kubeconfig: str | None = None, context: str | None = None) -> Any:
    client = extra_module("kubernetes.client")
    config = extra_module("kubernetes.config")

    if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST") \
            and not os.environ.get("KUBECONFIG"):
        try:
            config.load_incluster_config()
            return client.ApiClient()
        except config.ConfigException:
            pass
    # the client reads KUBECONFIG once at import; read it at call time instead
    config_file = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    try:
        configuration = client.Configuration()
        config.load_kube_config(config_file=config_file, context=context, client_configuration=configuration)
    except (config.ConfigException, FileNotFoundError, OSError) as exc:
        raise RegistryExtError(f"no Kubernetes configuration: not in a pod and no usable kubeconfig "
                               f"({type(exc).__name__}); set KUBECONFIG or --kubeconfig") from None
    return client.ApiClient(configuration)


def _status_of(exc: Any) -> tuple[int, str, str]:
    """(code, reason, message) of an ApiException, from its Status body when there is one."""
    code = int(getattr(exc, "status", 0) or 0)
    reason = str(getattr(exc, "reason", "") or "")
    message = ""
    body = getattr(exc, "body", None)
    if body:
        try:
            data = json.loads(body)
            reason = data.get("reason") or reason
            message = data.get("message") or ""
        except (ValueError, TypeError, AttributeError):
            pass
    return code, reason, message


class KubeClient:
    """Secrets and Deployments, as dicts. Build with :func:`connect` (or pass an ``ApiClient``)."""

    def __init__(self, api_client: Any) -> None:
        client = extra_module("kubernetes.client")

        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)

    # --- plumbing ------------------------------------------------------------------------------
    def _call(self, verb: str, resource: str, namespace: str, name: str | None, fn: Any,
              *args: Any, **kwargs: Any) -> Any:
        ApiException = extra_module("kubernetes.client.exceptions").ApiException
        HTTPError = extra_module("urllib3.exceptions").HTTPError

        try:
            response = fn(*args, _preload_content=False, **kwargs)
        except ApiException as exc:
            raise self._translate(exc, verb, resource, namespace, name) from None
        except (HTTPError, OSError) as exc:
            host = getattr(self.api_client.configuration, "host", "?")
            raise RegistryAPIError(
                f"cannot reach the Kubernetes API at {host}: {type(exc).__name__}") from None
        raw = response.data
        return json.loads(raw) if raw else {}

    @staticmethod
    def _translate(exc: Any, verb: str, resource: str, namespace: str, name: str | None) -> Exception:
        code, reason, message = _status_of(exc)
        target = f"{resource}/{name}" if name else resource
        if code == 403:
            return RegistryAPIError(
                f"forbidden: Kubernetes RBAC must allow verb '{verb}' on resource '{resource}' in namespace "
                f"'{namespace}' for this identity (while trying to {verb} {target})")
        if code == 401:
            return RegistryAPIError("unauthorized: the Kubernetes API rejected the credentials in the "
                                    "kubeconfig (expired token?)")
        if code == 404:
            return _NotFound(f"{target} not found in namespace '{namespace}'", reason, message)
        if code == 409:
            return _Conflict(f"{target} in namespace '{namespace}': {reason or 'Conflict'}", reason)
        short = message.split("\n", 1)[0][:300]
        return RegistryAPIError(f"Kubernetes API {code} {reason} on {verb} {target} in namespace "
                                f"'{namespace}': {short}")

    # --- secrets -------------------------------------------------------------------------------
    def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(self._call("get", "secrets", namespace, name,
                                   self.core.read_namespaced_secret, name, namespace))
        except _NotFound:
            return None

    def list_secrets(self, namespace: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        kwargs = {"label_selector": label_selector} if label_selector else {}
        data = self._call("list", "secrets", namespace, None, self.core.list_namespaced_secret,
                          namespace, **kwargs)
        return list(data.get("items") or [])

    def apply_secret(self, manifest: Mapping[str, Any], *, force: bool = False) -> ApplyResult:
        """Create or update idempotently. An existing secret not managed by this package is left alone
        unless ``force``; a changed ``type`` (immutable) recreates a managed secret."""
        meta = manifest["metadata"]
        name, namespace = meta["name"], meta["namespace"]
        validate_secret_name(name)
        validate_namespace(namespace)
        for _attempt in range(MAX_CONFLICT_RETRIES):
            current = self.get_secret(namespace, name)
            if current is None:
                try:
                    self._call("create", "secrets", namespace, name, self.core.create_namespaced_secret,
                               namespace, dict(manifest))
                    return ApplyResult(namespace, name, "created")
                except _Conflict:
                    log.info("secret/%s appeared in %s while creating it; retrying", name, namespace)
                    continue
            if not is_managed(current) and not force:
                raise RegistryExtError(
                    f"secret/{name} in namespace '{namespace}' exists and is not managed by "
                    "mlrun-registry-ext; choose another name or pass --force to take it over")
            if _same_secret(current, manifest):
                return ApplyResult(namespace, name, "unchanged")
            if current.get("type", "Opaque") != manifest.get("type", "Opaque"):
                # type is immutable: delete and create again (only our own secrets, or forced)
                self._call("delete", "secrets", namespace, name, self.core.delete_namespaced_secret,
                           name, namespace)
                self._call("create", "secrets", namespace, name, self.core.create_namespaced_secret,
                           namespace, dict(manifest))
                return ApplyResult(namespace, name, "updated")
            body = _merged(current, manifest)
            try:
                self._call("update", "secrets", namespace, name, self.core.replace_namespaced_secret,
                           name, namespace, body)
                return ApplyResult(namespace, name, "updated")
            except _Conflict:
                log.info("secret/%s in %s changed while updating it; retrying", name, namespace)
                continue
        raise RegistryAPIError(f"secret/{name} in namespace '{namespace}' kept changing under us "
                               f"({MAX_CONFLICT_RETRIES} conflicts); try again")

    def delete_secret(self, namespace: str, name: str, *, force: bool = False) -> ApplyResult:
        validate_secret_name(name)
        validate_namespace(namespace)
        current = self.get_secret(namespace, name)
        if current is None:
            return ApplyResult(namespace, name, "absent")
        if not is_managed(current) and not force:
            raise RegistryExtError(f"secret/{name} in namespace '{namespace}' is not managed by "
                                   "mlrun-registry-ext; not deleting it")
        try:
            self._call("delete", "secrets", namespace, name, self.core.delete_namespaced_secret,
                       name, namespace)
        except _NotFound:
            return ApplyResult(namespace, name, "absent")
        return ApplyResult(namespace, name, "deleted")

    def copy_secret(self, name: str, source_namespace: str, targets: Iterable[str], *,
                    force: bool = False) -> list[ApplyResult]:
        validate_secret_name(name)
        validate_namespace(source_namespace)
        target_list = [t for t in validate_namespaces(targets) if t != source_namespace]
        source = self.get_secret(source_namespace, name)
        if source is None:
            raise RegistryExtError(
                f"secret/{name} not found in namespace '{source_namespace}'; nothing to copy")
        return [self.apply_secret(copy_manifest(source, target), force=force) for target in target_list]

    # --- service accounts (workload identity) ---------------------------------------------------
    def get_service_account(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(self._call("get", "serviceaccounts", namespace, name,
                                   self.core.read_namespaced_service_account, name, namespace))
        except _NotFound:
            return None

    def patch_service_account(self, manifest: Mapping[str, Any]) -> ApplyResult:
        """Give a ServiceAccount the manifest's annotations and labels: create it when absent, else a
        merge patch of only those keys (the account's other annotations, labels and secrets stay)."""
        meta = manifest["metadata"]
        name, namespace = meta["name"], meta["namespace"]
        validate_namespace(namespace)
        wanted = {"annotations": dict(meta.get("annotations") or {}), "labels": dict(meta.get("labels") or {})}
        current = self.get_service_account(namespace, name)
        if current is None:
            self._call("create", "serviceaccounts", namespace, name, self.core.create_namespaced_service_account,
                       namespace, dict(manifest))
            return ApplyResult(namespace, name, "created")
        have = current.get("metadata") or {}
        if all((have.get(part) or {}).get(k) == v for part, values in wanted.items() for k, v in values.items()):
            return ApplyResult(namespace, name, "unchanged")
        patch = {"metadata": {part: values for part, values in wanted.items() if values}}
        self._call("patch", "serviceaccounts", namespace, name, self.core.patch_namespaced_service_account,
                   name, namespace, patch)
        return ApplyResult(namespace, name, "updated")

    # --- deployments ---------------------------------------------------------------------------
    def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(self._call("get", "deployments", namespace, name,
                                   self.apps.read_namespaced_deployment, name, namespace))
        except _NotFound:
            return None

    def json_patch_deployment(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(self._call("patch", "deployments", namespace, name,
                               self.apps.patch_namespaced_deployment, name, namespace, ops))


class _NotFound(RegistryAPIError):
    def __init__(self, message: str, reason: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class _Conflict(RegistryAPIError):
    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


def connect(kubeconfig: str | None = None, context: str | None = None) -> KubeClient:
    return KubeClient(_api_client(kubeconfig, context))


def _same_secret(current: Mapping[str, Any], manifest: Mapping[str, Any]) -> bool:
    cur_meta = current.get("metadata") or {}
    new_meta = manifest.get("metadata") or {}
    labels = cur_meta.get("labels") or {}
    annotations = cur_meta.get("annotations") or {}
    return (
        current.get("type", "Opaque") == manifest.get("type", "Opaque")
        and (current.get("data") or {}) == (manifest.get("data") or {})
        and all(labels.get(k) == v for k, v in (new_meta.get("labels") or {}).items())
        and all(annotations.get(k) == v for k, v in (new_meta.get("annotations") or {}).items())
    )


def _merged(current: Mapping[str, Any], manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The PUT body: our data/type/labels/annotations on top of what others put in metadata."""
    cur_meta = dict(current.get("metadata") or {})
    new_meta = manifest.get("metadata") or {}
    meta = {k: v for k, v in cur_meta.items() if k != "managedFields"}
    meta["labels"] = {**(cur_meta.get("labels") or {}), **(new_meta.get("labels") or {})}
    meta["annotations"] = {**(cur_meta.get("annotations") or {}), **(new_meta.get("annotations") or {})}
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": manifest.get("type", "Opaque"),
            "data": dict(manifest.get("data") or {})}
    return body


def copy_manifest(source: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """``source`` re-addressed to ``namespace``: server-owned metadata dropped, managed labels kept."""
    meta = dict(source.get("metadata") or {})
    origin = f"{meta.get('namespace')}/{meta.get('name')}"
    for key in SERVER_METADATA:
        meta.pop(key, None)
    meta["namespace"] = namespace
    labels = dict(meta.get("labels") or {})
    labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
    meta["labels"] = labels
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if not k.startswith("kubectl.kubernetes.io/")}
    annotations[COPIED_FROM_ANNOTATION] = origin
    meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": source.get("type", "Opaque"),
            "data": dict(source.get("data") or {})}


def secret_summary(secret: Mapping[str, Any]) -> dict[str, Any]:
    """What ``secret show`` prints: metadata, type, keys, login hosts and users; never values."""
    meta = secret.get("metadata") or {}
    data = secret.get("data") or {}
    out: dict[str, Any] = {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "type": secret.get("type", "Opaque"),
        "managed": is_managed(secret),
        "labels": meta.get("labels") or {},
        "annotations": meta.get("annotations") or {},
        "keys": sorted(data),
    }
    if DOCKER_CONFIG_KEY in data:
        try:
            config = json.loads(base64.b64decode(data[DOCKER_CONFIG_KEY]))
            out["auths"] = {host: {"username": entry.get("username") or _user_from_auth(entry.get("auth")),
                                   "password": "set" if entry.get("password") or entry.get("auth") else None}
                            for host, entry in (config.get("auths") or {}).items()}
        except (ValueError, TypeError):
            out["auths"] = "unreadable"
    if AWS_CREDENTIALS_KEY in data:
        try:
            text = base64.b64decode(data[AWS_CREDENTIALS_KEY]).decode()
            key_ids = [line.split("=", 1)[1].strip() for line in text.splitlines()
                       if line.strip().startswith("aws_access_key_id")]
            out["aws_access_key_id"] = key_ids[0] if key_ids else None
            out["aws_secret_access_key"] = "set" if "aws_secret_access_key" in text else None
        except (ValueError, UnicodeDecodeError):
            out["aws_access_key_id"] = "unreadable"
    return out


def _user_from_auth(auth: str | None) -> str | None:
    if not auth:
        return None
    try:
        return base64.b64decode(auth).decode().split(":", 1)[0]
    except (ValueError, UnicodeDecodeError):
        return None


def apply_platform_config(
    resolved: ResolvedRegistry,
    namespace: str,
    dry_run: bool = False,
    *,
    client: KubeClient | None = None,
    kubeconfig: str | None = None,
    mlrun_deployments: Iterable[str] = MLRUN_API_DEPLOYMENTS,
    nuclio_deployments: Iterable[str] = NUCLIO_DASHBOARD_DEPLOYMENTS,
    registry_deployments: Iterable[str] = REGISTRY_DEPLOYMENTS,
    config: PlatformConfig | None = None,
) -> PlatformDiff:
    """Patch the MLRun API and Nuclio dashboard Deployments' env (``config``, by default
    ``platform_config(resolved.service)``), the on-cluster registry Deployment's CPU/memory, with JSON
    patches that touch nothing else, and, for ``auth: workload-identity``, the service account's
    annotations and labels (a merge patch of only those keys, :meth:`KubeClient.patch_service_account`).

    ``config`` carries what only the caller knows: the air-gap env (``with_platform_images``, which
    needs the platform's versions) is patched in with the registry env. Reads everything and computes
    the diff first; with ``dry_run`` nothing is written. Returns the diff.
    """
    validate_namespace(namespace)
    service = resolved.service
    config = config or platform_config(service)
    account = service_account_manifest(service, namespace) if service.workload_identity else None
    kube = client or connect(kubeconfig)
    diff = PlatformDiff(namespace=namespace, dry_run=dry_run)
    plans: list[tuple[str, list[dict[str, Any]]]] = []

    def plan_env(names: Iterable[str], env: Mapping[str, str], hints: tuple[str, ...]) -> None:
        if not env:
            return
        for name in names:
            deployment = kube.get_deployment(namespace, name)
            if deployment is None:
                diff.missing.append(name)
                continue
            ops, changes = env_ops(deployment, env, hints, name)
            diff.changes.extend(changes)
            if ops:
                plans.append((name, ops))

    images = config.images  # air gap: the platform's own images, with the registry env
    mlrun_env = {**config.mlrun_env, **(images.mlrun_env if images else {})}
    nuclio_env = {**config.nuclio_env, **(images.nuclio_env if images else {})}
    plan_env(mlrun_deployments, mlrun_env, ("mlrun-api", "mlrun-api-chief", "mlrun-api-worker"))
    plan_env(nuclio_deployments, nuclio_env, ("nuclio-dashboard", "dashboard"))
    reg_name, reg_resources = registry_resources(getattr(config, "registry_resources", None))
    if reg_resources:
        for name in ([reg_name] if reg_name else list(registry_deployments)):
            deployment = kube.get_deployment(namespace, name)
            if deployment is None:
                diff.missing.append(name)
                continue
            ops, changes = resource_ops(deployment, reg_resources, ("docker-registry", "registry"), name)
            diff.changes.extend(changes)
            if ops:
                plans.append((name, ops))
    patch_account = False
    if account is not None:  # workload identity
        current = kube.get_service_account(namespace, account["metadata"]["name"])
        if current is None:
            diff.created_accounts.append(account["metadata"]["name"])
        account_changes = service_account_changes(current, account)
        diff.changes.extend(account_changes)
        patch_account = current is None or bool(account_changes)
    if dry_run:
        return diff
    for name, ops in plans:
        kube.json_patch_deployment(namespace, name, ops)
    if account is not None and patch_account:
        kube.patch_service_account(account)
    diff.applied = bool(plans) or patch_account
    return diff


def ensure_namespace_value(namespace: str | None) -> str:
    """The namespace to use: given, else the kubeconfig context's, else the pod's, else ``default``."""
    if namespace:
        return validate_namespace(namespace)
    path = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    in_pod = os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get("KUBECONFIG")
    if in_pod and os.path.exists(path):
        with open(path) as handle:
            return validate_namespace(handle.read().strip())
    try:
        config = extra_module("kubernetes.config")

        _contexts, active = config.list_kube_config_contexts(
            config_file=os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config"))
        value = (active or {}).get("context", {}).get("namespace")
        if value:
            return validate_namespace(value)
    except Exception:  # no kubeconfig: fall back to default
        pass
    return "default"


__all__ = [
    "ApplyResult",
    "Change",
    "ConfigError",
    "KubeClient",
    "PlatformDiff",
    "apply_platform_config",
    "connect",
    "copy_manifest",
    "ensure_namespace_value",
    "secret_summary",
]
