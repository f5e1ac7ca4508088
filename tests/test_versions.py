"""Version gates: MLRun >= 1.0.5 and Nuclio >= 1.10.0 for an external registry; the installed mlrun client's
version, read the same way by the console script, ``python -m``, an editable install and a notebook kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlrun_registry_ext import VersionGateError
from mlrun_registry_ext.core.versions import ComponentVersion, check_gates, is_dev_label, parse_version
from tests.support.env import REPO, console_script, installed_python, outside_tree


@pytest.mark.parametrize("raw", ["1.0.5", "1.0.5+build.7", "1.12.1", "v1.7.0", "2.0.0-rc1"])
def test_mlrun_at_or_above_gate_passes(raw: str) -> None:
    assert check_gates("x.io", True, [ComponentVersion("mlrun", raw, "test"),
                                      ComponentVersion("nuclio", "1.14.1", "test")]) == []


@pytest.mark.parametrize("raw", ["1.0.4", "1.0.5-rc3", "1.0.5rc3", "0.10.1"])
def test_mlrun_below_gate_refused_with_one_clear_message(raw: str) -> None:
    with pytest.raises(VersionGateError) as info:
        check_gates("ghcr.io/acme", True, [ComponentVersion("mlrun", raw, "the MLRun server at http://api")])
    message = str(info.value)
    assert f"MLRun {raw}" in message and "1.0.5" in message and "upgrade MLRun" in message
    assert "http://api" in message and "ghcr.io/acme" in message


@pytest.mark.parametrize(("raw", "ok"), [("1.9.9", False), ("1.10.0-rc3", False), ("1.10.0", True),
                                         ("1.10.0+build", True), ("1.14.1", True)])
def test_nuclio_gate(raw: str, ok: bool) -> None:
    versions = [ComponentVersion("mlrun", "1.12.1", "t"), ComponentVersion("nuclio", raw, "the dashboard")]
    if ok:
        assert check_gates("x.io", True, versions) == []
    else:
        with pytest.raises(VersionGateError, match="Nuclio"):
            check_gates("x.io", True, versions)


@pytest.mark.parametrize("raw", ["unstable", "latest", "0.0.0+unstable", "1.7.0-unstable"])
def test_dev_labels_pass_with_a_warning(raw: str) -> None:
    assert is_dev_label(raw)
    warnings = check_gates("x.io", True, [ComponentVersion("mlrun", raw, "t"), ComponentVersion("nuclio", raw, "t")])
    assert len(warnings) == 2 and all("development build" in w for w in warnings)


def test_unknown_version_is_a_warning_not_a_refusal() -> None:
    warnings = check_gates("x.io", True, [])
    assert len(warnings) == 2 and all("unknown" in w for w in warnings)


def test_on_cluster_is_not_gated() -> None:
    assert check_gates("docker-registry:80", False, [ComponentVersion("mlrun", "0.9.0", "t")]) == []


def test_parse_handles_semver_and_pep440() -> None:
    assert parse_version("1.10.0-rc3") == parse_version("1.10.0rc3")
    assert parse_version("not-a-version") is None


# --- the installed mlrun client's version, wherever the package runs ----------------------------------------
def _locked_mlrun() -> str:
    """The oracle: the mlrun version the lock installs (importlib.metadata, not the product's directory scan)."""
    from importlib.metadata import version

    return version("mlrun")


def _show_platform(*argv: str, cwd: Path | None = None) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLRUN_REGISTRY_EXT_") and k != "MLRUN_DBPATH"}
    env["MLRUN_IGNORE_ENV_FILE"] = "true"
    proc = subprocess.run([*argv, "show", "--json"], capture_output=True, text=True, env=env,
                          cwd=cwd or outside_tree(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["platform"]


def test_the_installed_console_script_sees_the_installed_mlrun() -> None:
    # sys.path[0] is the venv's bin/, which holds mlrun's own `mlrun` command (a file, not a package)
    assert (Path(console_script()).parent / "mlrun").is_file()
    assert _show_platform(console_script())["mlrun_client"] == _locked_mlrun()


def test_python_m_from_the_installed_wheel_sees_the_installed_mlrun() -> None:
    assert _show_platform(installed_python(), "-m", "mlrun_registry_ext.cli")["mlrun_client"] == _locked_mlrun()


def test_an_editable_install_sees_the_installed_mlrun_from_the_tree_and_from_outside() -> None:
    editable = REPO / ".venv" / "bin"  # scripts/bootstrap.sh: `uv pip install -e .` (a path entry)
    assert _show_platform(str(editable / "mlrun-registry"))["mlrun_client"] == _locked_mlrun()
    assert _show_platform(str(editable / "python"), "-m", "mlrun_registry_ext.cli",
                          cwd=REPO)["mlrun_client"] == _locked_mlrun()


def test_a_notebook_kernel_sees_the_installed_mlrun(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from mlrun_registry_ext.clients.platform_probe import installed_mlrun_version\n"
        "print(installed_mlrun_version())")])
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert notebook.cells[0].outputs[0]["text"].strip() == _locked_mlrun()


def test_a_source_checkout_of_mlrun_first_on_sys_path_shadows_the_installed_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlrun_registry_ext.clients.platform_probe import installed_mlrun_version

    site = tmp_path / "site-packages"
    (site / "mlrun-1.9.2.dist-info").mkdir(parents=True)
    (site / "mlrun_registry_ext-0.1.0.dist-info").mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mlrun").write_text("#!/bin/sh\n")  # a console script named mlrun: not a package
    monkeypatch.setattr(sys, "path", [str(bin_dir), str(site)])
    assert installed_mlrun_version() == "1.9.2"
    checkout = tmp_path / "checkout"
    (checkout / "mlrun").mkdir(parents=True)
    (checkout / "mlrun" / "__init__.py").write_text("")
    monkeypatch.setattr(sys, "path", [str(bin_dir), str(checkout), str(site)])
    assert installed_mlrun_version() is None  # `import mlrun` would load the checkout, whose version is unknown
