"""Migration between two real Debian ``docker-registry`` instances on loopback (target: htpasswd auth).

Images are made by the tests (random gzip tar layers, shared base layers, a Docker manifest list and
an OCI index with two platforms). A small loopback proxy in front of the source can delay blobs,
answer 429 a few times, or flip bytes in one blob's body.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mlrun_registry_ext.features.migrate import migrate
from tests.support import images as im
from tests.support.env import CANARY, console_script, installed_python, outside_tree
from tests.support.env import installed_main as main
from tests.support.registry import RunningRegistry

USER, PASSWORD = "ci-builder", "builder-pw-1"
ROOT = Path(__file__).resolve().parents[1]


# --- a loopback proxy that misbehaves on purpose ---------------------------------------------------
class FaultyProxy:
    """Forwards GET/HEAD to ``upstream``; ``corrupt``: blob digests whose body gets one byte flipped;
    ``delay``: seconds before each blob body; ``busy``: how many blob GETs answer 429 first."""

    def __init__(self, upstream: str, *, corrupt: frozenset[str] = frozenset(), delay: float = 0.0,
                 busy: int = 0) -> None:
        self.upstream = upstream
        self.corrupt = corrupt
        self.delay = delay
        self.busy = busy
        self.log: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                proxy.forward(self, head=True)

            def do_GET(self) -> None:
                proxy.forward(self, head=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.url = f"http://{self.host}"

    def forward(self, handler: BaseHTTPRequestHandler, *, head: bool) -> None:
        path = handler.path
        is_blob = "/blobs/sha256:" in path and not head
        with self._lock:
            answer_busy = is_blob and self.busy > 0
            if answer_busy:
                self.busy -= 1
        if answer_busy:
            body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
            handler.send_response(429)
            handler.send_header("Retry-After", "0")
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            self.log.append((handler.command, path, 429))
            return
        if is_blob and self.delay:
            time.sleep(self.delay)
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(handler.command, path, headers=headers)
        response = conn.getresponse()
        handler.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("connection", "transfer-encoding", "keep-alive"):
                handler.send_header(key, value)
        handler.end_headers()
        if not head:
            body = response.read()
            if is_blob and path.rsplit("/", 1)[-1] in self.corrupt and body:
                flipped = bytearray(body)
                flipped[len(body) // 2] ^= 0xFF
                body = bytes(flipped)
            handler.wfile.write(body)
        self.log.append((handler.command, path, response.status))
        conn.close()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy_factory() -> Iterator[Callable[..., FaultyProxy]]:
    started: list[FaultyProxy] = []

    def make(upstream: str, **kwargs: Any) -> FaultyProxy:
        proxy = FaultyProxy(upstream, **kwargs)
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


# --- set-up -----------------------------------------------------------------------------------------
@pytest.fixture
def images() -> list[im.TestImage]:
    return im.image_set(seed=11, count=8)


@pytest.fixture
def source(registry_factory: Callable[..., RunningRegistry], images: list[im.TestImage]) -> RunningRegistry:
    registry = registry_factory()
    im.push_all(registry.url, images)
    return registry


@pytest.fixture
def target(registry_factory: Callable[..., RunningRegistry]) -> RunningRegistry:
    return registry_factory(auth="htpasswd")


def target_digests(target: RunningRegistry) -> dict[str, str]:
    return im.tag_digests(target.url, (USER, PASSWORD))


def stored_blobs(registry: RunningRegistry) -> set[str]:
    """Digests the registry has committed (its filesystem storage), whatever the repository."""
    base = registry.root / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256"
    return {"sha256:" + p.parent.name for p in base.glob("*/*/data")} if base.exists() else set()


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLRUN_REGISTRY_EXT_")}
    env.update({"MLRUN_REGISTRY_EXT_MIGRATE_TO_USERNAME": USER, "MLRUN_REGISTRY_EXT_MIGRATE_TO_PASSWORD": PASSWORD,
                "MLRUN_IGNORE_ENV_FILE": "true", **extra})
    env.pop("IGZ_NAMESPACE_DOMAIN", None)
    return env


# --- behaviour --------------------------------------------------------------------------------------
def test_every_tag_keeps_its_digest_and_a_second_run_copies_nothing(
        source: RunningRegistry, target: RunningRegistry, images: list[im.TestImage]) -> None:
    report = migrate(source.url, target.service(USER, PASSWORD), progress=False)

    assert report.ok, report.errors
    assert target_digests(target) == im.expected_digests(images)
    assert report.count("copied") == len(images) and report.verified == len(images)
    assert report.blobs_mounted > 0  # shared base layers are mounted across repositories, not re-sent
    # the OCI index and the Docker manifest list arrived with every child (two platforms)
    for item in images:
        for child in item.image.children:
            with httpx.Client(auth=(USER, PASSWORD)) as client:
                head = client.head(f"{target.url}/v2/{item.repository}/manifests/{child.digest}",
                                   headers={"Accept": im.ACCEPT})
            assert head.status_code == 200 and head.headers["docker-content-digest"] == child.digest
    unique = {b.digest for i in images for b in i.image.all_blobs()}
    manifests = {m.digest for i in images for m in (i.image, *i.image.children)}
    assert stored_blobs(target) == unique | manifests  # the registry stores manifests as blobs too
    assert report.bytes_copied == sum({b.digest: b.size for i in images for b in i.image.all_blobs()}.values())

    again = migrate(source.url, target.service(USER, PASSWORD), progress=False)
    assert again.ok
    assert (again.blobs_copied, again.blobs_mounted, again.manifests_copied) == (0, 0, 0)
    assert again.count("skipped") == len(images) and again.verified == len(images)


def test_a_big_run_copies_in_small_batches_sending_each_blob_once_and_counting_tags(
        source: RunningRegistry, target: RunningRegistry, images: list[im.TestImage],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 2 tags (a big run's 256, scaled down): each batch's manifests are read, its blobs
    copied and its manifests written before the next is read; a base layer an earlier batch sent is
    mounted from there, not sent again, and the progress counts tags, not bytes."""
    from mlrun_registry_ext.features.migrate.engine import Migration

    monkeypatch.setattr(Migration, "BATCH_TAGS", 2)
    phases: list[tuple[str, int | None]] = []
    advanced = [0]

    class Recorder:
        def phase(self, text: str, total: int | None = None, unit: str = "") -> None:
            phases.append((text, total))

        def advance(self, amount: int = 1) -> None:
            if phases and "batches" in phases[-1][0]:
                advanced[0] += amount

        def close(self) -> None:
            pass

    report = migrate(source.url, target.service(USER, PASSWORD), progress=Recorder())

    assert report.ok, report.errors
    assert target_digests(target) == im.expected_digests(images)
    assert report.count("copied") == len(images) and report.verified == len(images)
    unique = {b.digest: b.size for i in images for b in i.image.all_blobs()}
    manifests = {m.digest for i in images for m in (i.image, *i.image.children)}
    assert stored_blobs(target) == set(unique) | manifests
    assert report.bytes_copied == sum(unique.values()) and report.blobs_mounted > 0  # each blob sent once
    assert [text for text, _ in phases] == ["listing", "comparing tags",
                                            "copying tags in batches", "verifying"]
    assert phases[2][1] == advanced[0] == len(images)

    again = migrate(source.url, target.service(USER, PASSWORD), progress=False)
    assert (again.blobs_copied, again.blobs_mounted, again.manifests_copied) == (0, 0, 0)
    assert again.count("skipped") == len(images)


