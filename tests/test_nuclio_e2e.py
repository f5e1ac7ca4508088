"""End to end with the real nuclio-jupyter client against the Nuclio dashboard stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest

import mlrun_registry_ext as registry
from mlrun_registry_ext import VersionGateError
from tests.support.env import CANARY
from tests.support.standins import NuclioDashboardStandIn

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def handler_file(tmp_path: Path) -> Path:
    path = tmp_path / "echo.py"
    path.write_text("def handler(context, event):\n    return event.body\n")
    return path


@pytest.fixture
def quay_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", "quay.io/acme")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_USERNAME", "acme+builder")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_PASSWORD", CANARY)
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_IMAGE_PREFIX", "ml-")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_SECRET_NAME", "quay-builder")


def test_config_spec_keys_for_build_file(quay_env, handler_file: Path) -> None:
    spec = registry.nuclio.config_spec("echo", "demo")
    assert spec.extra_config == {"spec.build.registry": "quay.io/acme", "spec.build.image": "ml-processor-echo",
                                 "spec.imagePullSecrets": "quay-builder"}
    _, config, _ = registry.nuclio.build_file(str(handler_file), "echo", "demo")
    assert config["spec"]["build"]["registry"] == "quay.io/acme"
    assert config["spec"]["imagePullSecrets"] == "quay-builder"


@pytest.mark.parametrize("template", ["", "{{ .ProjectName }}-{{ .FunctionName }}-",
                                      "ml-{{ .ProjectName }}-{{ .FunctionName }}-"])
def test_deploy_config_sends_registry_keys_and_prediction_matches_dashboard(
        quay_env, nuclio_dashboard: NuclioDashboardStandIn, handler_file: Path, template: str) -> None:
    import nuclio

    nuclio_dashboard.image_name_prefix_template = template
    nuclio_dashboard.add_project("demo")
    _, config, _ = nuclio.build_file(str(handler_file), name="echo")
    registry.nuclio.deploy_config(config, nuclio_dashboard.url, name="echo", project="demo")

    sent = nuclio_dashboard.last_body("POST", "/api/functions")
    assert sent["spec"]["build"]["registry"] == "quay.io/acme"
    assert sent["spec"]["imagePullSecrets"] == "quay-builder"
    predicted = registry.nuclio.nuclio_target("echo", "demo", dashboard_url=nuclio_dashboard.url)
    pushed = nuclio_dashboard.functions["echo"]["status"]["containerImage"]
    assert predicted.image == pushed
    assert pushed.count("ml-") == 1  # the prefix is never doubled
    assert CANARY.encode() not in b"".join(r.raw_body for r in nuclio_dashboard.requests)


@pytest.mark.parametrize(("label", "refused"), [("1.9.9", True), ("1.10.0-rc3", True), ("1.10.0", False),
                                                ("1.14.1", False), ("latest", False), ("unstable", False)])
def test_deploy_wrapper_checks_the_nuclio_gate_first(quay_env, nuclio_dashboard, handler_file, label, refused):
    import nuclio

    nuclio_dashboard.label = label
    _, config, _ = nuclio.build_file(str(handler_file), name="echo")
    if refused:
        with pytest.raises(VersionGateError, match=f"Nuclio {label}"):
            registry.nuclio.deploy_config(config, nuclio_dashboard.url, name="echo", project="default")
        assert not nuclio_dashboard.find("POST", "/api/functions")  # nothing sent
        assert not nuclio_dashboard.find("PUT", "/api/functions")
    else:
        registry.nuclio.deploy_config(config, nuclio_dashboard.url, name="echo", project="default")
        assert nuclio_dashboard.find("POST", "/api/functions")


def test_deploy_code_through_the_wrapper(quay_env, nuclio_dashboard) -> None:
    registry.nuclio.deploy_code("def handler(context, event):\n    return 'hi'\n", nuclio_dashboard.url,
                                name="hello", project="default")
    sent = nuclio_dashboard.last_body("POST", "/api/functions")
    assert sent["spec"]["build"]["image"] == "ml-processor-hello"


def test_on_cluster_registry_is_not_gated(nuclio_dashboard, handler_file, monkeypatch) -> None:
    import nuclio

    monkeypatch.setenv("IGZ_NAMESPACE_DOMAIN", "default-tenant.app.example.com")
    nuclio_dashboard.label = "1.5.0"
    _, config, _ = nuclio.build_file(str(handler_file), name="echo")
    registry.nuclio.deploy_config(config, nuclio_dashboard.url, name="echo", project="default")
    sent = nuclio_dashboard.last_body("POST", "/api/functions")
    assert sent["spec"]["build"]["registry"] == "docker-registry.default-tenant.app.example.com:80"
