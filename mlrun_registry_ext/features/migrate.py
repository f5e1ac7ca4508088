"""Migrate images off a registry (usually the on-cluster one) into another, fast and with nothing lost.

Like crane/regclient's copy: compare tag digests first and skip identical images, check each blob on
the target and skip what is there (HEAD, or for a blob only one repository needs, a mount from that
repository itself, which also opens the upload), mount blobs across repositories of the target, stream
the rest source -> target in parallel (no disk, no whole layer in memory, digest checked before the
commit), write manifest bytes unchanged (children before their index, each tag as soon as its blobs
are there) so digests are preserved, then check that every source tag resolves to the same digest on
the target.

The first half of this module is pure planning (manifest media types, write order, filters, target
naming); the engine below it talks to registries only through
:mod:`mlrun_registry_ext.clients.registry.transfer`.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from mlrun_registry_ext.core.location import DEFAULT_REPOSITORY
from mlrun_registry_ext.core.manifest import Manifest, parse_manifest, write_order
from mlrun_registry_ext.errors import ConfigError, RegistryAPIError, RegistryExtError

if TYPE_CHECKING:
    from mlrun_registry_ext.clients.registry.transfer import RegistryEndpoint
    from mlrun_registry_ext.core.location import RegistryAccess, RegistryLocation
    from mlrun_registry_ext.core.service import RegistryService

log = logging.getLogger(__name__)

#: MLRun's (and Nuclio's) namespaces when the registry URL has no path.
DEFAULT_NAMESPACES = (DEFAULT_REPOSITORY, "nuclio")
MLRUN_PROJECT_PREFIX = "func-{project}-"
#: Errors and differences listed in the text summary (all of them are in ``to_dict``).
MAX_LISTED = 10


# --- selection and naming -------------------------------------------------------------------------

def relative_repository(repository: str, namespace: str) -> str | None:
    """``repository`` without the ``namespace/`` prefix; None when it lies outside the namespace."""
    if not namespace:
        return repository
    if repository.startswith(namespace + "/"):
        return repository[len(namespace) + 1:]
    return None


def matches_project(relative: str, project: str, prefixes: Sequence[str] = ("",),
                    template: str = MLRUN_PROJECT_PREFIX) -> bool:
    """Whether an image belongs to ``project`` by MLRun's ``func-{project}-`` naming.

    The image name is the last path component; an image prefix (from ``prefixes``) may precede the
    rendered template, as MLRun writes ``<image prefix>func-<project>-<function>``.
    """
    name = relative.rsplit("/", 1)[-1]
    stem = template.format(project=project)
    return any(name.startswith(prefix + stem) for prefix in {*prefixes, ""})


def matches_include(relative: str, tag: str | None, globs: Sequence[str]) -> bool:
    """No globs: everything. A glob with ``:`` matches ``repo:tag``; otherwise the repository only."""
    if not globs:
        return True
    for glob in globs:
        if ":" in glob:
            if tag is None:
                # repository-level pass: keep the repository if its part of the glob could match
                if fnmatch.fnmatchcase(relative, glob.split(":", 1)[0]):
                    return True
            elif fnmatch.fnmatchcase(f"{relative}:{tag}", glob):
                return True
        elif fnmatch.fnmatchcase(relative, glob):
            return True
    return False


@dataclass(frozen=True)
class Naming:
    """Where a source repository lands on the target.

    Without ``rename``: the repository keeps its name (relative to the source URL's path) under the
    target URL's path. With ``rename``: MLRun's target naming, as MLRun would have pushed it there:
    the default ``mlrun/``/``nuclio/`` namespace of a path-less source is replaced by the target's
    path (kept when the target has none) and the image prefix is put before the image name.
    """

    source_path: str = ""
    target_path: str = ""
    image_prefix: str = ""
    rename: bool = False

    def relative(self, repository: str) -> str | None:
        return relative_repository(repository, self.source_path)

    def target_repository(self, repository: str) -> str:
        rel = self.relative(repository)
        if rel is None:
            raise ConfigError("from", f"repository {repository!r} is outside the source path {self.source_path!r}")
        if not self.rename:
            return f"{self.target_path}/{rel}" if self.target_path else rel
        namespace, rest = "", rel
        head, sep, tail = rel.partition("/")
        if not self.source_path and sep and head in DEFAULT_NAMESPACES:
            namespace, rest = head, tail
        namespace = self.target_path or namespace
        directory, _, name = rest.rpartition("/")
        if self.image_prefix and not name.startswith(self.image_prefix):
            name = self.image_prefix + name
        rest = f"{directory}/{name}" if directory else name
        return f"{namespace}/{rest}" if namespace else rest


def select_repositories(repositories: Iterable[str], naming: Naming, *, project: str | None = None,
                        include: Sequence[str] = (), prefixes: Sequence[str] = ("",)) -> list[str]:
    """Source repositories to migrate: inside the source path, of ``project``, matching ``include``."""
    out = []
    for repo in repositories:
        rel = naming.relative(repo)
        if rel is None:
            continue
        if project and not matches_project(rel, project, prefixes):
            continue
        if not matches_include(rel, None, include):
            continue
        out.append(repo)
    return sorted(set(out))


# --- report ---------------------------------------------------------------------------------------

TagStatus = Literal["copied", "skipped", "failed", "planned"]


@dataclass
class TagResult:
    source: str
    target: str
    source_digest: str | None = None
    target_digest: str | None = None
    status: TagStatus = "planned"
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class MigrationReport:
    """What a migration did (or, with ``dry_run``, would do)."""

    source: str
    target: str
    dry_run: bool = False
    tags: list[TagResult] = field(default_factory=list)
    manifests_copied: int = 0
    manifests_skipped: int = 0
    blobs_copied: int = 0
    blobs_skipped: int = 0
    blobs_mounted: int = 0
    bytes_copied: int = 0
    bytes_skipped: int = 0
    bytes_mounted: int = 0
    seconds: float = 0.0
    verified: int = 0
    differences: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def count(self, status: TagStatus) -> int:
        return sum(1 for t in self.tags if t.status == status)

    @property
    def images(self) -> int:
        return len(self.tags)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.differences and not self.count("failed")

    @property
    def mb_per_s(self) -> float:
        return self.bytes_copied / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "images": {"total": self.images, "copied": self.count("copied"), "skipped": self.count("skipped"),
                       "failed": self.count("failed"), "planned": self.count("planned")},
            "manifests": {"copied": self.manifests_copied, "skipped": self.manifests_skipped},
            "blobs": {"copied": self.blobs_copied, "skipped": self.blobs_skipped, "mounted": self.blobs_mounted},
            "bytes": {"copied": self.bytes_copied, "skipped": self.bytes_skipped, "mounted": self.bytes_mounted},
            "seconds": round(self.seconds, 3),
            "mb_per_s": round(self.mb_per_s, 1),
            "verified": self.verified,
            "differences": self.differences,
            "errors": self.errors,
            "tags": [t.to_dict() for t in self.tags],
        }

    def summary_lines(self) -> list[str]:
        verb = "would copy" if self.dry_run else "copied"
        lines = [
            f"{self.source} -> {self.target}" + (" (dry run)" if self.dry_run else ""),
            f"images: {self.images} total, {self.count('planned') if self.dry_run else self.count('copied')} "
            f"{verb}, {self.count('skipped')} already identical, {self.count('failed')} failed",
            f"manifests: {self.manifests_copied} {verb}, {self.manifests_skipped} skipped",
            f"blobs: {self.blobs_copied} {verb}, {self.blobs_skipped} skipped (present), "
            f"{self.blobs_mounted} {'would be ' if self.dry_run else ''}mounted",
            f"bytes: {_mb(self.bytes_copied)} {verb}, {_mb(self.bytes_skipped)} skipped, "
            f"{_mb(self.bytes_mounted)} mounted; {self.seconds:.2f} s"
            + ("" if self.dry_run else f", {self.mb_per_s:.1f} MB/s"),
        ]
        if not self.dry_run:
            lines.append(f"verified: {self.verified} of {self.images} tags resolve to the same digest on the target")
        lines += [f"difference: {d['tag']}: {d['problem']}" for d in self.differences[:MAX_LISTED]]
        lines += [f"error: {e}" for e in self.errors[:MAX_LISTED]]
        hidden = max(0, len(self.differences) - MAX_LISTED) + max(0, len(self.errors) - MAX_LISTED)
        if hidden:
            lines.append(f"... and {hidden} more (see --json)")
        return lines

    def __str__(self) -> str:
        return "\n".join(self.summary_lines())

    def _repr_html_(self) -> str:
        import html

        data = self.to_dict()
        rows = [("status", "OK" if self.ok else "PROBLEMS"),
                ("images", ", ".join(f"{k} {v}" for k, v in data["images"].items())),
                ("manifests", ", ".join(f"{k} {v}" for k, v in data["manifests"].items())),
                ("blobs", ", ".join(f"{k} {v}" for k, v in data["blobs"].items())),
                ("bytes", ", ".join(f"{k} {_mb(v)}" for k, v in data["bytes"].items())),
                ("time", f"{self.seconds:.2f} s, {self.mb_per_s:.1f} MB/s"),
                ("verified", f"{self.verified} of {self.images}")]
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                       for k, v in rows)
        problems = "".join(f"<li>{html.escape(d['tag'])}: {html.escape(d['problem'])}</li>" for d in self.differences)
        problems += "".join(f"<li>{html.escape(e)}</li>" for e in self.errors)
        title = f"Migration {html.escape(self.source)} &rarr; {html.escape(self.target)}"
        if self.dry_run:
            title += " (dry run)"
        return (f"<table><caption>{title}</caption>{body}</table>"
                + (f"<ul>{problems}</ul>" if problems else ""))


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


# --- progress -------------------------------------------------------------------------------------

class Progress(Protocol):
    def phase(self, text: str, total: int | None = None) -> None: ...
    def advance(self, amount: int = 1) -> None: ...
    def close(self) -> None: ...


class NoProgress:
    def phase(self, text: str, total: int | None = None) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


class RichProgress:
    """A rich progress bar on stderr: one task per phase (listing, blobs in bytes, manifests)."""

    def __init__(self, stderr: bool = True) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )

        self._columns = (TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn())
        self._bytes_columns = (TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                               TransferSpeedColumn(), TimeElapsedColumn())
        self._progress = Progress(*self._bytes_columns, console=Console(stderr=stderr), transient=False)
        self._progress.start()
        self._task: Any = None
        self._lock = threading.Lock()

    def phase(self, text: str, total: int | None = None) -> None:
        with self._lock:
            if self._task is not None:
                task = self._progress.tasks[-1]
                self._progress.update(self._task, completed=task.total or task.completed)
            self._task = self._progress.add_task(text, total=total)

    def advance(self, amount: int = 1) -> None:
        with self._lock:
            if self._task is not None:
                self._progress.advance(self._task, amount)

    def close(self) -> None:
        self._progress.stop()


# --- engine ---------------------------------------------------------------------------------------

@dataclass
class _TagPlan:
    result: TagResult
    repo: str
    tag: str
    target_repo: str
    manifests: list[Manifest] = field(default_factory=list)


@dataclass
class _BlobJob:
    digest: str
    size: int
    #: (source repository, target repository) pairs that need the blob, in first-seen order
    needs: list[tuple[str, str]] = field(default_factory=list)
    failed: str | None = None


class Migration:
    """One migration run. Use :func:`migrate` unless you build the endpoints yourself."""

    def __init__(self, source: RegistryEndpoint, target: RegistryEndpoint, naming: Naming, *,
                 project: str | None = None, include: Sequence[str] = (), jobs: int = 6,
                 dry_run: bool = False, verify: bool = True, progress: Progress | None = None,
                 ensure_repository: Callable[[str], None] | None = None) -> None:
        if jobs < 1:
            raise ConfigError("jobs", f"must be at least 1 (got {jobs})")
        self.source = source
        self.target = target
        self.naming = naming
        self.project = project
        self.include = tuple(include)
        self.jobs = jobs
        self.dry_run = dry_run
        self.verify = verify
        self.progress: Progress = progress or NoProgress()
        self.ensure_repository = ensure_repository
        self.report = MigrationReport(source=source.display, target=target.display, dry_run=dry_run)
        self._lock = threading.Lock()
        #: manifests read from the source, by (repository, digest)
        self._manifests: dict[tuple[str, str], Manifest] = {}
        #: (target repository, digest) of child manifests written or found
        self._written: set[tuple[str, str]] = set()
        #: target repositories the target's catalog did not list when the run started: nothing in them
        #: needs a HEAD (empty when the target offers no catalog: then everything is asked about)
        self._absent: frozenset[str] = frozenset()

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

    # -- phases
    def run(self) -> MigrationReport:
        started = time.monotonic()
        try:
            plans = self._compare()
            todo = [p for p in plans if p.result.status == "planned"]  # manifests fetched (_plan_tag)
            if todo:
                jobs = self._blob_jobs(todo)
                if not self.dry_run and self.ensure_repository is not None:
                    for repo in sorted({p.target_repo for p in todo}):
                        self.ensure_repository(repo)
                self._copy_blobs(jobs, todo)
            if self.verify and not self.dry_run:
                self._verify([p for p in plans if p.result.status == "copied"])
        finally:
            self.progress.close()
            self.report.seconds = time.monotonic() - started
        return self.report

    def _compare(self) -> list[_TagPlan]:
        """List source repositories and tags; skip tags whose target digest already matches.

        Everything overlaps: the target's catalog with the source's, each repository's tags are
        compared as soon as its list is in, and each tag's target HEAD (a bcrypt check on an htpasswd
        registry, the slowest request of a re-run) goes out alongside its source HEAD.
        """
        self.progress.phase("listing")
        with self._pool(self.jobs * 2) as pool, self._pool(self.jobs * 2) as target_pool:
            on_target = target_pool.submit(self.target.repositories, required=False)
            source_repos = self.source.repositories() or []
            repos = select_repositories(source_repos, self.naming, project=self.project, include=self.include,
                                        prefixes=(self.naming.image_prefix,))
            listings = {pool.submit(self.source.list_tags, repo): repo for repo in repos}
            listed = on_target.result()
            existing = None if listed is None else set(listed)
            by_repo: dict[str, list[_TagPlan]] = {}
            compared: list[Future[None]] = []
            for listing in as_completed(listings):
                repo = listings[listing]
                rel = self.naming.relative(repo) or repo
                target_repo = self.naming.target_repository(repo)
                self.target.check_repository_name(target_repo)
                absent = existing is not None and target_repo not in existing
                if absent:
                    with self._lock:
                        self._absent |= {target_repo}
                plans = by_repo[repo] = [
                    _TagPlan(TagResult(f"{repo}:{tag}", f"{target_repo}:{tag}"), repo, tag, target_repo)
                    for tag in sorted(listing.result()) if matches_include(rel, tag, self.include)]
                for plan in plans:
                    on_target_tag = None if absent else target_pool.submit(
                        self.target.manifest_digest, plan.target_repo, plan.tag)
                    compared.append(pool.submit(self._compare_tag, plan, on_target_tag))
            ordered = [plan for repo in repos for plan in by_repo[repo]]
            self.report.tags = [p.result for p in ordered]
            self.progress.phase("comparing tags, reading manifests", total=len(ordered))
            for future in as_completed(compared):
                future.result()
                self.progress.advance()
        return ordered

    def _compare_tag(self, plan: _TagPlan, on_target: Future[str | None] | None) -> None:
        """Compare one tag (its target digest is being fetched in ``on_target``); read what differs."""
        try:
            plan.result.source_digest = self.source.manifest_digest(plan.repo, plan.tag)
            if plan.result.source_digest is None:
                raise RegistryAPIError(f"{plan.result.source}: the tag disappeared from the source")
            plan.result.target_digest = on_target.result() if on_target is not None else None
            if plan.result.target_digest == plan.result.source_digest:
                plan.result.status = "skipped"
                self._count(verified=1)
            else:
                self._plan_tag(plan)  # right away: no barrier between comparing and reading
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
        """Fetch the tag's manifest (by the digest just compared) and, for an index, its children."""
        assert plan.result.source_digest is not None
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
        self.progress.phase("blobs", total=sum(j.size * len(j.needs) for j in ordered))
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
                              for plan, digests in zip(plans, waiting, strict=True) if not digests)
            list(pool.map(run, ordered))  # every tag's write is submitted once its last blob is done
            self.progress.phase("manifests", total=len(plans))
            for future in as_completed(writes):  # those written early count at once
                future.result()
                self.progress.advance()

    def _copy_one_blob(self, job: _BlobJob) -> None:
        present: list[str] = []
        missing: list[tuple[str, str]] = []
        needs = job.needs
        if len(needs) == 1 and not self.dry_run and self.target.probes_by_mount:
            # One request instead of HEAD + POST: a mount from its own repository answers 201 when the
            # blob is there and opens the upload otherwise (no other repository to mount it from).
            (source_repo, target_repo), needs = needs[0], []
            outcome = self.target.copy_blob_from(self.source, source_repo, target_repo, job.digest, job.size,
                                                 probe=True, on_bytes=self.progress.advance)
            if outcome == "copied":
                self._count(blobs_copied=1, bytes_copied=job.size)
            else:
                self._count(blobs_skipped=1, bytes_skipped=job.size)
                self.progress.advance(job.size)
        for source_repo, target_repo in needs:
            if target_repo not in self._absent and self.target.blob_exists(target_repo, job.digest):
                present.append(target_repo)
                self._count(blobs_skipped=1, bytes_skipped=job.size)
                self.progress.advance(job.size)
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
            outcome = self.target.copy_blob_from(
                self.source, source_repo, target_repo, job.digest, job.size,
                mount_from=present[0] if present else None, on_bytes=self.progress.advance)
            if outcome == "mounted":
                self._count(blobs_mounted=1, bytes_mounted=job.size)
                self.progress.advance(job.size)
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
                    self.target.put_manifest(plan.target_repo, manifest.digest, manifest)
                    self._count(manifests_copied=1)
                with self._lock:
                    self._written.add(key)
            root = plan.manifests[-1]
            self.target.put_manifest(plan.target_repo, plan.tag, root)
            self._count(manifests_copied=1)
            plan.result.status = "copied"
        except RegistryExtError as exc:
            self._fail(plan, str(exc))

    def _verify(self, plans: list[_TagPlan]) -> None:
        """Resolve every copied tag on the target again (HEAD) and compare with the source digest:
        what a later pull will get, not what the registry said while the tag was written."""
        self.progress.phase("verifying", total=len(plans))

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
            list(pool.map(check, plans))

    def _compare_verified(self, plan: _TagPlan) -> None:
        if plan.result.target_digest == plan.result.source_digest:
            self._count(verified=1)
        else:
            self._difference(plan, f"source {plan.result.source_digest} but target "
                                   f"{plan.result.target_digest or '(missing)'}")

    def _difference(self, plan: _TagPlan, problem: str) -> None:
        with self._lock:
            self.report.differences.append({"tag": plan.result.target, "source": plan.result.source,
                                            "problem": problem})


