"""`prune` (delete the images no function uses) and `ecr lifecycle` (the equivalent ECR lifecycle policy).

Prune deletes data, so the command refuses to run without ``--yes`` unless ``--dry-run`` is given, and
checks every argument before it reads anything. The registry is the active service.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from mlrun_registry_ext.cli._app import add_json_flag, console, print_json
from mlrun_registry_ext.core.providers.ecr import cache_lifecycle_policy, repository_lifecycle_policy
from mlrun_registry_ext.core.reference import validate_repository
from mlrun_registry_ext.errors import ConfigError
from mlrun_registry_ext.features.api import resolve_registry
from mlrun_registry_ext.features.prune import (
    apply_ecr_lifecycle,
    parse_duration,
    run_prune,
    run_restore,
)


def _check_count(value: int, field: str, minimum: int) -> int:
    if value < minimum or value > 100_000:
        raise ConfigError(field, f"{value} is out of range; expected {minimum} to 100000")
    return value


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "prune",
        help="delete the images no MLRun or Nuclio function uses, keeping the newest N of each repository",
        description="Keeps every image a function record in the MLRun DB or a Nuclio function names, the N "
                    "newest tags of each repository, and every digest a kept tag or index points to; deletes "
                    "the rest (registry API DELETE by digest, or ECR BatchDeleteImage) and reports the bytes "
                    "freed. Anything it is unsure about is kept. Needs MLRUN_DBPATH and NUCLIO_DASHBOARD_URL. "
                    "Before the first delete it writes a restore file; --restore FILE undoes the prune.",
    )
    parser.add_argument("--project", help="only this MLRun project's repositories (func-<project>-<name>); what "
                                           "functions use is still read from every project")
    parser.add_argument("--keep", type=int, default=3, metavar="N",
                        help="newest tags kept in each repository (default: 3)")
    parser.add_argument("--older-than", default=None, metavar="DURATION",
                        help="delete only images older than this (30d, 12h, 2w, 1d12h)")
    parser.add_argument("--min-age", default="1h", metavar="DURATION",
                        help="never delete a manifest younger than this (default: 1h; 0s turns it off)")
    parser.add_argument("--restore-file", default=None, metavar="PATH",
                        help="where to write the restore file (default: ./mlrun-registry-prune-restore-<time>.json)")
    parser.add_argument("--restore", default=None, metavar="FILE",
                        help="undo a prune: put back the manifests and tags its restore file holds")
    parser.add_argument("--dry-run", action="store_true", help="plan and report; delete nothing")
    parser.add_argument("--yes", action="store_true", help="really delete (required unless --dry-run)")
    parser.add_argument("--no-nuclio", action="store_true",
                        help="do not ask the Nuclio dashboard (only when no function is deployed to Nuclio "
                             "directly: MLRun's records then protect every image)")
    parser.add_argument("--jobs", type=int, default=8, metavar="N",
                        help="parallel registry requests (default: 8)")
    parser.add_argument("--show-kept", action="store_true", help="list kept tags too, with their reasons")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_json_flag(parser)
    parser.set_defaults(handler=cmd_prune)
    _register_ecr_lifecycle(sub)


def _register_ecr_lifecycle(sub: Any) -> None:
    """``ecr lifecycle`` joins the ``ecr`` group that creds_cmds defines (registered before this module)."""
    ecr = sub.choices.get("ecr")
    if ecr is None:
        return
    groups = [a for a in ecr._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        return
    lifecycle = groups[0].add_parser(
        "lifecycle", help="print (or --apply) the ECR lifecycle policy equivalent to prune --keep N",
        description="Function repositories: untagged images expire after a day, all but the N newest images "
                    "expire. <repo>/cache repositories (Kaniko's layer cache): images expire D days after "
                    "push. ECR does not know which images functions use: run prune for that.")
    lifecycle.add_argument("--keep", type=int, default=3, metavar="N",
                           help="images kept per function repository (default: 3)")
    lifecycle.add_argument("--cache-days", type=int, default=7, metavar="D",
                           help="days a cache image lives (default: 7)")
    lifecycle.add_argument("--project", help="with --apply: only this project's repositories")
    lifecycle.add_argument("--apply", action="store_true",
                           help="set the policies on every repository under the service's path (PutLifecyclePolicy)")
    add_json_flag(lifecycle)
    lifecycle.set_defaults(handler=cmd_ecr_lifecycle)


def cmd_prune(args: argparse.Namespace) -> int:
    if args.restore is not None:
        return _cmd_restore(args)
    if not args.dry_run and not args.yes:
        raise ConfigError("--yes", "prune deletes images; add --yes to delete, or --dry-run to see what it would do")
    _check_count(args.keep, "--keep", 0)
    _check_count(args.jobs, "--jobs", 1)
    older_than = parse_duration(args.older_than) if args.older_than is not None else None
    min_age = parse_duration(args.min_age, "--min-age", allow_zero=True)
    if args.project is not None:
        validate_repository(args.project, "--project")
    service = resolve_registry(project=args.project).service  # the project's registry when the map names one
    report = run_prune(service, project=args.project, keep=args.keep, older_than=older_than, min_age=min_age,
                       dry_run=args.dry_run, nuclio=not args.no_nuclio, jobs=args.jobs,
                       restore_file=args.restore_file,
                       progress=False if args.json or args.no_progress else None)
    if args.json:
        print_json(report.to_dict())
    else:
        _print_report(report, show_kept=args.show_kept)
    complete = all(d.status in ("planned", "deleted", "gone", "skipped") for d in report.plan.deletions)
    return 0 if report.ok and complete else 1


def _cmd_restore(args: argparse.Namespace) -> int:
    service = resolve_registry().service
    report = run_restore(service, args.restore)
    if args.json:
        print_json(report.to_dict())
    else:
        for line in report.summary_lines():
            console().print(line, markup=False)
    return 0


def _print_report(report: Any, *, show_kept: bool) -> None:
    from rich.table import Table

    out = console()
    deleted = {(d.repository, d.digest) for d in report.deleted}
    table = Table(title="would delete" if report.dry_run else "prune", show_lines=False)
    for column in ("repository", "tag", "digest", "action", "why"):
        table.add_column(column, overflow="fold")
    rows = 0
    for decision in report.plan.decisions:
        gone = (decision.repository, decision.digest) in deleted
        if not gone and not show_kept:
            continue
        action = ("would delete" if report.dry_run else "deleted") if gone else "keep"
        why = "not used, not among the newest" if gone else "; ".join(decision.reasons)
        table.add_row(decision.repository, decision.tag, (decision.digest or "")[:19], action, why)
        rows += 1
    if rows:
        out.print(table)
    for line in report.summary_lines():
        out.print(line, markup=False)


def cmd_ecr_lifecycle(args: argparse.Namespace) -> int:
    _check_count(args.keep, "--keep", 1)
    _check_count(args.cache_days, "--cache-days", 1)
    policies = {"function": repository_lifecycle_policy(args.keep), "cache": cache_lifecycle_policy(args.cache_days)}
    if not args.apply:
        if args.json:
            print_json(policies)
        else:
            out = console()
            out.print("# function repositories", markup=False)
            out.print(json.dumps(policies["function"], indent=2), markup=False)
            out.print("# <repo>/cache repositories (Kaniko layer cache)", markup=False)
            out.print(json.dumps(policies["cache"], indent=2), markup=False)
        return 0
    service = resolve_registry().service
    if service.ecr is None:
        raise ConfigError("url", f"{service.url!r} is not an ECR registry; lifecycle policies are ECR's")
    done = apply_ecr_lifecycle(service, keep=args.keep, cache_days=args.cache_days, project=args.project)
    if args.json:
        print_json({"policies": policies, "applied": [{"repository": r, "policy": k} for r, k in done]})
    else:
        out = console()
        for repository, kind in done:
            out.print(f"{repository}: {kind} policy set", markup=False)
        out.print(f"{len(done)} repositories", markup=False)
    return 0
