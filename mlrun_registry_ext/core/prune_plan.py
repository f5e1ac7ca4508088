"""Prune's rules, pure: what functions use, what is kept and why, which manifests go, what that frees.

Prune is the one command here that destroys data, so its rules live in the core, apart from the reads
and the deletes (regclient's split between calls and orchestration). Values in, a plan out: no network,
no clock (``KeepRules.now``), so a dry run shows exactly what a real run does with the same inputs, and
each rule is a small named function a test (or a mutant) can reach.

The rules, each kept by a function below:

- **Used is kept**: every image an MLRun function record or a Nuclio function names, in any project
  (:func:`mlrun_function_images`, :func:`nuclio_function_images`), matched to repositories with Docker
  Hub's spellings folded (:func:`image_use`); every digest a kept tag or index reaches (:func:`closure`).
- **Newest kept**: the N newest tags of each repository (:func:`newest_tags`).
- **Young kept**: a manifest younger than the minimum age (a build pushes before the function record
  names the image), or younger than ``--older-than`` (:func:`too_young`).
- **Unknown age kept**: no ``created`` date (or the epoch placeholder of a reproducible build) and no
  push time: never deleted by age (:func:`image_date` is None).
- **Doubt keeps**: an unreadable manifest, an unknown media type, a repository that could not be read
  whole (:func:`tag_keep_reasons`).
- **Project**: with ``--project P`` only repositories MLRun named ``func-P-<name>``, where P is the
  LONGEST known project name that fits (so ``func-fraud-eu-trainer`` is ``fraud-eu``'s, never
  ``fraud``'s) (:func:`project_of`).
- **Freed bytes**: the deleted manifests and their blobs that no remaining manifest shares; exact only
  when every repository of the registry was read (:func:`freed_blobs`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from mlrun_registry_ext.core.origin import same_registry
from mlrun_registry_ext.core.reference import (
    DOCKER_HUB,
    docker_hub_folded,
    is_registry_host,
    parse_reference,
)
from mlrun_registry_ext.errors import ConfigError, quote

if TYPE_CHECKING:
    from mlrun_registry_ext.core.location import RegistryLocation

DEFAULT_KEEP = 3
#: A manifest younger than this is never deleted: a build pushes its image before the function record
#: names it, so a fresh image may be about to be used.
DEFAULT_MIN_AGE = timedelta(hours=1)
#: ``created`` dates before this are a reproducible build's placeholder (the epoch), not an age.
EARLIEST = datetime(1990, 1, 1, tzinfo=timezone.utc)
#: MLRun's repository naming for a project's functions (``<image prefix>func-<project>-<name>``).
MLRUN_PROJECT_PREFIX = "func-{project}-"

# --- durations ------------------------------------------------------------------------------------

_DURATION_RE = re.compile(r"(?:(?P<w>\d{1,6})w)?(?:(?P<d>\d{1,6})d)?(?:(?P<h>\d{1,7})h)?(?:(?P<m>\d{1,9})m)?"
                          r"(?:(?P<s>\d{1,11})s)?")
_MAX_DURATION = timedelta(days=36500)
ALLOWED_DURATION = "a duration such as 30d, 12h, 2w or 1d12h (units w, d, h, m, s; at most 100 years)"


def parse_duration(text: str, field_name: str = "--older-than", *, allow_zero: bool = False) -> timedelta:
    """``1w2d3h4m5s`` (any non-empty subset, in that order) as a timedelta greater than zero (or zero,
    ``0s``, with ``allow_zero``)."""
    match = _DURATION_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or not any(match.groupdict().values()):
        raise ConfigError(field_name, f"{quote(text)} is not {ALLOWED_DURATION}")
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    seconds = (parts.get("w", 0) * 604800 + parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600
               + parts.get("m", 0) * 60 + parts.get("s", 0))
    if (seconds <= 0 and not allow_zero) or seconds > _MAX_DURATION.total_seconds():
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
    when absent, unparsable, or a reproducible build's placeholder date (before :data:`EARLIEST`)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    # the fraction as exactly 6 digits: Go trims trailing zeros (".12") or writes 9, and Python 3.9's
    # fromisoformat takes only 3 or 6
    text = re.sub(r"\.(\d+)", lambda match: "." + f"{match[1]:0<6}"[:6], value.strip(), count=1)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return real_date(when)


def real_date(when: datetime | None) -> datetime | None:
    """``when`` unless it is a placeholder (the epoch of a reproducible build): that is no age at all."""
    return when if when is not None and when >= EARLIEST else None


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
    ``--project``) keeps everything in it, and a ``problem`` (it could not be read whole) as well."""

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
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    min_age: timedelta = DEFAULT_MIN_AGE

    @property
    def age_floor(self) -> timedelta:
        """The youngest a manifest may be and still be deleted."""
        return max(self.min_age, self.older_than or timedelta(0))


