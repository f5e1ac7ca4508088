"""Prune's safety rules one at a time, against small fakes (no registry, no server): each rule that keeps
an image, refuses a run or refuses a restore, in seconds. The end-to-end proofs against a real registry
are in test_prune_safety.py; these are the fast ones mutation testing (scripts/mutation.sh) runs.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import types
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import pytest

from mlrun_registry_ext.clients.registry.client import DeniedError, UnsupportedError
from mlrun_registry_ext.clients.registry.errors import ListingError
from mlrun_registry_ext.core.prune_plan import ManifestDeletion, ManifestRecord
from mlrun_registry_ext.errors import RegistryAPIError, RegistryExtError
from mlrun_registry_ext.features.prune import delete, inventory, usage
from mlrun_registry_ext.features.prune.usage import UsageUnreadable

#: the module (the package's ``restore`` is the function of the same name)
restore = importlib.import_module("mlrun_registry_ext.features.prune.restore")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest_bytes(config: bytes, *layers: bytes) -> bytes:
    def desc(data: bytes, media_type: str) -> dict[str, Any]:
        return {"mediaType": media_type, "digest": sha(data), "size": len(data)}

    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": desc(config, "application/vnd.oci.image.config.v1+json"),
                       "layers": [desc(layer, "application/vnd.oci.image.layer.v1.tar+gzip") for layer in layers]},
                      sort_keys=True).encode()


def deletion(digest: str, *tags: str, repository: str = "repo") -> ManifestDeletion:
    return ManifestDeletion(repository, digest, OCI_MANIFEST, 10, tags, "old")


# --- usage: every page checked --------------------------------------------------------------------------

def record(image: Any = "r/x:1") -> dict[str, Any]:
    return {"metadata": {"name": "f", "project": "p"}, "spec": {"image": image}}


@pytest.mark.parametrize("bad", [
    "not an object",
    {"metadata": "x"}, {"spec": []}, {"status": 3},
    {"spec": {"build": "x"}},
    {"spec": {"image": 5}}, {"spec": {"build": {"image": ["a"]}}}, {"status": {"container_image": {}}},
    {"metadata": {"name": 1}},
])
def test_a_function_record_of_the_wrong_shape_refuses_the_prune(bad: Any) -> None:
    with pytest.raises(UsageUnreadable, match="nothing was deleted"):
        usage.check_record(bad, usage.MLRUN_FIELDS, "here")


def test_a_well_formed_function_record_is_read() -> None:
    good = {"metadata": {"name": "f", "project": "p", "tag": None}, "spec": {"image": "r/x:1", "build": None},
            "status": {"container_image": "r/y:2"}}
    assert usage.check_record(good, usage.MLRUN_FIELDS, "here") is good
    assert usage.check_record({"spec": None}, usage.MLRUN_FIELDS, "here") == {"spec": None}


@pytest.mark.parametrize("bad", [None, [], {}, {"projects": "p"}, {"projects": ["p", 1]}, {"projects": ["p", ""]}])
def test_a_project_listing_of_the_wrong_shape_refuses_the_prune(bad: Any) -> None:
    with pytest.raises(UsageUnreadable, match="project"):
        usage.check_projects_page(bad, "here")


def test_a_project_listing_names_every_project() -> None:
    assert usage.check_projects_page({"projects": ["a", "b"]}, "here") == ["a", "b"]
    assert usage.check_projects_page({"projects": []}, "here") == []


@pytest.mark.parametrize("bad", [
    None, {}, {"funcs": {}}, {"funcs": [1]},
    {"funcs": [], "pagination": "x"},
    {"funcs": [], "pagination": {"page-token": 5}},
    {"funcs": [], "pagination": {"page-token": ""}},
])
def test_a_function_page_of_the_wrong_shape_refuses_the_prune(bad: Any) -> None:
    with pytest.raises(UsageUnreadable, match="nothing was deleted"):
        usage.check_functions_page(bad, "here", 2)


def test_a_page_shorter_than_its_token_claims_refuses_the_prune() -> None:
    with pytest.raises(UsageUnreadable, match="1 records on a page of 2"):
        usage.check_functions_page({"funcs": [record()], "pagination": {"page-token": "t", "page-size": 2}},
                                   "here", 2)
    # the page size the server claims wins over the one asked for; a nonsense claim falls back to it
    with pytest.raises(UsageUnreadable, match="2 records on a page of 3"):
        usage.check_functions_page({"funcs": [record()] * 2, "pagination": {"page-token": "t", "page-size": 3}},
                                   "here", 1)
    for claim in (0, -1, True, "2", None):
        with pytest.raises(UsageUnreadable, match="1 records on a page of 2"):
            usage.check_functions_page({"funcs": [record()], "pagination": {"page-token": "t", "page-size": claim}},
                                       "here", 2)


def test_a_full_page_with_a_token_continues_and_a_page_without_one_is_the_last() -> None:
    funcs = [record(), record()]
    assert usage.check_functions_page({"funcs": funcs, "pagination": {"page-token": "t", "page-size": 2}},
                                      "here", 5) == (funcs, "t")
    assert usage.check_functions_page({"funcs": funcs, "pagination": {"page-token": "t"}}, "here", 2) == (funcs, "t")
    assert usage.check_functions_page({"funcs": funcs, "pagination": {"page-token": None}}, "here", 9) == (funcs, None)
    assert usage.check_functions_page({"funcs": funcs}, "here", 9) == (funcs, None)


def test_a_nuclio_listing_of_the_wrong_shape_refuses_the_prune() -> None:
    bad: Any
    for bad in ([], "x", {"f": 1}, {"f": {"spec": {"image": 3}}}, {"f": {"spec": {"runRegistry": []}}}):
        with pytest.raises(UsageUnreadable, match="nothing was deleted"):
            usage.check_nuclio_listing(bad, "here")
    good = {"f": {"spec": {"image": "r/x:1"}}}
    assert usage.check_nuclio_listing(good, "here") == good


class FakeResponse:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code = status
        self.body = body

    def json(self) -> Any:
        if isinstance(self.body, bytes):
            raise ValueError("not JSON")
        return self.body


class FakeTransport:
    """Answers GETs from a map url -> (status, body); anything else is a transport error."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def request(self, method: str, url: str, **_: Any) -> FakeResponse:
        from mlrun_registry_ext.clients.transport import TransportError

        self.asked.append(url)
        if url not in self.answers:
            raise TransportError("no answer")
        status, body = self.answers[url]
        return FakeResponse(status, body)