def test_a_partly_filled_target_gets_only_what_is_missing(
        source: RunningRegistry, target: RunningRegistry, images: list[im.TestImage]) -> None:
    im.push_all(target.url, images[2:4], auth=(USER, PASSWORD))  # two whole images
    leftover = images[5]  # and the blobs of another one without its manifest, as a broken-off run leaves
    with im.registry_client(target.url, (USER, PASSWORD)) as client:
        for blob in leftover.image.all_blobs():
            im.push_blob(client, leftover.repository, blob)
    report = migrate(source.url, target.service(USER, PASSWORD), progress=False)
    assert report.ok
    assert report.count("skipped") == 2 and report.count("copied") == len(images) - 2
    assert report.blobs_skipped == len(leftover.image.all_blobs())
    assert target_digests(target) == im.expected_digests(images)


def test_a_run_killed_mid_copy_is_finished_by_a_rerun(
        source: RunningRegistry, target: RunningRegistry, images: list[im.TestImage],
        proxy_factory: Callable[..., FaultyProxy]) -> None:
    slow = proxy_factory(source.host, delay=0.15)
    cmd = [console_script(), "migrate", "--from", slow.url, "--to", target.url, "--jobs", "2", "--json"]
    proc = subprocess.Popen(cmd, cwd=outside_tree(), env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not stored_blobs(target) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    partial = stored_blobs(target)
    assert partial, "the first run was killed before it copied any blob"
    assert target_digests(target) != im.expected_digests(images)  # killed mid-copy: not finished

    rerun = subprocess.run([*cmd[:3], source.url, *cmd[4:]], cwd=outside_tree(), env=cli_env(), capture_output=True,
                           text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["ok"] and report["verified"] == len(images)
    assert report["blobs"]["skipped"] + report["blobs"]["mounted"] >= len(partial)  # resumed, not restarted
    assert target_digests(target) == im.expected_digests(images)


def test_a_corrupted_blob_is_refused_and_never_committed(
        source: RunningRegistry, target: RunningRegistry, images: list[im.TestImage],
        proxy_factory: Callable[..., FaultyProxy]) -> None:
    victim = images[3]  # a plain image: its own top layer is in no other image
    bad = victim.image.blobs[-1]
    assert sum(bad.digest in {b.digest for b in i.image.all_blobs()} for i in images) == 1
    faulty = proxy_factory(source.host, corrupt=frozenset({bad.digest}))

    report = migrate(faulty.url, target.service(USER, PASSWORD), progress=False)

    assert not report.ok
    assert any(bad.digest in e and "corrupt" in e and "not committed" in e for e in report.errors)
    failed = [t for t in report.tags if t.status == "failed"]
    assert [t.source for t in failed] == [victim.ref]
    assert bad.digest not in stored_blobs(target)  # not in any repository of the target
    got = target_digests(target)
    assert victim.ref not in got  # its manifest was not written over a missing layer
    assert {k: v for k, v in im.expected_digests(images).items() if k != victim.ref} == got

    healed = migrate(source.url, target.service(USER, PASSWORD), progress=False)
    assert healed.ok and healed.count("copied") == 1
    assert target_digests(target) == im.expected_digests(images)


def test_rate_limited_blobs_are_retried_after_retry_after(
        source: RunningRegistry, target: RunningRegistry, images: list[im.TestImage],
        proxy_factory: Callable[..., FaultyProxy]) -> None:
    busy = proxy_factory(source.host, busy=3)
    report = migrate(busy.url, target.service(USER, PASSWORD), progress=False)
    assert report.ok, report.errors
    assert sum(1 for _, _, status in busy.log if status == 429) == 3
    assert target_digests(target) == im.expected_digests(images)


def test_project_filter_and_renaming_into_the_target_naming(
        source: RunningRegistry, target: RunningRegistry, images: list[im.TestImage]) -> None:
    service = target.service(USER, PASSWORD, path="team", image_prefix="pre-")
    report = migrate(source.url, service, project="proj1", rename=True, progress=False)
    assert report.ok
    wanted = [i for i in images if "/func-proj1-" in i.repository]
    expected = {f"team/pre-{i.repository.split('/', 1)[1]}:{i.tag}": i.image.digest for i in wanted}
    assert wanted and target_digests(target) == expected


def test_token_auth_target_works_too(registry_factory: Callable[..., RunningRegistry],
                                     source: RunningRegistry, images: list[im.TestImage]) -> None:
    token_target = registry_factory(auth="token")
    report = migrate(source.url, token_target.service("pusher", "pusher-pw-1"), include=["*/func-proj0-*"],
                     progress=False)
    assert report.ok, report.errors
    wanted = sum(1 for i in images if "func-proj0-" in i.repository)
    assert report.count("copied") == wanted and report.verified == wanted
    again = migrate(source.url, token_target.service("pusher", "pusher-pw-1"), include=["*/func-proj0-*"],
                    progress=False)
    assert again.count("skipped") == wanted and again.blobs_copied == 0


# --- the command line -------------------------------------------------------------------------------
def test_cli_json_dry_run_writes_nothing(source: RunningRegistry, target: RunningRegistry,
                                         images: list[im.TestImage], capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in cli_env().items():
        monkeypatch.setenv(key, value)
    code = main(["migrate", "--from", source.url, "--to", target.url, "--dry-run", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["dry_run"] is True
    assert out["images"]["planned"] == len(images) and out["blobs"]["copied"] > 0
    assert target_digests(target) == {} and stored_blobs(target) == set()


def test_cli_copies_and_prints_a_summary(source: RunningRegistry, target: RunningRegistry,
                                         images: list[im.TestImage], capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in cli_env().items():
        monkeypatch.setenv(key, value)
    code = main(["migrate", "--from", source.url, "--to", target.url, "--include", "mlrun/func-proj2-*"])
    text = capsys.readouterr().out
    wanted = [i for i in images if "func-proj2-" in i.repository]
    assert code == 0
    assert f"images: {len(wanted)} total, {len(wanted)} copied" in text
    assert "MB/s" in text and f"verified: {len(wanted)} of {len(wanted)}" in text


def test_cli_errors_are_one_line_with_exit_codes_and_no_secret(
        source: RunningRegistry, target: RunningRegistry, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    canary = "canary-Pw-7731"
    for key, value in cli_env(MLRUN_REGISTRY_EXT_MIGRATE_TO_PASSWORD=canary).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("IGZ_NAMESPACE_DOMAIN", raising=False)
    assert main(["migrate", "--from", source.url, "--to", target.url]) == 1
    err = capsys.readouterr().err
    assert "rejected" in err and "ci-builder" in err and canary not in err

    assert main(["migrate", "--to", target.url]) == 2
    err = capsys.readouterr().err
    assert "--from" in err and "IGZ_NAMESPACE_DOMAIN" in err and len(err.strip().splitlines()) == 1
    assert main(["migrate", "--from", source.url, "--to", target.url, "--jobs", "0"]) == 2
    assert main(["migrate", "--from", "ftp://x", "--to", target.url]) == 2
    err = capsys.readouterr().err
    assert "--from" in err and "ftp://" in err


def test_cli_default_source_is_the_on_cluster_registry(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IGZ_NAMESPACE_DOMAIN", "default-tenant.app.example.com")
    code = main(["migrate", "--to", "https://registry.example.com/team", "--emit-job", "--json"])
    job = json.loads(capsys.readouterr().out)
    assert code == 0
    command = " ".join(job["spec"]["template"]["spec"]["containers"][0]["command"])
    assert "--from http://docker-registry.default-tenant.app.example.com:80" in command


def test_emit_job_has_resources_a_secret_mount_and_no_password(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    canary = "canary-Pw-9911"
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_MIGRATE_TO_USERNAME", "robot")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_MIGRATE_TO_PASSWORD", canary)
    code = main(["migrate", "--from", "http://docker-registry.svc:80", "--to", "registry.example.com/team",
                 "--project", "fraud", "--jobs", "8", "--emit-job", "--job-secret", "registry-push",
                 "--job-image", "example/mlrun-registry:1", "--job-memory", "300Mi:600Mi", "--namespace", "ns1"])
    text = capsys.readouterr().out
    assert code == 0 and canary not in text
    import yaml

    job = yaml.safe_load(text)
    assert job["kind"] == "Job" and job["metadata"]["namespace"] == "ns1"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "example/mlrun-registry:1"
    assert container["command"][:4] == ["python", "-m", "mlrun_registry_ext.cli", "migrate"]  # PATH is unknown
    assert container["command"][6:8] == ["--to", "https://registry.example.com/team"]
    assert "--project" in container["command"] and "8" in container["command"]
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "300Mi"},
                                      "limits": {"cpu": "2", "memory": "600Mi"}}
    volume = job["spec"]["template"]["spec"]["volumes"][0]
    assert volume["secret"]["secretName"] == "registry-push"
    assert {"name": "DOCKER_CONFIG", "value": "/registry-auth"} in container["env"]


# --- explicit --from/--to: the one path (the one, cheap registry service model), no pydantic -----------
#: Runs the real command line, then reports on stderr which of the slow modules it imported.
LIGHT_CLI = """
import sys
from mlrun_registry_ext.cli import main
code = main(sys.argv[1:])
slow = sorted(m for m in sys.modules if m.partition(".")[0] in ("pydantic", "pydantic_core", "pydantic_settings"))
print("slow-modules:", *slow, file=sys.stderr)
sys.exit(code)
"""


def run_light(*args: str, env: dict[str, str]) -> tuple[int, str, list[str], list[str]]:
    """``(exit code, stdout, stderr lines of the command, slow modules it imported)``."""
    proc = subprocess.run([installed_python(), "-c", LIGHT_CLI, *args],
                          cwd=outside_tree(), env=env, capture_output=True,
                          text=True, timeout=60)
    lines = proc.stderr.splitlines()
    marker = [line for line in lines if line.startswith("slow-modules:")]
    assert len(marker) == 1, proc.stderr
    return (proc.returncode, proc.stdout, [line for line in lines if line not in marker],
            marker[0].split()[1:])


def test_cli_with_explicit_urls_never_imports_pydantic_and_a_rerun_copies_nothing(
        source: RunningRegistry, target: RunningRegistry, images: list[im.TestImage], tmp_path: Path) -> None:
    code, out, err, slow = run_light("migrate", "--from", source.url, "--to", target.url, "--json", env=cli_env())
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] and report["images"]["copied"] == len(images) and report["verified"] == len(images)
    assert (report["source"], report["target"]) == (source.url, target.url)
    assert target_digests(target) == im.expected_digests(images)
    assert slow == []

    # the re-run takes the target login from a docker config (what the --emit-job Job mounts)
    docker = tmp_path / "docker"
    docker.mkdir()
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (docker / "config.json").write_text(json.dumps({"auths": {target.host: {"auth": auth}}}))
    env = {k: v for k, v in cli_env(DOCKER_CONFIG=str(docker)).items() if "MIGRATE_TO" not in k}
    code, out, err, slow = run_light("migrate", "--from", source.url, "--to", target.url, "--json", env=env)
    assert code == 0, err
    again = json.loads(out)
    assert again["ok"] and again["images"]["skipped"] == len(images) and again["verified"] == len(images)
    assert again["blobs"] == {"copied": 0, "skipped": 0, "mounted": 0} and again["manifests"]["copied"] == 0
    assert slow == []


def test_cli_fast_path_never_shows_the_password(
        registry_factory: Callable[..., RunningRegistry], source: RunningRegistry, images: list[im.TestImage]) -> None:
    guarded = registry_factory(auth="htpasswd", htpasswd_users={USER: CANARY})
    env = cli_env(MLRUN_REGISTRY_EXT_MIGRATE_TO_PASSWORD=CANARY)
    code, out, err, slow = run_light("migrate", "--from", source.url, "--to", guarded.url, "--dry-run", "--json",
                                     env=env)
    assert code == 0, err
    assert json.loads(out)["images"]["planned"] == len(images)
    assert CANARY not in out + "".join(err) and slow == []

    wrong = f"wrong-{CANARY}"
    code, out, err, slow = run_light("migrate", "--from", source.url, "--to", guarded.url, "--json",
                                     env=cli_env(MLRUN_REGISTRY_EXT_MIGRATE_TO_PASSWORD=wrong))
    assert code == 1 and out == ""
    assert len(err) == 1 and "rejected" in err[0] and USER in err[0]
    assert CANARY not in err[0] and slow == []


def _errors(stderr: str) -> str:
    """``stderr`` without warnings (--rename resolves the active service, which may warn first)."""
    return "".join(line for line in stderr.splitlines(keepends=True)
                   if not line.startswith("mlrun-registry: warning: "))


@pytest.mark.parametrize(
    ("argv", "env", "words"),
    [
        (["--from", "http://127.0.0.1:9"], {"MLRUN_REGISTRY_EXT_MIGRATE_FROM_USERNAME": "alice"},
         "MLRUN_REGISTRY_EXT_MIGRATE_FROM_PASSWORD: the password for user 'alice' is empty"),
        (["--from", "http://127.0.0.1:9"], {"docker-auth": f":{CANARY}"},  # the docker config's, for both sides
         "auths[127.0.0.1:9]: a password was given without a username"),
        (["--from", "http://127.0.0.1:9"], {"MLRUN_REGISTRY_EXT_MIGRATE_TO_USERNAME": "bob"},
         "MLRUN_REGISTRY_EXT_MIGRATE_TO_PASSWORD: the password for user 'bob' is empty"),
        (["--from", "http://127.0.0.1:9", "--to", "docker.io"], {}, "--to: url: Docker Hub needs a namespace"),
        (["--from", "123456789012.dkr.ecr.us-east-1.amazonaws.com/a__b"], {}, "--from: url:"),
        (["--from", "ftp://x"], {}, "--from: scheme 'ftp://' is not allowed"),
        (["--from", "http://127.0.0.1:9", "--image-prefix", "Team-"], {}, "image_prefix:"),
    ],
)
def test_cli_fast_path_errors_are_the_same_as_the_service_path(
        argv: list[str], env: dict[str, str], words: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = dict(env)
    auth = env.pop("docker-auth", None)
    if auth is not None:
        config = {"auths": {"127.0.0.1:9": {"auth": base64.b64encode(auth.encode()).decode()}}}
        (tmp_path / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))  # no docker config but the test's
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    argv = ["migrate", "--to", "http://127.0.0.1:9/team", *argv]  # a later --to wins
    assert main(argv) == 2
    fast = capsys.readouterr().err
    assert main([*argv, "--rename"]) == 2  # --rename: through RegistryService and the active service
    assert _errors(capsys.readouterr().err) == fast
    assert words in fast and len(fast.strip().splitlines()) == 1 and CANARY not in fast


def test_migrate_for_a_project_copies_into_the_registry_its_project_map_names(
        source: RunningRegistry, target: RunningRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in cli_env().items():
        monkeypatch.setenv(key, value)
    config = tmp_path / "registries.yaml"
    config.write_text(yaml.safe_dump({
        "active": "elsewhere",
        "services": {"elsewhere": {"url": "registry.invalid/other"},
                     "team": {"url": f"http://{target.host}", "username": USER, "password": PASSWORD}},
        "projects": {"fraud": "team"},
    }))
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(config))
    code = main(["migrate", "--from", source.url, "--project", "fraud", "--dry-run", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and target.host in out["target"] and "registry.invalid" not in out["target"]


def test_a_cold_copy_asks_the_target_nothing_it_does_not_need(
        source: RunningRegistry, target: RunningRegistry, images: list[im.TestImage]) -> None:
    # every request costs an htpasswd registry a bcrypt check: into repositories the target does not have,
    # no HEAD at all (neither side compares tags), an upload session and one PUT per blob, one request per
    # mount, one PUT per manifest, and the tag's PUT digest as the verification
    report = migrate(source.url, target.service(USER, PASSWORD), progress=False)
    assert report.ok and report.verified == len(images)
    blobs, manifests = report.blobs_copied, report.manifests_copied
    listing_and_auth = 2  # the catalog, and the 401 that brings the challenge
    assert report.requests["target"] == listing_and_auth + 2 * blobs + report.blobs_mounted + manifests
    source_listing = 1 + len({i.repository for i in images})  # the catalog, then each repository's tags
    assert report.requests["source"] == source_listing + manifests + blobs
    assert report.to_dict()["requests"] == report.requests
