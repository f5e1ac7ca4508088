"""Migration planning, pure: which source repositories to copy and where each lands on the target.

No network and no registry client here: repository names in, names (or a one-line
:class:`~mlrun_registry_ext.errors.ConfigError`) out. :mod:`.engine` asks these functions, and
:mod:`mlrun_registry_ext.features.prune` uses the same scope rules (``relative_repository``,
``matches_project``) so both commands agree on what a project's images are.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlrun_registry_ext.core.location import DEFAULT_REPOSITORY
from mlrun_registry_ext.errors import ConfigError

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


def check_endpoints(source: RegistryLocation, target: RegistryLocation) -> None:
    """'.' (the MLRun server's own registry) has no address here: it is neither source nor target."""
    if target.is_server_default:
        raise ConfigError("to", "the target is '.', the MLRun server's own registry; give its real URL")
    if source.is_server_default:
        raise ConfigError("from", "the source is '.', the MLRun server's own registry; give its real URL")
