"""Several registries in one build: builds that pull from several registries, through a Docker Hub mirror.

Two real registries (Debian's docker-registry) with different htpasswd users stand in for "base
images" and "push target"; the secret `secret apply --dry-run` prints is handed to skopeo as
``--authfile``: skopeo pulls the base from one and pushes to the other. MLRun and nuclio-jupyter are
the real clients; the MLRun API is the stand-in that records build bodies.
"""

from __future__ import annotations

import base64
import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import mlrun_registry_ext as registry
from mlrun_registry_ext.core.config import ConfigFile
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.errors import ConfigError
from mlrun_registry_ext.features.doctor import BASE_IMAGES, doctor
from tests.support.env import CANARY, run_cli
from tests.support.images import build_image, push_image, random_layer, registry_client
from tests.support.standins import MLRunAPIStandIn

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[1]
KUBERNETES_VERSION = "1.29.0"  # one of the versions kubernetes-validate ships strict schemas for
BASE_PASSWORD = "base-Pw-51d0c7"


def _config(tmp_path: Path, services: dict[str, Any], active: str) -> Path:
    path = tmp_path / "registries.yaml"
    path.write_text(yaml.safe_dump({"services": services, "active": active}))
    return path


def _secret_from_dry_run(config: Path, *extra: str) -> tuple[dict[str, Any], str]:
    result = run_cli("secret", "apply", "-n", "mlrun", "--dry-run", "-o", "json", *extra,
                     env={"MLRUN_REGISTRY_EXT_CONFIG": str(config)})
    assert result.code == 0, result.stderr
    assert CANARY not in result.stdout + result.stderr and BASE_PASSWORD not in result.stdout + result.stderr
    return json.loads(result.stdout), result.stderr


def _skopeo_copy(authfile: Path, source: str, dest: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["skopeo", "copy", "--authfile", str(authfile), "--src-tls-verify=false",
                           "--dest-tls-verify=false", f"docker://{source}", f"docker://{dest}"],
                          capture_output=True, text=True, timeout=60)


def test_one_merged_secret_lets_skopeo_pull_the_base_from_one_registry_and_push_to_the_other(
        registry_factory, tmp_path: Path) -> None:
    base = registry_factory(auth="htpasswd", htpasswd_users={"base-reader": BASE_PASSWORD})
    push = registry_factory(auth="htpasswd", htpasswd_users={"pusher": CANARY})
    with registry_client(f"http://{base.host}", auth=("base-reader", BASE_PASSWORD)) as client:
        push_image(client, "python", "3.11", build_image([random_layer(random.Random(12), 4096)]))
    config = _config(tmp_path, {
        "base-images": {"url": f"http://{base.host}", "username": "base-reader", "password": BASE_PASSWORD},
        "target": {"url": f"http://{push.host}/team", "username": "pusher", "password": CANARY,
                   "pull_from": ["base-images"]},
    }, active="target")

    secret, err = _secret_from_dry_run(config)
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert secret["metadata"]["name"] == "mlrun-registry-target"
    assert "carries the logins for" in err
    docker_config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert sorted(docker_config["auths"]) == sorted([base.host, push.host])
    authfile = tmp_path / "config.json"
    authfile.write_text(json.dumps(docker_config))

    copied = _skopeo_copy(authfile, f"{base.host}/python:3.11", f"{push.host}/team/app:1")
    assert copied.returncode == 0, copied.stderr
    with registry_client(f"http://{push.host}", auth=("pusher", CANARY)) as client:
        assert client.head("/v2/team/app/manifests/1", headers={"Accept": "*/*"}).status_code == 200

    # the push login alone (what a build had before pull_from) cannot pull the base
    alone = {"auths": {push.host: docker_config["auths"][push.host]}}
    authfile.write_text(json.dumps(alone))
    refused = _skopeo_copy(authfile, f"{base.host}/python:3.11", f"{push.host}/team/app:2")
    assert refused.returncode != 0
    assert "unauthorized" in refused.stderr.lower() or "authentication required" in refused.stderr.lower()


def test_merged_secret_manifest_passes_strict_kubernetes_validation(tmp_path: Path) -> None:
    config = _config(tmp_path, {
        "hub": {"url": "docker.io/acme", "username": "acme-ci", "password": BASE_PASSWORD},
        "target": {"url": "ghcr.io/acme", "username": "ci-builder", "password": CANARY, "pull_from": ["hub"]},
    }, active="target")
    secret, _ = _secret_from_dry_run(config, "--to", "team-a")
    manifest = tmp_path / "secret.json"
    manifest.write_text(json.dumps(secret))
    checked = subprocess.run([str(ROOT / ".venv" / "bin" / "kubernetes-validate"), "--strict", "-k",
                              KUBERNETES_VERSION, str(manifest)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    auths = json.loads(base64.b64decode(secret["items"][0]["data"][".dockerconfigjson"]))["auths"]
    assert sorted(auths) == ["ghcr.io", "https://index.docker.io/v1/"]


def test_pull_from_an_unknown_service_is_a_one_line_error_exit_2(tmp_path: Path) -> None:
    config = _config(tmp_path, {"target": {"url": "ghcr.io/acme", "pull_from": ["base"]}}, active="target")
    result = run_cli("secret", "apply", "-n", "mlrun", "--dry-run", env={"MLRUN_REGISTRY_EXT_CONFIG": str(config)})
    assert result.code == 2
    assert "services.target.pull_from[0]" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("fields", "field"), [
    ({"pull_from": "self-svc"}, "pull_from[0]"),
    ({"pull_from": ["a", "a"]}, "pull_from[1]"),
    ({"pull_from": [3]}, "pull_from[0]"),
    ({"mirror": "http://mirror.example.com"}, "mirror"),
])
def test_bad_build_fields_name_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RegistryService(name="self-svc", url="ghcr.io/acme", **fields)
    assert caught.value.field == field


def test_two_logins_for_one_host_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    config = _config(tmp_path, {
        "hub-a": {"url": "docker.io/a", "username": "alice", "password": BASE_PASSWORD},
        "hub-b": {"url": "docker.io/b", "username": "bob", "password": BASE_PASSWORD},
        "target": {"url": "ghcr.io/acme", "username": "ci", "password": CANARY, "pull_from": ["hub-a", "hub-b"]},
    }, active="target")
    result = run_cli("secret", "apply", "-n", "mlrun", "--dry-run", env={"MLRUN_REGISTRY_EXT_CONFIG": str(config)})
    assert result.code == 2 and "pull_from" in result.stderr and result.stdout == ""
    assert BASE_PASSWORD not in result.stderr


MIRRORED = {
    "hub": {"url": "docker.io/acme", "username": "acme-ci", "password": BASE_PASSWORD,
            "mirror": "mirror.example.com/dockerhub"},
    "target": {"url": "ghcr.io/acme", "username": "ci-builder", "password": CANARY, "image_prefix": "ml-",
               "pull_from": ["hub"]},
}


@pytest.fixture
def mirrored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = _config(tmp_path, MIRRORED, active="target")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(config))
    return config


