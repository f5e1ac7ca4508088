"""Misbehaving peers: every wait bounded, every buffered body capped, tokens
never shown, one definition of same origin, proxies honoured by the doctor, a private cache directory.

Peers are the loopback fault servers of tests/support/faults.py; registries are Debian's real
``docker-registry``; the proxy is Debian's real ``tinyproxy`` (started as in test_http_transport).
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from mlrun_registry_ext.clients.registry.client import RegistryClient
from mlrun_registry_ext.clients.registry.errors import RegistryConnectionError
from mlrun_registry_ext.clients.transport import (
    MAX_BODY,
    BodyTooLarge,
    Deadline,
    StallDeadline,
    Transport,
    TransportError,
    TransportTimeout,
    no_proxy_matches,
)
from mlrun_registry_ext.core.origin import registry_origin, same_origin, same_registry, split_host_port
from tests.support import faults
from tests.support.env import installed_python, outside_tree
from tests.support.faults import ended_by_deadline
from tests.support.registry import RunningRegistry
from tests.test_http_transport import PROXY_PASSWORD, PROXY_USER, tinyproxy  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[1]
CANARY = "CANARY-token-7f3a9"

#: The real command line, timed from inside the process (start-up of the interpreter excluded).
TIMED_CLI = """
import sys, time
from mlrun_registry_ext.cli import main
started = time.monotonic()
code = main(sys.argv[1:])
print(f"cli-seconds: {time.monotonic() - started:.3f}", file=sys.stderr)
sys.exit(code)
"""


def timed_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str, str, float]:
    """``(exit code, stdout, stderr without the timing line, seconds main() took)``."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("MLRUN_REGISTRY_EXT_") and k not in ("MLRUN_DBPATH", "NUCLIO_DASHBOARD_URL")
            and not k.lower().endswith("_proxy")}
    base.update({"MLRUN_IGNORE_ENV_FILE": "true", **(env or {})})
    proc = subprocess.run([installed_python(), "-c", TIMED_CLI, *args],
                          cwd=outside_tree(), env=base, capture_output=True,
                          text=True, timeout=timeout)
    lines = proc.stderr.splitlines()
    timing = [line for line in lines if line.startswith("cli-seconds:")]
    assert len(timing) == 1, proc.stderr
    rest = "\n".join(line for line in lines if line not in timing)
    return proc.returncode, proc.stdout, rest, float(timing[0].split()[1])


def _elapsed(fn: Any) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        fn()
    except BaseException as exc:
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


# --- item 5: overall deadlines ------------------------------------------------------------------------
def test_a_server_dripping_headers_cannot_hold_a_request_past_its_deadline() -> None:
    with faults.fault_server(faults.drip_headers) as server, Transport(timeout=1.0) as http:
        seconds, error = _elapsed(lambda: http.request("GET", server.url + "/v2/"))
    assert isinstance(error, TransportTimeout)
    # each byte came within the per-read timeout: only the overall deadline ends it (never before it)
    assert seconds >= 0.9 and ended_by_deadline(seconds, 1.0)


def test_a_server_dripping_the_body_cannot_hold_a_read_past_its_deadline() -> None:
    with faults.fault_server(faults.drip_body) as server, Transport(timeout=1.0) as http:
        seconds, error = _elapsed(lambda: http.request("GET", server.url + "/v2/_catalog"))
    assert isinstance(error, TransportTimeout)
    assert ended_by_deadline(seconds, 1.0)


def test_a_dripping_blob_stream_fails_on_its_stall_limit_not_a_fixed_total() -> None:
    with faults.fault_server(faults.drip_body) as server, Transport(timeout=30) as http:
        response = http.request("GET", server.url + "/blob", stream=True, deadline=StallDeadline(1.0, 4096))
        buffer = bytearray(1 << 16)
        seconds, error = _elapsed(lambda: [None for _ in iter(lambda: response.readinto(buffer), 0)])
        response.close()
    assert isinstance(error, TransportTimeout)
    assert "less than 4 KiB/s" in error.detail  # bytes kept coming: the throughput floor ended it
    assert ended_by_deadline(seconds, 1.0)


def test_a_blob_stream_that_goes_silent_fails_on_its_stall_limit() -> None:
    deadline = StallDeadline(0.5, 1.0)
    deadline.progress(10)
    time.sleep(0.6)
    with pytest.raises(TransportTimeout, match=r"sent nothing for 0\.5 s"):
        deadline.left()
    assert Deadline(5).left() > 4.9


