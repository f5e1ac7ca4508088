"""Smoke tests: the REAL mlrun 1.12.1 and nuclio-jupyter 0.13.2 clients complete their flows against the
loopback stand-ins, and the registry fields land where docs/standins.md says they do."""

from __future__ import annotations

from importlib.metadata import version

import pytest
import requests

from tests.support.standins import MLRunAPIStandIn, NuclioDashboardStandIn

pytestmark = pytest.mark.timeout(60)  # the first test pays `import mlrun` (several seconds on a cold box)

TARGET = "registry.example.com/team/trainer:v1"


@pytest.fixture
def handler_file(tmp_path):
    path = tmp_path / "fn.py"
    path.write_text("def handler(context, event=None):\n    return 'ok'\n")
    return path


@pytest.fixture
def project(mlrun_api, tmp_path):
    import mlrun

    proj = mlrun.get_or_create_project("standin-proj", context=str(tmp_path))
    mlrun_api.clear()
    return proj


# -- MLRun API stand-in ---------------------------------------------------------------------------------


def test_client_spec_and_frontend_spec_reach_the_client(mlrun_api: MLRunAPIStandIn):
    import mlrun

    mlrun_api.docker_registry = "registry.example.com/team"
    mlrun_api.nuclio_version = "1.13.9"
    mlrun_api.reconnect()

    db = mlrun.get_run_db()
    assert db.server_version == "1.12.1"  # the stand-in's
    assert mlrun.mlconf.nuclio_version == "1.13.9"
    assert mlrun.mlconf.httpdb.builder.docker_registry == "registry.example.com/team"
    assert mlrun_api.last("GET", "/api/v1/client-spec").header("x-mlrun-client-version") == version("mlrun")

    frontend = db.api_call("GET", "frontend-spec").json()
    assert frontend["function_deployment_target_image_template"] == (
        "registry.example.com/team/func-{project}-{name}:{tag}"
    )
    assert frontend["function_deployment_target_image_name_prefix_template"] == "func-{project}-{name}"
    assert frontend["function_deployment_target_image_registries_to_enforce_prefix"] == [
        ".team/",
        "registry.example.com/team/",
    ]


@pytest.mark.parametrize(
    "version, nuclio_version",
    [
        ("1.0.4", "1.9.0"),
        ("1.13.0", "1.15.0"),
        ("unstable", "unstable"),
        ("0.0.0+unstable", "latest"),
        ("1.10.0-rc3", "1.10.0-rc3"),
    ],
)
def test_any_version_label_is_served_and_accepted_by_the_client(mlrun_api, version, nuclio_version):
    import mlrun

    mlrun_api.version = version
    mlrun_api.nuclio_version = nuclio_version
    mlrun_api.reconnect()
    assert mlrun.get_run_db().server_version == version
    assert mlrun.mlconf.nuclio_version == nuclio_version


def test_each_test_gets_a_fresh_client_state(mlrun_api: MLRunAPIStandIn):
    import mlrun

    # set by the previous test's stand-in; must not leak
    assert mlrun.mlconf.httpdb.builder.docker_registry == ""
    assert mlrun.mlconf.nuclio_version == "1.14.1"
    assert mlrun.mlconf.dbpath == mlrun_api.url


def test_get_or_create_project_creates_then_loads(mlrun_api: MLRunAPIStandIn, tmp_path):
    import mlrun

    mlrun_api.clear()
    mlrun.get_or_create_project("p-new", context=str(tmp_path))
    assert mlrun_api.calls() == ["GET /api/v1/projects/p-new", "POST /api/v1/projects"]
    assert mlrun_api.last("POST", "/api/v1/projects").param("wait-for-completion") == "false"
    assert mlrun_api.last_body("POST", "/api/v1/projects")["metadata"]["name"] == "p-new"

    mlrun_api.clear()
    mlrun.get_or_create_project("p-new", context=str(tmp_path))
    assert mlrun_api.calls() == ["GET /api/v1/projects/p-new"]


