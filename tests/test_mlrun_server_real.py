"""Functions configured by this package, built by the REAL MLRun API server code (mlrun 1.5.2's wheel).

The functions are made with the real mlrun 1.12.1 client and configured with ``configure_function`` /
``push_target``; the server code in ``.venv-mlrun-server`` (``build_runtime``, ``make_kaniko_pod``,
``_compile_function_config``) answers where Kaniko pushes, with which secret mounted, and what it
refuses. The server's settings are the ``MLRUN_*`` environment of its Deployment: either what
``platform-config`` recommends or nothing (an unconfigured server). See tests/support/mlrun_server.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import mlrun_registry_ext as registry
from mlrun_registry_ext import ConfigError
from mlrun_registry_ext.core.targets import MLRunNaming, push_target
from tests.support.env import CANARY
from tests.support.mlrun_server import MLRunServer, build_body
from tests.support.standins import MLRunAPIStandIn

pytestmark = pytest.mark.timeout(180)  # the first test pays two `import mlrun` (1.12 here, 1.5.2 in the driver)

ECR_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture
def handler_file(tmp_path: Path) -> Path:
    path = tmp_path / "trainer.py"
    path.write_text("def handler(context, event=None):\n    return 'ok'\n")
    return path


def job(handler_file: Path, name: str = "trainer", project: str = "fraud") -> Any:
    """A job that needs a build (requirements), as a user writes it with the 1.12 client."""
    import mlrun

    return mlrun.code_to_function(name, project=project, filename=str(handler_file), kind="job",
                                  image="mlrun/mlrun", requirements=["pandas"])


def ghcr(**overrides: Any) -> registry.ActiveRegistry:
    values: dict[str, Any] = {"url": "ghcr.io/acme", "username": "ci-builder", "password": CANARY,
                              "image_prefix": "ml-"}
    values.update(overrides)
    return registry.resolve(probe=False, **values)


#: What frontend-spec reports for a server set up as ``platform-config`` recommends for ``ghcr()``.
SERVER_NAMING = MLRunNaming(name_prefix_template="ml-func-{project}-{name}",
                            registries_to_enforce_prefix=(".acme/", "ghcr.io/acme/"), source="test")


def assert_no_canary(result: Any) -> None:
    assert CANARY not in repr(result.function) and CANARY not in repr(result.pods)


# -- a job on an external registry with credentials ----------------------------------------------------

def test_job_lands_on_the_external_registry_with_the_packages_secret(mlrun_server: MLRunServer,
                                                                      handler_file: Path) -> None:
    active = ghcr()
    fn = job(handler_file)
    target = registry.configure_function(fn, active)

    result = mlrun_server.build(build_body(fn), active.platform_config().mlrun_env)

    pod = result.kaniko
    assert result.server_version == "1.5.2"
    assert pod.destination == target.image == "ghcr.io/acme/ml-func-fraud-trainer:latest"
    assert pod.docker_config_secret == target.secret == "mlrun-registry-default"
    assert not pod.insecure and not pod.insecure_pull  # platform-config disables insecure push and pull
    assert result.build_image == target.image
    assert_no_canary(result)


def test_job_lands_on_the_external_registry_even_when_the_server_is_unconfigured(mlrun_server: MLRunServer,
                                                                                  handler_file: Path) -> None:
    """The function spec alone steers the server: its own registry and secret are not used."""
    active = ghcr()
    fn = job(handler_file)
    target = registry.configure_function(fn, active)
    on_cluster = {"MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY": "docker-registry.default-tenant.svc:80",
                  "MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY_SECRET": ""}

    pod = mlrun_server.build(build_body(fn), on_cluster).kaniko

    assert pod.destination == target.image
    assert pod.docker_config_secret == "mlrun-registry-default"
    assert not pod.insecure and not pod.insecure_pull  # "auto": a build secret means a secure registry


def test_job_with_a_tag_lands_where_target_predicts(mlrun_server: MLRunServer, handler_file: Path) -> None:
    active = ghcr()
    fn = job(handler_file)
    fn.metadata.tag = "v3"
    target = registry.configure_function(fn, active)

    pod = mlrun_server.build(build_body(fn), active.platform_config().mlrun_env).kaniko

    assert pod.destination == target.image == "ghcr.io/acme/ml-func-fraud-trainer:v3"


def test_plain_http_registry_gets_insecure_kaniko_flags(mlrun_server: MLRunServer, handler_file: Path) -> None:
    active = registry.resolve(url="http://registry.internal:5000", probe=False)
    fn = job(handler_file)
    target = registry.configure_function(fn, active)

    pod = mlrun_server.build(build_body(fn), active.platform_config().mlrun_env).kaniko

    assert pod.destination == target.image
    assert pod.insecure and pod.insecure_pull


def test_function_with_a_ready_image_and_nothing_to_build_is_not_rebuilt(mlrun_server: MLRunServer,
                                                                       handler_file: Path) -> None:
    """The MLRun side: no pod, and the function keeps its image."""
    import mlrun

    fn = mlrun.code_to_function("scorer", project="fraud", filename=str(handler_file), kind="job",
                                image="ghcr.io/acme/ready:1.0")
    registry.configure_function(fn, ghcr())

    result = mlrun_server.build(build_body(fn), ghcr().platform_config().mlrun_env)

    assert result.ok and result.ready is True and result.pods == []
    assert result.function["spec"]["image"] == "ghcr.io/acme/ready:1.0"


# -- prefix enforcement ----------------------------------------------------------------------------------

def test_server_with_the_recommended_prefix_template_accepts_configured_functions(
        mlrun_server: MLRunServer, handler_file: Path) -> None:
    active = ghcr()
    env = active.platform_config().mlrun_env
    assert env["MLRUN_HTTPDB__BUILDER__FUNCTION_TARGET_IMAGE_NAME_PREFIX_TEMPLATE"] == "ml-func-{project}-{name}"
    fn = job(handler_file, name="score_model")
    target = registry.configure_function(fn, active)

    result = mlrun_server.build(build_body(fn), env)

    assert result.ok, result.error
    assert result.kaniko.destination == target.image == "ghcr.io/acme/ml-func-fraud-score-model:latest"


def test_server_refuses_a_hand_written_name_without_its_prefix(mlrun_server: MLRunServer,
                                                              handler_file: Path) -> None:
    fn = job(handler_file)
    fn.build_config(image="ghcr.io/acme/trainer:latest", secret="mlrun-registry-default")

    result = mlrun_server.build(build_body(fn), ghcr().platform_config().mlrun_env)

    assert not result.ok and result.pods == []
    assert result.error == "Configured registry enforces image name to start with this prefix: ml-func-fraud-trainer"


def test_push_target_follows_the_servers_prefix_template_and_the_server_accepts_it(
        mlrun_server: MLRunServer, handler_file: Path) -> None:
    """A client without the prefix, a server that enforces "ml-func-...": the target adopts the template."""
    server_env = ghcr().platform_config().mlrun_env
    target = push_target(ghcr(image_prefix=None).service, "fraud", "trainer", mlrun_naming=SERVER_NAMING)
    fn = job(handler_file)
    fn.build_config(image=target.image, secret=target.secret)

    result = mlrun_server.build(build_body(fn), server_env)

    assert result.ok, result.error
    assert result.kaniko.destination == target.image == "ghcr.io/acme/ml-func-fraud-trainer:latest"


def test_a_prefix_that_contradicts_the_servers_template_is_refused_by_both(mlrun_server: MLRunServer,
                                                                          handler_file: Path) -> None:
    server_env = ghcr().platform_config().mlrun_env  # the server enforces "ml-func-{project}-{name}"
    team = ghcr(image_prefix="team-")
    with pytest.raises(ConfigError, match="ml-func"):
        push_target(team.service, "fraud", "trainer", mlrun_naming=SERVER_NAMING)
    fn = job(handler_file)
    unchecked = push_target(team.service, "fraud", "trainer")  # without the server's naming
    fn.build_config(image=unchecked.image, secret=unchecked.secret)

    result = mlrun_server.build(build_body(fn), server_env)

    assert unchecked.image == "ghcr.io/acme/team-func-fraud-trainer:latest"
    assert not result.ok
    assert result.error == "Configured registry enforces image name to start with this prefix: ml-func-fraud-trainer"


# -- ECR -------------------------------------------------------------------------------------------------

def test_ecr_job_creates_its_repositories_and_mounts_no_docker_config(mlrun_server: MLRunServer,
                                                                      handler_file: Path) -> None:
    active = registry.resolve(url=ECR_HOST, username=AWS_KEY_ID, password=CANARY, probe=False)
    fn = job(handler_file)
    target = registry.configure_function(fn, active)

    result = mlrun_server.build(build_body(fn), active.platform_config().mlrun_env)

    pod = result.kaniko
    assert pod.destination == target.image == f"{ECR_HOST}/mlrun/func-fraud-trainer:latest"
    assert pod.docker_config_secret is None  # no per-function secret for ECR
    assert target.secret is None
    command = pod.init_command("create-repos")
    assert "--region us-east-1 --repository-name mlrun/func-fraud-trainer " in command
    assert "--repository-name mlrun/func-fraud-trainer/cache" in command
    aws_secret = active.platform_config().mlrun_env["MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY_SECRET"]
    assert pod.secret_mounts.get("/tmp") == aws_secret  # the AWS credentials file, server-wide
    assert pod.env.get("AWS_SHARED_CREDENTIALS_FILE") == "/tmp/credentials"
    assert not pod.insecure and not pod.insecure_pull
    assert_no_canary(result)


def test_ecr_on_an_unconfigured_server_pushes_with_the_node_role_and_insecure_flags(
        mlrun_server: MLRunServer, handler_file: Path) -> None:
    """No docker_registry_secret means "auto" turns --insecure and --insecure-pull on."""
    active = registry.resolve(url=ECR_HOST, probe=False)
    fn = job(handler_file)
    target = registry.configure_function(fn, active)

    pod = mlrun_server.build(build_body(fn), {}).kaniko

    assert pod.destination == target.image
    assert pod.env.get("AWS_SDK_LOAD_CONFIG") == "true"
    assert pod.env.get("AWS_ACCESS_KEY_ID") == "" and pod.env.get("AWS_SECRET_ACCESS_KEY") == ""
    assert "create-repos" in pod.init_container_names
    assert pod.insecure and pod.insecure_pull
    # The package must say so where the user sees the target.
    assert any("--insecure" in note for note in target.notes), target.notes


def test_ecr_with_platform_config_but_no_credentials_pushes_securely(mlrun_server: MLRunServer,
                                                                      handler_file: Path) -> None:
    active = registry.resolve(url=ECR_HOST, probe=False)
    fn = job(handler_file)
    target = registry.configure_function(fn, active)

    pod = mlrun_server.build(build_body(fn), active.platform_config().mlrun_env).kaniko

    assert pod.destination == target.image
    assert pod.env.get("AWS_SDK_LOAD_CONFIG") == "true"
    assert not pod.insecure and not pod.insecure_pull


# -- "." : the server's configured registry --------------------------------------------------------------

def dot_target(mlrun_api: MLRunAPIStandIn, server_registry: str, image_prefix: str) -> Any:
    """The package's target for url "." as a user with MLRUN_DBPATH set gets it."""
    mlrun_api.docker_registry = server_registry
    mlrun_api.reconnect()
    return registry.resolve(url=".", image_prefix=image_prefix or None).target("fraud", "trainer")


