"""`kaniko-image`: the Kaniko executor that trusts the services' private CAs."""

from __future__ import annotations

import argparse
from typing import Any

from mlrun_registry_ext.cli._app import add_json_flag, console, print_json
from mlrun_registry_ext.features.api import resolve
from mlrun_registry_ext.features.kaniko_image import build_kaniko_ca_image


def register(sub: Any) -> None:
    parser = sub.add_parser("kaniko-image", help="push a Kaniko executor that trusts the services' CA bundles")
    parser.add_argument("--dry-run", action="store_true", help="build it and show the reference; push nothing")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per registry request (default 60)")
    add_json_flag(parser)
    parser.set_defaults(handler=cmd_kaniko_image)


def cmd_kaniko_image(args: argparse.Namespace) -> int:
    active = resolve()
    # a role: system target has no login of its own: as migrate --platform-images, the credential chain's
    result = build_kaniko_ca_image(active.service, active.resolved.all_services, dry_run=args.dry_run,
                                   timeout=args.timeout)
    if args.json:
        print_json(result.to_dict())
        return 0
    out = console()
    verb = "up to date" if result.present else ("would push" if result.dry_run else "pushed")
    out.print(f"{verb}: {result.reference} ({result.digest}, {result.platform})", markup=False)
    out.print(f"  from {result.source}; CA bundle of {', '.join(result.services)}", markup=False)
    for note in result.notes:
        out.print(f"  note: {note}", markup=False)
    out.print("  then: mlrun-registry platform-config (MLRUN_HTTPDB__BUILDER__KANIKO_IMAGE, "
              "NUCLIO_KANIKO_CONTAINER_IMAGE)", markup=False)
    return 0
