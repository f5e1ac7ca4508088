"""End to end with the real mlrun client against the MLRun API stand-in: what the server receives.

The server obeys only what each function spec carries, so these tests read the recorded request
bodies of ``POST /api/v1/build/function`` and the Nuclio deploy endpoint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import mlrun_registry_ext as registry
from mlrun_registry_ext import ConfigError, VersionGateError
from tests.support.env import CANARY, GHCR, run_cli
from tests.support.standins import MLRunAPIStandIn

pytestmark = pytest.mark.timeout(120)  # the first test pays `import mlrun`



@pytest.fixture
def project(mlrun_api: MLRunAPIStandIn, tmp_path: Path):
    import mlrun

    proj = mlrun.get_or_create_project("fraud", context=str(tmp_path))
    mlrun_api.clear()
    return proj


def assert_no_canary(stand_in: MLRunAPIStandIn) -> None:
    for request in stand_in.requests:
        assert CANARY.encode() not in request.raw_body


def test_build_function_body_carries_target_and_secrets(ghcr_env, mlrun_api, project, handler_file) -> None:
    fn = project.set_function(str(handler_file), name="trainer", kind="job", image="mlrun/mlrun",
                              requirements=["pandas"])
    target = registry.configure_function(fn)
    project.build_function(fn)

    spec = mlrun_api.last_body("POST", "/api/v1/build/function")["function"]["spec"]
    assert spec["build"]["image"] == "ghcr.io/acme/ml-func-fraud-trainer:latest" == target.image
    assert spec["build"]["secret"] == "mlrun-registry-default"
    assert spec["image_pull_secret"] == "mlrun-registry-default"
    assert spec["build"]["base_image"] == "mlrun/mlrun"
    assert_no_canary(mlrun_api)


def test_job_deploy_uses_function_tag(ghcr_env, mlrun_api, project, handler_file) -> None:
    import mlrun

    fn = mlrun.code_to_function("scorer", filename=str(handler_file), kind="job", project="fraud", tag="v3")
    fn.with_requirements(["pandas"])
    registry.configure_function(fn)
    assert fn.deploy() is True
    spec = mlrun_api.last_body("POST", "/api/v1/build/function")["function"]["spec"]
    assert spec["build"]["image"] == "ghcr.io/acme/ml-func-fraud-scorer:v3"


@pytest.mark.parametrize("kind", ["nuclio", "serving"])
def test_nuclio_kinds_deployed_through_mlrun_carry_nuclio_keys(ghcr_env, mlrun_api, project, handler_file,
                                                               kind: str) -> None:
    import mlrun

    extra = {"handler": "handler"} if kind == "nuclio" else {}
    fn = mlrun.code_to_function("server", filename=str(handler_file), kind=kind, image="mlrun/mlrun",
                                project="fraud", **extra)
    if kind == "serving":
        fn.set_topology("flow")
    registry.configure_function(fn)
    fn.deploy()

    body = mlrun_api.last_body("POST", "/api/v1/projects/fraud/nuclio/server/deploy")
    spec = body["function"]["spec"]
    assert spec["config"]["spec.build.registry"] == "ghcr.io/acme"
    assert spec["config"]["spec.build.image"] == "ml-processor-fraud-server"
    assert "spec.imagePullSecrets" not in spec["config"]  # MLRun overwrites it from image_pull_secret
    assert spec["image_pull_secret"] == "mlrun-registry-default"
    assert_no_canary(mlrun_api)


def test_configure_is_idempotent(ghcr_env, mlrun_api, project, handler_file) -> None:
    fn = project.set_function(str(handler_file), name="trainer", kind="job", image="mlrun/mlrun")
    registry.configure_function(fn)
    once = fn.to_dict()
    registry.configure_function(fn)
    assert fn.to_dict() == once


def test_project_setup_hook_configures_every_function(ghcr_env, mlrun_api, tmp_path: Path, handler_file) -> None:
    import mlrun

    (tmp_path / "project_setup.py").write_text(
        "import mlrun_registry_ext\n\n"
        "def setup(project):\n"
        f"    project.set_function({str(handler_file)!r}, name='trainer', kind='job', image='mlrun/mlrun',\n"
        "                         requirements=['pandas'])\n"
        f"    project.set_function({str(handler_file)!r}, name='server', kind='nuclio', image='mlrun/mlrun',\n"
        "                         handler='handler')\n"
        "    return mlrun_registry_ext.setup(project)\n"
    )
    project = mlrun.new_project("churn", context=str(tmp_path))
    trainer = project.get_function("trainer")
    assert trainer.spec.build.image == "ghcr.io/acme/ml-func-churn-trainer:latest"
    assert project.get_function("server").spec.config["spec.build.registry"] == "ghcr.io/acme"
    # named like the image of build_image()'s builder job, so the server's prefix check passes
    assert project.spec.build.image == "ghcr.io/acme/ml-func-churn-mlrun--project--image--builder:latest"
    project.build_function("trainer")
    spec = mlrun_api.last_body("POST", "/api/v1/build/function")["function"]["spec"]
    assert spec["build"]["image"] == "ghcr.io/acme/ml-func-churn-trainer:latest"
    assert spec["build"]["secret"] == "mlrun-registry-default"


def test_server_registry_from_client_spec_is_used_when_nothing_is_configured(mlrun_api, project,
                                                                             handler_file) -> None:
    mlrun_api.docker_registry = "registry.example.com/team"
    mlrun_api.reconnect()
    fn = project.set_function(str(handler_file), name="trainer", kind="job", image="mlrun/mlrun")
    target = registry.configure_function(fn)
    assert target.image == "registry.example.com/team/func-fraud-trainer:latest"
    assert "client-spec" in target.source


def test_enforced_prefix_from_frontend_spec(mlrun_api, project, handler_file, monkeypatch) -> None:
    mlrun_api.docker_registry = "registry.example.com/team"
    mlrun_api.enforce_prefix = True
    mlrun_api.reconnect()
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_IMAGE_PREFIX", "ml-")
    fn = project.set_function(str(handler_file), name="trainer", kind="job", image="mlrun/mlrun",
                              requirements=["pandas"])
    with pytest.raises(ConfigError, match="MLRUN_HTTPDB__BUILDER__FUNCTION_TARGET_IMAGE_NAME_PREFIX_TEMPLATE"):
        registry.configure_function(fn)
    # once the server's template carries the prefix, the target passes the server's own enforcement
    mlrun_api.prefix_template = "ml-func-{project}-{name}"
    registry.configure_function(fn)
    project.build_function(fn)
    spec = mlrun_api.last_body("POST", "/api/v1/build/function")["function"]["spec"]
    assert spec["build"]["image"] == "registry.example.com/team/ml-func-fraud-trainer:latest"


@pytest.mark.parametrize(("version", "nuclio_version", "refused"), [
    ("1.0.4", "1.14.1", "MLRun 1.0.4"),
    ("1.0.5", "1.10.0", None),
    ("1.12.1", "1.9.9", "Nuclio 1.9.9"),
    ("1.13.0", "1.15.0", None),
    ("unstable", "0.0.0+unstable", None),
    ("1.0.5-rc3", "1.14.1", "MLRun 1.0.5-rc3"),
])
def test_version_gates_against_the_stand_in(ghcr_env, mlrun_api, project, handler_file, version: str,
                                            nuclio_version: str, refused: str | None) -> None:
    mlrun_api.version = version
    mlrun_api.nuclio_version = nuclio_version
    mlrun_api.reconnect()
    fn = project.set_function(str(handler_file), name="trainer", kind="job", image="mlrun/mlrun")
    if refused:
        with pytest.raises(VersionGateError) as info:
            registry.configure_function(fn)
        assert refused in str(info.value)
        assert fn.spec.build.image in (None, "")  # nothing half-written
    else:
        assert registry.configure_function(fn).image.startswith("ghcr.io/acme/")


def test_cli_target_exit_code_3_below_the_gate(mlrun_api) -> None:
    mlrun_api.version = "1.0.4"
    result = run_cli("target", "fraud", "trainer", "--json", env={**GHCR, "MLRUN_DBPATH": mlrun_api.url})
    assert result.code == 3
    assert "MLRun 1.0.4" in result.stderr and "1.0.5" in result.stderr
    assert "Traceback" not in result.output and CANARY not in result.output


def test_cli_target_reads_server_naming(mlrun_api) -> None:
    mlrun_api.docker_registry = "registry.example.com/team"
    result = run_cli("target", "fraud", "trainer", "--json", env={"MLRUN_DBPATH": mlrun_api.url})
    assert result.code == 0, result.stderr
    import json

    data = json.loads(result.stdout)
    assert data["image"] == "registry.example.com/team/func-fraud-trainer:latest"
    assert "client-spec" in data["source"]


def test_registry_context_sets_and_restores_mlconf(ghcr_env) -> None:
    import mlrun

    builder = mlrun.mlconf.httpdb.builder
    before = (builder.docker_registry, builder.docker_registry_secret)
    with registry.registry_context() as active:
        assert builder.docker_registry == "ghcr.io/acme"
        assert builder.docker_registry_secret == "mlrun-registry-default"
        assert builder.function_target_image_name_prefix_template == "ml-func-{project}-{name}"
        assert active.service.url == "ghcr.io/acme"
    assert (builder.docker_registry, builder.docker_registry_secret) == before
    assert builder.function_target_image_name_prefix_template == "func-{project}-{name}"


def test_ecr_credentials_warn_about_mlrun_build_secret(mlrun_api, project, handler_file, monkeypatch, caplog):
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", "123456789012.dkr.ecr.us-east-1.amazonaws.com/team")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_USERNAME", "AKIAEXAMPLE")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_PASSWORD", CANARY)
    fn = project.set_function(str(handler_file), name="trainer", kind="job", image="mlrun/mlrun")
    with caplog.at_level("WARNING"):
        target = registry.configure_function(fn)
    assert target.secret is None and fn.spec.build.secret in (None, "")
    assert any("does not mount a per-function build secret" in r.getMessage() for r in caplog.records)
    assert CANARY not in caplog.text


def test_configure_project_loads_functions_defined_in_project_yaml(ghcr_env, mlrun_api, tmp_path: Path,
                                                                   handler_file) -> None:
    import mlrun

    project = mlrun.new_project("yamlproj", context=str(tmp_path), save=False)
    # requirements: something to build (a ready image with nothing to build gets no build.image)
    project.set_function(str(handler_file), name="trainer", kind="job", image="mlrun/mlrun", requirements=["pandas"])
    project.set_function(str(handler_file), name="server", kind="nuclio", image="mlrun/mlrun", handler="handler")
    project.export()
    loaded = mlrun.load_project(str(tmp_path), save=False)
    assert not loaded.spec._function_objects  # only definitions so far

    targets = registry.configure_project(loaded)
    assert set(targets) == {"trainer", "server"}
    assert loaded.get_function("trainer").spec.build.image == "ghcr.io/acme/ml-func-yamlproj-trainer:latest"
    assert loaded.get_function("server").spec.config["spec.build.registry"] == "ghcr.io/acme"
