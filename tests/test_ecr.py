"""ECR through real boto3 against moto in server mode on loopback (``AWS_ENDPOINT_URL``)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import boto3
import pytest

from mlrun_registry_ext.clients import aws as aws_adapter
from mlrun_registry_ext.core import credentials as creds
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.errors import ConfigError
from mlrun_registry_ext.features import credentials as features_creds
from mlrun_registry_ext.features.migrate import ecr_repository_ensurer
from tests.support.aws import ACCOUNT, ECR_HOST, REGION, MotoServer, iam_user_with_policy
from tests.support.env import installed_python

ROOT = Path(__file__).resolve().parents[1]


def _role_service(path: str = "team") -> RegistryService:
    return RegistryService(url=f"{ECR_HOST}/{path}", secret_name="ecr-pull")


def test_cache_repositories_are_created_only_for_a_service_with_cache_true(aws: MotoServer) -> None:
    plain = aws_adapter.ensure_repositories(_role_service(), ["team/func-proj-plain"])
    assert [(r.name, r.action) for r in plain] == [("team/func-proj-plain", "created")]
    names = {r["repositoryName"] for r in boto3.client("ecr", region_name=REGION).describe_repositories()[
        "repositories"]}
    assert "team/func-proj-plain" in names and "team/func-proj-plain/cache" not in names


def test_ensure_repositories_with_cache_and_options(aws: MotoServer) -> None:
    service = RegistryService(url=f"{ECR_HOST}/team", secret_name="ecr-pull", cache=True)
    results = aws_adapter.ensure_repositories(service, ["team/func-proj-train"], immutable=True, scan_on_push=True)
    assert [(r.name, r.action) for r in results] == [("team/func-proj-train", "created"),
                                                      ("team/func-proj-train/cache", "created")]
    ecr = boto3.client("ecr", region_name=REGION)
    repos = {r["repositoryName"]: r for r in ecr.describe_repositories()["repositories"]}
    assert set(repos) == {"team/func-proj-train", "team/func-proj-train/cache"}
    assert repos["team/func-proj-train"]["imageTagMutability"] == "IMMUTABLE"
    assert repos["team/func-proj-train"]["imageScanningConfiguration"] == {"scanOnPush": True}

    again = aws_adapter.ensure_repositories(service, ["team/func-proj-train"])
    assert [r.action for r in again] == ["exists", "exists"]  # already existing is success
    changed = aws_adapter.ensure_repositories(service, ["team/func-proj-train"], with_cache=False, immutable=False)
    assert [r.action for r in changed] == ["updated"]
    assert ecr.describe_repositories(repositoryNames=["team/func-proj-train"])["repositories"][0][
        "imageTagMutability"] == "MUTABLE"


def test_a_migration_to_ecr_creates_each_target_repository_first(aws: MotoServer) -> None:
    ensure = ecr_repository_ensurer(_role_service())
    assert ensure is not None
    ensure("team/func-proj-train")
    ensure("team/func-proj-train")  # already there: success
    ecr = boto3.client("ecr", region_name=REGION)
    assert [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]] == ["team/func-proj-train"]
    assert aws.count("CreateRepository") == 2
    assert ecr_repository_ensurer(RegistryService(url="ghcr.io/acme")) is None  # pushes create repositories


def test_a_malformed_ecr_token_is_refused_in_one_line_without_its_text() -> None:
    token = aws_adapter.EcrToken(token=creds.SecretStr("bm90LWEtdG9rZW4="), proxy_endpoint="", issued_at=0.0,
                                 expires_at=1.0)  # base64 of "not-a-token": no AWS: prefix
    with pytest.raises(ConfigError) as info:
        token.password  # noqa: B018
    assert "AWS:<password>" in str(info.value) and "not-a-token" not in str(info.value)


def test_invalid_repository_name_is_config_error_before_any_call(aws: MotoServer) -> None:
    with pytest.raises(ConfigError) as info:
        aws_adapter.ensure_repositories(_role_service(), ["team/Bad__Name"])
    assert info.value.exit_code == 2
    assert aws.count("CreateRepository") == 0


def test_policy_document_is_scoped_to_the_prefix() -> None:
    policy = creds.ecr_policy_document(_role_service("team/ml"))
    token, repos = policy["Statement"]
    assert token["Action"] == ["ecr:GetAuthorizationToken"] and token["Resource"] == "*"
    assert repos["Resource"] == [f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/team/ml/*"]
    for action in ("ecr:PutImage", "ecr:CreateRepository", "ecr:DescribeRepositories",
                   "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:BatchGetImage"):
        assert action in repos["Action"]
    assert "ecr:GetAuthorizationToken" not in repos["Action"]
    china = RegistryService(url="123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn")
    assert creds.ecr_policy_document(china)["Statement"][1]["Resource"] == [
        "arn:aws-cn:ecr:cn-north-1:123456789012:repository/*"]


def test_verify_full_policy_passes(aws: MotoServer) -> None:
    key_id, secret = iam_user_with_policy(creds.ecr_policy_document(_role_service()))
    service = RegistryService(url=f"{ECR_HOST}/team", username=key_id, password=secret)
    report = aws_adapter.verify_permissions(service)
    assert report.identity == f"arn:aws:iam::{ACCOUNT}:user/builder"
    assert report.ok, report.as_dict()
    assert len(report.checks) == 1 + len(creds.ecr_repository_actions())


def test_verify_lists_missing_action_for_narrow_policy(aws: MotoServer) -> None:
    narrow = creds.ecr_policy_document(_role_service())
    narrow["Statement"][1]["Action"] = [a for a in narrow["Statement"][1]["Action"] if a != "ecr:CreateRepository"]
    key_id, secret = iam_user_with_policy(narrow, name="narrow")
    service = RegistryService(url=f"{ECR_HOST}/team", username=key_id, password=secret)
    report = aws_adapter.verify_permissions(service)
    assert report.missing == ["ecr:CreateRepository"]
    assert not report.ok
    # a policy on another prefix grants nothing here
    other = creds.ecr_policy_document(_role_service("other"))
    key_id, secret = iam_user_with_policy(other, name="other")
    report = aws_adapter.verify_permissions(RegistryService(url=f"{ECR_HOST}/team", username=key_id,
                                                            password=secret))
    assert report.missing == creds.ecr_repository_actions()
    assert secret not in json.dumps(report.as_dict())


_CHILD = """
import json, sys
from mlrun_registry_ext.clients.aws import get_ecr_token
from mlrun_registry_ext.core.service import RegistryService
token = get_ecr_token(RegistryService(url=sys.argv[1]))
print(json.dumps({"from_cache": token.from_cache, "endpoint": token.proxy_endpoint, "repr": repr(token)}))
"""


def test_token_cache_two_processes_one_call(aws: MotoServer, tmp_path: Path) -> None:
    env = dict(os.environ)
    outputs = []
    for _ in range(2):
        run = subprocess.run([installed_python(), "-c", _CHILD, f"{ECR_HOST}/team"], env=env, capture_output=True,
                             text=True, timeout=60, check=True)
        outputs.append(json.loads(run.stdout))
    assert aws.count("GetAuthorizationToken") == 1  # counted at the moto server
    assert [o["from_cache"] for o in outputs] == [False, True]
    assert "AWS:" not in outputs[0]["repr"] and "auth-token" not in outputs[0]["repr"]

    cache = tmp_path / "cache" / aws_adapter.CACHE_FILE
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700

    # in-process, within the half-life: still no call; past it: one refresh
    service = RegistryService(url=f"{ECR_HOST}/team")
    token = aws_adapter.get_ecr_token(service)
    assert token.from_cache and aws.count("GetAuthorizationToken") == 1
    later = aws_adapter.get_ecr_token(service, now=time.time() + 6 * 3600 + 60)
    assert not later.from_cache and aws.count("GetAuthorizationToken") == 2
    assert later.password.get_secret_value() == f"{ACCOUNT}-auth-token"


def test_token_cache_is_per_identity(aws: MotoServer) -> None:
    key_id, secret = iam_user_with_policy(creds.ecr_policy_document(_role_service()))
    aws_adapter.get_ecr_token(_role_service())
    aws_adapter.get_ecr_token(RegistryService(url=f"{ECR_HOST}/team", username=key_id, password=secret))
    assert aws.count("GetAuthorizationToken") == 2


def test_check_ecr_for_doctor(aws: MotoServer) -> None:
    narrow = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"}]}
    key_id, secret = iam_user_with_policy(narrow, name="token-only")
    checks = aws_adapter.check_ecr(RegistryService(url=f"{ECR_HOST}/team", username=key_id, password=secret))
    names = {name: (ok, detail) for name, ok, detail in checks}
    assert names["ecr identity"][0] and names["ecr token"][0]
    assert not names["ecr permissions"][0] and "ecr:PutImage" in names["ecr permissions"][1]
    assert secret not in repr(checks)


def test_project_secret_notes() -> None:
    service = _role_service()
    notes = features_creds.project_secret_notes(service, {"data": {"AWS_ACCESS_KEY_ID": "QQ==",
                                                                   "AWS_SECRET_ACCESS_KEY": "QQ=="}}, "proj")
    assert any("MLRun removes them from the Kaniko build" in n for n in notes)
    notes = features_creds.project_secret_notes(service, {"data": {"AWS_ACCESS_KEY_ID": "QQ=="}}, "proj")
    assert any("only one of" in n for n in notes)
