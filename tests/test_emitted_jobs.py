"""The pods the package emits start, as non-root users, with nothing but what their manifests say; and the
installed console script works for a non-root user.

Each emitted container command runs here as it would in its pod: the kubelet's ``$(VAR)`` expansion applied
(an independent reading of kubernetes/kubernetes ``third_party/forked/golang/expansion/expand.go`` at
fde22c3f9aacfd260225a9741de123a41157b7c0), as the unprivileged user ``mlrr`` (scripts/bootstrap.sh --test
creates it), in a fresh Python environment (Debian's python3 and a new venv: only pip in it) whose only package
source is a local directory of wheels: the package's wheel and its dependencies' (``dist/wheelhouse``, from
scripts/wheel-venv.sh), through ``PIP_NO_INDEX``/``PIP_FIND_LINKS``, a loopback URL (``--job-wheel``) or a
loopback package index (``--job-index``). The Job copies an image between two loopback registries; the digests
on both sides are compared.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.support import images as im
from tests.support.aws import ECR_HOST, MotoServer
from tests.support.env import REPO, run_cli
from tests.support.kube import KubeStandIn
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.timeout(600)

POD_USER = "mlrr"
KUBERNETES_VERSION = "1.29.0"  # one of the versions kubernetes-validate ships strict schemas for
WHEELHOUSE_ENV = "MLRUN_REGISTRY_TEST_WHEELHOUSE"


# --- the kubelet's expansion, read independently ---------------------------------------------------------
def kubelet_expand(text: str, env: dict[str, str]) -> str:
    """``$(NAME)`` -> the value (left as is when undefined), ``$$`` -> ``$``, any other ``$`` kept."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                close = text.find(")", i + 2)
                if close != -1:
                    name = text[i + 2:close]
                    out.append(env.get(name, f"$({name})"))
                    i = close + 1
                    continue
                out.append("$(")
                i += 2
                continue
            out.append("$" + nxt)
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def test_the_expander_follows_the_kubelet_examples() -> None:
    env = {"VAR_A": "A", "VAR_B": "B"}
    assert kubelet_expand("$(VAR_A)-$(VAR_B)", env) == "A-B"
    assert kubelet_expand("$$(VAR_A)", env) == "$(VAR_A)"
    assert kubelet_expand("$$$$(VAR_A)", env) == "$$(VAR_A)"
    assert kubelet_expand("$(VAR_C)", env) == "$(VAR_C)"
    assert kubelet_expand("$(VAR_A", env) == "$(VAR_A"
    assert kubelet_expand("a$b$", env) == "a$b$"


@given(st.text(alphabet="$()AB_x ", max_size=20))
def test_an_escaped_argument_reaches_the_pod_unchanged(text: str) -> None:
    from mlrun_registry_ext.core.pod_command import kube_escape

    assert kubelet_expand(kube_escape(text), {"A": "expanded", "B": "x"}) == text


