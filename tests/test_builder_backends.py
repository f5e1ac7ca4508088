"""MLRun's two builder backends (Kaniko, Buildah): what the package writes for each, the build flags it
owns following the service, the Azure workload-identity pod label, ECR on an unprepared server, and the
Buildah settings platform-config emits.

Functions are real mlrun 1.12.1 client objects; the Kaniko side is checked on the pod spec the real MLRun
1.5.2 server code makes (tests/support/mlrun_server.py). MLRun's Buildah backend (2026) ships in no wheel:
its rules are core.buildah's, each citing mlrun/mlrun path and commit.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import mlrun_registry_ext as registry
from mlrun_registry_ext import ConfigError
from mlrun_registry_ext.core import buildah
from mlrun_registry_ext.core.build import (
    OWNED_EXTRA_ARGS_ANNOTATION,
    OWNED_NUCLIO_FLAGS_ANNOTATION,
    merge_build_flags,
)
from mlrun_registry_ext.core.providers.ecr import ECR_INSTANCE_ROLE, ECR_SERVER_UNPREPARED
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.core.targets import NUCLIO_BUILD_POD_UNLABELLED
from tests.support.env import CANARY, run_cli
from tests.support.mlrun_server import MLRunServer, build_body
from tests.support.standins import MLRunAPIStandIn

pytestmark = pytest.mark.timeout(180)  # the first test pays `import mlrun` (and the 1.5.2 driver's)

ROOT = Path(__file__).resolve().parents[1]
KUBERNETES_VERSION = "1.29.0"
ECR_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
ACR = "acme.azurecr.io/ml"
CLIENT_ID = "00000000-1111-2222-3333-444444444444"
AZURE_LABEL = {"azure.workload.identity/use": "true"}


def job(handler_file: Path, name: str = "trainer", project: str = "fraud") -> Any:
    import mlrun

    return mlrun.code_to_function(name, project=project, filename=str(handler_file), kind="job",
                                  image="mlrun/mlrun", requirements=["pandas"])


def nuclio_fn(handler_file: Path, name: str = "echo") -> Any:
    import mlrun

    return mlrun.code_to_function(name, project="fraud", filename=str(handler_file), kind="nuclio",
                                  image="mlrun/mlrun")


def ghcr(backend: str = "auto", **fields: Any) -> registry.ActiveRegistry:
    service = RegistryService(url="ghcr.io/acme", username="ci-builder", password=CANARY, **fields)
    return registry.resolve(service=service, probe=False, builder_backend=backend)


def words(fn: Any) -> list[str]:
    return str(fn.spec.build.extra_args or "").split()


# -- both backends: what configure_function writes ------------------------------------------------------

def test_buildah_build_gets_the_secret_as_authfile_and_no_kaniko_flags(handler_file: Path) -> None:
    active = ghcr("buildah", mirror="mirror.gcr.io", cache=True, ca_bundle="/etc/ca/acme.pem")
    fn = job(handler_file)

    target = registry.configure_function(fn, active)

    assert target.builder_backend == "buildah"
    assert fn.spec.build.image == target.image == "ghcr.io/acme/func-fraud-trainer:latest"
    # MLRun's Buildah pod mounts spec.build.secret's .dockerconfigjson as /auth/config.json (REGISTRY_AUTH_FILE)
    assert fn.spec.build.secret == "mlrun-registry-default"
    assert words(fn) == []
    assert target.build_flags == () and target.cache_repo is None
    note = dict(zip(target.note_codes, target.notes))[buildah.BUILDAH_IGNORED]
    assert "layer cache" in note and "mirror.gcr.io" in note and "registries.conf" in note
    assert "private CA of ghcr.io" in note and "builder-image --backend buildah" in note
    assert "buildah.py at 9c0c31d1" in note
    assert "<th style='text-align:left'>builder backend</th><td><code>buildah</code>" in target._repr_html_()
    assert CANARY not in repr(fn.to_dict()) and CANARY not in repr(target.to_dict())


def test_kaniko_build_gets_the_mirror_and_cache_flags(handler_file: Path) -> None:
    fn = job(handler_file)

    target = registry.configure_function(fn, ghcr("kaniko", mirror="mirror.gcr.io", cache=True))

    assert target.builder_backend == "kaniko"
    assert words(fn) == ["--registry-mirror=mirror.gcr.io", "--cache=true",
                         "--cache-repo=ghcr.io/acme/func-fraud-trainer/cache"]
    assert fn.spec.build.secret == "mlrun-registry-default"
    assert not target.has_note(buildah.BUILDAH_IGNORED)


def test_auto_means_kaniko_until_the_server_says_otherwise(handler_file: Path) -> None:
    fn = job(handler_file)
    active = ghcr("auto", mirror="mirror.gcr.io")
    assert active.builder() == buildah.BuilderBackend()  # MLRun's default: no client-spec reports a backend
    registry.configure_function(fn, active)
    assert words(fn) == ["--registry-mirror=mirror.gcr.io"]


def test_the_server_reported_backend_is_taken_by_auto(mlrun_api: MLRunAPIStandIn, handler_file: Path) -> None:
    """Forward-looking: no MLRun client-spec carries the backend at the commits read (clients/platform_probe);
    should one report it, ``auto`` follows it and an explicit setting still wins."""
    mlrun_api.client_spec_overrides["builder_backend"] = "buildah"
    mlrun_api.reconnect()
    active = registry.resolve(url="ghcr.io/acme", username="ci-builder", password=CANARY)
    assert active.builder().name == "buildah"
    assert "reports buildah" in active.builder().source
    explicit = registry.resolve(url="ghcr.io/acme", username="ci-builder", password=CANARY,
                                builder_backend="kaniko")
    assert explicit.builder().name == "kaniko"


def test_switching_to_buildah_removes_only_the_packages_flags(handler_file: Path) -> None:
    fn = job(handler_file)
    fn.spec.build.extra_args = "--build-arg A=1 --snapshot-mode=redo"
    registry.configure_function(fn, ghcr("kaniko", mirror="mirror.gcr.io", cache=True))
    assert fn.metadata.annotations[OWNED_EXTRA_ARGS_ANNOTATION].startswith("--registry-mirror=mirror.gcr.io")

    registry.configure_function(fn, ghcr("buildah", mirror="mirror.gcr.io", cache=True))

    assert words(fn) == ["--build-arg", "A=1", "--snapshot-mode=redo"]
    assert OWNED_EXTRA_ARGS_ANNOTATION not in fn.metadata.annotations
    assert buildah.dockerfile_args(fn.spec.build.extra_args) == ["ARG A"]  # all Buildah makes of extra_args


def test_configure_project_writes_each_backends_build_config(mlrun_api: MLRunAPIStandIn, tmp_path: Path,
                                                             handler_file: Path) -> None:
    import mlrun

    for backend, expected in (("kaniko", ["--registry-mirror=mirror.gcr.io"]), ("buildah", [])):
        project = mlrun.new_project(f"proj-{backend}", context=str(tmp_path / backend), save=False)
        project.set_function(str(handler_file), name="trainer", kind="job", image="mlrun/mlrun",
                             requirements=["pandas"])
        targets = registry.configure_project(project, ghcr(backend, mirror="mirror.gcr.io"))
        fn = project.get_function("trainer", sync=False, enrich=False)
        assert words(fn) == expected, backend
        assert str(project.spec.build.extra_args or "").split() == expected, backend
        assert project.spec.build.secret == fn.spec.build.secret == "mlrun-registry-default"
        assert targets["trainer"].builder_backend == targets.project_image.builder_backend == backend


# -- the flags the package owns follow the service -------------------------------------------------------

def test_a_changed_mirror_replaces_the_old_one(handler_file: Path) -> None:
    fn = job(handler_file)
    registry.configure_function(fn, ghcr("kaniko", mirror="mirror-a.example.com"))
    registry.configure_function(fn, ghcr("kaniko", mirror="mirror-b.example.com"))
    assert words(fn) == ["--registry-mirror=mirror-b.example.com"]


def test_a_removed_mirror_and_a_cache_turned_off_leave_no_flags(handler_file: Path) -> None:
    fn = job(handler_file)
    fn.spec.build.extra_args = "--build-arg A=1"
    registry.configure_function(fn, ghcr("kaniko", mirror="mirror-a.example.com", cache=True))
    assert "--cache=true" in words(fn)

    registry.configure_function(fn, ghcr("kaniko", cache=True))
    assert words(fn) == ["--build-arg", "A=1", "--cache=true",
                         "--cache-repo=ghcr.io/acme/func-fraud-trainer/cache"]
    registry.configure_function(fn, ghcr("kaniko"))
    assert words(fn) == ["--build-arg", "A=1"]


def test_the_users_own_mirror_is_kept_and_never_doubled(handler_file: Path) -> None:
    fn = job(handler_file)
    fn.spec.build.extra_args = "--registry-mirror=mine.example.com"
    registry.configure_function(fn, ghcr("kaniko", mirror="mirror-a.example.com"))
    assert words(fn) == ["--registry-mirror=mine.example.com"]
    registry.configure_function(fn, ghcr("kaniko"))
    assert words(fn) == ["--registry-mirror=mine.example.com"]  # not the package's: it stays


def test_configure_is_idempotent_for_both_backends(handler_file: Path) -> None:
    for backend in ("kaniko", "buildah"):
        fn = job(handler_file)
        fn.spec.build.extra_args = "--build-arg A=1"
        active = ghcr(backend, mirror="mirror.gcr.io", cache=True)
        registry.configure_function(fn, active)
        first = fn.to_dict()
        registry.configure_function(fn, active)
        assert fn.to_dict() == first, backend


def test_nuclio_build_flags_follow_the_mirror_and_keep_the_users(handler_file: Path) -> None:
    fn = nuclio_fn(handler_file)
    fn.set_config("spec.build.flags", ["--snapshot-mode=redo"])
    registry.configure_function(fn, ghcr("kaniko", mirror="mirror-a.example.com"))
    assert fn.spec.config["spec.build.flags"] == ["--snapshot-mode=redo", "--registry-mirror=mirror-a.example.com"]

    registry.configure_function(fn, ghcr("kaniko", mirror="mirror-b.example.com"))
    assert fn.spec.config["spec.build.flags"] == ["--snapshot-mode=redo", "--registry-mirror=mirror-b.example.com"]
    registry.configure_function(fn, ghcr("kaniko"))
    assert fn.spec.config["spec.build.flags"] == ["--snapshot-mode=redo"]
    assert OWNED_NUCLIO_FLAGS_ANNOTATION not in fn.metadata.annotations


def test_nuclio_builds_keep_kaniko_flags_on_a_buildah_mlrun(handler_file: Path) -> None:
    """MLRun's builder backend is MLRun's: Nuclio builds with its own (Kaniko) builder."""
    fn = nuclio_fn(handler_file)
    target = registry.configure_function(fn, ghcr("buildah", mirror="mirror.gcr.io"))
    assert fn.spec.config["spec.build.flags"] == ["--registry-mirror=mirror.gcr.io"]
    assert target.builder_backend == "kaniko"


@pytest.mark.parametrize(("words_in", "owned", "wanted", "words_out", "added"), [
    ([], [], ["--registry-mirror=b"], ["--registry-mirror=b"], ("--registry-mirror=b",)),
    (["--registry-mirror=a"], ["--registry-mirror=a"], ["--registry-mirror=b"], ["--registry-mirror=b"],
     ("--registry-mirror=b",)),
    (["--x", "--registry-mirror=a"], ["--registry-mirror=a"], [], ["--x"], ()),
    (["--cache-repo", "old", "--y"], [], ["--cache=true", "--cache-repo=new"],
     ["--y", "--cache=true", "--cache-repo=new"], ("--cache=true", "--cache-repo=new")),
    (["--registry-mirror", "u"], [], ["--registry-mirror=b"], ["--registry-mirror", "u"], ()),
])
def test_merge_build_flags(words_in: list[str], owned: list[str], wanted: list[str], words_out: list[str],
                           added: tuple[str, ...]) -> None:
    merged, now_owned = merge_build_flags(words_in, owned, wanted)
    assert (merged, now_owned) == (words_out, added)
    assert merge_build_flags(merged, now_owned, wanted) == (merged, now_owned)  # idempotent


# -- Azure workload identity: the label on the pods ------------------------------------------------------

def acr_wi(backend: str = "auto") -> registry.ActiveRegistry:
    service = RegistryService(url=ACR, auth="workload-identity", identity=CLIENT_ID)
    return registry.resolve(service=service, probe=False, builder_backend=backend)


def test_acr_workload_identity_labels_the_function_pods(handler_file: Path) -> None:
    fn = job(handler_file)
    target = registry.configure_function(fn, acr_wi())
    assert target.pod_labels == AZURE_LABEL
    assert fn.metadata.labels["azure.workload.identity/use"] == "true"
    proxy_fn = nuclio_fn(handler_file)
    nuclio_target = registry.configure_function(proxy_fn, acr_wi())
    assert proxy_fn.metadata.labels["azure.workload.identity/use"] == "true"
    # Nuclio 1.14's Kaniko job pod gets no labels at all: said, since its build cannot get the token
    assert nuclio_target.has_note(NUCLIO_BUILD_POD_UNLABELLED) and not target.has_note(NUCLIO_BUILD_POD_UNLABELLED)
    # no label for a service without Azure workload identity
    other = job(handler_file, name="other")
    registry.configure_function(other, ghcr())
    assert "azure.workload.identity/use" not in (other.metadata.labels or {})


def test_build_pod_label_setting_is_what_mlrun_config_decodes(handler_file: Path) -> None:
    """The build pod gets labels only from the server's httpdb.builder.pod_labels (base.py at 82eefe7
    resolve_builder_pod_labels); the value platform-config emits decodes with mlrun 1.12.1's own config."""
    import mlrun

    env = acr_wi().platform_config().mlrun_env
    saved = (mlrun.mlconf.httpdb.builder.pod_labels, mlrun.mlconf.default_function_pod_labels)
    try:
        mlrun.mlconf.httpdb.builder.pod_labels = env[buildah.BUILDER_POD_LABELS_ENV]
        mlrun.mlconf.default_function_pod_labels = env[buildah.FUNCTION_POD_LABELS_ENV]
        assert mlrun.mlconf.get_builder_pod_labels() == AZURE_LABEL
        assert mlrun.mlconf.get_default_function_pod_labels() == AZURE_LABEL
    finally:
        mlrun.mlconf.httpdb.builder.pod_labels, mlrun.mlconf.default_function_pod_labels = saved
    assert buildah.BUILDER_POD_LABELS_ENV not in ghcr().platform_config().mlrun_env