# --- planning outputs -----------------------------------------------------------------------------

Action = Literal["keep", "delete"]
DeletionStatus = Literal["planned", "deleted", "gone", "kept", "failed", "skipped"]


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
    """One ``DELETE`` (or one ECR image id): a manifest by digest, with the tags that go with it.

    ``status``: planned; deleted / gone (already not there); kept (the registry refused deletes, or the
    run stopped); skipped (the re-check found a tag not planned for deletion reaching it); failed."""

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
    #: False when the figure is an upper bound; ``exact_reason`` says why.
    exact: bool = True
    exact_reason: str | None = None

    @property
    def bytes_freed(self) -> int:
        return sum(self.freed.values())


# --- naming: which project a repository belongs to ------------------------------------------------

def project_of(relative: str, projects: Iterable[str], prefixes: Sequence[str] = ("",),
               template: str = MLRUN_PROJECT_PREFIX) -> str | None:
    """The project whose function image ``relative`` is, by MLRun's ``<prefix>func-<project>-<name>``:
    the LONGEST known project name that fits, with a non-empty function name after it.

    A bare prefix test would give ``func-fraud-eu-trainer`` to project ``fraud``; with both ``fraud`` and
    ``fraud-eu`` known it is ``fraud-eu``'s. A ``/cache`` repository (Kaniko's layer cache) belongs to
    its function's project. None: no known project's naming.
    """
    name = relative.removesuffix("/cache").rsplit("/", 1)[-1]
    best: str | None = None
    for project in projects:
        stem = template.format(project=project)
        for prefix in {*prefixes, ""}:
            rest = name[len(prefix + stem):] if name.startswith(prefix + stem) else ""
            if rest and (best is None or len(project) > len(best)):
                best = project
    return best


def in_project(relative: str, project: str | None, projects: Iterable[str], prefixes: Sequence[str] = ("",)) -> bool:
    """Whether ``--project`` selects the repository (no project: every repository)."""
    if not project:
        return True
    return project_of(relative, {*projects, project}, prefixes) == project


# --- image references -----------------------------------------------------------------------------

def image_use(image: Any, source: str, location: RegistryLocation) -> ImageUse | None:
    """``image`` as a repository of the registry at ``location`` (None: another registry, or not an
    image reference). Docker Hub's spellings (``x``, ``library/x``, ``docker.io/x``,
    ``index.docker.io/library/x``) are one repository; MLRun's ``.name`` form means the server's own
    registry: matched loosely (by path suffix)."""
    if not isinstance(image, str) or not image.strip() or len(image) > 512:
        return None
    text = image.strip()
    loose = text.startswith(".")
    try:
        ref = parse_reference(text.lstrip(".").lstrip("/") if loose else text)
    except ConfigError:
        return None
    if loose:
        if ref.registry:
            return None
        repository = ref.repository
    else:
        folded = docker_hub_folded(ref)
        here = docker_hub_folded(parse_reference(f"{location.host}/x")).registry
        if folded.registry == DOCKER_HUB or here == DOCKER_HUB:
            if folded.registry != here:
                return None
        elif not same_registry(folded.registry, location.host, location.insecure):
            return None
        repository = folded.repository
    tag = ref.tag or (None if ref.digest else "latest")
    return ImageUse(repository, tag, ref.digest, source, loose)


