"""Migrate images off a registry (usually the on-cluster one) into another, fast and with nothing lost.

The package, by seam:

- :mod:`.model`: selection and naming (which repositories, where they land); pure planning;
- :mod:`.report`: :class:`TagResult`, :class:`MigrationReport` and its text, JSON and HTML;
- :mod:`.ui`: the :class:`Progress` protocol and its displays (from :mod:`..progress`, shared with prune);
- :mod:`.engine`: :class:`Migration`, the copy engine, and :func:`run_migration`, its entry from
  pure pieces (what the command line calls);
- :mod:`.ecr_login`: the target repositories an ECR target must have (its login is the credential
  chain's, :mod:`mlrun_registry_ext.clients.registry.login`);
- :mod:`.rewrite`: re-pointing MLRun and Nuclio functions at the target after a verified copy
  (pure planning, then the calls); loaded only when asked for.

Sharding (``shard``, :class:`Shard`) splits the source repositories by a stable hash of their names,
so N processes or the N pods of a Kubernetes Indexed Job copy each repository exactly once.

:func:`migrate` (here) is the Python API: URLs or services in, a report out. ``import
mlrun_registry_ext.features.migrate`` loads neither pydantic nor the service model (the ``migrate
--from --to`` fast path); the service is imported only when :func:`migrate` needs one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlrun_registry_ext.clients.registry.login import login
from mlrun_registry_ext.errors import ConfigError
from mlrun_registry_ext.features.api import as_service
from mlrun_registry_ext.features.migrate.ecr_login import ecr_repository_ensurer
from mlrun_registry_ext.features.migrate.engine import Migration, run_migration
from mlrun_registry_ext.features.migrate.model import (
    DEFAULT_NAMESPACES,
    DEFAULT_OPTIONS,
    MLRUN_PROJECT_PREFIX,
    MigrateOptions,
    Naming,
    Shard,
    check_endpoints,
    matches_include,
    matches_project,
    relative_repository,
    select_repositories,
    shard_of,
)
from mlrun_registry_ext.features.migrate.report import MAX_LISTED, MigrationReport, TagResult, TagStatus
from mlrun_registry_ext.features.migrate.ui import NoProgress, Progress, RichProgress

if TYPE_CHECKING:
    from mlrun_registry_ext.core.service import RegistryService

__all__ = [
    "DEFAULT_NAMESPACES",
    "MAX_LISTED",
    "MLRUN_PROJECT_PREFIX",
    "MigrateOptions",
    "Migration",
    "MigrationReport",
    "Naming",
    "NoProgress",
    "Progress",
    "RichProgress",
    "Shard",
    "TagResult",
    "TagStatus",
    "check_endpoints",
    "ecr_repository_ensurer",
    "matches_include",
    "matches_project",
    "migrate",
    "relative_repository",
    "run_migration",
    "select_repositories",
    "shard_of",
]


def migrate(
    source: str | RegistryService,
    target: str | RegistryService | None = None,
    options: MigrateOptions | None = None,
    *,
    project: str | None = None,
    include: Sequence[str] = (),
    jobs: int = 6,
    dry_run: bool = False,
    rename: bool = False,
    verify: bool = True,
    timeout: float | None = None,
    shard: Shard | str | None = None,
    progress: bool | Progress | None = None,
    active: RegistryService | None = None,
) -> MigrationReport:
    """Copy every tag (filtered by ``project`` and ``include`` globs) from ``source`` to ``target``.

    ``source`` and ``target`` are registry URLs (``http://`` = explicitly insecure) or
    :class:`RegistryService` objects (with credentials); ``target=None`` uses the active registry
    service. The run's settings are a :class:`MigrateOptions` (``options``), or its fields as keywords
    (not both): ``timeout`` (default 60 s) bounds each request as a whole; a blob stream instead fails
    when no byte moved for that long or it averages under 16 KiB/s; ``shard`` (``"I/N"`` or a
    :class:`Shard`): only the source repositories of shard I of N (0-based). ``progress``: None shows a
    live display in a notebook's cell or a bar on a terminal (and nothing when output is piped), True
    always shows one, False none; or pass your own :class:`Progress`
    (:mod:`mlrun_registry_ext.features.progress`). Returns a :class:`MigrationReport` (rendered as a
    table in notebooks). Each side's login comes from the credential chain
    (:func:`~mlrun_registry_ext.clients.registry.login.login`): a service's own, the environment's
    ``MLRUN_REGISTRY_EXT_MIGRATE_{FROM,TO}_*``, ``active`` (the active service, when it is the same
    registry), docker and containers login files and helpers, the ECR token exchange.
    """
    given = MigrateOptions(project=project, include=tuple(include), jobs=jobs, dry_run=dry_run, rename=rename,
                           verify=verify, timeout=timeout, shard=shard)  # type: ignore[arg-type]
    if options is None:
        options = given
    elif given != DEFAULT_OPTIONS:
        raise ConfigError("options", "give MigrateOptions or its fields as keywords, not both")
    src = as_service(source, "from")
    # without a target: the active (or project's) registry, resolved only when none is named
    dst = as_service(target, "to", project=options.project if target is None else None)
    check_endpoints(src.location, dst.location)  # before any login (an ECR token exchange)
    return run_migration(login(src, side="FROM", active=active), login(dst, side="TO", active=active), options,
                         image_prefix=dst.image_prefix, progress=progress,
                         ensure_repository=ecr_repository_ensurer(dst))