def test_real_server_keeps_the_label_for_the_pods_but_its_kaniko_pod_has_none(
        mlrun_server: MLRunServer, handler_file: Path) -> None:
    """MLRun 1.5.2 (the newest server code in a wheel): the function keeps metadata.labels (its run pods carry
    them), the Nuclio config it compiles has them, but its build pod carries only mlrun/* labels and it has no
    httpdb.builder.pod_labels: on such a server Kaniko gets no federated token (platform-config says so)."""
    active = acr_wi()
    env = active.platform_config().mlrun_env
    fn = job(handler_file)
    registry.configure_function(fn, active)

    result = mlrun_server.build(build_body(fn), env)

    assert result.function["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    pod_labels = result.kaniko.raw["metadata"]["labels"]
    assert "azure.workload.identity/use" not in pod_labels
    assert set(pod_labels) <= {"mlrun/class", "mlrun/project", "mlrun/task-name", "mlrun/name",
                               "mlrun/function", "mlrun/tag"}
    assert any("1.5.2 has neither" in note for note in active.platform_config().notes)

    nuclio = nuclio_fn(handler_file)
    registry.configure_function(nuclio, active)
    compiled = mlrun_server.nuclio_config(nuclio, env)
    assert (compiled.nuclio("metadata.labels") or {}).get("azure.workload.identity/use") == "true"


# -- ECR on a server without the AWS credentials secret ------------------------------------------------

def test_ecr_with_keys_says_an_unprepared_server_falls_back_to_the_node_role(
        mlrun_server: MLRunServer, handler_file: Path) -> None:
    active = registry.resolve(url=ECR_HOST, username="AKIAIOSFODNN7EXAMPLE", password=CANARY, probe=False)
    fn = job(handler_file)
    target = registry.configure_function(fn, active)
    assert target.has_note(ECR_SERVER_UNPREPARED)
    note = dict(zip(target.note_codes, target.notes))[ECR_SERVER_UNPREPARED]
    assert "MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY_SECRET=mlrun-registry-default-aws" in note
    assert "--insecure --insecure-pull" in note
    assert CANARY not in note

    unprepared = mlrun_server.build(build_body(fn), {}).kaniko  # what the note describes, on the real code
    assert unprepared.env.get("AWS_SDK_LOAD_CONFIG") == "true"
    assert unprepared.insecure and unprepared.insecure_pull
    prepared = mlrun_server.build(build_body(fn), active.platform_config().mlrun_env).kaniko
    assert "AWS_SDK_LOAD_CONFIG" not in prepared.env
    assert not prepared.insecure and not prepared.insecure_pull
    # without keys the existing note (the node role, always) is said instead
    keyless = registry.configure_function(job(handler_file), registry.resolve(url=ECR_HOST, probe=False))
    assert keyless.has_note(ECR_INSTANCE_ROLE) and not keyless.has_note(ECR_SERVER_UNPREPARED)


# -- a Buildah-configured function on the real (Kaniko) server -----------------------------------------

def test_buildah_written_function_still_builds_where_predicted_on_a_kaniko_server(
        mlrun_server: MLRunServer, handler_file: Path) -> None:
    """Were the server still on Kaniko (or falling back to it), the function lands where the target says,
    with the same secret; only the Kaniko extras are missing, which the note says."""
    active = ghcr("buildah", mirror="mirror.gcr.io")
    fn = job(handler_file)
    target = registry.configure_function(fn, active)

    pod = mlrun_server.build(build_body(fn), active.platform_config().mlrun_env).kaniko

    assert pod.destination == target.image
    assert pod.docker_config_secret == target.secret
    assert not any(arg.startswith("--registry-mirror") for arg in pod.args)

    # the same function switched back to Kaniko: the real server passes the package's flags to Kaniko
    target = registry.configure_function(fn, ghcr("kaniko", mirror="mirror.gcr.io", cache=True))
    pod = mlrun_server.build(build_body(fn), active.platform_config().mlrun_env).kaniko
    assert "--registry-mirror=mirror.gcr.io" in pod.args and "--cache=true" in pod.args
    assert f"--cache-repo={target.cache_repo}" in pod.args


# -- the Buildah backend's commands (core.buildah mirrors buildah.py at 9c0c31d1 line by line) ---------

@pytest.mark.parametrize(("mode", "auth", "insecure"), [
    ("enabled", True, True), ("enabled", False, True), ("auto", False, True), ("auto", True, False),
    ("disabled", False, False), ("disabled", True, False),
])
def test_tls_verify_follows_the_insecure_modes(mode: str, auth: bool, insecure: bool) -> None:
    bud = buildah.bud_args("r.example.com/a:1", insecure_pull_mode=mode, has_pull_auth=auth)
    push = buildah.push_args("r.example.com/a:1", insecure_push_mode=mode, has_push_auth=auth)
    assert ("--tls-verify=false" in bud) is insecure
    assert ("--tls-verify=false" in push) is insecure
    assert ("--authfile" in push) is auth and "--authfile" not in bud  # bud reads REGISTRY_AUTH_FILE


def test_bud_and_push_arguments_word_for_word() -> None:
    assert buildah.bud_args("r/a:1", storage_driver="overlay", build_arg_names=["A"], verbose=True) == [
        "buildah", "--log-level", "debug", "--storage-driver", "overlay", "bud", "--volume", "/empty:/empty",
        "--tls-verify=false", "--build-arg", "A", "--tag", "r/a:1", "--file", "/empty/Dockerfile", "/empty"]
    assert buildah.push_args("r/a:1", has_push_auth=True, retry=5) == [
        "buildah", "--storage-driver", "vfs", "push", "--retry", "5", "--authfile", "/auth/config.json", "r/a:1",
        "docker://r/a:1"]
    assert buildah.build_env(has_secret=True) == {"BUILDAH_ISOLATION": "chroot", "HOME": "/home/build",
                                                  "REGISTRY_AUTH_FILE": "/auth/config.json"}
    with pytest.raises(ConfigError, match="buildah_storage_driver"):
        buildah.bud_args("r/a:1", storage_driver="devicemapper")


def test_cloud_registries_on_buildah_say_how_mlrun_logs_in(handler_file: Path) -> None:
    """registry_auth.py at 53b1179: Buildah mints ECR/ACR/GAR logins from the build pod's identity."""
    acr_fn = job(handler_file)
    acr = registry.configure_function(acr_fn, acr_wi("buildah"))
    assert acr.has_note(buildah.BUILDAH_CLOUD_LOGIN)
    assert acr.secret is None and acr_fn.spec.build.secret in (None, "")  # no Kaniko credHelpers config
    assert acr.pod_labels == AZURE_LABEL
    ecr = registry.configure_function(job(handler_file), registry.resolve(
        url=ECR_HOST, username="AKIAIOSFODNN7EXAMPLE", password=CANARY, probe=False, builder_backend="buildah"))
    note = dict(zip(ecr.note_codes, ecr.notes))[buildah.BUILDAH_CLOUD_LOGIN]
    assert "build pod's own AWS identity" in note and "access keys configured here" in note
    assert not ecr.has_note(ECR_SERVER_UNPREPARED)  # Kaniko's fallback: not what Buildah does
    assert not registry.configure_function(job(handler_file), ghcr("buildah")).has_note(buildah.BUILDAH_CLOUD_LOGIN)


# -- the setting ---------------------------------------------------------------------------------------

def test_builder_backend_from_the_environment_and_a_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", "ghcr.io/acme")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_BUILDER_BACKEND", "buildah")
    active = registry.resolve(probe=False)
    assert active.service.builder_backend == "buildah"
    assert active.builder().source == "builder_backend: buildah (env MLRUN_REGISTRY_EXT_BUILDER_BACKEND)"
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_BUILDER_BACKEND", "docker")
    with pytest.raises(ConfigError) as info:
        registry.resolve(probe=False)
    assert info.value.exit_code == 2
    assert "builder_backend" in str(info.value) and "auto, kaniko, buildah" in str(info.value)


