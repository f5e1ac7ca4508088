"""The registry service model: what an admin types on the platform page, validated on the spot."""

from __future__ import annotations

import pytest

from mlrun_registry_ext import ConfigError, RegistryService
from mlrun_registry_ext.core.location import (
    DEFAULT_REPOSITORY,
    SERVER_REGISTRY,
    RegistryAccess,
    RegistryLocation,
    parse_location,
    validate_image_prefix,
)
from mlrun_registry_ext.core.providers import Provider
from mlrun_registry_ext.core.secrets import SecretText, check_credential_pair
from tests.support.env import CANARY


@pytest.mark.parametrize(
    ("url", "normal", "provider", "insecure"),
    [
        ("https://Registry.Example.com/team/ml", "registry.example.com/team/ml", Provider.GENERIC, False),
        ("http://localhost:5000", "localhost:5000", Provider.GENERIC, True),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/sys", "123456789012.dkr.ecr.us-east-1.amazonaws.com/sys",
         Provider.ECR, False),
        ("myacr.azurecr.io", "myacr.azurecr.io", Provider.ACR, False),
        ("gcr.io/my-project", "gcr.io/my-project", Provider.GCR, False),
        ("europe-west1-docker.pkg.dev/proj/repo", "europe-west1-docker.pkg.dev/proj/repo", Provider.GAR, False),
        ("ghcr.io/acme/", "ghcr.io/acme", Provider.GHCR, False),
        ("quay.io/acme", "quay.io/acme", Provider.QUAY, False),
        ("docker.io/acme", "docker.io/acme", Provider.DOCKERHUB, False),
        ("index.docker.io/acme", "index.docker.io/acme", Provider.DOCKERHUB, False),
        ("docker-registry.default-tenant.app.cluster.example.com:80",
         "docker-registry.default-tenant.app.cluster.example.com:80", Provider.ON_CLUSTER, False),
        ("[::1]:5000/x", "[::1]:5000/x", Provider.GENERIC, False),
    ],
)
def test_url_is_normalised_and_provider_detected(url: str, normal: str, provider: Provider, insecure: bool) -> None:
    service = RegistryService(url=url)
    assert service.url == normal
    assert service.provider is provider
    assert service.insecure is insecure
    location = parse_location(url)  # the pure core the service is built on: the same answers
    assert location == service.location and location.url == normal and location.provider is provider