def test_show_with_mlrun_dbpath_at_a_dripping_server_finishes_within_the_probe_deadline() -> None:
    from mlrun_registry_ext.clients.platform_probe import DEFAULT_TIMEOUT

    with faults.fault_server(faults.drip_headers) as server:
        code, out, err, seconds = timed_cli(
            "show", "--json", env={"MLRUN_DBPATH": server.url, "MLRUN_REGISTRY_EXT_URL": "registry.example.com/team"})
    assert code == 0, err
    assert ended_by_deadline(seconds, DEFAULT_TIMEOUT)
    assert "did not answer within" in out + err


def test_doctor_timeout_2_finishes_within_3_s_against_a_dripping_registry_and_mlrun_server() -> None:
    with faults.fault_server(faults.drip_headers) as registry, faults.fault_server(faults.drip_body) as mlrun:
        code, out, err, seconds = timed_cli(
            "doctor", "--timeout", "2",
            env={"MLRUN_REGISTRY_EXT_URL": f"http://{registry.host}:{registry.port}/team", "MLRUN_DBPATH": mlrun.url})
    assert code == 1, out + err
    assert ended_by_deadline(seconds, 2), (seconds, out)
    assert "FAIL" in out


def test_migrate_from_a_dripping_source_fails_within_its_stall_limit_with_a_one_line_error(
        registry_anonymous: RunningRegistry) -> None:
    with faults.fault_server(faults.drip_headers) as source:
        code, out, err, seconds = timed_cli(
            "migrate", "--from", f"http://{source.host}:{source.port}", "--to", registry_anonymous.url,
            "--timeout", "1", "--no-progress")
    assert code == 1, out + err
    # one stalled try and one retry (a stall is retried once), with a backoff of at most 0.5 s
    assert ended_by_deadline(seconds, 2 * 1 + 0.5), seconds
    errors = [line for line in err.splitlines() if "error" in line]  # (the retry is logged as a warning)
    assert len(errors) == 1 and "did not answer within 1 s" in errors[0] and "Traceback" not in err


# --- item 6: capped bodies -----------------------------------------------------------------------------
def _peak(fn: Any) -> tuple[int, BaseException | None]:
    tracemalloc.start()
    try:
        _, error = _elapsed(fn)
        return tracemalloc.get_traced_memory()[1], error
    finally:
        tracemalloc.stop()


def test_an_endless_catalog_is_a_bounded_error_not_a_memory_error() -> None:
    with faults.fault_server(faults.endless_body()) as server, \
            RegistryClient(f"{server.host}:{server.port}", insecure=True, timeout=10) as client:
        client._anonymous_ok = True  # an open registry: straight to the listing
        peak, error = _peak(lambda: client.catalog())
    assert isinstance(error, RegistryConnectionError) and error.kind == "too-large"
    assert f"{MAX_BODY} bytes" in str(error)
    assert peak < 4 * MAX_BODY  # what the cap allows (plus copies), not what the server sent


def test_an_endless_401_body_is_cut_and_the_challenge_still_read() -> None:
    challenge = b'WWW-Authenticate: Basic realm="x"\r\nDocker-Distribution-Api-Version: registry/2.0\r\n'
    with faults.fault_server(faults.endless_body(401, challenge)) as server, \
            RegistryClient(f"{server.host}:{server.port}", insecure=True, timeout=10) as client:
        peak, error = _peak(lambda: client.ping())
        assert error is None
        assert client.ping().status == 401
    assert peak < 2 << 20


def test_a_body_cut_mid_way_and_endless_headers_are_one_line_transport_errors() -> None:
    with faults.fault_server(faults.close_mid_body) as server, Transport(timeout=5) as http, \
            pytest.raises(TransportError, match="closed after 10 of the 1000 bytes") as cut:
        http.request("GET", server.url + "/x")
    with faults.fault_server(faults.huge_headers) as server, Transport(timeout=5) as http:
        peak, error = _peak(lambda: http.request("GET", server.url + "/x"))
    assert isinstance(error, TransportError) and "\n" not in str(error) and "\n" not in str(cut.value)
    assert peak < 8 << 20


def test_an_oversized_answer_is_refused_from_its_content_length_before_reading() -> None:
    def big(conn: Any, request: faults.Request, server: faults.FaultServer) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n")

    with faults.fault_server(big) as server, Transport(timeout=5) as http, pytest.raises(BodyTooLarge):
        http.request("GET", server.url + "/x")


