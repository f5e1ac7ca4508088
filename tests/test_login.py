"""The one credential chain: a user's own logins (docker config, credential helpers, containers'
auth.json, identity tokens) are found by `migrate` and `doctor` as skopeo finds them.

The helpers here are real ``docker-credential-*`` programs (small scripts on PATH speaking the protocol of
docker/docker-credential-helpers ``client/client.go``); the registries are Debian's docker-registry with
htpasswd, and with token auth from the test token server (which also speaks the OAuth2 refresh-token grant
of distribution ``docs/spec/auth/oauth.md``). skopeo reads the same files as the peer client.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_registry_ext.clients.registry.login import login
from mlrun_registry_ext.core.origin import DOCKER_HUB_KEY, login_key_matches
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.errors import ConfigError
from tests.support import images as im
from tests.support.env import CANARY, run_cli
from tests.support.registry import RunningRegistry

USER = "ci-builder"

#: A credential helper: answers ``get`` for the servers in its store file, as the protocol says; writes its
#: argv (never the secret) to a log so the test can show no secret reached the command line.
HELPER = """#!/bin/sh
echo "$0 $*" >> "{log}"
read -r server
case "$server" in
{cases}
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"""


def make_helper(bin_dir: Path, name: str, logins: dict[str, tuple[str, str]], *, sleep: float = 0) -> Path:
    """``docker-credential-<name>`` in ``bin_dir`` serving ``{server: (username, secret)}``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    cases = "\n".join(
        f"  '{server}') {'sleep ' + str(sleep) + '; ' if sleep else ''}"
        f"printf '%s' '{json.dumps({'ServerURL': server, 'Username': user, 'Secret': secret})}' ;;"
        for server, (user, secret) in logins.items())
    path = bin_dir / f"docker-credential-{name}"
    path.write_text(HELPER.format(log=bin_dir / "argv.log", cases=cases))
    path.chmod(0o755)
    return path


