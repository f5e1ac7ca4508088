"""Prune reads what functions use from a REAL MLRun API: the mlrun 1.5.2 wheel's server (``mlrun db`` on
sqlite, tests/support/mlrun_db.py), with the function records stored through the real mlrun client,
against a real Debian docker-registry. ``mlrun-registry prune --dry-run --json`` runs as a user runs it
(tests/support/env.run_cli), and every image a record names must be kept.

Two projects, one named as a prefix of the other (``fraud`` and ``fraud-eu``: ``func-fraud-`` is a
prefix of ``func-fraud-eu-``), and a third project (``other``) that runs an image of ``fraud``. The
1.5.2 server answers ``list functions`` without the ``pagination`` block later servers add, so this
also shows prune reading a server that does not page.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import images as im
from tests.support.env import run_cli
from tests.support.mlrun_db import MLRunDB
from tests.support.registry import RunningRegistry, start_registry
from tests.support.standins import NuclioDashboardStandIn, reset_mlrun_client_state

TAGS = {"mlrun/func-fraud-trainer": ("v1", "v2", "v3"), "mlrun/func-fraud-eu-trainer": ("v1", "v2", "v3")}


def _day(day: int) -> str:
    return f"2025-05-{day:02d}T10:00:00Z"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A real registry (delete enabled) with three dated tags in each of the two projects' repositories."""
    running = start_registry(tmp_path_factory.mktemp("registry"))
    rng = random.Random(17)
    base = im.random_layer(rng, 5_000)
    items = [im.TestImage(repo, tag, im.build_image([base, im.random_layer(rng, 2_000)], created=_day(day)))
             for repo, tags in TAGS.items() for day, tag in enumerate(tags, start=1)]
    try:
        im.push_all(running.url, items)
        yield running
    finally:
        running.stop()


def _records(host: str) -> dict[tuple[str, str], dict[str, Any]]:
    """``(project, name) -> record``: each names one image in a different field MLRun stores."""
    return {
        ("fraud", "trainer"): {"kind": "job", "metadata": {"name": "trainer", "project": "fraud", "tag": "latest"},
                               "spec": {"image": f"{host}/mlrun/func-fraud-trainer:v1"}},
        ("fraud-eu", "trainer"): {"kind": "job",
                                  "metadata": {"name": "trainer", "project": "fraud-eu", "tag": "latest"},
                                  "spec": {"image": f"{host}/mlrun/func-fraud-eu-trainer:v1"}},
        ("fraud-eu", "serve"): {"kind": "serving", "metadata": {"name": "serve", "project": "fraud-eu",
                                                                "tag": "latest"},
                                "spec": {"build": {"image": f"{host}/mlrun/func-fraud-eu-trainer:v2"}},
                                "status": {"container_image": f"{host}/mlrun/func-fraud-eu-trainer:v2"}},
        ("other", "scorer"): {"kind": "job", "metadata": {"name": "scorer", "project": "other", "tag": "latest"},
                              "spec": {"image": f"{host}/mlrun/func-fraud-trainer:v2"}},
    }


#: The tags those records name: prune must keep every one, whatever --project says.
USED = {"mlrun/func-fraud-trainer:v1", "mlrun/func-fraud-trainer:v2", "mlrun/func-fraud-eu-trainer:v1",
        "mlrun/func-fraud-eu-trainer:v2"}


@pytest.fixture(scope="module")
def stored(mlrun_db: MLRunDB, registry: RunningRegistry) -> dict[tuple[str, str], dict[str, Any]]:
    """The records, stored through the real mlrun client (the main venv's, 1.12.1) into the real server."""
    records = _records(registry.host)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLRUN_DBPATH", mlrun_db.url)
        reset_mlrun_client_state()
        try:
            import mlrun

            db = mlrun.get_run_db()
            for project in sorted({p for p, _ in records}):
                db.create_project({"metadata": {"name": project}, "spec": {}})
            for (project, name), record in records.items():
                db.store_function(record, name, project, tag="latest")
            listed = {(project, f["metadata"]["name"]) for project in ("fraud", "fraud-eu", "other")
                      for f in db.list_functions(project=project)}
        finally:
            patch.delenv("MLRUN_DBPATH")
            reset_mlrun_client_state()
    assert listed == set(records)  # the server holds them, read back through the client
    return records