# --- item 3: a token is never shown ------------------------------------------------------------------
def test_a_token_with_a_newline_is_refused_and_never_shown_by_doctor_or_migrate(
        registry_anonymous: RunningRegistry) -> None:
    with faults.fault_server(faults.token_registry(f"{CANARY}\nX-Injected: 1")) as server:
        host = f"{server.host}:{server.port}"
        env = {"MLRUN_REGISTRY_EXT_URL": f"http://{host}/team", "MLRUN_REGISTRY_EXT_USERNAME": "ci",
               "MLRUN_REGISTRY_EXT_PASSWORD": "pw-1"}
        code, out, err, _ = timed_cli("doctor", "--json", "--timeout", "5", env=env)
        assert code == 1
        assert CANARY not in out + err and "malformed token" in out
        code, out, err, _ = timed_cli("migrate", "--from", f"http://{host}", "--to", registry_anonymous.url,
                                      "--no-progress", env={"MLRUN_REGISTRY_EXT_MIGRATE_FROM_USERNAME": "ci",
                                                            "MLRUN_REGISTRY_EXT_MIGRATE_FROM_PASSWORD": "pw-1"})
        assert code == 1 and "malformed token" in err
        assert CANARY not in out + err
        # and the injected header line never reached the registry
        assert not any("x-injected" in r.headers for r in server.requests)


# --- item 11: one definition of same origin ------------------------------------------------------------
def test_same_origin_ignores_host_case_and_the_default_port() -> None:
    assert same_origin("http://LOCALHOST/v2/x", "http://localhost:80/v2/y")
    assert same_origin("https://Registry.Example.com:443/a", "https://registry.example.com/b")
    assert not same_origin("https://registry.example.com/a", "http://registry.example.com/a")
    assert not same_origin("https://registry.example.com/a", "https://registry.example.com:5000/a")
    assert same_registry("localhost", "LOCALHOST:443") and not same_registry("localhost", "localhost:5000")
    assert split_host_port("[::1]:5000") == ("::1", 5000) and split_host_port("[::1]") == ("::1", None)
    assert registry_origin("[::1]:5000").netloc == "[::1]:5000"
    client = RegistryClient("localhost", insecure=True)
    assert same_origin(client.url("http://LOCALHOST:80/v2/team/x/blobs/uploads/1"), client.origin)


def test_an_upload_location_spelling_the_host_in_capitals_keeps_the_credentials() -> None:
    upload = faults.basic_registry_with_upload_location(lambda s: f"http://LOCALHOST:{s.port}/upload/1")
    with faults.fault_server(upload, host="127.0.0.1") as server, \
            RegistryClient(f"localhost:{server.port}", username="ci", password=SecretStr("pw-1"), insecure=True,
                           timeout=5) as client:
        client.check_push("team/app")  # POST, then DELETE of the Location: both authenticated
    deletes = [r for r in server.requests if r.method == "DELETE"]
    assert deletes and deletes[0].headers.get("authorization", "").startswith("Basic ")


def test_redirects_to_another_origin_drop_credentials_and_loops_end_with_an_error() -> None:
    with faults.fault_server(faults.redirect_loop) as server, Transport(timeout=5) as http, \
            pytest.raises(TransportError, match="more than 10 redirects"):
        http.request("GET", server.url + "/start", follow_redirects=True)
    with faults.fault_server(faults.redirect_to(lambda s: f"http://localhost:{s.port}/landed")) as server, \
            Transport(timeout=5) as http:
        http.request("GET", server.url + "/start", headers={"Authorization": "Basic eA=="}, follow_redirects=True)
    assert [("authorization" in r.headers) for r in server.requests] == [True, False]  # 127.0.0.1 -> localhost


# --- item 10: migrate --to uses the active service's CA bundle and login for the same registry ----------
def test_migrate_to_an_explicit_url_uses_the_active_services_ca_bundle_and_login(
        registry_anonymous: RunningRegistry, registry_htpasswd_tls: RunningRegistry) -> None:
    target = registry_htpasswd_tls
    user, password = next(iter(target.users.items()))
    port = target.host.rsplit(":", 1)[1]
    env = {"MLRUN_REGISTRY_EXT_URL": f"https://localhost:{port}", "MLRUN_REGISTRY_EXT_USERNAME": user,
           "MLRUN_REGISTRY_EXT_PASSWORD": password, "MLRUN_REGISTRY_EXT_CA_BUNDLE": str(target.ca_path)}
    spelled = f"LOCALHOST:{port}"  # the same registry, spelled differently (no scheme, capitals)
    code, out, err, _ = timed_cli("migrate", "--from", registry_anonymous.url, "--to", spelled, "--no-progress",
                                  env=env)
    assert code == 0, out + err
    assert password not in out + err


