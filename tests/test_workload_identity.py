"""Workload identity (``auth: workload-identity``) and Kaniko's layer cache (``cache``).

Real clients: skopeo reads the generated Kaniko config (``credHelpers``, no ``auths``) and calls a
``docker-credential-<name>`` helper on PATH to push to a real htpasswd registry; boto3 runs IRSA's
exchange against moto in server mode (STS ``AssumeRoleWithWebIdentity``, then ECR
``GetAuthorizationToken`` with the returned credentials); the kubernetes client patches the service
account on the kube-apiserver stand-in; the mlrun client posts the build body to the MLRun API stand-in.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlrun_registry_ext import ConfigError
from mlrun_registry_ext.clients.aws import check_web_identity, web_identity_ecr_token
from mlrun_registry_ext.clients.kube import connect
from mlrun_registry_ext.core import credentials as core
from mlrun_registry_ext.core.config import ConfigFile
from mlrun_registry_ext.core.platform_config import NUCLIO_CACHE_REPO_ENV, platform_config
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.core.targets import push_target
from mlrun_registry_ext.features.credentials import apply_registry_secret, registry_secret_manifests
from tests.support.images import build_image, random_layer

ROOT = Path(__file__).resolve().parents[1]
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
ROLE = "arn:aws:iam::123456789012:role/mlrun-builder"
GSA = "builder@my-project.iam.gserviceaccount.com"
CLIENT_ID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
KUBERNETES_VERSION = "1.29.0"


def wi(url: str, **extra: Any) -> RegistryService:
    return RegistryService(url=url, auth="workload-identity", **extra)


@pytest.mark.parametrize(("service", "annotations", "labels", "helper"), [
    (dict(url=f"{ECR}/team", identity=ROLE), {"eks.amazonaws.com/role-arn": ROLE}, {}, "ecr-login"),
    (dict(url="us-docker.pkg.dev/p/r", identity=GSA), {"iam.gke.io/gcp-service-account": GSA}, {}, "gcr"),
    (dict(url="gcr.io/p", identity=GSA), {"iam.gke.io/gcp-service-account": GSA}, {}, "gcr"),
    (dict(url="acme.azurecr.io/ml", identity=CLIENT_ID), {"azure.workload.identity/client-id": CLIENT_ID},
     {"azure.workload.identity/use": "true"}, "acr-env"),
])
def test_each_cloud_gets_its_annotation_label_and_credential_helper(service: dict[str, Any], annotations: Any,
                                                                    labels: Any, helper: str) -> None:
    svc = wi(**service, service_account="mlrun-builder")
    account = core.service_account_manifest(svc, "mlrun")
    assert account["metadata"]["name"] == "mlrun-builder"
    assert account["metadata"].get("annotations", {}) == annotations
    assert account["metadata"].get("labels", {}) == labels
    assert svc.rules.credential_helper == helper


def test_helper_config_names_the_helper_and_no_static_login() -> None:
    config = core.credential_helper_config(wi("us-docker.pkg.dev/p/r", identity=GSA))
    assert config == {"auths": {}, "credHelpers": {"us-docker.pkg.dev": "gcr"}}
    manifests, notes = registry_secret_manifests(wi("us-docker.pkg.dev/p/r", identity=GSA), namespace="mlrun")
    secret = next(m for m in manifests if m["kind"] == "Secret")
    assert json.loads(base64.b64decode(secret["data"][".dockerconfigjson"])) == config
    assert any("kubelet" in n for n in notes)


def test_helper_config_keeps_the_base_image_logins_of_pull_from_but_none_for_its_own_host() -> None:
    base = RegistryService(name="base", url="registry.example.com/base", username="reader", password="rpw-1")
    target = wi("us-docker.pkg.dev/p/r", identity=GSA).replace(pull_from=("base",))
    manifests, _ = registry_secret_manifests(target, namespace="mlrun", services={"base": base})
    secret = next(m for m in manifests if m["kind"] == "Secret")
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert config["credHelpers"] == {"us-docker.pkg.dev": "gcr"}
    assert list(config["auths"]) == ["registry.example.com"]  # the helper's host has no static entry
    same_host = RegistryService(name="gar", url="us-docker.pkg.dev/p/other", username="oauth2accesstoken",
                                password="ya29.token")
    with pytest.raises(ConfigError) as info:
        registry_secret_manifests(target, namespace="mlrun", services={"base": same_host})
    assert info.value.field == "pull_from" and "hide the credential helper" in str(info.value)


def test_ecr_builds_mount_no_helper_secret_and_pod_identity_needs_no_annotation() -> None:
    manifests, notes = registry_secret_manifests(wi(f"{ECR}/team"), namespace="mlrun", fetch_ecr_token=False)
    assert [m["kind"] for m in manifests] == ["ServiceAccount"]
    assert "annotations" not in manifests[0]["metadata"]
    assert any("Pod Identity" in n for n in notes)
    target = push_target(wi(f"{ECR}/team", identity=ROLE), "fraud", "trainer")
    assert target.secret is None and target.pull_secret is None


@pytest.mark.parametrize(("fields", "field", "words"), [
    (dict(url="ghcr.io/acme", auth="workload-identity"), "auth", "ECR, ACR, GCR"),
    (dict(url="quay.io/acme", auth="workload-identity"), "auth", "ECR, ACR, GCR"),
    (dict(url="acme.azurecr.io", auth="workload-identity"), "identity", "client id"),
    (dict(url="acme.azurecr.io", auth="workload-identity", identity="not-a-guid"), "identity", "client id"),
    (dict(url="gcr.io/p", auth="workload-identity", identity="me@gmail.com"), "identity", "service account"),
    (dict(url=f"{ECR}/t", auth="workload-identity", identity="arn:aws:iam::1:user/x"), "identity", "role ARN"),
    (dict(url="gcr.io/p", auth="workload-identity", identity=GSA, username="_json_key", password="x"),
     "username", "no username"),
    (dict(url="gcr.io/p", identity=GSA), "identity", "only with auth"),
    (dict(url="gcr.io/p", auth="iam"), "auth", "allowed: keys, workload-identity"),
    (dict(url="docker.io/acme", cache=True), "cache", "Docker Hub"),
    (dict(url="gcr.io/p", cache="maybe"), "cache", "boolean"),
    (dict(url="gcr.io/p", service_account="Not_Valid"), "service_account", "DNS-1123"),
])
def test_bad_identity_or_cache_settings_name_the_field(fields: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        RegistryService(**fields)
    assert err.value.field == field and words in err.value.detail


def test_config_file_block_reaches_the_resolved_service(tmp_path: Path) -> None:
    text = yaml.safe_dump({"active": "gar", "services": {"gar": {
        "url": "us-docker.pkg.dev/p/r", "auth": "workload-identity", "identity": GSA,
        "service_account": "mlrun-builder", "cache": True}}})
    config = ConfigFile.from_text(tmp_path / "r.yaml", text)
    svc = config.services["gar"]
    assert (svc.auth, svc.identity, svc.service_account, svc.cache) == ("workload-identity", GSA, "mlrun-builder",
                                                                         True)
    assert svc.replace(cache=False).cache is False


def test_cache_repository_per_provider_and_where_it_is_written() -> None:
    gar = RegistryService(url="us-docker.pkg.dev/p/r", cache=True)
    target = push_target(gar, "fraud", "trainer")
    assert target.cache_repo == "us-docker.pkg.dev/p/r/func-fraud-trainer/cache"
    for url in (f"{ECR}/team", "ghcr.io/acme", "quay.io/acme", "registry.example.com/team"):
        svc = RegistryService(url=url, cache=True)
        assert push_target(svc, "fraud", "trainer").cache_repo == f"{url}/func-fraud-trainer/cache"
    assert push_target(RegistryService(url="ghcr.io/acme"), "fraud", "trainer").cache_repo is None
    config = platform_config(gar)
    assert config.nuclio_env[NUCLIO_CACHE_REPO_ENV] == "us-docker.pkg.dev/p/r/cache"
    assert "MLRUN_FUNCTION__SPEC__SERVICE_ACCOUNT__DEFAULT" not in config.mlrun_env
    ecr_repos = RegistryService(url=f"{ECR}/team", cache=True).rules.prepare_push(
        ["team/func-fraud-trainer"], ECR, with_cache=True).create_repositories
    assert "team/func-fraud-trainer/cache" in ecr_repos


def test_manifests_validate_against_kubernetes_schemas(tmp_path: Path) -> None:
    docs: list[dict[str, Any]] = []
    for svc in (wi("us-docker.pkg.dev/p/r", identity=GSA, service_account="mlrun-builder"),
                wi("acme.azurecr.io/ml", identity=CLIENT_ID), wi(f"{ECR}/team", identity=ROLE)):
        docs += registry_secret_manifests(svc, namespace="mlrun", fetch_ecr_token=False)[0]
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    checked = subprocess.run([str(ROOT / ".venv" / "bin" / "kubernetes-validate"), "--strict", "-k",
                              KUBERNETES_VERSION, str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("passed") == len(docs)


def test_secret_apply_patches_the_service_account_and_keeps_its_other_annotations(kube_apiserver,
                                                                                  kubeconfig) -> None:
    kube_apiserver.service_accounts[("mlrun", "default")] = {
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": "mlrun", "resourceVersion": "1",
                     "annotations": {"team": "ml"}}}
    kube_apiserver.namespaces.update({"mlrun", "fn"})
    svc = wi("acme.azurecr.io/ml", identity=CLIENT_ID)
    report = apply_registry_secret(svc, namespace="mlrun", to=["fn"], client=connect(str(kubeconfig)))
    assert [r.action for r in report.results] == ["created", "updated", "created", "created"]
    account = kube_apiserver.service_accounts[("mlrun", "default")]["metadata"]
    assert account["annotations"] == {"team": "ml", "azure.workload.identity/client-id": CLIENT_ID}
    assert account["labels"] == {"azure.workload.identity/use": "true"}
    assert kube_apiserver.service_accounts[("fn", "default")]["metadata"]["labels"] == account["labels"]
    again = apply_registry_secret(svc, namespace="mlrun", to=["fn"], client=connect(str(kubeconfig)))
    assert {r.action for r in again.results} == {"unchanged"}


# --- real clients -------------------------------------------------------------------------------------------
def test_irsa_exchange_gives_an_ecr_token_through_moto(aws, tmp_path: Path) -> None:
    import boto3

    iam = boto3.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                                                     "Principal": {"Federated": "oidc.eks"}}]}
    role = iam.create_role(RoleName="mlrun-builder", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    token_file = tmp_path / "token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.projected-service-account-token.sig\n")
    account = role.split(":")[4]
    svc = wi(f"{account}.dkr.ecr.us-east-1.amazonaws.com/team", identity=role)
    token = web_identity_ecr_token(svc, role, str(token_file))
    assert base64.b64decode(token.token.get_secret_value()).startswith(b"AWS:")
    assert aws.count("AssumeRoleWithWebIdentity") == 1 and aws.count("GetAuthorizationToken") == 1
    _name, ok, detail = check_web_identity(svc, {"AWS_ROLE_ARN": role, "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file)})
    assert ok and role in detail
    _name, ok, detail = check_web_identity(svc, {})
    assert not ok and "eks.amazonaws.com/role-arn" in detail
    other = role.replace("mlrun-builder", "someone-else")
    assert not check_web_identity(svc, {"AWS_ROLE_ARN": other, "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file)})[1]


def test_skopeo_pushes_through_the_credential_helper_named_in_the_generated_config(
        registry_htpasswd_tls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = registry_htpasswd_tls
    user, password = next(iter(registry.users.items()))
    # the package's config for a GAR service, re-addressed to the loopback registry
    config = core.credential_helper_config(wi("us-docker.pkg.dev/p/r", identity=GSA))
    helper = config["credHelpers"].pop("us-docker.pkg.dev")
    config["credHelpers"][registry.host] = helper
    authfile = tmp_path / "config.json"
    authfile.write_text(json.dumps(config))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "helper-calls"
    script = bin_dir / f"docker-credential-{helper}"
    script.write_text("#!/bin/sh\n"  # the docker credential-helper protocol: `get`, server URL on stdin
                      f'[ "$1" = get ] || exit 1\nread host\necho "$1 $host" >> {calls}\n'
                      f'printf \'{{"ServerURL":"%s","Username":"{user}","Secret":"{password}"}}\' "$host"\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(registry.ca_path, certs / "ca.crt")
    source = tmp_path / "image"  # skopeo's dir: layout of a small image
    image = build_image([random_layer(random.Random(3), 2048)])
    source.mkdir()
    (source / "manifest.json").write_bytes(image.manifest)
    for blob in image.blobs:
        (source / blob.digest.split(":", 1)[1]).write_bytes(blob.data or b"")
    (source / "version").write_text("Directory Transport Version: 1.1\n")
    pushed = subprocess.run(["skopeo", "copy", "--dest-authfile", str(authfile), "--dest-cert-dir", str(certs),
                             f"dir:{source}", f"docker://{registry.host}/team/func-fraud-trainer:latest"],
                            capture_output=True, text=True, timeout=60, env=os.environ.copy())
    assert pushed.returncode == 0, pushed.stderr[-600:]
    assert calls.read_text().split() == ["get", registry.host]
    without = tmp_path / "empty.json"
    without.write_text(json.dumps({"auths": {}}))
    refused = subprocess.run(["skopeo", "copy", "--dest-authfile", str(without), "--dest-cert-dir", str(certs),
                              f"dir:{source}", f"docker://{registry.host}/team/other:latest"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "unauthorized" in refused.stderr.lower()


@pytest.mark.timeout(120)  # may pay `import mlrun`
def test_mlrun_build_body_carries_cache_flags_and_the_helper_secret(mlrun_api, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import mlrun

    import mlrun_registry_ext as registry

    config = tmp_path / "registries.yaml"
    config.write_text(yaml.safe_dump({"active": "gar", "services": {"gar": {
        "url": "us-docker.pkg.dev/p/r", "auth": "workload-identity", "identity": GSA, "cache": True}}}))
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(config))
    project = mlrun.get_or_create_project("fraud", context=str(tmp_path))
    mlrun_api.clear()
    handler = tmp_path / "trainer.py"
    handler.write_text("def handler(context, event=None):\n    return 'ok'\n")
    fn = project.set_function(str(handler), name="trainer", kind="job", image="mlrun/mlrun", requirements=["pandas"])
    fn.spec.build.extra_args = "--build-arg A=b --cache=false"
    registry.configure_function(fn)
    registry.configure_function(fn)  # idempotent: the flags once
    project.build_function(fn)
    spec = mlrun_api.last_body("POST", "/api/v1/build/function")["function"]["spec"]
    assert spec["build"]["extra_args"] == ("--build-arg A=b --cache=true "
                                           "--cache-repo=us-docker.pkg.dev/p/r/func-fraud-trainer/cache")
    assert spec["build"]["secret"] == "mlrun-registry-gar"
    assert not spec.get("image_pull_secret")


def test_ecr_cache_repository_is_created_with_a_lifecycle_policy_that_expires_it(aws) -> None:
    import boto3

    from mlrun_registry_ext.clients.aws import ensure_repositories

    svc = RegistryService(url=f"{ECR}/team", cache=True)
    ensure_repositories(svc, ["team/func-fraud-trainer"], with_cache=True)
    ecr = boto3.client("ecr")
    policy = json.loads(ecr.get_lifecycle_policy(repositoryName="team/func-fraud-trainer/cache")
                        ["lifecyclePolicyText"])
    assert policy["rules"][0]["selection"]["countType"] == "sinceImagePushed"
    assert policy["rules"][0]["action"] == {"type": "expire"}
    with pytest.raises(ecr.exceptions.LifecyclePolicyNotFoundException):
        ecr.get_lifecycle_policy(repositoryName="team/func-fraud-trainer")