def test_ecr_account_and_region_parsed() -> None:
    service = RegistryService(url="123456789012.dkr.ecr.eu-central-1.amazonaws.com")
    assert service.ecr is not None
    assert (service.ecr.account, service.ecr.region) == ("123456789012", "eu-central-1")


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"url": ""}, "url", "required"),
        ({"url": "ftp://x.io"}, "url", "scheme"),
        ({"url": "x.io/Team"}, "url", "repository namespace"),
        ({"url": "user:pw@x.io"}, "url", "credentials in the URL"),
        ({"url": "docker.io"}, "url", "namespace"),
        ({"url": "x.io", "username": "bob"}, "password", "empty"),
        ({"url": "x.io", "password": "pw"}, "username", "without a username"),
        ({"url": "x.io", "role": "system", "username": "a", "password": "b"}, "username", "system registry"),
        ({"url": "x.io", "role": "admin"}, "role", "system"),
        ({"url": "x.io", "image_prefix": "Team-"}, "image_prefix", "not a valid repository name"),
        ({"url": "x.io", "secret_name": "Bad_Name"}, "secret_name", "DNS-1123"),
        ({"url": "x.io", "resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}},
         "resources.requests.memory", "above the limit"),
        ({"url": "x.io", "resources": {"limits": {"cpu": "lots"}}}, "resources.limits.cpu", "Kubernetes quantity"),
        ({"url": "x.io", "colour": "red"}, "colour", "unknown field"),
        ({"url": "x.io", "insecure": "maybe"}, "insecure", "boolean"),
        ({"url": "123456789012.dkr.ecr.us-east-1.amazonaws.com/a__b"}, "url", "single"),
    ],
)
def test_bad_input_names_the_field(fields: dict, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        RegistryService(**fields)
    assert info.value.field == field
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_password_is_a_secret_everywhere() -> None:
    service = RegistryService(url="ghcr.io/acme", username="bot", password=CANARY)
    for text in (repr(service), str(service), service._repr_html_(), str(service.public_dict()),
                 service.to_json()):
        assert CANARY not in text
    assert service.password is not None and service.password.get_secret_value() == CANARY
    with pytest.raises(ConfigError) as info:
        RegistryService(url="ftp://x", username="bot", password=CANARY)
    assert CANARY not in str(info.value)


def test_secret_names_derived_for_credentials() -> None:
    assert RegistryService(url="x.io").docker_secret_name is None
    assert RegistryService(url="x.io", name="user", username="a", password="b").docker_secret_name == \
        "mlrun-registry-user"
    assert RegistryService(url="x.io", secret_name="mine").docker_secret_name == "mine"
    ecr = RegistryService(url="123456789012.dkr.ecr.us-east-1.amazonaws.com", username="AKIA", password="s")
    assert ecr.aws_secret_name == "mlrun-registry-default-aws"


def test_resources_accept_kubernetes_quantities() -> None:
    service = RegistryService(url="x.io", resources={"requests": {"cpu": "250m", "memory": "512Mi"},
                                                     "limits": {"cpu": 1, "memory": "1Gi"}})
    assert service.resources.as_kubernetes() == {"requests": {"cpu": "250m", "memory": "512Mi"},
                                                 "limits": {"cpu": "1", "memory": "1Gi"}}


def test_replace_revalidates() -> None:
    service = RegistryService(url="x.io")
    assert service.replace(image_prefix="team-").image_prefix == "team-"
    with pytest.raises(ConfigError):
        service.replace(url="ftp://nope")


def test_html_repr_is_a_table() -> None:
    html = RegistryService(name="user", url="ghcr.io/acme", image_prefix="ml-")._repr_html_()
    assert html.startswith("<table>") and "ghcr.io/acme" in html and "ml-" in html


def test_location_is_importable_from_the_service_module_too() -> None:
    from mlrun_registry_ext.core import service

    assert (service.DEFAULT_REPOSITORY, service.SERVER_REGISTRY) == (DEFAULT_REPOSITORY, SERVER_REGISTRY)
    assert service.parse_registry_url("http://Localhost:5000/team/") == ("localhost:5000", "team", True)


def test_location_derives_scheme_display_and_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    location = parse_location("http://docker-registry.tenant.example.com:80/mlrun", "--from")
    assert location == RegistryLocation("docker-registry.tenant.example.com:80", "mlrun", insecure=True)
    assert location.scheme == "http" and location.display == "http://docker-registry.tenant.example.com:80/mlrun"
    assert location.provider is Provider.GENERIC
    # the tenant's namespace domain comes in as an argument (the core reads no environment); the
    # provider is detected once, when the location is made
    location = parse_location("http://docker-registry.tenant.example.com:80/mlrun", "--from", "tenant.example.com")
    assert location.provider is Provider.ON_CLUSTER
    assert parse_location(".").is_server_default and not location.is_server_default
    ecr = parse_location("123456789012.dkr.ecr.eu-central-1.amazonaws.com")
    assert ecr.ecr is not None and ecr.ecr.region == "eu-central-1" and ecr.display.startswith("https://")
    with pytest.raises(ConfigError) as info:
        parse_location("ftp://x.io", "--to")
    assert info.value.field == "--to" and "scheme" in str(info.value)
    with pytest.raises(ConfigError) as info:
        parse_location("docker.io", "--to").check_naming("url")
    assert info.value.field == "url" and "namespace" in str(info.value)


@pytest.mark.parametrize(
    ("username", "password", "field", "words"),
    [(None, "pw", "username", "a password was given without a username"),
     ("bob", None, "password", "the password for user 'bob' is empty; give both or neither")],
)
def test_the_credential_pair_rule_is_one_rule(username: str | None, password: str | None, field: str,
                                              words: str) -> None:
    with pytest.raises(ConfigError) as pure:
        check_credential_pair(username, password is not None)
    with pytest.raises(ConfigError) as model:
        RegistryService(url="x.io", username=username, password=password)
    with pytest.raises(ConfigError) as access:
        RegistryAccess(parse_location("x.io"), username, SecretText(password) if password else None)
    assert str(pure.value) == str(model.value) == str(access.value) == f"{field}: {words}"
    check_credential_pair(None, False)
    check_credential_pair("bob", True)


def test_secret_text_never_shows_itself() -> None:
    secret = SecretText(CANARY)
    access = RegistryAccess(parse_location("ghcr.io/acme"), "bot", secret)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!s:>12}", repr(access), str(access), repr([secret])):
        assert CANARY not in text
    assert repr(secret) == "SecretText('**********')" and str(secret) == "**********"
    assert secret.get_secret_value() == CANARY and access.password is secret
    assert secret == SecretText(CANARY) and secret != SecretText("other") and secret != CANARY
    service = RegistryService(url="ghcr.io/acme", username="bot", password=CANARY)
    assert service.access.password is not None and service.access.password.get_secret_value() == CANARY
    assert CANARY not in repr(service.access)
    with pytest.raises(TypeError):
        SecretText(None)  # type: ignore[arg-type]


def test_image_prefix_rule_is_shared() -> None:
    assert validate_image_prefix("team-") == "team-" and validate_image_prefix("") == ""
    for bad, words in (("/x", "may not start"), ("a//b", "may not start"), ("Team-", "not a valid repository")):
        with pytest.raises(ConfigError) as info:
            validate_image_prefix(bad, "image_prefix")
        with pytest.raises(ConfigError) as model:
            RegistryService(url="x.io", image_prefix=bad)
        assert words in str(info.value) and str(info.value) == str(model.value)
