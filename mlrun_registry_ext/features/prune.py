"""Prune a registry: delete the images no function uses, keep the newest few, and say what it frees.

Every build pushes another tag, and Kaniko's ``<repo>/cache`` repositories grow without bound, until
a registry is full of one function (or ECR's per-repository image limit stops the builds). Pruning is
the one operation here that destroys data, so it is built to keep whatever it is unsure about:

- **Kept**: every image a function record in the MLRun DB names (``spec.image``, ``spec.build.image``,
  ``spec.build.base_image``, ``status.container_image``), every image a Nuclio function names
  (``status.containerImage``, ``spec.image``), the N newest tags of each repository, and every digest a
  kept tag or index points to (index children included).
- **Any doubt keeps**: the MLRun API unreachable refuses the whole run (nothing is known about what
  functions use); a manifest that cannot be read or has an unknown type keeps its tags; a tag whose
  age is unknown is kept; a registry that refuses deletes (405 ``UNSUPPORTED``) keeps everything and
  says so.
- **Newest** is by the image config's ``created`` date (what ``docker inspect`` shows; for an index the
  newest of its children), failing that by the registry's push time where it has one (ECR's
  ``imagePushedAt``: the upload order). The distribution API exposes no push time, so an image with no
  usable ``created`` (missing, or the epoch of a reproducible build) has an unknown age there and is
  kept. On ECR the push time is used first: reading every config blob would cost a download each.
- **Freed bytes**: the manifests deleted plus their blobs (config and layers) that no remaining
  manifest in any repository read shares: what a registry garbage collection removes (distribution's
  blob store is global).

The first half of this module is pure planning (:func:`plan_prune`: repositories, tags, manifests,
references and keep rules in, a plan with a reason per decision out), like regclient's split between
calls and orchestration. The engine below it reads the registry (the registry HTTP client, or boto3
for ECR), the MLRun API (the real mlrun client) and the Nuclio dashboard, then deletes: ``DELETE
/v2/<repo>/manifests/<digest>`` (each tag resolved to its digest with the manifest Accept header), or
ECR ``BatchDeleteImage``.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from mlrun_registry_ext.clients import aws
from mlrun_registry_ext.clients.platform_probe import (
    list_nuclio_functions,
    mlrun_dbpath,
    nuclio_dashboard_url,
    require_mlrun_api,
)
from mlrun_registry_ext.clients.registry.client import (
    DeniedError,
    RegistryClient,
    RetryPolicy,
    UnauthorizedError,
    UnsupportedError,
)
from mlrun_registry_ext.clients.registry.errors import ListingError, NameUnknownError
from mlrun_registry_ext.clients.registry.login import login
from mlrun_registry_ext.core.manifest import MANIFEST_MEDIA_TYPES, parse_manifest
from mlrun_registry_ext.core.origin import same_registry
from mlrun_registry_ext.core.providers.ecr import (
    DEFAULT_CACHE_DAYS,
    cache_lifecycle_policy,
    repository_lifecycle_policy,
)
from mlrun_registry_ext.core.reference import is_registry_host, parse_reference
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.errors import ConfigError, RegistryAPIError, RegistryExtError, quote
from mlrun_registry_ext.features.api import as_service
from mlrun_registry_ext.features.migrate.model import matches_project, relative_repository
from mlrun_registry_ext.features.migrate.rewrite import mlrun_logs_to_stderr

if TYPE_CHECKING:
    from mlrun_registry_ext.core.location import RegistryLocation

log = logging.getLogger(__name__)

DEFAULT_KEEP = 3
#: An untagged manifest (ECR lists them) younger than this may belong to a push in progress.
UNTAGGED_GRACE = timedelta(hours=1)
#: ``created`` dates before this are a reproducible build's placeholder (the epoch), not an age.
_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
#: The cap on an image config read whole.
CONFIG_CAP = 4 << 20
MAX_LISTED = 10

# --- durations ------------------------------------------------------------------------------------

_DURATION_RE = re.compile(r"(?:(?P<w>\d{1,6})w)?(?:(?P<d>\d{1,6})d)?(?:(?P<h>\d{1,7})h)?(?:(?P<m>\d{1,9})m)?"
                          r"(?:(?P<s>\d{1,11})s)?")
_MAX_DURATION = timedelta(days=36500)
ALLOWED_DURATION = "a duration such as 30d, 12h, 2w or 1d12h (units w, d, h, m, s; at most 100 years)"


def parse_duration(text: str, field_name: str = "--older-than") -> timedelta:
    """``1w2d3h4m5s`` (any non-empty subset, in that order) as a timedelta greater than zero."""
    match = _DURATION_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or not any(match.groupdict().values()):
        raise ConfigError(field_name, f"{quote(text)} is not {ALLOWED_DURATION}")
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    seconds = (parts.get("w", 0) * 604800 + parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600
               + parts.get("m", 0) * 60 + parts.get("s", 0))
    if seconds <= 0 or seconds > _MAX_DURATION.total_seconds():
        raise ConfigError(field_name, f"{quote(text)} is out of range; expected {ALLOWED_DURATION}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out or "0s"


def parse_created(value: Any) -> datetime | None:
    """An image config's ``created`` (RFC 3339, Go writes up to nanoseconds) as an aware datetime; None
    when absent, unparsable, or a reproducible build's placeholder date."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip())
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when if when >= _EARLIEST else None


