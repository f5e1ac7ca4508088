"""Fixtures: a clean registry environment per test, and the CLI run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60) -> CliResult:
    """Run ``mlrun-registry`` in a subprocess with a clean registry environment plus ``env``."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("MLRUN_REGISTRY_EXT_") and k not in ("MLRUN_DBPATH", "NUCLIO_DASHBOARD_URL")}
    base["MLRUN_IGNORE_ENV_FILE"] = "true"
    base.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "mlrun_registry_ext.cli", *args], capture_output=True, text=True,
                          env=base, cwd=cwd or REPO, timeout=timeout)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


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
