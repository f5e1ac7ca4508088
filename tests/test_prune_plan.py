"""Prune's pure rules (core.prune_plan) and a property test against a brute-force oracle written here.

The oracle reads the same inputs with its own code: what is used (by tag or digest, through indexes),
the N newest tags, young or undated manifests, repositories outside the project by MLRun's naming. The
plan may keep more than the oracle, never delete anything the oracle protects.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlrun_registry_ext.core.location import RegistryLocation
from mlrun_registry_ext.core.prune_plan import (
    ImageUse,
    KeepRules,
    ManifestDeletion,
    ManifestRecord,
    RepositoryState,
    image_use,
    in_project,
    mlrun_function_images,
    nuclio_function_images,
    parse_created,
    plan_prune,
    project_of,
)
from mlrun_registry_ext.features.prune.delete import delete_ecr
from mlrun_registry_ext.features.prune.usage import UsageUnreadable, check_functions_page, check_record
from tests.support import images as im

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)


def _rec(digest: str, day: int | None = 1, children: tuple[str, ...] = (), media: str = im.DOCKER_MANIFEST,
         pushed: datetime | None = None, created: datetime | None = None) -> ManifestRecord:
    when = created if created is not None else (datetime(2025, 5, day, tzinfo=timezone.utc) if day else None)
    return ManifestRecord(digest, media, 10, ((f"blob-{digest}", 5),), children, when, pushed)


# --- naming -------------------------------------------------------------------------------------------

def test_a_repository_belongs_to_the_longest_project_name_that_fits() -> None:
    projects = ["fraud", "fraud-eu", "other"]
    assert project_of("func-fraud-eu-trainer", projects) == "fraud-eu"
    assert project_of("func-fraud-trainer/cache", projects) == "fraud"
    assert project_of("team/pre-func-fraud-eu-x", projects, ("pre-",)) == "fraud-eu"
    assert project_of("func-fraud-", projects) is None  # no function name after the project
    assert project_of("func-unknown-x", projects) is None
    assert not in_project("func-fraud-eu-trainer", "fraud", projects)
    assert in_project("func-fraud-eu-trainer", "fraud-eu", projects)
    assert in_project("anything", None, projects)


@pytest.mark.parametrize("spelling", ["python:3.11", "library/python:3.11", "docker.io/python:3.11",
                                      "docker.io/library/python:3.11", "index.docker.io/library/python:3.11",
                                      "registry-1.docker.io/python:3.11"])
def test_docker_hub_spellings_are_one_repository(spelling: str) -> None:
    hub = RegistryLocation("docker.io", "")
    use = image_use(spelling, "f", hub)
    assert use is not None and (use.repository, use.tag) == ("library/python", "3.11")
    assert image_use(spelling, "f", RegistryLocation("index.docker.io", "")) == use
    assert image_use(spelling, "f", RegistryLocation("quay.io", "")) is None


def test_a_docker_hub_namespace_is_folded_too() -> None:
    hub = RegistryLocation("docker.io", "team")
    uses = {image_use(s, "f", hub) for s in ("team/app:v1", "docker.io/team/app:v1", "index.docker.io/team/app:v1")}
    assert {(u.repository, u.tag) for u in uses if u} == {("team/app", "v1")} and None not in uses


def test_every_image_field_of_a_function_record_counts_as_a_use() -> None:
    mlrun_fn = {"spec": {"image": "r/a:1", "build": {"image": "r/b:1", "base_image": "r/c:1"},
                         "graph": {"steps": {"s": {"function_refs": [{"image": "r/d:1"}]}}}},
                "status": {"container_image": "r/e:1"}}
    assert set(mlrun_function_images(mlrun_fn)) == {"r/a:1", "r/b:1", "r/c:1", "r/d:1", "r/e:1"}
    nuclio_fn = {"spec": {"image": "app:1", "runRegistry": "reg.io/team", "build": {"image": "reg.io/b:1",
                                                                                 "baseImage": "reg.io/c:1"}},
                 "status": {"containerImage": "reg.io/d:1"}}
    assert set(nuclio_function_images(nuclio_fn)) == {"app:1", "reg.io/team/app:1", "reg.io/b:1", "reg.io/c:1",
                                                      "reg.io/d:1"}


def test_a_record_or_page_that_does_not_fit_the_schema_is_refused() -> None:
    with pytest.raises(UsageUnreadable, match="nothing was deleted"):
        check_record(["not", "an", "object"], ("spec.image",), "page 1")
    with pytest.raises(UsageUnreadable, match=r"spec\.image"):
        check_record({"spec": {"image": 42}}, ("spec.image",), "page 1")
    with pytest.raises(UsageUnreadable, match="spec is not an object"):
        check_record({"spec": "x"}, ("spec.image",), "page 1")
    with pytest.raises(UsageUnreadable, match="claims more"):
        check_functions_page({"funcs": [{}], "pagination": {"page-size": 2, "page-token": "t"}}, "page 1", 2)
    with pytest.raises(UsageUnreadable, match="'funcs'"):
        check_functions_page({"pagination": None}, "page 1", 2)
    assert check_functions_page({"funcs": [{}]}, "an unpaged server", 2) == ([{}], None)


# --- dates --------------------------------------------------------------------------------------------

def test_epoch_created_dates_are_unknown_ages_and_are_never_deleted() -> None:
    assert parse_created("1970-01-01T00:00:00Z") is None
    nanoseconds = datetime(2025, 5, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)
    assert parse_created("2025-05-01T10:00:00.123456789Z") == nanoseconds
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    repo = RepositoryState("r", tags={"reproducible": "e", "old": "o"},
                           manifests={"e": _rec("e", created=epoch), "o": _rec("o", 2)})
    plan = plan_prune([repo], [], KeepRules(keep=0, now=NOW))
    assert [d.digest for d in plan.deletions] == ["o"]


def test_untagged_manifests_of_unknown_or_young_age_are_kept() -> None:
    repo = RepositoryState("r", tags={}, manifests={
        "undated": _rec("undated", None), "young": _rec("young", pushed=NOW - timedelta(minutes=5), day=None),
        "old": _rec("old", None, pushed=NOW - timedelta(days=3))})
    plan = plan_prune([repo], [], KeepRules(keep=0, now=NOW))
    assert [(d.digest, d.reason) for d in plan.deletions] == [("old", "untagged")]


def test_ecr_push_time_counts_when_it_is_younger_than_the_config() -> None:
    pushed = NOW - timedelta(minutes=1)
    repo = RepositoryState("r", tags={"retagged": "a"}, manifests={"a": _rec("a", 1, pushed=pushed)})
    assert not plan_prune([repo], [], KeepRules(keep=0, now=NOW)).deletions


def test_a_digest_named_by_a_function_is_kept_untagged_or_inside_a_deleted_index() -> None:
    repo = RepositoryState("r", tags={"old": "ix"}, manifests={
        "ix": _rec("ix", None, children=("c1", "c2"), media=im.OCI_INDEX), "c1": _rec("c1", 2), "c2": _rec("c2", 2),
        "loose": _rec("loose", 3)})
    uses = [ImageUse("r", None, "c2", "Nuclio function n"), ImageUse("r", None, "loose", "MLRun function p/f")]
    plan = plan_prune([repo], uses, KeepRules(keep=0, now=NOW))
    assert sorted(d.digest for d in plan.deletions) == ["c1", "ix"]


def test_an_untagged_index_that_stays_keeps_its_children() -> None:
    young = NOW - timedelta(minutes=5)
    repo = RepositoryState("r", tags={}, manifests={  # ECR lists untagged manifests: a push in progress
        "ix": _rec("ix", None, children=("old", "new"), media=im.OCI_INDEX),
        "old": _rec("old", 1), "new": _rec("new", None, pushed=young), "alone": _rec("alone", 1)})
    plan = plan_prune([repo], [], KeepRules(keep=0, now=NOW))
    assert [d.digest for d in plan.deletions] == ["alone"]


def test_freed_bytes_are_an_upper_bound_when_other_repositories_were_not_read() -> None:
    repo = RepositoryState("team/r", tags={"v1": "a"}, manifests={"a": _rec("a")})
    plan = plan_prune([repo], [], KeepRules(keep=0, now=NOW), unread=2)
    assert plan.deletions and not plan.exact and "2 other repositories" in (plan.exact_reason or "")
    assert plan_prune([repo], [], KeepRules(keep=0, now=NOW)).exact


def test_the_recheck_protects_what_a_new_or_repointed_tag_reaches_through_an_index() -> None:
    from mlrun_registry_ext.core.prune_plan import protected_by_tags

    manifests = {"ix": _rec("ix", None, children=("c1",), media=im.OCI_INDEX), "c1": _rec("c1"), "d": _rec("d")}
    planned = {"c1": (), "d": ("old",), "ix": ("gone",)}
    assert protected_by_tags({"old": "d", "gone": "ix"}, planned, manifests) == set()  # as planned
    assert protected_by_tags({"old": "d", "new": "ix"}, planned, manifests) == {"ix", "c1"}
    assert protected_by_tags({"old": "ix"}, planned, manifests) == {"ix", "c1"}  # re-pointed
    assert protected_by_tags({"gone": "d"}, planned, manifests) == {"d"}


def test_bad_prune_durations_are_one_line_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    from mlrun_registry_ext.cli import main

    for argv in (["prune", "--dry-run", "--min-age", "soon"], ["prune", "--dry-run", "--older-than", "0s"]):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and argv[-2] in err


# --- ECR deletes ---------------------------------------------------------------------------------------

class _Paginator:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages

    def paginate(self, **_: Any) -> list[dict[str, Any]]:
        return self.pages


class FakeEcr:
    """Answers shaped like ECR's (DescribeImages, BatchGetImage, BatchDeleteImage), for the failure modes
    moto cannot be made to produce: a refused call and a per-image failure."""

    def __init__(self, images: dict[str, list[str]], refuse: bool = False, fail: str | None = None) -> None:
        self.images = images
        self.refuse = refuse
        self.fail = fail
        self.deleted: list[str] = []
        self.calls = 0

    def get_paginator(self, name: str) -> _Paginator:
        return _Paginator([{"imageDetails": [{"imageDigest": d, "imageTags": t} for d, t in self.images.items()]}])

    def batch_get_image(self, **_: Any) -> dict[str, Any]:
        return {"images": [], "failures": []}

    def batch_delete_image(self, repositoryName: str, imageIds: list[dict[str, str]]) -> dict[str, Any]:
        self.calls += 1
        if self.refuse:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "BatchDeleteImage")
        done, failures = [], []
        for image in imageIds:
            if image["imageDigest"] == self.fail:
                failures.append({"imageId": image, "failureCode": "ImageReferencedByManifestList",
                                 "failureReason": "in use"})
            else:
                self.deleted.append(image["imageDigest"])
                done.append(image)
        return {"imageIds": done, "failures": failures}


def _deletions(*pairs: tuple[str, str]) -> list[ManifestDeletion]:
    return [ManifestDeletion(repo, digest, im.DOCKER_MANIFEST, 10, (), "untagged") for repo, digest in pairs]


def test_ecr_deletion_stops_after_a_refused_delete() -> None:
    ecr = FakeEcr({}, refuse=True)
    items = _deletions(("a", "d1"), ("b", "d2"))
    warnings = delete_ecr(ecr, items, {})
    assert ecr.calls == 1 and [i.status for i in items] == ["kept", "kept"]
    assert any("nothing more was deleted" in w for w in warnings)


def test_a_failed_ecr_delete_is_reported_failed_and_a_retagged_digest_skipped() -> None:
    ecr = FakeEcr({"d2": ["new-tag"]}, fail="d1")
    items = _deletions(("a", "d1"), ("a", "d2"), ("a", "d3"))
    delete_ecr(ecr, items, {"a": {}})
    assert [i.status for i in items] == ["failed", "skipped", "deleted"]
    assert ecr.deleted == ["d3"]


# --- the property: the plan never deletes what the oracle protects --------------------------------------

PROJECTS = ["a", "a-b", "b", "ab"]
FUNCTIONS = ["x", "b-x", "y"]


def _oracle_owner(name: str, projects: list[str]) -> str | None:
    fits = [p for p in projects if name.startswith(f"func-{p}-") and len(name) > len(f"func-{p}-")]
    return max(fits, key=len) if fits else None


def _oracle_protected(repo: RepositoryState, uses: list[ImageUse], keep: int, floor: timedelta,
                      project: str | None, projects: list[str]) -> set[str]:
    """Every digest of ``repo`` that must survive, computed by brute force."""
    everything = set(repo.manifests) | set(repo.tags.values())
    if project is not None and _oracle_owner(repo.name.split("/")[-1], projects) != project:
        return everything

    def date(d: str, depth: int = 0) -> datetime | None:
        r = repo.manifests.get(d)
        if r is None or depth > 8:
            return None
        own = [x for x in (r.created, r.pushed_at) if x is not None and x.year >= 1990]
        if own:
            return max(own)
        kids = [x for x in (date(c, depth + 1) for c in r.children) if x is not None]
        return max(kids) if kids else None

    def reach(d: str) -> set[str]:
        out, todo = set(), [d]
        while todo:
            x = todo.pop()
            if x not in out:
                out.add(x)
                todo += list(repo.manifests[x].children) if x in repo.manifests else []
        return out

    roots: set[str] = set()
    ranked = sorted(((date(d), t) for t, d in repo.tags.items() if date(d) is not None), reverse=True)
    roots |= {repo.tags[t] for _, t in ranked[:keep]}
    for tag, digest in repo.tags.items():
        when = date(digest)
        if when is None or NOW - when < floor:
            roots.add(digest)
        for use in uses:
            if use.repository == repo.name and ((use.digest is None and use.tag == tag) or use.digest == digest):
                roots.add(digest)
    roots |= {u.digest for u in uses if u.repository == repo.name and u.digest}
    for digest in repo.manifests:  # young or undated manifests themselves
        when = date(digest)
        if when is None or NOW - when < floor:
            roots.add(digest)
    protected: set[str] = set()
    for root in roots:
        protected |= reach(root)
    return protected


HOST = "registry.test:5000"
LOCATION = RegistryLocation(HOST, "")
IMAGE_FIELDS = ["spec.image", "spec.build.image", "spec.build.base_image", "status.container_image"]


def _digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def _record(project: str, name: str, field: str, image: str) -> dict[str, Any]:
    record: dict[str, Any] = {"kind": "job", "metadata": {"name": name, "project": project}}
    node = record
    *parents, last = field.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = image
    return record


def _oracle_uses(records: list[dict[str, Any]]) -> list[ImageUse]:
    """The uses, read from the records by the oracle's own string handling (host/repo:tag or @digest)."""
    out = []
    for record in records:
        for section in ("spec", "status"):
            for value in _walk(record.get(section, {})):
                rest = value.removeprefix(HOST + "/")
                if rest == value:
                    continue
                if "@" in rest:
                    repo, digest = rest.split("@")
                    out.append(ImageUse(repo, None, digest, "oracle"))
                else:
                    repo, _, tag = rest.rpartition(":")
                    out.append(ImageUse(repo, tag, None, "oracle"))
    return out