# --- planning inputs ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ManifestRecord:
    """One manifest of a repository as read: its own size, blobs (config + layers) or children, and dates.

    ``problem`` set (unreadable, unknown media type, digest mismatch) makes it, and every tag on it, kept.
    """

    digest: str
    media_type: str | None
    size: int = 0
    blobs: tuple[tuple[str, int], ...] = ()
    children: tuple[str, ...] = ()
    created: datetime | None = None
    pushed_at: datetime | None = None
    problem: str | None = None

    @property
    def known(self) -> bool:
        return self.problem is None and self.media_type is not None


@dataclass
class RepositoryState:
    """A repository's tags (tag -> digest) and the manifests read from it; ``in_scope`` False (outside
    ``--project``) keeps everything in it, and a ``problem`` (it could not be listed) as well."""

    name: str
    tags: dict[str, str] = field(default_factory=dict)
    manifests: dict[str, ManifestRecord] = field(default_factory=dict)
    in_scope: bool = True
    problem: str | None = None


@dataclass(frozen=True)
class ImageUse:
    """An image a function names, as a repository of the registry being pruned. ``loose``: MLRun's
    ``.`` form (the server's registry, whose address may differ): matched by path suffix."""

    repository: str
    tag: str | None
    digest: str | None
    source: str
    loose: bool = False

    def matches(self, repository: str) -> bool:
        if self.repository == repository:
            return True
        return self.loose and (repository.endswith("/" + self.repository)
                               or self.repository.endswith("/" + repository))

    def __str__(self) -> str:
        return self.repository + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


@dataclass(frozen=True)
class KeepRules:
    keep: int = DEFAULT_KEEP
    older_than: timedelta | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    untagged_grace: timedelta = UNTAGGED_GRACE


@dataclass(frozen=True)
class PruneOptions:
    """What a prune run was asked to do, passed down whole (as :class:`~.migrate.MigrateOptions` is):
    the shape for :func:`run_prune` and the command line to share. ``dry_run`` defaults to True, as the
    Python API does."""

    project: str | None = None
    keep: int = DEFAULT_KEEP
    older_than: timedelta | str | None = None
    dry_run: bool = True
    nuclio: bool = True
    jobs: int = 8
    timeout: float = 10.0


# --- planning outputs -----------------------------------------------------------------------------

Action = Literal["keep", "delete"]
DeletionStatus = Literal["planned", "deleted", "gone", "kept", "failed"]


@dataclass
class TagDecision:
    repository: str
    tag: str
    digest: str | None
    action: Action
    reasons: list[str] = field(default_factory=list)
    when: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"repository": self.repository, "tag": self.tag, "digest": self.digest, "action": self.action,
                "reasons": list(self.reasons), "date": self.when.isoformat() if self.when else None}


@dataclass
class ManifestDeletion:
    """One ``DELETE`` (or one ECR image id): a manifest by digest, with the tags that go with it."""

    repository: str
    digest: str
    media_type: str | None
    size: int
    tags: tuple[str, ...]
    reason: str
    status: DeletionStatus = "planned"
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"repository": self.repository, "digest": self.digest, "media_type": self.media_type,
               "tags": list(self.tags), "reason": self.reason, "status": self.status}
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class PrunePlan:
    decisions: list[TagDecision] = field(default_factory=list)
    deletions: list[ManifestDeletion] = field(default_factory=list)
    freed: dict[str, int] = field(default_factory=dict)
    #: False when a manifest could not be read: blobs it shares are unknown, the figure is an upper bound.
    exact: bool = True

    @property
    def bytes_freed(self) -> int:
        return sum(self.freed.values())


def _closure(manifests: Mapping[str, ManifestRecord], roots: Iterable[str]) -> set[str]:
    """``roots`` and every manifest an index among them lists, transitively."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        digest = pending.pop()
        if digest in seen:
            continue
        seen.add(digest)
        record = manifests.get(digest)
        if record is not None:
            pending.extend(record.children)
    return seen


def _when(manifests: Mapping[str, ManifestRecord], digest: str, depth: int = 0) -> datetime | None:
    """An image's date: its config's ``created``, else its push time; an index: its own push time, else
    the newest of its children's dates."""
    record = manifests.get(digest)
    if record is None or depth > 8:
        return None
    if record.created is not None:
        return record.created
    if record.pushed_at is not None:
        return record.pushed_at
    dates = [d for d in (_when(manifests, c, depth + 1) for c in record.children) if d is not None]
    return max(dates) if dates else None


