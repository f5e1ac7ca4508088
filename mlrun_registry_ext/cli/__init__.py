"""`mlrun-registry`: the command line for platform admins and CI.

Each area registers its sub-commands from its own module (one ``register(subparsers)`` each). Only the
chosen command's module is imported (:data:`COMMANDS`), so a command module imports its features at
module top and `show` never pays for `migrate`'s or `doctor`'s; ``--help`` and an unknown command list
the commands from the table without importing any. Heavy packages (mlrun, boto3, kubernetes, nuclio,
rich) are imported inside the handlers that need them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from mlrun_registry_ext import __version__
from mlrun_registry_ext.cli._app import run_handler
from mlrun_registry_ext.errors import one_line

_CLI = "mlrun_registry_ext.cli."
#: command -> (one-line help, the modules whose ``register(subparsers)`` define it, in order). ``ecr``
#: needs two: ``prune_cmd`` adds ``ecr lifecycle`` to the group ``creds_cmds`` defines.
COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "show": ("the active registry service and all configured ones, with sources", ("core_cmds",)),
    "target": ("the push target, secrets and Nuclio keys of one function", ("core_cmds",)),
    "platform-config": ("what the MLRun API and the Nuclio dashboard must be set to", ("core_cmds",)),
    "doctor": ("check DNS, TLS, credentials, push and pull rights of the registry", ("doctor_cmd",)),
    "secret": ("registry secrets in Kubernetes: apply, show, copy, delete", ("creds_cmds",)),
    "ecr": ("AWS ECR: IAM policy, repositories, permission check, token refresh", ("creds_cmds", "prune_cmd")),
    "migrate": ("copy images from a registry (default: the on-cluster one) to the active external registry",
                ("migrate_cmd",)),
    "builder-image": ("push the builder image (Kaniko or Buildah) that trusts the services' CAs and uses the "
                      "mirrors", ("kaniko_cmd",)),
    "kaniko-image": ("push a Kaniko executor that trusts the services' CA bundles (builder-image --backend "
                     "kaniko)", ("kaniko_cmd",)),
    "prune": ("delete the images no MLRun or Nuclio function uses, keeping the newest N of each repository",
              ("prune_cmd",)),
}
#: Every command module, in registration order.
COMMAND_MODULES = tuple(dict.fromkeys(_CLI + module for _, modules in COMMANDS.values() for module in modules))


def chosen_command(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` names (its first word that is not an option), if it is a known one."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
        if arg in ("-h", "--help"):
            return None
    return None


class Parser(argparse.ArgumentParser):
    """argparse with a usage error in two lines: which command and where its help is, then the error.

    argparse's own prints the whole usage block (``migrate`` alone is a dozen lines), which pushes the
    one line that matters off a CI log's first screen. Sub-command parsers are of this class too
    (``add_subparsers`` uses the parent's class).
    """

    #: The command line the error is about: the top parser reports unknown options of the chosen
    #: command (``mlrun-registry migrate --bogus``), so it names that command, not itself.
    shown: str | None = None

    def error(self, message: str) -> NoReturn:
        prog = self.shown or self.prog
        self.exit(2, f"usage: {prog} ... (see {prog} --help)\n{prog}: error: {one_line(message)}\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for ``command`` (only its modules imported); for None, every command from the table,
    each with its one-line help and no module imported (enough for ``--help`` and usage errors)."""
    parser = Parser(
        prog="mlrun-registry",
        description="External container registries for MLRun and Nuclio builds.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print the package version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    if command is None:
        for name, (text, _) in COMMANDS.items():
            sub.add_parser(name, help=text, add_help=False)
        return parser
    parser.shown = f"{parser.prog} {command}"
    for module in COMMANDS[command][1]:
        importlib.import_module(_CLI + module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = chosen_command(argv)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    return run_handler(args)


def run() -> NoReturn:
    """The console script: :func:`main`, then exit without tearing the interpreter down.

    Every file and connection a command opens is closed by the time it returns (``with`` blocks), so
    skipping module teardown loses nothing; it saves ~20 ms, a tenth of a ``migrate`` re-run that
    finds nothing new. Library code calls :func:`main`, which returns.
    """
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