def serve(monkeypatch: pytest.MonkeyPatch, answers: dict[str, Any]) -> FakeTransport:
    transport = FakeTransport(answers)

    @contextmanager
    def fake(_: float) -> Any:
        yield transport

    monkeypatch.setattr(usage, "platform_transport", fake)
    return transport


DB = "http://mlrun"
PROJECTS = f"{DB}/api/v1/projects?format=name_only"
FIRST = f"{DB}/api/v1/projects/p/functions?format=full&page=1&page-size=2"
SECOND = f"{DB}/api/v1/projects/p/functions?page-token=t%2F1"


def test_every_page_of_every_project_is_read_until_the_token_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, c = record("r/a:1"), record("r/b:1"), record("r/c:1")
    transport = serve(monkeypatch, {
        PROJECTS: (200, {"projects": ["p"]}),
        FIRST: (200, {"funcs": [a, b], "pagination": {"page-token": "t/1", "page-size": 2}}),
        SECOND: (200, {"funcs": [c], "pagination": {"page-token": None}}),
    })
    assert usage.mlrun_projects_and_functions(DB, page_size=2) == (["p"], [a, b, c])
    assert transport.asked == [PROJECTS, FIRST, SECOND]


@pytest.mark.parametrize("second", [(404, {"detail": "expired"}), (500, {}), (200, b"<html>"), (199, {}),
                                    (300, {"funcs": []}), None])
def test_a_failed_next_page_refuses_the_prune(monkeypatch: pytest.MonkeyPatch, second: Any) -> None:
    answers = {PROJECTS: (200, {"projects": ["p"]}),
               FIRST: (200, {"funcs": [record(), record()], "pagination": {"page-token": "t/1", "page-size": 2}})}
    if second is not None:
        answers[SECOND] = second
    serve(monkeypatch, answers)
    with pytest.raises(UsageUnreadable, match=r"page 2\).*nothing was deleted"):
        usage.mlrun_projects_and_functions(DB, page_size=2)


def test_a_listing_past_its_page_cap_refuses_the_prune(monkeypatch: pytest.MonkeyPatch) -> None:
    endless = {"funcs": [record()], "pagination": {"page-token": "t/1", "page-size": 1}}
    serve(monkeypatch, {PROJECTS: (200, {"projects": ["p"]}),
                        f"{DB}/api/v1/projects/p/functions?format=full&page=1&page-size=1": (200, endless),
                        SECOND: (200, endless)})
    monkeypatch.setattr(usage, "MAX_PAGES", 3)
    with pytest.raises(UsageUnreadable, match="more than 3 pages"):
        usage.mlrun_projects_and_functions(DB, page_size=1)


def test_the_nuclio_listing_protects_every_image_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlrun_registry_ext.core.service import RegistryService

    location = RegistryService(name="r", url="registry.example:5000").location
    serve(monkeypatch, {"http://nuclio/api/functions": (200, {"f": {"spec": {"image": "registry.example:5000/a:1"}}})})
    uses = usage.nuclio_uses("http://nuclio", location)
    assert [(u.repository, u.tag, u.source) for u in uses] == [("a", "1", "Nuclio function f")]
    serve(monkeypatch, {"http://nuclio/api/functions": (502, {})})
    with pytest.raises(UsageUnreadable, match="HTTP 502"):
        usage.nuclio_uses("http://nuclio", location)


# --- delete: re-check, stop on refusal, failures reported as failed ---------------------------------------

class FakeClient:
    def __init__(self, refuse: set[str], fail: set[str], gone: set[str]) -> None:
        self.refuse, self.fail, self.gone = refuse, fail, gone
        self.deleted: list[str] = []

    def delete_manifest(self, repository: str, digest: str) -> bool:
        if digest in self.refuse:
            raise UnsupportedError("the registry does not allow deletes")
        if digest in self.fail:
            raise RegistryAPIError("HTTP 500")
        self.deleted.append(digest)
        return digest not in self.gone


