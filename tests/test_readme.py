"""The README is what a new user pastes: its CLI block matches ``--help`` option for option, and its
examples (commands and config files) run as written."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from mlrun_registry_ext.cli import COMMANDS, build_parser
from tests.support.env import REPO

README = (REPO / "README.md").read_text()
OPTION_RE = re.compile(r"(?<![\w-])(--?[a-z][a-z0-9-]*)")


def cli_block() -> list[str]:
    section = README[README.index("\n## CLI\n"):]
    start = section.index("```text\n") + len("```text\n")
    return section[start:section.index("```", start)].splitlines()


def readme_entries() -> dict[tuple[str, ...], set[str]]:
    """Command path -> the options the README's CLI block lists for it (macros such as SERVICE expanded)."""
    lines = cli_block()
    macros = {}
    for line in lines:
        match = re.fullmatch(r"([A-Z]+) = (.*?)(?:\s{2,}\(.*\))?", line)
        if match:
            macros[match[1]] = match[2]
    entries: list[tuple[list[str], str]] = []
    for line in lines:
        if line.startswith("mlrun-registry"):
            usage = re.split(r"\s{2,}(?=[^\s\[-])", line)[0]  # cut a description in the same line
            words = usage.split()[1:]
            path = []
            for word in words:
                if word.startswith(("[", "-")) or word.isupper() or word == "...":
                    break
                path.append(word)
            entries.append((path, usage))
        elif line.startswith(" ") and entries:
            text = line.strip()
            if text.startswith(("[", "-")) or text.split()[0] in macros:
                entries[-1] = (entries[-1][0], entries[-1][1] + " " + text)
    found: dict[tuple[str, ...], set[str]] = {}
    for path, usage in entries:
        for name, value in macros.items():
            usage = re.sub(rf"\b{name}\b", value, usage)
        found.setdefault(tuple(path), set()).update(OPTION_RE.findall(usage))
    return found


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


def test_every_option_the_readme_cli_block_lists_exists() -> None:
    wrong = []
    for path, options in readme_entries().items():
        known = {s for strings in documented_options(parser_for(path)) for s in strings}
        wrong += [f"{' '.join(path)} {option}" for option in sorted(options - known)]
    assert not wrong, f"the README lists options that do not exist: {wrong}"


def test_every_option_of_every_command_is_in_the_readme_cli_block() -> None:
    entries = readme_entries()
    missing = []
    for path, parser in leaves():
        assert path in entries, f"mlrun-registry {' '.join(path)} is not in the README's CLI block"
        missing += [f"{' '.join(path)} {strings[0]}" for strings in documented_options(parser)
                    if not set(strings) & entries[path]]
    assert not missing, f"options missing from the README's CLI block: {missing}"
    assert "--version" in entries[()]


@pytest.mark.parametrize("path", sorted(readme_entries()))
def test_the_readme_names_only_commands_that_exist(path: tuple[str, ...]) -> None:
    parser_for(path)  # a KeyError names the command that is gone
