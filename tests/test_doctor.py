"""The doctor, in-process and through the CLI, against real registries and broken peers."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.features.doctor import (
    API,
    AUTH,
    CONFIGURATION,
    DNS,
    ECR,
    ON_CLUSTER,
    PULL,
    PULL_SECRET,
    PUSH,
    TCP,
    TLS,
    DoctorReport,
    doctor,
)
from tests.support.aws import MotoServer
from tests.support.env import CANARY, run_cli
from tests.support.faults import ended_by_deadline
from tests.support.kube import KubeStandIn
from tests.support.registry import RunningRegistry

Factory = Callable[..., RunningRegistry]
TIMEOUT = 1.0


def by_name(report: DoctorReport) -> dict[str, Any]:
    return {c.name: c for c in report.checks}


def assert_all_pass(report: DoctorReport) -> None:
    assert report.ok, str(report)
    assert all(c.status in ("pass", "warn") or (c.name == TLS and not c.ran) for c in report.checks), str(
        report
    )


@pytest.fixture
def resolve_to_loopback(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Make a registry host name resolve to 127.0.0.1 (no DNS beyond loopback in tests)."""
    names: set[str] = set()
    real = socket.getaddrinfo

    def fake(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host in names else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return names.add


# --- outcomes a user relies on ------------------------------------------------------------------
def test_anonymous_registry_all_pass(registry_anonymous: RunningRegistry) -> None:
    report = doctor(registry_anonymous.service(), timeout=TIMEOUT)
    assert_all_pass(report)
    checks = by_name(report)
    assert [c.name for c in report.checks][:2] == [CONFIGURATION, "version gates"]
    assert {DNS, TCP, TLS, API, AUTH, PUSH, PULL} <= set(checks)
    assert "insecure" in checks[TLS].detail
    assert "can push to mlrun/*" in checks[PUSH].detail


def test_htpasswd_tls_with_ca_and_password_pass(registry_htpasswd_tls: RunningRegistry) -> None:
    report = doctor(registry_htpasswd_tls.service("ci-builder", "builder-pw-1", path="team"), timeout=TIMEOUT)
    assert_all_pass(report)
    checks = by_name(report)
    assert checks[TLS].ran and "TLS" in checks[TLS].detail
    assert "user ci-builder accepted" in checks[AUTH].detail
    assert "team/*" in checks[PUSH].detail


def test_missing_ca_and_wrong_password_each_get_their_own_diagnosis(
    registry_htpasswd_tls: RunningRegistry,
) -> None:
    no_ca = by_name(
        doctor(registry_htpasswd_tls.service("ci-builder", "builder-pw-1", ca=False), timeout=TIMEOUT)
    )
    assert not no_ca[TLS].ok
    assert no_ca[TLS].detail == (
        "certificate is signed by an unknown authority: set MLRUN_REGISTRY_EXT_CA_BUNDLE "
        "or the service's ca_bundle"
    )
    assert not no_ca[AUTH].ran and not no_ca[PUSH].ran

    wrong = by_name(doctor(registry_htpasswd_tls.service("ci-builder", "nope"), timeout=TIMEOUT))
    assert wrong[TLS].ok and wrong[API].ok
    assert not wrong[AUTH].ok
    assert (
        wrong[AUTH].detail == f"the password for user ci-builder was rejected by {registry_htpasswd_tls.host}"
    )
    assert not wrong[PUSH].ran


def test_hostname_mismatch_and_expired_certificates(registry_factory: Factory) -> None:
    mismatch = registry_factory(tls=True, cert_hosts=("localhost",))
    expired = registry_factory(tls=True, cert_days=-1)
    report = doctor([mismatch.service(name="mismatch"), expired.service(name="expired")], timeout=TIMEOUT)
    tls = {c.service: c for c in report.checks if c.name == TLS}
    assert "does not match 127.0.0.1" in tls["mismatch"].detail
    assert "has expired" in tls["expired"].detail


def test_token_auth_tells_pull_only_user_from_pusher(registry_token: RunningRegistry) -> None:
    users = registry_token.users
    pusher = doctor(registry_token.service("pusher", users["pusher"], path="team"), timeout=TIMEOUT)
    assert_all_pass(pusher)
    reader = by_name(doctor(registry_token.service("reader", users["reader"], path="team"), timeout=TIMEOUT))
    assert reader[AUTH].ok
    assert not reader[PUSH].ok
    assert reader[PUSH].detail == "user reader can pull but not push to team/*"
    assert reader[PULL].ok


def test_read_only_registry_push_fails_pull_passes(registry_readonly: RunningRegistry) -> None:
    report = doctor(registry_readonly.service(), timeout=TIMEOUT)
    checks = by_name(report)
    assert not report.ok
    assert not checks[PUSH].ok and "read-only" in checks[PUSH].detail
    assert checks[PULL].ok


def test_stopped_registry_fails_fast(closed_port_host: str) -> None:
    started = time.monotonic()
    report = doctor(RegistryService(url=closed_port_host), timeout=TIMEOUT)
    elapsed = time.monotonic() - started
    checks = by_name(report)
    assert not checks[TCP].ok and "refused" in checks[TCP].detail
    assert checks[DNS].ok
    assert ended_by_deadline(elapsed, TIMEOUT)


@pytest.mark.parametrize("insecure", [False, True])
def test_blackhole_fails_within_timeout(blackhole_host: str, insecure: bool) -> None:
    started = time.monotonic()
    report = doctor(RegistryService(url=blackhole_host, insecure=insecure), timeout=TIMEOUT)
    elapsed = time.monotonic() - started
    failed = [c for c in report.checks if not c.ok and c.ran]
    assert [c.name for c in failed] == [API if insecure else TLS]
    assert TCP in by_name(report) and by_name(report)[TCP].ok  # the port accepts: says which step hangs
    assert ended_by_deadline(elapsed, TIMEOUT), str(report)


def test_several_registries_concurrently_cost_one_timeout(
    registry_anonymous: RunningRegistry,
    registry_htpasswd_tls: RunningRegistry,
    registry_token: RunningRegistry,
    registry_readonly: RunningRegistry,
    blackhole_host: str,
) -> None:
    services = [
        registry_anonymous.service(name="anon"),
        registry_htpasswd_tls.service("ci-builder", "builder-pw-1", name="tls"),
        registry_token.service("pusher", registry_token.users["pusher"], name="token"),
        registry_readonly.service(name="readonly"),
        RegistryService(name="blackhole", url=blackhole_host),
    ]
    started = time.monotonic()
    report = doctor(services, timeout=TIMEOUT)
    elapsed = time.monotonic() - started
    assert ended_by_deadline(elapsed, TIMEOUT), str(report)
    status = {r.service.name: r.ok for r in report.registries}
    assert status == {"anon": True, "tls": True, "token": True, "readonly": False, "blackhole": False}
    data = report.to_dict()
    assert data["ok"] is False
    assert {c["service"] for c in data["checks"]} == set(status)
    assert [r["name"] for r in data["registries"]] == list(status)


def test_nothing_is_left_behind(registry_anonymous: RunningRegistry) -> None:
    report = doctor(registry_anonymous.service(), timeout=TIMEOUT)
    assert report.ok
    uploads = (
        registry_anonymous.root / "data/docker/registry/v2/repositories/mlrun/mlrun-registry-doctor/_uploads"
    )
    assert not [p for p in uploads.glob("*/*") if p.name in ("data", "startedat")]
    assert not (registry_anonymous.root / "data/docker/registry/v2/blobs").exists()


def test_invalid_ca_bundle_is_a_configuration_failure(
    registry_htpasswd_tls: RunningRegistry, tmp_path: Path
) -> None:
    service = registry_htpasswd_tls.service(ca_bundle=str(tmp_path / "missing.pem"), ca=False)
    report = doctor(service, timeout=TIMEOUT)
    assert report.configuration_failed
    assert [c.name for c in report.checks] == [CONFIGURATION]
    assert "missing.pem" in report.checks[0].detail


def test_on_cluster_registry_warns(
    registry_anonymous: RunningRegistry, resolve_to_loopback: Callable[[str], None]
) -> None:
    resolve_to_loopback("docker-registry")
    port = registry_anonymous.host.rsplit(":", 1)[1]
    report = doctor(RegistryService(url=f"docker-registry:{port}", insecure=True), timeout=TIMEOUT)
    assert report.ok, str(report)
    warning = by_name(report)[ON_CLUSTER]
    assert warning.status == "warn" and "lost" in warning.detail


def test_ecr_checks_come_from_aws_through_moto(
    aws: MotoServer, closed_port_host: str, resolve_to_loopback: Callable[[str], None]
) -> None:
    from tests.support.aws import ECR_HOST, iam_user_with_policy

    resolve_to_loopback(ECR_HOST)
    port = closed_port_host.rsplit(":", 1)[1]
    narrow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
        "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer", "ecr:DescribeRepositories"]}]}
    key_id, secret = iam_user_with_policy(narrow)
    service = RegistryService(url=f"{ECR_HOST}:{port}/team", username=key_id, password=secret)
    # --timeout bounds the whole run; importing boto3 and moto's IAM answers take a loaded 2-core machine
    # more than the 1 s the loopback-only checks get
    report = doctor(service, timeout=15)
    ecr = by_name(report)[ECR]
    assert not ecr.ok and "ecr:CreateRepository" in ecr.detail
    assert secret not in str(report) and secret not in json.dumps(report.to_dict())