def _plan_repository(repo: RepositoryState, uses: Sequence[ImageUse], rules: KeepRules,
                     plan: PrunePlan) -> set[str]:
    """Decide one repository's tags; append its decisions and deletions; return the digests deleted."""
    mine = [u for u in uses if u.matches(repo.name)]
    dates = {tag: _when(repo.manifests, digest) for tag, digest in repo.tags.items()}
    dated = sorted((d, tag) for tag, d in dates.items() if d is not None)
    newest = {tag for _, tag in dated[::-1][: max(0, rules.keep)]}
    decisions: list[TagDecision] = []
    for tag in sorted(repo.tags):
        digest = repo.tags[tag]
        record = repo.manifests.get(digest)
        reasons: list[str] = []
        if repo.problem:
            reasons.append(repo.problem)
        if not repo.in_scope:
            reasons.append("outside the selected project")
        if record is None or not record.known:
            reasons.append(record.problem if record is not None and record.problem else "manifest not read")
        for use in mine:
            if (use.digest is None and use.tag == tag) or use.digest == digest:
                reasons.append(f"used by {use.source}")
        if tag in newest:
            reasons.append(f"one of the {rules.keep} newest")
        when = dates[tag]
        if when is None:
            reasons.append("age unknown (no created date or push time)")
        elif rules.older_than is not None and rules.now - when < rules.older_than:
            reasons.append(f"younger than {format_duration(rules.older_than)}")
        decisions.append(TagDecision(repo.name, tag, digest, "keep" if reasons else "delete", reasons, when))
    kept_roots = {d.digest for d in decisions if d.action == "keep" and d.digest}
    kept_roots |= {u.digest for u in mine if u.digest}
    kept = _closure(repo.manifests, kept_roots)
    for decision in decisions:
        if decision.action == "delete" and decision.digest in kept:
            decision.action = "keep"
            decision.reasons.append("its digest is kept for another tag or reference")
    doomed_roots = [d.digest for d in decisions if d.action == "delete" and d.digest]
    tags_of: dict[str, list[str]] = {}
    for d in decisions:
        if d.digest:
            tags_of.setdefault(d.digest, []).append(d.tag)
    deleted: list[tuple[str, str]] = []  # (digest, reason), parents before their children
    seen: set[str] = set()
    for root in sorted(set(doomed_roots)):
        order = [root, *sorted(_closure(repo.manifests, [root]) - {root})]
        for digest in order:
            record = repo.manifests.get(digest)
            if digest in kept or digest in seen or record is None or not record.known:
                continue
            seen.add(digest)
            deleted.append((digest, "not used, not among the newest" if digest == root
                            else "child of a deleted index"))
    # manifests no tag reaches (ECR lists them): old enough, not kept -> deleted
    reachable = _closure(repo.manifests, repo.tags.values())
    if repo.in_scope and not repo.problem:
        floor = max(rules.untagged_grace, rules.older_than or timedelta(0))
        for digest, record in sorted(repo.manifests.items()):
            if digest in reachable or digest in kept or digest in seen or not record.known:
                continue
            when = _when(repo.manifests, digest)
            if when is None or rules.now - when < floor:
                continue
            seen.add(digest)
            deleted.append((digest, "untagged"))
            for child in sorted(_closure(repo.manifests, [digest]) - {digest} - kept - seen - reachable):
                if repo.manifests[child].known if child in repo.manifests else False:
                    seen.add(child)
                    deleted.append((child, "child of a deleted index"))
    plan.decisions.extend(decisions)
    for digest, reason in deleted:
        record = repo.manifests[digest]
        plan.deletions.append(ManifestDeletion(repo.name, digest, record.media_type, record.size,
                                               tuple(sorted(tags_of.get(digest, ()))), reason))
    return seen


def freed_blobs(repositories: Iterable[RepositoryState], deleted: set[tuple[str, str]]) -> tuple[dict[str, int], bool]:
    """``{digest: size}`` of what the deleted ``(repository, digest)`` manifests free: their own bytes
    and their blobs, less whatever a remaining manifest (in any repository) still uses. The flag is
    False when some manifest could not be read (its blobs are unknown: the figure is an upper bound)."""
    still: set[str] = set()
    exact = True
    candidates: dict[str, int] = {}
    for repo in repositories:
        if repo.problem:
            exact = False
        for digest, record in repo.manifests.items():
            if (repo.name, digest) in deleted:
                candidates.setdefault(digest, record.size)
                for blob, size in record.blobs:
                    candidates.setdefault(blob, size)
                continue
            if not record.known:
                exact = False
            still.add(digest)
            still.update(blob for blob, _ in record.blobs)
    return {d: s for d, s in sorted(candidates.items()) if d not in still}, exact


