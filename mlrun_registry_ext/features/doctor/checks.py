"""The doctor's checks for one registry service, in the order a push meets them.

Configuration, then the network chain (DNS, TCP, TLS, ``/v2/``, authentication), then push and pull
rights on the repository MLRun would push to, then the provider's extras (ECR's AWS side, the
cluster's pull secret, the on-cluster warning). Each check returns an :data:`~.runner.Outcome` and runs
under the deadline runner (:mod:`.runner`); what a check learns (addresses, the client, whether it
authenticated) is kept for the next. Through ``HTTPS_PROXY`` the DNS and TCP checks are the proxy's and
the TLS check shakes hands inside its CONNECT tunnel. TLS failures are described by
:mod:`mlrun_registry_ext.clients.registry.tls`, the same words the registry client uses.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from mlrun_registry_ext.clients.aws import check_ecr
from mlrun_registry_ext.clients.kube import MLRUN_API_DEPLOYMENTS, connect, ensure_namespace_value
from mlrun_registry_ext.clients.platform_probe import PlatformInfo, probe_platform
from mlrun_registry_ext.clients.registry.client import RegistryClient
from mlrun_registry_ext.clients.registry.errors import (
    DeniedError,
    NameUnknownError,
    UnauthorizedError,
    UnsupportedError,
)
from mlrun_registry_ext.clients.registry.login import login
from mlrun_registry_ext.clients.registry.tls import describe_tls_error, is_loopback, tunnel_refusal
from mlrun_registry_ext.clients.transport import SOCKET_TIMEOUTS, TransportError, proxy_for
from mlrun_registry_ext.core.build import dockerhub_pull, pulled_services
from mlrun_registry_ext.core.buildah import server_build_findings
from mlrun_registry_ext.core.credentials.k8s_secrets import service_account_manifest
from mlrun_registry_ext.core.location import RegistryAccess
from mlrun_registry_ext.core.origin import Origin, bracketed, split_host_port
from mlrun_registry_ext.core.platform_patch import pick_container, service_account_changes
from mlrun_registry_ext.core.providers.ecr import ECR_PROBE
from mlrun_registry_ext.core.service import DEFAULT_REPOSITORY, RegistryService
from mlrun_registry_ext.errors import ConfigError, RegistryAPIError, RegistryExtError
from mlrun_registry_ext.features.doctor.render import (
    API,
    AUTH,
    BASE_IMAGES,
    CACHE,
    CONFIGURATION,
    DNS,
    PULL,
    PULL_SECRET,
    PUSH,
    SERVER_BUILD,
    TCP,
    TLS,
    VERSION_GATES,
    WORKLOAD_IDENTITY,
    Check,
    RegistryReport,
)
from mlrun_registry_ext.features.doctor.runner import Outcome, _Budget, _Running
from mlrun_registry_ext.features.version_gate import check_version_gates

log = logging.getLogger(__name__)

DOCTOR_IMAGE = "mlrun-registry-doctor"


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
                 end: float | None = None, services: Mapping[str, RegistryService] | None = None,
                 pulled_by: str | None = None) -> None:
        self.platform = platform
        #: the build service whose ``pull_from`` names this one: its login goes into that build's secret and
        #: base images are pulled with it, so login and pull are checked, push is not
        self.pulled_by = pulled_by
        #: the configured services, for ``pull_from``
        self.services = services or {}
        self.service = service
        self.timeout = timeout
        #: when the whole doctor run must be over (monotonic): every check gets what is left
        self.end = time.monotonic() + timeout if end is None else end
        self.proxy: Any = None
        self.proxy_problem: str | None = None
        self.report = RegistryReport(service)
        self.client: RegistryClient | None = None
        self.access: RegistryAccess = service.access
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
                self._provider_checks("network")
                if self.service.docker_secret_name and cluster_configured():
                    self._check(PULL_SECRET, self.pull_secret)
                if cluster_configured():
                    self._check(SERVER_BUILD, self.server_build)
                if self.service.workload_identity:
                    if cluster_configured():
                        self._check(WORKLOAD_IDENTITY, self.workload_identity)
                    else:
                        self._skip([WORKLOAD_IDENTITY], "no cluster to ask (not in a pod, no kubeconfig): the "
                                                        "service account's annotation is unproven", ok=True)
                self._check(BASE_IMAGES, self.base_images, local=True)
                self.report.checks.insert(1, self._finish(VERSION_GATES, gates))
            self._provider_checks("always")
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
                self._skip([n for n, _ in chain[position + 1 :]], f"{name} failed")
                self._skip(self._rights(), f"{name} failed")
                return
        if not self.authenticated:
            self._skip(self._rights(), "no credentials to check (see authentication)", ok=True)
            return
        if self.pulled_by is not None:
            self._check(PULL, self.pull)
            return
        self._check(PUSH, self.push)
        self._check(PULL, self.pull)
        if self.service.cache:
            self._check(CACHE, self.cache_push)

    def _rights(self) -> list[str]:
        """The rights checks still to run; a service only pulled from (``pull_from``) is not pushed to, so
        its push check is recorded as not needed here, once."""
        if self.pulled_by is None:
            return [PUSH, PULL, *self._cache()]
        self._skip([PUSH], f"pulled from only (pull_from of {self.pulled_by}): builds pull base images here "
                           "with this login", ok=True)
        return [PULL]

    def _cache(self) -> list[str]:
        """The layer-cache check, when the service has one (``cache: true``)."""
        return [CACHE] if self.service.cache else []

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
        # The login the user keeps for this registry (the credential chain; ECR's exchange is the ECR
        # check's). Building the client loads the CA bundle: a missing or broken one is a configuration error.
        self.access = service.access if service.rules.token_login else \
            login(service, exchange=False, helper_timeout=budget.left())
        for secret in (self.access.password, self.access.identity_token):
            if secret is not None:
                self.secrets.append(secret.get_secret_value())
        self.client = RegistryClient.for_access(self.access, timeout=self.timeout)
        parts = [f"{service.scheme}://{service.url}", service.provider.value, self._who()]
        if self.access.source is not None:
            parts.append(f"login from {self.access.source}")
        if self.client.ca_bundle and not service.insecure:
            parts.append(f"CA bundle {self.client.ca_bundle}")
        try:
            self.proxy = proxy_for(Origin(service.scheme, self.hostname, self.port))
        except TransportError as exc:
            self.proxy_problem = str(exc)
        if self.proxy is not None:
            parts.append(f"through the proxy {self.proxy.netloc}")
        detail = ", ".join(parts)
        if service.insecure and not is_loopback(self.hostname):
            return True, f"{detail}; plain HTTP: credentials and images travel unencrypted", "warning"
        return True, detail, "info"

    def base_images(self, budget: _Budget) -> Outcome:
        """Base images from Docker Hub without a login or mirror hit its rate limit."""
        anonymous, detail = dockerhub_pull(self.service, pulled_services(self.service, self.services))
        return True, detail, "warning" if anonymous else "info"

    def version_gates(self, budget: _Budget) -> Outcome:
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
            except SOCKET_TIMEOUTS:
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
        except SOCKET_TIMEOUTS:
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
                describe_tls_error(exc, self.service.host, self.client.ca_bundle)[1],
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
        assert self.client is not None and self.address is not None
        proxy = self.proxy
        conn = http.client.HTTPSConnection(str(self.address[0]), proxy.port, timeout=budget.left(), context=context)
        conn.set_tunnel(bracketed(self.hostname), self.port, headers=proxy.headers)
        try:
            conn.connect()
            tls = conn.sock
            version = tls.version()
            cert = tls.getpeercert() or {}
        except SOCKET_TIMEOUTS:
            return False, (f"no TLS answer from {self.service.host} through the proxy {proxy.netloc} within "
                           f"{self.timeout:g} s"), "error"
        except ssl.SSLError as exc:
            return False, describe_tls_error(exc, self.service.host, self.client.ca_bundle)[1], "error"
        except OSError as exc:
            text = str(exc)
            answer = tunnel_refusal(exc)
            if answer is not None:
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
        if service.rules.doctor_auth_detail:
            return True, service.rules.doctor_auth_detail, "info"
        if not self.access.has_login and service.rules.ambient_auth:
            ping = self.client.ping(timeout=budget.left())
            if ping.challenge is not None:
                detail = f"no username/password: {service.rules.ambient_auth} must authenticate pushes (not checked)"
                return True, detail, "warning"
        result = self.client.check_auth(timeout=budget.left())
        self.authenticated = True
        if result.anonymous and self.access.has_login:
            return True, f"the registry is open: the login of {self._who()} was not needed", "info"
        if result.anonymous:
            return True, "anonymous access accepted", "info"
        how = "token from the token server" if result.scheme == "bearer" else "Basic"
        origin = f"; login from {self.access.source}" if self.access.source else ""
        return True, f"{self._who()} accepted by {service.host} ({how}{origin})", "info"

    def _who(self) -> str:
        if self.access.identity_token is not None:
            return "an identity token"
        return f"user {self.access.username}" if self.access.username else "no credentials"

    def push(self, budget: _Budget) -> Outcome:
        return self._push_to(doctor_repository(self.service), _namespace(self.service), budget)

    def cache_push(self, budget: _Budget) -> Outcome:
        """Kaniko pushes cached layers to the cache repository of each image (kaniko#410: a 401
        there fails builds late); the same proof as the push check, on the doctor repository's cache."""
        cache = self.service.cache_repository(doctor_repository(self.service))
        assert cache is not None  # only run with cache: true
        repository = cache.removeprefix(f"{self.service.host}/")
        ok, detail, severity = self._push_to(repository, repository, budget,
                                             create_hint="`mlrun-registry ecr ensure-repos` creates the /cache "
                                                         "repositories")
        return ok, f"Kaniko layer cache: {detail}", severity

    def _push_to(self, repository: str, shown: str, budget: _Budget,
                 create_hint: str = "MLRun creates them for builds") -> Outcome:
        """Push rights on ``repository`` (``shown``: how the report names it): open an upload, cancel it."""
        assert self.client is not None
        who = self._who() if self.access.has_login else "anonymous access"
        try:
            self.client.check_push(repository, timeout=budget.left())
        except (DeniedError, UnauthorizedError):
            if self._can_pull(repository, budget):
                return False, f"{who} can pull but not push to {shown}", "error"
            return False, f"{who} can neither push nor pull in {shown}", "error"
        except UnsupportedError as exc:
            return False, f"{who} cannot push to {shown}: {exc}", "error"
        except NameUnknownError:
            if not self.service.rules.creates_repositories_on_push:
                return (
                    True,
                    (
                        f"repository {repository} does not exist, so push rights cannot be proven; ECR needs "
                        f"repositories created before a push ({create_hint})"
                    ),
                    "warning",
                )
            raise
        return (
            True,
            f"{who} can push to {shown} (opened and cancelled an upload in {repository})",
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
        who = self._who() if self.access.has_login else "anonymous access"
        try:
            self.client.check_pull(repository, timeout=budget.left())
        except (DeniedError, UnauthorizedError):
            return False, f"{who} may not pull from {_namespace(self.service)}", "error"
        return True, f"{who} can pull from {_namespace(self.service)} (listed tags of {repository})", "info"

    def _provider_checks(self, stage: str) -> None:
        """The checks the service's provider declares for ``stage`` (core/providers: ``doctor_checks``):
        a probe named in :data:`PROBES` runs under the deadline; a check without one has a fixed outcome."""
        for declared in self.service.rules.doctor_checks:
            if declared.stage != stage:
                continue
            if declared.probe is None:
                self._check(declared.name, functools.partial(_fixed, (True, declared.detail, declared.severity)),
                            local=True)
            else:
                self._check(declared.name, functools.partial(PROBES[declared.probe], self.service))

    def pull_secret(self, budget: _Budget) -> Outcome:
        """The secret functions pull with must exist in the namespace they run in (secrets are namespaced)."""
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

    def server_build(self, budget: _Budget) -> Outcome:
        """The MLRun API Deployment's build env (its namespace: ``MLRUN_NAMESPACE``) against the service: the
        builder backend, ECR's AWS credentials secret, the build pods' workload-identity labels. MLRun's
        API does not report these (clients.platform_probe), its Deployment does."""
        namespace = ensure_namespace_value(os.environ.get("MLRUN_NAMESPACE") or None)
        kube = connect()
        for name in MLRUN_API_DEPLOYMENTS:
            deployment = kube.get_deployment(namespace, name)
            if deployment is None:
                continue
            _, container = pick_container(deployment, ("mlrun-api", name))
            env = {str(e.get("name")): str(e.get("value") or "") for e in container.get("env") or []
                   if isinstance(e, dict) and "value" in e}
            return server_build_findings(self.service, env, f"deployment {name} in {namespace}")
        return True, (f"not proven: no MLRun API Deployment ({', '.join(MLRUN_API_DEPLOYMENTS)}) in namespace "
                      f"{namespace}"), "warning"

    def workload_identity(self, budget: _Budget) -> Outcome:
        """Builds and functions log in with their service account's identity, which the provider
        maps through the account's annotation/labels (its class: ``service_account_metadata``); the account
        lives in the functions' namespace. Compared key by key; the account's other metadata is ignored."""
        namespace = ensure_namespace_value(os.environ.get("MLRUN_NAMESPACE") or None)
        wanted = service_account_manifest(self.service, namespace)
        name = wanted["metadata"]["name"]
        fix = f"`mlrun-registry secret apply -n {namespace}` (or `platform-config --apply`) sets it"
        current = connect().get_service_account(namespace, name)
        if current is None:
            return False, (f"service account {name} does not exist in namespace {namespace}: builds and functions "
                           f"cannot take the identity; {fix}"), "error"
        changes = service_account_changes(current, wanted)
        if changes:
            wrong = "; ".join(f"{c.field} is {'missing' if c.old is None else repr(c.old)}, should be {c.new!r}"
                              for c in changes)
            return False, f"service account {name} in namespace {namespace}: {wrong}; {fix}", "error"
        meta = {**(wanted["metadata"].get("annotations") or {}), **(wanted["metadata"].get("labels") or {})}
        has = ", ".join(f"{k}={v}" for k, v in meta.items())
        if not has:
            return True, (f"service account {name} exists in namespace {namespace} and needs no annotation: "
                          f"{self.service.rules.identity_bound_elsewhere}"), "info"
        return True, f"service account {name} in namespace {namespace} has {has}", "info"



def _fixed(outcome: Outcome, budget: _Budget) -> Outcome:
    return outcome


def _ecr_probe(service: RegistryService, budget: _Budget) -> Outcome:
    """The AWS-side checks (identity, token, IAM actions) from the AWS client, as one bounded check."""
    results = check_ecr(service)
    failed = [f"{name}: {detail}" for name, ok, detail in results if not ok]
    if failed:
        return False, "; ".join(failed), "error"
    return True, "; ".join(f"{name}: {detail}" for name, _, detail in results), "info"


#: The code behind the probes providers name in their ``doctor_checks`` (core cannot call clients).
PROBES: dict[str, Callable[[RegistryService, _Budget], Outcome]] = {ECR_PROBE: _ecr_probe}


def cluster_configured() -> bool:
    """A cluster to ask: running in a pod, or a kubeconfig (checks that need one run only then)."""
    if os.environ.get("KUBERNETES_SERVICE_HOST") or os.environ.get("KUBECONFIG"):
        return True
    return os.path.exists(os.path.expanduser("~/.kube/config"))


def _show(address: tuple[Any, ...]) -> str:
    return f"{bracketed(str(address[0]))}:{address[1]}"


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
