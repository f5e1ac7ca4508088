"""`builder-image`: the builder image (Kaniko executor or Buildah) that trusts the services' private CAs and,
for Buildah, uses the mirrors; `kaniko-image` is `builder-image --backend kaniko` under its old name."""

from __future__ import annotations

import argparse
from typing import Any

from mlrun_registry_ext.cli._app import add_json_flag, console, print_json
from mlrun_registry_ext.core.builder_image import BACKENDS
from mlrun_registry_ext.features.api import resolve
from mlrun_registry_ext.features.kaniko_image import build_builder_image

#: What ``platform-config`` sets to the image, per backend.
_SETTINGS = {"kaniko": "MLRUN_HTTPDB__BUILDER__KANIKO_IMAGE, NUCLIO_KANIKO_CONTAINER_IMAGE",
             "buildah": "MLRUN_HTTPDB__BUILDER__BUILDAH_IMAGE"}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="build it and show the reference; push nothing")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per registry request (default 60)")
    add_json_flag(parser)


def register(sub: Any) -> None:
    builder = sub.add_parser("builder-image", help="push the builder image (Kaniko or Buildah) that trusts the "
                                                   "services' CA bundles and, for Buildah, uses the mirrors")
    builder.add_argument("--backend", choices=BACKENDS, default=None,
                         help="the MLRun server's builder backend (httpdb.builder.builder_backend; default: the "
                              "service's builder_backend, else kaniko)")
    builder.add_argument("--base", metavar="IMAGE", default=None,
                         help="the image to extend (default: the installed MLRun's kaniko_image, or "
                              "quay.io/buildah/stable)")
    _common(builder)
    builder.set_defaults(handler=cmd_builder_image)
    kaniko = sub.add_parser("kaniko-image", help="push a Kaniko executor that trusts the services' CA bundles "
                                                 "(builder-image --backend kaniko)")
    _common(kaniko)
    kaniko.set_defaults(handler=cmd_builder_image, backend="kaniko", base=None)


def cmd_builder_image(args: argparse.Namespace) -> int:
    active = resolve()
    backend = args.backend or active.builder().name
    # a role: system target has no login of its own: as migrate --platform-images, the credential chain's
    result = build_builder_image(active.service, active.resolved.all_services, backend, dry_run=args.dry_run,
                                 timeout=args.timeout, base_image=args.base)
    if args.json:
        print_json(result.to_dict())
        return 0
    out = console()
    verb = "up to date" if result.present else ("would push" if result.dry_run else "pushed")
    out.print(f"{verb}: {result.reference} ({result.digest}, {result.platform})", markup=False)
    what = [f"CA bundle of {', '.join(result.services)}"] if result.services else []
    what += [f"mirrors of {prefix}: {', '.join(locations)}" for prefix, locations in result.mirrors.items()]
    out.print(f"  from {result.source}; {'; '.join(what)}", markup=False)
    for note in result.notes:
        out.print(f"  note: {note}", markup=False)
    out.print(f"  then: mlrun-registry platform-config ({_SETTINGS[result.backend]})", markup=False)
    return 0
