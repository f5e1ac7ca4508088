"""Prune a registry: delete the images no function uses, keep the newest few, say what it frees, and be
able to undo it.

Every build pushes another tag, and Kaniko's ``<repo>/cache`` repositories grow without bound, until a
registry is full of one function (or ECR's per-repository image limit stops the builds). Pruning is the
one operation here that destroys data. Its rules are pure and live in
:mod:`mlrun_registry_ext.core.prune_plan`; this package does the reading and the deleting:

- :mod:`.usage`: what functions use, read completely (MLRun API paged by token, Nuclio dashboard) or
  the run refuses and deletes nothing;
- :mod:`.inventory`: what the registry holds (HTTP API, or ECR through boto3);
- :mod:`.delete`: the re-check just before the deletes, then ``DELETE`` / ``BatchDeleteImage``;
- :mod:`.restore`: the restore file written before the first delete, and ``prune --restore FILE``;
- :mod:`.report`: the report (plain data, lines, a notebook table).

The order of a run: usage (MLRun, Nuclio), inventory, plan, restore file, re-check and delete, report.
Everything that can refuse the run does so before the first delete.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mlrun_registry_ext.clients import aws
from mlrun_registry_ext.clients.platform_probe import mlrun_dbpath, nuclio_dashboard_url
from mlrun_registry_ext.clients.registry.client import RegistryClient, RetryPolicy
from mlrun_registry_ext.clients.registry.login import login
from mlrun_registry_ext.core.providers.ecr import (
    DEFAULT_CACHE_DAYS,
    cache_lifecycle_policy,
    repository_lifecycle_policy,
)
from mlrun_registry_ext.core.prune_plan import (
    DEFAULT_KEEP,
    DEFAULT_MIN_AGE,
    ImageUse,
    KeepRules,
    ManifestDeletion,
    ManifestRecord,
    PrunePlan,
    RepositoryState,
    TagDecision,
    freed_blobs,
    image_use,
    in_project,
    mlrun_function_images,
    nuclio_function_images,
    parse_duration,
    plan_prune,
)
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.errors import ConfigError, RegistryExtError
from mlrun_registry_ext.features.api import as_service
from mlrun_registry_ext.features.migrate.model import relative_repository
from mlrun_registry_ext.features.progress import Progress, live_progress
from mlrun_registry_ext.features.prune.delete import delete_ecr, delete_http
from mlrun_registry_ext.features.prune.inventory import EcrInventory, HttpInventory, read_states
from mlrun_registry_ext.features.prune.report import PruneReport
from mlrun_registry_ext.features.prune.restore import (
    RestoreReport,
    default_restore_path,
    restore_document,
    run_restore,
    write_restore_file,
)
from mlrun_registry_ext.features.prune.usage import NOTHING_DELETED, UsageUnreadable, mlrun_uses, nuclio_uses


def apply_ecr_lifecycle(service: RegistryService, *, keep: int = DEFAULT_KEEP, cache_days: int = DEFAULT_CACHE_DAYS,
                        project: str | None = None) -> list[tuple[str, str]]:
    """``PutLifecyclePolicy`` on every repository under the service's path (of ``project``): the cache
    policy on ``*/cache``, the function policy on the rest. Returns ``[(repository, "function"|"cache")]``."""
    ecr = aws.client(service, "ecr")
    main = json.dumps(repository_lifecycle_policy(keep))
    cache = json.dumps(cache_lifecycle_policy(cache_days))
    done = []
    for name in EcrInventory(ecr).repositories():
        relative = relative_repository(name, service.location.path)
        if relative is None or not in_project(relative, project, (), (service.image_prefix,)):
            continue
        kind = "cache" if name.endswith("/cache") else "function"
        with aws.aws_errors("ecr:PutLifecyclePolicy"):
            ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=cache if kind == "cache" else main)
        done.append((name, kind))
    return done


def _usage(location: Any, nuclio: bool, dbpath: str | None, dashboard: str | None,
           timeout: float) -> tuple[list[str], list[ImageUse], list[str]]:
    """Every project, every use (MLRun, then Nuclio), warnings. Unreadable: an error, nothing deleted."""
    warnings = []
    projects, uses = mlrun_uses(dbpath or mlrun_dbpath(), location, timeout)
    if nuclio:
        dashboard = dashboard or nuclio_dashboard_url()
        if not dashboard:
            raise UsageUnreadable("NUCLIO_DASHBOARD_URL is not set: which images Nuclio functions use is unknown; "
                                  f"{NOTHING_DELETED}. Set it, or pass --no-nuclio when no function is deployed to "
                                  "Nuclio directly")
        uses += nuclio_uses(dashboard, location, timeout)
    else:
        warnings.append("Nuclio functions were not checked (--no-nuclio): only MLRun's records protect their images")
    return projects, uses, warnings


def _write_restore(registry: str, plan: PrunePlan, raw: dict[tuple[str, str], tuple[bytes, str | None]],
                   restore_file: str | Path | None) -> str:
    path = Path(restore_file) if restore_file else default_restore_path()
    try:
        return str(write_restore_file(path, restore_document(registry, plan.deletions, raw)))
    except OSError as exc:
        raise RegistryExtError(f"the restore file {path} could not be written ({type(exc).__name__}); "
                               f"{NOTHING_DELETED}: a prune that cannot be undone does not start") from None


def run_prune(
    service: RegistryService,
    *,
    project: str | None = None,
    keep: int = DEFAULT_KEEP,
    older_than: timedelta | str | None = None,
    min_age: timedelta | str = DEFAULT_MIN_AGE,
    dry_run: bool = False,
    nuclio: bool = True,
    dbpath: str | None = None,
    dashboard_url: str | None = None,
    jobs: int = 8,
    now: datetime | None = None,
    timeout: float = 10.0,
    restore_file: str | Path | None = None,
    progress: bool | Progress | None = None,
) -> PruneReport:
    """Collect what functions use in every project (MLRun, then Nuclio), read the registry, plan, write
    the restore file, re-check and delete (unless ``dry_run``). ``progress``: None shows it where the user
    looks (a notebook cell, a terminal), False never, or a :class:`Progress` to report to."""
    started = time.monotonic()
    if isinstance(older_than, str):
        older_than = parse_duration(older_than)
    if isinstance(min_age, str):
        min_age = parse_duration(min_age, "--min-age", allow_zero=True)
    if keep < 0:
        raise ConfigError("--keep", f"{keep} is negative; expected 0 or more")
    location = service.location
    if location.is_server_default:
        raise ConfigError("url", "the registry is '.', the MLRun server's own registry; give its real URL")
    rules = KeepRules(keep=keep, older_than=older_than, now=now or datetime.now(timezone.utc), min_age=min_age)
    progress = live_progress(progress)
    restore_path: str | None = None
    try:
        progress.phase("reading what functions use")
        projects, uses, warnings = _usage(location, nuclio, dbpath, dashboard_url, timeout)
        if service.ecr is not None:
            ecr = aws.client(service, "ecr")
            ecr_inventory = EcrInventory(ecr, tick=progress.advance)
            progress.phase("reading the registry", unit="repositories")
            states, unread = read_states(ecr_inventory, location.path, project, service.image_prefix, projects)
            plan = plan_prune(states, uses, rules, unread=unread)
            if not dry_run and plan.deletions:
                restore_path = _write_restore(location.host, plan, ecr_inventory.raw, restore_file)
                progress.phase("deleting", len(plan.deletions), unit="images")
                warnings += delete_ecr(ecr, plan.deletions, _known(states), tick=progress.advance)
        else:
            with RegistryClient.for_access(login(service), timeout=timeout * 3, retry=RetryPolicy()) as endpoint:
                inventory = HttpInventory(endpoint, jobs, tick=progress.advance)
                progress.phase("reading the registry", unit="repositories")
                states, unread = read_states(inventory, location.path, project, service.image_prefix, projects)
                plan = plan_prune(states, uses, rules, unread=unread)
                if not dry_run and plan.deletions:
                    restore_path = _write_restore(location.host, plan, inventory.raw, restore_file)
                    progress.phase("deleting", len(plan.deletions), unit="images")
                    warnings += delete_http(endpoint, plan.deletions, _known(states), jobs=max(1, jobs // 2),
                                            tick=progress.advance)
    finally:
        progress.close()
    report = PruneReport(location.display, dry_run, plan, rules, project, len(states), len(uses),
                         warnings=warnings, restore_file=restore_path)
    if not dry_run:
        # what was really deleted (a refusing registry keeps the rest) decides what is freed
        done = {(d.repository, d.digest) for d in plan.deletions if d.status in ("deleted", "gone")}
        plan.freed, plan.exact_reason = freed_blobs(states, done, unread)
        plan.exact = plan.exact_reason is None
        report.errors += [f"{d.repository}@{d.digest}: {d.error}" for d in plan.deletions if d.status == "failed"]
    report.seconds = time.monotonic() - started
    return report


def _known(states: list[RepositoryState]) -> dict[str, dict[str, ManifestRecord]]:
    return {s.name: s.manifests for s in states}


def prune(
    registry: str | RegistryService | None = None,
    *,
    project: str | None = None,
    keep: int = DEFAULT_KEEP,
    older_than: timedelta | str | None = None,
    min_age: timedelta | str = DEFAULT_MIN_AGE,
    dry_run: bool = True,
    nuclio: bool = True,
    jobs: int = 8,
    restore_file: str | Path | None = None,
    progress: bool | None = None,
) -> PruneReport:
    """Prune ``registry`` (a URL, a :class:`RegistryService`, or None for the active service).

    Progress shows live in a notebook cell (or on a terminal); ``progress=False`` turns it off.

    The Python API defaults to ``dry_run=True``: pass ``dry_run=False`` to delete; the report's
    ``restore_file`` then undoes it (:func:`restore`). Returns a :class:`PruneReport` (``to_dict()`` for
    plain data; a table in notebooks).
    """
    service = as_service(registry, "registry", project=project if registry is None else None)
    return run_prune(service, project=project, keep=keep, older_than=older_than, min_age=min_age,
                     dry_run=dry_run, nuclio=nuclio, jobs=jobs, restore_file=restore_file, progress=progress)


def restore(path: str, registry: str | RegistryService | None = None) -> RestoreReport:
    """Put back what a prune deleted, from its restore file (fails, writing nothing, when blobs are gone)."""
    service = as_service(registry, "registry")
    return run_restore(service, str(path))


__all__ = [
    "ImageUse", "KeepRules", "ManifestDeletion", "ManifestRecord", "PrunePlan", "PruneReport", "RepositoryState",
    "RestoreReport", "TagDecision", "UsageUnreadable", "apply_ecr_lifecycle", "freed_blobs", "image_use",
    "mlrun_function_images", "nuclio_function_images", "parse_duration", "plan_prune", "prune", "restore",
    "run_prune", "run_restore",
]