#: Keys whose string values name an image, wherever they sit in a function record: MLRun's
#: ``spec.image``, ``spec.build.image``, ``spec.build.base_image``, ``status.container_image``; Nuclio's
#: ``spec.image``, ``spec.build.image``, ``spec.build.baseImage``, ``status.containerImage``; and the
#: same keys in nested records (serving graphs' child functions). Counting one too many keeps more.
IMAGE_KEYS = frozenset({"image", "base_image", "baseImage", "container_image", "containerImage"})
_MAX_DEPTH = 12


def _image_strings(node: Any, depth: int = 0) -> list[str]:
    if depth > _MAX_DEPTH:
        return []
    out: list[str] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in IMAGE_KEYS and isinstance(value, str) and value:
                out.append(value)
            elif isinstance(value, (Mapping, list)):
                out += _image_strings(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            out += _image_strings(item, depth + 1)
    return out


def mlrun_function_images(function: Mapping[str, Any]) -> list[str]:
    """Every image an MLRun function record names (what runs, what was built, what builds start from)."""
    return _image_strings(function)


def nuclio_function_images(function: Mapping[str, Any]) -> list[str]:
    """Every image a Nuclio function names; ``spec.image`` without a host is under ``spec.runRegistry``
    (and counted as written too)."""
    out = _image_strings(function)
    spec = function.get("spec") if isinstance(function.get("spec"), Mapping) else {}
    image = spec.get("image") if isinstance(spec, Mapping) else None
    run_registry = spec.get("runRegistry") if isinstance(spec, Mapping) else None
    if isinstance(image, str) and image and not ("/" in image and is_registry_host(image.split("/", 1)[0])) \
            and isinstance(run_registry, str) and run_registry.strip("/"):
        out.append(f"{run_registry.strip('/')}/{image}")
    return out


# --- the planner ----------------------------------------------------------------------------------

def closure(manifests: Mapping[str, ManifestRecord], roots: Iterable[str]) -> set[str]:
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


def image_date(manifests: Mapping[str, ManifestRecord], digest: str, depth: int = 0) -> datetime | None:
    """An image's date: the latest of its config's ``created`` and its push time (placeholders are no
    date); an index without either: the newest of its children's. None: the age is unknown."""
    record = manifests.get(digest)
    if record is None or depth > 8:
        return None
    own = [d for d in (real_date(record.created), real_date(record.pushed_at)) if d is not None]
    if own:
        return max(own)
    dates = [d for d in (image_date(manifests, c, depth + 1) for c in record.children) if d is not None]
    return max(dates) if dates else None


def too_young(when: datetime, rules: KeepRules) -> bool:
    """Younger than the minimum age or ``--older-than``: kept."""
    return rules.now - when < rules.age_floor


def newest_tags(dates: Mapping[str, datetime | None], keep: int) -> set[str]:
    """The ``keep`` newest tags by date (tags of unknown age are not ranked: they are kept anyway)."""
    dated = sorted(((d, tag) for tag, d in dates.items() if d is not None), reverse=True)
    return {tag for _, tag in dated[: max(0, keep)]}


def use_reaches(use: ImageUse, tag: str, digest: str | None) -> bool:
    """Whether a use names this tag (by tag) or this digest."""
    return (use.digest is None and use.tag == tag) or (use.digest is not None and use.digest == digest)


def tag_keep_reasons(repo: RepositoryState, tag: str, uses: Sequence[ImageUse], newest: set[str],
                     when: datetime | None, rules: KeepRules) -> list[str]:
    """Why a tag is kept (empty: it may be deleted)."""
    digest = repo.tags[tag]
    record = repo.manifests.get(digest)
    reasons: list[str] = []
    if repo.problem:
        reasons.append(repo.problem)
    if not repo.in_scope:
        reasons.append("outside the selected project")
    if record is None or not record.known:
        reasons.append(record.problem if record is not None and record.problem else "manifest not read")
    reasons += [f"used by {use.source}" for use in uses if use_reaches(use, tag, digest)]
    if tag in newest:
        reasons.append(f"one of the {rules.keep} newest")
    if when is None:
        reasons.append("age unknown (no created date or push time)")
    elif too_young(when, rules):
        reasons.append(f"younger than {format_duration(rules.age_floor)}")
    return reasons


def _plan_repository(repo: RepositoryState, uses: Sequence[ImageUse], rules: KeepRules,
                     plan: PrunePlan) -> set[str]:
    """Decide one repository's tags; append its decisions and deletions; return the digests deleted."""
    dates = {tag: image_date(repo.manifests, digest) for tag, digest in repo.tags.items()}
    newest = newest_tags(dates, rules.keep)
    decisions = []
    for tag in sorted(repo.tags):
        reasons = tag_keep_reasons(repo, tag, uses, newest, dates[tag], rules)
        decisions.append(TagDecision(repo.name, tag, repo.tags[tag], "keep" if reasons else "delete", reasons,
                                     dates[tag]))
    kept_roots = {d.digest for d in decisions if d.action == "keep" and d.digest}
    kept_roots |= {u.digest for u in uses if u.digest}
    kept = closure(repo.manifests, kept_roots)
    for decision in decisions:
        if decision.action == "delete" and decision.digest in kept:
            decision.action = "keep"
            decision.reasons.append("its digest is kept for another tag or reference")
    tags_of: dict[str, list[str]] = {}
    for d in decisions:
        if d.digest:
            tags_of.setdefault(d.digest, []).append(d.tag)
    deleted: list[tuple[str, str]] = []  # (digest, reason), parents before their children
    seen: set[str] = set()

    def deletable(digest: str) -> bool:
        record = repo.manifests.get(digest)
        if digest in kept or digest in seen or record is None or not record.known:
            return False
        when = image_date(repo.manifests, digest)
        return when is not None and not too_young(when, rules)

    for root in sorted({d.digest for d in decisions if d.action == "delete" and d.digest}):
        for digest in [root, *sorted(closure(repo.manifests, [root]) - {root})]:
            if deletable(digest):
                seen.add(digest)
                deleted.append((digest, "not used, not among the newest" if digest == root
                                else "child of a deleted index"))
    # manifests no tag reaches (ECR lists them): old enough and known, not kept -> deleted
    reachable = closure(repo.manifests, repo.tags.values())
    if repo.in_scope and not repo.problem:
        for digest in sorted(repo.manifests):
            if digest in reachable or not deletable(digest):
                continue
            seen.add(digest)
            deleted.append((digest, "untagged"))
            for child in sorted(closure(repo.manifests, [digest]) - {digest} - reachable):
                if deletable(child):
                    seen.add(child)
                    deleted.append((child, "child of a deleted index"))
    final = referenced_by_survivors(repo.manifests, seen)
    for decision in decisions:
        if decision.action == "delete" and decision.digest not in final:
            decision.action = "keep"
            decision.reasons.append("an index that stays lists it")
    deleted = [(digest, reason) for digest, reason in deleted if digest in final]
    plan.decisions.extend(decisions)
    for digest, reason in deleted:
        record = repo.manifests[digest]
        plan.deletions.append(ManifestDeletion(repo.name, digest, record.media_type, record.size,
                                               tuple(sorted(tags_of.get(digest, ()))), reason))
    return final


def referenced_by_survivors(manifests: Mapping[str, ManifestRecord], doomed: set[str]) -> set[str]:
    """``doomed`` less every digest that a manifest which stays still lists (directly or through an
    index): a young or undated untagged index keeps its children, and so on until nothing changes."""
    doomed = set(doomed)
    while True:
        reached = closure(manifests, set(manifests) - doomed) & doomed
        if not reached:
            return doomed
        doomed -= reached


def freed_blobs(repositories: Iterable[RepositoryState], deleted: set[tuple[str, str]],
                unread: int = 0) -> tuple[dict[str, int], str | None]:
    """``{digest: size}`` of what the deleted ``(repository, digest)`` manifests free: their own bytes
    and their blobs, less whatever a remaining manifest (in any repository read) still uses.

    The second value is None when the figure is exact, else why it is only an upper bound: ``unread``
    repositories of the registry were not read (their manifests may share the blobs: distribution's
    blob store is global), a repository could not be read whole, or a manifest could not be read.
    """
    still: set[str] = set()
    why: list[str] = []
    if unread:
        why.append(f"{unread} other repositories of the registry were not read")
    problems = unknown = 0
    candidates: dict[str, int] = {}
    for repo in repositories:
        if repo.problem:
            problems += 1
        for digest, record in repo.manifests.items():
            if (repo.name, digest) in deleted:
                candidates.setdefault(digest, record.size)
                for blob, size in record.blobs:
                    candidates.setdefault(blob, size)
                continue
            if not record.known:
                unknown += 1
            still.add(digest)
            still.update(blob for blob, _ in record.blobs)
    if problems:
        why.append(f"{problems} repositories could not be read whole")
    if unknown:
        why.append(f"{unknown} manifests could not be read")
    freed = {d: s for d, s in sorted(candidates.items()) if d not in still}
    return freed, ("; ".join(why) + ": they may share these blobs") if why else None


def uses_by_repository(uses: Sequence[ImageUse], names: Iterable[str]) -> dict[str, list[ImageUse]]:
    """Each repository's uses: exact names through a dict, the few loose (``.``) ones by suffix."""
    exact: dict[str, list[ImageUse]] = {}
    loose = [u for u in uses if u.loose]
    for use in uses:
        exact.setdefault(use.repository, []).append(use)
    out = {}
    for name in names:
        mine = list(exact.get(name, ()))
        mine += [u for u in loose if u.repository != name and u.matches(name)]
        out[name] = mine
    return out


def plan_prune(repositories: Sequence[RepositoryState], uses: Sequence[ImageUse],
               rules: KeepRules | None = None, *, unread: int = 0) -> PrunePlan:
    """The decision: which tags to keep (each with its reasons) and which manifests to delete.

    ``uses`` are read across every project, whatever ``--project`` selects: an image may be used
    anywhere. ``unread``: repositories of the registry not read (the freed figure is then a bound).
    """
    rules = rules or KeepRules()
    if rules.keep < 0:
        raise ConfigError("--keep", f"{rules.keep} is negative; expected 0 or more")
    plan = PrunePlan()
    deleted: set[tuple[str, str]] = set()
    mine = uses_by_repository(uses, (r.name for r in repositories))
    for repo in sorted(repositories, key=lambda r: r.name):
        deleted |= {(repo.name, d) for d in _plan_repository(repo, mine[repo.name], rules, plan)}
    plan.freed, plan.exact_reason = freed_blobs(repositories, deleted, unread)
    plan.exact = plan.exact_reason is None
    return plan


def protected_by_tags(current: Mapping[str, str], planned: Mapping[str, tuple[str, ...]],
                      manifests: Mapping[str, ManifestRecord]) -> set[str]:
    """The re-check's rule: every digest a tag reaches now (directly or through an index) unless the tag
    is one the plan deletes together with the digest it points to now.

    ``current``: tag -> digest as read just before the deletes; ``planned``: digest -> the tags planned to
    go with it. A tag re-pointed at a planned digest, or a new tag on it, protects it.
    """
    roots = [digest for tag, digest in current.items() if tag not in planned.get(digest, ())]
    return closure(manifests, roots)


__all__ = [
    "DEFAULT_KEEP", "DEFAULT_MIN_AGE", "ImageUse", "KeepRules", "ManifestDeletion", "ManifestRecord", "PrunePlan",
    "RepositoryState", "TagDecision", "closure", "format_duration", "freed_blobs", "image_date", "image_use",
    "in_project", "mlrun_function_images", "newest_tags", "nuclio_function_images", "parse_created",
    "parse_duration", "plan_prune", "project_of", "protected_by_tags", "tag_keep_reasons", "too_young",
]
