"""Migration planning, pure: manifest types, write order, filters, target naming, report, retries."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from mlrun_registry_ext.cli._app import JSON_WRITE_CHUNK, print_json
from mlrun_registry_ext.clients.registry.client import RetryPolicy
from mlrun_registry_ext.clients.registry.errors import NotFoundError, RegistryHTTPError, TooManyRequestsError
from mlrun_registry_ext.core.manifest import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    parse_manifest,
    write_order,
)
from mlrun_registry_ext.errors import RegistryAPIError
from mlrun_registry_ext.features.migrate import (
    MigrationReport,
    Naming,
    TagResult,
    matches_include,
    matches_project,
    select_repositories,
)
from mlrun_registry_ext.features.migrate.engine import Migration, _BlobJob, _placed_key
from tests.support import images as im


def _raw(doc: dict) -> bytes:
    return json.dumps(doc).encode()


def test_every_manifest_type_is_classified_with_its_blobs_or_children() -> None:
    items = im.image_set(count=4)
    index = next(i.image for i in items if i.image.media_type == im.OCI_INDEX)
    docker_list = next(i.image for i in items if i.image.media_type == im.DOCKER_LIST)
    docker = next(i.image for i in items if i.image.media_type == im.DOCKER_MANIFEST)

    parsed = parse_manifest(index.manifest, "application/json")
    assert parsed.media_type == OCI_INDEX and parsed.is_index
    assert [c.digest for c in parsed.children] == [c.digest for c in index.children]
    assert parse_manifest(docker_list.manifest, None).media_type == DOCKER_LIST
    single = parse_manifest(docker.manifest, DOCKER_MANIFEST)
    assert single.media_type == DOCKER_MANIFEST
    assert [b.digest for b in single.blobs] == [b.digest for b in docker.blobs]  # config first, then layers
    assert single.digest == docker.digest and single.raw == docker.manifest  # bytes kept unchanged


def test_oci_manifest_without_media_type_is_recognised_from_header_or_shape() -> None:
    doc = {"schemaVersion": 2, "config": {"mediaType": "x", "digest": "sha256:" + "a" * 64, "size": 2},
           "layers": [{"mediaType": "y", "digest": "sha256:" + "b" * 64, "size": 3}]}
    assert parse_manifest(_raw(doc), OCI_MANIFEST).media_type == OCI_MANIFEST
    assert parse_manifest(_raw(doc), "application/octet-stream").media_type == OCI_MANIFEST
    assert parse_manifest(_raw({"schemaVersion": 2, "manifests": []}), None).media_type == OCI_INDEX


def test_foreign_layers_are_marked_and_schema1_or_unknown_types_are_refused_clearly() -> None:
    doc = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
           "config": {"mediaType": "c", "digest": "sha256:" + "a" * 64, "size": 2},
           "layers": [{"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                       "digest": "sha256:" + "b" * 64, "size": 3, "urls": ["https://example.com/l"]}]}
    assert parse_manifest(_raw(doc), None).blobs[1].foreign
    with pytest.raises(RegistryAPIError, match="schema 1"):
        parse_manifest(_raw({"schemaVersion": 1, "name": "x", "fsLayers": []}), None)
    with pytest.raises(RegistryAPIError, match=r"unsupported manifest media type 'application/vnd\.acme'"):
        parse_manifest(_raw({"schemaVersion": 2, "mediaType": "application/vnd.acme"}), None)
    with pytest.raises(RegistryAPIError, match="not JSON"):
        parse_manifest(b"<html>", None)


def test_write_order_puts_children_before_their_index_even_when_nested() -> None:
    items = im.image_set(count=3)
    index_img = items[0].image
    leaf_a, leaf_b = (parse_manifest(c.manifest, None) for c in index_img.children)
    inner = parse_manifest(index_img.manifest, None)
    outer_doc = {"schemaVersion": 2, "mediaType": OCI_INDEX,
                 "manifests": [{"mediaType": OCI_INDEX, "digest": inner.digest, "size": len(inner.raw)},
                               {"mediaType": OCI_MANIFEST, "digest": leaf_a.digest, "size": len(leaf_a.raw)}]}
    outer = parse_manifest(_raw(outer_doc), None)
    order = write_order(outer, {m.digest: m for m in (inner, leaf_a, leaf_b)})
    digests = [m.digest for m in order]
    assert digests[-1] == outer.digest
    assert digests.index(leaf_a.digest) < digests.index(inner.digest)
    assert digests.index(leaf_b.digest) < digests.index(inner.digest)
    assert len(digests) == len(set(digests)) == 4  # leaf_a appears once although listed twice
    with pytest.raises(RegistryAPIError, match="not fetched"):
        write_order(outer, {})


def test_project_filter_follows_mlrun_func_project_naming_and_the_image_prefix() -> None:
    assert matches_project("mlrun/func-fraud-train", "fraud")
    assert matches_project("team/pre-func-fraud-train", "fraud", prefixes=("pre-",))
    assert not matches_project("mlrun/func-fraud2-train", "fraud")  # another project sharing a prefix
    assert not matches_project("mlrun/func-other-train", "fraud")
    assert not matches_project("func-fraud-x/other", "fraud")  # the image name is the last component


def test_include_globs_match_repositories_or_repo_tag() -> None:
    assert matches_include("mlrun/a", "v1", [])
    assert matches_include("mlrun/a", None, ["mlrun/*"])
    assert not matches_include("nuclio/a", None, ["mlrun/*"])
    assert matches_include("mlrun/a", None, ["mlrun/a:v*"])  # repository pass keeps it for the tag pass
    assert matches_include("mlrun/a", "v2", ["mlrun/a:v*"])
    assert not matches_include("mlrun/a", "latest", ["mlrun/a:v*"])


def test_select_repositories_applies_source_path_project_and_include() -> None:
    repos = ["mlrun/func-p1-a", "mlrun/func-p2-b", "nuclio/processor-p1-c", "other/func-p1-d"]
    assert select_repositories(repos, Naming(source_path="mlrun")) == ["mlrun/func-p1-a", "mlrun/func-p2-b"]
    assert select_repositories(repos, Naming(), project="p1") == ["mlrun/func-p1-a", "other/func-p1-d"]
    assert select_repositories(repos, Naming(), include=["nuclio/*", "other/*"]) == [
        "nuclio/processor-p1-c", "other/func-p1-d"]


@pytest.mark.parametrize(
    ("naming", "source", "target"),
    [
        (Naming(), "mlrun/func-p-f", "mlrun/func-p-f"),
        (Naming(target_path="team"), "mlrun/func-p-f", "team/mlrun/func-p-f"),
        (Naming(source_path="mlrun", target_path="team"), "mlrun/func-p-f", "team/func-p-f"),
        # --rename: as MLRun would push to the target (its path replaces mlrun/, the prefix goes first)
        (Naming(target_path="team", image_prefix="pre-", rename=True), "mlrun/func-p-f", "team/pre-func-p-f"),
        (Naming(image_prefix="pre-", rename=True), "mlrun/func-p-f", "mlrun/pre-func-p-f"),
        (Naming(image_prefix="pre-", rename=True), "mlrun/pre-func-p-f", "mlrun/pre-func-p-f"),  # never twice
        (Naming(target_path="team", rename=True), "nuclio/processor-x", "team/processor-x"),
        (Naming(target_path="team", image_prefix="a/", rename=True), "x/y", "team/x/a/y"),
    ],
)
def test_target_naming(naming: Naming, source: str, target: str) -> None:
    assert naming.target_repository(source) == target


def test_report_json_text_and_html_say_what_happened_and_escape_names() -> None:
    report = MigrationReport(source="http://src", target="https://dst/<team>", tags=[
        TagResult("a:1", "a:1", "sha256:1", "sha256:1", "copied"),
        TagResult("b:<x>", "b:<x>", "sha256:2", None, "failed", "boom"),
    ], blobs_copied=3, blobs_mounted=1, blobs_skipped=2, bytes_copied=5_000_000, seconds=2.0, verified=1,
        errors=["b:<x>: boom"])
    data = report.to_dict()
    assert data["images"] == {"total": 2, "copied": 1, "skipped": 0, "failed": 1, "planned": 0}
    assert data["blobs"] == {"copied": 3, "skipped": 2, "mounted": 1}
    assert data["mb_per_s"] == 2.5 and data["ok"] is False
    text = str(report)
    assert "blobs: 3 copied, 2 skipped (present), 1 mounted" in text and "2.5 MB/s" in text
    html_out = report._repr_html_()
    assert "&lt;team&gt;" in html_out and "<x>" not in html_out and "PROBLEMS" in html_out


def test_json_of_a_report_with_thousands_of_tags_prints_the_same_text_as_json_dumps(
        capsys: pytest.CaptureFixture[str]) -> None:
    # --json streams the text in pieces (memory); what a script reads must not change, across pieces
    tags = [TagResult(f"mlrun/fn{i}:v{i}", f"team/fn{i}:v{i}", f"sha256:{i:064x}", f"sha256:{i:064x}", "copied")
            for i in range(2000)]
    tags.append(TagResult("b:<x>", "b:<x>", "sha256:2", None, "failed", "bo\u00e9m \"quoted\""))
    data = MigrationReport(source="http://src", target="https://dst", tags=tags, errors=["b:<x>: boom"]).to_dict()
    print_json(data)
    out = capsys.readouterr().out
    assert len(out) > 4 * JSON_WRITE_CHUNK
    assert out == json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"
    assert json.loads(out)["tags"][-1]["error"] == "bo\u00e9m \"quoted\""


def test_blobs_remembered_for_later_batches_are_bounded_and_the_least_recently_placed_go_first() -> None:
    # a big cold copy mounts blobs an earlier batch placed (``_placed``); the map is bounded, keyed
    # compactly for sha256 digests, and must still find each digest in either form
    side: Any = SimpleNamespace(display="http://side")
    run = Migration(side, side, Naming())
    run.PLACED_MAX = 3
    digests = [f"sha256:{i:064x}" for i in range(4)] + ["sha512:" + "ab" * 64]

    def placed(batch: dict[str, str]) -> None:
        run._remember({d: _BlobJob(d, 1, [("src", repo)]) for d, repo in batch.items()})

    placed({digests[0]: "a", digests[1]: "b", digests[2]: "c"})
    placed({digests[0]: "a2"})  # placed again: now the most recent
    placed({digests[3]: "d", digests[4]: "e"})
    failed = _BlobJob(digests[1], 1, [("src", "x")], failed="boom")
    run._remember({digests[1]: failed})  # a failed copy placed nothing
    assert run._placed.get(_placed_key(digests[0])) == "a2"
    assert [run._placed.get(_placed_key(d)) for d in digests] == ["a2", None, None, "d", "e"]
    assert _placed_key(digests[3]) == bytes.fromhex(digests[3][7:]) and _placed_key(digests[4]) == digests[4]
    assert _placed_key("sha256:" + "z" * 64) == "sha256:" + "z" * 64  # not hex: kept as it is


def test_retry_honours_retry_after_for_429_and_backs_off_on_5xx_but_not_on_404() -> None:
    slept: list[float] = []
    policy = RetryPolicy(attempts=4, base_delay=0.1, sleep=slept.append)
    calls = iter([TooManyRequestsError("slow down", retry_after=2.5, status=429),
                  RegistryHTTPError("bad gateway", status=502), "done"])

    def flaky() -> str:
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert policy.call("op", flaky) == "done"
    assert slept[0] == 2.5 and 0.05 <= slept[1] <= 0.2

    def missing() -> None:
        raise NotFoundError("nope", status=404)

    slept.clear()
    with pytest.raises(NotFoundError):
        policy.call("op", missing)
    assert slept == []

    def always_busy() -> None:
        raise RegistryHTTPError("unavailable", status=503)

    with pytest.raises(RegistryHTTPError, match="unavailable"):
        policy.call("op", always_busy)
    assert len(slept) == 3  # attempts - 1 waits, then the error surfaces


def test_migrate_options_are_checked_once_frozen_and_given_either_whole_or_as_keywords() -> None:
    import dataclasses

    from mlrun_registry_ext.errors import ConfigError
    from mlrun_registry_ext.features.migrate import MigrateOptions, Shard, migrate

    options = MigrateOptions(include=["team/*"], shard="1/4")  # type: ignore[arg-type]
    assert options.include == ("team/*",) and options.shard == Shard(1, 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.jobs = 2  # type: ignore[misc]
    for bad, field in (({"jobs": 0}, "jobs"), ({"jobs": 65}, "jobs"), ({"include": "a*"}, "include"),
                       ({"timeout": -1}, "timeout"), ({"shard": "4/4"}, "shard")):
        with pytest.raises(ConfigError, match=f"^{field}: "):
            MigrateOptions(**bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^options: give MigrateOptions or its fields as keywords, not both"):
        migrate("http://127.0.0.1:9", "http://127.0.0.1:9/x", options, jobs=2)