@pytest.mark.parametrize(("server_registry", "image_prefix", "real"), [
    ("registry.local:5000", "", "registry.local:5000/func-fraud-trainer:latest"),  # no "mlrun/"
    ("registry.local:5000/team", "", "registry.local:5000/team/func-fraud-trainer:latest"),
    ("registry.local:5000/ml", "", "registry.local:5000/ml/func-fraud-trainer:latest"),
    ("registry.local:5000/ml", "ml-", "registry.local:5000/ml-func-fraud-trainer:latest"),  # "ml" is in the name
])
def test_dot_lands_where_target_says(mlrun_server: MLRunServer, mlrun_api: MLRunAPIStandIn, handler_file: Path,
                                     server_registry: str, image_prefix: str, real: str) -> None:
    """What the real server does with "." and its own registry, and what target says."""
    target = dot_target(mlrun_api, server_registry, image_prefix)
    fn = job(handler_file)
    registry.configure_function(fn, registry.resolve(url=".", image_prefix=image_prefix or None, probe=False))
    env = {"MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY": server_registry,
           "MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY_SECRET": "registry-creds"}

    result = mlrun_server.build(build_body(fn), env)

    assert result.kaniko.destination == real
    assert result.kaniko.docker_config_secret == "registry-creds"  # the server's own secret for "."
    assert target.image == real or any(real in note for note in target.notes), (target.image, target.notes)


