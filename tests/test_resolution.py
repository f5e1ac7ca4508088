"""Resolution: explicit > env > .env > config file > MLRun server > default, each value with its source."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mlrun_registry_ext import ConfigError
from mlrun_registry_ext.core.providers import ON_CLUSTER_WARNING
from mlrun_registry_ext.features.api import resolve_registry
from tests.support.env import CANARY

CONFIG = """
active: user
services:
  system:
    url: 123456789012.dkr.ecr.us-east-1.amazonaws.com/system
    role: system
  user:
    url: https://123456789012.dkr.ecr.us-east-1.amazonaws.com/user
    image_prefix: team-a-
    resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: "1", memory: 1Gi}}
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "registries.yaml"
    path.write_text(CONFIG)
    return path


def test_embedded_default_is_the_servers_registry() -> None:
    resolved = resolve_registry(dotenv="/nonexistent")
    assert resolved.service.url == "."
    assert "default" in resolved.source


def test_embedded_default_on_iguazio_is_the_on_cluster_registry_with_one_warning(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IGZ_NAMESPACE_DOMAIN", "default-tenant.app.dev.example.com")
    with caplog.at_level(logging.WARNING):
        first = resolve_registry()
        resolve_registry()
    assert first.service.url == "docker-registry.default-tenant.app.dev.example.com:80"
    assert first.service.provider.value == "on-cluster"
    assert ON_CLUSTER_WARNING in first.warnings
    assert [r.message for r in caplog.records].count(ON_CLUSTER_WARNING) == 1


def test_server_registry_beats_the_default() -> None:
    resolved = resolve_registry(server_registry="registry.example.com/mlrun")
    assert resolved.service.url == "registry.example.com/mlrun"
    assert "client-spec" in resolved.source
    # MLRun's own parsing: no registry host in the first segment means Docker Hub
    assert resolve_registry(server_registry="myuser/repo").service.url == "docker.io/myuser/repo"
    # the platform's on-cluster registry answers plain HTTP on port 80
    on_cluster = resolve_registry(server_registry="docker-registry.default-tenant.app.example.com:80")
    assert on_cluster.service.insecure and on_cluster.service.provider.value == "on-cluster"


def test_config_file_active_service(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(config_file))
    resolved = resolve_registry(server_registry="ignored.example.com")
    assert resolved.service.name == "user"
    assert resolved.service.image_prefix == "team-a-"
    assert resolved.service.resources.limits.memory == "1Gi"
    assert set(resolved.all_services) == {"system", "user"}
    assert resolved.sources["url"] == f"config {config_file} services.user"


def test_active_by_env_name(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(config_file))
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_ACTIVE", "system")
    resolved = resolve_registry()
    assert resolved.service.role == "system"
    assert resolved.service.url.endswith("/system")


def test_env_beats_config_and_explicit_beats_env(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(config_file))
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_IMAGE_PREFIX", "env-")
    resolved = resolve_registry()
    assert resolved.service.image_prefix == "env-"
    assert resolved.sources["image_prefix"] == "env MLRUN_REGISTRY_EXT_IMAGE_PREFIX"
    resolved = resolve_registry(image_prefix="arg-")
    assert resolved.service.image_prefix == "arg-"
    assert resolved.sources["image_prefix"] == "explicit argument"


def test_dotenv_sits_between_env_and_config(tmp_path: Path, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"MLRUN_REGISTRY_EXT_CONFIG={config_file}\nMLRUN_REGISTRY_EXT_IMAGE_PREFIX=dot-\n")
    resolved = resolve_registry(dotenv=dotenv)
    assert resolved.service.image_prefix == "dot-"
    assert resolved.sources["image_prefix"].startswith(".env ")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_IMAGE_PREFIX", "env-")
    assert resolve_registry(dotenv=dotenv).service.image_prefix == "env-"


def test_credentials_do_not_follow_a_different_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("services:\n  user:\n    url: a.example.com\n    username: alice\n    password: " + CANARY + "\n")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(cfg))
    assert resolve_registry().service.username == "alice"
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", "b.example.com")
    other = resolve_registry().service
    assert other.url == "b.example.com" and other.username is None and other.password is None


def test_invalid_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", "x.io")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_INSECURE", "perhaps")
    with pytest.raises(ConfigError) as info:
        resolve_registry()
    assert "MLRUN_REGISTRY_EXT_INSECURE" in str(info.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("services: [1, 2]\n", "expected a mapping"),
        ("services:\n  a: {url: a.io}\n  b: {url: b.io}\n", "none active"),
        ("active: c\nservices:\n  a: {url: a.io}\n", "not a configured service"),
        ("services:\n  a: {url: 'ftp://a'}\n", "services.a.url"),
        ("registries: {}\n", "unknown key"),
        ("services: {a: {url: a.io}\n", "not readable YAML"),
    ],
)
def test_bad_config_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, words: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match=words):
        resolve_registry()


def test_active_without_config_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_ACTIVE", "user")
    with pytest.raises(ConfigError, match="no config file"):
        resolve_registry()


def test_what_a_user_passes_for_a_registry_becomes_a_service_in_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlrun_registry_ext.core.service import RegistryService
    from mlrun_registry_ext.errors import ConfigError
    from mlrun_registry_ext.features.api import as_service, resolve

    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", "ghcr.io/acme")
    assert as_service("http://127.0.0.1:5000/team", "--to", name="target").url == "127.0.0.1:5000/team"
    given = RegistryService(url="quay.io/team")
    assert as_service(given) is given
    assert as_service(given, image_prefix="ml-").image_prefix == "ml-"  # overrides go through resolution
    assert as_service(None).url == "ghcr.io/acme"
    assert as_service(resolve(probe=False)).url == "ghcr.io/acme"
    with pytest.raises(ConfigError, match=r"^--to: expected a registry URL, a RegistryService or a resolved"):
        as_service(42, "--to")
