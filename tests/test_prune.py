"""Prune: the pure planner, then a real Debian docker-registry (delete enabled) with the real mlrun client
against the MLRun API stand-in and the Nuclio dashboard stand-in, garbage-collected afterwards and
pulled with skopeo; ECR on moto (BatchDeleteImage, PutLifecyclePolicy)."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlrun_registry_ext.errors import ConfigError
from mlrun_registry_ext.features.prune import (
    ImageUse,
    KeepRules,
    ManifestRecord,
    RepositoryState,
    parse_duration,
    plan_prune,
)
from tests.support import images as im
from tests.support.env import cli_json
from tests.support.env import installed_main as main
from tests.support.registry import RunningRegistry, start_registry
from tests.support.standins import MLRunAPIStandIn, NuclioDashboardStandIn

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Prune writes its restore file in the working directory by default: the test's own, not the tree."""
    monkeypatch.chdir(tmp_path)


def _image(digest: str, day: int | None, blobs: tuple[tuple[str, int], ...] = (), children: tuple[str, ...] = (),
           media_type: str | None = im.DOCKER_MANIFEST, problem: str | None = None) -> ManifestRecord:
    created = datetime(2025, 5, day, tzinfo=timezone.utc) if day else None
    return ManifestRecord(digest, media_type, 100, blobs, children, created, None, problem)


# --- the pure planner ------------------------------------------------------------------------------

def test_plan_keeps_the_newest_the_used_and_what_an_index_points_to() -> None:
    repo = RepositoryState("mlrun/func-p-trainer", tags={"v1": "d1", "v2": "d2", "v3": "d3", "v4": "d4", "multi": "ix"},
                           manifests={
                               "d1": _image("d1", 1, (("base", 1000), ("own1", 10))),
                               "d2": _image("d2", 2, (("base", 1000), ("own2", 20))),
                               "d3": _image("d3", 3, (("base", 1000), ("own3", 30))),
                               "d4": _image("d4", 4, (("base", 1000), ("own4", 40))),
                               "ix": _image("ix", None, children=("c1",), media_type=im.OCI_INDEX),
                               "c1": _image("c1", 5, (("base", 1000), ("arm", 50))),
                           })
    uses = [ImageUse("mlrun/func-p-trainer", "v1", None, "MLRun function p/trainer")]
    plan = plan_prune([repo], uses, KeepRules(keep=2, now=NOW))
    actions = {d.tag: d.action for d in plan.decisions}
    assert actions == {"v1": "keep", "v2": "delete", "v3": "delete", "v4": "keep", "multi": "keep"}
    assert [d.digest for d in plan.deletions] == ["d2", "d3"]
    assert plan.freed == {"d2": 100, "d3": 100, "own2": 20, "own3": 30}  # "base" is still used
    why = {d.tag: d.reasons for d in plan.decisions}
    assert "used by MLRun function p/trainer" in why["v1"]
    assert any("newest" in r for r in why["multi"])  # an index dated by its newest child


def test_plan_deletes_an_index_with_its_children_unless_a_child_is_kept() -> None:
    repo = RepositoryState("r", tags={"old": "ix", "new": "d9"}, manifests={
        "ix": _image("ix", None, children=("c1", "c2"), media_type=im.OCI_INDEX),
        "c1": _image("c1", 1, (("l1", 5),)), "c2": _image("c2", 1, (("l2", 6),)),
        "d9": _image("d9", 9, (("l9", 7),)),
    })
    plan = plan_prune([repo], [ImageUse("r", None, "c2", "Nuclio function x")], KeepRules(keep=1, now=NOW))
    assert [(d.digest, d.reason) for d in plan.deletions] == [("ix", "not used, not among the newest"),
                                                              ("c1", "child of a deleted index")]
    assert set(plan.freed) == {"ix", "c1", "l1"}


def test_plan_keeps_unknown_manifest_types_unknown_ages_and_young_images() -> None:
    repo = RepositoryState("r", tags={"odd": "u", "undated": "n", "young": "y", "old": "o", "newest": "z"}, manifests={
        "u": _image("u", 1, media_type=None, problem="kept: unsupported manifest media type"),
        "n": _image("n", None), "y": _image("y", 30), "o": _image("o", 2), "z": _image("z", 31),
    })
    rules = KeepRules(keep=1, older_than=timedelta(days=7), now=NOW)
    plan = plan_prune([repo], [], rules)
    actions = {d.tag: d.action for d in plan.decisions}
    assert actions == {"odd": "keep", "undated": "keep", "young": "keep", "old": "delete", "newest": "keep"}
    assert not plan.exact  # the unknown manifest's blobs are unknown


