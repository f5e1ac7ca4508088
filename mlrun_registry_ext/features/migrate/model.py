"""Migration planning, pure: which source repositories to copy and where each lands on the target.

No network and no registry client here: repository names in, names (or a one-line
:class:`~mlrun_registry_ext.errors.ConfigError`) out. :mod:`.engine` asks these functions, and
:mod:`mlrun_registry_ext.features.prune` uses the same scope rules (``relative_repository``,
``matches_project``) so both commands agree on what a project's images are.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlrun_registry_ext.core.location import DEFAULT_REPOSITORY
from mlrun_registry_ext.errors import ConfigError, quote

if TYPE_CHECKING:
    from mlrun_registry_ext.core.location import RegistryLocation

#: MLRun's (and Nuclio's) namespaces when the registry URL has no path.
DEFAULT_NAMESPACES = (DEFAULT_REPOSITORY, "nuclio")
MLRUN_PROJECT_PREFIX = "func-{project}-"


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


#: At most this many shards: one pod each in the Indexed Job (Kubernetes caps an Indexed Job's
#: completions at 100,000; a migration gains nothing past a few hundred pods).
MAX_SHARDS = 1000
_SHARD_RE = re.compile(r"([0-9]{1,4})/([0-9]{1,4})")


def shard_of(repository: str, count: int) -> int:
    """The shard (0-based) of a source repository among ``count``: sha256 of its UTF-8 name, as a
    big-endian integer, modulo ``count``. Stable across processes, machines and Python versions
    (Python's ``hash()`` is salted per process, so it would split the same name differently in each
    pod); the name is the source repository's full name, which every pod lists the same."""
    return int.from_bytes(hashlib.sha256(repository.encode("utf-8")).digest(), "big") % count


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (``--shard I/N``, 0-based): the repositories whose
    :func:`shard_of` is ``index``. The shards of one ``count`` split any listing into disjoint parts
    that together are all of it, so N processes (or the N pods of an Indexed Job) copy every
    repository exactly once, with no coordinator."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ConfigError("--shard", f"the shard count {self.count} is outside 1..{MAX_SHARDS}")
        if not 0 <= self.index < self.count:
            raise ConfigError("--shard", f"the shard index {self.index} is outside 0..{self.count - 1} "
                                         f"(indexes are 0-based: I/N with 0 <= I < N)")

    @classmethod
    def parse(cls, text: str, field: str = "--shard") -> Shard:
        """``I/N`` (0-based ``I``); anything else is a one-line :class:`ConfigError` naming ``field``."""
        match = _SHARD_RE.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise ConfigError(field, f"{quote(str(text))} is not I/N; expected the 0-based shard index and the "
                                     f"shard count, e.g. 0/4 (N at most {MAX_SHARDS})")
        try:
            return cls(int(match.group(1)), int(match.group(2)))
        except ConfigError as exc:
            raise ConfigError(field, exc.message) from None

    def __contains__(self, repository: object) -> bool:
        return isinstance(repository, str) and shard_of(repository, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def select_repositories(repositories: Iterable[str], naming: Naming, *, project: str | None = None,
                        include: Sequence[str] = (), prefixes: Sequence[str] = ("",),
                        shard: Shard | None = None) -> list[str]:
    """Source repositories to migrate: inside the source path, of ``project``, matching ``include``,
    in ``shard`` (by the source repository's full name)."""
    out = []
    for repo in repositories:
        rel = naming.relative(repo)
        if rel is None:
            continue
        if shard is not None and repo not in shard:
            continue
        if project and not matches_project(rel, project, prefixes):
            continue
        if not matches_include(rel, None, include):
            continue
        out.append(repo)
    return sorted(set(out))


def check_endpoints(source: RegistryLocation, target: RegistryLocation) -> None:
    """'.' (the MLRun server's own registry) has no address here: it is neither source nor target."""
    if target.is_server_default:
        raise ConfigError("to", "the target is '.', the MLRun server's own registry; give its real URL")
    if source.is_server_default:
        raise ConfigError("from", "the source is '.', the MLRun server's own registry; give its real URL")


#: The most parallel blob transfers per registry (``--jobs``).
MAX_JOBS = 64


@dataclass(frozen=True)
class MigrateOptions:
    """What a migration run was asked to do, checked once and passed down whole (the command line, the
    Python API, the engine). ``timeout`` None means the registry client's default (60 s per request)."""

    project: str | None = None
    include: tuple[str, ...] = ()
    jobs: int = 6
    dry_run: bool = False
    rename: bool = False
    verify: bool = True
    timeout: float | None = None
    shard: Shard | None = None

    def __post_init__(self) -> None:
        if isinstance(self.include, str) or not all(isinstance(glob, str) for glob in self.include):
            raise ConfigError("include", "expected a list of globs (repo or repo:tag)")
        object.__setattr__(self, "include", tuple(self.include))
        if isinstance(self.shard, str):
            object.__setattr__(self, "shard", Shard.parse(self.shard, "shard"))
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or not 1 <= self.jobs <= MAX_JOBS:
            raise ConfigError("jobs", f"must be between 1 and {MAX_JOBS} (got {self.jobs!r:.20})")
        if self.timeout is not None and not (isinstance(self.timeout, (int, float)) and self.timeout > 0):
            raise ConfigError("timeout", "must be a positive number of seconds")


#: The defaults, one shared frozen value.
DEFAULT_OPTIONS = MigrateOptions()
