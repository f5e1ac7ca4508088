"""Doctor: prove a registry works (reachable, trusted, credentials, push and pull) before a build needs it.

Builds fail late and obscurely when a registry is wrong (a Kaniko pod times out or gets ``DENIED``
minutes in). The doctor runs the same steps a push does, one check each, so the first failing
check names the cause. Nothing is pushed: push rights are proven by opening a blob upload and
cancelling it. ``timeout`` bounds the whole run (wall time, not per read: asking the MLRun API and
Nuclio, then every check shares it), and several registries are checked concurrently, so the doctor
is over within the timeout (plus :data:`GRACE`) whatever a peer does. Through ``HTTPS_PROXY`` the
DNS and TCP checks are the proxy's, and the TLS check runs through its CONNECT tunnel, as a build would.
"""

from __future__ import annotations

import html
import ipaddress
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from mlrun_registry_ext.clients.platform_probe import PlatformInfo, probe_platform
from mlrun_registry_ext.core.origin import Origin, bracketed, split_host_port
from mlrun_registry_ext.core.providers import Provider
from mlrun_registry_ext.core.service import DEFAULT_REPOSITORY, RegistryService
from mlrun_registry_ext.errors import ConfigError, RegistryAPIError, RegistryExtError

log = logging.getLogger(__name__)

Severity = Literal["info", "warning", "error"]
DOCTOR_IMAGE = "mlrun-registry-doctor"
#: Slack on top of ``timeout`` before an unresponsive check is abandoned (its own timeouts fire first).
GRACE = 0.1

CONFIGURATION = "configuration"
VERSION_GATES = "version gates"
DNS = "DNS resolution"
TCP = "TCP connect"
TLS = "TLS handshake"
API = "registry API (/v2/)"
AUTH = "authentication"
PUSH = "push permission"
PULL = "pull permission"
ECR = "ECR (AWS)"
ON_CLUSTER = "on-cluster registry"
PULL_SECRET = "pull secret in cluster"


@dataclass(frozen=True)
class Check:
    """One step's outcome. ``ran`` is False when an earlier failure (or the set-up) made it moot."""

    name: str
    ok: bool
    detail: str
    seconds: float = 0.0
    severity: Severity = "info"
    service: str = ""
    ran: bool = True

    @property
    def status(self) -> str:
        if not self.ran:
            return "skip"
        if not self.ok:
            return "fail"
        return "warn" if self.severity == "warning" else "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "seconds": round(self.seconds, 4),
            "severity": self.severity,
            "status": self.status,
            "ran": self.ran,
            "service": self.service,
        }


@dataclass
class RegistryReport:
    """The checks of one registry service, in the order they ran."""

    service: RegistryService
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.service.name,
            "url": self.service.url,
            "provider": self.service.provider.value,
            "ok": self.ok,
            "seconds": round(self.seconds, 4),
            "failed": [c.name for c in self.checks if not c.ok and c.ran],
        }


