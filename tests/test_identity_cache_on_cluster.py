"""On the cluster: the doctor checks the workload-identity service account and the layer-cache
repository, and ``platform-config --apply`` patches the air-gap env and the service account too.

Real clients: the doctor proves push rights on the cache repository against Debian's docker-registry
(distribution 2.8, a read-only one refuses it); the ``kubernetes`` client reads and patches the service
account and Deployments on the kube-apiserver stand-in (tests/support/kube.py); what ``--apply`` leaves
in the cluster is validated with ``kubernetes-validate --strict``.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlrun_registry_ext.clients import kube
from mlrun_registry_ext.core.resolution import ResolvedRegistry
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.features.doctor import CACHE, PUSH, WORKLOAD_IDENTITY, DoctorReport, doctor
from tests.support.env import run_cli
from tests.support.kube import KubeStandIn
from tests.support.registry import RunningRegistry

ROOT = Path(__file__).resolve().parents[1]
KUBERNETES_VERSION = "1.29.0"
TIMEOUT = 1.0
CLIENT_ID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
GSA = "builder@my-project.iam.gserviceaccount.com"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def by_name(report: DoctorReport) -> dict[str, Any]:
    return {c.name: c for c in report.checks}


@pytest.fixture
def to_loopback(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """A cloud registry's host resolves to 127.0.0.1 (nothing listens on 443: the network checks fail fast;
    the cluster checks do not depend on them)."""
    names: set[str] = set()
    real = socket.getaddrinfo

    def fake(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host in names else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return names.add


def _account(standin: KubeStandIn, namespace: str, name: str, annotations: dict[str, str] | None = None,
             labels: dict[str, str] | None = None) -> None:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "resourceVersion": "1"}
    if annotations:
        metadata["annotations"] = annotations
    if labels:
        metadata["labels"] = labels
    standin.service_accounts[(namespace, name)] = {"apiVersion": "v1", "kind": "ServiceAccount",
                                                   "metadata": metadata}


# --- doctor: the workload-identity service account ------------------------------------------------------
def test_doctor_says_when_the_service_account_lacks_or_has_the_workload_identity_annotation(
        kube_apiserver: KubeStandIn, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch,
        to_loopback: Callable[[str], None]) -> None:
    kube.connect()  # the first `import kubernetes` takes longer than the 1 s budget per check
    monkeypatch.setenv("MLRUN_NAMESPACE", "team-a")
    to_loopback("acme.azurecr.io")
    service = RegistryService(url="acme.azurecr.io/ml", auth="workload-identity", identity=CLIENT_ID,
                              service_account="mlrun-builder")

    missing = by_name(doctor(service, timeout=TIMEOUT))[WORKLOAD_IDENTITY]
    assert not missing.ok and missing.ran
    assert "service account mlrun-builder does not exist in namespace team-a" in missing.detail
    assert "mlrun-registry secret apply -n team-a" in missing.detail

    _account(kube_apiserver, "team-a", "mlrun-builder", {"azure.workload.identity/client-id": "someone-else",
                                                          "team": "ml"})
    wrong = by_name(doctor(service, timeout=TIMEOUT))[WORKLOAD_IDENTITY]
    assert not wrong.ok
    assert "annotation azure.workload.identity/client-id is 'someone-else', should be " f"'{CLIENT_ID}'" \
        in wrong.detail
    assert "label azure.workload.identity/use is missing, should be 'true'" in wrong.detail

    _account(kube_apiserver, "team-a", "mlrun-builder", {"azure.workload.identity/client-id": CLIENT_ID,
                                                          "team": "ml"}, {"azure.workload.identity/use": "true"})
    good = by_name(doctor(service, timeout=TIMEOUT))[WORKLOAD_IDENTITY]
    assert good.ok and good.severity == "info"
    assert good.detail == (f"service account mlrun-builder in namespace team-a has azure.workload.identity/client-id="
                           f"{CLIENT_ID}, azure.workload.identity/use=true")
    assert kube_apiserver.writes() == []  # the doctor only reads


def test_doctor_on_eks_pod_identity_needs_only_the_service_account(
        kube_apiserver: KubeStandIn, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch,
        to_loopback: Callable[[str], None]) -> None:
    kube.connect()
    monkeypatch.setenv("MLRUN_NAMESPACE", "team-a")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    to_loopback(ECR)
    _account(kube_apiserver, "team-a", "default")
    service = RegistryService(url=f"{ECR}/team", auth="workload-identity")
    check = by_name(doctor(service, timeout=TIMEOUT))[WORKLOAD_IDENTITY]
    assert check.ok and "exists in namespace team-a and needs no annotation: EKS Pod Identity" in check.detail


def test_doctor_without_a_cluster_says_the_identity_check_was_not_run(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, to_loopback: Callable[[str], None]) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    to_loopback("us-docker.pkg.dev")
    service = RegistryService(url="us-docker.pkg.dev/p/r", auth="workload-identity", identity=GSA)
    check = by_name(doctor(service, timeout=TIMEOUT))[WORKLOAD_IDENTITY]
    assert not check.ran and check.ok and check.detail.startswith("not run: no cluster to ask")


# --- doctor: the layer cache ------------------------------------------------------------------------------
def test_doctor_proves_the_layer_cache_repository_takes_pushes(registry_htpasswd_tls: RunningRegistry) -> None:
    service = registry_htpasswd_tls.service("ci-builder", "builder-pw-1", path="team", cache=True)
    report = doctor(service, timeout=TIMEOUT)
    check = by_name(report)[CACHE]
    assert report.ok and check.ok and check.ran, str(report)
    assert check.detail == ("Kaniko layer cache: user ci-builder can push to team/mlrun-registry-doctor/cache "
                            "(opened and cancelled an upload in team/mlrun-registry-doctor/cache)")
    assert check.seconds < TIMEOUT
    assert CACHE not in by_name(doctor(registry_htpasswd_tls.service("ci-builder", "builder-pw-1", path="team"),
                                       timeout=TIMEOUT))


def test_doctor_fails_the_layer_cache_on_a_read_only_registry(registry_readonly: RunningRegistry) -> None:
    report = doctor(registry_readonly.service(cache=True), timeout=TIMEOUT)
    checks = by_name(report)
    assert not report.ok and not checks[PUSH].ok
    cache = checks[CACHE]
    assert not cache.ok and cache.ran
    assert cache.detail.startswith("Kaniko layer cache: anonymous access cannot push to "
                                   "mlrun/mlrun-registry-doctor/cache")


def test_doctor_lists_the_layer_cache_as_not_run_when_the_registry_is_unreachable(closed_port_host: str) -> None:
    report = doctor(RegistryService(url=closed_port_host, insecure=True, cache=True), timeout=TIMEOUT)
    cache = by_name(report)[CACHE]
    assert not cache.ran and not cache.ok and "TCP connect failed" in cache.detail


# --- platform-config --apply: air-gap env and the service account -----------------------------------------
def _deployments(standin: KubeStandIn) -> None:
    standin.add_deployment("mlrun", "mlrun-api-chief", [
        {"name": "mlrun-api", "image": "mlrun/mlrun-api:1.12.1", "env": [{"name": "KEEP_ME", "value": "1"}]}])
    standin.add_deployment("mlrun", "nuclio-dashboard", [{"name": "nuclio-dashboard", "image": "d:1"}])


def _env(standin: KubeStandIn, name: str) -> dict[str, str]:
    container = standin.deployments[("mlrun", name)]["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container.get("env") or []}


def _validate(tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    path = tmp_path / "applied.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    checked = subprocess.run([str(ROOT / ".venv" / "bin" / "kubernetes-validate"), "--strict", "-k",
                              KUBERNETES_VERSION, str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("passed") == len(docs)


def test_platform_config_apply_patches_the_air_gap_env_and_the_identity_service_account(
        kube_apiserver: KubeStandIn, kubeconfig: Path, tmp_path: Path) -> None:
    _deployments(kube_apiserver)
    _account(kube_apiserver, "mlrun", "mlrun-builder", {"team": "ml"})
    config = tmp_path / "registries.yaml"
    config.write_text(f"""
