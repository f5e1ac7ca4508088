"""Prune's safety rules, pinned where mutation testing (scripts/mutation.sh planner) found a one-line
weakening that every other test let through: a use named by tag or by digest, the re-check before a
delete, image ages from ``created``, and the images a Nuclio function runs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mlrun_registry_ext.core.location import RegistryLocation
from mlrun_registry_ext.core.prune_plan import (
    ImageUse,
    KeepRules,
    ManifestRecord,
    RepositoryState,
    image_use,
    mlrun_function_images,
    nuclio_function_images,
    parse_created,
    plan_prune,
    protected_by_tags,
    use_reaches,
)
from tests.support import images as im

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
RULES = KeepRules(keep=1, now=NOW, min_age=timedelta(0))


def _rec(digest: str, day: int) -> ManifestRecord:
    return ManifestRecord(digest, im.DOCKER_MANIFEST, 10, ((f"blob-{digest}", 5),), (),
                          datetime(2025, 5, day, tzinfo=timezone.utc))


def _repo() -> RepositoryState:
    """v1 (oldest), v2, v3 (newest), each its own digest."""
    return RepositoryState("mlrun/func-p-f", tags={"v1": "d1", "v2": "d2", "v3": "d3"},
                           manifests={"d1": _rec("d1", 1), "d2": _rec("d2", 2), "d3": _rec("d3", 3)})


# --- a use, by tag or by digest ------------------------------------------------------------------------

def test_a_use_by_tag_keeps_that_tag_and_no_other() -> None:
    use = ImageUse("mlrun/func-p-f", "v1", None, "MLRun function p/f")
    plan = plan_prune([_repo()], [use], RULES)
    actions = {d.tag: d.action for d in plan.decisions}
    assert actions == {"v1": "keep", "v2": "delete", "v3": "keep"}  # v3: the newest
    assert "used by MLRun function p/f" in next(d for d in plan.decisions if d.tag == "v1").reasons
    assert use_reaches(use, "v1", "d1") and not use_reaches(use, "v2", "d2")


def test_a_use_by_digest_keeps_that_digest_whatever_its_tag_and_says_so() -> None:
    use = ImageUse("mlrun/func-p-f", None, "d1", "Nuclio function f")
    plan = plan_prune([_repo()], [use], RULES)
    v1 = next(d for d in plan.decisions if d.tag == "v1")
    assert v1.action == "keep" and "used by Nuclio function f" in v1.reasons
    assert [d.digest for d in plan.deletions] == ["d2"]
    assert use_reaches(use, "anything", "d1") and not use_reaches(use, "v1", "d2")


# --- the re-check just before a delete -----------------------------------------------------------------

def test_the_recheck_protects_what_a_tag_outside_the_plan_reaches() -> None:
    manifests = {"d1": _rec("d1", 1), "dk": _rec("dk", 2)}
    # "keep" points at a digest the plan does not delete at all: it protects that digest, nothing else
    assert protected_by_tags({"keep": "dk", "old": "d1"}, {"d1": ("old",)}, manifests) == {"dk"}
    assert protected_by_tags({"new": "d1", "old": "d1"}, {"d1": ("old",)}, manifests) == {"d1"}


# --- ages from an image config's ``created`` -----------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("2025-05-01T10:00:00Z", datetime(2025, 5, 1, 10, tzinfo=timezone.utc)),
    ("2025-05-01T10:00:00z", datetime(2025, 5, 1, 10, tzinfo=timezone.utc)),  # Go accepts it; 3.11's parser does not
    ("2025-05-01T12:00:00+02:00", datetime(2025, 5, 1, 10, tzinfo=timezone.utc)),  # an offset is kept, not replaced
    ("2025-05-01T10:00:00", datetime(2025, 5, 1, 10, tzinfo=timezone.utc)),  # no zone: timezone.utc, never a naive date
    ("2025-05-01T10:00:00." + "1" * 43 + "Z", datetime(2025, 5, 1, 10, 0, 0, 111111, tzinfo=timezone.utc)),  # 64 chars
    ("2025-05-01T10:00:00." + "1" * 44 + "Z", None),  # 65 characters: refused
    ("1970-01-01T00:00:00Z", None),  # a reproducible build's epoch: no age
    (None, None), (1746093600, None), ("yesterday", None),
])
def test_created_dates_are_aware_and_bounded(value: object, expected: datetime | None) -> None:
    when = parse_created(value)
    assert when == expected
    assert when is None or when.tzinfo is not None


# --- what a Nuclio function runs ------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "prefixed"), [
    ({"image": "nuclio/processor-f:v1", "runRegistry": "reg.example.com:5000"},
     "reg.example.com:5000/nuclio/processor-f:v1"),
    ({"image": "nuclio/processor-f:v1", "runRegistry": "reg.example.com:5000/"},
     "reg.example.com:5000/nuclio/processor-f:v1"),  # the trailing slash is not doubled
    ({"image": "other.example.com/team/processor-f:v1", "runRegistry": "reg.example.com:5000"}, None),
    ({"image": "nuclio/processor-f:v1", "runRegistry": "/"}, None),
    ({"image": "nuclio/processor-f:v1"}, None),
    ({"image": "", "runRegistry": "reg.example.com:5000"}, None),
])
def test_a_nuclio_image_without_a_host_runs_from_run_registry(spec: dict[str, str], prefixed: str | None) -> None:
    images = nuclio_function_images({"metadata": {"name": "f"}, "spec": spec})
    extra = [i for i in images if i.startswith("reg.example.com:5000/") or i.startswith("/")]
    assert extra == ([prefixed] if prefixed else [])
    if spec["image"]:
        assert spec["image"] in images  # as written, too


@pytest.mark.parametrize("spec", ["reg.example.com/x:1", ["reg.example.com/x:1"], None])
def test_a_nuclio_function_whose_spec_is_not_an_object_is_read_without_error(spec: object) -> None:
    assert isinstance(nuclio_function_images({"metadata": {"name": "f"}, "spec": spec}), list)


# --- which registry an image reference names -----------------------------------------------------------

@pytest.mark.parametrize(("location", "image"), [
    (RegistryLocation("registry.example.com:443", "team"), "registry.example.com/team/app:v1"),  # default port
    (RegistryLocation("REGISTRY.example.com", "team"), "registry.example.com/team/app:v1"),  # any case
    (RegistryLocation("localhost", "team", True), "localhost:80/team/app:v1"),  # plain http: port 80
])
def test_an_image_on_the_same_registry_spelled_otherwise_is_a_use(location: RegistryLocation, image: str) -> None:
    use = image_use(image, "MLRun function p/f", location)
    assert use is not None and (use.repository, use.tag) == ("team/app", "v1")


def test_mlruns_dot_form_is_a_loose_use_of_the_path_it_names() -> None:
    use = image_use(".team/app:v2", "MLRun function p/f", RegistryLocation("registry.example.com", "team"))
    assert use is not None and (use.repository, use.tag, use.loose) == ("team/app", "v2", True)
    assert use.matches("team/app") and use.matches("mirror/team/app") and not use.matches("team/app2")
    assert image_use(".registry.example.com/team/app:v2", "f", RegistryLocation("registry.example.com", "")) is None


@pytest.mark.parametrize("image", [None, 42, "", "   ", ["registry.example.com/team/app:v1"]])
def test_what_is_not_an_image_reference_is_no_use(image: object) -> None:
    assert image_use(image, "f", RegistryLocation("registry.example.com", "team")) is None


def test_a_tag_whose_manifest_could_not_be_read_is_kept_and_says_why() -> None:
    repo = _repo()
    repo.manifests["d1"] = ManifestRecord("d1", None, 10, problem="kept: unsupported media type")
    repo.manifests.pop("d2")
    decisions = {d.tag: d for d in plan_prune([repo], [], RULES).decisions}
    assert decisions["v1"].action == "keep" and "kept: unsupported media type" in decisions["v1"].reasons
    assert decisions["v2"].action == "keep" and "manifest not read" in decisions["v2"].reasons


def _nested(image: str, wrappers: int) -> dict[str, object]:
    node: dict[str, object] = {"image": image}
    for _ in range(wrappers):
        node = {"child": node}
    return node


def test_images_nested_in_a_record_count_at_any_depth_up_to_the_cap() -> None:
    # record 0, spec 1, graph 2, step 3, steps 4, then the wrappers: the last image sits at depth 12, the cap
    steps = [_nested("registry.example.com/team/deep:v1", 7), _nested("registry.example.com/team/deeper:v1", 8)]
    record = {"spec": {"image": "registry.example.com/team/top:v1",
                       "graph": [{"image": "registry.example.com/team/first:v1"}, {"steps": steps}]}}
    found = mlrun_function_images(record)
    assert found == ["registry.example.com/team/top:v1", "registry.example.com/team/first:v1",
                     "registry.example.com/team/deep:v1"]  # one level deeper is past the cap


def test_an_image_named_without_a_tag_is_a_use_of_latest() -> None:
    location = RegistryLocation("registry.example.com", "team")
    use = image_use("registry.example.com/team/app", "Nuclio function f", location)
    assert use is not None and (use.tag, use.digest, use.source) == ("latest", None, "Nuclio function f")
    repo = RepositoryState("team/app", tags={"latest": "d1", "v2": "d2", "v3": "d3"},
                           manifests={"d1": _rec("d1", 1), "d2": _rec("d2", 2), "d3": _rec("d3", 3)})
    decisions = {d.tag: d for d in plan_prune([repo], [use], RULES).decisions}
    assert decisions["latest"].action == "keep" and "used by Nuclio function f" in decisions["latest"].reasons
    pinned = image_use(f"registry.example.com/team/app@sha256:{'a' * 64}", "f", location)
    assert pinned is not None and (pinned.tag, pinned.digest) == (None, f"sha256:{'a' * 64}")