def plan_prune(repositories: Sequence[RepositoryState], uses: Sequence[ImageUse],
               rules: KeepRules | None = None) -> PrunePlan:
    """The pure decision: which tags to keep (each with its reasons) and which manifests to delete.

    No network, no clock (``rules.now``), so it is tested on its own and a dry run shows exactly what a
    real run will do with the same inputs.
    """
    rules = rules or KeepRules()
    if rules.keep < 0:
        raise ConfigError("--keep", f"{rules.keep} is negative; expected 0 or more")
    plan = PrunePlan()
    deleted: set[tuple[str, str]] = set()
    for repo in sorted(repositories, key=lambda r: r.name):
        deleted |= {(repo.name, d) for d in _plan_repository(repo, uses, rules, plan)}
    plan.freed, plan.exact = freed_blobs(repositories, deleted)
    return plan


# --- image references -----------------------------------------------------------------------------

def image_use(image: Any, source: str, location: RegistryLocation) -> ImageUse | None:
    """``image`` as a repository of the registry at ``location`` (None: another registry, or not an
    image reference). MLRun's ``.name`` form means the server's own registry: matched loosely."""
    if not isinstance(image, str) or not image.strip() or len(image) > 512:
        return None
    text = image.strip()
    loose = text.startswith(".")
    try:
        ref = parse_reference(text.lstrip(".").lstrip("/") if loose else text)
    except ConfigError:
        return None
    if loose:
        repository = ref.repository if not ref.registry else None
        if repository is None:
            return None
    else:
        if not ref.registry or not same_registry(ref.registry, location.host, location.insecure):
            return None
        repository = ref.repository
    tag = ref.tag or (None if ref.digest else "latest")
    return ImageUse(repository, tag, ref.digest, source, loose)


def mlrun_function_images(function: Mapping[str, Any]) -> list[str]:
    """The images an MLRun function record names (what runs, what was built, what builds start from)."""
    def get(path: str) -> Any:
        node: Any = function
        for part in path.split("."):
            if not isinstance(node, Mapping):
                return None
            node = node.get(part)
        return node

    paths = ("spec.image", "spec.build.image", "spec.build.base_image", "status.container_image",
             "status.containerImage")
    return [value for value in (get(p) for p in paths) if isinstance(value, str) and value]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def nuclio_function_images(function: Mapping[str, Any]) -> list[str]:
    """``status.containerImage`` and ``spec.image`` (with ``spec.runRegistry`` when it has no host)."""
    spec = _mapping(function.get("spec"))
    status = _mapping(function.get("status"))
    out = []
    if isinstance(status.get("containerImage"), str) and status["containerImage"]:
        out.append(status["containerImage"])
    image = spec.get("image")
    if isinstance(image, str) and image:
        run_registry = spec.get("runRegistry")
        first = image.split("/", 1)[0]
        if "/" in image and is_registry_host(first):
            out.append(image)
        elif isinstance(run_registry, str) and run_registry.strip("/"):
            out.append(f"{run_registry.strip('/')}/{image}")
        else:
            out.append(image)
    return out


# --- report ---------------------------------------------------------------------------------------

