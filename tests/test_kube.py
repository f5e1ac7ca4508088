"""Secrets and Deployments through the real ``kubernetes`` client against the kube-apiserver stand-in."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from mlrun_registry_ext.clients import kube
from mlrun_registry_ext.core import credentials as creds
from mlrun_registry_ext.core.resolution import ResolvedRegistry
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.errors import ConfigError, RegistryAPIError, RegistryExtError
from tests.support.kube import KubeStandIn

PASSWORD = "canary-Pa55word-7d3e"


def _service(**kw: object) -> RegistryService:
    data: dict[str, object] = {"url": "registry.example.com/team", "username": "robot", "password": PASSWORD,
                               "secret_name": "team-registry"}
    data.update(kw)
    return RegistryService(**data)


def _manifest(namespace: str = "mlrun", service: RegistryService | None = None) -> dict:
    service = service or _service()
    return creds.docker_config_secret(service.docker_secret_name or "x", namespace, creds.docker_login(service),
                                      service=service)


def test_create_then_unchanged_then_update(kube_apiserver: KubeStandIn, kubeconfig: Path) -> None:
    client = kube.connect()
    assert client.apply_secret(_manifest()).action == "created"
    stored = kube_apiserver.secret("mlrun", "team-registry")
    assert stored is not None and stored["type"] == "kubernetes.io/dockerconfigjson"
    assert stored["metadata"]["labels"][creds.MANAGED_BY_LABEL] == creds.MANAGED_BY_VALUE
    config = json.loads(kube_apiserver.secret_data("mlrun", "team-registry", ".dockerconfigjson"))
    assert config["auths"]["registry.example.com"]["username"] == "robot"

    writes = len(kube_apiserver.writes())
    assert client.apply_secret(_manifest()).action == "unchanged"
    assert len(kube_apiserver.writes()) == writes  # idempotent: no write

    rotated = _service(password="rotated-secret-value-9")
    assert client.apply_secret(_manifest(service=rotated)).action == "updated"
    config = json.loads(kube_apiserver.secret_data("mlrun", "team-registry", ".dockerconfigjson"))
    assert config["auths"]["registry.example.com"]["password"] == "rotated-secret-value-9"
    # uid kept: an update, not a delete + create
    assert kube_apiserver.secret("mlrun", "team-registry")["metadata"]["uid"] == stored["metadata"]["uid"]


def test_conflict_is_retried(kube_apiserver: KubeStandIn, kubeconfig: Path) -> None:
    client = kube.connect()
    client.apply_secret(_manifest())
    kube_apiserver.conflicts_on_put = 2
    result = client.apply_secret(_manifest(service=_service(password="after-conflicts-1234")))
    assert result.action == "updated"
    puts = [r for r in kube_apiserver.requests if r[0] == "PUT"]
    assert len(puts) == 3  # two 409 answers, then success


def test_forbidden_names_verb_resource_namespace(kube_apiserver: KubeStandIn, kubeconfig: Path) -> None:
    kube_apiserver.forbid("locked", "create")
    kube_apiserver.namespaces.add("locked")
    with pytest.raises(RegistryAPIError) as info:
        kube.connect().apply_secret(_manifest("locked"))
    message = str(info.value)
    assert "'create'" in message and "'secrets'" in message and "'locked'" in message
    assert "\n" not in message and PASSWORD not in message


def test_foreign_secret_is_left_alone(kube_apiserver: KubeStandIn, kubeconfig: Path) -> None:
    kube_apiserver.put_secret("mlrun", "team-registry", {"type": "Opaque", "data": {"x": "eA=="}})
    client = kube.connect()
    with pytest.raises(RegistryExtError, match="not managed"):
        client.apply_secret(_manifest())
    with pytest.raises(RegistryExtError, match="not managed"):
        client.delete_secret("mlrun", "team-registry")
    assert kube_apiserver.secret("mlrun", "team-registry")["type"] == "Opaque"
    assert kube_apiserver.writes() == []


def test_copy_and_delete(kube_apiserver: KubeStandIn, kubeconfig: Path) -> None:
    client = kube.connect()
    client.apply_secret(_manifest())
    results = client.copy_secret("team-registry", "mlrun", ["team-a", "team-b", "mlrun"])
    assert [(r.namespace, r.action) for r in results] == [("team-a", "created"), ("team-b", "created")]
    copied = kube_apiserver.secret("team-b", "team-registry")
    assert copied["metadata"]["annotations"][creds.COPIED_FROM_ANNOTATION] == "mlrun/team-registry"
    assert copied["data"] == kube_apiserver.secret("mlrun", "team-registry")["data"]
    assert [r.action for r in client.copy_secret("team-registry", "mlrun", ["team-a"])] == ["unchanged"]

    assert client.delete_secret("team-a", "team-registry").action == "deleted"
    assert kube_apiserver.secret("team-a", "team-registry") is None
    assert client.delete_secret("team-a", "team-registry").action == "absent"


def test_bad_target_namespace_writes_nothing(kube_apiserver: KubeStandIn, kubeconfig: Path) -> None:
    client = kube.connect()
    client.apply_secret(_manifest())
    before = len(kube_apiserver.writes())
    with pytest.raises(ConfigError) as info:
        client.copy_secret("team-registry", "mlrun", ["team-a", "Bad_NS"])
    assert info.value.exit_code == 2
    assert len(kube_apiserver.writes()) == before
    assert kube_apiserver.secret("team-a", "team-registry") is None


def test_type_change_recreates_managed_secret(kube_apiserver: KubeStandIn, kubeconfig: Path) -> None:
    client = kube.connect()
    manifest = _manifest()
    manifest["type"] = "Opaque"
    client.apply_secret(manifest)
    assert client.apply_secret(_manifest()).action == "updated"
    assert kube_apiserver.secret("mlrun", "team-registry")["type"] == "kubernetes.io/dockerconfigjson"


def test_secret_summary_never_shows_values(kube_apiserver: KubeStandIn, kubeconfig: Path) -> None:
    client = kube.connect()
    client.apply_secret(_manifest())
    summary = kube.secret_summary(client.get_secret("mlrun", "team-registry") or {})
    assert summary["auths"] == {"registry.example.com": {"username": "robot", "password": "set"}}
    text = json.dumps(summary)
    assert PASSWORD not in text
    assert base64.b64encode(PASSWORD.encode()).decode() not in text


def _resolved(service: RegistryService) -> ResolvedRegistry:
    return ResolvedRegistry(service=service, sources={"url": "explicit argument"})


def test_apply_platform_config_diff_then_patch(kube_apiserver: KubeStandIn, kubeconfig: Path) -> None:
    kube_apiserver.add_deployment("mlrun", "mlrun-api-chief", [
        {"name": "mlrun-api", "image": "mlrun/mlrun-api:1.12.1",
         "env": [{"name": "MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY", "value": "docker-registry:80"},
                 {"name": "KEEP_ME", "value": "1"}]},
        {"name": "log-collector", "image": "mlrun/log-collector:1.12.1"},
    ])
    kube_apiserver.add_deployment("mlrun", "nuclio-dashboard", [{"name": "nuclio-dashboard", "image": "d:1"}])
    kube_apiserver.add_deployment("mlrun", "docker-registry", [
        {"name": "docker-registry", "image": "registry:2", "resources": {"requests": {"cpu": "100m"}}}])
    service = _service(resources={"requests": {"cpu": "250m", "memory": "256Mi"},
                                  "limits": {"cpu": "1", "memory": "1Gi"}})

    dry = kube.apply_platform_config(_resolved(service), "mlrun", dry_run=True)
    assert kube_apiserver.writes() == []
    lines = "\n".join(dry.lines())
    assert "deployment/mlrun-api-chief [mlrun-api] env MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY: " \
           "'docker-registry:80' -> 'registry.example.com/team'" in lines
    assert "deployment/mlrun-api-worker not found" in lines
    assert "resources.requests.cpu: '100m' -> '250m'" in lines
    assert "resources.limits.memory: (unset) -> '1Gi'" in lines

    real = kube.apply_platform_config(_resolved(service), "mlrun", dry_run=False)
    assert real.applied and real.lines() == dry.lines()
    api = kube_apiserver.deployments[("mlrun", "mlrun-api-chief")]
    containers = api["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in containers[0]["env"]}
    assert env["MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY"] == "registry.example.com/team"
    assert env["MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY_SECRET"] == "team-registry"
    assert env["KEEP_ME"] == "1"
    assert containers[1] == {"name": "log-collector", "image": "mlrun/log-collector:1.12.1"}
    dash_env = {e["name"]: e["value"] for e in kube_apiserver.deployments[("mlrun", "nuclio-dashboard")]
                ["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert dash_env["NUCLIO_DASHBOARD_REGISTRY_URL"] == "registry.example.com/team"
    assert dash_env["NUCLIO_REGISTRY_CREDENTIALS_SECRET_NAME"] == "team-registry"
    registry = kube_apiserver.deployments[("mlrun", "docker-registry")]["spec"]["template"]["spec"]["containers"][0]
    assert registry["resources"] == {"requests": {"cpu": "250m", "memory": "256Mi"},
                                     "limits": {"cpu": "1", "memory": "1Gi"}}
    assert registry["image"] == "registry:2"

    again = kube.apply_platform_config(_resolved(service), "mlrun", dry_run=False)
    assert again.changes == [] and not again.applied


def test_apply_platform_config_forbidden(kube_apiserver: KubeStandIn, kubeconfig: Path) -> None:
    kube_apiserver.add_deployment("mlrun", "nuclio-dashboard", [{"name": "nuclio-dashboard", "image": "d:1"}])
    kube_apiserver.forbid("mlrun", "patch")
    with pytest.raises(RegistryAPIError, match="verb 'patch' on resource 'deployments' in namespace 'mlrun'"):
        kube.apply_platform_config(_resolved(_service()), "mlrun")


def test_no_kubeconfig_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(RegistryExtError, match="no Kubernetes configuration"):
        kube.connect()