# --- Python API -----------------------------------------------------------------------------------

def _as_service(value: str | RegistryService, field_name: str) -> RegistryService:
    from mlrun_registry_ext.core.service import RegistryService

    if isinstance(value, RegistryService):
        return value
    if not isinstance(value, str):
        raise ConfigError(field_name, f"expected a registry URL or RegistryService, got {type(value).__name__}")
    return RegistryService(url=value)


def ecr_repository_ensurer(service: RegistryService) -> Callable[[str], None] | None:
    """For an ECR target: the aws adapter's repository-ensure function, when it exists."""
    from mlrun_registry_ext.core.providers import Provider

    if service.provider is not Provider.ECR:
        return None
    try:
        from mlrun_registry_ext.clients import aws
    except ImportError:
        return None
    ensure = getattr(aws, "ensure_repository", None) or getattr(aws, "ensure_ecr_repository", None)
    if not callable(ensure):
        return None

    def _ensure(repository: str) -> None:
        ensure(service, repository)

    return _ensure


def registry_login(service: RegistryService) -> RegistryService:
    """The service as the registry API needs it: for ECR, its AWS keys (or role) become an ECR token
    under user ``AWS`` (valid 12 h); other providers are used as given."""
    if service.ecr is None:
        return service
    from mlrun_registry_ext.clients import aws

    token = aws.get_ecr_token(service)
    return service.replace(username="AWS", password=token.password)


