"""Sharded migrations: ``migrate --shard I/N`` and the Indexed Job of ``migrate --emit-job --shards N``.

Real Debian ``docker-registry`` instances on loopback; four real ``mlrun-registry`` processes run side by
side, as the pods of the Indexed Job would.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mlrun_registry_ext.core.compat import zip_strict
from mlrun_registry_ext.errors import ConfigError
from mlrun_registry_ext.features.migrate import Naming, Shard, select_repositories, shard_of
from mlrun_registry_ext.features.migrate.model import MAX_SHARDS
from tests.support import images as im
from tests.support.env import CANARY, console_script, outside_tree
from tests.support.env import installed_main as main
from tests.support.registry import RunningRegistry

ROOT = Path(__file__).resolve().parents[1]
REPOSITORIES = 200
KUBERNETES_VERSION = "1.29.0"  # one of the versions kubernetes-validate ships strict schemas for


def seed_repositories(registry: RunningRegistry, count: int) -> dict[str, str]:
    """``count`` repositories with one tag each, four distinct tiny images among them: each image is
    pushed once, every other repository gets its blobs by cross-repository mount and its manifest by
    PUT (a few hundred small requests). Returns ``{"repo:tag": digest}``."""
    rng = random.Random(41)
    images = [im.build_image([im.random_layer(rng, 300 + i)], label=str(i)) for i in range(4)]
    names = [f"mlrun/func-shard{i % 7}-fn{i:03d}" for i in range(count)]
    with im.registry_client(registry.url) as client:
        for i, image in enumerate(images):
            im.push_image(client, names[i], "v1", image)

    def seed(index: int) -> None:
        image, home = images[index % 4], names[index % 4]
        with im.registry_client(registry.url) as client:
            for blob in image.blobs:
                mounted = client.post(f"/v2/{names[index]}/blobs/uploads/", params={"mount": blob.digest,
                                                                                   "from": home})
                assert mounted.status_code == 201, mounted.text
            im.push_manifest(client, names[index], "v1", image)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(seed, range(4, count)))
    return {f"{name}:v1": images[i % 4].digest for i, name in enumerate(names)}


def cli_process(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLRUN_REGISTRY_EXT_")
           and k not in ("MLRUN_DBPATH", "NUCLIO_DASHBOARD_URL", "IGZ_NAMESPACE_DOMAIN")}
    env["MLRUN_IGNORE_ENV_FILE"] = "true"
    return subprocess.Popen([console_script(), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=outside_tree())


def finish(process: subprocess.Popen[str]) -> dict:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads(out)


def test_four_shard_processes_build_the_same_target_as_one_and_copy_each_repository_once(
        registry_factory: Callable[..., RunningRegistry]) -> None:
    started = time.monotonic()
    source, sharded, single = registry_factory(), registry_factory(), registry_factory()
    expected = seed_repositories(source, REPOSITORIES)

    common = ["migrate", "--from", source.url, "--json", "--no-progress", "--jobs", "4"]
    shards = [cli_process(*common, "--to", sharded.url, "--shard", f"{i}/4") for i in range(4)]
    whole = cli_process(*common, "--to", single.url)
    reports = [finish(p) for p in shards]
    one = finish(whole)

    assert im.tag_digests(sharded.url) == im.tag_digests(single.url) == expected
    copied = [{t["source"] for t in r["tags"] if t["status"] == "copied"} for r in reports]
    assert sum(len(c) for c in copied) == REPOSITORIES  # each repository copied by exactly one process
    assert set().union(*copied) == set(expected)
    assert all(r["ok"] and r["images"]["total"] == len(c) for r, c in zip_strict(reports, copied))
    assert [r["shard"] for r in reports] == ["0/4", "1/4", "2/4", "3/4"]
    assert all(len(c) > 20 for c in copied)  # a real split, not one shard doing everything
    assert one["images"]["copied"] == REPOSITORIES
    # the same split, computed here from the names alone: stable across processes
    for i, names in enumerate(copied):
        assert all(shard_of(n.rpartition(":")[0], 4) == i for n in names)
    assert time.monotonic() - started < 60


def test_the_shard_of_a_name_is_fixed_sha256_not_pythons_salted_hash() -> None:
    # sha256("mlrun/func-fraud-train") as a big-endian integer, mod N: the same in every pod and Python
    assert [shard_of("mlrun/func-fraud-train", n) for n in (1, 2, 4, 7, 1000)] == [0, 1, 3, 1, 283]
    assert "mlrun/func-fraud-train" in Shard(3, 4) and "mlrun/func-fraud-train" not in Shard(0, 4)


@settings(max_examples=60, deadline=None)
@given(names=st.sets(st.from_regex(r"[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}", fullmatch=True), max_size=40),
       count=st.integers(1, 12))
def test_shards_split_any_listing_into_disjoint_parts_that_cover_it(names: set[str], count: int) -> None:
    parts = [select_repositories(names, Naming(), shard=Shard(i, count)) for i in range(count)]
    assert sorted(n for part in parts for n in part) == sorted(names)


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(st.text(max_size=12), st.from_regex(r"-?[0-9]{1,5}/-?[0-9]{1,5}", fullmatch=True)))
def test_any_shard_text_parses_to_a_valid_shard_or_a_one_line_error(text: str) -> None:
    try:
        shard = Shard.parse(text)
    except ConfigError as exc:
        assert exc.field == "--shard" and "\n" not in str(exc)
    else:
        index, count = (int(part) for part in text.strip().split("/"))
        assert 0 <= shard.index == index < shard.count == count <= MAX_SHARDS


@pytest.mark.parametrize(("argv", "field"), [
    (["--shard", "4/4"], "--shard"),
    (["--shard=-1/4"], "--shard"),
    (["--shard", "0/0"], "--shard"),
    (["--shard", "a/b"], "--shard"),
    (["--shard", "1/2/3"], "--shard"),
    (["--shards", "4"], "--shards"),
    (["--emit-job", "--shards", "0"], "--shards"),
    (["--emit-job", "--shards", "4", "--shard", "0/4"], "--shard"),
])
def test_bad_shard_options_are_one_line_errors(argv: list[str], field: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["migrate", "--from", "http://127.0.0.1:9", "--to", "http://127.0.0.1:9", *argv])
    err = capsys.readouterr().err
    assert code == 2 and field in err and len(err.strip().splitlines()) == 1, err


def test_emit_job_with_shards_is_a_valid_indexed_job_with_the_services_resources_and_no_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "registries.yaml"
    config.write_text(yaml.safe_dump({"active": "user", "services": {"user": {
        "url": "registry.example.com/team", "username": "robot", "password": CANARY, "secret_name": "team-push",
        "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}}}))
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(config))
    code = main(["migrate", "--from", "http://docker-registry.svc:80", "--emit-job", "--shards", "4",
                 "--job-image", "example/mlrun-registry:1", "--namespace", "ns1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert CANARY not in captured.out + captured.err
    manifest = tmp_path / "job.yaml"
    manifest.write_text(captured.out)
    job = yaml.safe_load(captured.out)

    assert job["kind"] == "Job"
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 4, 4)
    container = spec["template"]["spec"]["containers"][0]
    command = container["command"]
    assert command[command.index("--shard") + 1] == "$(JOB_COMPLETION_INDEX)/4"
    index_env = next(e for e in container["env"] if e["name"] == "JOB_COMPLETION_INDEX")
    assert "job-completion-index" in index_env["valueFrom"]["fieldRef"]["fieldPath"]
    assert container["resources"] == {"requests": {"cpu": "250m", "memory": "128Mi"},
                                      "limits": {"cpu": "1", "memory": "1Gi"}}
    # credentials: the service's dockerconfigjson secret, mounted; no value of a secret in the manifest
    assert spec["template"]["spec"]["volumes"][0]["secret"]["secretName"] == "team-push"
    assert all("value" not in e or "robot" not in e["value"] for e in container["env"])

    checked = subprocess.run([str(ROOT / ".venv" / "bin" / "kubernetes-validate"), "--strict", "-k",
                              KUBERNETES_VERSION, str(manifest)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "passed" in checked.stdout