# --- item 12: proxies ----------------------------------------------------------------------------------
def test_no_proxy_cidr_ranges_are_honoured_as_curl_reads_them() -> None:
    assert no_proxy_matches("10.0.0.0/8", "10.1.2.3", 443)
    assert no_proxy_matches("127.0.0.0/8,example.com", "127.0.0.1:5000", 5000)
    assert no_proxy_matches(".example.com", "registry.example.com", 443)
    assert no_proxy_matches("example.com", "example.com", 443)
    assert no_proxy_matches("::1/128", "::1", 443) and no_proxy_matches("*", "anything", 1)
    assert not no_proxy_matches("10.0.0.0/8", "11.0.0.1", 443)
    assert not no_proxy_matches("example.com", "notexample.com", 443)
    assert not no_proxy_matches("example.com:5000", "example.com", 443)


def test_doctor_reaches_a_registry_through_https_proxy_dns_tcp_and_tls_included(
        registry_htpasswd_tls: RunningRegistry, tinyproxy: str) -> None:  # noqa: F811
    target = registry_htpasswd_tls
    user, password = next(iter(target.users.items()))
    env = {"MLRUN_REGISTRY_EXT_URL": target.host, "MLRUN_REGISTRY_EXT_USERNAME": user,
           "MLRUN_REGISTRY_EXT_PASSWORD": password, "MLRUN_REGISTRY_EXT_CA_BUNDLE": str(target.ca_path),
           "HTTPS_PROXY": f"http://{PROXY_USER}:{PROXY_PASSWORD}@{tinyproxy}", "NO_PROXY": ""}
    code, out, err, _ = timed_cli("doctor", "--json", env=env)
    import json

    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert code == 0, out + err
    assert "the proxy" in checks["DNS resolution"]["detail"]
    assert tinyproxy.split(":")[1] in checks["TCP connect"]["detail"]
    assert "through the proxy" in checks["TLS handshake"]["detail"]
    assert PROXY_PASSWORD not in out + err


def test_a_refused_proxy_is_reported_as_the_proxy_and_no_proxy_cidr_bypasses_it(
        registry_htpasswd_tls: RunningRegistry, closed_port_host: str) -> None:
    target = registry_htpasswd_tls
    user, password = next(iter(target.users.items()))
    env = {"MLRUN_REGISTRY_EXT_URL": target.host, "MLRUN_REGISTRY_EXT_USERNAME": user,
           "MLRUN_REGISTRY_EXT_PASSWORD": password, "MLRUN_REGISTRY_EXT_CA_BUNDLE": str(target.ca_path),
           "HTTPS_PROXY": f"http://{closed_port_host}", "NO_PROXY": ""}
    code, out, _, _ = timed_cli("doctor", env=env)
    assert code == 1 and "the proxy" in out and "refused" in out
    client = RegistryClient(target.host, ca_bundle=str(target.ca_path), timeout=5)
    os.environ["HTTPS_PROXY"] = f"http://{closed_port_host}"
    try:
        with pytest.raises(RegistryConnectionError, match=r"the proxy .* refused") as caught:
            client.ping()
        assert caught.value.kind == "proxy"
    finally:
        os.environ.pop("HTTPS_PROXY")
        client.close()
    code, out, err, _ = timed_cli("doctor", env={**env, "NO_PROXY": "127.0.0.0/8,::1/128"})
    assert code == 0, out + err


# --- item 13: a shared cache directory keeps its mode ---------------------------------------------------
def test_a_shared_cache_directory_keeps_its_mode_and_gets_a_private_subdirectory(tmp_path: Path) -> None:
    from mlrun_registry_ext.clients.aws import _locked_cache

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with _locked_cache(shared) as cache_file:
        pass
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert cache_file.parent == shared / f"mlrun-registry-ext-{os.getuid()}"
    assert stat.S_IMODE(cache_file.parent.stat().st_mode) == 0o700
    fresh = tmp_path / "fresh" / "cache"
    with _locked_cache(fresh) as cache_file:
        pass
    assert cache_file.parent == fresh and stat.S_IMODE(fresh.stat().st_mode) == 0o700


