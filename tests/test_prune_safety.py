"""Prune never deletes an image that anyone uses, and every prune can be undone.

A real Debian docker-registry (delete enabled), an MLRun API stand-in that pages with tokens and can
misbehave in each way a real server (or a proxy in front of one) does, a Nuclio dashboard stand-in, and a
proxy that re-points a tag between the plan and the DELETE. Expected values come from the test's own
reading of the registry, never from the product's code.
"""

from __future__ import annotations

import http.client
import json
import random
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support import images as im
from tests.support.env import cli_json
from tests.support.registry import RunningRegistry, start_registry
from tests.support.standins import MLRunAPIStandIn, NuclioDashboardStandIn, RecordedRequest

OLD = "2025-05-01T10:00:00Z"


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Prune writes its restore file in the working directory by default: the test's own, not the tree."""
    monkeypatch.chdir(tmp_path)


# --- stand-ins ----------------------------------------------------------------------------------------

class PagingMLRunAPI(MLRunAPIStandIn):
    """The MLRun API's function listing with the server's pagination (mlrun/mlrun
    ``server/py/services/api/utils/pagination.py`` ``Paginator``, commit
    36431a8f2e0e88832a6cac2161a1576168226c09: a page with a token holds ``page-size`` records, the last
    page's token is null, an unknown token is a 404) at a small page size, and one fault at a time:

    - ``no-funcs``: 200 without the ``funcs`` key; ``non-object``: a record that is a string;
    - ``expired-token``: the token of page 1 is unknown on page 2 (404, as after the cache's TTL);
    - ``500``: page 2 answers 500; ``unparseable``: page 2 is not JSON;
    - ``short``: page 1 claims more pages but holds fewer records than its page size;
    - ``projects-500``: the project listing answers 500.
    """

    def __init__(self, page_size: int = 2) -> None:
        super().__init__()
        self.page_size = page_size
        self.fault: str | None = None

    def _list_projects(self, request: RecordedRequest) -> Any:
        if self.fault == "projects-500":
            return 500, {"detail": "internal error"}, {}
        return 200, {"projects": sorted(self.projects)}, {}

    def _list_fns(self, request: RecordedRequest, project: str) -> Any:
        records = []
        for key, function in sorted(self.functions.items()):
            fn_project, _, fn_name = key.partition("/")
            if fn_project == project:
                record = json.loads(json.dumps(function))
                record.setdefault("metadata", {}).update(project=fn_project, name=fn_name)
                records.append(record)
        token = request.param("page-token")
        page = int(token.rsplit("-", 1)[-1]) if token else 1
        if token and self.fault == "expired-token":
            return 404, {"detail": f"Token {token} not found in pagination cache"}, {}
        if page > 1 and self.fault == "500":
            return 500, {"detail": "internal error"}, {}
        if page > 1 and self.fault == "unparseable":
            return 200, b'{"funcs": [{"kind": "job", "metadata"', {"Content-Type": "application/json"}
        size = self.page_size
        chunk = records[(page - 1) * size: page * size]
        more = page * size < len(records)
        if self.fault == "short" and more:
            chunk = chunk[:-1]
        if self.fault == "non-object":
            chunk = [*chunk, "a record that is not an object"]
        body: dict[str, Any] = {"pagination": {"page": page, "page-size": size,
                                               "page-token": f"tok-{project}-{page + 1}" if more else None}}
        if self.fault != "no-funcs":
            body["funcs"] = chunk
        return 200, body, {}


class FaultyDashboard(NuclioDashboardStandIn):
    """The Nuclio dashboard's ``GET /api/functions`` (nuclio/nuclio ``docs/reference/api/README.md``,
    commit 8ec17cdcf50db07762c59ff5f281bd464d6d1e43), with a fault: ``500`` or ``non-object``."""

    fault: str | None = None

    def _list_functions(self, request: RecordedRequest) -> Any:
        if self.fault == "500":
            return 500, {"error": "internal error", "errorStackTrace": ""}, {}
        if self.fault == "non-object":
            return 200, {"broken": "not a function"}, {}
        return super()._list_functions(request)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[PagingMLRunAPI]:
    stand_in = PagingMLRunAPI().start()
    monkeypatch.setenv("MLRUN_DBPATH", stand_in.url)
    try:
        yield stand_in
    finally:
        stand_in.close()