def test_project_build_function_sends_registry_fields(mlrun_api, project, handler_file):
    fn = project.set_function(
        str(handler_file), name="trainer", kind="job", image="mlrun/mlrun", requirements=["pandas"]
    )
    fn.build_config(image=TARGET, secret="push-cred")
    fn.spec.image_pull_secret = "pull-cred"

    status = project.build_function(fn)

    assert status.ready is True
    assert status.outputs["image"] == TARGET
    assert mlrun_api.calls() == ["POST /api/v1/build/function", "GET /api/v1/build/status"]
    body = mlrun_api.last_body("POST", "/api/v1/build/function")
    assert set(body) == {"function", "with_mlrun", "skip_deployed", "force_build"}
    spec = body["function"]["spec"]
    assert spec["build"]["image"] == TARGET
    assert spec["build"]["secret"] == "push-cred"
    assert spec["build"]["base_image"] == "mlrun/mlrun"  # image= moved to base_image: a build is needed
    assert spec["build"]["requirements"] == ["pandas"]
    assert spec["image_pull_secret"] == "pull-cred"
    poll = mlrun_api.last("GET", "/api/v1/build/status")
    assert (poll.param("name"), poll.param("project")) == ("trainer", "standin-proj")


def test_job_deploy_from_code_to_function(mlrun_api, project, handler_file):
    import mlrun

    fn = mlrun.code_to_function(
        "job-fn", filename=str(handler_file), kind="job", image="mlrun/mlrun", project=project.name
    )
    fn.with_commands(["echo hi"])
    fn.build_config(image=TARGET, secret="push-cred")

    assert fn.deploy() is True
    assert fn.spec.image == TARGET
    body = mlrun_api.last_body("POST", "/api/v1/build/function")
    assert body["function"]["kind"] == "job"
    assert body["function"]["spec"]["build"]["commands"] == ["echo hi"]
    assert body["function"]["spec"]["build"]["secret"] == "push-cred"


def test_job_build_polls_until_ready(mlrun_api, project, handler_file):
    import mlrun

    mlrun_api.build_states = ("running", "ready")  # the client sleeps 2 s between these polls
    fn = mlrun.code_to_function("slow", filename=str(handler_file), kind="job", project=project.name)
    fn.with_requirements(["pandas"])
    assert fn.deploy() is True
    assert len(mlrun_api.find("GET", "/api/v1/build/status")) == 2


def test_job_build_error_state_fails_the_client(mlrun_api, project, handler_file):
    import mlrun

    mlrun_api.build_states = ("error",)
    fn = mlrun.code_to_function("broken", filename=str(handler_file), kind="job", project=project.name)
    fn.with_requirements(["pandas"])
    with pytest.raises(mlrun.errors.MLRunRuntimeError, match="Deploy failed"):
        fn.deploy()


def test_build_prefix_enforcement_like_the_server(mlrun_api, project, handler_file):
    import mlrun

    mlrun_api.docker_registry = "registry.example.com/team"
    mlrun_api.enforce_prefix = True
    mlrun_api.reconnect()
    fn = mlrun.code_to_function("trainer", filename=str(handler_file), kind="job", project=project.name)
    fn.with_requirements(["pandas"])

    fn.build_config(image="registry.example.com/team/other:v1")
    # the client wraps the server's 400 into OSError("error: cannot submit build, details: ...")
    with pytest.raises(OSError, match="enforces image name to start with this prefix: func-standin-proj-trainer"):
        fn.deploy()

    fn.build_config(image="registry.example.com/team/func-standin-proj-trainer:v1")
    assert fn.deploy() is True


@pytest.mark.parametrize("kind", ["nuclio", "serving"])
def test_nuclio_kind_deploy_sends_config_and_secrets(mlrun_api, project, handler_file, kind):
    import mlrun

    extra = {"handler": "handler"} if kind == "nuclio" else {}
    fn = mlrun.code_to_function(
        f"nu-{kind}",
        filename=str(handler_file),
        kind=kind,
        image="mlrun/mlrun",
        project=project.name,
        **extra,
    )
    if kind == "serving":
        fn.set_topology("flow")
    fn.set_config("spec.build.registry", "registry.example.com/team")
    # nuclio kinds have no fn.build_config(): set the build fields directly
    fn.spec.build.image = "registry.example.com/team/nu:v1"
    fn.spec.build.secret = "push-cred"
    fn.spec.image_pull_secret = "pull-cred"

    address = fn.deploy()

    assert address == f"http://nuclio-{project.name}-nu-{kind}.default-tenant.svc.cluster.local:8080"
    path = f"/api/v1/projects/{project.name}/nuclio/nu-{kind}/deploy"
    assert mlrun_api.calls() == [
        f"POST {path}",
        f"GET {path}",
        f"POST /api/v1/projects/{project.name}/functions/nu-{kind}",  # client stores the function after
    ]
    body = mlrun_api.last_body("POST", path)
    assert set(body) == {"function"}
    spec = body["function"]["spec"]
    assert spec["config"] == {"spec.build.registry": "registry.example.com/team"}
    assert spec["build"]["image"] == "registry.example.com/team/nu:v1"
    assert spec["build"]["secret"] == "push-cred"
    assert spec["image_pull_secret"] == "pull-cred"
    assert spec["image"] == "mlrun/mlrun"
    assert fn.status.state == "ready"


