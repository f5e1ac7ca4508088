"""One class per provider (core/providers): each provider value has its class, detection picks the
right one, and what a class declares (login options, push preparation, doctor probes) is what the
rest of the package acts on."""

from __future__ import annotations

import pytest

from mlrun_registry_ext.core.credentials import PROVIDER_OPTIONS
from mlrun_registry_ext.core.providers import PROVIDERS, Provider, PushPreparation, detect_provider, provider_for
from mlrun_registry_ext.errors import ConfigError
from mlrun_registry_ext.features.doctor.checks import PROBES

ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def test_every_provider_value_has_exactly_one_class() -> None:
    assert sorted(p.provider for p in PROVIDERS) == sorted(Provider)
    for value in Provider:
        assert provider_for(value).provider is value


@pytest.mark.parametrize(("host", "expected"), [
    (".", Provider.ON_CLUSTER),
    ("docker-registry.default-tenant.app.example.com:80", Provider.ON_CLUSTER),
    ("registry.ns.svc.cluster.local:5000", Provider.ON_CLUSTER),
    (ECR_HOST, Provider.ECR),
    ("acme.azurecr.io", Provider.ACR),
    ("europe-west1-docker.pkg.dev", Provider.GAR),
    ("eu.gcr.io", Provider.GCR),
    ("ghcr.io", Provider.GHCR),
    ("quay.io", Provider.QUAY),
    ("index.docker.io", Provider.DOCKERHUB),
    ("harbor.example.com:8443", Provider.GENERIC),
    ("[::1]:5000", Provider.GENERIC),
])
def test_the_registry_host_decides_the_provider(host: str, expected: Provider) -> None:
    assert detect_provider(host) is expected


def test_the_tenant_namespace_domain_marks_its_docker_registry_on_cluster() -> None:
    assert detect_provider("docker-registry.tenant.example.com", "tenant.example.com") is Provider.ON_CLUSTER
    assert detect_provider("docker-registry.tenant.example.com") is Provider.GENERIC


def test_login_options_are_the_ones_each_provider_class_declares() -> None:
    assert set(PROVIDER_OPTIONS) == {Provider.ACR, Provider.GCR, Provider.GAR, Provider.QUAY}
    with pytest.raises(ConfigError, match="allowed: robot"):
        provider_for(Provider.QUAY).check_login_options({"auth": "token"})


def test_only_ecr_needs_repositories_created_before_a_push() -> None:
    plan = provider_for(Provider.ECR).prepare_push(["team/app"], ECR_HOST, with_cache=True)
    assert plan == PushPreparation(("team/app", "team/app/cache"))
    with pytest.raises(ConfigError, match="not a valid ECR repository name"):
        provider_for(Provider.ECR).prepare_push(["team/Bad__Name"], ECR_HOST)
    for provider in PROVIDERS:
        if provider.provider is not Provider.ECR:
            assert provider.creates_repositories_on_push
            assert provider.prepare_push(["team/app"], "registry.example.com") == PushPreparation()


def test_every_doctor_probe_a_provider_declares_is_one_the_doctor_can_run() -> None:
    declared = {check.probe for p in PROVIDERS for check in p.doctor_checks if check.probe}
    assert declared == {"ecr"}
    assert declared <= set(PROBES)