def check_endpoints(source: RegistryLocation, target: RegistryLocation) -> None:
    """'.' (the MLRun server's own registry) has no address here: it is neither source nor target."""
    if target.is_server_default:
        raise ConfigError("to", "the target is '.', the MLRun server's own registry; give its real URL")
    if source.is_server_default:
        raise ConfigError("from", "the source is '.', the MLRun server's own registry; give its real URL")


def run_migration(
    source: RegistryAccess,
    target: RegistryAccess,
    *,
    image_prefix: str = "",
    project: str | None = None,
    include: Sequence[str] = (),
    jobs: int = 6,
    dry_run: bool = False,
    rename: bool = False,
    verify: bool = True,
    progress: bool | Progress | None = None,
    ensure_repository: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> MigrationReport:
    """The engine entry, from pure pieces: each side's location, login (as the registry API takes it,
    e.g. an ECR token already) and CA bundle, and the target's image prefix. :func:`migrate` and the
    command line both end here; ``progress`` and ``timeout`` are as for :func:`migrate`."""
    from mlrun_registry_ext.clients.registry.transfer import TIMEOUT, RegistryEndpoint

    check_endpoints(source.location, target.location)
    naming = Naming(source_path=source.location.path, target_path=target.location.path, image_prefix=image_prefix,
                    rename=rename)
    if progress is None:
        import sys

        progress = sys.stderr.isatty()
    limit = TIMEOUT if timeout is None else timeout
    with RegistryEndpoint.for_access(source, timeout=limit) as src_ep, \
            RegistryEndpoint.for_access(target, timeout=limit) as dst_ep:
        sink: Progress | None = RichProgress() if progress is True else (progress or None)
        return Migration(src_ep, dst_ep, naming, project=project, include=include, jobs=jobs, dry_run=dry_run,
                         verify=verify, progress=sink, ensure_repository=ensure_repository).run()


def migrate(
    source: str | RegistryService,
    target: str | RegistryService | None = None,
    *,
    project: str | None = None,
    include: Sequence[str] = (),
    jobs: int = 6,
    dry_run: bool = False,
    rename: bool = False,
    verify: bool = True,
    progress: bool | Progress | None = None,
    timeout: float | None = None,
) -> MigrationReport:
    """Copy every tag (filtered by ``project`` and ``include`` globs) from ``source`` to ``target``.

    ``source`` and ``target`` are registry URLs (``http://`` = explicitly insecure) or
    :class:`RegistryService` objects (with credentials); ``target=None`` uses the active registry
    service. ``progress``: True for a rich progress bar, False for none, None to show one only on a
    terminal. ``timeout`` (default 60 s) bounds each request as a whole; a blob stream instead fails
    when no byte moved for that long or it averages under 16 KiB/s. Returns a :class:`MigrationReport`
    (rendered as a table in notebooks).
    """
    if target is None:
        from mlrun_registry_ext.features.api import resolve

        target = resolve().service
    src = _as_service(source, "from")
    dst = _as_service(target, "to")
    check_endpoints(src.location, dst.location)  # before any ECR login
    return run_migration(registry_login(src).access, registry_login(dst).access, image_prefix=dst.image_prefix,
                         project=project, include=include, jobs=jobs, dry_run=dry_run, rename=rename,
                         verify=verify, progress=progress, ensure_repository=ecr_repository_ensurer(dst),
                         timeout=timeout)