@pytest.fixture
def dashboard(monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyDashboard]:
    stand_in = FaultyDashboard().start()
    monkeypatch.setenv("NUCLIO_DASHBOARD_URL", stand_in.url)
    try:
        yield stand_in
    finally:
        stand_in.close()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    running = start_registry(tmp_path)
    try:
        yield running
    finally:
        running.stop()


# --- helpers ------------------------------------------------------------------------------------------

def _image(rng: random.Random, created: str = OLD, base: list[im.Blob] | None = None) -> im.Image:
    return im.build_image([*(base or []), im.random_layer(rng, 3000)], created=created)


def _push(registry: RunningRegistry, items: dict[str, im.Image]) -> None:
    im.push_all(registry.url, [im.TestImage(*ref.split(":"), image) for ref, image in items.items()])


def _tags(url: str) -> dict[str, str]:
    return im.tag_digests(url)




def _project(api: MLRunAPIStandIn, *names: str) -> None:
    for name in names:
        api.projects[name] = {"metadata": {"name": name}, "spec": {}, "status": {"state": "online"}}


def _fn(api: MLRunAPIStandIn, project: str, name: str, image: str, field: str = "spec.image") -> None:
    record: dict[str, Any] = {"kind": "job", "metadata": {"name": name, "project": project}, "spec": {"build": {}}}
    node = record
    *parents, last = field.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = image
    api.functions[f"{project}/{name}"] = record


PRUNE = ["prune", "--keep", "0", "--min-age", "0s", "--yes", "--json"]


# --- guarantee 1: usage read completely, or nothing deleted -------------------------------------------

@pytest.mark.parametrize("fault", ["no-funcs", "non-object", "expired-token", "500", "unparseable", "short",
                                   "projects-500"])
def test_an_mlrun_listing_that_cannot_be_read_whole_deletes_nothing(
        fault: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        registry: RunningRegistry, api: PagingMLRunAPI, dashboard: FaultyDashboard) -> None:
    rng = random.Random(1)
    _push(registry, {f"mlrun/func-p1-fn{i}:v1": _image(rng) for i in range(5)})
    _project(api, "p1")
    for i in range(5):  # five records at two per page: the last ones sit on page 3
        _fn(api, "p1", f"fn{i}", f"{registry.host}/mlrun/func-p1-fn{i}:v1")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", registry.url)
    monkeypatch.chdir(tmp_path)
    before = _tags(registry.url)

    code, report, err = cli_json(PRUNE, capsys)  # healthy: every image is used, nothing goes
    assert code == 0, err
    assert report["manifests_deleted"] == 0 and _tags(registry.url) == before
    assert len(api.find("GET", "/api/v1/projects/p1/functions")) == 3

    api.fault = fault
    code, out, err = cli_json(PRUNE, capsys)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "nothing was deleted" in err and "MLRun API" in err
    assert _tags(registry.url) == before
    assert not list(tmp_path.glob("mlrun-registry-prune-restore-*.json"))


@pytest.mark.parametrize("fault", ["500", "non-object", "unset"])
def test_a_nuclio_listing_that_cannot_be_read_deletes_nothing(
        fault: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        registry: RunningRegistry, api: PagingMLRunAPI, dashboard: FaultyDashboard) -> None:
    rng = random.Random(2)
    _push(registry, {"mlrun/func-p1-serve:v1": _image(rng), "mlrun/func-p1-serve:v2": _image(rng)})
    _project(api, "p1")
    dashboard.add_function("p1-serve", "p1", f"{registry.host}/mlrun/func-p1-serve:v1")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", registry.url)
    before = _tags(registry.url)
    if fault == "unset":
        monkeypatch.delenv("NUCLIO_DASHBOARD_URL")
    else:
        dashboard.fault = fault
    code, _out, err = cli_json(PRUNE, capsys)
    assert code == 1 and err.count("\n") == 1 and "nothing was deleted" in err
    assert ("NUCLIO_DASHBOARD_URL" if fault == "unset" else "Nuclio dashboard") in err
    assert _tags(registry.url) == before

    code, report, err = cli_json([*PRUNE, "--no-nuclio"], capsys)  # the user's explicit choice
    assert code == 0, err
    assert any("--no-nuclio" in w for w in report["warnings"])