@dataclass
class PruneReport:
    """What a prune did (or, with ``dry_run``, would do): decisions per tag, deletions, bytes freed."""

    registry: str
    dry_run: bool
    plan: PrunePlan
    rules: KeepRules
    project: str | None = None
    repositories: int = 0
    references: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def deleted(self) -> list[ManifestDeletion]:
        done = ("planned",) if self.dry_run else ("deleted", "gone")
        return [d for d in self.plan.deletions if d.status in done]

    @property
    def deleted_tags(self) -> list[TagDecision]:
        gone = {(d.repository, d.digest) for d in self.deleted}
        return [t for t in self.plan.decisions if (t.repository, t.digest) in gone]

    @property
    def kept_tags(self) -> list[TagDecision]:
        gone = {(d.repository, d.digest) for d in self.deleted}
        return [t for t in self.plan.decisions if (t.repository, t.digest) not in gone]

    @property
    def freed(self) -> dict[str, int]:
        """Blobs freed by what was deleted (on a dry run: by what would be)."""
        return dict(self.plan.freed)

    @property
    def bytes_freed(self) -> int:
        return sum(self.freed.values())

    @property
    def ok(self) -> bool:
        return not self.errors and not any(d.status == "failed" for d in self.plan.deletions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "dry_run": self.dry_run,
            "project": self.project,
            "ok": self.ok,
            "keep": self.rules.keep,
            "older_than": format_duration(self.rules.older_than) if self.rules.older_than else None,
            "repositories": self.repositories,
            "references": self.references,
            "tags": {"total": len(self.plan.decisions), "kept": len(self.kept_tags),
                     "deleted": len(self.deleted_tags)},
            "manifests_deleted": len(self.deleted),
            "bytes_freed": self.bytes_freed,
            "bytes_exact": self.plan.exact,
            "blobs_freed": sorted(self.freed),
            "seconds": round(self.seconds, 3),
            "decisions": [d.to_dict() for d in self.plan.decisions],
            "deletions": [d.to_dict() for d in self.plan.deletions],
            "warnings": list(self.warnings),
            "errors": list(self.errors),
        }

    def summary_lines(self) -> list[str]:
        verb = "would delete" if self.dry_run else "deleted"
        kept_manifests = [d for d in self.plan.deletions if d.status == "kept"]
        failed = [d for d in self.plan.deletions if d.status == "failed"]
        bound = "" if self.plan.exact else " (at most: some manifests could not be read)"
        lines = [
            f"{self.registry}" + (f" project {self.project}" if self.project else "")
            + (" (dry run)" if self.dry_run else ""),
            f"tags: {len(self.plan.decisions)} in {self.repositories} repositories, {len(self.kept_tags)} kept, "
            f"{len(self.deleted_tags)} {verb}; {self.references} image references from functions",
            f"manifests: {len(self.deleted)} {verb}"
            + (f", {len(kept_manifests)} kept (registry refused)" if kept_manifests else "")
            + (f", {len(failed)} failed" if failed else ""),
            f"freed: {_mb(self.bytes_freed)} in {len(self.freed)} blobs{bound}; {self.seconds:.2f} s",
        ]
        lines += [f"warning: {w}" for w in self.warnings[:MAX_LISTED]]
        lines += [f"error: {e}" for e in self.errors[:MAX_LISTED]]
        return lines

    def __str__(self) -> str:
        return "\n".join(self.summary_lines())

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(t.repository)}</td><td>{esc(t.tag)}</td><td><code>{esc((t.digest or '')[:19])}</code></td>"
            f"<td>{'delete' if t in self.deleted_tags else 'keep'}</td><td>{esc('; '.join(t.reasons))}</td></tr>"
            for t in self.plan.decisions[:500])
        summary = "<br>".join(esc(line) for line in self.summary_lines())
        return (f"<div><p>{summary}</p><table><thead><tr><th>repository</th><th>tag</th><th>digest</th>"
                f"<th>action</th><th>why</th></tr></thead><tbody>{rows}</tbody></table></div>")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n} bytes"


# --- reading the platform: what functions use -----------------------------------------------------

def _read_capped(response: Any, cap: int, what: str) -> bytes:
    out = bytearray()
    for chunk in response.iter_raw():
        out += chunk
        if len(out) > cap:
            raise RegistryAPIError(f"{what} is larger than {cap} bytes; refused")
    return bytes(out)


def mlrun_uses(dbpath: str | None, project: str | None, location: RegistryLocation,
               timeout: float = 10.0) -> list[ImageUse]:
    """Every image a function record of ``project`` (or every project) names, through the real mlrun
    client (``list_projects`` + ``list_functions``). Unreachable or failing: an error, never "none"."""
    if not dbpath:
        raise ConfigError("MLRUN_DBPATH", "prune needs the MLRun API to know which images functions use; "
                                          "set MLRUN_DBPATH to its URL")
    refuse = "nothing was deleted: without it, which images functions use is unknown"
    require_mlrun_api(dbpath, timeout, refuse)  # bounded: an unreachable one makes `import mlrun` hang
    try:
        with mlrun_logs_to_stderr():  # --json: stdout is the report
            import mlrun

            # MLRUN_DBPATH itself when that is the server: mlrun then keeps its user:password@ login, which
            # mlrun_dbpath() strips so that it is never shown
            db = mlrun.get_run_db(None if dbpath == mlrun_dbpath() else dbpath)
            projects = [project] if project else [str(p) for p in db.list_projects()]
            uses: list[ImageUse] = []
            for name in projects:
                for function in db.list_functions(project=name) or []:
                    if not isinstance(function, Mapping):
                        continue
                    meta = _mapping(function.get("metadata"))
                    label = f"MLRun function {meta.get('project') or name}/{meta.get('name') or '?'}"
                    if meta.get("tag"):
                        label += f":{meta['tag']}"
                    for image in mlrun_function_images(function):
                        use = image_use(image, label, location)
                        if use is not None:
                            uses.append(use)
            return uses
    except RegistryExtError:
        raise
    except Exception as exc:  # the mlrun client's HTTP errors, requests' connection errors
        raise RegistryExtError(f"listing functions through the MLRun API at {dbpath} failed "
                               f"({type(exc).__name__}: {str(exc)[:160]}); {refuse}") from None