def _walk(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [x for v in node.values() for x in _walk(v)]
    return [node] if isinstance(node, str) else []


@st.composite
def _worlds(draw: Any) -> tuple[list[RepositoryState], list[dict[str, Any]], int, timedelta, str | None]:
    images = {}
    for i in range(draw(st.integers(1, 7))):
        kind = draw(st.sampled_from(["dated", "dated", "epoch", "none", "pushed"]))
        created = {"dated": datetime(2025, 5, draw(st.integers(1, 31)), draw(st.integers(0, 23)), tzinfo=timezone.utc),
                   "epoch": datetime(1970, 1, 1, tzinfo=timezone.utc), "none": None, "pushed": None}[kind]
        pushed = NOW - timedelta(hours=draw(st.integers(0, 100))) if kind == "pushed" else None
        digest = _digest(f"i{i}")
        images[digest] = ManifestRecord(digest, im.DOCKER_MANIFEST, 10, ((f"b{i}", 3),), (), created, pushed)
    names = sorted(images)
    for j in range(draw(st.integers(0, 2))):
        kids = tuple(draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)))
        digest = _digest(f"x{j}")
        images[digest] = ManifestRecord(digest, im.OCI_INDEX, 10, (), kids)
    pool = sorted(images)
    repos = []
    for name in draw(st.lists(st.sampled_from([f"mlrun/func-{p}-{f}" for p in PROJECTS for f in FUNCTIONS]),
                              min_size=1, max_size=4, unique=True)):
        tags = draw(st.dictionaries(st.sampled_from(["t0", "t1", "t2", "t3", "t4"]), st.sampled_from(pool),
                                    max_size=5))
        extra = draw(st.lists(st.sampled_from(pool), max_size=2))
        held: set[str] = set()
        todo = [*tags.values(), *extra]
        while todo:
            d = todo.pop()
            if d not in held:
                held.add(d)
                todo += list(images[d].children)
        repos.append(RepositoryState(name, dict(tags), {d: images[d] for d in held}))
    records = []
    for n in range(draw(st.integers(0, 6))):
        repo = draw(st.sampled_from([r.name for r in repos] + ["mlrun/func-zz-q"]))
        ref = (f":{draw(st.sampled_from(['t0', 't1', 't2', 'latest']))}" if draw(st.booleans())
               else f"@{draw(st.sampled_from(pool))}")
        records.append(_record(draw(st.sampled_from(PROJECTS)), f"f{n}", draw(st.sampled_from(IMAGE_FIELDS)),
                               f"{HOST}/{repo}{ref}"))
    keep = draw(st.integers(0, 3))
    floor = draw(st.sampled_from([timedelta(0), timedelta(hours=1), timedelta(days=10)]))
    project = draw(st.sampled_from([None, *PROJECTS]))
    return repos, records, keep, floor, project


@given(_worlds())
@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
def test_the_plan_never_deletes_what_a_brute_force_oracle_protects(
        world: tuple[list[RepositoryState], list[dict[str, Any]], int, timedelta, str | None]) -> None:
    repos, records, keep, floor, project = world
    for repo in repos:
        repo.in_scope = in_project(repo.name.split("/")[-1], project, PROJECTS)
    uses = [u for r in records for image in mlrun_function_images(r) if (u := image_use(image, "f", LOCATION))]
    plan = plan_prune(repos, uses, KeepRules(keep=keep, min_age=floor, now=NOW))
    by_name = {r.name: r for r in repos}
    oracle_uses = _oracle_uses(records)
    for item in plan.deletions:
        repo = by_name[item.repository]
        protected = _oracle_protected(repo, oracle_uses, keep, floor, project, PROJECTS)
        assert item.digest not in protected, (item, repo)
        assert item.digest in repo.manifests and repo.manifests[item.digest].known