def auth_entry(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment with nothing of the machine's: empty HOME, docker and containers directories."""
    root = tmp_path / "home"
    (root / "docker").mkdir(parents=True)
    (root / "run").mkdir()
    return {"HOME": str(root), "DOCKER_CONFIG": str(root / "docker"), "XDG_RUNTIME_DIR": str(root / "run"),
            "XDG_CONFIG_HOME": str(root / "config"), "PATH": f"{root / 'bin'}:{os.environ['PATH']}"}


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def service(url: str = "http://127.0.0.1:5000", **fields: object) -> RegistryService:
    return RegistryService(url=url, **fields)  # type: ignore[arg-type]


# --- the chain, source by source --------------------------------------------------------------------------
def test_a_docker_config_login_is_found_under_any_spelling_of_the_registry(home: dict[str, str]) -> None:
    write_json(Path(home["DOCKER_CONFIG"]) / "config.json",
               {"auths": {"https://LOCALHOST:443/v1/": auth_entry(USER, CANARY)}})
    access = login(service("https://localhost"), environ=home)
    assert access.username == USER and access.password is not None
    assert access.password.get_secret_value() == CANARY
    assert access.source is not None and "auths[https://LOCALHOST:443/v1/]" in access.source
    assert CANARY not in repr(access) and CANARY not in str(access.source)


def test_docker_hub_logins_live_under_the_v1_index_key() -> None:
    assert all(login_key_matches(DOCKER_HUB_KEY, host) for host in ("docker.io", "index.docker.io",
                                                                      "registry-1.docker.io"))
    assert not login_key_matches(DOCKER_HUB_KEY, "quay.io")
    assert not login_key_matches("quay.io/team", "quay.io")  # a namespaced auth.json key is not the registry's


def test_an_identity_token_is_kept_apart_from_passwords(home: dict[str, str]) -> None:
    entry = {**auth_entry("00000000-0000-0000-0000-000000000000", ""), "identitytoken": CANARY}
    write_json(Path(home["DOCKER_CONFIG"]) / "config.json", {"auths": {"127.0.0.1:5000": entry}})
    access = login(service(), environ=home)
    assert access.identity_token is not None and access.identity_token.get_secret_value() == CANARY
    assert access.password is None and access.source is not None and "identitytoken" in access.source


def test_the_order_explicit_then_active_then_files(home: dict[str, str]) -> None:
    write_json(Path(home["DOCKER_CONFIG"]) / "config.json", {"auths": {"127.0.0.1:5000": auth_entry("file", "f")}})
    active = service(name="team", username="active", password="a")
    env = {**home, "MLRUN_REGISTRY_EXT_MIGRATE_TO_USERNAME": "env", "MLRUN_REGISTRY_EXT_MIGRATE_TO_PASSWORD": "e"}
    assert login(service(username="own", password="o"), side="TO", active=active, environ=env).username == "own"
    assert login(service(), side="TO", active=active, environ=env).username == "env"
    assert login(service(), side="TO", active=active, environ=home).username == "active"
    assert login(service(), side="TO", environ=home).username == "file"
    assert login(service("http://127.0.0.1:5001"), side="TO", active=active, environ=home).source is None


def test_half_a_login_in_the_environment_names_the_variable(home: dict[str, str]) -> None:
    env = {**home, "MLRUN_REGISTRY_EXT_MIGRATE_FROM_USERNAME": "alice"}
    with pytest.raises(ConfigError, match="MLRUN_REGISTRY_EXT_MIGRATE_FROM_PASSWORD: the password for user 'alice'"):
        login(service(), side="FROM", environ=env)


def test_cred_helpers_then_creds_store_through_the_helper_protocol(home: dict[str, str]) -> None:
    bin_dir = Path(home["HOME"]) / "bin"
    make_helper(bin_dir, "team", {"127.0.0.1:5000": (USER, CANARY)})
    make_helper(bin_dir, "desktop", {"127.0.0.1:6000": ("desk", CANARY), DOCKER_HUB_KEY: ("hub", CANARY)})
    write_json(Path(home["DOCKER_CONFIG"]) / "config.json",
               {"auths": {"127.0.0.1:5000": {}}, "credHelpers": {"127.0.0.1:5000": "team"}, "credsStore": "desktop"})
    access = login(service(), environ=home)
    assert access.username == USER and access.source is not None and "docker-credential-team" in access.source
    assert login(service("http://127.0.0.1:6000"), environ=home).username == "desk"
    assert login(service("docker.io/acme"), environ=home).username == "hub"  # asked for Docker Hub's v1 key
    assert login(service("http://127.0.0.1:7000"), environ=home).source is None  # "not found": no login
    argv = (bin_dir / "argv.log").read_text()
    assert argv.count(" get\n") == 4 and CANARY not in argv  # the server URL went on stdin, nothing secret on argv


def test_a_helper_token_username_means_an_identity_token(home: dict[str, str]) -> None:
    make_helper(Path(home["HOME"]) / "bin", "acr", {"127.0.0.1:5000": ("<token>", CANARY)})
    write_json(Path(home["DOCKER_CONFIG"]) / "config.json", {"credHelpers": {"127.0.0.1:5000": "acr"}})
    access = login(service(), environ=home)
    assert access.identity_token is not None and access.username is None


def test_a_broken_or_hanging_helper_is_bounded_and_never_echoed(
        home: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    bin_dir = Path(home["HOME"]) / "bin"
    bin_dir.mkdir()
    noisy = bin_dir / "docker-credential-noisy"
    noisy.write_text(f"#!/bin/sh\necho 'token {CANARY}'\necho '{CANARY}' >&2\nexit 3\n")
    noisy.chmod(0o755)
    make_helper(bin_dir, "slow", {"127.0.0.1:6000": (USER, CANARY)}, sleep=30)
    write_json(Path(home["DOCKER_CONFIG"]) / "config.json",
               {"credHelpers": {"127.0.0.1:5000": "noisy", "127.0.0.1:6000": "slow", "127.0.0.1:7000": "absent"}})
    caplog.set_level(logging.DEBUG)
    assert login(service(), environ=home).source is None
    started = time.monotonic()
    assert login(service("http://127.0.0.1:6000"), environ=home, helper_timeout=0.5).source is None
    assert time.monotonic() - started < 5
    assert login(service("http://127.0.0.1:7000"), environ=home).source is None
    assert "exit status 3" in caplog.text and "did not answer within 0.5 s" in caplog.text
    assert "not on PATH" in caplog.text and CANARY not in caplog.text


def test_registry_auth_file_alone_else_the_containers_auth_files_in_order(home: dict[str, str]) -> None:
    runtime = write_json(Path(home["XDG_RUNTIME_DIR"]) / "containers" / "auth.json",
                         {"auths": {"127.0.0.1:5000": auth_entry("runtime", "r")}})
    write_json(Path(home["XDG_CONFIG_HOME"]) / "containers" / "auth.json",
               {"auths": {"127.0.0.1:5000": auth_entry("config", "c"), "127.0.0.1:6000": auth_entry("config", "c")}})
    assert login(service(), environ=home).username == "runtime"
    assert login(service("http://127.0.0.1:6000"), environ=home).username == "config"
    explicit = write_json(Path(home["HOME"]) / "auth.json", {"auths": {"127.0.0.1:5000": auth_entry("given", "g")}})
    env = {**home, "REGISTRY_AUTH_FILE": str(explicit)}
    access = login(service(), environ=env)
    assert access.username == "given" and access.source == f"auth file {explicit} auths[127.0.0.1:5000]"
    assert login(service("http://127.0.0.1:6000"), environ=env).source is None  # only the file named
    runtime.unlink()
    write_json(Path(home["DOCKER_CONFIG"]) / "config.json", {"auths": {"127.0.0.1:5000": auth_entry("docker", "d")}})
    assert login(service(), environ=home).username == "docker"  # the docker config comes first


# --- against real registries, beside skopeo ----------------------------------------------------------------
def _skopeo_inspect(reference: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "REGISTRY_AUTH_FILE"}
    full.update(env)
    return subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{reference}"],
                          capture_output=True, text=True, env=full, timeout=60)


def _cli_env(home: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REGISTRY_AUTH_FILE"}
    env.update(home)
    env.update(extra)
    return env


@pytest.mark.parametrize("where", ["docker config", "REGISTRY_AUTH_FILE"])
def test_a_credential_helper_on_path_serves_migrate_and_doctor_as_it_serves_skopeo(
        where: str, registry_factory: Callable[..., RunningRegistry], home: dict[str, str], tmp_path: Path) -> None:
    source = registry_factory()
    images = im.image_set(seed=5, count=2, layers=(1, 2))
    im.push_all(source.url, images)
    target = registry_factory(auth="htpasswd", htpasswd_users={USER: CANARY})
    make_helper(Path(home["HOME"]) / "bin", "team", {target.host: (USER, CANARY)})
    config = {"credHelpers": {target.host: "team"}}
    env = dict(home)
    if where == "docker config":
        write_json(Path(home["DOCKER_CONFIG"]) / "config.json", config)
    else:
        env["REGISTRY_AUTH_FILE"] = str(write_json(tmp_path / "auth.json", config))

    copied = run_cli("migrate", "--from", source.url, "--to", target.url, "--json", env=_cli_env(env), timeout=120)
    assert copied.code == 0, copied.output
    assert json.loads(copied.stdout)["images"]["copied"] == len(images)
    assert im.tag_digests(target.url, (USER, CANARY)) == im.expected_digests(images)

    checked = run_cli("doctor", "--json", "--timeout", "20",
                      env=_cli_env(env, MLRUN_REGISTRY_EXT_URL=f"http://{target.host}/team"))
    assert checked.code == 0, checked.output
    detail = {c["name"]: c["detail"] for c in json.loads(checked.stdout)["checks"]}
    assert "login from credential helper docker-credential-team" in detail["configuration"]
    assert f"user {USER} accepted" in detail["authentication"]

    # skopeo, with the same files, gets in; without the helper on PATH neither does
    reference = f"{target.host}/{images[0].repository}:{images[0].tag}"
    assert _skopeo_inspect(reference, env).returncode == 0
    no_helper = {**env, "PATH": os.environ["PATH"]}
    assert _skopeo_inspect(reference, no_helper).returncode != 0
    denied = run_cli("migrate", "--from", source.url, "--to", target.url, "--json", env=_cli_env(no_helper))
    assert denied.code == 1 and "requires authentication" in denied.stderr
    assert CANARY not in copied.output + checked.output + denied.output


def test_an_identity_token_logs_in_through_the_oauth2_refresh_grant(
        registry_factory: Callable[..., RunningRegistry], home: dict[str, str]) -> None:
    source = registry_factory()
    images = im.image_set(seed=6, count=1, layers=(1, 1))
    im.push_all(source.url, images)
    target = registry_factory(auth="token")
    assert target.token_server is not None
    target.token_server.refresh_tokens[CANARY] = "pusher"
    entry = {**auth_entry("00000000-0000-0000-0000-000000000000", ""), "identitytoken": CANARY}
    write_json(Path(home["DOCKER_CONFIG"]) / "config.json", {"auths": {target.host: entry}})

    copied = run_cli("migrate", "--from", source.url, "--to", target.url, "--json", env=_cli_env(home), timeout=120)
    assert copied.code == 0, copied.output
    assert json.loads(copied.stdout)["images"]["copied"] == 1
    posts = target.token_server.posts
    assert posts and all(p["grant_type"] == ["refresh_token"] and p["client_id"] == ["mlrun-registry-ext"]
                         for p in posts)
    assert CANARY not in copied.output

    target.token_server.refresh_tokens.clear()  # revoked: the rejection says so, without the token
    refused = run_cli("migrate", "--from", source.url, "--to", target.url, "--json", env=_cli_env(home))
    assert refused.code == 1 and "identity token" in refused.stderr and CANARY not in refused.output
