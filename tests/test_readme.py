"""The README is what a new user pastes: its CLI block matches ``--help`` option for option, and its
examples (commands and config files) run as written."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import images as im
from tests.support.cli_tree import documented_options, leaves, parser_for
from tests.support.env import REPO, CliResult, run_cli
from tests.support.registry import RunningRegistry
from tests.support.standins import MLRunAPIStandIn, NuclioDashboardStandIn

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


# --- the examples, as pasted ---------------------------------------------------------------------------
#: Marks a README bash block whose commands need a cluster; the test runs them against loopback services.
NEEDS_CLUSTER = "# needs a cluster"
#: The example host of the on-cluster registry, replaced by a loopback registry in cluster examples.
ON_CLUSTER_HOST = "docker-registry.default-tenant.app.example.com:80"


def bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README, re.S)


def example_commands(block: str) -> tuple[list[list[str]], list[str]]:
    """The commands of a bash block (argument lists, from ``mlrun-registry`` or ``python -m
    mlrun_registry_ext`` on), and the lines that are not commands to run, each with why."""
    commands: list[list[str]] = []
    skipped: list[str] = []
    for line in block.replace("\\\n", " ").splitlines():
        code = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
        if not code or code.startswith("#"):
            continue
        for segment in (part.strip() for part in code.split("&&")):
            words = shlex.split(segment)
            if words[0].startswith("./scripts/"):
                skipped.append(f"set-up (CI runs it): {segment}")
            elif words[0] in ("pip", "%pip"):
                skipped.append(f"an install: {segment}")
            elif "..." in words or any(word.startswith("[") for word in words):
                skipped.append(f"a synopsis, not a command: {segment}")
            elif words[0] in ("mlrun-registry", ".venv/bin/mlrun-registry"):
                commands.append(["mlrun-registry", *words[1:]])
            elif words[:3] == ["python", "-m", "mlrun_registry_ext"]:
                commands.append(words)
            else:
                raise AssertionError(f"a README example the test does not know how to run: {segment}")
    return commands, skipped


def run_example(command: list[str], env: dict[str, str] | None = None) -> CliResult:
    if command[0] == "mlrun-registry":
        return run_cli(*command[1:], env=env)
    proc = subprocess.run([sys.executable, *command[1:]], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "MLRUN_IGNORE_ENV_FILE": "true", **(env or {})}, cwd=REPO)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def test_the_readme_commands_that_need_no_cluster_run_as_pasted() -> None:
    ran = 0
    for block in bash_blocks():
        if NEEDS_CLUSTER in block:
            continue
        commands, _ = example_commands(block)
        for command in commands:
            result = run_example(command)
            assert result.code == 0, (command, result.stderr)
            assert "Traceback" not in result.output
            ran += 1
    assert ran >= 3  # the main job, --version, python -m


def test_the_readme_commands_that_need_a_cluster_run_against_loopback_services(
        registry_factory: Callable[..., RunningRegistry], mlrun_api: MLRunAPIStandIn,
        nuclio_dashboard: NuclioDashboardStandIn) -> None:
    """Each command as pasted, with the on-cluster registry's example host pointing at a loopback
    registry, the MLRun API and the Nuclio dashboard at their stand-ins, and a destructive ``--yes``
    run as its ``--dry-run``."""
    source = registry_factory()
    im.push_all(source.url, im.image_set(seed=9, count=3))
    target = registry_factory()
    env = {"MLRUN_DBPATH": mlrun_api.url, "NUCLIO_DASHBOARD_URL": nuclio_dashboard.url,
           "MLRUN_REGISTRY_EXT_URL": target.url}
    blocks = [block for block in bash_blocks() if NEEDS_CLUSTER in block]
    assert len(blocks) >= 2
    for block in blocks:
        commands, _ = example_commands(block.replace(ON_CLUSTER_HOST, source.host))
        assert commands
        for command in commands:
            command = ["--dry-run" if word == "--yes" else word for word in command]
            result = run_example(command, env)
            assert result.code == 0, (command, result.stderr)
            assert "Traceback" not in result.output
    assert set(im.tag_digests(target.url)) == set()  # dry runs: nothing was copied


def test_every_readme_bash_line_is_run_or_said_why_not() -> None:
    for block in bash_blocks():
        commands, skipped = example_commands(block)  # raises on a line it cannot place
        assert commands or skipped


@pytest.mark.parametrize("index", range(len(re.findall(r"```yaml\n", README))))
def test_every_readme_config_file_example_works_as_pasted(index: int, tmp_path: Path) -> None:
    text = re.findall(r"```yaml\n(.*?)```", README, re.S)[index]
    config = tmp_path / "registries.yaml"
    config.write_text(text)
    env = {"MLRUN_REGISTRY_EXT_CONFIG": str(config)}
    for args in (("show", "--json"), ("target", "demo", "trainer", "--json")):
        result = run_cli(*args, env=env)
        assert result.code == 0, (text, result.stderr)
        assert json.loads(result.stdout)