def test_report_renders_for_people_and_notebooks(registry_readonly: RunningRegistry) -> None:
    report = doctor(registry_readonly.service(), timeout=TIMEOUT)
    text = str(report)
    assert "FAIL" in text and PUSH in text and "registry default" in text
    assert repr(report).startswith("DoctorReport(ok=False") and "default: push permission" in repr(report)
    html = report._repr_html_()
    assert html.startswith("<table>") and "<td>push permission</td>" in html
    json.dumps(report.to_dict())
    for check in report.to_dict()["checks"]:
        assert {"name", "ok", "detail", "seconds", "service"} <= set(check)


# --- the CLI --------------------------------------------------------------------------------------------
def _env(registry: RunningRegistry, password: str, **extra: str) -> dict[str, str]:
    env = {
        "MLRUN_REGISTRY_EXT_URL": f"https://{registry.host}/team",
        "MLRUN_REGISTRY_EXT_USERNAME": "ci-builder",
        "MLRUN_REGISTRY_EXT_PASSWORD": password,
        "MLRUN_REGISTRY_EXT_CA_BUNDLE": str(registry.ca_path),
    }
    env.update(extra)
    return env


def test_cli_exit_codes_json_and_canary(registry_factory: Factory, caplog: pytest.LogCaptureFixture) -> None:
    """Exit 0/1/2, JSON for scripts, a table for people; the password never shows (CLI, logs, reprs)."""
    registry = registry_factory(auth="htpasswd", tls=True, htpasswd_users={"ci-builder": CANARY})
    runs = {
        "good-json": (("--json",), _env(registry, CANARY)),
        "good-table": ((), _env(registry, CANARY)),
        "bad-json": (("--json",), _env(registry, CANARY + "-wrong")),
        "bad-table": ((), _env(registry, CANARY + "-wrong")),
        "invalid": (
            (),
            {"MLRUN_REGISTRY_EXT_URL": "ftp://registry.example.com", "MLRUN_REGISTRY_EXT_PASSWORD": CANARY},
        ),
    }
    with ThreadPoolExecutor(len(runs)) as pool:  # each CLI start costs ~1-2 s on a cold 2-core machine
        futures = {
            k: pool.submit(run_cli, "doctor", "--timeout", "2", *flags, env=env)
            for k, (flags, env) in runs.items()
        }
        results = {k: f.result() for k, f in futures.items()}
    assert [results[k].code for k in runs] == [0, 0, 1, 1, 2], {k: r.output for k, r in results.items()}
    data = json.loads(results["good-json"].stdout)
    assert data["ok"] is True and {c["name"] for c in data["checks"]} >= {TLS, AUTH, PUSH, PULL}
    bad = json.loads(results["bad-json"].stdout)
    assert [c["name"] for c in bad["checks"] if not c["ok"] and c["ran"]] == [AUTH]
    assert "push permission" in results["good-table"].stdout and "PASS" in results["good-table"].stdout
    assert "rejected" in results["bad-table"].stdout
    assert "url" in results["invalid"].stderr

    caplog.set_level(logging.DEBUG)
    outputs = [r.output for r in results.values()]
    for password in (CANARY, CANARY + "-wrong"):
        report = doctor(registry.service("ci-builder", password), timeout=TIMEOUT)
        outputs += [str(report), repr(report), report._repr_html_(), json.dumps(report.to_dict())]
    assert CANARY not in "\n".join(outputs) + caplog.text