def nuclio_uses(dashboard: str, project: str | None, location: RegistryLocation,
                timeout: float = 10.0) -> list[ImageUse]:
    """Every image a Nuclio function names (``GET /api/functions``, the project in
    ``X-Nuclio-Project-Name``). A dashboard that does not answer is an error: nothing is deleted."""
    refuse = "nothing was deleted: without it, which images Nuclio functions use is unknown"
    functions = list_nuclio_functions(dashboard, project, timeout, refuse)
    uses = []
    for name, function in functions.items():
        if not isinstance(function, Mapping):
            continue
        for image in nuclio_function_images(function):
            use = image_use(image, f"Nuclio function {name}", location)
            if use is not None:
                uses.append(use)
    return uses


# --- reading the registry -------------------------------------------------------------------------

def in_scope(repository: str, location_path: str, project: str | None, image_prefix: str = "") -> bool:
    """Whether ``repository`` may be pruned: with a project, only its images (MLRun's
    ``func-<project>-`` naming, and their ``/cache`` repositories)."""
    relative = relative_repository(repository, location_path)
    if relative is None:
        return False
    if not project:
        return True
    return matches_project(relative.removesuffix("/cache"), project, (image_prefix,))


class HttpInventory:
    """Reads a registry through its HTTP API (catalog, tags, manifests, config blobs), in parallel."""

    def __init__(self, endpoint: RegistryClient, jobs: int = 8) -> None:
        self.endpoint = endpoint
        self.jobs = max(1, jobs)

    def repositories(self) -> list[str]:
        return self.endpoint.repositories() or []

    def read_all(self, names: Sequence[str]) -> list[RepositoryState]:
        with ThreadPoolExecutor(self.jobs) as pool:
            return list(pool.map(self.read, names))

    def read(self, name: str) -> RepositoryState:
        repo = RepositoryState(name)
        try:
            tags = self.endpoint.tags(name)
        except NameUnknownError:
            tags = []  # gone since the catalog listed it
        except ListingError:
            raise  # a listing that does not end (or leaves the origin) stops the run: the registry misbehaves
        except RegistryExtError as exc:
            repo.problem = f"the repository could not be listed ({exc})"
            return repo
        lock = threading.Lock()

        def tag_digest(tag: str) -> None:
            try:
                raw, content_type = self.endpoint.get_manifest(name, tag)
            except RegistryExtError as exc:
                with lock:
                    repo.problem = repo.problem or f"tag {tag} could not be read ({exc})"
                return
            digest = "sha256:" + hashlib.sha256(raw).hexdigest()
            with lock:
                repo.tags[tag] = digest
            self._record(repo, digest, raw, content_type, lock)

        with ThreadPoolExecutor(self.jobs) as pool:
            list(pool.map(tag_digest, tags))
        return repo

    def _record(self, repo: RepositoryState, digest: str, raw: bytes, content_type: str | None,
                lock: threading.Lock) -> None:
        with lock:
            if digest in repo.manifests:
                return
        try:
            manifest = parse_manifest(raw, content_type, f"{repo.name}@{digest}")
        except RegistryAPIError as exc:
            with lock:
                repo.manifests[digest] = ManifestRecord(digest, None, len(raw), problem=f"kept: {exc}")
            return
        created = None
        if not manifest.is_index and manifest.blobs:
            created = self._created(repo.name, manifest.blobs[0].digest)
        record = ManifestRecord(digest, manifest.media_type, len(raw),
                                tuple((b.digest, b.size) for b in manifest.blobs if not b.foreign),
                                tuple(c.digest for c in manifest.children), created)
        with lock:
            repo.manifests[digest] = record
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
                raw = _read_capped(response, CONFIG_CAP, f"config {digest}")
            return parse_created(json.loads(raw).get("created"))
        except (RegistryExtError, ValueError, AttributeError, OSError) as exc:
            log.debug("config %s of %s not read: %s", digest, repository, exc)
            return None