def test_nuclio_functions_of_every_project_protect_their_images(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        registry: RunningRegistry, api: PagingMLRunAPI, dashboard: FaultyDashboard) -> None:
    rng = random.Random(3)
    _push(registry, {"mlrun/func-p1-serve:v1": _image(rng), "mlrun/func-p1-serve:v2": _image(rng)})
    _project(api, "p1", "p2")
    # a function of another project, whose image field is the build's (spec.build.image)
    dashboard.functions["p2-router"] = {
        "metadata": {"name": "p2-router", "labels": {"nuclio.io/project-name": "p2"}},
        "spec": {"build": {"image": f"{registry.host}/mlrun/func-p1-serve:v1"}}, "status": {}}
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", registry.url)
    monkeypatch.chdir(tmp_path)
    code, _report, err = cli_json([*PRUNE, "--project", "p1"], capsys)
    assert code == 0, err
    assert set(_tags(registry.url)) == {"mlrun/func-p1-serve:v1"}
    assert not dashboard.find("GET", "/api/functions")[-1].header("x-nuclio-project-name")


# --- guarantee 2: every project's use, exact project naming -------------------------------------------

def test_project_scope_is_exact_and_usage_is_read_from_every_project(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        registry: RunningRegistry, api: PagingMLRunAPI, dashboard: FaultyDashboard) -> None:
    rng = random.Random(4)
    _push(registry, {
        "mlrun/func-fraud-trainer:v1": _image(rng), "mlrun/func-fraud-trainer:v2": _image(rng),
        "mlrun/func-fraud-eu-trainer:v1": _image(rng), "mlrun/func-fraud-eu-trainer:v2": _image(rng),
        "mlrun/func-fraud-shared:v1": _image(rng), "mlrun/func-fraud-shared:v2": _image(rng),
    })
    _project(api, "fraud", "fraud-eu", "other")
    _fn(api, "fraud", "trainer", f"{registry.host}/mlrun/func-fraud-trainer:v2")
    _fn(api, "other", "user", f"{registry.host}/mlrun/func-fraud-shared:v1", "spec.build.base_image")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", registry.url)
    monkeypatch.chdir(tmp_path)
    before = _tags(registry.url)
    code, _report, err = cli_json([*PRUNE, "--project", "fraud"], capsys)
    assert code == 0, err
    left = set(_tags(registry.url))
    # fraud-eu's repository is not fraud's (func-fraud-eu-trainer: the longest project name wins)
    assert {"mlrun/func-fraud-eu-trainer:v1", "mlrun/func-fraud-eu-trainer:v2"} <= left
    # project other's function uses func-fraud-shared:v1 (as a build base image)
    assert "mlrun/func-fraud-shared:v1" in left
    assert left == set(before) - {"mlrun/func-fraud-trainer:v1", "mlrun/func-fraud-shared:v2"}
    assert api.find("GET", "/api/v1/projects/other/functions")


# --- guarantee 3: minimum age ---------------------------------------------------------------------------

def test_fresh_images_are_kept_for_the_minimum_age(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        registry: RunningRegistry, api: PagingMLRunAPI, dashboard: FaultyDashboard) -> None:
    from datetime import datetime, timezone

    rng = random.Random(5)
    fresh = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    _push(registry, {"mlrun/func-p1-a:fresh": _image(rng, fresh), "mlrun/func-p1-a:old": _image(rng),
                     "mlrun/func-p1-a:epoch": _image(rng, "1970-01-01T00:00:00Z")})
    _project(api, "p1")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", registry.url)
    monkeypatch.chdir(tmp_path)
    code, report, err = cli_json(["prune", "--keep", "0", "--yes", "--json"], capsys)
    assert code == 0, err
    assert set(_tags(registry.url)) == {"mlrun/func-p1-a:fresh", "mlrun/func-p1-a:epoch"}
    why = {d["tag"]: d["reasons"] for d in report["decisions"]}
    assert any("younger than 1h" in r for r in why["fresh"])
    assert any("age unknown" in r for r in why["epoch"])