def test_mlrun_build_body_carries_the_merged_secret_and_the_registry_mirror(
        mirrored, mlrun_api: MLRunAPIStandIn, tmp_path: Path) -> None:
    import mlrun

    handler = tmp_path / "trainer.py"
    handler.write_text("def handler(context):\n    return 'ok'\n")
    project = mlrun.get_or_create_project("fraud", context=str(tmp_path))
    mlrun_api.clear()
    fn = project.set_function(str(handler), name="trainer", kind="job", image="mlrun/mlrun",
                              requirements=["pandas"])
    fn.spec.build.extra_args = "--skip-tls-verify-pull"
    registry.configure_function(fn)
    registry.configure_function(fn)  # idempotent: the flag once
    project.build_function(fn)

    spec = mlrun_api.last_body("POST", "/api/v1/build/function")["function"]["spec"]
    assert spec["build"]["secret"] == "mlrun-registry-target" == spec["image_pull_secret"]
    assert spec["build"]["extra_args"] == "--skip-tls-verify-pull --registry-mirror=mirror.example.com/dockerhub"
    for request in mlrun_api.requests:
        assert CANARY.encode() not in request.raw_body and BASE_PASSWORD.encode() not in request.raw_body


def test_nuclio_deploys_carry_the_mirror_flag_and_the_merged_secret(mirrored, mlrun_api: MLRunAPIStandIn,
                                                                   tmp_path: Path) -> None:
    import mlrun

    handler = tmp_path / "server.py"
    handler.write_text("def handler(context, event):\n    return 'ok'\n")
    fn = mlrun.code_to_function("server", filename=str(handler), kind="nuclio", image="mlrun/mlrun",
                                project="fraud", handler="handler")
    registry.configure_function(fn)
    fn.deploy()
    spec = mlrun_api.last_body("POST", "/api/v1/projects/fraud/nuclio/server/deploy")["function"]["spec"]
    assert spec["config"]["spec.build.flags"] == ["--registry-mirror=mirror.example.com/dockerhub"]
    assert spec["image_pull_secret"] == "mlrun-registry-target"

    # nuclio-jupyter straight to Nuclio: the config it deploys
    from mlrun_registry_ext.features.nuclio_hooks import build_file

    _name, config, _code = build_file(str(handler), "server", project="fraud")
    assert config["spec"]["build"]["flags"] == ["--registry-mirror=mirror.example.com/dockerhub"]
    assert config["spec"]["imagePullSecrets"] == "mlrun-registry-target"


def test_doctor_warns_when_docker_hub_base_images_are_pulled_anonymously(registry_anonymous) -> None:
    plain = registry_anonymous.service(name="target")
    report = doctor([plain], timeout=5)
    check = next(c for c in report.checks if c.name == BASE_IMAGES)
    assert check.severity == "warning" and "TOOMANYREQUESTS" in check.detail

    hub = RegistryService(name="hub", url="docker.io/acme", username="acme-ci", password=BASE_PASSWORD)
    with_login = registry_anonymous.service(name="target", pull_from=["hub"])
    report = doctor([with_login, hub], timeout=5)
    check = next(c for c in report.checks if c.name == BASE_IMAGES and c.service == "target")
    assert check.severity == "info" and "acme-ci" in check.detail
    assert BASE_PASSWORD not in json.dumps([c.detail for c in report.checks])

    mirrored = registry_anonymous.service(name="target", mirror="mirror.example.com")
    check = next(c for c in doctor([mirrored], timeout=5).checks if c.name == BASE_IMAGES)
    assert check.severity == "info" and "mirror.example.com" in check.detail


def test_config_file_keeps_pull_from_and_mirror_for_the_resolved_service(tmp_path: Path) -> None:
    config = _config(tmp_path, MIRRORED, active="target")
    parsed = ConfigFile.from_text(config, config.read_text())
    assert parsed.services["target"].pull_from == ("hub",)
    resolved = registry.resolve(config=config, probe=False).resolved
    assert resolved.service.pull_from == ("hub",)
    assert resolved.sources["pull_from"].startswith("config")
    assert registry.resolve(config=config, active="hub", probe=False).service.mirror == "mirror.example.com/dockerhub"