class EcrInventory:
    """Reads ECR through boto3: DescribeRepositories, DescribeImages (tags, push times, untagged images)
    and BatchGetImage (the manifests, for index children and blob sizes)."""

    ACCEPT = list(MANIFEST_MEDIA_TYPES)

    def __init__(self, ecr: Any) -> None:
        self.ecr = ecr

    def repositories(self) -> list[str]:
        names: list[str] = []
        with aws.aws_errors("ecr:DescribeRepositories"):
            names += [r["repositoryName"] for r in aws.ecr_listing(self.ecr, "describe_repositories", "repositories",
                                                                    what="the repository listing")]
        return sorted(names)

    def read_all(self, names: Sequence[str]) -> list[RepositoryState]:
        return [self.read(name) for name in names]

    def read(self, name: str) -> RepositoryState:
        repo = RepositoryState(name)
        details: list[dict[str, Any]] = []
        try:
            details += aws.ecr_listing(self.ecr, "describe_images", "imageDetails", what=f"the image listing of {name}",
                                       repositoryName=name)
        except ListingError:
            raise  # a listing that does not end stops the run, as on a registry's own API
        except Exception as exc:
            repo.problem = f"the repository could not be listed ({type(exc).__name__})"
            return repo
        pushed = {d["imageDigest"]: d.get("imagePushedAt") for d in details if d.get("imageDigest")}
        for d in details:
            for tag in d.get("imageTags") or []:
                repo.tags[tag] = d["imageDigest"]
        digests = sorted(pushed)
        for start in range(0, len(digests), 100):
            batch = digests[start:start + 100]
            try:
                answer = self.ecr.batch_get_image(repositoryName=name, acceptedMediaTypes=self.ACCEPT,
                                                  imageIds=[{"imageDigest": d} for d in batch])
            except Exception as exc:
                repo.problem = f"manifests could not be read ({type(exc).__name__})"
                return repo
            for image in answer.get("images") or []:
                digest = image.get("imageId", {}).get("imageDigest")
                raw = str(image.get("imageManifest") or "").encode()
                when = pushed.get(digest)
                when = when if isinstance(when, datetime) else None
                if when is not None and when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                try:
                    manifest = parse_manifest(raw, image.get("imageManifestMediaType"), f"{name}@{digest}")
                except RegistryAPIError as exc:
                    repo.manifests[digest] = ManifestRecord(digest, None, len(raw), pushed_at=when,
                                                            problem=f"kept: {exc}")
                    continue
                repo.manifests[digest] = ManifestRecord(
                    digest, manifest.media_type, len(raw),
                    tuple((b.digest, b.size) for b in manifest.blobs if not b.foreign),
                    tuple(c.digest for c in manifest.children), None, when)
            for failure in answer.get("failures") or []:
                digest = failure.get("imageId", {}).get("imageDigest")
                if digest:
                    repo.manifests[digest] = ManifestRecord(
                        digest, None, problem=f"kept: ECR could not return it ({failure.get('failureCode')})")
        return repo


# --- deleting -------------------------------------------------------------------------------------

def delete_http(endpoint: RegistryClient, deletions: Sequence[ManifestDeletion], jobs: int = 4) -> list[str]:
    """``DELETE`` each manifest by digest (parents before children within a repository; repositories in
    parallel). A registry without delete (405/UNSUPPORTED) stops the run: everything left is kept."""
    warnings: list[str] = []
    refused = threading.Event()
    lock = threading.Lock()
    by_repo: dict[str, list[ManifestDeletion]] = {}
    for item in deletions:
        by_repo.setdefault(item.repository, []).append(item)

    def run(items: list[ManifestDeletion]) -> None:
        for item in items:
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

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        list(pool.map(run, by_repo.values()))
    return warnings


def delete_ecr(ecr: Any, deletions: Sequence[ManifestDeletion]) -> list[str]:
    """ECR ``BatchDeleteImage`` by digest, 100 per call, parents before children."""
    warnings: list[str] = []
    by_repo: dict[str, list[ManifestDeletion]] = {}
    for item in deletions:
        by_repo.setdefault(item.repository, []).append(item)
    for repository, items in by_repo.items():
        for start in range(0, len(items), 100):
            batch = items[start:start + 100]
            try:
                answer = ecr.batch_delete_image(repositoryName=repository,
                                                imageIds=[{"imageDigest": i.digest} for i in batch])
            except Exception as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
                for item in batch:
                    item.status = "kept"
                    item.error = f"ecr:BatchDeleteImage refused ({code})"
                warnings.append(f"ECR refused BatchDeleteImage on {repository} ({code}); kept")
                continue
            failed = {f.get("imageId", {}).get("imageDigest"): f for f in answer.get("failures") or []}
            for item in batch:
                failure = failed.get(item.digest)
                if failure is None:
                    item.status = "deleted"
                elif failure.get("failureCode") == "ImageNotFound":
                    item.status = "gone"
                else:
                    item.status = "failed"
                    item.error = f"{failure.get('failureCode')}: {str(failure.get('failureReason'))[:120]}"
    return warnings


# --- ECR lifecycle policy -------------------------------------------------------------------------



def apply_ecr_lifecycle(service: RegistryService, *, keep: int = DEFAULT_KEEP, cache_days: int = DEFAULT_CACHE_DAYS,
                        project: str | None = None) -> list[tuple[str, str]]:
    """``PutLifecyclePolicy`` on every repository under the service's path (of ``project``): the cache
    policy on ``*/cache``, the function policy on the rest. Returns ``[(repository, "function"|"cache")]``."""
    ecr = aws.client(service, "ecr")
    main = json.dumps(repository_lifecycle_policy(keep))
    cache = json.dumps(cache_lifecycle_policy(cache_days))
    done = []
    for name in EcrInventory(ecr).repositories():
        if not in_scope(name, service.location.path, project, service.image_prefix):
            continue
        kind = "cache" if name.endswith("/cache") else "function"
        with aws.aws_errors("ecr:PutLifecyclePolicy"):
            ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=cache if kind == "cache" else main)
        done.append((name, kind))
    return done