active: builds
services:
  builds:
    url: acme.azurecr.io/ml
    auth: workload-identity
    identity: {CLIENT_ID}
    service_account: mlrun-builder
  internal:
    url: registry.corp:5000/platform
    role: system
    platform_images: true
""")
    env = {"MLRUN_REGISTRY_EXT_CONFIG": str(config)}

    dry = run_cli("platform-config", "--apply", "--namespace", "mlrun", "--dry-run", env=env)
    assert dry.code == 0, dry.output
    assert kube_apiserver.writes() == []
    assert "deployment/mlrun-api-chief [mlrun-api] env MLRUN_IMAGES_REGISTRY: (unset) -> " \
           "'registry.corp:5000/platform/'" in dry.stdout
    assert "deployment/nuclio-dashboard [nuclio-dashboard] env NUCLIO_DASHBOARD_DEFAULT_BASE_REGISTRY_URL: " \
           "(unset) -> 'registry.corp:5000/platform'" in dry.stdout
    assert "deployment/mlrun-api-chief [mlrun-api] env MLRUN_FUNCTION__SPEC__SERVICE_ACCOUNT__DEFAULT: (unset) " \
           "-> 'mlrun-builder'" in dry.stdout
    assert f"serviceaccount/mlrun-builder annotation azure.workload.identity/client-id: (unset) -> '{CLIENT_ID}'" \
           in dry.stdout
    assert "serviceaccount/mlrun-builder label azure.workload.identity/use: (unset) -> 'true'" in dry.stdout

    applied = run_cli("platform-config", "--apply", "--namespace", "mlrun", env=env)
    assert applied.code == 0, applied.output
    assert applied.stdout.replace("changed:", "would change (dry run):") == dry.stdout
    api, dashboard = _env(kube_apiserver, "mlrun-api-chief"), _env(kube_apiserver, "nuclio-dashboard")
    assert api["KEEP_ME"] == "1" and api["MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY"] == "acme.azurecr.io/ml"
    assert api["MLRUN_HTTPDB__BUILDER__KANIKO_IMAGE"] == "registry.corp:5000/platform/kaniko-project/executor:v1.23.2"
    assert dashboard["NUCLIO_KANIKO_CONTAINER_IMAGE"] == "registry.corp:5000/platform/kaniko-project/executor:v1.23.2"
    account = kube_apiserver.service_accounts[("mlrun", "mlrun-builder")]["metadata"]
    assert account["annotations"] == {"team": "ml", "azure.workload.identity/client-id": CLIENT_ID}
    assert account["labels"] == {"azure.workload.identity/use": "true"}
    _validate(tmp_path, [kube_apiserver.service_accounts[("mlrun", "mlrun-builder")],
                         kube_apiserver.deployments[("mlrun", "mlrun-api-chief")],
                         kube_apiserver.deployments[("mlrun", "nuclio-dashboard")]])

    writes = len(kube_apiserver.writes())
    again = run_cli("platform-config", "--apply", "--namespace", "mlrun", env=env)
    assert again.code == 0 and again.stdout.strip().endswith("no changes"), again.output
    assert "serviceaccount/" not in again.stdout and "env " not in again.stdout
    assert len(kube_apiserver.writes()) == writes


def test_platform_config_apply_creates_a_missing_identity_service_account_after_the_dry_run_says_so(
        kube_apiserver: KubeStandIn, kubeconfig: Path) -> None:
    service = RegistryService(url="us-docker.pkg.dev/p/r", auth="workload-identity", identity=GSA,
                              service_account="mlrun-builder")
    resolved = ResolvedRegistry(service=service, sources={"url": "explicit argument"})
    dry = kube.apply_platform_config(resolved, "mlrun", dry_run=True)
    assert "serviceaccount/mlrun-builder does not exist in namespace mlrun: would be created" in dry.lines()
    assert kube_apiserver.writes() == []
    real = kube.apply_platform_config(resolved, "mlrun")
    assert real.applied
    stored = kube_apiserver.service_accounts[("mlrun", "mlrun-builder")]["metadata"]
    assert stored["annotations"] == {"iam.gke.io/gcp-service-account": GSA}