# -- Nuclio dashboard stand-in --------------------------------------------------------------------------


def test_dashboard_versions_and_frontend_spec(nuclio_dashboard: NuclioDashboardStandIn):
    nuclio_dashboard.label = "latest"
    nuclio_dashboard.image_name_prefix_template = "{{ .ProjectName }}-{{ .FunctionName }}-"
    versions = requests.get(f"{nuclio_dashboard.url}/api/versions", timeout=5).json()
    assert versions["dashboard"]["label"] == "latest"
    spec = requests.get(f"{nuclio_dashboard.url}/api/frontend_spec", timeout=5).json()
    assert spec["imageNamePrefixTemplate"] == "{{ .ProjectName }}-{{ .FunctionName }}-"
    assert "registry" not in str(spec).lower()


def _config(registry="registry.example.com/team", image="myfn", pull_secret="pull-cred"):
    from nuclio.config import ConfigSpec

    return ConfigSpec(
        config={
            "spec.build.registry": registry,
            "spec.build.image": image,
            "spec.imagePullSecrets": pull_secret,
        }
    )


def test_nuclio_jupyter_deploy_config_creates_function(nuclio_dashboard, handler_file):
    import nuclio
    from nuclio.deploy import deploy_config

    _, config, _ = nuclio.build_file(str(handler_file), name="fn1", spec=_config())
    deploy_config(config, "", name="fn1", project="proj-a", create_new=True)  # URL from NUCLIO_DASHBOARD_URL

    assert nuclio_dashboard.calls() == [
        "GET /api/projects",
        "POST /api/projects",
        "GET /api/functions/fn1",
        "POST /api/functions",
        "GET /api/functions/fn1",
    ]
    post = nuclio_dashboard.last("POST", "/api/functions")
    assert post.header("x-nuclio-project-name") == "proj-a"
    assert post.body["metadata"]["labels"]["nuclio.io/project-name"] == "proj-a"
    assert post.body["spec"]["build"]["registry"] == "registry.example.com/team"
    assert post.body["spec"]["build"]["image"] == "myfn"
    assert post.body["spec"]["imagePullSecrets"] == "pull-cred"
    assert nuclio_dashboard.functions["fn1"]["status"]["containerImage"] == "registry.example.com/team/myfn:latest"


def test_nuclio_jupyter_redeploy_uses_put_and_prefix_template(nuclio_dashboard, handler_file):
    import nuclio
    from nuclio.deploy import deploy_config

    nuclio_dashboard.image_name_prefix_template = "{{ .ProjectName }}-{{ .FunctionName }}-"
    _, config, _ = nuclio.build_file(str(handler_file), name="fn2", spec=_config())
    deploy_config(config, nuclio_dashboard.url, name="fn2", project="default")
    nuclio_dashboard.clear()
    deploy_config(config, nuclio_dashboard.url, name="fn2", project="default")

    assert nuclio_dashboard.calls() == [
        "GET /api/projects",
        "GET /api/functions/fn2",
        "PUT /api/functions/fn2",
        "GET /api/functions/fn2",
    ]
    assert nuclio_dashboard.last_body("PUT", "/api/functions/fn2")["spec"]["build"]["image"] == "myfn"
    stored = nuclio_dashboard.functions["fn2"]
    assert stored["status"]["containerImage"] == "registry.example.com/team/default-fn2-myfn:latest"


def test_nuclio_jupyter_polls_and_reports_error(nuclio_dashboard, handler_file):
    import nuclio
    from nuclio.deploy import deploy_config
    from nuclio.utils import DeployError

    nuclio_dashboard.deploy_states = ("building", "error")  # nuclio-jupyter sleeps 1 s between these
    _, config, _ = nuclio.build_file(str(handler_file), name="fn3", spec=_config())
    with pytest.raises(DeployError):
        deploy_config(config, "", name="fn3", project="default")
    assert len(nuclio_dashboard.find("GET", "/api/functions/fn3")) == 3  # existence check + 2 polls


def test_unknown_project_without_create_new_fails(nuclio_dashboard, handler_file):
    import nuclio
    from nuclio.deploy import deploy_config
    from nuclio.utils import DeployError

    _, config, _ = nuclio.build_file(str(handler_file), name="fn4", spec=_config())
    with pytest.raises(DeployError, match="project name nope not found"):
        deploy_config(config, "", name="fn4", project="nope")
    assert nuclio_dashboard.find("POST", "/api/functions") == []
