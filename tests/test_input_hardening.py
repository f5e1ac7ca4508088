"""Hardened input: no silent plain HTTP, no echoed credentials, bounded config reading, the
reference grammar as Docker reads it, configuration errors as exit 2 naming the field."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import threading
import time
from pathlib import Path

import pytest
import yaml

from mlrun_registry_ext.core.location import RegistryLocation, parse_location, same_registry
from mlrun_registry_ext.errors import ConfigError
from mlrun_registry_ext.features.api import resolve_registry
from tests.support.env import CANARY, run_cli, run_cli_here
from tests.support.faults import START_UP, ended_by_deadline
from tests.support.standins import MLRunAPIStandIn

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


def cli(*argv: str, stdin: str | None = None) -> tuple[int, str]:
    """The installed console script with the environment the test set: (exit code, stdout + stderr)."""
    result = run_cli_here(list(argv), stdin)
    return result.code, result.output


# --- 1. no silent downgrade to plain HTTP ------------------------------------------------------------
def test_https_registry_stays_https_on_an_iguazio_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IGZ_NAMESPACE_DOMAIN", "t.example.com")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", "https://ghcr.io/acme")
    code, output = cli("show", "--json")
    assert code == 0, output
    assert '"insecure": false' in output and "plain HTTP" not in output
    code, output = cli("platform-config")
    assert code == 0, output
    assert "INSECURE_PUSH_REGISTRY_MODE=disabled" in output and "=enabled" not in output


def test_mlrun_servers_port_80_registry_does_not_make_another_registry_insecure() -> None:
    resolved = resolve_registry(url="ghcr.io/acme", server_registry="docker-registry.t.example.com:80")
    assert resolved.service.insecure is False and "insecure" not in resolved.sources
    # the server's own registry on port 80 is still plain HTTP when it is the one in use
    assert resolve_registry(server_registry="docker-registry.t.example.com:80").service.insecure is True
    # unless the server wrote https:// itself
    assert resolve_registry(server_registry="https://registry.t.example.com:80").service.insecure is False


def test_another_services_insecure_and_ca_bundle_do_not_follow_the_url(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "r.yaml"
    cfg.write_text(yaml.safe_dump({"services": {"local": {
        "url": "http://localhost:5000/team", "ca_bundle": "/etc/local-ca.pem", "username": "alice",
        "password": CANARY}}}))
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(cfg))
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", "https://ghcr.io/acme")
    service = resolve_registry().service
    assert (service.insecure, service.ca_bundle, service.username, service.password) == (False, None, None, None)


def test_insecure_and_ca_bundle_still_apply_to_the_same_registry(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "r.yaml"
    cfg.write_text(yaml.safe_dump({"services": {"local": {"url": "LocalHost:5000/team", "insecure": True,
                                                          "ca_bundle": "/etc/ca.pem"}}}))
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(cfg))
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", "localhost:5000/other")
    service = resolve_registry().service
    assert service.insecure is True and service.ca_bundle == "/etc/ca.pem"


def test_an_https_url_is_never_downgraded_by_an_insecure_setting(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("MLRUN_REGISTRY_EXT_INSECURE=true\n")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", "https://registry.example.com/team")
    assert resolve_registry(dotenv=dotenv).service.insecure is False
    # both in one place is a contradiction, said as such
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_INSECURE", "true")
    with pytest.raises(ConfigError, match=r"^insecure .*https://"):
        resolve_registry()
    with pytest.raises(ConfigError, match="insecure"):
        resolve_registry(url="https://registry.example.com/team", insecure=True)
    # without a scheme, insecure=true is the explicit choice for that registry
    assert resolve_registry(url="registry.example.com/team", insecure=True).service.scheme == "http"


def test_same_registry_ignores_case_default_port_and_path() -> None:
    def loc(url: str) -> RegistryLocation:
        return parse_location(url)

    assert same_registry(loc("GHCR.io/acme"), loc("ghcr.io:443/other"))
    assert same_registry(loc("http://localhost/a"), loc("http://localhost:80"))
    assert not same_registry(loc("http://registry.example.com"), loc("https://registry.example.com"))
    assert not same_registry(loc("localhost:5000"), loc("localhost:5001"))
    assert same_registry(loc("[::1]:5000"), loc("[::1]:5000/x"))


def test_doctor_talks_tls_to_an_https_url_on_an_iguazio_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first bytes the registry sees are a TLS handshake, never a plain request with Basic credentials."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)
    first: list[bytes] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                conn.settimeout(1)
                with conn, contextlib.suppress(OSError):
                    first.append(conn.recv(4096))

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    monkeypatch.setenv("IGZ_NAMESPACE_DOMAIN", "t.example.com")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", f"https://127.0.0.1:{port}/acme")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_USERNAME", "ci")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_PASSWORD", CANARY)
    try:
        code, output = cli("doctor", "--timeout", "2", "--json")
    finally:
        thread.join(5)
        server.close()
    sent = [chunk for chunk in first if chunk]
    assert sent and all(chunk[:1] == b"\x16" for chunk in sent), sent  # TLS records, never "GET /v2/"
    assert not any(b"Authorization" in chunk or CANARY.encode() in chunk for chunk in sent)
    assert CANARY not in output and code == 1


# --- 2. credentials in a URL ---------------------------------------------------------------------------
PASSWORDS = ["S3cr3t", "S3c/r3t", "S3c#r3t", "S3c?r3t", "S3c:r3t", "a/b#c?d:e"]


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("argv", [
    ("show",), ("target", "demo", "trainer"), ("doctor", "--timeout", "1"),
    ("migrate", "--from", "URL", "--to", "ghcr.io/acme", "--dry-run"),
    ("migrate", "--from", "ghcr.io/acme", "--to", "URL", "--dry-run"), ("secret", "show", "--url", "URL"),
], ids=["show", "target", "doctor", "migrate-from", "migrate-to", "secret-url"])
def test_password_in_a_registry_url_is_refused_and_never_printed(password: str, argv: tuple[str, ...],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"{CANARY}{password}"
    url = f"https://ci:{secret}@ghcr.io/acme"
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", url)
    code, output = cli(*[url if arg == "URL" else arg for arg in argv])
    assert code == 2, output
    assert "credentials in the URL are not allowed" in output
    assert CANARY not in output and "S3c" not in output
    with pytest.raises(ConfigError) as info:
        resolve_registry(url=url)
    assert CANARY not in str(info.value) and CANARY not in repr(info.value)


def test_password_in_the_platform_urls_is_refused_and_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUCLIO_DASHBOARD_URL", f"http://admin:{CANARY}/x@dashboard:8070")
    code, output = cli("show")
    assert code == 2 and "NUCLIO_DASHBOARD_URL" in output and CANARY not in output


def test_mlrun_dbpath_with_a_login_is_used_like_mlrun_does_and_never_printed(
        mlrun_api: MLRunAPIStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    # MLRun's client takes user:password@ from MLRUN_DBPATH as Basic auth; so does the probe.
    scheme, rest = mlrun_api.url.split("://")
    monkeypatch.setenv("MLRUN_DBPATH", f"{scheme}://admin:{CANARY}%2F@{rest}")
    code, output = cli("show", "--json")
    assert code == 0, output
    assert CANARY not in output and "admin" not in output
    sent = mlrun_api.last("GET", "/api/v1/client-spec").header("Authorization")
    assert sent == "Basic " + base64.b64encode(f"admin:{CANARY}/".encode()).decode()


# --- 4. no secrets as arguments --------------------------------------------------------------------------
@pytest.mark.parametrize("option", [f"token={CANARY}", f"token:{CANARY}", f"TOKEN {CANARY}", f"password={CANARY}",
                                    f"{CANARY}"])
def test_ecr_token_on_the_command_line_is_refused_without_echo(option: str) -> None:
    code, output = cli("secret", "apply", "--url", f"{ECR}/team", "--secret-name", "pull", "-n", "mlrun",
                       "--dry-run", "--option", option)
    assert code == 2, output
    assert "--option" in output and CANARY not in output


def test_ecr_token_from_the_environment_makes_the_pull_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_ECR_TOKEN", base64.b64encode(f"AWS:{CANARY}".encode()).decode())
    code, output = cli("secret", "apply", "--url", f"{ECR}/team", "--secret-name", "pull", "-n", "mlrun",
                       "--dry-run", "-o", "json")
    assert code == 0, output
    assert CANARY not in output  # base64 in the manifest only
    assert ".dockerconfigjson" in output


# --- 7. the config file ------------------------------------------------------------------------------------
def _show_with_config(monkeypatch: pytest.MonkeyPatch, path: str | Path) -> tuple[int, str, float]:
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(path))
    start = time.monotonic()
    code, output = cli("show", "--json")
    return code, output, time.monotonic() - start


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null", "/tmp"])
def test_config_that_is_a_device_or_directory_is_refused_at_once(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code, output, seconds = _show_with_config(monkeypatch, device)
    assert code == 2 and "not a regular file" in output and ended_by_deadline(seconds, 0, start_up=START_UP)


def test_config_that_is_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fifo = tmp_path / "registries.yaml"
    os.mkfifo(fifo)
    code, output, seconds = _show_with_config(monkeypatch, fifo)
    assert code == 2 and "not a regular file" in output and ended_by_deadline(seconds, 0, start_up=START_UP)


def test_yaml_alias_bomb_is_refused_in_milliseconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    code, output, seconds = _show_with_config(monkeypatch, bomb)
    assert code == 2 and "aliases" in output and ended_by_deadline(seconds, 0, start_up=START_UP)


def test_a_50_mb_config_is_refused_without_reading_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    code, output, seconds = _show_with_config(monkeypatch, big)
    assert code == 2 and "at most 1048576" in output and ended_by_deadline(seconds, 0, start_up=START_UP)


def test_duplicate_keys_in_the_config_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "r.yaml"
    cfg.write_text("services:\n  a: {url: a.example.com, url: b.example.com}\n")
    code, output, _ = _show_with_config(monkeypatch, cfg)
    assert code == 2 and "duplicate key 'url' (line 2)" in output
    cfg.write_text("services:\n  - {name: a, url: a.example.com}\n  - {name: a, url: b.example.com}\n")
    code, output, _ = _show_with_config(monkeypatch, cfg)
    assert code == 2 and "used twice" in output


def test_dotenv_fifo_oversize_non_utf8_and_duplicates_are_refused(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    os.mkfifo(tmp_path / ".env")
    code, output = cli("show")
    assert code == 2 and ".env" in output and "not a regular file" in output
    (tmp_path / ".env").unlink()
    (tmp_path / ".env").write_bytes(b"MLRUN_REGISTRY_EXT_URL=ghcr.io/\xff\n")
    code, output = cli("show")
    assert code == 2 and "not UTF-8" in output
    (tmp_path / ".env").write_text("MLRUN_REGISTRY_EXT_URL=a.example.com\nmlrun_registry_ext_url=b.example.com\n")
    code, output = cli("show")
    assert code == 2 and "set twice" in output
    (tmp_path / ".env").write_bytes(b"#" * (2 * 1024 * 1024))
    code, output = cli("show")
    assert code == 2 and "at most" in output


def test_a_virtualenv_named_dotenv_is_not_a_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env" / "bin").mkdir(parents=True)
    code, output = cli("show", "--json")
    assert code == 0, output


# --- 8. references as Docker reads them ----------------------------------------------------------------
@pytest.mark.parametrize("url", ["registry", "docker-registry/team", "https://registry/acme"])
def test_single_label_host_is_refused_because_docker_reads_it_as_docker_hub(url: str) -> None:
    with pytest.raises(ConfigError, match=r"Docker Hub namespace \(docker.io/"):
        resolve_registry(url=url)


@pytest.mark.parametrize("url", ["localhost/team", "registry:5000/team", "registry.local", "[::1]:5000/x"])
def test_hosts_docker_reads_as_registries_are_accepted(url: str) -> None:
    assert resolve_registry(url=url).service.url == url


@pytest.mark.parametrize("url", ["[.]:5000/x", "[]:5000", "[::1::2]/x", "[1.2.3.4]"])
def test_bracketed_non_ipv6_hosts_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="not a valid registry host"):
        resolve_registry(url=url)


@pytest.mark.parametrize("argv", [
    ("target", "demo", "trainer", "--tag", "v1\n"),
    ("target", "demo\n", "trainer"),
    ("secret", "show", "--url", "ghcr.io/acme", "--secret-name", "pull\n", "-n", "mlrun"),
    ("secret", "show", "--url", "ghcr.io/acme", "--secret-name", "pull", "-n", "mlrun\n"),
])
def test_a_trailing_newline_is_not_a_valid_name(argv: tuple[str, ...]) -> None:
    code, output = cli(*argv)
    assert code == 2, output
    errors = [line for line in output.splitlines() if not line.startswith("mlrun-registry: warning: ")]
    assert len(errors) == 1 and errors[0].startswith("mlrun-registry: error: "), output


# --- 9. configuration errors are exit 2 with the field named ---------------------------------------------------
@pytest.mark.parametrize(("text", "words"), [
    (b"services:\n  a: {url: \xe9.example.com}\n", "not UTF-8"),
    (b"[" * 5000 + b"]" * 5000, "nested deeper than 16"),
    (b"services: {a: {url: a.example.com, resources: {requests: {cpu: " + b"9" * 5000 + b"}}}}\n",
     "not readable YAML"),
    (b"services: {? [a]: {url: a.example.com}}\n", "not a plain value"),
    (b"services: {a: {url: a.example.com, 7: x}}\n", "field names are text"),
])
def test_bad_config_contents_exit_2_naming_the_variable(text: bytes, words: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "r.yaml"
    cfg.write_bytes(text)
    code, output, _ = _show_with_config(monkeypatch, cfg)
    assert code == 2, output
    assert ("MLRUN_REGISTRY_EXT_CONFIG" in output or "config file" in output) and words in output
    assert "unexpected" not in output


@pytest.mark.parametrize(("env", "field"), [
    ({"MLRUN_REGISTRY_EXT_CONFIG": "~nouser-i10/x.yaml"}, "MLRUN_REGISTRY_EXT_CONFIG"),
    ({"NUCLIO_DASHBOARD_URL": "http://a b"}, "NUCLIO_DASHBOARD_URL"),
    ({"MLRUN_DBPATH": "http://mlrun api:8080"}, "MLRUN_DBPATH"),
    ({"MLRUN_DBPATH": "http://[zz]:8080"}, "MLRUN_DBPATH"),
])
def test_bad_paths_and_platform_urls_exit_2_naming_the_variable(env: dict[str, str], field: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code, output = cli("show")
    assert code == 2, output
    assert f"error: {field}" in output and "unexpected" not in output


@pytest.mark.parametrize("bad", [7, None, b"demo", ["demo"], 1.5])
def test_python_api_names_a_non_string_project_function_or_tag(bad: object) -> None:
    import mlrun_registry_ext as registry

    active = registry.resolve(url="ghcr.io/acme", probe=False)
    for kwargs, field in (({"project": bad}, "project"), ({"function": bad}, "function"), ({"tag": bad}, "tag")):
        if bad is None and field == "tag":
            continue
        args = {"project": "demo", "function": "trainer", **kwargs}
        with pytest.raises(ConfigError, match=f"^{field}: "):
            active.target(**args)  # type: ignore[arg-type]


def test_errors_quote_at_most_80_characters_of_a_megabyte_of_input() -> None:
    long = "a" * (1024 * 1024)
    for call in (lambda: resolve_registry(url=f"{long}.example.com"),
                 lambda: resolve_registry(url="ghcr.io/acme", image_prefix="-" + long),
                 lambda: resolve_registry(url="ghcr.io/" + "A" * 1024 * 1024)):
        with pytest.raises(ConfigError) as info:
            call()
        message = str(info.value)
        assert len(message) < 400 and "..." in message and "\n" not in message


def test_a_handful_through_a_real_process() -> None:
    result = run_cli("show", env={"MLRUN_REGISTRY_EXT_URL": f"https://ci:{CANARY}/x@ghcr.io/acme"})
    assert result.code == 2 and CANARY not in result.output and "Traceback" not in result.output
    result = run_cli("show", "--json", env={"IGZ_NAMESPACE_DOMAIN": "t.example.com",
                                            "MLRUN_REGISTRY_EXT_URL": "https://ghcr.io/acme"})
    assert result.code == 0 and '"insecure": false' in result.stdout