# --- engine and Python API ------------------------------------------------------------------------

@dataclass
class _Sources:
    dbpath: str | None
    dashboard: str | None


def _sources(dbpath: str | None, dashboard: str | None) -> _Sources:
    return _Sources(dbpath or mlrun_dbpath(), dashboard or nuclio_dashboard_url())


def run_prune(
    service: RegistryService,
    *,
    project: str | None = None,
    keep: int = DEFAULT_KEEP,
    older_than: timedelta | str | None = None,
    dry_run: bool = False,
    nuclio: bool = True,
    dbpath: str | None = None,
    dashboard_url: str | None = None,
    jobs: int = 8,
    now: datetime | None = None,
    timeout: float = 10.0,
) -> PruneReport:
    """Collect what functions use (MLRun, then Nuclio), read the registry, plan, delete (unless
    ``dry_run``). Everything that can refuse the run does so before the first delete."""
    started = time.monotonic()
    if isinstance(older_than, str):
        older_than = parse_duration(older_than)
    if keep < 0:
        raise ConfigError("--keep", f"{keep} is negative; expected 0 or more")
    location = service.location
    if location.is_server_default:
        raise ConfigError("url", "the registry is '.', the MLRun server's own registry; give its real URL")
    rules = KeepRules(keep=keep, older_than=older_than, now=now or datetime.now(UTC))
    src = _sources(dbpath, dashboard_url)
    warnings: list[str] = []
    uses = mlrun_uses(src.dbpath, project, location, timeout)
    if nuclio:
        if not src.dashboard:
            raise ConfigError("NUCLIO_DASHBOARD_URL", "prune needs the Nuclio dashboard to know which images "
                                                      "Nuclio functions use; set it, or pass --no-nuclio when "
                                                      "no function is deployed to Nuclio directly")
        uses += nuclio_uses(src.dashboard, project, location, timeout)
    else:
        warnings.append("Nuclio functions were not checked (--no-nuclio): only MLRun's records protect their images")

    if service.ecr is not None:
        ecr = aws.client(service, "ecr")
        inventory: HttpInventory | EcrInventory = EcrInventory(ecr)
        states = _read_states(inventory, location.path, project, service.image_prefix)
        plan = plan_prune(states, uses, rules)
        if not dry_run:
            warnings += delete_ecr(ecr, plan.deletions)
    else:
        with RegistryClient.for_access(login(service), timeout=timeout * 3, retry=RetryPolicy()) as endpoint:
            inventory = HttpInventory(endpoint, jobs)
            states = _read_states(inventory, location.path, project, service.image_prefix)
            plan = plan_prune(states, uses, rules)
            if not dry_run:
                warnings += delete_http(endpoint, plan.deletions, jobs=max(1, jobs // 2))
    report = PruneReport(location.display, dry_run, plan, rules, project, len(states), len(uses),
                         warnings=warnings)
    if not dry_run:
        # what was really deleted (a refusing registry keeps the rest) decides what is freed
        done = {(d.repository, d.digest) for d in plan.deletions if d.status in ("deleted", "gone")}
        plan.freed, plan.exact = freed_blobs(states, done)
        report.errors += [f"{d.repository}@{d.digest}: {d.error}" for d in plan.deletions if d.status == "failed"]
    report.seconds = time.monotonic() - started
    return report


def _read_states(inventory: HttpInventory | EcrInventory, path: str, project: str | None,
                 image_prefix: str) -> list[RepositoryState]:
    names = [n for n in inventory.repositories() if relative_repository(n, path) is not None]
    states = inventory.read_all(names)
    for state in states:
        state.in_scope = in_scope(state.name, path, project, image_prefix)
    return states


def prune(
    registry: str | RegistryService | None = None,
    *,
    project: str | None = None,
    keep: int = DEFAULT_KEEP,
    older_than: timedelta | str | None = None,
    dry_run: bool = True,
    nuclio: bool = True,
    jobs: int = 8,
) -> PruneReport:
    """Prune ``registry`` (a URL, a :class:`RegistryService`, or None for the active service).

    The Python API defaults to ``dry_run=True``: pass ``dry_run=False`` to delete. Returns a
    :class:`PruneReport` (``to_dict()`` for plain data; a table in notebooks).
    """
    service = as_service(registry, "registry", project=project if registry is None else None)
    return run_prune(service, project=project, keep=keep, older_than=older_than, dry_run=dry_run,
                     nuclio=nuclio, jobs=jobs)


__all__ = [
    "ImageUse", "KeepRules", "ManifestDeletion", "ManifestRecord", "PruneOptions", "PrunePlan", "PruneReport",
    "RepositoryState",
    "TagDecision", "apply_ecr_lifecycle", "freed_blobs",
    "image_use", "parse_duration", "plan_prune", "prune", "run_prune",
]
