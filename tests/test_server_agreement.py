"""What the MLRun server and the platform do with what this package configures.

Real mlrun 1.12.1 client against the MLRun API stand-in (prefix enforcement as the server's
``resolve_function_image_name``); the '.' rule is the server's ``resolve_image_target_and_registry_secret``
(mlrun 1.4.1 wheel, ``mlrun/api/utils/builder.py``) and ``get_parsed_docker_registry``
(``mlrun/utils/helpers.py``).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

import mlrun_registry_ext as registry
from mlrun_registry_ext import ConfigError, RegistryService
from mlrun_registry_ext.core.platform_config import platform_config
from mlrun_registry_ext.core.targets import (
    ECR_INSTANCE_ROLE,
    MLRUN_REPOSITORY_DROPPED,
    READY_IMAGE,
    push_target,
)
from tests.support.env import run_cli
from tests.support.standins import MLRunAPIStandIn

pytestmark = pytest.mark.timeout(120)



# --- 1. project image -------------------------------------------------------------------------------------
def test_project_build_image_without_arguments_lands_on_the_configured_registry_and_passes_the_prefix_check(
        ghcr_env, mlrun_api: MLRunAPIStandIn, tmp_path: Path) -> None:
    import mlrun

    # the server runs what `platform-config` recommends: its registry, and the prefix in its template
    env = platform_config(RegistryService(url="ghcr.io/acme", image_prefix="ml-")).mlrun_env
    mlrun_api.docker_registry = env["MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY"]
    mlrun_api.prefix_template = env["MLRUN_HTTPDB__BUILDER__FUNCTION_TARGET_IMAGE_NAME_PREFIX_TEMPLATE"]
    mlrun_api.enforce_prefix = True
    mlrun_api.reconnect()
    project = mlrun.get_or_create_project("churn", context=str(tmp_path))
    registry.setup(project)
    project.build_image(base_image="mlrun/mlrun", requirements=["pandas"])

    body = mlrun_api.last_body("POST", "/api/v1/build/function")
    assert body["function"]["metadata"]["name"] == "mlrun--project--image--builder"
    image = body["function"]["spec"]["build"]["image"]
    assert image == "ghcr.io/acme/ml-func-churn-mlrun--project--image--builder:latest"
    assert body["function"]["spec"]["build"]["secret"] == "mlrun-registry-default"
    assert project.spec.build.image == image  # not reset by build_config(image=None)
    # (a refused prefix is a 400 from the stand-in, which build_image raises)


# --- 2. application reverse proxy ------------------------------------------------------------------------
def test_application_reverse_proxy_is_built_on_the_configured_registry(ghcr_env, mlrun_api, handler_file) -> None:
    import mlrun

    fn = mlrun.new_function("webapp", kind="application", project="fraud", image="mlrun/mlrun")
    fn.with_requirements(["flask"])
    target = registry.configure_function(fn)
    assert fn.spec.build.image == "ghcr.io/acme/ml-func-fraud-webapp:latest" == target.image
    step = fn._ensure_reverse_proxy_configurations  # mlrun's own step before the Nuclio deploy
    step(fn) if "function" in inspect.signature(step).parameters else step()  # 1.7: a static method
    assert fn.spec.config["spec.build.registry"] == "ghcr.io/acme"
    assert fn.spec.config["spec.build.image"] == "ml-processor-fraud-webapp"
    assert target.reverse_proxy is not None
    assert target.reverse_proxy.image == "ghcr.io/acme/ml-processor-fraud-webapp:latest"


# --- 3. every kind -----------------------------------------------------------------------------------------
def test_every_kind_the_installed_mlrun_knows_is_configured_or_refused_with_a_reason() -> None:
    from mlrun.runtimes import RuntimeKinds

    service = RegistryService(url="ghcr.io/acme")
    local = set(RuntimeKinds.local_runtimes())  # mlrun's own word on what runs in the client process
    for kind in [*RuntimeKinds.all(), "handler"]:
        if kind not in local:
            assert push_target(service, "p", "f", kind).image.startswith("ghcr.io/acme/"), kind
        else:
            with pytest.raises(ConfigError, match="never builds"):
                push_target(service, "p", "f", kind)


def test_configure_project_configures_databricks_and_remote_spark_and_names_what_it_skips(
        ghcr_env, mlrun_api, tmp_path: Path, handler_file: Path, caplog) -> None:
    import mlrun

    project = mlrun.get_or_create_project("lake", context=str(tmp_path))
    for kind in ("databricks", "remote-spark"):
        fn = project.set_function(str(handler_file), name=kind, kind=kind, image="mlrun/mlrun")
        fn.with_requirements(["pandas"])
    project.set_function(str(handler_file), name="local-step", kind="local", handler="handler")
    with caplog.at_level("WARNING"):
        targets = registry.configure_project(project)
    assert project.get_function("databricks").spec.build.image == "ghcr.io/acme/ml-func-lake-databricks:latest"
    assert project.get_function("remote-spark").spec.build.image == "ghcr.io/acme/ml-func-lake-remote-spark:latest"
    assert "never builds" in targets.skipped["local-step"]
    assert any("local-step" in r.getMessage() for r in caplog.records)


# --- 5. platform-config for '.' -------------------------------------------------------------------------
def test_platform_config_for_the_server_default_changes_nothing() -> None:
    result = run_cli("platform-config", env={"MLRUN_REGISTRY_EXT_URL": "."})
    assert result.code == 0, result.stderr
    assert "=." not in result.stdout
    assert "INSECURE" not in result.stdout
    assert "nothing to change" in result.stdout


# --- 6. '.' resolution ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("server_registry", "image", "dropped"), [
    ("registry.local:5000", "registry.local:5000/ml-func-p-f:latest", False),
    ("registry.local:5000/team", "registry.local:5000/team/ml-func-p-f:latest", False),
    ("registry.local:5000/ml", "registry.local:5000/ml-func-p-f:latest", True),
])
def test_dot_target_predicts_where_the_server_pushes(server_registry: str, image: str, dropped: bool) -> None:
    target = push_target(RegistryService(url=".", image_prefix="ml-"), "p", "f", server_registry=server_registry)
    assert target.image == image
    assert target.spec_image == ".ml-func-p-f:latest"
    assert target.has_note(MLRUN_REPOSITORY_DROPPED) is dropped


def test_cli_target_for_dot_reads_the_server_registry(mlrun_api) -> None:
    mlrun_api.docker_registry = "registry.local:5000/ml"
    result = run_cli("target", "p", "f", "--json",
                     env={"MLRUN_DBPATH": mlrun_api.url, "MLRUN_REGISTRY_EXT_URL": ".",
                          "MLRUN_REGISTRY_EXT_IMAGE_PREFIX": "ml-"})
    assert result.code == 0, result.stderr
    assert "registry.local:5000/ml-func-p-f:latest" in result.stdout
    assert "substring" in result.stderr


# --- 7. Helm values ---------------------------------------------------------------------------------------
def test_helm_values_use_the_charts_own_registry_keys() -> None:
    service = RegistryService(url="http://registry.internal:5000/ml", username="u", password="p", image_prefix="t-")
    values = yaml.safe_load(platform_config(service).helm_yaml())
    assert values["global"]["registry"] == {"url": "registry.internal:5000/ml", "secretName": "mlrun-registry-default"}
    extra = values["mlrun"]["api"]["extraEnvKeyValue"]
    for key in ("MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY", "MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY_SECRET",
                "MLRUN_FUNCTION__SPEC__IMAGE_PULL_SECRET__DEFAULT"):
        assert key not in extra
    assert extra["MLRUN_HTTPDB__BUILDER__INSECURE_PUSH_REGISTRY_MODE"] == "enabled"
    kaniko = values["nuclio"]["dashboard"]["kaniko"]
    assert kaniko == {"insecurePushRegistry": True, "insecurePullRegistry": True}


# --- 8. ECR with the server unconfigured ------------------------------------------------------------------
def test_ecr_without_credentials_warns_about_kaniko_insecure_flags_and_the_node_role(
        mlrun_api, handler_file, monkeypatch, caplog) -> None:
    import mlrun

    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", "123456789012.dkr.ecr.us-east-1.amazonaws.com/team")
    fn = mlrun.code_to_function("trainer", filename=str(handler_file), kind="job", project="fraud",
                                image="mlrun/mlrun")
    fn.with_requirements(["pandas"])
    with caplog.at_level("WARNING"):
        target = registry.configure_function(fn)
    note = {n.code: n.text for n in target.typed_notes}[ECR_INSTANCE_ROLE]
    assert "--insecure --insecure-pull" in note and "IAM role" in note
    assert any("--insecure --insecure-pull" in r.getMessage() for r in caplog.records)


# --- 9. ready images --------------------------------------------------------------------------------------
def test_job_with_a_ready_image_keeps_it_and_gets_only_the_pull_secret(ghcr_env, mlrun_api, handler_file) -> None:
    import mlrun

    fn = mlrun.code_to_function("scorer", filename=str(handler_file), kind="job", project="fraud",
                                image="ghcr.io/acme/ready:1.0")
    target = registry.configure_function(fn)
    assert target.ready_image and target.has_note(READY_IMAGE)
    assert not fn.spec.build.image
    assert fn.spec.image == "ghcr.io/acme/ready:1.0"
    assert fn.spec.image_pull_secret == "mlrun-registry-default"


def test_nuclio_from_image_is_not_rebuilt(ghcr_env, mlrun_api: MLRunAPIStandIn) -> None:
    import mlrun

    fn = mlrun.new_function("server", kind="nuclio", project="fraud")
    registry.configure_function(fn)  # configured first, then switched to a ready image
    fn.from_image("ghcr.io/acme/ready-processor:1.0")
    target = registry.configure_function(fn)
    assert target.ready_image
    fn.deploy()
    spec = mlrun_api.last_body("POST", "/api/v1/projects/fraud/nuclio/server/deploy")["function"]["spec"]
    assert "spec.build.image" not in spec.get("config", {})
    assert "spec.build.registry" not in spec.get("config", {})
    assert spec["image_pull_secret"] == "mlrun-registry-default"
