"""``migrate --rewrite-functions``: after a verified copy, functions name the target's images.

Real Debian ``docker-registry`` instances on loopback for the copy; the real mlrun 1.12.1 client
(``list_functions``, ``store_function``) against the MLRun API stand-in, whose stored bodies the tests
read; the Nuclio dashboard stand-in for the redeploys (``PUT /api/functions/<name>``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from mlrun_registry_ext.core.location import parse_location
from mlrun_registry_ext.features.migrate import MigrationReport, TagResult
from mlrun_registry_ext.features.migrate.rewrite import (
    VerifiedImage,
    VerifiedImages,
    plan_mlrun_rewrites,
    plan_nuclio_redeploys,
)
from tests.support import images as im
from tests.support.env import installed_main as main
from tests.support.registry import RunningRegistry
from tests.support.standins import MLRunAPIStandIn, NuclioDashboardStandIn

SRC = parse_location("http://10.0.0.5:5000")
DST = parse_location("registry.example.com/team")
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


# --- the pure plan ---------------------------------------------------------------------------------
def _verified() -> VerifiedImages:
    out = VerifiedImages()
    out.add(VerifiedImage("mlrun/func-p-train", "v1", "team/mlrun/func-p-train", D1))
    out.add(VerifiedImage("nuclio/processor-x", "latest", "team/nuclio/processor-x", D2))
    return out


def test_plan_rewrites_every_image_field_that_names_the_source_and_nothing_else() -> None:
    train = {"kind": "job", "metadata": {"name": "train", "project": "p", "tag": "latest"},
             "spec": {"image": "10.0.0.5:5000/mlrun/func-p-train:v1",
                      "build": {"image": "10.0.0.5:5000/mlrun/func-p-train:v1", "base_image": "mlrun/mlrun:1.12.1"}},
             "status": {}}
    serve = {"kind": "serving", "metadata": {"name": "serve", "project": "p", "tag": "v3"},
             "spec": {"image": "", "build": {}},
             "status": {"container_image": "10.0.0.5:5000/nuclio/processor-x"}}  # no tag: latest
    dot = {"kind": "job", "metadata": {"name": "dot", "project": "p", "tag": "latest"},
           "spec": {"image": ".mlrun/func-p-dot:latest"}}  # the server's own registry: the server decides
    other = {"kind": "job", "metadata": {"name": "other", "project": "p", "tag": "latest"},
             "spec": {"image": "ghcr.io/acme/x:1"}}
    plan = plan_mlrun_rewrites([train, serve, dot, other], SRC, DST, _verified())

    assert [(e.name, e.status) for e in plan] == [("train", "planned"), ("serve", "planned")]
    assert [(c.field, c.new) for c in plan[0].changes] == [
        ("spec.image", "registry.example.com/team/mlrun/func-p-train:v1"),
        ("spec.build.image", "registry.example.com/team/mlrun/func-p-train:v1")]
    assert plan[0].record["spec"]["build"]["base_image"] == "mlrun/mlrun:1.12.1"
    assert plan[0].redeploy is None  # a job picks the image up at its next run
    assert plan[1].record["status"]["container_image"] == "registry.example.com/team/nuclio/processor-x:latest"
    assert plan[1].redeploy_kind == "mlrun" and 'import_function("db://p/serve:v3").deploy()' in plan[1].redeploy
    assert train["spec"]["image"].startswith("10.0.0.5")  # the inputs are not modified

    pinned = plan_mlrun_rewrites([train], SRC, DST, _verified(), pin_digests=True)
    assert pinned[0].record["spec"]["image"] == f"registry.example.com/team/mlrun/func-p-train@{D1}"


def test_a_function_with_any_unverified_image_or_no_tag_is_left_alone() -> None:
    half = {"kind": "job", "metadata": {"name": "half", "project": "p", "tag": "latest"},
            "spec": {"image": "10.0.0.5:5000/mlrun/func-p-train:v1",
                     "build": {"image": "10.0.0.5:5000/mlrun/func-p-train:v2"}}}  # v2 was not verified
    by_digest = {"kind": "job", "metadata": {"name": "d", "project": "p", "tag": "latest"},
                 "spec": {"image": f"10.0.0.5:5000/mlrun/func-p-train@{D2}"}}  # a digest the run did not see
    untagged = {"kind": "job", "metadata": {"name": "old", "project": "p", "hash": "abc"},
                "spec": {"image": "10.0.0.5:5000/mlrun/func-p-train:v1"}}
    plan = plan_mlrun_rewrites([half, by_digest, untagged], SRC, DST, _verified())
    assert [(e.name, e.status, e.changes, e.record) for e in plan] == [
        ("half", "blocked", [], {}), ("d", "blocked", [], {}), ("old", "blocked", [], {})]
    assert "func-p-train:v2" in (plan[0].reason or "") and "untagged" in (plan[2].reason or "")


def test_only_tags_the_target_was_seen_to_resolve_to_the_source_digest_count_as_verified() -> None:
    report = MigrationReport("src", "dst", tags=[
        TagResult("mlrun/a:1", "team/mlrun/a:1", D1, D1, "copied"),
        TagResult("mlrun/b:1", "team/mlrun/b:1", D1, D1, "skipped"),
        TagResult("mlrun/c:1", "team/mlrun/c:1", D1, None, "copied"),  # copied without verification
        TagResult("mlrun/d:1", "team/mlrun/d:1", D1, D1, "copied"),
        TagResult("mlrun/e:1", "team/mlrun/e:1", D1, None, "failed", "boom"),
        TagResult("mlrun/f:1", "team/mlrun/f:1", D1, None, "planned"),
    ], differences=[{"tag": "team/mlrun/d:1", "source": "mlrun/d:1", "problem": "x"}])
    assert sorted(r for r, _ in VerifiedImages.from_report(report).by_tag) == ["mlrun/a", "mlrun/b"]
    dry = VerifiedImages.from_report(report, assume_planned=True)
    assert sorted(r for r, _ in dry.by_tag) == ["mlrun/a", "mlrun/b", "mlrun/f"]


def test_nuclio_plan_puts_the_target_image_with_never_build_or_points_mlrun_functions_to_mlrun() -> None:
    direct = {"metadata": {"name": "direct", "labels": {"nuclio.io/project-name": "p"}},
              "spec": {"image": "nuclio/processor-x:latest", "runRegistry": "10.0.0.5:5000",
                       "build": {"functionSourceCode": "ZGVm", "registry": "10.0.0.5:5000"}},
              "status": {"state": "ready", "containerImage": "10.0.0.5:5000/nuclio/processor-x:latest"}}
    managed = {"metadata": {"name": "p-serve", "labels": {"nuclio.io/project-name": "p", "mlrun/class": "serving"}},
               "spec": {"image": "10.0.0.5:5000/nuclio/processor-x:latest"}, "status": {}}
    elsewhere = {"metadata": {"name": "e", "labels": {}}, "spec": {"image": "ghcr.io/acme/x:1"}, "status": {}}
    plan = plan_nuclio_redeploys({"direct": direct, "p-serve": managed, "e": elsewhere}, SRC, DST, _verified(),
                                 pin_digests=True)
    assert [e.name for e in plan] == ["direct", "p-serve"]
    config = plan[0].record
    assert "status" not in config and config["spec"]["image"] == f"registry.example.com/team/nuclio/processor-x@{D2}"
    assert config["spec"]["runRegistry"] == "registry.example.com"
    assert config["spec"]["build"] == {"functionSourceCode": "ZGVm", "registry": "10.0.0.5:5000", "mode": "neverBuild"}
    assert plan[0].redeploy_kind == "dashboard"
    assert plan[1].redeploy_kind == "mlrun" and plan[1].record == {} and "db://p/serve" in (plan[1].redeploy or "")


# --- end to end: real registries, the real mlrun client, the stand-ins -----------------------------------------
SOURCE_IMAGES = ("mlrun/func-fraud-train", "mlrun/func-fraud-serve", "nuclio/processor-direct")


@pytest.fixture
def registries(registry_factory: Callable[..., RunningRegistry]) -> tuple[RunningRegistry, RunningRegistry, dict]:
    source, target = registry_factory(), registry_factory()
    rng = random.Random(5)
    digests = {}
    with im.registry_client(source.url) as client:
        for i, repo in enumerate(SOURCE_IMAGES):
            image = im.build_image([im.random_layer(rng, 400)], label=str(i))
            im.push_image(client, repo, "v1", image)
            digests[repo] = image.digest
    return source, target, digests


def _store_records(source: RunningRegistry) -> dict[str, dict[str, Any]]:
    import mlrun

    host = source.host
    records = {
        "train": {"kind": "job", "metadata": {"name": "train", "project": "fraud", "tag": "latest"},
                  "spec": {"image": f"{host}/mlrun/func-fraud-train:v1",
                           "build": {"image": f"{host}/mlrun/func-fraud-train:v1", "base_image": "mlrun/mlrun"}},
                  "status": {"state": "ready"}},
        "serve": {"kind": "serving", "metadata": {"name": "serve", "project": "fraud", "tag": "latest"},
                  "spec": {"build": {}}, "status": {"state": "ready",
                                                    "container_image": f"{host}/mlrun/func-fraud-serve:v1"}},
        "ghost": {"kind": "job", "metadata": {"name": "ghost", "project": "fraud", "tag": "latest"},
                  "spec": {"image": f"{host}/mlrun/func-fraud-ghost:v9"}, "status": {}},
        "dot": {"kind": "job", "metadata": {"name": "dot", "project": "fraud", "tag": "latest"},
                "spec": {"image": ".mlrun/func-fraud-dot:latest"}, "status": {}},
    }
    db = mlrun.get_run_db()
    for name, record in records.items():
        db.store_function(record, name, "fraud", tag="latest")
    return records


@pytest.fixture
def platform(mlrun_api: MLRunAPIStandIn, nuclio_dashboard: NuclioDashboardStandIn,
             registries: tuple[RunningRegistry, RunningRegistry, dict]) -> dict[str, Any]:
    source = registries[0]
    mlrun_api.projects["fraud"] = {"metadata": {"name": "fraud"}, "spec": {}, "status": {"state": "online"}}
    records = _store_records(source)
    nuclio_dashboard.add_function("direct", "fraud", f"{source.host}/nuclio/processor-direct:v1",
                                  image="nuclio/processor-direct:v1", run_registry=source.host)
    nuclio_dashboard.add_function("fraud-serve", "fraud", f"{source.host}/mlrun/func-fraud-serve:v1")
    nuclio_dashboard.functions["fraud-serve"]["metadata"]["labels"]["mlrun/class"] = "serving"
    mlrun_api.clear()
    return records


def _stored(mlrun_api: MLRunAPIStandIn, name: str) -> dict[str, Any]:
    return mlrun_api.functions[f"fraud/{name}"]


def test_dry_run_shows_the_diff_as_a_table_or_json_and_changes_nothing(
        registries: tuple[RunningRegistry, RunningRegistry, dict], platform: dict[str, Any],
        mlrun_api: MLRunAPIStandIn, nuclio_dashboard: NuclioDashboardStandIn,
        capsys: pytest.CaptureFixture[str]) -> None:
    source, target, _ = registries
    before = json.dumps(mlrun_api.functions, sort_keys=True)
    argv = ["migrate", "--from", source.url, "--to", target.url, "--rewrite-functions", "--dry-run", "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "would re-point 3" in out and "dry run: nothing changed" in out
    assert f"{source.host}/mlrun/func-fraud-train:v1" in out and f"{target.host}/mlrun/func-fraud-train:v1" in out
    assert "blocked: not verified on the target" in out and "func-fraud-ghost:v9" in out
    assert "redeploy (run it, or --apply): nuclio:fraud/direct: PUT /api/functions/direct" in out

    assert main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)["rewrite"]
    assert data["dry_run"] is True and data["functions"] == {"to_rewrite": 3, "blocked": 1, "failed": 0}
    train = next(c for c in data["changes"] if c["name"] == "train")
    assert train["changes"][0] == {"field": "spec.image", "old": f"{source.host}/mlrun/func-fraud-train:v1",
                                   "new": f"{target.host}/mlrun/func-fraud-train:v1"}

    assert json.dumps(mlrun_api.functions, sort_keys=True) == before  # nothing stored
    assert not mlrun_api.find("POST", "/api/v1/projects/fraud/functions/")
    assert not nuclio_dashboard.find("PUT")
    assert im.tag_digests(target.url) == {}  # and nothing copied


def test_after_a_verified_copy_mlrun_records_name_the_target_and_redeploys_are_printed(
        registries: tuple[RunningRegistry, RunningRegistry, dict], platform: dict[str, Any],
        mlrun_api: MLRunAPIStandIn, nuclio_dashboard: NuclioDashboardStandIn,
        capsys: pytest.CaptureFixture[str]) -> None:
    source, target, _ = registries
    assert main(["migrate", "--from", source.url, "--to", target.url, "--rewrite-functions", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "re-pointed 2" in out

    # the bodies the real client stored (POST /api/v1/projects/fraud/functions/<name>?tag=latest)
    posted = {r.path.rsplit("/", 1)[-1]: r for r in mlrun_api.find("POST", "/api/v1/projects/fraud/functions/")}
    assert sorted(posted) == ["serve", "train"]
    assert posted["train"].param("tag") == "latest" and posted["train"].param("versioned") == "False"
    train = _stored(mlrun_api, "train")
    assert train["spec"]["image"] == train["spec"]["build"]["image"] == f"{target.host}/mlrun/func-fraud-train:v1"
    assert train["spec"]["build"]["base_image"] == "mlrun/mlrun" and train["status"] == {"state": "ready"}
    assert _stored(mlrun_api, "serve")["status"]["container_image"] == f"{target.host}/mlrun/func-fraud-serve:v1"
    assert _stored(mlrun_api, "ghost") == platform["ghost"]  # its image never reached the target
    assert _stored(mlrun_api, "dot") == platform["dot"]

    # Nuclio: printed, not performed; the MLRun-managed one once, as an MLRun instruction
    assert "redeploy (run it): mlrun:fraud/serve:latest: python -c 'import mlrun; " \
           "mlrun.import_function(\"db://fraud/serve:latest\").deploy()'" in out
    assert "nuclio:fraud/direct: PUT /api/functions/direct" in out and "nuclio:fraud/fraud-serve" not in out
    assert not nuclio_dashboard.find("PUT")


def test_pin_digests_and_apply_write_verified_digests_and_redeploy_nuclio_without_a_build(
        registries: tuple[RunningRegistry, RunningRegistry, dict], platform: dict[str, Any],
        mlrun_api: MLRunAPIStandIn, nuclio_dashboard: NuclioDashboardStandIn,
        capsys: pytest.CaptureFixture[str]) -> None:
    source, target, digests = registries
    code = main(["migrate", "--from", source.url, "--to", target.url, "--rewrite-functions", "--pin-digests",
                 "--apply", "--json", "--no-progress"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0, data
    train_digest = digests["mlrun/func-fraud-train"]
    assert _stored(mlrun_api, "train")["spec"]["image"] == f"{target.host}/mlrun/func-fraud-train@{train_digest}"
    assert im.tag_digests(target.url)["mlrun/func-fraud-train:v1"] == train_digest  # the digest that was verified

    put = nuclio_dashboard.last("PUT", "/api/functions/direct")
    assert put.header("x-nuclio-project-name") == "fraud"
    pinned = f"{target.host}/nuclio/processor-direct@{digests['nuclio/processor-direct']}"
    assert put.body["spec"]["image"] == pinned and put.body["spec"]["runRegistry"] == target.host
    assert put.body["spec"]["build"]["mode"] == "neverBuild" and "status" not in put.body
    assert nuclio_dashboard.functions["direct"]["status"]["containerImage"] == pinned
    assert not nuclio_dashboard.find("PUT", "/api/functions/fraud-serve")  # MLRun's: redeployed through MLRun
    redeploys = {r["function"]: r for r in data["rewrite"]["redeploys"]}
    assert redeploys["fraud/direct"]["status"] == "applied" and redeploys["fraud/serve:latest"]["status"] == "printed"


def test_rewrite_functions_without_the_mlrun_api_is_refused_before_copying(
        registries: tuple[RunningRegistry, RunningRegistry, dict], capsys: pytest.CaptureFixture[str]) -> None:
    source, target, _ = registries
    assert main(["migrate", "--from", source.url, "--to", target.url, "--rewrite-functions"]) == 2
    err = capsys.readouterr().err
    assert "--rewrite-functions" in err and "MLRUN_DBPATH" in err and len(err.strip().splitlines()) == 1
    assert im.tag_digests(target.url) == {}
    assert main(["migrate", "--from", source.url, "--to", target.url, "--apply"]) == 2
    assert "only with --rewrite-functions" in capsys.readouterr().err


# --- --apply's failure paths: nothing is reported as done that was not --------------------------------
def _apply(source: RunningRegistry, target: RunningRegistry, capsys: pytest.CaptureFixture[str],
           *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(["migrate", "--from", source.url, "--to", target.url, "--rewrite-functions", "--apply", "--json",
                 "--no-progress", *extra])
    return code, json.loads(capsys.readouterr().out)["rewrite"]


def _by_label(data: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    changes = {f"{c['platform']}:{c['project']}/{c['name']}": c for c in data["changes"]}
    redeploys = {r["function"]: r for r in data["redeploys"]}
    return changes, redeploys


def test_a_redeploy_left_in_error_is_reported_failed_not_applied(
        registries: tuple[RunningRegistry, RunningRegistry, dict], platform: dict[str, Any],
        nuclio_dashboard: NuclioDashboardStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    source, target, _ = registries
    nuclio_dashboard.deploy_states = ("error",)
    code, data = _apply(source, target, capsys)
    assert code == 1
    changes, redeploys = _by_label(data)
    assert changes["nuclio:fraud/direct"]["status"] == "failed"
    assert "error after the redeploy" in changes["nuclio:fraud/direct"]["reason"]
    assert redeploys["fraud/direct"]["status"] == "failed"
    assert data["functions"] == {"rewritten": 2, "blocked": 1, "failed": 1}  # the two MLRun records only
    assert data["ok"] is False and any(e.startswith("nuclio:fraud/direct: redeploy failed") for e in data["errors"])


def test_a_redeploy_that_builds_then_turns_ready_is_applied(
        registries: tuple[RunningRegistry, RunningRegistry, dict], platform: dict[str, Any],
        nuclio_dashboard: NuclioDashboardStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    source, target, _ = registries
    nuclio_dashboard.deploy_states = ("building", "ready")
    code, data = _apply(source, target, capsys)
    assert code == 0 and data["ok"] is True
    assert _by_label(data)[1]["fraud/direct"]["status"] == "applied"
    assert len(nuclio_dashboard.find("GET", "/api/functions/direct")) == 2  # polled until ready


def test_a_store_function_failure_is_reported_failed_and_the_record_is_left_as_it_was(
        registries: tuple[RunningRegistry, RunningRegistry, dict], platform: dict[str, Any],
        mlrun_api: MLRunAPIStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    source, target, _ = registries
    mlrun_api.store_errors["fraud/train"] = 500
    code, data = _apply(source, target, capsys)
    assert code == 1 and data["ok"] is False
    changes, _ = _by_label(data)
    assert changes["mlrun:fraud/train"]["status"] == "failed"
    assert changes["mlrun:fraud/serve"]["status"] == "applied"  # one failure does not stop the others
    assert data["functions"]["rewritten"] == 2 and data["functions"]["failed"] == 1  # serve and direct
    assert any(e.startswith("fraud/train:latest: store_function failed") for e in data["errors"])
    assert _stored(mlrun_api, "train") == platform["train"]  # still the source image


def test_a_dashboard_put_error_is_reported_failed_and_not_polled(
        registries: tuple[RunningRegistry, RunningRegistry, dict], platform: dict[str, Any],
        nuclio_dashboard: NuclioDashboardStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    source, target, _ = registries
    before = json.dumps(nuclio_dashboard.functions["direct"], sort_keys=True)
    nuclio_dashboard.update_errors["direct"] = 500
    code, data = _apply(source, target, capsys)
    assert code == 1
    changes, redeploys = _by_label(data)
    assert changes["nuclio:fraud/direct"]["status"] == "failed" and redeploys["fraud/direct"]["status"] == "failed"
    assert "HTTP 500 to the PUT" in changes["nuclio:fraud/direct"]["reason"]
    assert not nuclio_dashboard.find("GET", "/api/functions/direct")  # no poll after a refused PUT
    assert json.dumps(nuclio_dashboard.functions["direct"], sort_keys=True) == before

    # the text report says so too (a second run: the copy and the MLRun records are already done)
    assert main(["migrate", "--from", source.url, "--to", target.url, "--rewrite-functions", "--apply",
                 "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "redeploy FAILED: nuclio:fraud/direct" in out and "error: nuclio:fraud/direct: redeploy failed" in out


def test_a_half_verified_nuclio_function_is_not_redeployed(
        registries: tuple[RunningRegistry, RunningRegistry, dict], platform: dict[str, Any],
        nuclio_dashboard: NuclioDashboardStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    source, target, _ = registries
    # runs the verified v1, but its spec names v7, which the source does not have: not verified.
    # Its name sorts before "direct": being left alone does not stop the redeploys after it.
    nuclio_dashboard.add_function("another", "fraud", f"{source.host}/nuclio/processor-direct:v1",
                                  image="nuclio/processor-direct:v7", run_registry=source.host)
    code, data = _apply(source, target, capsys)
    changes, redeploys = _by_label(data)
    half = changes["nuclio:fraud/another"]
    assert half["status"] == "blocked" and half["changes"] == [] and "processor-direct:v7" in half["reason"]
    assert "fraud/another" not in redeploys
    assert not nuclio_dashboard.find("PUT", "/api/functions/another")
    assert redeploys["fraud/direct"]["status"] == "applied"  # the fully verified one still is
    assert code == 0


def test_a_nuclio_function_mlrun_manages_is_never_put_to_the_dashboard_even_without_its_mlrun_record(
        registries: tuple[RunningRegistry, RunningRegistry, dict], platform: dict[str, Any],
        nuclio_dashboard: NuclioDashboardStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    source, target, _ = registries
    # deployed by MLRun (label mlrun/class), but MLRun has no record "scorer": only MLRun may redeploy it
    nuclio_dashboard.add_function("fraud-scorer", "fraud", f"{source.host}/mlrun/func-fraud-serve:v1")
    nuclio_dashboard.functions["fraud-scorer"]["metadata"]["labels"]["mlrun/class"] = "serving"
    code, data = _apply(source, target, capsys)
    assert code == 0
    assert not nuclio_dashboard.find("PUT", "/api/functions/fraud-scorer")
    redeploy = _by_label(data)[1]["fraud/fraud-scorer"]
    assert redeploy["kind"] == "mlrun" and redeploy["status"] == "printed" and "db://fraud/scorer" in redeploy["action"]
    assert _by_label(data)[1]["fraud/direct"]["status"] == "applied"


def test_a_redeploy_is_applied_only_on_a_200_that_says_ready(
        registries: tuple[RunningRegistry, RunningRegistry, dict], platform: dict[str, Any],
        nuclio_dashboard: NuclioDashboardStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    source, target, _ = registries

    polls: list[str] = []

    def flaky(request: Any, name: str) -> tuple[int, Any, dict[str, str]]:
        # the first poll: an error answer whose body happens to say "ready" is no proof; then the truth
        polls.append(name)
        if len(polls) == 1:
            return 503, {"status": {"state": "ready"}, "error": "upstream unavailable"}, {}
        return nuclio_dashboard._get_function(request, name)

    nuclio_dashboard.deploy_states = ("error",)
    nuclio_dashboard.route("GET", r"/api/functions/(?P<name>direct)", flaky)
    code, data = _apply(source, target, capsys)
    assert len(polls) == 2  # polled on after the error answer
    assert code == 1
    assert _by_label(data)[1]["fraud/direct"]["status"] == "failed"