def test_dot_with_an_empty_function_image_gets_the_servers_generated_name(mlrun_server: MLRunServer,
                                                                           handler_file: Path) -> None:
    """What an unconfigured function gets: the server's own template, with "mlrun/" this time."""
    fn = job(handler_file)
    env = {"MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY": "registry.local:5000"}

    result = mlrun_server.build(build_body(fn), env)

    assert result.build_image == ".mlrun/func-fraud-trainer:latest"
    assert result.kaniko.destination == "registry.local:5000/mlrun/func-fraud-trainer:latest"
    assert result.kaniko.insecure and result.kaniko.insecure_pull  # no secret: "auto" is insecure


# -- project images --------------------------------------------------------------------

def build_project_image(mlrun_server: MLRunServer, mlrun_api: MLRunAPIStandIn, tmp_path: Path,
                        **build_image_args: Any) -> tuple[Any, Any]:
    """``project.build_image()`` on a configured project; the real server answers the stand-in's build call."""
    import mlrun

    active = ghcr()
    mlrun_server.serve_builds(mlrun_api, active.platform_config().mlrun_env)
    project = mlrun.get_or_create_project("fraud", context=str(tmp_path))
    registry.configure_project(project, active)
    expected = active.project_image("fraud")
    try:
        project.build_image(base_image="mlrun/mlrun", requirements=["pandas"], **build_image_args)
    except OSError as exc:
        pytest.fail(f"the real server refused the project image: {exc}")
    result = mlrun_server.last
    assert result is not None and result.function["metadata"]["name"] == "mlrun--project--image--builder"
    return expected, result