@dataclass
class DoctorReport:
    """All registries' checks. ``ok`` is True only when every check passed (warnings pass)."""

    registries: list[RegistryReport]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.registries)

    @property
    def checks(self) -> list[Check]:
        return [c for r in self.registries for c in r.checks]

    @property
    def configuration_failed(self) -> bool:
        """True when a service's configuration itself is invalid (the CLI exits 2, like a ConfigError)."""
        return any(c.name == CONFIGURATION and not c.ok for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [c.to_dict() for c in self.checks],
            "registries": [r.to_dict() for r in self.registries],
        }

    def __repr__(self) -> str:
        failed = [f"{c.service}: {c.name}" for c in self.checks if not c.ok and c.ran]
        names = [r.service.name for r in self.registries]
        return f"DoctorReport(ok={self.ok}, registries={names}, failed={failed})"

    def __str__(self) -> str:
        lines: list[str] = []
        for registry in self.registries:
            lines.append(
                f"registry {registry.service.name} ({registry.service.scheme}://{registry.service.url}, "
                f"{registry.service.provider.value}): {'OK' if registry.ok else 'FAILED'} "
                f"in {registry.seconds:.2f} s"
            )
            width = max((len(c.name) for c in registry.checks), default=0)
            lines.extend(
                f"  {c.status.upper():4}  {c.name:{width}}  {c.seconds:6.3f} s  {c.detail}"
                for c in registry.checks
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colours = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e", "skip": "#6e7781"}
        rows = "".join(
            f"<tr><td>{html.escape(c.service)}</td><td>{html.escape(c.name)}</td>"
            f"<td style='color:{colours[c.status]};font-weight:bold'>{c.status.upper()}</td>"
            f"<td style='text-align:right'>{c.seconds:.3f} s</td>"
            f"<td style='text-align:left'>{html.escape(c.detail)}</td></tr>"
            for c in self.checks
        )
        return (
            f"<table><caption>Registry doctor: <b>{'OK' if self.ok else 'FAILED'}</b></caption>"
            "<tr><th>registry</th><th>check</th><th>status</th><th>time</th><th>detail</th></tr>"
            f"{rows}</table>"
        )

    def __rich__(self) -> Any:
        """A rich table (rich is imported only when a console renders the report)."""
        from rich.table import Table

        styles = {"pass": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}
        several = len(self.registries) > 1
        table = Table(title=f"Registry doctor: {'OK' if self.ok else 'FAILED'}", title_justify="left")
        if several:
            table.add_column("registry")
        table.add_column("check")
        table.add_column("status")
        table.add_column("time", justify="right")
        table.add_column("detail", overflow="fold")
        for check in self.checks:
            cells = [
                check.name,
                f"[{styles[check.status]}]{check.status.upper()}[/]",
                f"{check.seconds:.3f} s",
                check.detail,
            ]
            table.add_row(*([check.service] if several else []), *cells)
        return table


# --- running checks with a hard time bound -------------------------------------------------------
Outcome = tuple[bool, str, Severity]


class _Budget:
    """The time left for one check: every network step inside it gets at most this."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.01, self.end - time.monotonic())


class _Running:
    """A check running in a daemon thread; :meth:`outcome` waits at most until its deadline.

    So no check exceeds ``timeout`` (plus :data:`GRACE`) even when a peer drips bytes; an abandoned
    thread ends on its own (its socket timeouts use the same budget) and its result is ignored.
    """

    def __init__(self, fn: Callable[[_Budget], Outcome], timeout: float) -> None:
        self.started = time.monotonic()
        self.finished: float | None = None
        self.timeout = timeout
        self._box: list[Outcome | BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(fn, _Budget(timeout)), daemon=True, name="registry-doctor-check"
        )
        self._thread.start()

    def _run(self, fn: Callable[[_Budget], Outcome], budget: _Budget) -> None:
        try:
            self._box.append(fn(budget))
        except BaseException as exc:  # re-raised in the caller's thread by outcome()
            self._box.append(exc)
        self.finished = time.monotonic()

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def outcome(self) -> Outcome:
        self._thread.join(max(0.0, self.started + self.timeout + GRACE - time.monotonic()))
        if not self._box:
            return False, f"no answer within {self.timeout:g} s", "error"
        result = self._box[0]
        if isinstance(result, BaseException):
            raise result
        return result


def doctor_repository(service: RegistryService) -> str:
    """The repository the doctor probes: where MLRun puts function images (``<path>/<prefix><name>``)."""
    return f"{service.path or DEFAULT_REPOSITORY}/{service.image_prefix}{DOCTOR_IMAGE}"


def _namespace(service: RegistryService) -> str:
    return f"{service.path or DEFAULT_REPOSITORY}/{service.image_prefix}*"


def _split_host(host: str, default_port: int) -> tuple[str, int]:
    """``host[:port]`` / ``[v6]:port`` -> (name, port), through the one splitter (core.origin)."""
    name, port = split_host_port(host)
    return name, port or default_port


class _RegistryDoctor:
    """The checks for one service, sharing what earlier checks learnt (addresses, client, auth).

    An invalid configuration stops everything. After a failed network step the later ones are
    listed as not run: they are what remains unproven.
    """

    def __init__(self, service: RegistryService, timeout: float, platform: _PlatformOnce,
                 end: float | None = None) -> None:
        from mlrun_registry_ext.clients.registry import client as registry_http

        self.http = registry_http
        self.platform = platform
        self.service = service
        self.timeout = timeout
        #: when the whole doctor run must be over (monotonic): every check gets what is left
        self.end = time.monotonic() + timeout if end is None else end
        self.proxy: Any = None
        self.proxy_problem: str | None = None
        self.report = RegistryReport(service)
        self.client: registry_http.RegistryClient | None = None
        try:
            self.hostname, self.port = _split_host(service.host, 80 if service.insecure else 443)
        except ValueError:
            self.hostname, self.port = service.host, 80 if service.insecure else 443
        self.addresses: list[tuple[Any, ...]] = []
        self.address: tuple[Any, ...] | None = None
        self.authenticated = False
        self.secrets = [service.password.get_secret_value()] if service.password is not None else []

    # --- driver ----------------------------------------------------------------------------------
    def run(self) -> RegistryReport:
        start = time.monotonic()
        try:
            if self._check(CONFIGURATION, self.configuration, local=True):
                # The gates ask the MLRun API and Nuclio, not the registry: run them alongside.
                gates = _Running(self.version_gates, self._left())
                self._network()
                if self.service.provider is Provider.ECR:
                    self._ecr()
                if self.service.docker_secret_name and cluster_configured():
                    self._check(PULL_SECRET, self.pull_secret)
                self.report.checks.insert(1, self._finish(VERSION_GATES, gates))
            if self.service.provider is Provider.ON_CLUSTER:
                self._check(ON_CLUSTER, self.on_cluster, local=True)
        finally:
            if self.client is not None:
                self.client.close()
            self.report.seconds = time.monotonic() - start
        return self.report

    def _network(self) -> None:
        chain: list[tuple[str, Callable[[_Budget], Outcome]]] = [
            (DNS, self.dns),
            (TCP, self.tcp),
            (TLS, self.tls),
            (API, self.api),
            (AUTH, self.auth),
        ]
        for position, (name, fn) in enumerate(chain):
            if name == TLS and self.service.insecure:
                self._skip([TLS], "insecure registry (plain HTTP, by configuration)", ok=True)
                continue
            if not self._check(name, fn):
                self._skip([n for n, _ in chain[position + 1 :]] + [PUSH, PULL], f"{name} failed")
                return
        if not self.authenticated:
            self._skip([PUSH, PULL], "no credentials to check (see authentication)", ok=True)
            return
        self._check(PUSH, self.push)
        self._check(PULL, self.pull)

    def _check(self, name: str, fn: Callable[[_Budget], Outcome], local: bool = False) -> bool:
        """Run one check and record it; ``local`` checks (no I/O) run in this thread."""
        if local:
            started = time.monotonic()
            check = replace(
                self._finish(name, lambda: fn(_Budget(self.timeout))), seconds=time.monotonic() - started
            )
        else:
            check = self._finish(name, _Running(fn, self._left()))
        self.report.checks.append(check)
        return check.ok

    def _left(self) -> float:
        """What remains of the run's time (a little, never nothing: a check then fails at once)."""
        return max(0.05, min(self.timeout, self.end - time.monotonic()))

    def _finish(self, name: str, run: _Running | Callable[[], Outcome]) -> Check:
        try:
            ok, detail, severity = run.outcome() if isinstance(run, _Running) else run()
        except RegistryExtError as exc:
            ok, detail, severity = False, str(exc), "error"
        except Exception as exc:  # a check must never take the whole doctor down; show what happened
            ok, detail, severity = False, f"unexpected {type(exc).__name__}: {exc}", "error"
        for secret in self.secrets:  # last line of defence for messages we did not write
            detail = detail.replace(secret, "***")
        log.debug("%s: %s: %s %s", self.service.name, name, "ok" if ok else "failed", detail)
        seconds = run.seconds if isinstance(run, _Running) else 0.0
        return Check(name, ok, detail, seconds, severity, self.service.name)

    def _skip(self, names: Iterable[str], why: str, ok: bool = False) -> None:
        for name in names:
            self.report.checks.append(
                Check(
                    name, ok, f"not run: {why}", 0.0, "info" if ok else "error", self.service.name, ran=False
                )
            )

    # --- checks ----------------------------------------------------------------------------------
    def configuration(self, budget: _Budget) -> Outcome:
        service = self.service
        if service.is_server_default:
            raise ConfigError(
                "url",
                "'.' means the MLRun server's registry, unknown here; set "
                "MLRUN_REGISTRY_EXT_URL (or the MLRun server's docker_registry) to check it",
            )
        service.rules.validate_repository(doctor_repository(service), service.host, "image_prefix")
        # Building the client loads the CA bundle: a missing or broken one is a configuration error.
        self.client = self.http.RegistryClient.for_service(service, timeout=self.timeout)
        parts = [
            f"{service.scheme}://{service.url}",
            service.provider.value,
            f"user {service.username}" if service.username else "no credentials",
        ]
        if self.client.ca_bundle and not service.insecure:
            parts.append(f"CA bundle {self.client.ca_bundle}")
        from mlrun_registry_ext.clients.transport import TransportError, proxy_for

        try:
            self.proxy = proxy_for(Origin(service.scheme, self.hostname, self.port))
        except TransportError as exc:
            self.proxy_problem = str(exc)
        if self.proxy is not None:
            parts.append(f"through the proxy {self.proxy.netloc}")
        detail = ", ".join(parts)
        if service.insecure and not self.http.is_loopback(self.hostname):
            return True, f"{detail}; plain HTTP: credentials and images travel unencrypted", "warning"
        return True, detail, "info"

    def version_gates(self, budget: _Budget) -> Outcome:
        from mlrun_registry_ext.features.version_gate import check_version_gates

        warnings = check_version_gates(self.service, self.platform.get())
        if warnings:
            return True, "; ".join(warnings), "warning"
        return True, "MLRun and Nuclio versions support an external registry", "info"

    def dns(self, budget: _Budget) -> Outcome:
        if self.proxy_problem:
            return False, self.proxy_problem, "error"
        if self.proxy is not None:
            try:
                infos = socket.getaddrinfo(self.proxy.host, self.proxy.port, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                return False, f"cannot resolve the proxy {self.proxy.host}: {exc.strerror}", "error"
            self.addresses = [info[4] for info in infos]
            shown = ", ".join(dict.fromkeys(str(a[0]) for a in self.addresses))
            return True, (f"the proxy {self.proxy.host} -> {shown} (the proxy resolves {self.hostname}; "
                          "HTTPS_PROXY/HTTP_PROXY, not NO_PROXY)"), "info"
        try:
            ipaddress.ip_address(self.hostname)
            literal = True
        except ValueError:
            literal = False
        try:
            infos = socket.getaddrinfo(self.hostname, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            return False, f"cannot resolve {self.hostname}: {exc.strerror}", "error"
        self.addresses = [info[4] for info in infos]
        shown = ", ".join(dict.fromkeys(str(a[0]) for a in self.addresses))
        if literal:
            return True, f"{self.hostname} is an IP address (nothing to resolve)", "info"
        return True, f"{self.hostname} -> {shown}", "info"

    def tcp(self, budget: _Budget) -> Outcome:
        errors: list[str] = []
        what = "the proxy " if self.proxy is not None else ""
        for address in self.addresses:
            try:
                with socket.create_connection(address[:2], timeout=budget.left()):
                    self.address = address
                    return True, f"connected to {what}{_show(address)}", "info"
            except TimeoutError:
                errors.append(
                    f"{what}{_show(address)}: no answer within {self.timeout:g} s (firewall or wrong port?)"
                )
                break
            except ConnectionRefusedError:
                whose = "the proxy running" if self.proxy is not None else "the registry running"
                errors.append(
                    f"{what}{_show(address)} refused the connection (is {whose} on that port?)"
                )
            except OSError as exc:
                errors.append(f"{_show(address)}: {exc.strerror or exc}")
        return False, "; ".join(errors) or "no address to connect to", "error"

    def tls(self, budget: _Budget) -> Outcome:
        assert self.client is not None and self.client.ssl_context is not None and self.address is not None
        context = self.client.ssl_context
        if self.proxy is not None:
            return self._tls_through_proxy(budget, context)
        try:
            with socket.create_connection(self.address[:2], timeout=budget.left()) as raw:
                raw.settimeout(budget.left())
                with context.wrap_socket(raw, server_hostname=self.hostname) as tls:
                    version = tls.version()
                    cert = tls.getpeercert() or {}
        except TimeoutError:
            return (
                False,
                (
                    f"no TLS answer from {self.service.host} within {self.timeout:g} s "
                    "(the port accepts connections but says nothing)"
                ),
                "error",
            )
        except ssl.SSLError as exc:
            return (
                False,
                self.http.describe_tls_error(exc, self.service.host, self.client.ca_bundle)[1],
                "error",
            )
        except OSError as exc:
            return False, f"TLS connection to {_show(self.address)} failed: {exc.strerror or exc}", "error"
        trust = f"CA bundle {self.client.ca_bundle}" if self.client.ca_bundle else "the system trust store"
        return (
            True,
            f"{version}, certificate valid until {cert.get('notAfter', '?')}, trusted via {trust}",
            "info",
        )

    def _tls_through_proxy(self, budget: _Budget, context: ssl.SSLContext) -> Outcome:
        """CONNECT through the proxy, then the TLS handshake with the registry inside the tunnel."""
        import http.client

        assert self.client is not None and self.address is not None
        proxy = self.proxy
        conn = http.client.HTTPSConnection(str(self.address[0]), proxy.port, timeout=budget.left(), context=context)
        conn.set_tunnel(bracketed(self.hostname), self.port, headers=proxy.headers)
        try:
            conn.connect()
            tls = conn.sock
            version = tls.version()
            cert = tls.getpeercert() or {}
        except TimeoutError:
            return False, (f"no TLS answer from {self.service.host} through the proxy {proxy.netloc} within "
                           f"{self.timeout:g} s"), "error"
        except ssl.SSLError as exc:
            return False, self.http.describe_tls_error(exc, self.service.host, self.client.ca_bundle)[1], "error"
        except OSError as exc:
            text = str(exc)
            if text.startswith("Tunnel connection failed"):
                answer = text.removeprefix("Tunnel connection failed: ")[:100]
                return False, (f"the proxy {proxy.netloc} would not open a tunnel to {self.service.host} "
                               f"({answer})"), "error"
            return False, f"TLS through the proxy {proxy.netloc} failed: {exc.strerror or text[:200]}", "error"
        finally:
            conn.close()
        trust = f"CA bundle {self.client.ca_bundle}" if self.client.ca_bundle else "the system trust store"
        return True, (f"{version} through the proxy {proxy.netloc}'s tunnel, certificate valid until "
                      f"{cert.get('notAfter', '?')}, trusted via {trust}"), "info"

    def api(self, budget: _Budget) -> Outcome:
        assert self.client is not None
        ping = self.client.ping(timeout=budget.left())
        if ping.challenge is None:
            return True, "GET /v2/ answered 200: open registry (no authentication)", "info"
        via = (
            f" via {ping.challenge.realm}"
            if ping.challenge.scheme == "bearer" and ping.challenge.realm
            else ""
        )
        return True, f"GET /v2/ answered 401: {ping.challenge.scheme.title()} authentication{via}", "info"

    def auth(self, budget: _Budget) -> Outcome:
        assert self.client is not None
        service = self.service
        if service.provider is Provider.ECR:
            # ECR's username/password are AWS keys: the registry login is a token from the AWS API.
            detail = "ECR logins are tokens from the AWS API (GetAuthorizationToken): see the ECR check"
            return True, detail, "info"
        if not service.has_credentials and service.rules.ambient_auth:
            ping = self.client.ping(timeout=budget.left())
            if ping.challenge is not None:
                detail = f"no username/password: {service.rules.ambient_auth} must authenticate pushes (not checked)"
                return True, detail, "warning"
        result = self.client.check_auth(timeout=budget.left())
        self.authenticated = True
        if result.anonymous and service.has_credentials:
            return True, f"the registry is open: user {service.username}'s password was not needed", "info"
        if result.anonymous:
            return True, "anonymous access accepted", "info"
        how = "token from the token server" if result.scheme == "bearer" else "Basic"
        return True, f"user {service.username} accepted by {service.host} ({how})", "info"

    def push(self, budget: _Budget) -> Outcome:
        assert self.client is not None
        repository = doctor_repository(self.service)
        who = f"user {self.service.username}" if self.service.username else "anonymous access"
        try:
            self.client.check_push(repository, timeout=budget.left())
        except (self.http.DeniedError, self.http.UnauthorizedError):
            if self._can_pull(repository, budget):
                return False, f"{who} can pull but not push to {_namespace(self.service)}", "error"
            return False, f"{who} can neither push nor pull in {_namespace(self.service)}", "error"
        except self.http.UnsupportedError as exc:
            return False, f"{who} cannot push: {exc}", "error"
        except self.http.NameUnknownError:
            if self.service.provider is Provider.ECR:
                return (
                    True,
                    (
                        f"repository {repository} does not exist, so push rights cannot be proven; ECR needs "
                        "repositories created before a push (MLRun creates them for builds)"
                    ),
                    "warning",
                )
            raise
        return (
            True,
            (
                f"{who} can push to {_namespace(self.service)} (opened and cancelled an upload in "
                f"{repository})"
            ),
            "info",
        )

    def _can_pull(self, repository: str, budget: _Budget) -> bool:
        assert self.client is not None
        try:
            self.client.check_pull(repository, timeout=budget.left())
        except RegistryAPIError:
            return False
        return True

    def pull(self, budget: _Budget) -> Outcome:
        assert self.client is not None
        repository = doctor_repository(self.service)
        who = f"user {self.service.username}" if self.service.username else "anonymous access"
        try:
            self.client.check_pull(repository, timeout=budget.left())
        except (self.http.DeniedError, self.http.UnauthorizedError):
            return False, f"{who} may not pull from {_namespace(self.service)}", "error"
        return True, f"{who} can pull from {_namespace(self.service)} (listed tags of {repository})", "info"

    def _ecr(self) -> None:
        """The AWS-side checks (identity, token, IAM actions) from the AWS adapter, as one bounded check."""
        from mlrun_registry_ext.clients.aws import check_ecr

        def run(budget: _Budget) -> Outcome:
            results = check_ecr(self.service)
            failed = [f"{name}: {detail}" for name, ok, detail in results if not ok]
            if failed:
                return False, "; ".join(failed), "error"
            return True, "; ".join(f"{name}: {detail}" for name, _, detail in results), "info"

        self._check(ECR, run)

    def pull_secret(self, budget: _Budget) -> Outcome:
        """The secret functions pull with must exist in the namespace they run in (secrets are namespaced)."""
        from mlrun_registry_ext.clients.kube import connect, ensure_namespace_value

        name = self.service.docker_secret_name
        assert name is not None
        namespace = ensure_namespace_value(os.environ.get("MLRUN_NAMESPACE") or None)
        secret = connect().get_secret(namespace, name)
        if secret is None:
            return False, (f"secret {name} does not exist in namespace {namespace}: builds and pods will fail to "
                           f"authenticate; create it with `mlrun-registry secret apply -n {namespace}`"), "error"
        if secret.get("type") != "kubernetes.io/dockerconfigjson":
            return False, (f"secret {name} in {namespace} is of type {secret.get('type')}, not "
                           "kubernetes.io/dockerconfigjson; re-create it with `mlrun-registry secret apply`"), "error"
        return True, f"secret {name} (kubernetes.io/dockerconfigjson) exists in namespace {namespace}", "info"

    def on_cluster(self, budget: _Budget) -> Outcome:
        from mlrun_registry_ext.core.resolution import ON_CLUSTER_WARNING

        return True, ON_CLUSTER_WARNING, "warning"


def cluster_configured() -> bool:
    """A cluster to ask: running in a pod, or a kubeconfig (checks that need one run only then)."""
    if os.environ.get("KUBERNETES_SERVICE_HOST") or os.environ.get("KUBECONFIG"):
        return True
    return os.path.exists(os.path.expanduser("~/.kube/config"))


def _show(address: tuple[Any, ...]) -> str:
    host = str(address[0])
    return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"


def doctor(
    services: Sequence[RegistryService] | RegistryService | None = None,
    *,
    all: bool = False,
    timeout: float = 5.0,
) -> DoctorReport:
    """Check registries: the active one (``services=None``), every configured one (``all=True``), or those given.

    Each check is bounded by ``timeout`` seconds; registries are checked concurrently. Raises
    :class:`ConfigError` only when the configuration cannot be resolved at all.
    """
    if isinstance(services, RegistryService):
        services = [services]
    end = time.monotonic() + timeout
    platform = _PlatformOnce(timeout=timeout / 2)
    if services is None:
        from mlrun_registry_ext.features.api import resolve

        # includes the MLRun server's registry when MLRUN_DBPATH is set; half the time at most, so
        # the registry checks keep the rest even when the MLRun API drips its answer
        active = resolve(probe_timeout=timeout / 2)
        platform = _PlatformOnce(active.platform)
        services = list(active.resolved.all_services.values()) if all else [active.service]
    if not services:
        raise ConfigError("services", "no registry service to check")
    if len(services) == 1:
        return DoctorReport([_RegistryDoctor(services[0], timeout, platform, end).run()])
    with ThreadPoolExecutor(max_workers=len(services), thread_name_prefix="registry-doctor") as pool:
        reports = list(pool.map(lambda s: _RegistryDoctor(s, timeout, platform, end).run(), services))
    return DoctorReport(reports)


class _PlatformOnce:
    """What the MLRun API and Nuclio dashboard report, asked once for all the registries checked together
    (inside the first version-gate check, so the timeout bounds it)."""

    def __init__(self, known: PlatformInfo | None = None, timeout: float | None = None) -> None:
        self._info = known
        self._timeout = timeout
        self._lock = threading.Lock()

    def get(self) -> PlatformInfo:
        with self._lock:
            if self._info is None:
                self._info = probe_platform() if self._timeout is None else probe_platform(timeout=self._timeout)
            return self._info
