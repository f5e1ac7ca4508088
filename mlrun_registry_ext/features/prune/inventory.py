"""What the registry holds: repositories, tags, manifests and dates, read through its HTTP API or ECR's.

Listings come from the registry client's bounded pagers (catalog and tags); a repository that cannot be
read whole gets a ``problem`` and keeps everything, but a listing stopped by its caps or its ``Link``
(``ListingError``) stops the run. ECR's listings (``DescribeRepositories``, ``DescribeImages``,
paginated by ``nextToken`` under the same caps: ``aws.ecr_listing``) are read completely or the run
refuses: an image that ECR did not list cannot be kept on purpose.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from mlrun_registry_ext.clients import aws
from mlrun_registry_ext.clients.registry.client import RegistryClient
from mlrun_registry_ext.clients.registry.errors import ListingError, NameUnknownError
from mlrun_registry_ext.core.manifest import MANIFEST_MEDIA_TYPES, parse_manifest
from mlrun_registry_ext.core.prune_plan import ManifestRecord, RepositoryState, in_project, parse_created
from mlrun_registry_ext.errors import RegistryAPIError, RegistryExtError
from mlrun_registry_ext.features.migrate.model import relative_repository
from mlrun_registry_ext.features.prune.usage import NOTHING_DELETED

log = logging.getLogger(__name__)

#: The cap on an image config read whole.
CONFIG_CAP = 4 << 20
#: ECR's cap on image ids per BatchGetImage / BatchDeleteImage call.
ECR_BATCH = 100

Tick = Callable[[], None]


def _nothing(*_: Any) -> None:
    return None


def read_capped(response: Any, cap: int, what: str) -> bytes:
    out = bytearray()
    for chunk in response.iter_raw():
        out += chunk
        if len(out) > cap:
            raise RegistryAPIError(f"{what} is larger than {cap} bytes; refused")
    return bytes(out)


def record_of(digest: str, raw: bytes, content_type: str | None, where: str,
              created: Callable[[str], datetime | None] | None = None,
              pushed_at: datetime | None = None) -> ManifestRecord:
    """A manifest's record; an unreadable one is kept (``problem``)."""
    try:
        manifest = parse_manifest(raw, content_type, where)
    except RegistryAPIError as exc:
        return ManifestRecord(digest, None, len(raw), pushed_at=pushed_at, problem=f"kept: {exc}")
    when = None
    if created is not None and not manifest.is_index and manifest.blobs:
        when = created(manifest.blobs[0].digest)
    return ManifestRecord(digest, manifest.media_type, len(raw),
                          tuple((b.digest, b.size) for b in manifest.blobs if not b.foreign),
                          tuple(c.digest for c in manifest.children), when, pushed_at)


def listed_tags(client: RegistryClient, repository: str) -> list[str]:
    """Every tag of ``repository`` (all pages, within the listing caps); none when it is gone since the
    catalog listed it (or since the plan read it)."""
    try:
        return client.tags(repository)
    except NameUnknownError:
        return []


class HttpInventory:
    """Reads a registry through its HTTP API (catalog, tags, manifests, config blobs), in parallel."""

    def __init__(self, endpoint: RegistryClient, jobs: int = 8, tick: Tick = _nothing) -> None:
        self.endpoint = endpoint
        self.jobs = max(1, jobs)
        self.tick = tick
        #: The exact bytes of every manifest read, for the restore file: {(repository, digest): (raw, type)}.
        self.raw: dict[tuple[str, str], tuple[bytes, str | None]] = {}

    def repositories(self) -> list[str]:
        return self.endpoint.repositories() or []

    def read_all(self, names: Sequence[str]) -> list[RepositoryState]:
        with ThreadPoolExecutor(self.jobs) as pool:
            return list(pool.map(self.read, names))

    def read(self, name: str) -> RepositoryState:
        repo = RepositoryState(name)
        try:
            tags = listed_tags(self.endpoint, name)
        except ListingError:
            raise  # a listing that does not end (or leaves the origin) stops the run: the registry misbehaves
        except RegistryExtError as exc:
            repo.problem = f"the repository could not be listed ({exc})"
            self.tick()
            return repo
        lock = threading.Lock()

        def tag_digest(tag: str) -> None:
            try:
                raw, content_type = self.endpoint.get_manifest(name, tag)
            except RegistryExtError as exc:
                with lock:  # an unreadable tag keeps the whole repository
                    repo.problem = repo.problem or f"tag {tag} could not be read ({exc})"
                return
            digest = "sha256:" + hashlib.sha256(raw).hexdigest()
            with lock:
                repo.tags[tag] = digest
            self._record(repo, digest, raw, content_type, lock)

        with ThreadPoolExecutor(self.jobs) as pool:
            list(pool.map(tag_digest, tags))
        self.tick()
        return repo

    def _record(self, repo: RepositoryState, digest: str, raw: bytes, content_type: str | None,
                lock: threading.Lock) -> None:
        with lock:
            if digest in repo.manifests:
                return
            repo.manifests[digest] = ManifestRecord(digest, None, problem="being read")
        record = record_of(digest, raw, content_type, f"{repo.name}@{digest}",
                           lambda blob: self._created(repo.name, blob))
        with lock:
            repo.manifests[digest] = record
            self.raw[(repo.name, digest)] = (raw, content_type)
        for child in record.children:
            try:
                child_raw, child_type = self.endpoint.get_manifest(repo.name, child)
            except RegistryExtError as exc:
                with lock:
                    repo.manifests.setdefault(child, ManifestRecord(child, None, problem=f"not read ({exc})"))
                continue
            if "sha256:" + hashlib.sha256(child_raw).hexdigest() != child:
                with lock:
                    repo.manifests.setdefault(child, ManifestRecord(child, None, len(child_raw),
                                                                    problem="served with another digest"))
                continue
            self._record(repo, child, child_raw, child_type, lock)

    def _created(self, repository: str, digest: str) -> datetime | None:
        """The config blob's ``created``; None when it cannot be read (the age is then unknown: kept)."""
        client = self.endpoint
        try:
            with client.stream("GET", f"/v2/{repository}/blobs/{digest}", scope_repo=repository,
                               follow_redirects=True) as response:
                raw = read_capped(response, CONFIG_CAP, f"config {digest}")
            return parse_created(json.loads(raw).get("created"))
        except (RegistryExtError, ValueError, AttributeError, OSError) as exc:
            log.debug("config %s of %s not read: %s", digest, repository, exc)
            return None


