"""`secret` and `ecr` commands end to end: the kube-apiserver stand-in, moto on loopback, and the canary."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import boto3
import pytest

from mlrun_registry_ext.core import credentials as creds
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.features import credentials as api
from tests.support.aws import ECR_HOST, MotoServer, iam_user_with_policy
from tests.support.kube import KubeStandIn
from tests.test_credentials import run_cli

CANARY = "canary-Secret-0e7f4b21"


def test_secret_apply_show_copy_delete(kube_apiserver: KubeStandIn, kubeconfig: Path,
                                       capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    base = ["--url", "registry.example.com/team", "--username", "bob", "--password-stdin", "--secret-name", "reg"]
    code, out, err = run_cli(capsys, monkeypatch, ["secret", "apply", *base, "-n", "mlrun", "--to", "nuclio"],
                             stdin=CANARY)
    assert code == 0, err
    assert out.splitlines() == ["secret/reg created in namespace mlrun", "secret/reg created in namespace nuclio"]
    code, out, err = run_cli(capsys, monkeypatch, ["secret", "apply", *base, "-n", "mlrun"], stdin=CANARY)
    assert out.splitlines() == ["secret/reg unchanged in namespace mlrun"]

    code, out, err = run_cli(capsys, monkeypatch, ["secret", "show", *base, "-n", "nuclio"], stdin=CANARY)
    assert code == 0
    assert "login registry.example.com: user bob, password set" in out

    code, out, err = run_cli(capsys, monkeypatch, ["secret", "copy", *base, "-n", "mlrun", "--to", "team-a,team-b",
                                                   "--json"], stdin=CANARY)
    assert code == 0, err
    assert [r["action"] for r in json.loads(out)["results"]] == ["created", "created"]
    assert kube_apiserver.secret("team-b", "reg") is not None

    code, out, err = run_cli(capsys, monkeypatch, ["secret", "delete", *base, "-n", "team-a"], stdin=CANARY)
    assert code == 0 and out.strip() == "secret/reg deleted in namespace team-a"
    assert kube_apiserver.secret("team-a", "reg") is None


def test_forbidden_namespace_is_one_line_exit_1(kube_apiserver: KubeStandIn, kubeconfig: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    kube_apiserver.forbid("team-a", "get", "create")
    code, _out, err = run_cli(capsys, monkeypatch, ["secret", "apply", "--url", "registry.example.com/team",
                                                   "--username", "bob", "--password-stdin", "-n", "team-a"],
                             stdin=CANARY)
    assert code == 1
    assert err == ("mlrun-registry: error: forbidden: Kubernetes RBAC must allow verb 'get' on resource 'secrets' "
                   "in namespace 'team-a' for this identity (while trying to get secrets/mlrun-registry-default)\n")


def test_bad_input_leaves_cluster_untouched(kube_apiserver: KubeStandIn, kubeconfig: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    base = ["secret", "apply", "--url", "registry.example.com/team", "--username", "bob", "--password-stdin"]
    for extra in (["-n", "mlrun", "--to", "team-a", "--to", "Team_B"], ["-n", "mlrun", "--secret-name", "a..b"],
                  ["-n", "mlrun", "--option", "robot=x"]):
        code, _out, err = run_cli(capsys, monkeypatch, [*base, *extra], stdin=CANARY)
        assert code == 2, err
    assert kube_apiserver.requests == []


def test_ecr_secret_apply_and_refresh(aws: MotoServer, kube_apiserver: KubeStandIn, kubeconfig: Path,
                                      capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    key_id, secret_key = iam_user_with_policy(creds.ecr_policy_document(RegistryService(url=f"{ECR_HOST}/team")))
    base = ["--url", f"{ECR_HOST}/team", "--username", key_id, "--password-stdin"]
    code, out, err = run_cli(capsys, monkeypatch, ["secret", "apply", *base, "-n", "mlrun", "--to", "nuclio"],
                             stdin=secret_key)
    assert code == 0, err
    assert "secret/mlrun-registry-default-aws created in namespace mlrun" in out
    assert "secret/mlrun-registry-default created in namespace nuclio" in out
    text = kube_apiserver.secret_data("mlrun", "mlrun-registry-default-aws", "credentials")
    assert f"aws_access_key_id = {key_id}" in text and f"aws_secret_access_key = {secret_key}" in text
    config = json.loads(kube_apiserver.secret_data("nuclio", "mlrun-registry-default", ".dockerconfigjson"))
    assert config["auths"][ECR_HOST]["username"] == "AWS"
    assert config["auths"][ECR_HOST]["password"] == "123456789012-auth-token"
    assert aws.count("GetAuthorizationToken") == 1

    code, out, err = run_cli(capsys, monkeypatch, ["ecr", "refresh", *base, "-n", "mlrun", "--to", "nuclio"],
                             stdin=secret_key)
    assert code == 0, err
    assert aws.count("GetAuthorizationToken") == 1  # within half-life: from the shared cache
    assert "secret/mlrun-registry-default unchanged in namespace mlrun" in out
    annotations = kube_apiserver.secret("mlrun", "mlrun-registry-default")["metadata"]["annotations"]
    assert creds.EXPIRES_ANNOTATION in annotations
    assert secret_key not in out + err


def test_ecr_verify_cli_and_project_secret(aws: MotoServer, kube_apiserver: KubeStandIn, kubeconfig: Path,
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    narrow = creds.ecr_policy_document(RegistryService(url=f"{ECR_HOST}/team"))
    narrow["Statement"][1]["Action"].remove("ecr:PutImage")
    key_id, secret_key = iam_user_with_policy(narrow)
    kube_apiserver.put_secret("mlrun", "mlrun-project-secrets-proj", {"type": "Opaque", "data": {
        "AWS_ACCESS_KEY_ID": base64.b64encode(key_id.encode()).decode(),
        "AWS_SECRET_ACCESS_KEY": base64.b64encode(secret_key.encode()).decode()}})
    code, out, err = run_cli(capsys, monkeypatch, ["ecr", "verify", "--url", f"{ECR_HOST}/team", "--username",
                                                   key_id, "--password-stdin", "--project", "proj", "-n", "mlrun"],
                             stdin=secret_key)
    assert code == 1, err
    assert "missing actions:\n  ecr:PutImage on arn:aws:ecr:us-east-1:123456789012:repository/team/" in out
    assert "MLRun removes them from the Kaniko build" in out
    assert secret_key not in out + err


def test_ensure_repos_cli_creates_cache_repositories_only_with_cache_true(
        aws: MotoServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, monkeypatch, ["ecr", "ensure-repos", "--url", f"{ECR_HOST}/team",
                                                   "--project", "proj", "--function", "trainer",
                                                   "--function", "serve:serving", "--immutable"])
    assert code == 0, err
    lines = out.splitlines()
    assert "team/func-proj-trainer: created" in lines
    assert not any("/cache" in line for line in lines)  # no Kaniko layer cache without cache: true
    assert any(line.startswith("team/processor-proj-serve") and line.endswith("created") for line in lines)
    config = tmp_path / "registries.yaml"
    config.write_text(f"active: ecr\nservices:\n  ecr: {{url: {ECR_HOST}/team, cache: true}}\n")
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(config))
    code, out, err = run_cli(capsys, monkeypatch, ["ecr", "ensure-repos", "--project", "proj",
                                                   "--function", "trainer"])
    assert code == 0, err
    assert out.splitlines() == ["team/func-proj-trainer: exists", "team/func-proj-trainer/cache: created"]
    names = {r["repositoryName"] for r in boto3.client("ecr", region_name="us-east-1").describe_repositories()[
        "repositories"]}
    assert {"team/func-proj-trainer", "team/func-proj-trainer/cache"} <= names
    assert "team/processor-proj-serve/cache" not in names


def test_python_api_for_notebooks(aws: MotoServer, kube_apiserver: KubeStandIn, kubeconfig: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    service = RegistryService(url=f"{ECR_HOST}/team", secret_name="ecr-pull")  # the pod's role: env keys
    key_id, secret_key = iam_user_with_policy(creds.ecr_policy_document(service))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_key)
    report = api.refresh_ecr_pull_secret(service, namespace="mlrun", to=["team-a"])
    assert [(r.namespace, r.action) for r in report.results] == [("mlrun", "created"), ("team-a", "created")]
    assert api.ecr_policy(service)["Statement"][0]["Resource"] == "*"
    repos = api.ensure_ecr_repositories(service, project="proj", functions={"trainer": "job"})
    assert [r.name for r in repos] == ["team/func-proj-trainer"]  # the service has no cache: true
    assert api.verify_ecr_permissions(service).ok
    shown = api.show_registry_secret(service, namespace="team-a")
    assert shown[0]["auths"] == {ECR_HOST: {"username": "AWS", "password": "set"}}


def test_canary_never_in_output_logs_reprs_or_errors(aws: MotoServer, kube_apiserver: KubeStandIn,
                                                     kubeconfig: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    key_id, secret_key = iam_user_with_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]})
    # everything at INFO, this package at DEBUG (botocore's own DEBUG wire log prints response bodies,
    # as `aws --debug` does: that is the library's switch, not ours)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="mlrun_registry_ext")
    token_password = "123456789012-auth-token"
    seen: list[str] = []
    generic = ["--url", "registry.example.com/team", "--username", "bob", "--password-stdin"]
    ecr = ["--url", f"{ECR_HOST}/team", "--username", key_id, "--password-stdin"]
    runs = [
        (["secret", "apply", *generic, "-n", "mlrun", "--dry-run"], CANARY),
        (["secret", "apply", *generic, "-n", "mlrun", "--dry-run", "-o", "json"], CANARY),
        (["secret", "apply", *generic, "-n", "mlrun", "--to", "team-a"], CANARY),
        (["secret", "show", *generic, "-n", "mlrun", "-o", "yaml"], CANARY),
        (["secret", "copy", *generic, "-n", "mlrun", "--to", "team-b", "--json"], CANARY),
        (["secret", "apply", *generic, "-n", "Bad_NS"], CANARY),
        (["secret", "apply", *generic, "-n", "mlrun", "--option", "nope=1"], CANARY),
        (["secret", "apply", *ecr, "-n", "mlrun"], secret_key),
        (["secret", "show", *ecr, "-n", "mlrun"], secret_key),
        (["ecr", "refresh", *ecr, "-n", "mlrun", "--dry-run"], secret_key),
        (["ecr", "verify", *ecr, "--json"], secret_key),
        (["ecr", "ensure-repos", *ecr, "--repository", "team/x"], secret_key),  # denied? moto allows all
    ]
    for argv, stdin in runs:
        code, out, err = run_cli(capsys, monkeypatch, argv, stdin=stdin)
        seen += [out, err]
        assert code in (0, 1, 2)
    kube_apiserver.forbid("locked", "*")
    kube_apiserver.namespaces.add("locked")
    for argv in (["secret", "apply", *generic, "-n", "locked"], ["secret", "delete", *generic, "-n", "locked"]):
        code, out, err = run_cli(capsys, monkeypatch, argv, stdin=CANARY)
        assert code == 1
        seen += [out, err]
    service = RegistryService(url="registry.example.com/team", username="bob", password=CANARY)
    seen += [repr(service), str(service), repr(creds.docker_login(service)),
             repr(api.apply_registry_secret(service, namespace="mlrun", dry_run=True)), caplog.text]
    try:
        RegistryService(url="registry.example.com/team", password=CANARY)
    except Exception as exc:
        seen.append(str(exc) + repr(exc))
    blob = "\n".join(seen)
    for secret in (CANARY, secret_key, token_password):
        assert secret not in blob