# --- what the manifests say -------------------------------------------------------------------------------
def _emit(*argv: str, stdin: str | None = None) -> list[dict[str, Any]]:
    result = run_cli(*argv, stdin=stdin)
    assert result.code == 0, result.output
    assert "&id" not in result.stdout and "*id" not in result.stdout  # no YAML anchors or aliases
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _validate(docs: list[dict[str, Any]], tmp_path: Path) -> None:
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    checked = subprocess.run([str(REPO / ".venv" / "bin" / "kubernetes-validate"), "--strict", "-k",
                              KUBERNETES_VERSION, str(path)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _pod(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    return spec["template"]["spec"]


def test_emitted_manifests_have_no_yaml_anchors_run_as_non_root_and_pass_strict_validation(tmp_path: Path) -> None:
    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team"
    job = _emit("migrate", "--from", "http://docker-registry.svc:80", "--to", "https://registry.example.com/team",
                "--emit-job", "--include", "a$(HOME)b")
    shards = _emit("migrate", "--from", "http://docker-registry.svc:80", "--to", "https://registry.example.com/team",
                   "--emit-job", "--shards", "3", "--job-wheel",
                   "https://files.corp/w/mlrun_registry_ext-0.1.0-py3-none-any.whl")
    cron = _emit("ecr", "cronjob", "--url", ecr, "--secret-name", "ecr-pull", "-n", "mlrun", "--image",
                 "acme/tools:1")
    secrets = _emit("secret", "apply", "--url", "registry.example.com/team", "--username", "bob", "--password-stdin",
                    "-n", "mlrun", "--to", "team-a", "--dry-run", stdin="pw-1")
    docs = job + shards + cron + secrets
    _validate(docs, tmp_path)
    workloads = [d for d in docs if d["kind"] in ("Job", "CronJob")]
    assert len(workloads) == 3
    for doc in workloads:
        (container,) = _pod(doc)["containers"]
        assert container["securityContext"]["runAsNonRoot"] is True and container["securityContext"]["runAsUser"] > 0
        assert "mlrun-registry" not in container["command"][:1]  # not a console script that PATH must find
        assert {"name": "HOME", "value": "/tmp"} in container["env"]
    (container,) = _pod(job[0])["containers"]
    assert "a$$(HOME)b" in container["command"]  # the kubelet hands the pod a$(HOME)b
    (container,) = _pod(shards[0])["containers"]
    assert container["command"][-2:] == ["--shard", "$(JOB_COMPLETION_INDEX)/3"]


def test_one_object_used_twice_is_written_out_twice_not_aliased() -> None:
    from mlrun_registry_ext.core.strict_yaml import dump_yaml

    labels = {"app": "x"}
    text = dump_yaml({"metadata": {"labels": labels}, "template": {"metadata": {"labels": labels}}}, {"b": labels})
    assert "&id" not in text and "*id" not in text and text.count("app: x") == 3
    assert text.startswith("---") and len(list(yaml.safe_load_all(text))) == 2


def test_helm_values_and_report_yaml_have_no_anchors_either(tmp_path: Path) -> None:
    config = tmp_path / "registries.yaml"
    config.write_text("active: team\nservices:\n  team: {url: registry.example.com/team, cache: true,\n"
                      "    resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: 500m, memory: 1Gi}}}\n")
    result = run_cli("platform-config", "--format", "helm", env={"MLRUN_REGISTRY_EXT_CONFIG": str(config)})
    assert result.code == 0, result.output
    assert yaml.safe_load(result.stdout) and "&id" not in result.stdout and "*id" not in result.stdout


@pytest.mark.parametrize(("argv", "field"), [
    (["--namespace", "Bad NS;x"], "--namespace"),
    (["--job-wheel", "ftp://x/y.whl"], "--job-wheel"),
    (["--job-wheel", "https://files.corp/pkg.tar.gz"], "--job-wheel"),
    (["--job-index", "pypi.corp/simple"], "--job-index"),
    (["--job-image", "acme/tools:1", "--job-index", "https://pypi.corp/simple"], "--job-wheel/--job-index"),
])
def test_bad_job_options_are_one_line_exit_2(argv: list[str], field: str) -> None:
    result = run_cli("migrate", "--from", "http://127.0.0.1:9", "--to", "https://registry.example.com/team",
                     "--emit-job", *argv)
    assert result.code == 2, result.output
    assert result.stdout == "" and result.stderr.startswith(f"mlrun-registry: error: {field}: ")
    assert len(result.stderr.splitlines()) == 1 and "Bad NS;x" not in result.stderr.replace("'Bad NS;x'", "")


# --- running the pods -------------------------------------------------------------------------------------
@functools.cache
def _pod_user() -> str:
    found = subprocess.run(["id", "-u", POD_USER], capture_output=True, text=True)
    assert found.returncode == 0, f"user {POD_USER} is missing: scripts/bootstrap.sh --test creates it"
    assert int(found.stdout) != 0
    return POD_USER


_SHARED: list[Path] = []


def _shared_dir(prefix: str) -> Path:
    """A directory the pod user can read (pytest's tmp_path is root's alone), removed after the session."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    _SHARED.append(path)
    return path


@pytest.fixture(scope="module", autouse=True)
def _remove_shared_dirs() -> Iterator[None]:
    yield
    for path in _SHARED:
        shutil.rmtree(path, ignore_errors=True)
    _SHARED.clear()


@pytest.fixture(scope="module")
def wheelhouse() -> Path:
    """The wheel and its dependencies' wheels (scripts/wheel-venv.sh), copied where the pod user can read."""
    source = Path(os.environ.get(WHEELHOUSE_ENV) or REPO / "dist" / "wheelhouse")
    wheels = sorted(source.glob("*.whl"))
    assert any(w.name.startswith("mlrun_registry_ext-") for w in wheels), f"no wheel in {source}: run " \
        "scripts/wheel-venv.sh"
    house = _shared_dir("mlrr-wheelhouse-")
    for wheel in wheels:
        shutil.copy(wheel, house / wheel.name)
        (house / wheel.name).chmod(0o644)
    return house


@pytest.fixture(scope="module")
def fresh_python() -> Path:
    """A new venv of Debian's python3: pip and nothing else (what ``python:3.11-slim`` offers a pod)."""
    root = _shared_dir("mlrr-python-")
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(root / "venv")], check=True, timeout=300)
    return root / "venv" / "bin"


def _pod_home() -> Path:
    home = _shared_dir("mlrr-home-")
    shutil.chown(home, _pod_user())
    home.chmod(0o700)
    return home


def run_container(container: dict[str, Any], bin_dir: Path, *, extra_env: dict[str, str] | None = None,
                  pip_env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The container's command (and args), as the kubelet hands them over, run by the pod user.

    The pod's environment is the container's ``env`` (values; ``valueFrom`` from ``extra_env``), a PATH whose
    ``python`` is ``bin_dir``'s, and the pip settings; HOME is a fresh directory of the pod user's (the
    manifest's ``/tmp``, one per run here)."""
    env = {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}
    env.update(extra_env or {})
    argv = [kubelet_expand(part, env) for part in [*container["command"], *container.get("args", [])]]
    env.update({"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": str(_pod_home()),
                "PIP_DISABLE_PIP_VERSION_CHECK": "1", **(pip_env or {})})
    return subprocess.run(["runuser", "-u", _pod_user(), "--", "env", "-i",
                           *(f"{k}={v}" for k, v in env.items()), *argv],
                          capture_output=True, text=True, timeout=timeout, cwd="/")


def _one_image(registry: RunningRegistry) -> dict[str, str]:
    image = im.image_set(seed=5, count=1)
    im.push_all(registry.url, image)
    return im.expected_digests(image)


def _only_local_wheels(wheelhouse: Path) -> dict[str, str]:
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse)}


def test_the_migrate_job_installs_the_pinned_package_as_non_root_and_copies_an_image(
        registry_factory: Callable[..., RunningRegistry], wheelhouse: Path, fresh_python: Path) -> None:
    source, target = registry_factory(), registry_factory()
    expected = _one_image(source)
    (job,) = _emit("migrate", "--from", source.url, "--to", target.url, "--emit-job")
    (container,) = _pod(job)["containers"]
    assert container["image"] == "python:3.11-slim"
    ran = run_container(container, fresh_python, pip_env=_only_local_wheels(wheelhouse))
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    report = json.loads(ran.stdout[ran.stdout.index("{"):])
    assert report["ok"] and report["verified"] == 1
    assert im.tag_digests(target.url) == expected == im.tag_digests(source.url)


def test_the_sharded_job_from_a_wheel_url_copies_each_shard_as_non_root(
        registry_factory: Callable[..., RunningRegistry], wheelhouse: Path, fresh_python: Path) -> None:
    source, target = registry_factory(), registry_factory()
    expected = _one_image(source)
    with _serve(wheelhouse) as base:
        wheel = next(w.name for w in wheelhouse.glob("mlrun_registry_ext-*.whl"))
        (job,) = _emit("migrate", "--from", source.url, "--to", target.url, "--emit-job", "--shards", "2",
                       "--job-wheel", f"{base}/{wheel}")
        (container,) = _pod(job)["containers"]
        for index in range(2):  # the Job controller starts pod i with its completion index
            ran = run_container(container, fresh_python, extra_env={"JOB_COMPLETION_INDEX": str(index)},
                                pip_env=_only_local_wheels(wheelhouse))  # the dependencies from the wheelhouse
            assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
            assert json.loads(ran.stdout[ran.stdout.index("{"):])["ok"]
    assert im.tag_digests(target.url) == expected


def test_the_migrate_job_installs_from_the_index_the_user_names(
        registry_factory: Callable[..., RunningRegistry], wheelhouse: Path, fresh_python: Path) -> None:
    source, target = registry_factory(), registry_factory()
    expected = _one_image(source)
    index = _shared_dir("mlrr-index-")
    for wheel in wheelhouse.glob("*.whl"):  # a PEP 503 simple index: one directory per normalised name
        project = wheel.name.split("-", 1)[0].lower().replace("_", "-")
        (index / project).mkdir(exist_ok=True)
        shutil.copy(wheel, index / project / wheel.name)
    with _serve(index) as base:
        (job,) = _emit("migrate", "--from", source.url, "--to", target.url, "--emit-job", "--job-index", base)
        (container,) = _pod(job)["containers"]
        assert {"name": "PIP_INDEX_URL", "value": base} in container["env"]
        ran = run_container(container, fresh_python)  # no find-links: the index is the only source
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert im.tag_digests(target.url) == expected


@pytest.fixture(scope="module")
def installed_for_user(wheelhouse: Path, fresh_python: Path) -> Path:
    """``pip install 'mlrun-registry-ext[aws,kubernetes]'`` from the wheelhouse into a venv of its own: the
    user's install, and the image the refresh CronJob names."""
    root = _shared_dir("mlrr-user-venv-")
    subprocess.run([str(fresh_python / "python"), "-m", "venv", str(root / "venv")], check=True, timeout=300)
    subprocess.run([str(root / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index",
                    "--find-links", str(wheelhouse), "mlrun-registry-ext[aws,kubernetes]"], check=True, timeout=600)
    return root / "venv" / "bin"


def test_a_job_image_with_the_package_runs_it_with_python_m(
        registry_factory: Callable[..., RunningRegistry], installed_for_user: Path) -> None:
    source, target = registry_factory(), registry_factory()
    expected = _one_image(source)
    (job,) = _emit("migrate", "--from", source.url, "--to", target.url, "--emit-job", "--job-image", "acme/tools:1")
    (container,) = _pod(job)["containers"]
    assert container["command"][:3] == ["python", "-m", "mlrun_registry_ext.cli"]
    ran = run_container(container, installed_for_user, pip_env={"PIP_NO_INDEX": "1"})
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    assert im.tag_digests(target.url) == expected


def test_the_refresh_cronjob_rewrites_the_pull_secret_as_non_root(
        installed_for_user: Path, aws: MotoServer, kube_apiserver: KubeStandIn, kubeconfig: Path) -> None:
    docs = _emit("ecr", "cronjob", "--url", f"{ECR_HOST}/team", "--secret-name", "ecr-pull", "-n", "mlrun",
                 "--to", "team-a", "--image", "acme/tools:1",
                 "--role-arn", "arn:aws:iam::123456789012:role/ecr-refresh")
    (cron,) = [d for d in docs if d["kind"] == "CronJob"]
    (container,) = _pod(cron)["containers"]
    readable = _shared_dir("mlrr-kube-") / "kubeconfig"  # the pod's service account, as a kubeconfig here
    shutil.copy(kubeconfig, readable)
    readable.chmod(0o644)
    # the role's credentials, as EKS injects them for the annotated service account (here: moto's keys)
    identity = {key: os.environ[key] for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")}
    ran = run_container(container, installed_for_user, extra_env={**identity, "KUBECONFIG": str(readable)})
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    for namespace in ("mlrun", "team-a"):
        config = json.loads(kube_apiserver.secret_data(namespace, "ecr-pull", ".dockerconfigjson"))
        assert config["auths"][ECR_HOST]["username"] == "AWS"
    assert identity["AWS_SECRET_ACCESS_KEY"] not in ran.stdout + ran.stderr


# --- the installed console script, for a non-root user ----------------------------------------------------
def _as_user(bin_dir: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(_pod_home()), "MLRUN_IGNORE_ENV_FILE": "true",
            **(env or {})}
    return subprocess.run(["runuser", "-u", _pod_user(), "--", "env", "-i", *(f"{k}={v}" for k, v in base.items()),
                           "mlrun-registry", *argv], capture_output=True, text=True, timeout=120, cwd="/")


def test_the_console_script_works_for_a_non_root_user(installed_for_user: Path,
                                                      registry_anonymous: RunningRegistry) -> None:
    helped = _as_user(installed_for_user, "--help")
    assert helped.returncode == 0 and "usage: mlrun-registry" in helped.stdout, helped.stderr
    env = {"MLRUN_REGISTRY_EXT_URL": f"http://{registry_anonymous.host}/team"}
    target = _as_user(installed_for_user, "target", "fraud", "trainer", env=env)
    assert target.returncode == 0, target.stderr
    assert f"{registry_anonymous.host}/team/func-fraud-trainer:latest" in target.stdout
    shown = _as_user(installed_for_user, "show", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["active"]["url"] == f"{registry_anonymous.host}/team"
    doctor = _as_user(installed_for_user, "doctor", "--json", "--timeout", "10", env=env)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert json.loads(doctor.stdout)["ok"] is True


# --- a loopback file server (the wheel URL, the package index) --------------------------------------------
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _serve(directory: Path) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