def _ecr_refuse(what: str, exc: BaseException) -> RegistryExtError:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
    return RegistryExtError(f"ECR {what} failed ({code}); {NOTHING_DELETED}")


def _aware(when: Any) -> datetime | None:
    if not isinstance(when, datetime):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


class EcrInventory:
    """Reads ECR through boto3: DescribeRepositories, DescribeImages (tags, ``imagePushedAt``, untagged
    images), BatchGetImage (the manifests, for index children and blob sizes). Any failure refuses."""

    ACCEPT = list(MANIFEST_MEDIA_TYPES)

    def __init__(self, ecr: Any, tick: Tick = _nothing) -> None:
        self.ecr = ecr
        self.tick = tick
        self.raw: dict[tuple[str, str], tuple[bytes, str | None]] = {}

    def repositories(self) -> list[str]:
        names: list[str] = []
        try:
            names += [r["repositoryName"] for r in aws.ecr_listing(self.ecr, "describe_repositories", "repositories",
                                                                    what="the repository listing")]
        except ListingError:
            raise  # the listing caps, as on a registry's own API
        except Exception as exc:
            raise _ecr_refuse("DescribeRepositories", exc) from None
        return sorted(names)

    def read_all(self, names: Sequence[str]) -> list[RepositoryState]:
        return [self.read(name) for name in names]

    def describe(self, name: str) -> list[dict[str, Any]]:
        """Every image of ``name`` (all pages), or an error that refuses the run."""
        details: list[dict[str, Any]] = []
        try:
            details += aws.ecr_listing(self.ecr, "describe_images", "imageDetails", what=f"the image listing of {name}",
                                       repositoryName=name)
        except ListingError:
            raise
        except Exception as exc:
            raise _ecr_refuse(f"DescribeImages on {name}", exc) from None
        for detail in details:
            if not isinstance(detail, dict) or not isinstance(detail.get("imageDigest"), str) \
                    or not isinstance(detail.get("imageTags") or [], list):
                raise RegistryExtError(f"ECR DescribeImages on {name} answered an image without a digest; "
                                       f"{NOTHING_DELETED}")
        return details

    def read(self, name: str) -> RepositoryState:
        repo = RepositoryState(name)
        details = self.describe(name)
        pushed = {d["imageDigest"]: _aware(d.get("imagePushedAt")) for d in details}
        for d in details:
            for tag in d.get("imageTags") or []:
                repo.tags[tag] = d["imageDigest"]
        digests = sorted(pushed)
        for start in range(0, len(digests), ECR_BATCH):
            batch = digests[start:start + ECR_BATCH]
            try:
                answer = self.ecr.batch_get_image(repositoryName=name, acceptedMediaTypes=self.ACCEPT,
                                                  imageIds=[{"imageDigest": d} for d in batch])
            except Exception as exc:
                raise _ecr_refuse(f"BatchGetImage on {name}", exc) from None
            for image in answer.get("images") or []:
                digest = image.get("imageId", {}).get("imageDigest")
                raw = str(image.get("imageManifest") or "").encode()
                media_type = image.get("imageManifestMediaType")
                repo.manifests[digest] = record_of(digest, raw, media_type, f"{name}@{digest}",
                                                   pushed_at=pushed.get(digest))
                self.raw[(name, digest)] = (raw, media_type)
            for failure in answer.get("failures") or []:
                digest = failure.get("imageId", {}).get("imageDigest")
                if digest:
                    repo.manifests[digest] = ManifestRecord(
                        digest, None, problem=f"kept: ECR could not return it ({failure.get('failureCode')})")
        self.tick()
        return repo


def read_states(inventory: HttpInventory | EcrInventory, path: str, project: str | None, image_prefix: str,
                projects: Sequence[str]) -> tuple[list[RepositoryState], int]:
    """The repositories under ``path`` read, each marked in or out of ``--project``'s scope, and how many
    repositories of the registry were left unread (outside ``path``)."""
    everything = inventory.repositories()
    names = [n for n in everything if relative_repository(n, path) is not None]
    states = inventory.read_all(names)
    for state in states:
        relative = relative_repository(state.name, path) or state.name
        state.in_scope = in_project(relative, project, projects, (image_prefix,))
    return states, len(everything) - len(names)
