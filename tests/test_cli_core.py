"""The CLI as admins and CI use it: show, target, platform-config; exit codes; no tracebacks, no secrets."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.env import CANARY, installed_python, outside_tree, run_cli

ECR_ENV = {"MLRUN_REGISTRY_EXT_URL": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/team",
           "MLRUN_REGISTRY_EXT_USERNAME": "AKIAEXAMPLE", "MLRUN_REGISTRY_EXT_PASSWORD": CANARY}


def test_target_on_the_embedded_default() -> None:
    result = run_cli("target", "demo", "trainer", "--json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["image"] == ".func-demo-trainer:latest"
    assert {"image", "registry", "secret", "pull_secret", "source"} <= set(data)
    assert "lost when it restarts" in result.stderr


def test_target_json_for_a_nuclio_kind() -> None:
    result = run_cli("target", "demo", "server", "--kind", "serving", "--tag", "v2", "--json",
                     env={"MLRUN_REGISTRY_EXT_URL": "ghcr.io/acme", "MLRUN_REGISTRY_EXT_SECRET_NAME": "ghcr-pull"})
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["nuclio"] == {"spec.build.registry": "ghcr.io/acme", "spec.build.image": "processor-demo-server-v2:v2",
                              "spec.imagePullSecrets": "ghcr-pull"}
    assert data["image"] == "ghcr.io/acme/processor-demo-server-v2:v2"


def test_show_json_has_provider_and_sources(tmp_path: Path) -> None:
    config = tmp_path / "registries.yaml"
    config.write_text(yaml.safe_dump({"active": "user", "services": {
        "system": {"url": "123456789012.dkr.ecr.us-east-1.amazonaws.com/system", "role": "system"},
        "user": {"url": "123456789012.dkr.ecr.us-east-1.amazonaws.com/user", "image_prefix": "team-a-"}}}))
    result = run_cli("show", "--json", env={"MLRUN_REGISTRY_EXT_CONFIG": str(config)})
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["active"]["provider"] == "ecr"
    assert data["active"]["ecr"] == {"account": "123456789012", "region": "us-east-1"}
    assert data["active"]["sources"]["url"].startswith("config ")
    assert set(data["services"]) == {"system", "user"}


def test_show_is_readable_by_default() -> None:
    result = run_cli("show", env=ECR_ENV)
    assert result.code == 0, result.stderr
    assert "Active registry" in result.stdout and "env MLRUN_REGISTRY_EXT_URL" in result.stdout
    assert CANARY not in result.output


@pytest.mark.parametrize("fmt", ["env", "helm"])
def test_platform_config(fmt: str) -> None:
    result = run_cli("platform-config", "--format", fmt, env=ECR_ENV)
    assert result.code == 0, result.stderr
    assert CANARY not in result.output
    if fmt == "env":
        assert "NUCLIO_DASHBOARD_REGISTRY_URL=123456789012.dkr.ecr.us-east-1.amazonaws.com/team" in result.stdout
        assert "NUCLIO_KANIKO_REGISTRY_PROVIDER_AUTH_SECRET_NAME=mlrun-registry-default-aws" in result.stdout
        assert "MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY_SECRET=mlrun-registry-default-aws" in result.stdout
    else:
        values = yaml.safe_load(result.stdout)
        # the CE chart's own keys (they feed MLRun and Nuclio), not nuclio.registry.pushPullUrl
        assert values["global"]["registry"]["url"].endswith("/team")
        assert values["nuclio"]["dashboard"]["kaniko"]["registryProviderSecretName"] == "mlrun-registry-default-aws"


def test_platform_config_includes_resources(tmp_path: Path) -> None:
    config = tmp_path / "r.yaml"
    config.write_text(yaml.safe_dump({"services": {"ext": {
        "url": "registry.example.com/ml", "image_prefix": "t-",
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}}}))
    result = run_cli("platform-config", "--format", "helm", env={"MLRUN_REGISTRY_EXT_CONFIG": str(config)})
    values = yaml.safe_load(result.stdout)
    assert values["docker-registry"]["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert values["nuclio"]["dashboard"]["imageNamePrefixTemplate"] == "t-{{ .ProjectName }}-{{ .FunctionName }}-"
    assert values["mlrun"]["api"]["extraEnvKeyValue"][
        "MLRUN_HTTPDB__BUILDER__FUNCTION_TARGET_IMAGE_NAME_PREFIX_TEMPLATE"] == "t-func-{project}-{name}"


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (("target", "demo", "f"), {"MLRUN_REGISTRY_EXT_URL": "ftp://x"}, "url"),
        (("target", "Demo!", "f"), {}, "project"),
        (("target", "demo", "f", "--tag", "-x"), {}, "tag"),
        (("show",), {"MLRUN_REGISTRY_EXT_CONFIG": "/nonexistent.yaml"}, "MLRUN_REGISTRY_EXT_CONFIG"),
        (("show",), {"MLRUN_REGISTRY_EXT_URL": "x.io", "MLRUN_REGISTRY_EXT_USERNAME": "u"}, "password"),
        (("target", "demo", "f", "--kind", "local"), {}, "kind: 'local' is not a kind"),
        (("nonsense",), {}, "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: tuple[str, ...], env: dict[str, str], words: str) -> None:
    result = run_cli(*args, env=env)
    assert result.code == 2
    assert words in result.stderr
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1


def test_canary_never_printed_in_any_command() -> None:
    for args in (("show",), ("show", "--json"), ("target", "p", "f"), ("target", "p", "f", "--json"),
                 ("target", "p", "f", "--kind", "nuclio", "--json"), ("platform-config",),
                 ("platform-config", "--format", "helm")):
        result = run_cli(*args, env={**ECR_ENV, "MLRUN_REGISTRY_EXT_USERNAME": "bob",
                                     "MLRUN_REGISTRY_EXT_URL": "ghcr.io/acme"})
        assert result.code == 0, (args, result.stderr)
        assert CANARY not in result.output, args


def test_import_is_light() -> None:
    heavy = ("mlrun", "boto3", "kubernetes", "nuclio", "httpx", "rich", "pydantic")
    code = f"import sys, mlrun_registry_ext; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([installed_python(), "-c", code], capture_output=True, text=True, cwd=outside_tree(),
                         check=True)
    assert out.stdout.strip() == "[]"


def test_the_migrate_command_and_engine_import_no_pydantic() -> None:
    code = ("import sys, mlrun_registry_ext.cli, mlrun_registry_ext.cli.migrate_cmd, "
            "mlrun_registry_ext.features.migrate; "
            "print([m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core', 'pydantic_settings')])")
    out = subprocess.run([installed_python(), "-c", code], capture_output=True, text=True, cwd=outside_tree(),
                         check=True)
    assert out.stdout.strip() == "[]"


def test_a_missing_platform_ca_bundle_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    result = run_cli("show", env={"MLRUN_DBPATH": "https://127.0.0.1:9",
                                  "MLRUN_REGISTRY_EXT_PLATFORM_CA_BUNDLE": str(missing)})
    assert result.code == 2 and result.stdout == ""
    assert result.stderr.strip() == (f"mlrun-registry: error: MLRUN_REGISTRY_EXT_PLATFORM_CA_BUNDLE: CA bundle file "
                                     f"{str(missing)!r} does not exist or is not a file")