# --- guarantee 4: re-check just before the deletes ----------------------------------------------------

class RegistryProxy:
    """A plain HTTP proxy in front of the registry; ``hook(method, path)`` runs before each request is
    forwarded and may answer it instead (a status code)."""

    def __init__(self, backend: RunningRegistry, hook: Any) -> None:
        self.backend = backend
        self.hook = hook
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                status = proxy.hook(self.command, self.path)
                if status is not None:
                    data = json.dumps({"errors": [{"code": "UNKNOWN", "message": "proxy fault"}]}).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                conn = http.client.HTTPConnection(proxy.backend.host, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Repoint:
    """Once, re-point tag ``hotfix`` of ``repository`` at ``image`` between the plan and the DELETE: at the
    second tag listing of the repository (a re-check) or at its first DELETE, whichever comes first."""

    def __init__(self, backend: RunningRegistry, repository: str, image: im.Image) -> None:
        self.backend = backend
        self.repository = repository
        self.image = image
        self.listings = 0
        self.done = False
        self.lock = threading.Lock()

    def __call__(self, method: str, path: str) -> None:
        with self.lock:
            if path.startswith(f"/v2/{self.repository}/tags/list"):
                self.listings += 1
            trigger = (self.listings >= 2 or (method == "DELETE" and self.repository in path)) and not self.done
            if trigger:
                self.done = True
                client = im.registry_client(self.backend.url)
                im.push_manifest(client, self.repository, "hotfix", self.image)
                client.close()


def test_a_tag_repointed_between_plan_and_delete_keeps_its_digest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        registry: RunningRegistry, api: PagingMLRunAPI, dashboard: FaultyDashboard) -> None:
    rng = random.Random(6)
    old, other = _image(rng), _image(rng)
    _push(registry, {"mlrun/func-p1-a:old": old, "mlrun/func-p1-a:other": other})
    _project(api, "p1")
    repoint = Repoint(registry, "mlrun/func-p1-a", old)
    proxy = RegistryProxy(registry, repoint)
    try:
        monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", f"http://{proxy.host}")
        monkeypatch.chdir(tmp_path)
        code, report, err = cli_json(PRUNE, capsys)
    finally:
        proxy.close()
    assert repoint.done
    assert code == 0, err
    left = _tags(registry.url)
    assert left.get("mlrun/func-p1-a:hotfix") == old.digest  # the re-pointed tag still pulls
    assert "mlrun/func-p1-a:other" not in left
    skipped = {d["digest"] for d in report["skipped"]}
    assert skipped == {old.digest}


def test_an_unreadable_tag_keeps_its_repository_and_a_failed_delete_is_not_reported_deleted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        registry: RunningRegistry, api: PagingMLRunAPI, dashboard: FaultyDashboard) -> None:
    rng = random.Random(10)
    a1, a2, b1 = _image(rng), _image(rng), _image(rng)
    _push(registry, {"mlrun/func-p1-a:v1": a1, "mlrun/func-p1-a:v2": a2, "mlrun/func-p1-b:v1": b1})
    _project(api, "p1")
    before = _tags(registry.url)

    def faults(method: str, path: str) -> int | None:
        if method == "GET" and path == "/v2/mlrun/func-p1-a/manifests/v2":
            return 404  # one tag of a cannot be read (listed, then gone: not retried)
        if method == "DELETE" and path.startswith("/v2/mlrun/func-p1-b/manifests/"):
            return 400  # b's delete fails (not retried)
        return None

    proxy = RegistryProxy(registry, faults)
    try:
        monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", f"http://{proxy.host}")
        monkeypatch.chdir(tmp_path)
        code, report, err = cli_json(PRUNE, capsys)
    finally:
        proxy.close()
    assert code == 1, err
    assert _tags(registry.url) == before
    assert {d["repository"] for d in report["deletions"]} == {"mlrun/func-p1-b"}  # a: kept whole
    assert [d["status"] for d in report["deletions"]] == ["failed"]
    assert report["manifests_deleted"] == 0 and report["tags"]["deleted"] == 0 and report["bytes_freed"] == 0
    assert report["errors"]


