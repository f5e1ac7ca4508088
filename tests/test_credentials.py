"""Login formats per provider (through `secret apply --dry-run`), AWS credentials files, manifests, input checks.

No cluster and no cloud: dry-run builds the manifests like `kubectl --dry-run=client`.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml

from mlrun_registry_ext.core import credentials as creds
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.errors import ConfigError
from tests.support.env import run_cli_here

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
GCP_KEY = json.dumps({"type": "service_account", "project_id": "p", "private_key": "-----BEGIN KEY-----x"})


def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str],
            stdin: str | None = None) -> tuple[int, str, str]:
    """The installed console script, with the environment the test set through ``monkeypatch``."""
    result = run_cli_here(argv, stdin)
    return result.code, result.stdout, result.stderr


def _auths_from_dry_run(out: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(out) if d]
    configs = [d for d in docs if d["type"] == "kubernetes.io/dockerconfigjson"]
    assert len(configs) == 1
    return json.loads(base64.b64decode(configs[0]["data"][".dockerconfigjson"]))


def _entry(user: str, password: str) -> dict[str, str]:
    return {"username": user, "password": password, "auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


#: The user name of an ACR refresh-token login (Azure's documented null GUID), written out.
ACR_TOKEN_USER = "00000000-0000-0000-0000-000000000000"
PROVIDERS = [
    # id, url, username, password, extra args, expected auths key, expected user
    ("dockerhub", "docker.io/acme", "acme-ci", "dckr_pat_x1", [], "https://index.docker.io/v1/", "acme-ci"),
    ("acr-admin", "acme.azurecr.io/ml", "acme", "acr-admin-pw", [], "acme.azurecr.io", "acme"),
    ("acr-token", "acme.azurecr.io/ml", "spn", "refresh-token-x", ["--option", "auth=token"], "acme.azurecr.io",
     ACR_TOKEN_USER),
    ("gcr-json", "gcr.io/proj", "_json_key", GCP_KEY, [], "gcr.io", "_json_key"),
    ("gar-token", "europe-docker.pkg.dev/proj/repo", "x", "ya29.token", ["--option", "auth=access_token"],
     "europe-docker.pkg.dev", "oauth2accesstoken"),
    ("ghcr", "ghcr.io/acme", "octocat", "ghp_classicPAT", [], "ghcr.io", "octocat"),
    ("quay-robot", "quay.io/acme", "ignored", "robot-token-x", ["--option", "robot=builder"], "quay.io",
     "acme+builder"),
    ("generic-login-url", "registry.example.com:5000/team", "bob", "pw-generic",
     ["--login-url", "https://login.example.com/v2/"], "login.example.com", "bob"),
]


@pytest.mark.parametrize("case", PROVIDERS, ids=[c[0] for c in PROVIDERS])
def test_dry_run_docker_config_per_provider(case: tuple, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _id, url, user, password, extra, key, expected_user = case
    code, out, err = run_cli(capsys, monkeypatch, ["secret", "apply", "--url", url, "--username", user,
                                                   "--password-stdin", "--secret-name", "reg", "-n", "mlrun",
                                                   "--dry-run", *extra], stdin=password)
    assert code == 0, err
    assert _auths_from_dry_run(out) == {"auths": {key: _entry(expected_user, password)}}
    assert password not in out and password not in err


def test_dry_run_ecr_token_entry(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    token = base64.b64encode(b"AWS:ecr-token-password").decode()
    # the token comes from the environment, never from the command line (was --option token=...)
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_ECR_TOKEN", token)
    code, out, err = run_cli(capsys, monkeypatch, ["secret", "apply", "--url", f"{ECR}/team", "--secret-name",
                                                   "ecr-pull", "-n", "mlrun", "--dry-run", "-o", "json"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["metadata"]["name"] == "ecr-pull"
    assert json.loads(base64.b64decode(doc["data"][".dockerconfigjson"])) == {
        "auths": {ECR: _entry("AWS", "ecr-token-password")}}
    assert "IAM role" in err


def test_dry_run_ecr_access_keys_give_aws_credentials_file(capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    token = base64.b64encode(b"AWS:tok").decode()
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_ECR_TOKEN", token)  # was --option token=...
    code, out, err = run_cli(capsys, monkeypatch, [
        "secret", "apply", "--url", f"{ECR}/team", "--username", "AKIAIOSFODNN7EXAMPLE", "--password-stdin",
        "-n", "mlrun", "--to", "team-a", "--dry-run"], stdin=secret)
    assert code == 0, err
    docs = [d for d in yaml.safe_load_all(out) if d]
    assert [(d["metadata"]["namespace"], d["metadata"]["name"], d["type"]) for d in docs] == [
        ("mlrun", "mlrun-registry-default-aws", "Opaque"),
        ("mlrun", "mlrun-registry-default", "kubernetes.io/dockerconfigjson"),
        ("team-a", "mlrun-registry-default", "kubernetes.io/dockerconfigjson"),  # keys stay in mlrun
    ]
    text = base64.b64decode(docs[0]["data"]["credentials"]).decode()
    assert text == ("[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
                    f"aws_secret_access_key = {secret}\nregion = us-east-1\n")
    assert secret not in out and secret not in err


@pytest.mark.parametrize("argv, stdin, field", [
    (["--url", "registry.example.com/team", "--username", "bob"], None, "password"),
    (["--url", "registry.example.com/team", "--username", "bob", "--password-stdin", "--option", "foo=1"],
     "pw", "option foo"),
    (["--url", "acme.azurecr.io", "--username", "bob", "--password-stdin", "--option", "auth=magic"], "pw",
     "option auth"),
    (["--url", "registry.example.com/team", "--username", "bob", "--password-stdin", "-n", "Bad_NS"], "pw",
     "namespace"),
    (["--url", "registry.example.com/team", "--username", "bob", "--password-stdin", "--to", "ok,-bad"], "pw",
     "to"),
    (["--url", "registry.example.com/team", "--username", "bob", "--password-stdin", "--secret-name", "Reg_1"],
     "pw", "secret_name"),
    (["--url", "gcr.io/proj", "--username", "_json_key", "--password-stdin"], "not-json", "password"),
    (["--url", f"{ECR}/team", "--username", "bob", "--password-stdin"], "pw-that-is-long-enough-1",
     "username"),
    (["--url", "registry.example.com/team"], None, "username"),
])
def test_bad_input_exit_2(argv: list[str], stdin: str | None, field: str, capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run_cli(capsys, monkeypatch, ["secret", "apply", "--dry-run", *argv], stdin=stdin)
    assert code == 2, (out, err)
    assert err.startswith("mlrun-registry: error: ") and err.count("\n") == 1
    assert field in err
    assert out == ""
    if stdin:
        assert stdin not in err


def test_docker_login_repr_hides_password() -> None:
    service = RegistryService(url="ghcr.io/acme", username="octocat", password="ghp_canary123")
    login = creds.docker_login(service)
    assert "ghp_canary123" not in repr(login) and "ghp_canary123" not in repr(service)


def test_aws_key_validation() -> None:
    with pytest.raises(ConfigError, match="access key ID"):
        creds.aws_credentials_file("bob", creds.SecretStr("x" * 40))
    with pytest.raises(ConfigError, match="secret access key"):
        creds.aws_credentials_file("AKIAIOSFODNN7EXAMPLE", creds.SecretStr("short"))


def test_refresh_cronjob_manifests() -> None:
    service = RegistryService(url=f"{ECR}/team", username="AKIAIOSFODNN7EXAMPLE",
                              password="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                              resources={"requests": {"cpu": "50m", "memory": "64Mi"},
                                         "limits": {"cpu": "200m", "memory": "128Mi"}})
    docs = creds.refresh_cronjob_manifests(service, "mlrun", image="acme/mlrun-registry:0.1", to_namespaces=["team-a"])
    kinds = [(d["kind"], d["metadata"]["namespace"]) for d in docs]
    assert kinds == [("ServiceAccount", "mlrun"), ("Role", "mlrun"), ("RoleBinding", "mlrun"),
                     ("Role", "team-a"), ("RoleBinding", "team-a"), ("CronJob", "mlrun")]
    cron = docs[-1]
    assert cron["spec"]["schedule"] == "0 */4 * * *"
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"},
                                      "limits": {"cpu": "200m", "memory": "128Mi"}}
    assert container["args"] == ["ecr", "refresh", "--namespace", "mlrun", "--to", "team-a"]
    assert {"name": "MLRUN_REGISTRY_EXT_SECRET_NAME", "value": "mlrun-registry-default"} in container["env"]
    assert {"name": "AWS_SHARED_CREDENTIALS_FILE", "value": "/tmp/aws/credentials"} in container["env"]
    volumes = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
    assert volumes == [{"name": "aws-credentials", "secret": {"secretName": "mlrun-registry-default-aws"}}]
    assert "wJalr" not in json.dumps(docs)


@pytest.mark.parametrize("schedule, ok", [
    ("0 */4 * * *", True), ("15 */6 * * *", True), ("0 0,6,12,18 * * *", True), ("0 */8 * * *", False),
    ("0 3 * * *", False), ("0 */4 * * 1", False), ("@daily", False), ("0 */4 * *", False),
])
def test_schedule_within_token_lifetime(schedule: str, ok: bool) -> None:
    if ok:
        assert creds.validate_schedule(schedule) == schedule
    else:
        with pytest.raises(ConfigError):
            creds.validate_schedule(schedule)


def test_cronjob_cli_prints_yaml(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run_cli(capsys, monkeypatch, ["ecr", "cronjob", "--url", f"{ECR}/team", "--secret-name",
                                                   "ecr-pull", "-n", "mlrun", "--image", "acme/tools:1",
                                                   "--role-arn", "arn:aws:iam::123456789012:role/ecr-refresh"])
    assert code == 0, err
    docs = list(yaml.safe_load_all(out))
    assert docs[0]["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/ecr-refresh"}
    assert docs[-1]["kind"] == "CronJob"


def test_policy_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _err = run_cli(capsys, monkeypatch, ["ecr", "policy", "--url", f"{ECR}/team"])
    assert code == 0
    policy = json.loads(out)
    assert policy["Statement"][1]["Resource"] == ["arn:aws:ecr:us-east-1:123456789012:repository/team/*"]
    code, _out, err = run_cli(capsys, monkeypatch, ["ecr", "policy", "--url", "ghcr.io/acme"])
    assert code == 2 and "not an ECR registry" in err


def test_evaluate_policies_wildcards_and_deny() -> None:
    docs = [{"Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"},
                           {"Effect": "Deny", "Action": "ecr:Delete*", "Resource": "*"}]}]
    assert creds.evaluate_policies(docs, "ecr:PutImage", "arn:x") == "allowed"
    assert creds.evaluate_policies(docs, "ecr:DeleteRepository", "arn:x") == "explicitDeny"
    assert creds.evaluate_policies(docs, "s3:GetObject", "arn:x") == "implicitDeny"
