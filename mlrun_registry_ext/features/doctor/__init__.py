"""Doctor: prove a registry works (reachable, trusted, credentials, push and pull) before a build needs it.

Builds fail late and obscurely when a registry is wrong (a Kaniko pod times out or gets ``DENIED``
minutes in). The doctor runs the same steps a push does, one check each, so the first failing
check names the cause. Nothing is pushed: push rights are proven by opening a blob upload and
cancelling it. ``timeout`` bounds the whole run (wall time, not per read: asking the MLRun API and
Nuclio, then every check shares it), and several registries are checked concurrently, so the doctor
is over within the timeout (plus :data:`GRACE`) whatever a peer does. Through ``HTTPS_PROXY`` the
DNS and TCP checks are the proxy's, and the TLS check runs through its CONNECT tunnel, as a build would.

- :mod:`.checks`: the checks for one registry service;
- :mod:`.runner`: the deadline runner (a budget per check, a thread per check, :data:`GRACE`);
- :mod:`.render`: the report types and their text, rich, JSON and HTML forms.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from mlrun_registry_ext.core.build import pulled_services
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.errors import ConfigError
from mlrun_registry_ext.features.api import resolve
from mlrun_registry_ext.features.doctor.checks import (
    DOCTOR_IMAGE,
    _PlatformOnce,
    _RegistryDoctor,
    doctor_repository,
)
from mlrun_registry_ext.features.doctor.images import check_platform_images
from mlrun_registry_ext.features.doctor.render import (
    API,
    AUTH,
    BASE_IMAGES,
    CACHE,
    CONFIGURATION,
    DNS,
    ECR,
    ON_CLUSTER,
    PULL,
    PULL_SECRET,
    PUSH,
    SERVER_BUILD,
    TCP,
    TLS,
    VERSION_GATES,
    WORKLOAD_IDENTITY,
    Check,
    DoctorReport,
    RegistryReport,
)
from mlrun_registry_ext.features.doctor.runner import GRACE, Severity, run_each
from mlrun_registry_ext.features.platform_images import images_service

__all__ = [
    "API",
    "AUTH",
    "BASE_IMAGES",
    "CACHE",
    "CONFIGURATION",
    "DNS",
    "DOCTOR_IMAGE",
    "ECR",
    "GRACE",
    "ON_CLUSTER",
    "PULL",
    "PULL_SECRET",
    "PUSH",
    "SERVER_BUILD",
    "TCP",
    "TLS",
    "VERSION_GATES",
    "WORKLOAD_IDENTITY",
    "Check",
    "DoctorReport",
    "RegistryReport",
    "Severity",
    "doctor",
    "doctor_repository",
]


def doctor(
    services: Sequence[RegistryService] | RegistryService | None = None,
    *,
    all: bool = False,
    timeout: float = 5.0,
    images: bool = False,
) -> DoctorReport:
    """Check registries: the active one (``services=None``), every configured one (``all=True``), or those given.

    With ``services=None`` the services the active one pulls from (``pull_from``) are checked too, up to
    their pull right: their logins are in every build's secret, and a wrong one fails the base image pull.

    Each check is bounded by ``timeout`` seconds; registries are checked concurrently. Raises
    :class:`ConfigError` only when the configuration cannot be resolved at all. ``images=True``
    (air gap) checks instead that every image the platform pulls by itself resolves on the
    ``platform_images`` service (:mod:`.images`).
    """
    if images:
        started = time.monotonic()
        active = resolve(probe_timeout=timeout / 2)
        left = max(0.05, timeout - (time.monotonic() - started))
        return DoctorReport([check_platform_images(images_service(active.resolved.all_services), active.platform,
                                                   left)])
    if isinstance(services, RegistryService):
        services = [services]
    end = time.monotonic() + timeout
    platform = _PlatformOnce(timeout=timeout / 2)
    configured: dict[str, RegistryService] = {}
    pulled_by: dict[str, str] = {}
    if services is None:
        # includes the MLRun server's registry when MLRUN_DBPATH is set; half the time at most, so
        # the registry checks keep the rest even when the MLRun API drips its answer
        active = resolve(probe_timeout=timeout / 2)
        platform = _PlatformOnce(active.platform)
        services = list(active.resolved.all_services.values()) if all else [active.service]
        configured = dict(active.resolved.all_services)
        if not all:  # the build's pull_from logins are in its secret: a wrong one fails the build's pull
            pulled = [s for s in pulled_services(active.service, configured) if s.name != active.service.name]
            pulled_by = {s.name: active.service.name for s in pulled}
            services += pulled
    if not services:
        raise ConfigError("services", "no registry service to check")
    configured = configured or {s.name: s for s in services}  # pull_from among the given services
    return DoctorReport(run_each(lambda s: _RegistryDoctor(s, timeout, platform, end, configured,
                                                           pulled_by.get(s.name)).run(), services))