def test_config_file_service_names_its_backend(tmp_path: Path) -> None:
    path = tmp_path / "registries.yaml"
    path.write_text(yaml.safe_dump({"services": {"acme": {"url": "ghcr.io/acme", "builder_backend": "buildah"}},
                                    "active": "acme"}))
    active = registry.resolve(config=path, probe=False)
    assert active.builder().name == "buildah"
    result = run_cli("show", "--json", env={"MLRUN_REGISTRY_EXT_CONFIG": str(path)})
    assert result.code == 0, result.stderr
    assert '"builder_backend": "buildah"' in result.stdout


# -- platform-config -----------------------------------------------------------------------------------

def test_platform_config_emits_the_buildah_settings_env_and_helm() -> None:
    config = ghcr("buildah", cache=True).platform_config()
    env = config.mlrun_env
    assert env[buildah.BUILDER_BACKEND_ENV] == "buildah"
    assert env[buildah.BUILDAH_STORAGE_DRIVER_ENV] == "vfs"
    assert env[buildah.INSECURE_PUSH_ENV] == env[buildah.INSECURE_PULL_ENV] == "disabled"
    lines = config.env_lines()
    assert "MLRUN_HTTPDB__BUILDER__BUILDER_BACKEND=buildah" in lines
    assert "--tls-verify=false" in lines and "buildah.py at 9c0c31d1" in lines
    assert "__init__.py at 7f3709e" in lines
    assert "MLRun's Buildah builds use no layer cache" in lines
    extra = config.helm_values()["mlrun"]["api"]["extraEnvKeyValue"]
    assert extra[buildah.BUILDER_BACKEND_ENV] == "buildah" and extra[buildah.BUILDAH_STORAGE_DRIVER_ENV] == "vfs"
    assert buildah.BUILDER_BACKEND_ENV not in ghcr().platform_config().mlrun_env  # auto: left as it is
    assert ghcr("kaniko").platform_config().mlrun_env[buildah.BUILDER_BACKEND_ENV] == "kaniko"
    insecure = registry.resolve(url="http://registry.internal:5000", probe=False, builder_backend="buildah")
    assert insecure.platform_config().mlrun_env[buildah.INSECURE_PUSH_ENV] == "enabled"


