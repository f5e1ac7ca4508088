"""The doctor's report and how it is shown: plain text, a rich table, JSON and HTML.

The same report reaches people four ways, and each must say the same thing: ``str()`` for logs and
plain terminals, ``__rich__`` for the CLI's console (rich is imported only when a console renders it),
``to_dict()`` for ``--json`` and programs, ``_repr_html_`` for notebooks. The check names below are
part of that contract (scripts read them from the JSON), so they are defined once, here.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlrun_registry_ext.core.providers.ecr import ECR_CHECK
from mlrun_registry_ext.core.providers.on_cluster import ON_CLUSTER_CHECK
from mlrun_registry_ext.features.doctor.runner import Severity

if TYPE_CHECKING:
    from mlrun_registry_ext.core.service import RegistryService

CONFIGURATION = "configuration"
VERSION_GATES = "version gates"
DNS = "DNS resolution"
TCP = "TCP connect"
TLS = "TLS handshake"
API = "registry API (/v2/)"
AUTH = "authentication"
PUSH = "push permission"
PULL = "pull permission"
#: The providers' own checks are named by their provider (core/providers).
ECR = ECR_CHECK
ON_CLUSTER = ON_CLUSTER_CHECK
PULL_SECRET = "pull secret in cluster"
#: Where builds get Docker Hub base images (a login, a mirror, or anonymously: rate limited).
BASE_IMAGES = "Docker Hub base images"
#: Kaniko's layer cache repository takes pushes (``cache: true``).
CACHE = "layer cache push permission"
#: The service account of ``auth: workload-identity`` carries the provider's annotation/labels.
WORKLOAD_IDENTITY = "workload identity service account"
#: The MLRun API Deployment's build settings against the service (core.buildah server_build_findings).
SERVER_BUILD = "MLRun API build settings"


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
