"""`doctor`: check the active registry (or all of them) before a build needs it.

Exit codes: 0 every check passed (warnings allowed), 1 a check failed, 2 the configuration is invalid.
"""

from __future__ import annotations

import argparse
from typing import Any

from mlrun_registry_ext.cli._app import add_json_flag, console, print_json, seconds
from mlrun_registry_ext.errors import ConfigError
from mlrun_registry_ext.features.doctor import doctor


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "doctor", help="check DNS, TLS, credentials, push and pull rights of the registry"
    )
    parser.add_argument(
        "--all", action="store_true", help="check every configured registry service, concurrently"
    )
    parser.add_argument(
        "--timeout",
        type=seconds(600),
        default=5.0,
        metavar="SECONDS",
        help="bound on the whole run, in seconds (default: 5): the doctor is over by then",
    )
    parser.add_argument(
        "--images", action="store_true",
        help="air gap: check that every image the installed MLRun and Nuclio pull by themselves resolves on "
             "the platform_images service (instead of the registry checks)",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=cmd_doctor)



def cmd_doctor(args: argparse.Namespace) -> int:
    if args.images and args.all:
        raise ConfigError("--images", "not with --all: --images checks the platform_images service only")
    report = doctor(all=args.all, timeout=args.timeout, images=args.images)
    if args.json:
        print_json(report.to_dict())
    else:
        console().print(report)
    if report.configuration_failed:
        return ConfigError.exit_code
    return 0 if report.ok else 1
