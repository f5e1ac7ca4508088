"""The notebooks run offline, top to bottom, with the real mlrun and nuclio-jupyter packages."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support import images as im
from tests.support.env import CANARY, REPO
from tests.support.registry import RunningRegistry

pytestmark = pytest.mark.timeout(300)


def execute(name: str, workdir: Path) -> str:
    shutil.copy(REPO / "notebooks" / name, workdir / name)
    return run_notebook(nbformat.read(workdir / name, as_version=4), workdir)


def run_notebook(notebook: nbformat.NotebookNode, workdir: Path, extra_env: dict[str, str] | None = None) -> str:
    """Execute ``notebook`` in a fresh kernel (cwd ``workdir``) with a clean registry environment plus
    ``extra_env``; the executed notebook's text (every output, as it would be saved)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLRUN_REGISTRY_EXT_", "MLRUN_DBPATH"))}
    env.update({"REGISTRY_PASSWORD": CANARY, "MLRUN_IGNORE_ENV_FILE": "true", **(extra_env or {})})
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


def test_migrate_in_a_notebook_shows_live_progress_with_tags_counted_and_blobs_in_bytes(
        tmp_path: Path, registry_factory: Callable[..., RunningRegistry]) -> None:
    source = registry_factory()
    im.push_all(source.url, im.image_set(seed=5, count=4))
    target = registry_factory(auth="htpasswd", htpasswd_users={"ci-builder": CANARY})
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(
        "import os\n"
        "import mlrun_registry_ext as registry\n"
        "from mlrun_registry_ext.core.service import RegistryService\n"
        "target = RegistryService(name='rescue', url=os.environ['TARGET'], username='ci-builder',\n"
        "                         password=os.environ['REGISTRY_PASSWORD'], insecure=True)\n"
        "report = registry.migrate(os.environ['SOURCE'], target)\n"
        "report")]
    text = run_notebook(notebook, tmp_path, {"SOURCE": source.url, "TARGET": target.host})
    assert CANARY not in text
    outputs = notebook.cells[0].outputs
    assert not [o for o in outputs if o.output_type == "error"], outputs
    shown = [o for o in outputs if o.output_type == "display_data"]
    assert shown, "no progress display in the cell"
    progress = shown[0].data["text/plain"]
    assert "text/html" in shown[0].data
    lines = {line.split()[0]: line for line in progress.splitlines() if line.strip()}
    assert "4/4 tags" in lines["comparing"] and "4/4 tags" in lines["verifying"]
    assert re.search(r"[\d.]+/[\d.]+ [kM]B", lines["blobs"]), lines["blobs"]  # sizes, then a rate
    assert "B" not in lines["verifying"].replace("tags", "")  # counts are not sizes
    result = next(o for o in outputs if o.output_type == "execute_result")
    assert "<table>" in result.data["text/html"] or "<table" in result.data["text/html"]
    assert json.dumps(result.data).count("copied") >= 1