def test_project_image_lands_where_configure_project_put_it(mlrun_server: MLRunServer,
                                                            mlrun_api: MLRunAPIStandIn, tmp_path: Path) -> None:
    """``build_image()`` without ``image=`` resets the image configure_project wrote."""
    expected, result = build_project_image(mlrun_server, mlrun_api, tmp_path)

    assert result.kaniko.destination == expected.image
    assert result.kaniko.docker_config_secret == expected.secret


def test_project_image_passed_explicitly_builds_under_the_enforced_prefix(
        mlrun_server: MLRunServer, mlrun_api: MLRunAPIStandIn, tmp_path: Path) -> None:
    """The builder function is "mlrun--project--image--builder"; the server enforces its prefix."""
    expected = ghcr().project_image("fraud")
    _, result = build_project_image(mlrun_server, mlrun_api, tmp_path, image=expected.image)

    assert result.kaniko.destination == expected.image
    assert result.kaniko.docker_config_secret == expected.secret


# -- Nuclio kinds: what MLRun hands the dashboard --------------------------------------------------------

def test_nuclio_function_config_carries_the_registry_and_pull_secret(mlrun_server: MLRunServer,
                                                                     handler_file: Path) -> None:
    import mlrun

    active = ghcr()
    fn = mlrun.code_to_function("echo", project="fraud", filename=str(handler_file), kind="nuclio",
                                image="mlrun/mlrun")
    target = registry.configure_function(fn, active)
    assert target.nuclio is not None

    result = mlrun_server.nuclio_config(fn, active.platform_config().mlrun_env)

    assert result.nuclio("spec.build.registry") == target.nuclio["spec.build.registry"] == "ghcr.io/acme"
    assert result.nuclio("spec.build.image") == target.nuclio.get("spec.build.image")
    assert result.nuclio("spec.imagePullSecrets") == target.pull_secret == "mlrun-registry-default"
    assert result.nuclio("metadata.name") == "fraud-echo"
    assert_no_canary(result)
