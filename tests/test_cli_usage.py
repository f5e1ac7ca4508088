"""What a user notices about the command line itself: short usage errors, the version, the package
surface a notebook's tab completion offers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import mlrun_registry_ext
from tests.support.cli_tree import documented_options, leaves
from tests.support.env import CANARY, REPO, run_cli


@pytest.mark.parametrize("args", [("migrate", "--bogus"), ("migrate", "--jobs", "x"), ("nonsense",), ("ecr",),
                                  ("target", "demo"), ("show", "--format", "xml"), ()])
def test_a_usage_error_is_two_lines_naming_the_command_and_exits_2(args: tuple[str, ...]) -> None:
    result = run_cli(*args)
    assert result.code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("usage: mlrun-registry") and "--help" in lines[0]
    assert "error:" in lines[1]
    if args and args[0] in ("migrate", "ecr", "target", "show"):
        assert lines[1].startswith(f"mlrun-registry {args[0]}: error:"), lines[1]


def test_an_unknown_option_names_the_option_and_the_command() -> None:
    result = run_cli("migrate", "--bogus")
    assert result.stderr.splitlines()[1] == "mlrun-registry migrate: error: unrecognized arguments: --bogus"


def test_help_still_prints_the_full_usage() -> None:
    result = run_cli("migrate", "--help")
    assert result.code == 0
    assert "--rewrite-functions" in result.stdout and "--emit-job" in result.stdout


def test_dir_of_the_package_offers_every_public_name_for_tab_completion() -> None:
    code = "import mlrun_registry_ext as m, sys; print(' '.join(dir(m))); print('mlrun' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    names, loaded = out.stdout.splitlines()
    listed = set(names.split())
    assert set(mlrun_registry_ext.__all__) <= listed
    assert {"resolve", "configure_function", "configure_project", "setup", "doctor", "migrate", "prune",
            "nuclio", "target", "__version__"} <= listed
    assert not {"Any", "TYPE_CHECKING", "annotations"} & listed
    assert loaded == "False"  # listing the names loads none of them


def test_every_lazy_name_is_imported_for_type_checkers() -> None:
    """Static completion (Pylance, Jedi) reads the TYPE_CHECKING block, not ``__getattr__``."""
    import ast

    tree = ast.parse((REPO / "mlrun_registry_ext" / "__init__.py").read_text())
    block = next(node for node in tree.body
                 if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING")
    imported = {alias.asname or alias.name for node in block.body if isinstance(node, ast.ImportFrom)
                for alias in node.names}
    lazy = set(mlrun_registry_ext.__all__) - {"ConfigError", "RegistryAPIError", "RegistryExtError", "VersionGateError"}
    assert lazy <= imported, lazy - imported


@pytest.mark.parametrize("args", [("target", "demo", "trainer", "--tag=-x"),
                                  ("target", "demo", "trainer", "--kind", "local"), ("target", "Demo!", "trainer")])
def test_a_refused_input_prints_its_one_error_line_and_no_warnings_before_it(args: tuple[str, ...]) -> None:
    # the embedded default (no URL) is warned about on every run that gets as far as using it
    assert "lost when it restarts" in run_cli("target", "demo", "trainer").stderr
    result = run_cli(*args)
    assert result.code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("mlrun-registry: error:"), result.stderr


def test_a_bad_config_file_exits_2_with_only_its_error(tmp_path: Path) -> None:
    config = tmp_path / "registries.yaml"
    config.write_text("active: nowhere\nservices:\n  ghcr: {url: ghcr.io/acme}\n")
    result = run_cli("show", env={"MLRUN_REGISTRY_EXT_CONFIG": str(config)})
    assert result.code == 2
    assert result.stderr.count("\n") == 1 and "warning" not in result.stderr, result.stderr


def test_warnings_still_come_out_before_a_failure_that_is_not_bad_input() -> None:
    result = run_cli("target", "demo", "trainer", "--json")
    assert result.code == 0
    assert result.stderr.startswith("mlrun-registry: warning:")


def test_a_job_gets_no_nuclio_version_warning_but_a_nuclio_kind_does() -> None:
    env = {"MLRUN_REGISTRY_EXT_URL": "ghcr.io/acme"}  # external: gated; no dashboard reports a Nuclio version
    job = run_cli("target", "demo", "trainer", "--json", env=env)
    assert job.code == 0 and "Nuclio version" not in job.stderr, job.stderr
    for kind in ("nuclio", "serving", "remote", "application"):
        built = run_cli("target", "demo", "server", "--kind", kind, "--json", env=env)
        assert built.code == 0 and "Nuclio version unknown" in built.stderr, (kind, built.stderr)


def test_platform_config_json_has_both_deployments_env_and_the_helm_values() -> None:
    result = run_cli("platform-config", "--json", env={"MLRUN_REGISTRY_EXT_URL": "ghcr.io/acme",
                                                      "MLRUN_REGISTRY_EXT_SECRET_NAME": "ghcr-push"})
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["mlrun_api_env"]["MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY"] == "ghcr.io/acme"
    assert data["nuclio_dashboard_env"] and data["helm_values"]["global"]["registry"]["url"] == "ghcr.io/acme"


def test_emit_job_writes_the_manifest_as_json_or_yaml_and_o_is_refused_without_it() -> None:
    args = ("migrate", "--from", "http://127.0.0.1:9", "--to", "registry.example.com/team", "--emit-job")
    as_json = json.loads(run_cli(*args, "-o", "json").stdout)
    as_yaml = yaml.safe_load(run_cli(*args, "-o", "yaml").stdout)
    assert as_json == as_yaml and as_json["kind"] == "Job"
    refused = run_cli("migrate", "--from", "http://127.0.0.1:9", "-o", "json")
    assert refused.code == 2 and refused.stderr.count("\n") == 1 and "--emit-job" in refused.stderr


def test_secret_show_and_apply_take_json_like_every_reporting_command() -> None:
    env = {"MLRUN_REGISTRY_EXT_URL": "ghcr.io/acme", "MLRUN_REGISTRY_EXT_USERNAME": "ci",
           "MLRUN_REGISTRY_EXT_PASSWORD": CANARY}
    applied = run_cli("secret", "apply", "--dry-run", "--json", env=env)
    assert applied.code == 0, applied.stderr
    assert json.loads(applied.stdout)["kind"] == "Secret" and CANARY not in applied.output


#: Commands without ``--json``, each with why: what they print is already one JSON or manifest document.
NO_JSON_FLAG = {("ecr", "policy"): "prints the IAM policy document, which is JSON",
                ("ecr", "cronjob"): "prints manifests only: -o json|yaml"}
#: Commands that print Kubernetes manifests (a dry run's or an emitted Job's).
EMIT_MANIFESTS = {("secret", "apply"), ("secret", "show"), ("ecr", "refresh"), ("ecr", "cronjob"), ("migrate",)}


def test_every_command_that_reports_takes_json_and_every_manifest_emitter_takes_o() -> None:
    for path, parser in leaves():
        options = {s for strings in documented_options(parser) for s in strings}
        if path not in NO_JSON_FLAG:
            assert "--json" in options, f"mlrun-registry {' '.join(path)} has no --json"
        if path in EMIT_MANIFESTS:
            action = next(a for a in parser._actions if "-o" in a.option_strings)
            assert set(action.choices or ()) == {"json", "yaml"}, path
