"""Fixtures: a clean registry environment per test, and the CLI run as a user runs it."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CANARY = "canary-Pw-7f3a9c2e"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_registry_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith("MLRUN_REGISTRY_EXT_") or key in ("MLRUN_DBPATH", "NUCLIO_DASHBOARD_URL",
                                                              "IGZ_NAMESPACE_DOMAIN"):
            monkeypatch.delenv(key, raising=False)
    from mlrun_registry_ext.features import api

    api._warned.clear()
    yield


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


#: The installed console script the CLI tests run (scripts/test.sh sets it to the wheel venv's).
CLI_ENV = "MLRUN_REGISTRY_TEST_CLI"


@functools.cache
def console_script() -> str:
    """``mlrun-registry`` as users run it: the wheel's console script in its own venv (``$MLRUN_REGISTRY_TEST_CLI``;
    without it, ``scripts/wheel-venv.sh`` builds the wheel from this tree and installs it, once per session)."""
    path = os.environ.get(CLI_ENV)
    if not path:
        built = subprocess.run([str(REPO / "scripts" / "wheel-venv.sh")], capture_output=True, text=True,
                               check=True, timeout=600)
        path = built.stdout.strip().splitlines()[-1]
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{CLI_ENV}={path} is not an executable console script")
    return path


def installed_python() -> str:
    """The interpreter of the console script's venv: ``python -c`` scripts run the installed package with it."""
    return str(Path(console_script()).parent / "python")


@functools.cache
def outside_tree() -> Path:
    """An empty working directory outside the repository: nothing of the source tree is importable from it."""
    return Path(tempfile.mkdtemp(prefix="mlrun-registry-cwd-"))


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60,
            stdin: str | None = None) -> CliResult:
    """Run the installed ``mlrun-registry`` console script, from a directory outside the repository, with a
    clean registry environment plus ``env``."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("MLRUN_REGISTRY_EXT_") and k not in ("MLRUN_DBPATH", "NUCLIO_DASHBOARD_URL")}
    base["MLRUN_IGNORE_ENV_FILE"] = "true"
    base.update(env or {})
    proc = subprocess.run([console_script(), *args], capture_output=True, text=True, env=base,
                          cwd=cwd or outside_tree(), timeout=timeout, input=stdin)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def run_cli_here(argv: list[str], stdin: str | None = None, timeout: float = 120) -> CliResult:
    """The installed console script with this process's environment as the test left it (``monkeypatch.setenv``
    included), from the test's working directory unless that is the repository."""
    cwd = Path.cwd()
    if cwd == REPO or REPO in cwd.parents:
        cwd = outside_tree()
    proc = subprocess.run([console_script(), *argv], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, "MLRUN_IGNORE_ENV_FILE": "true"},
                          input="" if stdin is None else stdin + "\n")
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def installed_main(argv: list[str]) -> int:
    """A stand-in for ``mlrun_registry_ext.cli.main`` in tests that read ``capsys``: the installed console
    script runs (see :func:`run_cli_here`) and its output goes to this process's ``sys.stdout`` /
    ``sys.stderr``, where ``capsys`` finds it."""
    result = run_cli_here(list(argv))
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.code


def cli_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    """The installed console script's exit code, its stdout as JSON (as text when it is not JSON), and its
    stderr (see :func:`installed_main`)."""
    code = installed_main(argv)
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except ValueError:
        return code, out, err


@pytest.fixture
def cli() -> object:
    return run_cli


# --- a GHCR service through the environment, and a job handler file (the MLRun end-to-end tests) --------
GHCR = {"MLRUN_REGISTRY_EXT_URL": "ghcr.io/acme", "MLRUN_REGISTRY_EXT_USERNAME": "ci-builder",
        "MLRUN_REGISTRY_EXT_PASSWORD": CANARY, "MLRUN_REGISTRY_EXT_IMAGE_PREFIX": "ml-"}


@pytest.fixture
def ghcr_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GHCR.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def handler_file(tmp_path: Path) -> Path:
    path = tmp_path / "trainer.py"
    path.write_text("def handler(context, event=None):\n    return 'ok'\n")
    return path