# --- guarantee 5: undo --------------------------------------------------------------------------------

def _skopeo_digest(host: str, ref: str) -> str:
    out = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{host}/{ref}"],
                         capture_output=True, timeout=60, check=True).stdout
    import hashlib

    return "sha256:" + hashlib.sha256(out).hexdigest()


def test_restore_brings_back_every_tag_and_refuses_cleanly_after_garbage_collection(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        api: PagingMLRunAPI, dashboard: FaultyDashboard) -> None:
    rng = random.Random(7)
    base = [im.random_layer(rng, 5000)]
    amd = im.build_image([*base, im.random_layer(rng, 2000)], oci=True, created=OLD)
    arm = im.build_image([*base, im.random_layer(rng, 2000)], oci=True, platform=("linux", "arm64"), created=OLD)
    same = _image(rng, base=base)
    items = {"mlrun/func-p1-a:v1": same, "mlrun/func-p1-a:v1-alias": same, "mlrun/func-p1-a:v2": _image(rng, base=base),
             "mlrun/func-p1-multi:v1": im.build_index([amd, arm])}
    registry = start_registry(tmp_path)
    try:
        _push(registry, items)
        before = _tags(registry.url)
        _project(api, "p1")
        monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", registry.url)
        restore_file = tmp_path / "undo.json"
        code, report, err = cli_json([*PRUNE, "--restore-file", str(restore_file)], capsys)
        assert code == 0, err
        assert report["restore_file"] == str(restore_file)
        assert _tags(registry.url) == {}
        text = restore_file.read_text()
        assert "password" not in text.lower() and (restore_file.stat().st_mode & 0o077) == 0

        code, out, err = cli_json(["prune", "--restore", str(restore_file), "--json"], capsys)
        assert code == 0, err
        assert sorted(out["tags_restored"]) == sorted(before)
        assert _tags(registry.url) == before
        for ref, digest in before.items():
            assert _skopeo_digest(registry.host, ref) == digest
        copied = subprocess.run(["skopeo", "copy", "--all", "--src-tls-verify=false",
                                 f"docker://{registry.host}/mlrun/func-p1-multi:v1", f"dir:{tmp_path / 'multi'}"],
                                capture_output=True, text=True, timeout=60)
        assert copied.returncode == 0, copied.stderr[-400:]

        code, report, err = cli_json([*PRUNE, "--restore-file", str(restore_file)], capsys)  # prune again
        assert code == 0 and _tags(registry.url) == {}
        from mlrun_registry_ext.features.prune import restore  # the notebook's way back

        result = restore(str(restore_file), registry.url)
        assert _tags(registry.url) == before and "mlrun/func-p1-a:v1" in result._repr_html_()
        code, report, err = cli_json([*PRUNE, "--restore-file", str(restore_file)], capsys)
        assert code == 0 and _tags(registry.url) == {}
    finally:
        registry.stop()
    gc = subprocess.run(["docker-registry", "garbage-collect", str(registry.root / "config.yml")],
                        capture_output=True, text=True, timeout=60)
    assert gc.returncode == 0, gc.stderr[-400:]
    again = start_registry(tmp_path, root=registry.root)
    try:
        monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", again.url)
        document = json.loads(restore_file.read_text())  # the restarted registry listens on another port
        document["registry"] = again.host
        restore_file.write_text(json.dumps(document))
        code, out, err = cli_json(["prune", "--restore", str(restore_file)], capsys)
        assert code == 1 and err.count("\n") == 1
        assert "nothing was written" in err and "sha256:" in err
        assert _tags(again.url) == {}
    finally:
        again.stop()


