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


#: Characters of JSON gathered before each write to stdout (see :func:`print_json`).
JSON_WRITE_CHUNK = 1 << 16


def print_json(data: Any) -> None:
    """``json.dumps(data, indent=2, default=str)`` and a newline, written in pieces of about 64 KB.

    Streamed because ``json.dumps`` with an indent collects every small piece it encodes (a key, a
    separator, a value: ~20 string objects, ~1.5 KB, per tag of a migration report) in one list before
    joining them, and then holds the joined text as well: at 10,000 tags that was the run's peak RSS.
    The text is the same, byte for byte.
    """
    out = sys.stdout
    pending: list[str] = []
    size = 0
    for piece in json.JSONEncoder(indent=2, sort_keys=False, default=str).iterencode(data):
        pending.append(piece)
        size += len(piece)
        if size >= JSON_WRITE_CHUNK:
            out.write("".join(pending))
            pending.clear()
            size = 0
    pending.append("\n")
    out.write("".join(pending))


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