class FakeEndpoint:
    """Tags -> digests per repository as the registry holds them now."""

    def __init__(self, tags: dict[str, dict[str, str]], refuse: set[str] = frozenset(),  # type: ignore[assignment]
                 fail: set[str] = frozenset(), gone: set[str] = frozenset(),  # type: ignore[assignment]
                 unreadable: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.tag_map = tags
        self.client = FakeClient(set(refuse), set(fail), set(gone))
        self.unreadable = unreadable

    def tags(self, repository: str) -> list[str]:
        if repository in self.unreadable:
            raise RegistryAPIError("HTTP 500 on tags/list")
        return list(self.tag_map.get(repository, {}))

    def manifest_digest(self, repository: str, tag: str) -> str | None:
        return self.tag_map.get(repository, {}).get(tag)

    def delete_manifest(self, repository: str, digest: str) -> bool:
        return self.client.delete_manifest(repository, digest)


def known(*digests: str, children: dict[str, tuple[str, ...]] | None = None) -> dict[str, ManifestRecord]:
    children = children or {}
    return {d: ManifestRecord(d, OCI_MANIFEST, 10, children=children.get(d, ())) for d in digests}


D1, D2, D3, D4 = (sha(bytes([i])) for i in range(4))
PUSHED = datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_a_digest_a_surviving_tag_reaches_at_delete_time_is_skipped_not_deleted() -> None:
    # "keep" was re-pointed at D1 after the plan; "new" was added on D3's index child D2
    endpoint = FakeEndpoint({"repo": {"old": D1, "keep": D1, "new": D3, "gone": D4}})
    items = [deletion(D1, "old"), deletion(D2), deletion(D4, "gone")]
    warnings = delete.delete_http(endpoint, items, {"repo": known(D1, D2, D3, D4, children={D3: (D2,)})})  # type: ignore[arg-type]
    assert warnings == []
    assert [i.status for i in items] == ["skipped", "skipped", "deleted"]
    assert "re-checked" in str(items[0].error)
    assert endpoint.client.deleted == [D4]


def test_a_repository_whose_tags_cannot_be_read_again_is_kept_whole() -> None:
    endpoint = FakeEndpoint({"repo": {}, "other": {}}, unreadable={"repo"})
    items = [deletion(D1), deletion(D2, repository="other")]
    warnings = delete.delete_http(endpoint, items, {}, jobs=1)  # type: ignore[arg-type]
    assert [i.status for i in items] == ["skipped", "deleted"]
    assert warnings == ["repo: the tags could not be read again before deleting; kept (HTTP 500 on tags/list)"]
    assert endpoint.client.deleted == [D2]


def test_a_refused_delete_stops_the_run_and_keeps_everything_not_yet_sent() -> None:
    endpoint = FakeEndpoint({"a": {}, "b": {}}, refuse={D2})
    items = [deletion(D1, repository="a"), deletion(D2, repository="a"), deletion(D3, repository="a"),
             deletion(D4, repository="b")]
    warnings = delete.delete_http(endpoint, items, {}, jobs=1)  # type: ignore[arg-type]
    assert [i.status for i in items] == ["deleted", "kept", "kept", "kept"]
    assert endpoint.client.deleted == [D1]
    assert len(warnings) == 1 and warnings[0].startswith("the registry refused a delete, nothing more was deleted")
    assert items[1].error and "does not allow" in items[1].error


def test_a_failed_delete_is_reported_failed_and_an_absent_one_gone() -> None:
    endpoint = FakeEndpoint({"repo": {}}, fail={D1}, gone={D2})
    items = [deletion(D1), deletion(D2), deletion(D3)]
    ticks: list[int] = []
    warnings = delete.delete_http(endpoint, items, {}, tick=lambda: ticks.append(1))  # type: ignore[arg-type]
    assert [i.status for i in items] == ["failed", "gone", "deleted"]
    assert items[0].error == "HTTP 500"
    assert warnings == [] and len(ticks) == 3


def test_a_denied_delete_also_stops_the_run() -> None:
    endpoint = FakeEndpoint({"repo": {}})

    def deny(repository: str, digest: str) -> bool:
        raise DeniedError("denied")

    endpoint.client.delete_manifest = deny  # type: ignore[method-assign]
    items = [deletion(D1), deletion(D2)]
    delete.delete_http(endpoint, items, {})  # type: ignore[arg-type]
    assert [i.status for i in items] == ["kept", "kept"]


class FakeEcr:
    """ECR's DescribeImages / BatchGetImage / BatchDeleteImage over {repository: {digest: [tags]}}."""

    def __init__(self, images: dict[str, dict[str, list[str]]], refuse: bool = False,
                 failures: dict[str, str] | None = None, unconfirmed: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.images = images
        self.refuse = refuse
        self.failures = failures or {}
        self.unconfirmed = unconfirmed
        self.calls: list[tuple[str, list[str]]] = []

    def get_paginator(self, operation: str) -> Any:
        ecr = self

        class Pager:
            def paginate(self, repositoryName: str | None = None, **_: Any) -> Any:
                if operation == "describe_repositories":
                    return [{"repositories": [{"repositoryName": n} for n in ecr.images]}]
                return [{"imageDetails": [{"imageDigest": d, "imageTags": t, "imagePushedAt": PUSHED}
                                          for d, t in ecr.images[str(repositoryName)].items()]}]

        return Pager()

    def batch_get_image(self, repositoryName: str, imageIds: list[dict[str, str]], **_: Any) -> dict[str, Any]:
        raw = manifest_bytes(b"{}")
        return {"images": [{"imageId": i, "imageManifest": raw.decode(), "imageManifestMediaType": OCI_MANIFEST}
                           for i in imageIds]}

    def batch_delete_image(self, repositoryName: str, imageIds: list[dict[str, str]]) -> dict[str, Any]:
        digests = [i["imageDigest"] for i in imageIds]
        self.calls.append((repositoryName, digests))
        if self.refuse:
            error = Exception("AccessDenied")
            error.response = {"Error": {"Code": "AccessDeniedException"}}  # type: ignore[attr-defined]
            raise error
        return {"imageIds": [{"imageDigest": d} for d in digests
                             if d not in self.failures and d not in self.unconfirmed],
                "failures": [{"imageId": {"imageDigest": d}, "failureCode": code, "failureReason": "why"}
                             for d, code in self.failures.items() if d in digests]}


def test_on_ecr_a_dry_run_deletes_nothing_and_writes_no_restore_file(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Any) -> None:
    import mlrun_registry_ext.features.prune as prune_package
    from mlrun_registry_ext.core.service import RegistryService

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(prune_package, "_usage", lambda *_: ([], [], []))
    ecr = FakeEcr({"repo": {D1: ["v1"], D2: ["v2"]}})
    monkeypatch.setattr(prune_package.aws, "client", lambda *_: ecr)
    service = RegistryService(name="ecr", url="123456789012.dkr.ecr.us-east-1.amazonaws.com")
    report = prune_package.run_prune(service, keep=0, min_age="0s", dry_run=True, progress=False)
    assert sorted(d.digest for d in report.plan.deletions) == sorted([D1, D2])
    assert {d.status for d in report.plan.deletions} == {"planned"}
    assert ecr.calls == [] and report.restore_file is None and list(tmp_path.iterdir()) == []
    report = prune_package.run_prune(service, keep=0, min_age="0s", dry_run=False, progress=False,
                                     restore_file=tmp_path / "undo.json")
    assert {d.status for d in report.plan.deletions} == {"deleted"}
    assert sorted(ecr.calls[0][1]) == sorted([D1, D2]) and report.restore_file == str(tmp_path / "undo.json")


def test_on_ecr_a_digest_a_surviving_tag_reaches_is_skipped() -> None:
    ecr = FakeEcr({"repo": {D1: ["old", "keep"], D2: []}})
    items = [deletion(D1, "old"), deletion(D2)]
    assert delete.delete_ecr(ecr, items, {"repo": known(D1, D2)}) == []
    assert [i.status for i in items] == ["skipped", "deleted"]
    assert ecr.calls == [("repo", [D2])]


def test_on_ecr_a_refused_batch_delete_stops_the_run() -> None:
    ecr = FakeEcr({"a": {D1: []}, "b": {D2: []}}, refuse=True)
    items = [deletion(D1, repository="a"), deletion(D2, repository="b")]
    warnings = delete.delete_ecr(ecr, items, {"a": known(D1), "b": known(D2)})
    assert [i.status for i in items] == ["kept", "kept"]
    assert ecr.calls == [("a", [D1])]
    assert warnings == ["ECR refused BatchDeleteImage on a (AccessDeniedException); nothing more was deleted"]
    assert items[0].error == "ecr:BatchDeleteImage refused (AccessDeniedException)"


def test_on_ecr_a_refused_batch_keeps_the_later_batches_of_its_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delete, "ECR_BATCH", 1)
    ecr = FakeEcr({"a": {D1: [], D2: []}}, refuse=True)
    items = [deletion(D1, repository="a"), deletion(D2, repository="a")]
    delete.delete_ecr(ecr, items, {"a": known(D1, D2)})
    assert [i.status for i in items] == ["kept", "kept"]
    assert ecr.calls == [("a", [D1])]


def test_on_ecr_an_unconfirmed_or_failed_delete_is_reported_failed() -> None:
    ecr = FakeEcr({"repo": {D1: [], D2: [], D3: [], D4: []}},
                  failures={D1: "ImageNotFound", D2: "InvalidImageDigest"}, unconfirmed={D3})
    items = [deletion(D1), deletion(D2), deletion(D3), deletion(D4)]
    assert delete.delete_ecr(ecr, items, {"repo": known(D1, D2, D3, D4)}) == []
    assert [i.status for i in items] == ["gone", "failed", "failed", "deleted"]
    assert items[1].error == "InvalidImageDigest: why"
    assert items[2].error == "ECR did not confirm the delete"


def test_on_ecr_a_repository_whose_images_cannot_be_listed_again_is_kept() -> None:
    ecr = FakeEcr({"b": {D2: []}})
    items = [deletion(D1, repository="a"), deletion(D2, repository="b")]
    warnings = delete.delete_ecr(ecr, items, {})
    assert [i.status for i in items] == ["skipped", "deleted"]
    assert warnings == ["a: the tags could not be read again before deleting; kept"]


# --- restore: nothing written when something is missing; every tag read back ----------------------------

CONFIG, LAYER = b'{"created": "2025-01-01T00:00:00Z"}', b"layer"
RAW = manifest_bytes(CONFIG, LAYER)
DIGEST = sha(RAW)


def entry(*tags: str) -> Any:
    return restore.RestoreEntry("repo", DIGEST, OCI_MANIFEST, RAW, tags)


class FakeRestoreEndpoint:
    def __init__(self, blobs: set[str], serve_as: str | None = None) -> None:
        self.blobs = blobs
        self.serve_as = serve_as
        self.put: list[str] = []
        self.tags: dict[str, str] = {}

    def blob_exists(self, repository: str, digest: str) -> bool:
        assert repository == "repo"
        return digest in self.blobs

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        assert repository == "repo"
        return self.tags.get(reference)

    host = "registry.test"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The PUT that ``transfer.put_manifest`` sends: the manifest bytes under a tag or a digest."""
        assert method == "PUT"
        repository, reference = path.removeprefix("/v2/").split("/manifests/")
        assert repository == "repo"
        self.put.append(reference)
        self.tags[reference] = self.serve_as or sha(kwargs["content"])
        return types.SimpleNamespace(headers={})  # no Docker-Content-Digest: the tags are read back


def test_restore_writes_nothing_when_a_blob_is_gone() -> None:
    endpoint = FakeRestoreEndpoint({sha(CONFIG)})
    with pytest.raises(RegistryExtError, match=r"nothing was written: 1 blobs or manifests are gone.*" + sha(LAYER)):
        restore.restore_http(endpoint, [entry("v1")])
    assert endpoint.put == []


def test_restore_puts_the_manifest_and_its_tags_back_and_reads_them_back() -> None:
    endpoint = FakeRestoreEndpoint({sha(CONFIG), sha(LAYER)})
    assert restore.restore_http(endpoint, [entry("v1", "v2")]) == (1, ["repo:v1", "repo:v2"])
    assert endpoint.put == [DIGEST, "v1", "v2"]


def test_restore_fails_when_a_tag_reads_back_as_another_digest() -> None:
    endpoint = FakeRestoreEndpoint({sha(CONFIG), sha(LAYER)}, serve_as=D1)
    with pytest.raises(RegistryAPIError, match=f"repo:v1 reads back as {D1}"):
        restore.restore_http(endpoint, [entry("v1")])


def test_restore_of_an_index_needs_its_children_that_are_not_in_the_file() -> None:
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [{"mediaType": OCI_MANIFEST, "digest": DIGEST, "size": len(RAW)}]}).encode()
    parent = restore.RestoreEntry("repo", sha(index), "application/vnd.oci.image.index.v1+json", index, ("v1",))
    endpoint = FakeRestoreEndpoint(set())
    with pytest.raises(RegistryExtError, match=f"repo@{DIGEST}"):
        restore.restore_http(endpoint, [parent])
    assert endpoint.put == []
    # with the child in the file, its blobs are what is needed, and the child goes back first
    endpoint = FakeRestoreEndpoint({sha(CONFIG), sha(LAYER)})
    restore.restore_http(endpoint, [parent, entry()])
    assert endpoint.put[:2] == [DIGEST, sha(index)]


def test_a_restore_file_whose_manifest_does_not_match_its_digest_is_refused(tmp_path: Any) -> None:
    from mlrun_registry_ext.errors import ConfigError

    good = {"repository": "repo", "digest": DIGEST, "media_type": OCI_MANIFEST,
            "manifest": base64.b64encode(RAW).decode(), "tags": ["v1"]}
    path = tmp_path / "restore.json"

    def write(*entries: dict[str, Any]) -> str:
        path.write_text(json.dumps({"format": restore.FORMAT, "version": restore.VERSION, "registry": "r:5000",
                                    "manifests": list(entries)}))
        return str(path)

    assert restore.read_restore_file(write(good)) == ("r:5000", [entry("v1")])
    with pytest.raises(ConfigError, match="does not match its digest"):
        restore.read_restore_file(write(dict(good, manifest=base64.b64encode(RAW + b" ").decode())))


# --- inventory: what cannot be read is kept, a broken listing stops the run --------------------------------

class FakeInventoryEndpoint:
    def __init__(self, tags: list[str], unreadable_tags: set[str] = frozenset(),  # type: ignore[assignment]
                 listing: Exception | None = None) -> None:
        self.tag_names = tags
        self.unreadable_tags = unreadable_tags
        self.listing = listing
        self.client = None

    def tags(self, name: str) -> list[str]:
        if self.listing is not None:
            raise self.listing
        return self.tag_names

    def get_manifest(self, name: str, reference: str) -> tuple[bytes, str]:
        if reference in self.unreadable_tags:
            raise RegistryAPIError("HTTP 500")
        return RAW, OCI_MANIFEST


def test_an_unreadable_tag_keeps_its_repository() -> None:
    reader = inventory.HttpInventory(FakeInventoryEndpoint(["v1", "v2"], {"v2"}), jobs=1)  # type: ignore[arg-type]
    reader._created = lambda *_: None  # type: ignore[method-assign]
    state = reader.read("repo")
    assert state.problem == "tag v2 could not be read (HTTP 500)"
    assert state.tags == {"v1": DIGEST}


def test_a_repository_whose_tags_cannot_be_listed_is_kept_and_a_runaway_listing_stops_the_run() -> None:
    reader = inventory.HttpInventory(FakeInventoryEndpoint([], listing=RegistryAPIError("HTTP 500")))  # type: ignore[arg-type]
    state = reader.read("repo")
    assert state.problem == "the repository could not be listed (HTTP 500)"
    runaway = ListingError("too many pages", limit="pages", host="r")
    reader = inventory.HttpInventory(FakeInventoryEndpoint([], listing=runaway))  # type: ignore[arg-type]
    with pytest.raises(ListingError):
        reader.read("repo")


def test_an_ecr_listing_that_fails_or_names_an_image_without_a_digest_refuses_the_prune() -> None:
    class Broken(FakeEcr):
        def get_paginator(self, operation: str) -> Any:
            raise RuntimeError("throttled")

    with pytest.raises(RegistryExtError, match=r"ECR DescribeRepositories failed \(RuntimeError\); nothing was"):
        inventory.EcrInventory(Broken({})).repositories()
    with pytest.raises(RegistryExtError, match=r"ECR DescribeImages on a failed"):
        inventory.EcrInventory(Broken({})).describe("a")
    for bad in ({"imageTags": ["x"]}, {"imageDigest": 5}, {"imageDigest": D1, "imageTags": "x"}, "x"):
        ecr = FakeEcr({"a": {}})
        pager = type("P", (), {"paginate": lambda self, bad=bad, **_: [{"imageDetails": [bad]}]})()
        ecr.get_paginator = lambda _op, pager=pager: pager  # type: ignore[method-assign,misc]
        with pytest.raises(RegistryExtError, match="without a digest; nothing was deleted"):
            inventory.EcrInventory(ecr).describe("a")
    assert inventory.EcrInventory(FakeEcr({"b": {}, "a": {D1: ["v1"]}})).repositories() == ["a", "b"]
    assert inventory.EcrInventory(FakeEcr({"a": {D1: ["v1"]}})).describe("a") == [
        {"imageDigest": D1, "imageTags": ["v1"], "imagePushedAt": PUSHED}]


# --- what mutation testing found the tests above did not yet pin down -------------------------------------

def test_a_record_section_or_build_that_is_not_an_object_is_refused_even_when_no_field_of_it_is_read() -> None:
    for section in ("metadata", "spec", "status"):
        with pytest.raises(UsageUnreadable, match=f"^here holds a function record whose {section} is not an object"):
            usage.check_record({section: "x"}, (), "here")
    with pytest.raises(UsageUnreadable, match=r"^here holds a function record whose spec.build is not an object"):
        usage.check_record({"spec": {"build": "x"}}, (), "here")
    assert usage.check_record({"spec": {"build": {"image": "r/x:1"}}}, (), "here")
    # any depth of a field path: a non-object on the way is a wrong type, not an absent field
    with pytest.raises(UsageUnreadable, match=r"^here holds a function record whose metadata.labels.app is not a"):
        usage.check_record({"metadata": {"labels": "x"}}, ("metadata.labels.app",), "here")
    with pytest.raises(UsageUnreadable, match=r"^here holds a function record that is not an object \(list\)"):
        usage.check_record([], (), "here")


def test_refusals_name_the_page_and_the_function_that_could_not_be_read() -> None:
    with pytest.raises(UsageUnreadable, match=r"^page 3 answered without a 'funcs' list"):
        usage.check_functions_page({}, "page 3", 1)
    with pytest.raises(UsageUnreadable, match=r"^page 3 holds a function record whose spec.image is not a string"):
        usage.check_functions_page({"funcs": [record(5)]}, "page 3", 1)
    with pytest.raises(UsageUnreadable, match=r"^page 3 answered with a 'pagination' that is not an object"):
        usage.check_functions_page({"funcs": [], "pagination": []}, "page 3", 1)
    with pytest.raises(UsageUnreadable, match=r"^dash answered without a function map"):
        usage.check_nuclio_listing([], "dash")
    with pytest.raises(UsageUnreadable, match=r"^dash \(f\) holds a function record whose spec.image"):
        usage.check_nuclio_listing({"f": {"spec": {"image": 3}}}, "dash")


@pytest.mark.parametrize("token", [5, "", ["t"]])
def test_a_full_page_with_a_token_that_is_not_a_string_refuses_the_prune(token: Any) -> None:
    with pytest.raises(UsageUnreadable, match="page token that is not a string"):
        usage.check_functions_page({"funcs": [record()], "pagination": {"page-token": token, "page-size": 1}},
                                   "here", 1)


def test_a_server_that_claims_pages_of_one_is_believed() -> None:
    page = {"funcs": [record()], "pagination": {"page-token": "t", "page-size": 1}}
    assert usage.check_functions_page(page, "here", 5) == ([record()], "t")


def test_a_listing_of_exactly_the_page_and_record_caps_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    page = {"funcs": [record()], "pagination": {"page-token": "t/1", "page-size": 1}}
    last = {"funcs": [record()], "pagination": {"page-token": None}}
    serve(monkeypatch, {PROJECTS: (200, {"projects": ["p"]}),
                        f"{DB}/api/v1/projects/p/functions?format=full&page=1&page-size=1": (200, page),
                        SECOND: (200, last)})
    monkeypatch.setattr(usage, "MAX_PAGES", 2)
    monkeypatch.setattr(usage, "MAX_RECORDS", 2)
    assert len(usage.mlrun_projects_and_functions(DB, page_size=1)[1]) == 2
    monkeypatch.setattr(usage, "MAX_RECORDS", 1)
    with pytest.raises(UsageUnreadable, match="1 function records"):
        usage.mlrun_projects_and_functions(DB, page_size=1)


def test_every_listing_request_is_a_bounded_get_with_the_mlrun_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlrun_registry_ext.clients.transport import Deadline

    monkeypatch.setattr(usage, "mlrun_headers", lambda: {"X-Canary": "1"})
    transport = serve(monkeypatch, {PROJECTS: (200, {"projects": ["a/b"]}),
                                    f"{DB}/api/v1/projects/a%2Fb/functions?format=full&page=1&page-size=2":
                                        (200, {"funcs": []})})
    seen: list[tuple[str, dict[str, Any]]] = []
    original = transport.request

    def request(method: str, url: str, **kwargs: Any) -> FakeResponse:
        seen.append((method, kwargs))
        return original(method, url, **kwargs)

    transport.request = request  # type: ignore[method-assign]
    assert usage.mlrun_projects_and_functions(DB, page_size=2) == (["a/b"], [])
    assert [m for m, _ in seen] == ["GET", "GET"]
    for _, kwargs in seen:
        assert kwargs["headers"] == {"X-Canary": "1"} and kwargs["max_body"] == usage.MAX_PAGE_BYTES
        assert isinstance(kwargs["deadline"], Deadline)


def test_an_oversized_or_unanswered_page_refuses_the_prune_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlrun_registry_ext.clients.transport import BodyTooLarge

    transport = serve(monkeypatch, {})

    def too_large(method: str, url: str, **_: Any) -> FakeResponse:
        raise BodyTooLarge("big")

    transport.request = too_large  # type: ignore[method-assign]
    with pytest.raises(UsageUnreadable, match=r"^the MLRun API at http://mlrun \(GET /api/v1/projects\) answered "
                                              r"more than 64 MiB"):
        usage.mlrun_projects_and_functions(DB)
    serve(monkeypatch, {})
    with pytest.raises(UsageUnreadable, match=r"/projects\) did not answer \(TransportError\)"):
        usage.mlrun_projects_and_functions(DB)


class IndexEndpoint(FakeEndpoint):
    """Also serves manifests by digest: an index pushed after the plan."""

    def __init__(self, tags: dict[str, dict[str, str]], manifests: dict[str, bytes], **kwargs: Any) -> None:
        super().__init__(tags, **kwargs)
        self.manifests = manifests
        self.read: list[tuple[str, str]] = []

    def get_manifest(self, repository: str, digest: str) -> tuple[bytes, str]:
        self.read.append((repository, digest))
        return self.manifests[digest], "application/vnd.oci.image.index.v1+json"


def index_of(*children: str) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": [{"mediaType": OCI_MANIFEST, "digest": c, "size": 10} for c in children]}).encode()


def test_an_index_tagged_after_the_plan_protects_the_images_it_points_to() -> None:
    index = index_of(D1)
    endpoint = IndexEndpoint({"repo": {"multi": sha(index)}}, {sha(index): index})
    items = [deletion(D1), deletion(D2)]
    delete.delete_http(endpoint, items, {"repo": known(D1, D2)})  # type: ignore[arg-type]
    assert [i.status for i in items] == ["skipped", "deleted"]
    assert endpoint.read == [("repo", sha(index))]


def test_skipped_and_kept_deletions_say_why() -> None:
    endpoint = FakeEndpoint({"repo": {"keep": D1}, "bad": {}}, unreadable={"bad"})
    items = [deletion(D1), deletion(D2, repository="bad")]
    delete.delete_http(endpoint, items, {"repo": known(D1)}, jobs=1)  # type: ignore[arg-type]
    assert items[0].error == "a tag not planned for deletion reaches it now (re-checked before deleting)"
    assert items[1].error == "the re-check before deleting failed (HTTP 500 on tags/list)"


def test_after_a_refused_delete_every_later_deletion_of_the_repository_is_kept() -> None:
    endpoint = FakeEndpoint({"a": {}}, refuse={D1})
    deleted: list[tuple[str, str]] = []
    original = endpoint.client.delete_manifest

    def recording(repository: str, digest: str) -> bool:
        deleted.append((repository, digest))
        return original(repository, digest)

    endpoint.client.delete_manifest = recording  # type: ignore[method-assign]
    items = [deletion(D1, repository="a"), deletion(D2, repository="a"), deletion(D3, repository="a")]
    delete.delete_http(endpoint, items, {}, jobs=1)  # type: ignore[arg-type]
    assert [i.status for i in items] == ["kept", "kept", "kept"]
    assert deleted == [("a", D1)]


class IndexEcr(FakeEcr):
    def __init__(self, images: dict[str, dict[str, list[str]]], manifests: dict[str, bytes],
                 missing: set[str] = frozenset(), **kwargs: Any) -> None:  # type: ignore[assignment]
        super().__init__(images, **kwargs)
        self.manifests = manifests
        self.missing = missing
        self.got: list[dict[str, Any]] = []

    def batch_get_image(self, repositoryName: str, imageIds: list[dict[str, str]], **kwargs: Any) -> dict[str, Any]:
        self.got.append(dict(kwargs, repositoryName=repositoryName, imageIds=imageIds))
        ids = [i["imageDigest"] for i in imageIds]
        return {"images": [{"imageId": {"imageDigest": d}, "imageManifest": self.manifests[d].decode(),
                            "imageManifestMediaType": "application/vnd.oci.image.index.v1+json"}
                           for d in ids if d not in self.missing],
                "failures": [{"imageId": {"imageDigest": d}, "failureCode": "ImageNotFound"}
                             for d in ids if d in self.missing]}


def test_on_ecr_an_index_tagged_after_the_plan_protects_the_images_it_points_to() -> None:
    index = index_of(D1)
    ecr = IndexEcr({"repo": {sha(index): ["multi"], D1: [], D2: []}}, {sha(index): index})
    items = [deletion(D1), deletion(D2)]
    assert delete.delete_ecr(ecr, items, {"repo": known(D1, D2)}) == []
    assert [i.status for i in items] == ["skipped", "deleted"]
    assert ecr.got == [{"repositoryName": "repo", "acceptedMediaTypes": inventory.EcrInventory.ACCEPT,
                        "imageIds": [{"imageDigest": sha(index)}]}]


def test_on_ecr_a_manifest_the_re_check_cannot_read_keeps_its_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    index = index_of(D1)
    ecr = IndexEcr({"repo": {sha(index): ["multi"], D2: []}}, {}, missing={sha(index)})
    items = [deletion(D2)]
    assert delete.delete_ecr(ecr, items, {"repo": known(D2)}) == [
        "repo: the tags could not be read again before deleting; kept"]
    assert items[0].status == "skipped" and items[0].error == "the re-check before deleting failed (RegistryExtError)"
    # more unknown manifests than one BatchGetImage takes: every one is read, in batches
    monkeypatch.setattr(delete, "ECR_BATCH", 2)
    indexes = [index_of(c) for c in (D1, D2, D3)]
    ecr = IndexEcr({"repo": {sha(i): [f"t{n}"] for n, i in enumerate(indexes)}}, {sha(i): i for i in indexes})
    items = [deletion(D1), deletion(D2), deletion(D3)]
    delete.delete_ecr(ecr, items, {"repo": known(D1, D2, D3)})
    assert [i.status for i in items] == ["skipped", "skipped", "skipped"]
    assert [len(g["imageIds"]) for g in ecr.got] == [2, 1]


def test_on_ecr_a_refusal_keeps_every_later_repository_and_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delete, "ECR_BATCH", 1)
    ecr = FakeEcr({"a": {D1: [], D2: [], D3: []}, "b": {D4: []}, "c": {D4: []}}, refuse=True)
    items = [deletion(D1, repository="a"), deletion(D2, repository="a"), deletion(D3, repository="a"),
             deletion(D4, repository="b"), deletion(D4, repository="c")]
    delete.delete_ecr(ecr, items, {"a": known(D1, D2, D3), "b": known(D4), "c": known(D4)})
    assert [i.status for i in items] == ["kept"] * 5
    assert ecr.calls == [("a", [D1])]


def test_on_ecr_deletes_go_in_batches_and_a_refusal_without_an_aws_code_names_its_type(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delete, "ECR_BATCH", 2)
    ecr = FakeEcr({"a": {D1: [], D2: [], D3: []}})
    items = [deletion(D1, repository="a"), deletion(D2, repository="a"), deletion(D3, repository="a")]
    delete.delete_ecr(ecr, items, {"a": known(D1, D2, D3)})
    assert [len(d) for _, d in ecr.calls] == [2, 1]

    class Plain(FakeEcr):
        def batch_delete_image(self, repositoryName: str, imageIds: list[dict[str, str]]) -> dict[str, Any]:
            raise TimeoutError("read timed out")

    items = [deletion(D1, repository="a")]
    warnings = delete.delete_ecr(Plain({"a": {D1: []}}), items, {"a": known(D1)})
    assert items[0].status == "kept" and items[0].error == "ecr:BatchDeleteImage refused (TimeoutError)"
    assert warnings == ["ECR refused BatchDeleteImage on a (TimeoutError); nothing more was deleted"]


def test_on_ecr_a_failure_without_an_image_id_is_still_reported_failed() -> None:
    class Odd(FakeEcr):
        def batch_delete_image(self, repositoryName: str, imageIds: list[dict[str, str]]) -> dict[str, Any]:
            return {"imageIds": [], "failures": [{"failureCode": "Odd"}]}

    items = [deletion(D1)]
    delete.delete_ecr(Odd({"repo": {D1: []}}), items, {"repo": known(D1)})
    assert items[0].status == "failed" and items[0].error == "ECR did not confirm the delete"


def test_an_ecr_refusal_names_the_aws_error_code() -> None:
    class Denied(FakeEcr):
        def get_paginator(self, operation: str) -> Any:
            error = Exception("denied")
            error.response = {"Error": {"Code": "AccessDeniedException"}}  # type: ignore[attr-defined]
            raise error

    with pytest.raises(RegistryExtError, match=r"^ECR DescribeImages on a failed \(AccessDeniedException\); nothing"):
        inventory.EcrInventory(Denied({})).describe("a")
    with pytest.raises(RegistryExtError, match=r"^ECR DescribeRepositories failed \(AccessDeniedException\)"):
        inventory.EcrInventory(Denied({})).repositories()


def test_ecr_listings_ask_for_the_right_operation_of_the_right_repository() -> None:
    asked: list[tuple[str, Any]] = []

    class Recording(FakeEcr):
        def get_paginator(self, operation: str) -> Any:
            pager = super().get_paginator(operation)
            original = pager.paginate

            def paginate(**kwargs: Any) -> Any:
                asked.append((operation, kwargs.get("repositoryName")))
                return original(**kwargs)

            pager.paginate = paginate
            return pager

    ecr = Recording({"a": {D1: ["v1"]}})
    inventory.EcrInventory(ecr).repositories()
    inventory.EcrInventory(ecr).describe("a")
    assert asked == [("describe_repositories", None), ("describe_images", "a")]


def test_the_http_inventory_reads_the_repository_it_was_asked_for() -> None:
    asked: list[tuple[str, str]] = []

    class Recording(FakeInventoryEndpoint):
        def tags(self, name: str) -> list[str]:
            asked.append((name, "tags"))
            return super().tags(name)

        def get_manifest(self, name: str, reference: str) -> tuple[bytes, str]:
            asked.append((name, reference))
            return super().get_manifest(name, reference)

    reader = inventory.HttpInventory(Recording(["v1"]), jobs=1)  # type: ignore[arg-type]
    reader._created = lambda *_: None  # type: ignore[method-assign]
    state = reader.read("repo")
    assert state.name == "repo" and asked == [("repo", "tags"), ("repo", "v1")]
    assert state.tags == {"v1": DIGEST} and state.manifests[DIGEST].media_type == OCI_MANIFEST
    assert reader.raw == {("repo", DIGEST): (RAW, OCI_MANIFEST)}


def test_restore_checks_the_blobs_of_every_manifest_and_names_what_is_gone() -> None:
    other = manifest_bytes(b"{}", b"other layer")
    first = restore.RestoreEntry("repo", sha(other), OCI_MANIFEST, other, ())
    endpoint = FakeRestoreEndpoint({sha(CONFIG), sha(LAYER)})
    with pytest.raises(RegistryExtError, match=r"2 blobs or manifests are gone .*: repo@sha256:.*, repo@sha256:"):
        restore.restore_http(endpoint, [first, entry("v1")])
    assert endpoint.put == []
    many = manifest_bytes(b"{}", *(bytes([i]) for i in range(6)))
    endpoint = FakeRestoreEndpoint(set())
    with pytest.raises(RegistryExtError, match=r"7 blobs or manifests are gone .* and 2 more$"):
        restore.restore_http(endpoint, [restore.RestoreEntry("repo", sha(many), OCI_MANIFEST, many, ())])
    few = manifest_bytes(b"{}", *(bytes([i]) for i in range(4)))
    with pytest.raises(RegistryExtError, match=r"5 blobs or manifests are gone .*[0-9a-f]$"):
        restore.restore_http(endpoint, [restore.RestoreEntry("repo", sha(few), OCI_MANIFEST, few, ())])


def test_restore_of_an_index_whose_children_are_still_there_puts_only_the_index_back() -> None:
    index = index_of(DIGEST)
    parent = restore.RestoreEntry("repo", sha(index), "application/vnd.oci.image.index.v1+json", index, ("v1",))
    endpoint = FakeRestoreEndpoint(set())
    endpoint.tags[DIGEST] = DIGEST
    assert restore.restore_http(endpoint, [parent]) == (1, ["repo:v1"])
    assert endpoint.put == [sha(index), "v1"]


class RestoreEcr:
    """ECR's BatchCheckLayerAvailability / BatchGetImage / PutImage over one repository."""

    def __init__(self, layers: set[str], images: dict[str, str] | None = None, serve_as: str | None = None) -> None:
        self.layers = layers
        self.images = dict(images or {})  # digest or tag -> digest
        self.serve_as = serve_as
        self.checked: list[list[str]] = []
        self.put: list[tuple[str, str | None]] = []

    def batch_check_layer_availability(self, repositoryName: str, layerDigests: list[str]) -> dict[str, Any]:
        assert repositoryName == "repo"
        self.checked.append(layerDigests)
        return {"layers": [{"layerDigest": d, "layerAvailability": "AVAILABLE" if d in self.layers else "UNAVAILABLE"}
                           for d in layerDigests]}

    def batch_get_image(self, repositoryName: str, imageIds: list[dict[str, str]]) -> dict[str, Any]:
        assert repositoryName == "repo"
        key = imageIds[0].get("imageDigest") or imageIds[0]["imageTag"]
        found = self.images.get(key)
        return {"images": [{"imageId": {"imageDigest": found}}] if found else []}

    def put_image(self, repositoryName: str, imageManifest: str, imageManifestMediaType: str, imageDigest: str,
                  imageTag: str | None = None) -> None:
        assert repositoryName == "repo" and sha(imageManifest.encode()) == imageDigest
        assert imageManifestMediaType == OCI_MANIFEST or "index" in imageManifestMediaType
        self.put.append((imageDigest, imageTag))
        self.images[imageDigest] = imageDigest
        if imageTag:
            self.images[imageTag] = self.serve_as or imageDigest


def test_on_ecr_restore_writes_nothing_when_a_layer_or_child_is_gone() -> None:
    ecr = RestoreEcr({sha(CONFIG)})
    with pytest.raises(RegistryExtError, match=f"nothing was written: 1 blobs or manifests are gone.*{sha(LAYER)}"):
        restore.restore_ecr(ecr, [entry("v1")])
    assert ecr.put == [] and sorted(ecr.checked[0]) == sorted([sha(CONFIG), sha(LAYER)])
    index = index_of(DIGEST)
    parent = restore.RestoreEntry("repo", sha(index), "application/vnd.oci.image.index.v1+json", index, ("v1",))
    ecr = RestoreEcr(set())
    with pytest.raises(RegistryExtError, match=f"1 blobs or manifests are gone.*repo@{DIGEST}"):
        restore.restore_ecr(ecr, [parent])
    assert ecr.put == []
    ecr = RestoreEcr(set(), {DIGEST: DIGEST})
    assert restore.restore_ecr(ecr, [parent]) == (1, ["repo:v1"])
    assert ecr.put == [(sha(index), "v1")]


def test_on_ecr_restore_puts_every_tag_back_and_reads_it_back(monkeypatch: pytest.MonkeyPatch) -> None:
    ecr = RestoreEcr({sha(CONFIG), sha(LAYER)})
    untagged = manifest_bytes(CONFIG)
    child = restore.RestoreEntry("repo", sha(untagged), OCI_MANIFEST, untagged, ())
    assert restore.restore_ecr(ecr, [entry("v1", "v2"), child]) == (2, ["repo:v1", "repo:v2"])
    assert ecr.put == [(sha(untagged), None), (DIGEST, "v1"), (DIGEST, "v2")]
    ecr = RestoreEcr({sha(CONFIG), sha(LAYER)}, serve_as=D1)
    with pytest.raises(RegistryAPIError, match=f"repo:v1 reads back as \\['{D1}'\\], not {DIGEST}"):
        restore.restore_ecr(ecr, [entry("v1")])


def test_a_page_with_a_token_and_no_page_size_is_checked_against_the_size_asked_for(
        monkeypatch: pytest.MonkeyPatch) -> None:
    serve(monkeypatch, {PROJECTS: (200, {"projects": ["p"]}),
                        FIRST: (200, {"funcs": [record()], "pagination": {"page-token": "t/1"}})})
    with pytest.raises(UsageUnreadable, match=r"page 1\) answered 1 records on a page of 2"):
        usage.mlrun_projects_and_functions(DB, page_size=2)


def test_restore_checks_the_children_of_every_index_in_the_file() -> None:
    first, second = index_of(D1), index_of(D2)
    entries = [restore.RestoreEntry("repo", sha(raw), "application/vnd.oci.image.index.v1+json", raw, ())
               for raw in (first, second)]
    endpoint = FakeRestoreEndpoint(set())
    endpoint.tags[D2] = D2
    with pytest.raises(RegistryExtError, match=f"1 blobs or manifests are gone.*repo@{D1}"):
        restore.restore_http(endpoint, entries)
    assert endpoint.put == []


def test_on_ecr_restore_checks_more_layers_than_one_call_takes() -> None:
    layers = [bytes([i, 1]) for i in range(101)]
    raw = manifest_bytes(b"{}", *layers)
    ecr = RestoreEcr({sha(layer) for layer in layers[1:]} | {sha(b"{}")})
    with pytest.raises(RegistryExtError, match="nothing was written: 1 blobs or manifests are gone"):
        restore.restore_ecr(ecr, [restore.RestoreEntry("repo", sha(raw), OCI_MANIFEST, raw, ())])
    assert [len(c) for c in ecr.checked] == [100, 2] and ecr.put == []
    assert sha(layers[0]) in ecr.checked[0]  # the gone layer is in the first call, not the last


def test_a_prune_reports_a_failed_delete_as_an_error_and_frees_only_what_was_deleted(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    import mlrun_registry_ext.features.prune as prune_package
    from mlrun_registry_ext.core.service import RegistryService

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(prune_package, "_usage", lambda *_: ([], [], ["a warning from reading usage"]))
    ecr = FakeEcr({"repo": {D1: ["v1"], D2: ["v2"]}}, failures={D2: "KmsError"})
    monkeypatch.setattr(prune_package.aws, "client", lambda *_: ecr)
    service = RegistryService(name="ecr", url="123456789012.dkr.ecr.us-east-1.amazonaws.com")
    report = prune_package.run_prune(service, keep=0, min_age="0s", progress=False,
                                     restore_file=tmp_path / "undo.json")
    assert {d.digest: d.status for d in report.plan.deletions} == {D1: "deleted", D2: "failed"}
    assert report.errors == [f"repo@{D2}: KmsError: why"]
    assert report.warnings == ["a warning from reading usage"]
    assert not report.dry_run
