"""Shared CLI plumbing: running a handler, JSON or rich output, and errors as one line + exit code."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from mlrun_registry_ext.errors import ConfigError, RegistryExtError, one_line

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


class HeldWarnings(logging.Handler):
    """Holds the warnings a command logs until it has validated its input, then lets them through.

    "Validated" is the first thing the command writes (a table, JSON, a progress bar, a note): a command
    checks its arguments and configuration before it prints anything. A usage or configuration error
    (exit 2) before that drops them: the user sees the one line that says what to fix, not warnings
    about a configuration that is being refused. Any other ending lets them out, before its error line.
    """

    def __init__(self, target: logging.Handler) -> None:
        super().__init__(logging.WARNING)
        self.target = target
        self.held: list[logging.LogRecord] | None = []

    def emit(self, record: logging.LogRecord) -> None:
        if self.held is None:
            self.target.handle(record)
        else:
            self.held.append(record)

    def let_out(self) -> None:
        held, self.held = self.held, None
        for record in held or ():
            self.target.handle(record)

    def drop(self) -> None:
        self.held = None


class _ReleasingStream:
    """``sys.stdout`` / ``sys.stderr`` while a command runs: the first write lets held warnings out."""

    def __init__(self, stream: Any, held: HeldWarnings) -> None:
        self._stream = stream
        self._held = held

    def write(self, text: str) -> int:
        if self._held.held is not None:
            self._held.let_out()
        return int(self._stream.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


#: The running command's held warnings (None outside :func:`run_handler`, or when not held).
_held: HeldWarnings | None = None


def inputs_checked() -> None:
    """Called by a long command once its input is validated, before work that prints nothing for a while
    (a piped ``migrate``): its warnings come out now, not with the report at the end."""
    if _held is not None and _held.held is not None:
        _held.let_out()


def _hold_warnings() -> HeldWarnings | None:
    """The process's warning handler (what ``logging.basicConfig`` set before: ``mlrun-registry:
    warning: ...`` on stderr), held. None when the root logger already has handlers (the CLI called
    in-process, e.g. under pytest): those are left as they are."""
    root = logging.getLogger()
    if root.handlers:
        return None
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(logging.Formatter("mlrun-registry: warning: %(message)s"))
    held = HeldWarnings(stream)
    root.addHandler(held)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    return held


def run_handler(args: argparse.Namespace) -> int:
    """Run ``args.handler``; every expected error becomes one line on stderr and its exit code.
    Warnings wait until the command has validated its input (:class:`HeldWarnings`)."""
    global _held
    held = _hold_warnings()
    if held is None:
        return _run(args)
    _held = held
    streams = sys.stdout, sys.stderr
    sys.stdout = _ReleasingStream(sys.stdout, held)
    sys.stderr = _ReleasingStream(sys.stderr, held)
    try:
        return _run(args, held)
    finally:
        _held = None
        sys.stdout, sys.stderr = streams
        held.let_out()
        logging.getLogger().removeHandler(held)
        logging.getLogger().addHandler(held.target)  # later warnings (interpreter teardown) as before


def _run(args: argparse.Namespace, held: HeldWarnings | None = None) -> int:
    handler: Handler = args.handler
    try:
        return handler(args)
    except RegistryExtError as exc:
        if held is not None and exc.exit_code == ConfigError.exit_code:
            held.drop()  # refused input: its one line, without the warnings about it
        return fail(str(exc), exc.exit_code)  # any other: the held warnings first (the write lets them out)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except BrokenPipeError:
        return 0
    except RecursionError:
        return fail("unexpected RecursionError: the input is nested too deeply", 1)
    except Exception as exc:  # last line of defence: one line (cut, URL userinfo masked), no traceback
        return fail(f"unexpected {type(exc).__name__}: {exc}", 1)
