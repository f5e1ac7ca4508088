"""The Deployment-patch planner: what ``platform-config --apply`` changes in the MLRun API, Nuclio
dashboard and on-cluster registry Deployments, as RFC 6902 JSON patches over their manifests, and in
the workload-identity ServiceAccount (its annotations and labels, :func:`service_account_changes`).

Pure planning over plain dicts: a Deployment manifest and the wanted env or resources in, the patch
operations and the human-readable :class:`Change` list out. Each patch starts with a ``test`` of the
container's name, so a Deployment that changed between read and patch fails the patch rather than
being patched in the wrong place. :func:`mlrun_registry_ext.clients.kube.apply_platform_config` reads
the Deployments and sends the patches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Change:
    deployment: str  # the object's name (a Deployment's, or a ServiceAccount's when ``kind`` says so)
    container: str
    field: str  # env NAME | resources.requests.cpu | annotation KEY | label KEY ...
    old: str | None
    new: str
    kind: str = "deployment"  # deployment | serviceaccount

    def line(self) -> str:
        old = "(unset)" if self.old is None else repr(self.old)
        where = f" [{self.container}]" if self.container else ""
        return f"{self.kind}/{self.deployment}{where} {self.field}: {old} -> {self.new!r}"


@dataclass
class PlatformDiff:
    namespace: str
    dry_run: bool
    changes: list[Change] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    applied: bool = False
    #: workload identity: service accounts that did not exist (``--apply`` creates them)
    created_accounts: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [c.line() for c in self.changes]
        out += [f"deployment/{m} not found in namespace {self.namespace}: skipped" for m in self.missing]
        out += [f"serviceaccount/{a} does not exist in namespace {self.namespace}: "
                f"{'would be created' if self.dry_run else 'created'}" for a in self.created_accounts]
        if not self.changes:
            out.append("no changes")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "dry_run": self.dry_run, "applied": self.applied,
                "changes": [c.__dict__ for c in self.changes], "missing": self.missing,
                "created_accounts": self.created_accounts}

    def __str__(self) -> str:
        return "\n".join(self.lines())


def pick_container(deployment: Mapping[str, Any], hints: Iterable[str]) -> tuple[int, dict[str, Any]]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    for hint in hints:
        for index, container in enumerate(containers):
            if container.get("name") == hint:
                return index, container
    return 0, containers[0]


def env_ops(deployment: Mapping[str, Any], env: Mapping[str, str], hints: Iterable[str],
             name: str) -> tuple[list[dict[str, Any]], list[Change]]:
    index, container = pick_container(deployment, hints)
    base = f"/spec/template/spec/containers/{index}"
    current = container.get("env")
    ops: list[dict[str, Any]] = [{"op": "test", "path": f"{base}/name", "value": container["name"]}]
    changes: list[Change] = []
    if current is None:
        ops.append({"op": "add", "path": f"{base}/env", "value": []})
        current = []
    by_name = {item.get("name"): (i, item) for i, item in enumerate(current)}
    for key, value in env.items():
        if key in by_name:
            i, item = by_name[key]
            if "valueFrom" not in item and item.get("value") == value:
                continue
            old = item.get("value") if "valueFrom" not in item else "(valueFrom)"
            ops.append({"op": "test", "path": f"{base}/env/{i}/name", "value": key})
            ops.append({"op": "replace", "path": f"{base}/env/{i}", "value": {"name": key, "value": value}})
            changes.append(Change(name, container["name"], f"env {key}", old, value))
        else:
            ops.append({"op": "add", "path": f"{base}/env/-", "value": {"name": key, "value": value}})
            changes.append(Change(name, container["name"], f"env {key}", None, value))
    return (ops if changes else []), changes


def resource_ops(deployment: Mapping[str, Any], resources: Mapping[str, Mapping[str, str]],
                  hints: Iterable[str], name: str) -> tuple[list[dict[str, Any]], list[Change]]:
    index, container = pick_container(deployment, hints)
    base = f"/spec/template/spec/containers/{index}"
    current = container.get("resources") or {}
    ops: list[dict[str, Any]] = [{"op": "test", "path": f"{base}/name", "value": container["name"]}]
    changes: list[Change] = []
    if "resources" not in container:
        ops.append({"op": "add", "path": f"{base}/resources", "value": {}})
    for section in ("requests", "limits"):
        wanted = {k: str(v) for k, v in (resources.get(section) or {}).items() if v is not None}
        if not wanted:
            continue
        have = current.get(section)
        if have is None:
            ops.append({"op": "add", "path": f"{base}/resources/{section}", "value": {}})
            have = {}
        for kind, value in wanted.items():
            if have.get(kind) == value:
                continue
            ops.append({"op": "add", "path": f"{base}/resources/{section}/{kind}", "value": value})
            changes.append(
                Change(name, container["name"], f"resources.{section}.{kind}", have.get(kind), value))
    return (ops if changes else []), changes


def registry_resources(value: Mapping[str, Any] | None) -> tuple[str | None, dict[str, Any]]:
    """Accept ``{"requests":..,"limits":..}`` or ``{"deployment": name, "resources": {...}}``
    (or a Kubernetes Deployment patch with ``spec.template.spec.containers[0].resources``)."""
    if not value:
        return None, {}
    if "requests" in value or "limits" in value:
        return None, dict(value)
    if "resources" in value:
        return value.get("deployment") or value.get("name"), dict(value["resources"] or {})
    try:
        containers = value["spec"]["template"]["spec"]["containers"]
        name = (value.get("metadata") or {}).get("name")
        return name, dict(containers[0].get("resources") or {})
    except (KeyError, IndexError, TypeError):
        return None, {}


def service_account_changes(current: Mapping[str, Any] | None, manifest: Mapping[str, Any]) -> list[Change]:
    """The annotations and labels of ``manifest`` (a ServiceAccount) that ``current`` (the account as the
    cluster has it, None when absent) lacks or holds with another value: what a merge patch changes.
    The account's other annotations and labels are not compared (the patch leaves them alone)."""
    wanted = manifest.get("metadata") or {}
    have = (current or {}).get("metadata") or {}
    name = str(wanted.get("name", ""))
    changes: list[Change] = []
    for part, word in (("annotations", "annotation"), ("labels", "label")):
        ours = have.get(part) or {}
        for key, value in (wanted.get(part) or {}).items():
            if ours.get(key) != value:
                changes.append(Change(name, "", f"{word} {key}", ours.get(key), value, kind="serviceaccount"))
    return changes
