"""What a new user installs: the version, both ways to run the command, and a wheel that carries its
licence, its type information and its metadata."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import mlrun_registry_ext
from tests.support.env import REPO, run_cli


def test_version_prints_the_package_version_and_exits_0() -> None:
    result = run_cli("--version")
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == f"mlrun-registry {mlrun_registry_ext.__version__}"


def test_python_dash_m_runs_the_same_command(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "MLRUN_IGNORE_ENV_FILE": "true", "PYTHONPATH": str(REPO)}
    outputs = {}
    for args, code in ((("--version",), 0), (("target", "demo", "trainer", "--json"), 0), (("nonsense",), 2)):
        proc = subprocess.run([sys.executable, "-m", "mlrun_registry_ext", *args], capture_output=True, text=True,
                              cwd=tmp_path, env=env, timeout=60)
        assert proc.returncode == code, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        outputs[args[0]] = proc.stdout
    assert outputs["--version"] == run_cli("--version").stdout
    assert json.loads(outputs["target"])["image"] == ".func-demo-trainer:latest"


def test_the_license_file_is_the_apache_2_text_pyproject_declares() -> None:
    text = (REPO / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX: How to apply the Apache License" in text
    declared = re.search(r"^license\s*=\s*(.+)$", (REPO / "pyproject.toml").read_text(), re.M)
    assert declared and "Apache-2.0" in declared[1]


def test_the_changelog_names_the_current_version() -> None:
    assert f"## {mlrun_registry_ext.__version__}" in (REPO / "CHANGELOG.md").read_text()


def test_the_wheel_carries_py_typed_the_license_and_classifiers(tmp_path: Path) -> None:
    tree = tmp_path / "src"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, tree / name)
    shutil.copytree(REPO / "mlrun_registry_ext", tree / "mlrun_registry_ext",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "dist"
    code = f"from setuptools import build_meta; print(build_meta.build_wheel({str(out)!r}))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tree, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = out / proc.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(archive.read(meta_name).decode())
    assert "mlrun_registry_ext/py.typed" in names
    assert "mlrun_registry_ext/__main__.py" in names
    assert any(n.endswith("LICENSE") and ".dist-info/" in n for n in names)
    classifiers = meta.get_all("Classifier") or []
    assert "License :: OSI Approved :: Apache Software License" in classifiers
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.9" in classifiers  # requires-python >=3.9
    assert meta["Requires-Python"] == ">=3.9"