def test_all_checks_every_configured_service(
    registry_anonymous: RunningRegistry,
    closed_port_host: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "registries.yaml"
    config.write_text(
        json.dumps(
            {
                "active": "main",
                "services": {
                    "main": {"url": registry_anonymous.host, "insecure": True},
                    "old": {"url": closed_port_host, "insecure": True},
                },
            }
        )
    )
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CONFIG", str(config))
    assert [r.service.name for r in doctor(timeout=TIMEOUT).registries] == ["main"]
    report = doctor(all=True, timeout=TIMEOUT)
    assert {r.service.name: r.ok for r in report.registries} == {"main": True, "old": False}
    assert {c.service for c in report.checks} == {"main", "old"}


def test_pull_secret_checked_in_the_functions_namespace(
    registry_anonymous: RunningRegistry, kube_apiserver: KubeStandIn, kubeconfig: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlrun_registry_ext.clients import kube

    kube.connect()  # the first `import kubernetes` takes longer than this test's 1 s budget per check
    monkeypatch.setenv("MLRUN_NAMESPACE", "team-a")
    service = registry_anonymous.service(secret_name="team-pull")
    missing = by_name(doctor(service, timeout=TIMEOUT))[PULL_SECRET]
    assert not missing.ok and "team-pull does not exist in namespace team-a" in missing.detail
    assert "mlrun-registry secret apply -n team-a" in missing.detail

    kube_apiserver.put_secret("team-a", "team-pull", {"type": "Opaque", "data": {"x": "eA=="}})
    wrong = by_name(doctor(service, timeout=TIMEOUT))[PULL_SECRET]
    assert not wrong.ok and "not kubernetes.io/dockerconfigjson" in wrong.detail

    kube_apiserver.put_secret("team-a", "team-pull", {"type": "kubernetes.io/dockerconfigjson",
                                                      "data": {".dockerconfigjson": "e30="}})
    report = doctor(service, timeout=TIMEOUT)
    assert by_name(report)[PULL_SECRET].ok and report.ok


def test_no_cluster_no_pull_secret_check(registry_anonymous: RunningRegistry, monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    report = doctor(registry_anonymous.service(secret_name="team-pull"), timeout=TIMEOUT)
    assert PULL_SECRET not in by_name(report) and report.ok