def test_plan_keeps_everything_outside_the_project_and_counts_its_blobs_as_used() -> None:
    mine = RepositoryState("mlrun/func-a-f", tags={"v1": "a1", "v2": "a2"},
                           manifests={"a1": _image("a1", 1, (("shared", 9), ("a", 1))), "a2": _image("a2", 2)})
    other = RepositoryState("mlrun/func-b-f", tags={"v1": "b1", "v2": "b2"}, in_scope=False,
                            manifests={"b1": _image("b1", 1, (("shared", 9),)), "b2": _image("b2", 2)})
    plan = plan_prune([mine, other], [], KeepRules(keep=1, now=NOW))
    assert [(d.repository, d.digest) for d in plan.deletions] == [("mlrun/func-a-f", "a1")]
    assert plan.freed == {"a1": 100, "a": 1}


@given(st.integers(1, 999), st.sampled_from("wdhms"))
@settings(max_examples=60, derandomize=True)
def test_durations_parse_and_bad_ones_are_config_errors(n: int, unit: str) -> None:
    seconds = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}[unit] * n
    assert parse_duration(f"{n}{unit}") == timedelta(seconds=seconds)
    for bad in ("", "7", "d", "-1d", "1d1w", "1.5d", f"{n}{unit} rm -rf", "99999999d"):
        with pytest.raises(ConfigError, match="--older-than"):
            parse_duration(bad)


# --- a real registry --------------------------------------------------------------------------------

def _day(day: int) -> str:
    return f"2025-05-{day:02d}T10:00:00.123456789Z"


def _blob_files(root: Path) -> dict[str, int]:
    blobs = root / "data" / "docker" / "registry" / "v2" / "blobs"
    return {p.parent.name: p.stat().st_size for p in blobs.rglob("data")}


def _seed(registry: RunningRegistry) -> dict[str, im.TestImage]:
    """trainer v1..v5 (dated by config), an old multi-platform index and a newer image in func-p1-multi,
    func-p2-serve v0..v2; every image shares two base layers."""
    import random

    rng = random.Random(11)
    base = [im.random_layer(rng, 30_000) for _ in range(2)]
    items: dict[str, im.TestImage] = {}

    def add(repo: str, tag: str, image: im.Image) -> None:
        items[f"{repo}:{tag}"] = im.TestImage(repo, tag, image)

    for i in range(1, 6):
        add("mlrun/func-p1-trainer", f"v{i}", im.build_image([*base, im.random_layer(rng, 20_000)], created=_day(i)))
    amd = im.build_image([*base, im.random_layer(rng, 15_000)], oci=True, created=_day(1))
    arm = im.build_image([*base, im.random_layer(rng, 15_000)], oci=True, platform=("linux", "arm64"),
                         created=_day(1))
    add("mlrun/func-p1-multi", "old", im.build_index([amd, arm]))
    add("mlrun/func-p1-multi", "new", im.build_image([*base, im.random_layer(rng, 10_000)], created=_day(8)))
    for i in range(3):
        add("mlrun/func-p2-serve", f"v{i}", im.build_image([*base, im.random_layer(rng, 12_000)], created=_day(i + 1)))
    im.push_all(registry.url, items.values())
    return items


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch, mlrun_api: MLRunAPIStandIn,
             nuclio_dashboard: NuclioDashboardStandIn) -> tuple[MLRunAPIStandIn, NuclioDashboardStandIn]:
    return mlrun_api, nuclio_dashboard


def _use_registry(monkeypatch: pytest.MonkeyPatch, registry: RunningRegistry) -> None:
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", registry.url)


def _functions(api: MLRunAPIStandIn, dashboard: NuclioDashboardStandIn, host: str) -> None:
    api.projects["p1"] = {"metadata": {"name": "p1"}, "spec": {}, "status": {"state": "online"}}
    api.projects["p2"] = {"metadata": {"name": "p2"}, "spec": {}, "status": {"state": "online"}}
    api.functions["p1/trainer"] = {"kind": "job", "metadata": {"name": "trainer", "project": "p1", "tag": "prod"},
                                   "spec": {"image": f"{host}/mlrun/func-p1-trainer:v1", "build": {}}}
    api.functions["p1/other"] = {"kind": "job", "metadata": {"name": "other", "project": "p1"},
                                 "spec": {"image": "mlrun/mlrun:1.12.1", "build": {"base_image": "python:3.11"}}}
    dashboard.add_function("p2-serve", "p2", f"{host}/mlrun/func-p2-serve:v0")


def _tags(registry: RunningRegistry) -> set[str]:
    return set(im.tag_digests(registry.url))




