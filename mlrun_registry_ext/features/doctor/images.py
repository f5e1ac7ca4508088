"""`doctor --images`: does every image the platform pulls by itself resolve on the internal registry?

An air-gapped build fails minutes in, inside a Kaniko pod, when one platform image (the executor, an
init container, a base or onbuild image) was never copied. Here each one is a manifest ``HEAD`` on the
``platform_images`` service, all of them side by side under the doctor's deadline; a missing image is
an error that names it and the command that copies it. Each HEAD runs in the runner's thread
(:class:`~.runner._Running`) with what is left of the run's time, so the whole check is over within
the doctor's ``--timeout`` (plus the runner's grace) whatever the registry does.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from mlrun_registry_ext.clients.platform_probe import PlatformInfo
from mlrun_registry_ext.clients.registry.client import RegistryClient
from mlrun_registry_ext.core.platform_images import ImageSettings, PlatformImage
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.errors import RegistryExtError
from mlrun_registry_ext.features.doctor.render import CONFIGURATION, Check, RegistryReport
from mlrun_registry_ext.features.doctor.runner import Outcome, _Budget, _Running
from mlrun_registry_ext.features.platform_images import image_plan

FIX = "mlrun-registry migrate --platform-images"


def check_name(image: PlatformImage) -> str:
    return f"platform image {image.path}:{image.tag}"


def check_platform_images(service: RegistryService, platform: PlatformInfo, timeout: float) -> RegistryReport:
    """One check per platform image of the installed versions on ``service``, within ``timeout`` overall."""
    started = time.monotonic()
    report = RegistryReport(service)
    try:
        plan: ImageSettings = image_plan(service, platform)
        client = RegistryClient.for_service(service, timeout=timeout)
    except RegistryExtError as exc:
        report.checks.append(Check(CONFIGURATION, False, str(exc), 0.0, "error", service.name))
        report.seconds = time.monotonic() - started
        return report
    try:
        report.checks.append(Check(CONFIGURATION, True, f"{len(plan.images)} platform images expected on "
                                                        f"{plan.base}", 0.0, "info", service.name))
        # the deadline bounds the registry's answers; reading the installed mlrun's defaults (an import of
        # seconds on a busy machine) is local work that must not eat it
        end = time.monotonic() + timeout
        running = [(image, _Running(_head(client, service, plan, image), max(0.05, end - time.monotonic())))
                   for image in plan.images]
        for image, run in running:
            try:
                ok, detail, severity = run.outcome()
            except RegistryExtError as exc:
                ok, detail, severity = False, f"{image.internal(plan.base)}: {exc}", "error"
            report.checks.append(Check(check_name(image), ok, detail, run.seconds, severity, service.name))
    finally:
        client.close()
        report.seconds = time.monotonic() - started
    return report


def _head(client: RegistryClient, service: RegistryService, plan: ImageSettings, image: PlatformImage
          ) -> Callable[[_Budget], Outcome]:
    def check(budget: _Budget) -> Outcome:
        reference = image.internal(plan.base)
        repository = f"{service.path}/{image.path}" if service.path else image.path
        info = client.head_manifest(repository, image.tag, timeout=budget.left())
        if info is None:
            return False, (f"{reference} is missing ({image.purpose}; from {image.source}): run {FIX}"), "error"
        return True, f"{reference} resolves to {info.digest or 'a manifest'} ({image.purpose})", "info"

    return check