def _prune(mlrun_db: MLRunDB, registry: RunningRegistry, dashboard: NuclioDashboardStandIn,
           *extra: str) -> dict[str, Any]:
    result = run_cli("prune", "--dry-run", "--json", "--keep", "0", *extra,
                     env={"MLRUN_DBPATH": mlrun_db.url, "MLRUN_REGISTRY_EXT_URL": registry.url,
                          "NUCLIO_DASHBOARD_URL": dashboard.url}, timeout=120)
    assert result.code == 0, result.output[-2000:]
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _actions(report: dict[str, Any]) -> dict[str, str]:
    return {f"{d['repository']}:{d['tag']}": d["action"] for d in report["decisions"]}


def test_the_real_server_is_mlrun_1_5_2(mlrun_db: MLRunDB) -> None:
    assert mlrun_db.version == "1.5.2" and mlrun_db.url.startswith("http://127.0.0.1:")


def test_prune_keeps_every_image_a_real_mlrun_record_names_and_plans_the_rest(
        mlrun_db: MLRunDB, registry: RunningRegistry, stored: dict[tuple[str, str], dict[str, Any]],
        nuclio_dashboard: NuclioDashboardStandIn) -> None:
    before = im.tag_digests(registry.url)
    report = _prune(mlrun_db, registry, nuclio_dashboard)
    actions = _actions(report)
    assert {ref for ref, action in actions.items() if action == "keep"} == USED
    assert {ref for ref, action in actions.items() if action == "delete"} == \
        {"mlrun/func-fraud-trainer:v3", "mlrun/func-fraud-eu-trainer:v3"}  # not vacuous: the unused go
    reasons = {f"{d['repository']}:{d['tag']}": " ".join(d["reasons"]) for d in report["decisions"]}
    assert "fraud/trainer" in reasons["mlrun/func-fraud-trainer:v1"]
    assert "other/scorer" in reasons["mlrun/func-fraud-trainer:v2"]
    assert "fraud-eu/serve" in reasons["mlrun/func-fraud-eu-trainer:v2"]
    assert im.tag_digests(registry.url) == before  # a dry run deletes nothing


def test_prune_for_one_project_keeps_what_other_projects_use_and_never_reaches_a_longer_project_name(
        mlrun_db: MLRunDB, registry: RunningRegistry, stored: dict[tuple[str, str], dict[str, Any]],
        nuclio_dashboard: NuclioDashboardStandIn) -> None:
    actions = _actions(_prune(mlrun_db, registry, nuclio_dashboard, "--project", "fraud"))
    planned = {ref for ref, action in actions.items() if action == "delete"}
    assert planned == {"mlrun/func-fraud-trainer:v3"}  # fraud-eu's repository is not fraud's
    assert not planned & USED


def test_migrate_rewrite_functions_reads_the_real_server_and_its_json_stays_json(
        mlrun_db: MLRunDB, registry: RunningRegistry, stored: dict[tuple[str, str], dict[str, Any]],
        tmp_path: Any) -> None:
    # the 1.12.1 client warns on stdout that it is newer than the 1.5.2 server: not in --json's stdout
    target = start_registry(tmp_path)
    try:
        result = run_cli("migrate", "--from", registry.url, "--to", target.url, "--rewrite-functions", "--dry-run",
                         "--json", "--no-progress", env={"MLRUN_DBPATH": mlrun_db.url}, timeout=120)
    finally:
        target.stop()
    assert result.code == 0, result.output[-2000:]
    rewrite = json.loads(result.stdout)["rewrite"]
    assert rewrite["functions"] == {"to_rewrite": len(stored), "blocked": 0, "failed": 0}
    assert {(c["project"], c["name"]) for c in rewrite["changes"]} == set(stored)
    assert "newer" in result.stderr or "higher version" in result.stderr  # the client's warning, on stderr