def test_a_restore_file_that_cannot_be_written_stops_the_prune_before_any_delete(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        registry: RunningRegistry, api: PagingMLRunAPI, dashboard: FaultyDashboard) -> None:
    _push(registry, {"mlrun/func-p1-a:v1": _image(random.Random(11))})
    _project(api, "p1")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", registry.url)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _out, err = cli_json([*PRUNE, "--restore-file", str(blocker / "undo.json")], capsys)
    assert code == 1 and err.count("\n") == 1 and "nothing was deleted" in err
    assert set(_tags(registry.url)) == {"mlrun/func-p1-a:v1"}


def test_a_restore_file_that_does_not_match_its_digests_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import base64

    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", "http://127.0.0.1:5999")
    bad = {"format": "mlrun-registry-ext/prune-restore", "version": 1, "registry": "127.0.0.1:5999",
           "manifests": [{"repository": "mlrun/x", "digest": "sha256:" + "0" * 64, "media_type": im.DOCKER_MANIFEST,
                          "manifest": base64.b64encode(b"{}").decode(), "tags": ["v1"]}]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    code, _out, err = cli_json(["prune", "--restore", str(path)], capsys)
    assert code == 2 and err.count("\n") == 1 and "--restore" in err and "digest" in err


# --- guarantee 6: honest figures ----------------------------------------------------------------------

def test_bytes_freed_is_an_upper_bound_when_other_repositories_share_blobs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        registry: RunningRegistry, api: PagingMLRunAPI, dashboard: FaultyDashboard) -> None:
    rng = random.Random(8)
    shared = [im.random_layer(rng, 5000)]
    _push(registry, {"team/func-p1-a:v1": _image(rng, base=shared), "other/base:v1": _image(rng, base=shared)})
    _project(api, "p1")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", f"{registry.url}/team")
    monkeypatch.chdir(tmp_path)
    code, report, err = cli_json(PRUNE, capsys)
    assert code == 0, err
    assert set(_tags(registry.url)) == {"other/base:v1"}
    assert report["bytes_exact"] is False and "1 other repositories" in report["bytes_bound_reason"]
    assert shared[0].digest in report["blobs_freed"]  # counted, though other/base still holds it


# --- ECR on moto --------------------------------------------------------------------------------------

def _ecr_push(ecr: Any, repository: str, tag: str, image: im.Image) -> None:
    for blob in image.all_blobs():
        upload = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
        ecr.upload_layer_part(repositoryName=repository, uploadId=upload, partFirstByte=0,
                              partLastByte=blob.size - 1, layerPartBlob=blob.data)
        ecr.complete_layer_upload(repositoryName=repository, uploadId=upload, layerDigests=[blob.digest])
    # imageDigest: ECR computes sha256 of the manifest bytes itself; moto makes one up unless told
    ecr.put_image(repositoryName=repository, imageManifest=image.manifest.decode(), imageTag=tag,
                  imageManifestMediaType=image.media_type, imageDigest=image.digest)


def _ecr_tags(ecr: Any, repository: str) -> dict[str, str]:
    return {t: d["imageDigest"] for d in ecr.describe_images(repositoryName=repository)["imageDetails"]
            for t in d.get("imageTags", [])}


