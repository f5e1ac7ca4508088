"""Deleting: re-check each repository's tags just before its deletes, then ``DELETE`` by digest (or ECR
``BatchDeleteImage``), repositories in parallel.

The re-check (:func:`~mlrun_registry_ext.core.prune_plan.protected_by_tags`): the repository's tags are
listed and resolved again right before its first delete; a planned digest that a tag not planned for
deletion now reaches (directly or through an index) is skipped and reported. What remains is the window
between that re-read and each DELETE of the repository (a few requests' time): a tag re-pointed there is
deleted with the digest, and the restore file brings it back.

A registry that refuses a delete (405 ``UNSUPPORTED``, denied, unauthorized) stops the whole run: every
delete not yet sent is kept. A failed delete is reported as failed, never as deleted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlrun_registry_ext.clients.registry.client import DeniedError, RegistryClient, UnauthorizedError, UnsupportedError
from mlrun_registry_ext.core.prune_plan import ManifestDeletion, ManifestRecord, protected_by_tags
from mlrun_registry_ext.errors import RegistryExtError
from mlrun_registry_ext.features.prune.inventory import ECR_BATCH, listed_tags, record_of

Tick = Callable[[], None]


def _nothing(*_: Any) -> None:
    return None


def by_repository(deletions: Sequence[ManifestDeletion]) -> dict[str, list[ManifestDeletion]]:
    out: dict[str, list[ManifestDeletion]] = {}
    for item in deletions:
        out.setdefault(item.repository, []).append(item)
    return out


def skip_protected(items: Sequence[ManifestDeletion], protected: set[str]) -> list[ManifestDeletion]:
    """Mark the planned deletions a tag reaches now as skipped; return the rest."""
    left = []
    for item in items:
        if item.digest in protected:
            item.status = "skipped"
            item.error = "a tag not planned for deletion reaches it now (re-checked before deleting)"
        else:
            left.append(item)
    return left


def _skip_all(items: Sequence[ManifestDeletion], why: str) -> None:
    for item in items:
        item.status = "skipped"
        item.error = why


def recheck_http(endpoint: RegistryClient, repository: str, items: Sequence[ManifestDeletion],
                 known: Mapping[str, ManifestRecord]) -> set[str]:
    """The digests of ``repository`` that a tag not planned for deletion reaches now."""
    current: dict[str, str] = {}
    for tag in listed_tags(endpoint, repository):
        digest = endpoint.manifest_digest(repository, tag)
        if digest is not None:
            current[tag] = digest
    manifests = dict(known)
    for digest in set(current.values()) - manifests.keys():
        raw, content_type = endpoint.get_manifest(repository, digest)
        manifests[digest] = record_of(digest, raw, content_type, f"{repository}@{digest}")
    return protected_by_tags(current, {i.digest: i.tags for i in items}, manifests)


def delete_http(endpoint: RegistryClient, deletions: Sequence[ManifestDeletion],
                known: Mapping[str, Mapping[str, ManifestRecord]], jobs: int = 4, tick: Tick = _nothing) -> list[str]:
    """Re-check, then ``DELETE`` each manifest by digest (parents before children within a repository;
    repositories in parallel, at most ``jobs`` at once). Returns warnings."""
    warnings: list[str] = []
    refused = threading.Event()
    lock = threading.Lock()

    def run(repository: str, items: list[ManifestDeletion]) -> None:
        if refused.is_set():
            _stop(items)
            return
        try:
            left = skip_protected(items, recheck_http(endpoint, repository, items, known.get(repository, {})))
        except RegistryExtError as exc:
            _skip_all(items, f"the re-check before deleting failed ({exc})")
            with lock:
                warnings.append(f"{repository}: the tags could not be read again before deleting; kept ({exc})")
            return
        for item in left:
            if refused.is_set():
                item.status = "kept"
                continue
            try:
                gone = endpoint.delete_manifest(item.repository, item.digest)  # retried as the client's DELETEs are
                item.status = "deleted" if gone else "gone"
            except (UnsupportedError, DeniedError, UnauthorizedError) as exc:
                item.status = "kept"
                item.error = str(exc)
                with lock:
                    if not refused.is_set():
                        refused.set()
                        warnings.append(f"the registry refused a delete, nothing more was deleted: {exc}")
            except RegistryExtError as exc:
                item.status = "failed"
                item.error = str(exc)
            tick()

    groups = by_repository(deletions)
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        list(pool.map(lambda kv: run(*kv), groups.items()))
    return warnings


def _stop(items: Sequence[ManifestDeletion]) -> None:
    for item in items:
        if item.status == "planned":
            item.status = "kept"


def recheck_ecr(ecr: Any, repository: str, items: Sequence[ManifestDeletion],
                known: Mapping[str, ManifestRecord]) -> set[str]:
    from mlrun_registry_ext.features.prune.inventory import EcrInventory

    current: dict[str, str] = {}
    for detail in EcrInventory(ecr).describe(repository):
        for tag in detail.get("imageTags") or []:
            current[tag] = detail["imageDigest"]
    manifests = dict(known)
    unknown = sorted(set(current.values()) - manifests.keys())
    for start in range(0, len(unknown), ECR_BATCH):
        answer = ecr.batch_get_image(repositoryName=repository, acceptedMediaTypes=EcrInventory.ACCEPT,
                                     imageIds=[{"imageDigest": d} for d in unknown[start:start + ECR_BATCH]])
        for image in answer.get("images") or []:
            digest = image["imageId"]["imageDigest"]
            manifests[digest] = record_of(digest, str(image.get("imageManifest") or "").encode(),
                                          image.get("imageManifestMediaType"), f"{repository}@{digest}")
        if answer.get("failures"):
            raise RegistryExtError(f"ECR could not return {len(answer['failures'])} manifests of {repository}")
    return protected_by_tags(current, {i.digest: i.tags for i in items}, manifests)


def delete_ecr(ecr: Any, deletions: Sequence[ManifestDeletion], known: Mapping[str, Mapping[str, ManifestRecord]],
               tick: Tick = _nothing) -> list[str]:
    """Re-check, then ECR ``BatchDeleteImage`` by digest, 100 per call, parents before children. A refused
    call stops the run: nothing more is deleted."""
    warnings: list[str] = []
    refused = False
    for repository, items in by_repository(deletions).items():
        if refused:
            _stop(items)
            continue
        try:
            left = skip_protected(items, recheck_ecr(ecr, repository, items, known.get(repository, {})))
        except Exception as exc:
            _skip_all(items, f"the re-check before deleting failed ({type(exc).__name__})")
            warnings.append(f"{repository}: the tags could not be read again before deleting; kept")
            continue
        for start in range(0, len(left), ECR_BATCH):
            batch = left[start:start + ECR_BATCH]
            if refused:
                _stop(batch)
                continue
            try:
                answer = ecr.batch_delete_image(repositoryName=repository,
                                                imageIds=[{"imageDigest": i.digest} for i in batch])
            except Exception as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
                for item in batch:
                    item.status = "kept"
                    item.error = f"ecr:BatchDeleteImage refused ({code})"
                warnings.append(f"ECR refused BatchDeleteImage on {repository} ({code}); nothing more was deleted")
                refused = True
                continue
            failed = {f.get("imageId", {}).get("imageDigest"): f for f in answer.get("failures") or []}
            done = {i.get("imageDigest") for i in answer.get("imageIds") or []}
            for item in batch:
                failure = failed.get(item.digest)
                if failure is not None and failure.get("failureCode") == "ImageNotFound":
                    item.status = "gone"
                elif failure is None and item.digest in done:
                    item.status = "deleted"
                else:
                    item.status = "failed"
                    item.error = (f"{failure.get('failureCode')}: {str(failure.get('failureReason'))[:120]}"
                                  if failure else "ECR did not confirm the delete")
                tick()
    return warnings
