"""Push targets for every kind MLRun or Nuclio builds, with the servers' naming rules."""

from __future__ import annotations

import pytest

from mlrun_registry_ext import ConfigError, RegistryService
from mlrun_registry_ext.core.targets import MLRunNaming, NuclioNaming, push_target

GHCR = RegistryService(url="ghcr.io/acme", username="bot", password="pw", image_prefix="ml-")
#: What MLRun's builder builds and what the Nuclio dashboard builds, written out (not the product's lists).
MLRUN_BUILT_KINDS = ("job", "mpijob", "spark", "dask", "databricks", "remote-spark", "application")
NUCLIO_BUILT_KINDS = ("nuclio", "serving", "remote")
ECR = RegistryService(url="123456789012.dkr.ecr.us-east-1.amazonaws.com/team", username="AKIA", password="s")


@pytest.mark.parametrize("kind", MLRUN_BUILT_KINDS)
def test_mlrun_built_kinds(kind: str) -> None:
    target = push_target(GHCR, "fraud", "trainer", kind)
    assert target.builder == "mlrun"
    assert target.image == "ghcr.io/acme/ml-func-fraud-trainer:latest"
    assert target.secret == target.pull_secret == "mlrun-registry-default"
    assert target.nuclio is None


def test_url_without_path_uses_mlrun_repository_and_tag() -> None:
    target = push_target(RegistryService(url="registry.example.com:5000"), "p", "Train_Model", tag="v1.2")
    assert target.image == "registry.example.com:5000/mlrun/func-p-train-model:v1.2"


def test_server_registry_convention() -> None:
    target = push_target(RegistryService(url=".", image_prefix="team/"), "p", "f")
    assert target.image == ".team/func-p-f:latest"


@pytest.mark.parametrize("kind", NUCLIO_BUILT_KINDS)
def test_nuclio_built_kinds_carry_config_keys(kind: str) -> None:
    target = push_target(GHCR, "fraud", "server", kind)
    assert target.builder == "nuclio"
    assert target.nuclio == {"spec.build.registry": "ghcr.io/acme", "spec.build.image": "ml-processor-fraud-server",
                             "spec.imagePullSecrets": "mlrun-registry-default"}
    assert target.image == "ghcr.io/acme/ml-processor-fraud-server:latest"


def test_nuclio_with_dashboard_template_never_doubles_the_prefix() -> None:
    naming = NuclioNaming(image_name_prefix_template="{{ .ProjectName }}-{{ .FunctionName }}-")
    target = push_target(GHCR, "fraud", "server", "nuclio", nuclio_naming=naming)
    assert target.image == "ghcr.io/acme/fraud-fraud-server-ml-processor:latest"
    aligned = NuclioNaming(image_name_prefix_template="ml-{{ .ProjectName }}-{{ .FunctionName }}-")
    target = push_target(GHCR, "fraud", "server", "nuclio", nuclio_naming=aligned)
    assert target.image == "ghcr.io/acme/ml-fraud-fraud-server-processor:latest"
    assert "spec.build.image" not in (target.nuclio or {})
    assert target.image.count("ml-") == 1


def test_nuclio_run_registry_and_tag() -> None:
    service = RegistryService(url="push.example.com/ml", run_registry="pull.example.com/ml")
    target = push_target(service, "p", "f", "serving", tag="v2")
    assert target.nuclio == {"spec.build.registry": "push.example.com/ml", "spec.build.image": "processor-p-f-v2:v2",
                             "spec.runRegistry": "pull.example.com/ml"}


def test_ecr_explains_the_build_secret_limitation() -> None:
    target = push_target(ECR, "p", "f")
    assert target.secret is None
    assert target.pull_secret == "mlrun-registry-default"
    assert any("does not mount a per-function build secret" in note for note in target.notes)


def test_enforced_prefix_names_the_server_setting() -> None:
    naming = MLRunNaming(registries_to_enforce_prefix=("ghcr.io/acme/",), source="frontend-spec")
    with pytest.raises(ConfigError) as info:
        push_target(GHCR, "p", "f", mlrun_naming=naming)
    message = str(info.value)
    assert "MLRUN_HTTPDB__BUILDER__FUNCTION_TARGET_IMAGE_NAME_PREFIX_TEMPLATE='ml-func-{project}-{name}'" in message
    aligned = MLRunNaming(name_prefix_template="ml-func-{project}-{name}",
                          registries_to_enforce_prefix=("ghcr.io/acme/",))
    assert push_target(GHCR, "p", "f", mlrun_naming=aligned).image == "ghcr.io/acme/ml-func-p-f:latest"


def test_enforcement_ignores_other_registries() -> None:
    naming = MLRunNaming(registries_to_enforce_prefix=(".mlrun/", "docker-registry:80/mlrun/"))
    assert push_target(GHCR, "p", "f", mlrun_naming=naming).image.startswith("ghcr.io/acme/ml-func")


@pytest.mark.parametrize(
    ("service", "project", "function", "kind", "tag", "field"),
    [
        (GHCR, "Bad_Project", "f", "job", None, "project"),
        (GHCR, "p", "f", "local", None, "kind"),
        (GHCR, "p", "f", "job", "-bad", "tag"),
        (RegistryService(url="docker.io/acme", image_prefix="team/"), "p", "f", "job", None, "image"),
        (RegistryService(url="x.io/" + "a" * 250), "p", "f", "job", None, "image"),
        (RegistryService(url="europe-docker.pkg.dev/proj"), "p", "f", "job", None, "image"),
    ],
)
def test_impossible_targets_fail_clearly(service: RegistryService, project: str, function: str, kind: str,
                                         tag: str | None, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        push_target(service, project, function, kind, tag)
    assert info.value.field == field