def test_ecr_dry_run_never_deletes_and_a_prune_is_restored_with_put_image(
        aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        api: PagingMLRunAPI, dashboard: FaultyDashboard) -> None:
    import boto3

    from tests.support.aws import ECR_HOST, REGION

    ecr = boto3.client("ecr", region_name=REGION)
    repository = "mlrun/func-p1-trainer"
    ecr.create_repository(repositoryName=repository)
    rng = random.Random(9)
    for tag in ("v1", "v2", "v3"):
        _ecr_push(ecr, repository, tag, _image(rng))
    before = _ecr_tags(ecr, repository)
    _project(api, "p1")
    _fn(api, "p1", "trainer", f"{ECR_HOST}/{repository}:v3", "status.container_image")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", ECR_HOST)

    code, report, err = cli_json(["prune", "--keep", "0", "--min-age", "0s", "--dry-run", "--json"], capsys)
    assert code == 0, err
    assert len(report["deletions"]) == 2 and aws.count("BatchDeleteImage") == 0
    assert _ecr_tags(ecr, repository) == before and report["restore_file"] is None

    undo = tmp_path / "ecr-undo.json"
    code, report, err = cli_json([*PRUNE, "--restore-file", str(undo)], capsys)
    assert code == 0, err
    assert set(_ecr_tags(ecr, repository)) == {"v3"}

    code, out, err = cli_json(["prune", "--restore", str(undo), "--json"], capsys)
    assert code == 0, err
    assert sorted(out["tags_restored"]) == [f"{repository}:v1", f"{repository}:v2"]
    assert _ecr_tags(ecr, repository) == before

    aws.reset()  # the blobs are gone, as after ECR's own garbage collection
    ecr.create_repository(repositoryName=repository)
    code, _out, err = cli_json(["prune", "--restore", str(undo)], capsys)
    assert code == 1 and "nothing was written" in err and "sha256:" in err
    assert _ecr_tags(ecr, repository) == {} and aws.count("PutImage") == 0


def test_prune_reports_progress_by_phase(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: RunningRegistry, api: PagingMLRunAPI,
        dashboard: FaultyDashboard) -> None:
    from mlrun_registry_ext.features.prune import run_prune

    rng = random.Random(12)
    _push(registry, {f"mlrun/func-p1-fn{i}:v1": _image(rng) for i in range(3)})
    _project(api, "p1")

    class Recorder:
        def __init__(self) -> None:
            self.phases: list[tuple[str, int | None, str]] = []
            self.steps = 0
            self.closed = False

        def phase(self, text: str, total: int | None = None, unit: str = "") -> None:
            self.phases.append((text, total, unit))

        def advance(self, amount: int = 1) -> None:
            self.steps += amount

        def close(self) -> None:
            self.closed = True

    recorder = Recorder()
    report = run_prune(registry.service(), keep=0, min_age="0s", restore_file=tmp_path / "undo.json",
                       progress=recorder)
    assert [p for p, _, _ in recorder.phases] == ["reading what functions use", "reading the registry", "deleting"]
    assert recorder.phases[-1][1:] == (3, "images") and recorder.steps == 3 + 3 and recorder.closed
    assert recorder.phases[1][2] == "repositories"  # counted, never shown as bytes
    assert len(report.deleted) == 3


def test_on_ecr_a_tag_added_between_plan_and_delete_keeps_its_digest(
        aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: PagingMLRunAPI,
        dashboard: FaultyDashboard) -> None:
    import boto3

    from mlrun_registry_ext.core.service import RegistryService
    from mlrun_registry_ext.features.prune import run_prune
    from tests.support.aws import ECR_HOST, REGION

    ecr = boto3.client("ecr", region_name=REGION)
    repository = "mlrun/func-p1-trainer"
    ecr.create_repository(repositoryName=repository)
    rng = random.Random(13)
    v1, v2 = _image(rng), _image(rng)
    _ecr_push(ecr, repository, "v1", v1)
    _ecr_push(ecr, repository, "v2", v2)
    _project(api, "p1")

    class RetagBeforeDeleting:
        """Progress that, when the deletes start (after the plan), tags v1's manifest again, as a build
        or a user would."""

        def phase(self, text: str, total: int | None = None, unit: str = "") -> None:
            if text == "deleting":
                ecr.put_image(repositoryName=repository, imageManifest=v1.manifest.decode(), imageTag="hotfix",
                              imageManifestMediaType=v1.media_type, imageDigest=v1.digest)

        def advance(self, amount: int = 1) -> None:
            pass

        def close(self) -> None:
            pass

    report = run_prune(RegistryService(name="ecr", url=ECR_HOST), keep=0, min_age="0s",
                       restore_file=tmp_path / "undo.json", progress=RetagBeforeDeleting())
    status = {d.digest: d.status for d in report.plan.deletions}
    assert status == {v1.digest: "skipped", v2.digest: "deleted"}
    assert _ecr_tags(ecr, repository) == {"v1": v1.digest, "hotfix": v1.digest}
