"""`show`, `target` and `platform-config`: what is active, where each function goes, what servers need."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mlrun_registry_ext.cli._app import add_json_flag, console, print_json
from mlrun_registry_ext.core.kinds import MLRUN_BUILT_KINDS, NUCLIO_BUILT_KINDS
from mlrun_registry_ext.errors import ConfigError
from mlrun_registry_ext.features.api import resolve

KINDS_HELP = f"{', '.join(MLRUN_BUILT_KINDS)} (built by MLRun); {', '.join(NUCLIO_BUILT_KINDS)} (built by Nuclio)"


def register(sub: Any) -> None:
    show = sub.add_parser("show", help="the active registry service and all configured ones, with sources")
    show.add_argument("--project", default=None,
                      help="the registry of this project (the config file's 'projects' map)")
    add_json_flag(show)
    show.set_defaults(handler=cmd_show)

    target = sub.add_parser("target", help="the push target, secrets and Nuclio keys of one function")
    target.add_argument("project", help="the function's project (picks its registry from the 'projects' map)")
    target.add_argument("function")
    target.add_argument("--kind", default="job", help=f"function kind (default: job): {KINDS_HELP}")
    target.add_argument("--tag", default=None, help="image tag (default: latest)")
    add_json_flag(target)
    target.set_defaults(handler=cmd_target)

    platform = sub.add_parser("platform-config",
                              help="what the MLRun API and the Nuclio dashboard must be set to")
    platform.add_argument("--format", choices=("env", "helm"), default="env")
    _add_apply_flags(platform)
    add_json_flag(platform)
    platform.set_defaults(handler=cmd_platform_config)


def _add_apply_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--apply", action="store_true",
                        help="patch the MLRun API, Nuclio dashboard and registry Deployments in --namespace "
                             "(and the air-gap env, and the workload-identity service account)")
    parser.add_argument("--namespace", default=None, help="namespace of the Deployments (with --apply)")
    parser.add_argument("--dry-run", action="store_true", help="with --apply: show the diff, change nothing")


def _active(project: str | None = None) -> Any:
    return resolve(project=project)  # warnings are logged once, to stderr


def cmd_show(args: argparse.Namespace) -> int:
    active = _active(args.project)
    if args.json:
        print_json(active.to_dict())
        return 0
    from rich.table import Table

    out = console()
    scope = f" for project {args.project}" if args.project else ""
    table = Table(title=f"Active registry{scope}: {active.service.name}", title_justify="left")
    for column in ("field", "value", "source"):
        table.add_column(column)
    for row in active.resolved.rows():
        table.add_row(*row)
    out.print(table)
    others = {n: s for n, s in active.resolved.all_services.items() if n != active.service.name}
    if others:
        services = Table(title="Other configured services", title_justify="left")
        for column in ("name", "url", "provider", "role", "image prefix"):
            services.add_column(column)
        for name, svc in others.items():
            services.add_row(name, svc.url, svc.provider.value, svc.role, svc.image_prefix or "-")
        out.print(services)
    entry = active.resolved.project_entry
    if active.resolved.projects:
        projects = Table(title="Projects map (exact name, else the most specific pattern)", title_justify="left")
        projects.add_column("project or pattern")
        projects.add_column("service")
        for key, name in active.resolved.projects.items():
            chosen = entry is not None and entry.key == key
            projects.add_row(f"{key} (matches {args.project})" if chosen else key, name)
        out.print(projects)
    platform = active.to_dict()["platform"]
    known = ", ".join(f"{k}={v}" for k, v in platform.items() if v)
    out.print(f"platform: {known or 'no MLRun API or Nuclio dashboard configured'}")
    return 0


def cmd_target(args: argparse.Namespace) -> int:
    active = _active(args.project)
    target = active.target(args.project, args.function, args.kind, args.tag)
    for note in target.notes:
        sys.stderr.write(f"mlrun-registry: note: {note}\n")
    if args.json:
        print_json(target.to_dict())
        return 0
    from rich.table import Table

    out = console()
    out.print(f"[bold]{target.project}/{target.function}[/bold] ({target.kind}, built by {target.builder})")
    table = Table(show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("image", target.image)
    table.add_row("registry", target.registry)
    table.add_row("build secret", target.secret or "-")
    table.add_row("pull secret", target.pull_secret or "-")
    table.add_row("source", target.source)
    for key, value in (target.nuclio or {}).items():
        table.add_row(key, str(value))
    out.print(table)
    return 0


def print_platform_diff(diff: Any, as_json: bool = False) -> int:
    """Print what ``clients.kube.apply_platform_config`` returned; exit code 0."""
    if as_json:
        print_json(diff.as_dict())
        return 0
    header = "would change (dry run):" if diff.dry_run else ("changed:" if diff.applied else "")
    if header and diff.changes:
        sys.stdout.write(header + "\n")
    for line in diff.lines():
        sys.stdout.write(line + "\n")
    return 0


def cmd_platform_config(args: argparse.Namespace) -> int:
    active = _active()  # server-wide: no project
    config = active.platform_config()
    if args.apply:
        # Lazy on purpose (not a cycle): clients.kube brings core.credentials and core.platform_patch
        # (~10 ms) that `show` and `target`, which share this module, never use.
        from mlrun_registry_ext.clients.kube import apply_platform_config

        if not args.namespace:
            raise ConfigError("--namespace", "required with --apply: the namespace of the MLRun API and Nuclio "
                                             "dashboard Deployments")
        # config: with the air-gap env (it needs the platform's versions, known here)
        return print_platform_diff(apply_platform_config(active.resolved, args.namespace, args.dry_run,
                                                         config=config), as_json=args.json)
    if args.json:
        print_json(config.to_dict())
    elif args.format == "helm":
        sys.stdout.write(config.helm_yaml())
    else:
        sys.stdout.write(config.env_lines())
    return 0