# with --keep 1: v1 is used by an MLRun function, serve:v0 by a Nuclio function, the rest are the newest
EXPECTED_LEFT = {"mlrun/func-p1-trainer:v1", "mlrun/func-p1-trainer:v5", "mlrun/func-p1-multi:new",
                 "mlrun/func-p2-serve:v0", "mlrun/func-p2-serve:v2"}


def test_prune_deletes_what_no_function_uses_and_gc_frees_exactly_the_reported_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        platform: tuple[MLRunAPIStandIn, NuclioDashboardStandIn]) -> None:
    api, dashboard = platform
    registry = start_registry(tmp_path)
    try:
        _seed(registry)
        _functions(api, dashboard, registry.host)
        _use_registry(monkeypatch, registry)
        before = _tags(registry)

        code, dry, _ = cli_json(["prune", "--keep", "2", "--dry-run", "--json"], capsys)
        assert code == 0 and isinstance(dry, dict)
        assert _tags(registry) == before  # a dry run deletes nothing
        assert {f"{d['repository']}:{d['tag']}" for d in dry["decisions"] if d["action"] == "delete"} \
            == {"mlrun/func-p1-trainer:v2", "mlrun/func-p1-trainer:v3"}

        started = time.perf_counter()
        code, report, err = cli_json(["prune", "--keep", "1", "--yes", "--json"], capsys)
        wall = time.perf_counter() - started
        assert code == 0, err
        assert isinstance(report, dict)
        print(f"prune wall time on the test registry: {wall:.3f} s (report {report['seconds']} s)")
        assert _tags(registry) == EXPECTED_LEFT
        assert report["tags"]["deleted"] == len(before) - len(EXPECTED_LEFT)
        why = {f"{d['repository']}:{d['tag']}": d["reasons"] for d in report["decisions"]}
        assert "used by MLRun function p1/trainer:prod" in why["mlrun/func-p1-trainer:v1"]
        assert "used by Nuclio function p2-serve" in why["mlrun/func-p2-serve:v0"]
        assert api.find("GET", "/api/v1/projects/p1/functions") and api.find("GET", "/api/v1/projects/p2/functions")
        assert report["bytes_exact"] is True
    finally:
        registry.stop()

    blobs_before = _blob_files(registry.root)
    gc = subprocess.run(["docker-registry", "garbage-collect", str(registry.root / "config.yml")],
                        capture_output=True, text=True, timeout=60)
    assert gc.returncode == 0, gc.stdout[-500:] + gc.stderr[-500:]
    blobs_after = _blob_files(registry.root)
    removed = {d: s for d, s in blobs_before.items() if d not in blobs_after}
    assert sum(removed.values()) == report["bytes_freed"]
    assert {f"sha256:{d}" for d in removed} == set(report["blobs_freed"])

    again = start_registry(tmp_path, root=registry.root)
    try:
        for ref in sorted(EXPECTED_LEFT):
            pulled = subprocess.run(["skopeo", "copy", "--all", "--src-tls-verify=false",
                                     f"docker://{again.host}/{ref}", f"dir:{tmp_path / ref.replace('/', '_')}"],
                                    capture_output=True, text=True, timeout=60)
            assert pulled.returncode == 0, f"{ref}: {pulled.stderr[-400:]}"
    finally:
        again.stop()


def test_prune_without_yes_refuses_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prune"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "--yes" in err and "--dry-run" in err


def test_prune_with_the_mlrun_api_unreachable_deletes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        registry_anonymous: RunningRegistry, closed_port_host: str,
        nuclio_dashboard: NuclioDashboardStandIn) -> None:
    im.push_all(registry_anonymous.url, im.image_set(count=3, with_index=False))
    before = _tags(registry_anonymous)
    _use_registry(monkeypatch, registry_anonymous)
    monkeypatch.setenv("MLRUN_DBPATH", f"http://{closed_port_host}")
    code, _out, err = cli_json(["prune", "--keep", "0", "--yes"], capsys)
    assert code == 1
    assert err.count("\n") == 1 and "MLRun API" in err and "nothing was deleted" in err
    assert _tags(registry_anonymous) == before


def test_prune_on_a_registry_without_delete_keeps_everything_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        platform: tuple[MLRunAPIStandIn, NuclioDashboardStandIn]) -> None:
    writable = start_registry(tmp_path)
    _seed(writable)
    writable.stop()
    readonly = start_registry(tmp_path, root=writable.root, readonly=True)
    try:
        before = _tags(readonly)
        _use_registry(monkeypatch, readonly)
        code, report, _ = cli_json(["prune", "--keep", "0", "--yes", "--json"], capsys)
        assert code == 1 and isinstance(report, dict)
        assert _tags(readonly) == before
        assert report["manifests_deleted"] == 0 and report["bytes_freed"] == 0
        assert any("refused a delete" in w for w in report["warnings"])
        assert report["deletions"] and {d["status"] for d in report["deletions"]} == {"kept"}
    finally:
        readonly.stop()


