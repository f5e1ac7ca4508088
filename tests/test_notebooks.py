"""The notebooks run offline, top to bottom, with the real mlrun and nuclio-jupyter packages."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support.env import CANARY, REPO

pytestmark = pytest.mark.timeout(300)


def execute(name: str, workdir: Path) -> str:
    shutil.copy(REPO / "notebooks" / name, workdir / name)
    notebook = nbformat.read(workdir / name, as_version=4)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLRUN_REGISTRY_EXT_", "MLRUN_DBPATH"))}
    env.update({"REGISTRY_PASSWORD": CANARY, "MLRUN_IGNORE_ENV_FILE": "true"})
    client = NotebookClient(notebook, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return nbformat.writes(notebook)


def test_quickstart(tmp_path: Path) -> None:
    text = execute("quickstart.ipynb", tmp_path)
    assert "ghcr.io/acme/ml-func-fraud-trainer:latest" in text
    assert "spec.build.registry" in text
    assert "<table>" in text  # the _repr_html_ tables render
    assert CANARY not in text


def test_project_setup(tmp_path: Path) -> None:
    text = execute("project-setup.ipynb", tmp_path)
    assert "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/churn-func-churn-trainer:latest" in text
    assert "ECR" in text
