"""Shared CLI plumbing: running a handler, JSON or rich output, and errors as one line + exit code."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from mlrun_registry_ext.errors import RegistryExtError, one_line

Handler = Callable[[argparse.Namespace], int]


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print plain JSON for scripts")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def console(stderr: bool = False) -> Any:
    """A rich console (imported lazily: rich costs ~30 ms we only pay for human output)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def seconds(maximum: float) -> Callable[[str], float]:
    """An argparse ``type`` for a duration in seconds, in (0, ``maximum``]; bad text is a usage error
    (exit 2) that quotes at most 50 characters of it."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = 0.0
        if not 0 < value <= maximum:
            raise argparse.ArgumentTypeError(f"{text[:50]!r} is not a number of seconds in (0, {maximum:g}]")
        return value

    return parse


def fail(message: str, code: int) -> int:
    sys.stderr.write(f"mlrun-registry: error: {one_line(message)}\n")
    return code


def run_handler(args: argparse.Namespace) -> int:
    """Run ``args.handler``; every expected error becomes one line on stderr and its exit code."""
    handler: Handler = args.handler
    logging.basicConfig(level=logging.WARNING, format="mlrun-registry: warning: %(message)s")
    try:
        return handler(args)
    except RegistryExtError as exc:
        return fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except BrokenPipeError:
        return 0
    except RecursionError:
        return fail("unexpected RecursionError: the input is nested too deeply", 1)
    except Exception as exc:  # last line of defence: one line (cut, URL userinfo masked), no traceback
        return fail(f"unexpected {type(exc).__name__}: {exc}", 1)