def test_prune_python_api_is_a_dry_run_with_a_table(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry_anonymous: RunningRegistry,
        platform: tuple[MLRunAPIStandIn, NuclioDashboardStandIn]) -> None:
    import mlrun_registry_ext

    _seed(registry_anonymous)
    before = _tags(registry_anonymous)
    report = mlrun_registry_ext.prune(registry_anonymous.url, keep=0, project="p1")
    assert _tags(registry_anonymous) == before
    data = report.to_dict()
    json.dumps(data)
    assert data["dry_run"] is True and data["project"] == "p1"
    assert {d["repository"] for d in data["deletions"]} == {"mlrun/func-p1-trainer", "mlrun/func-p1-multi"}
    assert data["bytes_freed"] > 0
    assert "<table>" in report._repr_html_()


# --- ECR on moto --------------------------------------------------------------------------------------

def _ecr_manifest(i: int) -> str:
    return json.dumps({"schemaVersion": 2, "mediaType": im.DOCKER_MANIFEST,
                       "config": {"mediaType": im.DOCKER_CONFIG, "size": 100 + i, "digest": f"sha256:{i:064x}"},
                       "layers": [{"mediaType": im.DOCKER_LAYER, "size": 5000, "digest": f"sha256:{999:064x}"},
                                  {"mediaType": im.DOCKER_LAYER, "size": 1000 + i,
                                   "digest": f"sha256:{i + 500:064x}"}]})


def test_prune_on_ecr_uses_batch_delete_image_and_lifecycle_applies(
        aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        platform: tuple[MLRunAPIStandIn, NuclioDashboardStandIn]) -> None:
    import boto3

    from tests.support.aws import ECR_HOST, REGION

    api, _dashboard = platform
    ecr = boto3.client("ecr", region_name=REGION)
    for name in ("mlrun/func-p1-trainer", "mlrun/func-p1-trainer/cache"):
        ecr.create_repository(repositoryName=name)
    for i in range(1, 4):
        ecr.put_image(repositoryName="mlrun/func-p1-trainer", imageManifest=_ecr_manifest(i), imageTag=f"v{i}",
                      imageManifestMediaType=im.DOCKER_MANIFEST)
    api.projects["p1"] = {"metadata": {"name": "p1"}, "spec": {}, "status": {}}
    api.functions["p1/trainer"] = {"kind": "job", "metadata": {"name": "trainer", "project": "p1"},
                                   "spec": {"image": f"{ECR_HOST}/mlrun/func-p1-trainer:v1", "build": {}}}
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", ECR_HOST)

    code, report, err = cli_json(["prune", "--keep", "1", "--yes", "--json"], capsys)
    assert code == 0, err  # just pushed: younger than the default minimum age, nothing goes
    assert isinstance(report, dict) and report["manifests_deleted"] == 0
    assert aws.count("BatchDeleteImage") == 0
    code, report, err = cli_json(["prune", "--keep", "1", "--min-age", "0s", "--yes", "--json",
                              "--restore-file", str(tmp_path / "restore.json")], capsys)
    assert code == 0, err
    assert isinstance(report, dict)
    left = {t for d in ecr.describe_images(repositoryName="mlrun/func-p1-trainer")["imageDetails"]
            for t in d.get("imageTags", [])}
    assert left == {"v1", "v3"}
    assert aws.count("BatchDeleteImage") == 1
    assert report["bytes_freed"] == len(_ecr_manifest(2)) + 102 + 1002  # the shared layer stays

    code, out, err = cli_json(["ecr", "lifecycle", "--keep", "5", "--cache-days", "3", "--apply", "--json"], capsys)
    assert code == 0, err
    assert isinstance(out, dict)
    policy = json.loads(ecr.get_lifecycle_policy(repositoryName="mlrun/func-p1-trainer")["lifecyclePolicyText"])
    cache = json.loads(ecr.get_lifecycle_policy(repositoryName="mlrun/func-p1-trainer/cache")["lifecyclePolicyText"])
    assert policy["rules"][-1]["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan",
                                                "countNumber": 5}
    assert cache["rules"][0]["selection"]["countType"] == "sinceImagePushed"
    assert cache["rules"][0]["selection"]["countNumber"] == 3
