"""The command tree as argparse builds it: every (sub)command's parser and the options its help shows."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from mlrun_registry_ext.cli import COMMANDS, build_parser


def parser_for(path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser(path[0] if path else None)
    for word in path:
        parser = subcommands(parser)[word]
    return parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def leaves() -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    for command in COMMANDS:
        parser = subcommands(build_parser(command))[command]
        actions = subcommands(parser)
        if actions:
            for name, sub in actions.items():
                yield (command, name), sub
        else:
            yield (command,), parser


def documented_options(parser: argparse.ArgumentParser) -> list[list[str]]:
    return [list(a.option_strings) for a in parser._actions
            if a.option_strings and a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)]
