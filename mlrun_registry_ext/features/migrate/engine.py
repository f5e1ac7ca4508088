"""The copy engine: migrate images off a registry (usually the on-cluster one) into another, fast and
with nothing lost.

Like crane/regclient's copy: compare tag digests first and skip identical images, check each blob on
the target and skip what is there (HEAD, or for a blob only one repository needs, a mount from that
repository itself, which also opens the upload), mount blobs across repositories of the target, stream
the rest source -> target in parallel (no disk, no whole layer in memory, digest checked before the
commit), write manifest bytes unchanged (children before their index, each tag as soon as its blobs
are there) so digests are preserved, then check that every source tag resolves to the same digest on
the target. Tags that differ are copied in batches (manifests read, blobs copied, manifests written and
dropped before the next batch), so a big run holds little beyond its listing.

Planning (which repositories, where they land) is :mod:`.model`; manifests are
:mod:`mlrun_registry_ext.core.manifest`; the engine talks to registries only through
:mod:`mlrun_registry_ext.clients.registry.transfer`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from mlrun_registry_ext.clients.registry.client import RegistryClient, RetryPolicy
from mlrun_registry_ext.clients.registry.errors import NameUnknownError
from mlrun_registry_ext.clients.registry.transfer import TIMEOUT, copy_blob, put_manifest
from mlrun_registry_ext.core.compat import slotted, zip_strict
from mlrun_registry_ext.core.manifest import Manifest, parse_manifest, write_order
from mlrun_registry_ext.errors import RegistryAPIError, RegistryExtError
from mlrun_registry_ext.features.migrate.model import (
    DEFAULT_OPTIONS,
    MigrateOptions,
    Naming,
    matches_include,
    select_repositories,
)
from mlrun_registry_ext.features.migrate.report import MigrationReport, TagResult
from mlrun_registry_ext.features.migrate.ui import BYTES, NoProgress, Progress, live_progress

if TYPE_CHECKING:
    from mlrun_registry_ext.core.location import RegistryAccess


@slotted()
class _TagPlan:
    """One selected source tag, from its listing to its verification.

    There is one per tag for the whole run, so it is lean (slots; the repository names are the
    listing's, shared by every tag of the repository; the tag name is not stored twice but read back
    from ``result.source``, which is ``repo:tag``): what a run holds per tag is what the issue's memory
    goal counts.
    """

    result: TagResult
    repo: str
    target_repo: str
    #: the tag's manifests in write order, only while its copy batch runs (a shared empty tuple otherwise)
    manifests: Sequence[Manifest] = ()
    #: sides (source, target) whose digest is still being fetched
    sides: int = 2
    target_error: str | None = None
    #: the digest the target said it stored under the tag (the PUT's ``Docker-Content-Digest``)
    written: str | None = None

    @property
    def tag(self) -> str:
        return self.result.source[len(self.repo) + 1:]


@dataclass
class _BlobJob:
    digest: str
    size: int
    #: (source repository, target repository) pairs that need the blob, in first-seen order
    needs: list[tuple[str, str]] = field(default_factory=list)
    failed: str | None = None


def _placed_key(digest: str) -> bytes | str:
    """How ``Migration._placed`` keys a blob: a sha256 digest as its 32 raw bytes, others as they are.

    The map is kept for the whole run and fills to its bound (``PLACED_MAX``) on a big cold copy,
    which is what such a copy held beyond a re-run: raw bytes are a 65-byte object where the
    ``sha256:<hex>`` text is a 120-byte one, and a plain dict needs no linked node per entry as an
    OrderedDict does. bytes and str keys never compare equal, so the two forms cannot collide.
    """
    if len(digest) == 71 and digest.startswith("sha256:"):
        try:
            return bytes.fromhex(digest[7:])
        except ValueError:
            return digest
    return digest


class Migration:
    """One migration run. Use :func:`migrate` unless you build the endpoints yourself."""

    def __init__(self, source: RegistryClient, target: RegistryClient, naming: Naming,
                 options: MigrateOptions = DEFAULT_OPTIONS, *, progress: Progress | None = None,
                 ensure_repository: Callable[[str], None] | None = None) -> None:
        self.source = source
        self.target = target
        self.naming = naming
        self.options = options
        self.project = options.project
        self.include = options.include
        self.jobs = options.jobs
        self.dry_run = options.dry_run
        self.verify = options.verify
        self.progress: Progress = progress or NoProgress()
        self.ensure_repository = ensure_repository
        self.shard = options.shard
        self.report = MigrationReport(source=source.display, target=target.display, dry_run=options.dry_run)
        self._lock = threading.Lock()
        #: manifests read from the source for the batch being copied, by (repository, digest)
        self._manifests: dict[tuple[str, str], Manifest] = {}
        #: (target repository, digest) of child manifests written or found, for the batch being copied
        #: (and the repository it ends with, which the next batch may continue)
        self._written: set[tuple[str, str]] = set()
        #: where earlier batches left each blob on the target (digest, see :func:`_placed_key` ->
        #: target repository), so a later batch mounts it from there rather than sending it again;
        #: bounded (the least recently placed goes first: a dict keeps insertion order)
        self._placed: dict[bytes | str, str] = {}
        #: target repositories already passed to ``ensure_repository``
        self._ensured: set[str] = set()
        #: blob bytes go to the progress bar (one batch); a run of several batches counts tags instead
        self._bytes_progress = True
        #: target repositories the target's catalog did not list when the run started: nothing in them
        #: needs a HEAD (empty when the target offers no catalog: then everything is asked about).
        #: Filled by the listing loop (the calling thread, :meth:`_listed`) and only read after it.
        self._absent: set[str] = set()

    # -- helpers
    def _count(self, **amounts: int) -> None:
        with self._lock:
            for key, value in amounts.items():
                setattr(self.report, key, getattr(self.report, key) + value)

    def _error(self, message: str) -> None:
        with self._lock:
            self.report.errors.append(message)

    def _pool(self, workers: int) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="migrate")

    def _on_bytes(self, amount: int) -> None:
        if self._bytes_progress:
            self.progress.advance(amount)

    #: Tags per copy batch: each batch's manifests are read,
    #: its blobs copied and its manifests written and dropped before the next batch is read, so what a
    #: cold copy holds beyond the listing does not grow with the tag count.
    BATCH_TAGS = 256
    #: Blob locations remembered across batches (see ``_placed``).
    PLACED_MAX = 4096

    # -- phases
    def run(self) -> MigrationReport:
        started = time.monotonic()
        try:
            plans = self._compare()
            todo = [p for p in plans if p.result.status == "planned"]
            if todo:
                self._copy_in_batches(todo)
            if self.verify and not self.dry_run:
                self._verify([p for p in plans if p.result.status == "copied"])
        finally:
            self.progress.close()
            self.report.seconds = time.monotonic() - started
            self.report.requests = {"source": self.source.requests, "target": self.target.requests}
        return self.report

    def _compare(self) -> list[_TagPlan]:
        """List source repositories and tags; skip tags whose target digest already matches.

        Everything overlaps, in one pool whose tasks never wait for each other (fewer threads to
        start, which is most of a short run's CPU): the target's catalog with the source's, each
        repository's tags are compared as soon as its list is in, and each tag's target HEAD (a
        bcrypt check on an htpasswd registry, the slowest request of a re-run) goes out alongside
        its source HEAD. The two digests are compared here, in the calling thread, as each pair
        completes; a tag that differs stays "planned" with the two digests only: its manifests are
        read with its copy batch (:meth:`_copy_in_batches`), so this phase holds just the listing.

        What a re-run with nothing new checks: for every selected source tag, the source's digest
        (HEAD) and the target's (HEAD) now, so "skipped" means the tag resolves to the same digest on
        both sides, which is what the verification after a copy proves too. It does not re-read
        the manifests or HEAD the blobs: a registry only accepts a manifest whose blobs it has
        (distribution checks them on PUT), so a tag that resolves is complete.
        """
        self.progress.phase("listing")
        with self._pool(self.jobs * 2) as pool:
            on_target = pool.submit(self.target.repositories, required=False)
            source_repos = self.source.repositories() or []
            repos = select_repositories(source_repos, self.naming, project=self.project, include=self.include,
                                        prefixes=(self.naming.image_prefix,), shard=self.shard)
            del source_repos
            listed = on_target.result()
            existing = None if listed is None else set(listed)
            del listed
            by_repo: dict[str, list[_TagPlan]] = {}
            # Bounded: at most ``limit`` requests queued or running, so what a run holds beyond the
            # listing itself (its tags) does not grow with the tag count. Tags already listed go
            # first (their HEADs), more listings only when there is room.
            limit = self.jobs * 8
            to_list = deque(repos)
            tasks: deque[tuple[Callable[[_TagPlan], None], _TagPlan]] = deque()
            running: dict[Future[Any], tuple[str, _TagPlan | None]] = {}
            decided = 0
            while to_list or tasks or running:
                while len(running) < limit and (tasks or to_list):
                    if tasks:
                        fn, queued = tasks.popleft()
                        running[pool.submit(fn, queued)] = ("head", queued)
                    else:
                        repo = to_list.popleft()
                        running[pool.submit(self._tags, repo)] = (repo, None)
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    what, plan = running.pop(future)
                    result = future.result()  # HEADs and reads catch registry errors themselves
                    if plan is None:
                        decided += self._listed(what, result, existing, by_repo, tasks)
                        if not to_list and not any(p is None for _, p in running.values()):
                            total = sum(len(v) for v in by_repo.values())
                            self.progress.phase("comparing tags", total=total, unit="tags")
                            self.progress.advance(decided)
                    else:
                        plan.sides -= 1
                        if plan.sides:
                            continue
                        if plan.result.status != "failed" and plan.target_error is not None:
                            self._fail(plan, plan.target_error)
                        if plan.result.status == "failed":
                            decided += 1
                            self.progress.advance()
                        elif plan.result.target_digest == plan.result.source_digest:
                            plan.result.target_digest = plan.result.source_digest  # one string, not two
                            plan.result.status = "skipped"
                            self._count(verified=1)
                            decided += 1
                            self.progress.advance()
                        else:  # still "planned": its manifests are read with its batch (_copy_in_batches)
                            decided += 1
                            self.progress.advance()
            ordered = [plan for repo in repos for plan in by_repo.get(repo, ())]
            self.report.tags = [p.result for p in ordered]
        return ordered

    def _listed(self, repo: str, tags: list[str], existing: set[str] | None, by_repo: dict[str, list[_TagPlan]],
                tasks: deque[tuple[Callable[[_TagPlan], None], _TagPlan]]) -> int:
        """One repository's tags are in: its plans, and the HEADs that compare them. A repository the
        target does not have needs no comparing: its tags are planned at once, with no HEAD on either
        side (the copy reads each manifest by tag and takes the digest from its bytes). Returns how many
        tags that decided."""
        rel = self.naming.relative(repo) or repo
        target_repo = self.naming.target_repository(repo)
        self.target.check_repository_name(target_repo)
        absent = existing is not None and target_repo not in existing
        if absent:
            self._absent.add(target_repo)
        plans = by_repo[repo] = []
        for tag in sorted(tags):
            if matches_include(rel, tag, self.include):
                source = f"{repo}:{tag}"
                # the same name on both sides (no rename, same path): one string, not two per tag
                target = source if target_repo == repo else f"{target_repo}:{tag}"
                plans.append(_TagPlan(TagResult(source, target), repo, target_repo))
        if absent:
            for plan in plans:
                plan.sides = 0
            return len(plans)
        for plan in plans:
            tasks.append((self._source_digest, plan))
            tasks.append((self._target_digest, plan))
        return 0

    def _tags(self, repository: str) -> list[str]:
        """The source repository's tags; none when it vanished since the catalog listed it."""
        try:
            return self.source.tags(repository)
        except NameUnknownError:
            return []

    def _source_digest(self, plan: _TagPlan) -> None:
        try:
            plan.result.source_digest = self.source.manifest_digest(plan.repo, plan.tag)
            if plan.result.source_digest is None:
                raise RegistryAPIError(f"{plan.result.source}: the tag disappeared from the source")
        except RegistryExtError as exc:
            self._fail(plan, str(exc))

    def _target_digest(self, plan: _TagPlan) -> None:
        try:
            plan.result.target_digest = self.target.manifest_digest(plan.target_repo, plan.tag)
        except RegistryExtError as exc:
            plan.target_error = str(exc)  # reported when the source side worked (see _compare)

    def _read_tag(self, plan: _TagPlan) -> None:
        """Read what differs: the tag's manifests (see :meth:`_plan_tag`)."""
        try:
            self._plan_tag(plan)
        except RegistryExtError as exc:
            self._fail(plan, str(exc))

    def _fail(self, plan: _TagPlan, message: str) -> None:
        plan.result.status = "failed"
        plan.result.error = message
        self._error(f"{plan.result.source}: {message}")

    def _fetch(self, repo: str, digest: str) -> Manifest:
        with self._lock:
            hit = self._manifests.get((repo, digest))
        if hit is None:
            raw, content_type = self.source.get_manifest(repo, digest)
            hit = parse_manifest(raw, content_type, f"{repo}@{digest}")
            if hit.digest != digest:
                raise RegistryAPIError(f"{repo}@{digest}: the source served a manifest with digest {hit.digest}")
            with self._lock:
                self._manifests[(repo, digest)] = hit
        return hit

    def _plan_tag(self, plan: _TagPlan) -> None:
        """Fetch the tag's manifest (by the digest just compared, else by tag: its digest is then the
        bytes' own) and, for an index, its children."""
        if plan.result.source_digest is None:
            raw, content_type = self.source.get_manifest(plan.repo, plan.tag)
            root = parse_manifest(raw, content_type, plan.result.source)
            plan.result.source_digest = root.digest
            with self._lock:
                self._manifests[(plan.repo, root.digest)] = root
        else:
            root = self._fetch(plan.repo, plan.result.source_digest)
        children: dict[str, Manifest] = {}
        pending = [root]
        while pending:
            node = pending.pop()
            for child in node.children:
                if child.digest not in children:
                    children[child.digest] = self._fetch(plan.repo, child.digest)
                    pending.append(children[child.digest])
        plan.manifests = write_order(root, children)

    def _copy_in_batches(self, todo: list[_TagPlan]) -> None:
        """Copy the tags that differ in batches of consecutive tags (in listing order, so a repository
        spans at most a few adjacent batches): read the batch's manifests, copy its blobs, write its
        manifests (each tag's as soon as its blobs are there), drop them, then the next batch. Blobs
        are deduplicated within a batch (one upload, mounts into the other repositories); a blob an
        earlier batch placed is mounted from where it went (``_placed``). One batch (every small
        run) shows the byte-level progress; several count tags."""
        size = self.BATCH_TAGS
        batches = [todo[i:i + size] for i in range(0, len(todo), size)]
        if len(batches) > 1:
            self._bytes_progress = False
            self.progress.phase("copying tags in batches", total=len(todo), unit="tags")
        for batch in batches:
            if len(batches) == 1:
                self.progress.phase("reading manifests", total=len(batch), unit="tags")
            with self._pool(self.jobs * 2) as pool:
                for _ in pool.map(self._read_tag, batch):
                    if len(batches) == 1:
                        self.progress.advance()
            ready = [p for p in batch if p.result.status == "planned"]
            if len(batches) > 1:
                self.progress.advance(len(batch) - len(ready))  # failed reads
            self._manifests.clear()  # each plan holds its own; the cache only served the reads
            if ready:
                jobs = self._blob_jobs(ready)
                if not self.dry_run and self.ensure_repository is not None:
                    for repo in sorted({p.target_repo for p in ready} - self._ensured):
                        self.ensure_repository(repo)
                        self._ensured.add(repo)
                self._copy_blobs(jobs, ready)
                self._remember(jobs)
            last = batch[-1].target_repo  # the next batch may continue this repository
            self._written = {key for key in self._written if key[0] == last}

    def _remember(self, jobs: dict[str, _BlobJob]) -> None:
        """Note where a batch left its blobs, for later batches to mount from (bounded, LRU)."""
        placed = self._placed
        for job in jobs.values():
            if job.failed is None and job.needs:
                key = _placed_key(job.digest)
                placed.pop(key, None)  # placed again: to the end, the last to go
                placed[key] = job.needs[-1][1]
        excess = len(placed) - self.PLACED_MAX
        if excess > 0:  # the oldest, in one pass
            for key in list(islice(placed, excess)):
                del placed[key]

    def _blob_jobs(self, plans: list[_TagPlan]) -> dict[str, _BlobJob]:
        jobs: dict[str, _BlobJob] = {}
        for plan in plans:
            for manifest in plan.manifests:
                for blob in manifest.blobs:
                    if blob.foreign:
                        continue
                    job = jobs.setdefault(blob.digest, _BlobJob(blob.digest, blob.size))
                    if all(t != plan.target_repo for _, t in job.needs):
                        job.needs.append((plan.repo, plan.target_repo))
        return jobs

    def _copy_blobs(self, jobs: dict[str, _BlobJob], plans: list[_TagPlan]) -> None:
        """One task per digest: HEAD it in every target repository that needs it; upload it once
        (streamed) and mount it into the others; biggest blobs first to keep the workers busy.
        Each tag's manifests are written as soon as its last blob is done, while the others copy."""
        ordered = sorted(jobs.values(), key=lambda j: -j.size)
        if self._bytes_progress:
            self.progress.phase("blobs", total=sum(j.size * len(j.needs) for j in ordered), unit=BYTES)
        waiting: list[set[str]] = []
        waiters: dict[str, list[int]] = {}
        for index, plan in enumerate(plans):
            digests = {b.digest for m in plan.manifests for b in m.blobs if b.digest in jobs}
            waiting.append(digests)
            for digest in digests:
                waiters.setdefault(digest, []).append(index)
        lock = threading.Lock()
        writes: list[Future[None]] = []

        with self._pool(self.jobs) as pool, self._pool(self.jobs * 2) as writer:
            def done(digest: str) -> None:
                ready = []
                with lock:
                    for index in waiters.get(digest, ()):
                        waiting[index].discard(digest)
                        if not waiting[index]:
                            ready.append(plans[index])
                    writes.extend(writer.submit(self._write_manifests, plan, jobs) for plan in ready)

            def run(job: _BlobJob) -> None:
                try:
                    self._copy_one_blob(job)
                except RegistryExtError as exc:
                    job.failed = str(exc)
                    self._error(f"blob {job.digest}: {exc}")
                done(job.digest)

            with lock:  # tags whose blobs were all there already
                writes.extend(writer.submit(self._write_manifests, plan, jobs)
                              for plan, digests in zip_strict(plans, waiting) if not digests)
            list(pool.map(run, ordered))  # every tag's write is submitted once its last blob is done
            if self._bytes_progress:
                self.progress.phase("manifests", total=len(plans), unit="tags")
            for future in as_completed(writes):  # those written early count at once
                future.result()
                self.progress.advance()

    def _copy_one_blob(self, job: _BlobJob) -> None:
        present: list[str] = []
        missing: list[tuple[str, str]] = []
        needs = job.needs
        with self._lock:
            placed = self._placed.get(_placed_key(job.digest))
        if placed is not None:
            # an earlier batch of this run put it there (counted then): not again into that repository,
            # the others HEAD as usual and mount from it
            needs = [need for need in needs if need[1] != placed]
            present.append(placed)
        elif len(needs) == 1 and not self.dry_run and self.target.probes_by_mount:
            # One request instead of HEAD + POST: a mount from its own repository answers 201 when the
            # blob is there and opens the upload otherwise (no other repository to mount it from).
            (source_repo, target_repo), needs = needs[0], []
            outcome = copy_blob(self.source, self.target, source_repo, target_repo, job.digest, job.size,
                                probe=True, on_bytes=self._on_bytes)
            if outcome == "copied":
                self._count(blobs_copied=1, bytes_copied=job.size)
            else:
                self._count(blobs_skipped=1, bytes_skipped=job.size)
                self._on_bytes(job.size)
        for source_repo, target_repo in needs:
            if target_repo not in self._absent and self.target.blob_exists(target_repo, job.digest):
                present.append(target_repo)
                self._count(blobs_skipped=1, bytes_skipped=job.size)
                self._on_bytes(job.size)
            else:
                missing.append((source_repo, target_repo))
        for source_repo, target_repo in missing:
            if self.dry_run:
                if present:
                    self._count(blobs_mounted=1, bytes_mounted=job.size)
                else:
                    self._count(blobs_copied=1, bytes_copied=job.size)
                present.append(target_repo)
                continue
            outcome = copy_blob(
                self.source, self.target, source_repo, target_repo, job.digest, job.size,
                mount_from=present[0] if present else None, on_bytes=self._on_bytes)
            if outcome == "mounted":
                self._count(blobs_mounted=1, bytes_mounted=job.size)
                self._on_bytes(job.size)
            else:
                self._count(blobs_copied=1, bytes_copied=job.size)
            present.append(target_repo)

    def _write_manifests(self, plan: _TagPlan, jobs: dict[str, _BlobJob]) -> None:
        """Write one tag's manifests, children first (each child once per repository), unless one of
        its blobs could not be copied."""
        failed = [(b.digest, jobs[b.digest].failed) for m in plan.manifests for b in m.blobs
                  if b.digest in jobs and jobs[b.digest].failed is not None]
        if failed:
            self._fail(plan, f"not written: blob {failed[0][0]} could not be copied ({failed[0][1]})")
            return
        if self.dry_run:
            self._count(manifests_copied=len(plan.manifests))
            return
        try:
            for manifest in plan.manifests[:-1]:
                key = (plan.target_repo, manifest.digest)
                with self._lock:
                    done = key in self._written
                if done or (plan.target_repo not in self._absent
                            and self.target.manifest_digest(plan.target_repo, manifest.digest) == manifest.digest):
                    self._count(manifests_skipped=1)
                else:
                    put_manifest(self.target, plan.target_repo, manifest.digest, manifest)
                    self._count(manifests_copied=1)
                with self._lock:
                    self._written.add(key)
            root = plan.manifests[-1]
            plan.written = put_manifest(self.target, plan.target_repo, plan.tag, root)
            self._count(manifests_copied=1)
            plan.result.status = "copied"
        except RegistryExtError as exc:
            self._fail(plan, str(exc))
        finally:
            plan.manifests = ()  # written (or failed): a big run does not keep every manifest to the end

    def _verify(self, plans: list[_TagPlan]) -> None:
        """Compare every copied tag's digest on the target with the source digest: the digest the
        registry answered the tag's PUT with (``Docker-Content-Digest``: what it stored under the tag,
        after checking every blob and child the manifest names), else, when it did not say, the tag
        resolved again (HEAD). One request per tag fewer than a HEAD after every write."""
        self.progress.phase("verifying", total=len(plans), unit="tags")
        asked = []
        for plan in plans:
            if plan.written is None:
                asked.append(plan)
                continue
            plan.result.target_digest = plan.written
            self._compare_verified(plan)
            self.progress.advance()

        def check(plan: _TagPlan) -> None:
            try:
                plan.result.target_digest = self.target.manifest_digest(plan.target_repo, plan.tag)
            except RegistryExtError as exc:
                plan.result.target_digest = None
                self._difference(plan, f"could not resolve on the target: {exc}")
            else:
                self._compare_verified(plan)
            self.progress.advance()

        with self._pool(self.jobs * 2) as pool:
            self._each(pool, check, asked)

    def _each(self, pool: ThreadPoolExecutor, fn: Callable[[_TagPlan], None], plans: list[_TagPlan]) -> None:
        """``fn`` over every plan in ``pool``, with at most ``jobs * 8`` tasks queued or running.

        Not ``pool.map``: that submits every item at once, and each pending future (its condition,
        lock and work item, about 1.5 KB) lives until the pool reaches it, so verifying a cold copy
        of 10,000 tags held ~15 MB of futures, more than the listing itself, and the freed arenas
        stay in the process's RSS. The same requests, the same number in flight.
        """
        limit = self.jobs * 8
        running: set[Future[None]] = set()
        for plan in plans:
            if len(running) >= limit:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
            running.add(pool.submit(fn, plan))
        for future in as_completed(running):
            future.result()

    def _compare_verified(self, plan: _TagPlan) -> None:
        if plan.result.target_digest == plan.result.source_digest:
            plan.result.target_digest = plan.result.source_digest  # one string kept per tag, not two
            self._count(verified=1)
        else:
            self._difference(plan, f"source {plan.result.source_digest} but target "
                                   f"{plan.result.target_digest or '(missing)'}")

    def _difference(self, plan: _TagPlan, problem: str) -> None:
        with self._lock:
            self.report.differences.append({"tag": plan.result.target, "source": plan.result.source,
                                            "problem": problem})



def run_migration(source: RegistryAccess, target: RegistryAccess, options: MigrateOptions = DEFAULT_OPTIONS, *,
                  image_prefix: str = "", progress: bool | Progress | None = None,
                  ensure_repository: Callable[[str], None] | None = None) -> MigrationReport:
    """The engine entry, from pure pieces: each side's location, login (as the registry API takes it,
    e.g. an ECR token already) and CA bundle, the target's image prefix and the run's options.
    :func:`migrate` ends here (it checked the endpoints before any login); ``progress`` is as for
    :func:`migrate`."""
    naming = Naming(source_path=source.location.path, target_path=target.location.path, image_prefix=image_prefix,
                    rename=options.rename)
    limit = TIMEOUT if options.timeout is None else options.timeout
    with RegistryClient.for_access(source, timeout=limit, retry=RetryPolicy()) as src_ep, \
            RegistryClient.for_access(target, timeout=limit, retry=RetryPolicy()) as dst_ep:
        sink = live_progress(progress)
        return Migration(src_ep, dst_ep, naming, options, progress=sink, ensure_repository=ensure_repository).run()
