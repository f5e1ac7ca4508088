"""A command that needs an extra which is not installed says, in one line, which extra to install.

The CLI runs in a subprocess. A package that is installed is hidden from it the way Python reports an
absent one (``sys.modules[name] = None`` makes ``import name`` raise ``ModuleNotFoundError`` for it);
in the bare Python 3.13 run (scripts/test-pythons.sh: no extras installed) nothing needs hiding and the
packages are really absent.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from mlrun_registry_ext.clients.extras import EXTRAS
from mlrun_registry_ext.errors import MissingExtraError

PACKAGE = Path(__file__).resolve().parents[1] / "mlrun_registry_ext"
ECR_URL = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team"

_RUN_WITHOUT = """
import sys
for name in sys.argv[1].split(","):
    if name:
        sys.modules[name] = None
sys.argv[1:2] = []
sys.argv[0] = "mlrun-registry"
from mlrun_registry_ext.cli import main
sys.exit(main())
"""


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def run_without(packages: tuple[str, ...], args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    hidden = ",".join(name for name in packages if _installed(name))
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "MLRUN_IGNORE_ENV_FILE": "true",
           "KUBECONFIG": "/nonexistent/kubeconfig", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
           "AWS_SECRET_ACCESS_KEY": "example", "PYTHONPATH": str(PACKAGE.parent)}
    return subprocess.run([sys.executable, "-c", _RUN_WITHOUT, hidden, *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=60)


@pytest.mark.parametrize(("packages", "args", "extra"), [
    (("kubernetes",), ["secret", "apply", "--url", "registry.example.com/team", "--username", "bob",
                       "--password-stdin", "-n", "mlrun"], "kubernetes"),
    (("boto3", "botocore"), ["ecr", "ensure-repos", "--url", ECR_URL, "--project", "proj", "--function", "fn"],
     "aws"),
], ids=["secret-apply-without-kubernetes", "ecr-ensure-repos-without-boto3"])
def test_a_command_without_its_extra_exits_2_with_one_line_naming_it(packages: tuple[str, ...], args: list[str],
                                                                     extra: str) -> None:
    proc = run_without(packages, args, stdin="hunter2-canary\n")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"mlrun-registry: error: {packages[0]} is not installed; install the {extra!r} extra: "
        f"pip install 'mlrun-registry-ext[{extra}]'"]
    assert "Traceback" not in proc.stderr and "hunter2-canary" not in proc.stdout + proc.stderr


def test_the_python_api_without_mlrun_or_nuclio_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlrun_registry_ext.features.mlrun_hooks as mlrun_hooks
    import mlrun_registry_ext.features.nuclio_hooks as nuclio_hooks

    for name, extra, call in (("mlrun", "mlrun", lambda: mlrun_hooks.registry_context().__enter__()),
                              ("nuclio", "nuclio", lambda: nuclio_hooks.config_spec("fn"))):
        monkeypatch.setitem(sys.modules, name, None)  # type: ignore[arg-type]
        with pytest.raises(MissingExtraError) as caught:
            call()
        assert str(caught.value).endswith(f"pip install 'mlrun-registry-ext[{extra}]'")
        assert isinstance(caught.value, ModuleNotFoundError)  # `except ImportError` fallbacks still work


def test_the_extras_are_imported_in_one_place() -> None:
    """Every import of an extra's package goes through ``clients.extras.extra_module`` (type-checking
    imports aside): the rule that names the missing extra cannot be bypassed by a new direct import."""
    direct: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        checking = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                    and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                    for node in ast.walk(block)}
        for node in ast.walk(tree):
            if id(node) in checking:
                continue
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            direct += [f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {name}" for name in names
                       if name.partition(".")[0] in EXTRAS]
    assert direct == []