def test_platform_config_cli_prints_the_buildah_settings() -> None:
    env = {"MLRUN_REGISTRY_EXT_URL": "ghcr.io/acme", "MLRUN_REGISTRY_EXT_BUILDER_BACKEND": "buildah"}
    result = run_cli("platform-config", env=env)
    assert result.code == 0, result.stderr
    assert "MLRUN_HTTPDB__BUILDER__BUILDER_BACKEND=buildah" in result.stdout
    assert "MLRUN_HTTPDB__BUILDER__BUILDAH_STORAGE_DRIVER=vfs" in result.stdout
    helm = run_cli("platform-config", "--format", "helm", env=env)
    assert helm.code == 0, helm.stderr
    extra = yaml.safe_load(helm.stdout)["mlrun"]["api"]["extraEnvKeyValue"]
    assert extra["MLRUN_HTTPDB__BUILDER__BUILDER_BACKEND"] == "buildah"
    assert "# note: builder backend: buildah" in helm.stdout and "buildah.py at 9c0c31d1" in helm.stdout


def test_applied_buildah_settings_make_a_valid_deployment(kube_apiserver: Any, kubeconfig: Path,
                                                          tmp_path: Path) -> None:
    from mlrun_registry_ext.clients import kube
    from mlrun_registry_ext.core.resolution import ResolvedRegistry

    kube_apiserver.add_deployment("mlrun", "mlrun-api-chief", [
        {"name": "mlrun-api", "image": "mlrun/mlrun-api:1.12.1",
         "env": [{"name": "KEEP_ME", "value": "1"}]}])
    service = RegistryService(url=ACR, auth="workload-identity", identity=CLIENT_ID, builder_backend="buildah")
    kube.apply_platform_config(ResolvedRegistry(service=service, sources={"url": "explicit argument"}), "mlrun",
                               dry_run=False)

    deployment = kube_apiserver.deployments[("mlrun", "mlrun-api-chief")]
    env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env[buildah.BUILDER_BACKEND_ENV] == "buildah"
    assert env[buildah.BUILDER_POD_LABELS_ENV] == buildah.pod_labels_setting(AZURE_LABEL)
    assert env["KEEP_ME"] == "1"
    path = tmp_path / "deployment.yaml"
    path.write_text(yaml.safe_dump(deployment))
    checked = subprocess.run([str(ROOT / ".venv" / "bin" / "kubernetes-validate"), "--strict", "-k",
                              KUBERNETES_VERSION, str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_direct_nuclio_config_merges_flags_and_labels_the_pods() -> None:
    """nuclio-jupyter deploys (apply_to_config): the same ownership of spec.build.flags, and the Azure label."""
    from mlrun_registry_ext.features.nuclio_hooks import apply_to_config

    config: dict[str, Any] = {"metadata": {"name": "echo"}, "spec": {"build": {"flags": ["--snapshot-mode=redo"]}}}
    mirror_a = ghcr("kaniko", mirror="mirror-a.example.com").target("fraud", "echo", "nuclio", nuclio_name="echo")
    apply_to_config(config, mirror_a)
    assert config["spec"]["build"]["flags"] == ["--snapshot-mode=redo", "--registry-mirror=mirror-a.example.com"]
    apply_to_config(config, ghcr("kaniko").target("fraud", "echo", "nuclio", nuclio_name="echo"))
    assert config["spec"]["build"]["flags"] == ["--snapshot-mode=redo"]
    assert OWNED_NUCLIO_FLAGS_ANNOTATION not in config["metadata"]["annotations"]

    labelled = apply_to_config({"metadata": {"name": "echo"}},
                               acr_wi().target("fraud", "echo", "nuclio", nuclio_name="echo"))
    assert labelled["metadata"]["labels"] == AZURE_LABEL


# -- doctor: what the MLRun API Deployment is set to ---------------------------------------------------

def test_doctor_names_an_unprepared_server_from_its_deployment(kube_apiserver: Any, kubeconfig: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """ECR keys on a server without the AWS credentials secret, a Buildah setting on a Kaniko server and
    ACR workload identity without the build-pod label: each named; after `platform-config --apply`, none."""
    import socket

    from mlrun_registry_ext.clients import kube
    from mlrun_registry_ext.core.resolution import ResolvedRegistry
    from mlrun_registry_ext.features.doctor import SERVER_BUILD, doctor

    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: real(
        "127.0.0.1" if str(host).endswith((".amazonaws.com", ".azurecr.io")) else host, *a, **k))
    kube.connect()  # the first `import kubernetes` takes longer than a check's budget
    monkeypatch.setenv("MLRUN_NAMESPACE", "mlrun")
    kube_apiserver.add_deployment("mlrun", "mlrun-api-chief", [
        {"name": "mlrun-api", "image": "mlrun/mlrun-api:1.12.1",
         "env": [{"name": "MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY", "value": ECR_HOST}]}])

    ecr = RegistryService(url=ECR_HOST, username="AKIAIOSFODNN7EXAMPLE", password=CANARY, builder_backend="buildah")
    check = {c.name: c for c in doctor(ecr, timeout=1.0).checks}[SERVER_BUILD]
    assert not check.ok and check.severity == "error"
    assert "no MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY_SECRET" in check.detail
    assert "--insecure --insecure-pull" in check.detail
    assert "builds with kaniko" in check.detail and "builder_backend is buildah" in check.detail
    assert CANARY not in check.detail

    kube.apply_platform_config(ResolvedRegistry(service=ecr, sources={}), "mlrun", dry_run=False)
    fixed = {c.name: c for c in doctor(ecr, timeout=1.0).checks}[SERVER_BUILD]
    assert fixed.ok, fixed.detail
    assert "builds with buildah" in fixed.detail

    acr = RegistryService(url=ACR, auth="workload-identity", identity=CLIENT_ID)
    no_label = {c.name: c for c in doctor(acr, timeout=1.0).checks}[SERVER_BUILD]
    assert not no_label.ok and "azure.workload.identity/use=true" in no_label.detail
    kube.apply_platform_config(ResolvedRegistry(service=acr, sources={}), "mlrun", dry_run=False)
    assert {c.name: c for c in doctor(acr, timeout=1.0).checks}[SERVER_BUILD].ok


# -- property: the owned-flags merge never loses what the user wrote ------------------------------------

#: What a user may have in extra_args: flags, alone or with their value as the next word.
_USER_GROUPS = [("--registry-mirror=a",), ("--registry-mirror", "u"), ("--cache=true",), ("--cache",),
                ("--cache-repo=r/c",), ("--cache-repo", "old"), ("--build-arg", "A=1"), ("--snapshot-mode=redo",),
                ("--x",)]
_OURS = ["--registry-mirror=a", "--registry-mirror=b", "--cache=true", "--cache-repo=r/c", "--cache-repo=r/d"]


def test_merge_build_flags_keeps_the_users_words_and_settles() -> None:
    """Against an independent oracle: the user's flag groups survive, in order, except the single-valued
    cache flags the package writes; ours follow, exactly the wanted ones the user has not set; a second
    service (a changed mirror, the cache turned off) leaves none of the first one's flags; a re-run
    changes nothing."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    groups = st.lists(st.sampled_from(_USER_GROUPS), max_size=6)
    wanted = st.lists(st.sampled_from(_OURS), max_size=3, unique_by=lambda w: w.split("=", 1)[0])

    @settings(max_examples=400, deadline=None)
    @given(user=groups, before=wanted, after=wanted)
    def check(user: list[tuple[str, ...]], before: list[str], after: list[str]) -> None:
        first, owned = merge_build_flags([w for g in user for w in g], [], before)
        second, owned2 = merge_build_flags(first, list(owned), after)
        replaced = {w.split("=", 1)[0] for w in (*before, *after)} & {"--cache", "--cache-repo"}
        survivors = [w for g in user if g[0].split("=", 1)[0] not in replaced for w in g]
        names = {w.split("=", 1)[0] for w in survivors if w.startswith("--")}
        added = [w for w in after if w.split("=", 1)[0] not in names]
        assert (second, list(owned2)) == ([*survivors, *added], added)
        assert merge_build_flags(second, list(owned2), after) == (second, owned2)

    check()
