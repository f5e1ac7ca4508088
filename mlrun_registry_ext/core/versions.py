"""Version gates: an external registry needs MLRun >= 1.0.5 and Nuclio >= 1.10.0 (platform docs).

Nothing in MLRun or Nuclio enforces this; the plugin does, with one message that names the
component, the version found, the version required and what to do. Pre-releases order before their
release (``1.10.0-rc3`` < ``1.10.0``), build metadata is ignored (``1.0.5+build`` == ``1.0.5``), dev
labels (``unstable``, ``latest``, ``0.0.0+unstable``) pass with a warning, unknown versions warn.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from packaging.version import InvalidVersion, Version

from mlrun_registry_ext.core.kinds import NUCLIO_BUILT_KINDS, NUCLIO_PROCESSOR_KINDS
from mlrun_registry_ext.errors import VersionGateError

Component = Literal["mlrun", "nuclio"]

#: The gates, from the platform's Docker Registry page.
REQUIRED: dict[Component, Version] = {"mlrun": Version("1.0.5"), "nuclio": Version("1.10.0")}
DISPLAY: dict[Component, str] = {"mlrun": "MLRun", "nuclio": "Nuclio"}
DEV_LABELS = frozenset({"unstable", "latest", "dev", "development", "master", "main", "nightly"})
_PRERELEASE_RE = re.compile(r"^v?(\d+(?:\.\d+){0,2})[-_.]?((?:rc|alpha|beta|a|b|dev|pre)\.?\d*)?(?:\+.*)?\Z", re.I)


@dataclass(frozen=True)
class ComponentVersion:
    """A version as reported by one source, e.g. ("mlrun", "1.12.1", "MLRun server (client-spec)")."""

    component: Component
    raw: str | None
    source: str

    @property
    def label(self) -> str:
        return f"{DISPLAY[self.component]} {self.raw}" if self.raw else DISPLAY[self.component]


def is_dev_label(raw: str) -> bool:
    text = raw.strip().lower().lstrip("v")
    if text in DEV_LABELS:
        return True
    base, _, local = text.partition("+")
    if local and any(label in local for label in DEV_LABELS):
        return True
    return base in ("0.0.0", "0.0.0-unstable") or base.endswith("-unstable")


def parse_version(raw: str) -> Version | None:
    """Parse semver or PEP 440 text; None when it is not a version at all."""
    text = raw.strip()
    try:
        return Version(text)
    except InvalidVersion:
        pass
    match = _PRERELEASE_RE.match(text)
    if not match:
        return None
    try:
        return Version(match[1] + (match[2] or ""))
    except InvalidVersion:  # pragma: no cover - the regex only lets versions through
        return None


def evaluate(found: ComponentVersion, registry: str) -> str | None:
    """None when the gate passes silently; a warning text when it passes with a caveat.

    Raises :class:`VersionGateError` when the version is below the gate.
    """
    required = REQUIRED[found.component]
    name = DISPLAY[found.component]
    if not found.raw:
        return (f"{name} version unknown ({found.source}): cannot confirm the >= {required} that an external "
                f"registry needs")
    if is_dev_label(found.raw):
        return (f"{name} reports a development build {found.raw!r} ({found.source}); assuming it is newer "
                f"than {required}")
    version = parse_version(found.raw)
    if version is None:
        return f"{name} version {found.raw!r} ({found.source}) is not a version number; cannot check >= {required}"
    if version < required:
        hint = " (a pre-release of it)" if version.release[:3] == required.release[:3] else ""
        raise VersionGateError(
            f"{name} {found.raw}{hint} from {found.source} is below {required}, which the external registry "
            f"{registry} needs: upgrade {name} to {required} or later, or use the on-cluster registry"
        )
    return None


def builders_of(kind: str | None) -> frozenset[Component]:
    """The components that build a function of ``kind`` (None: any kind, e.g. the doctor's check).

    Nuclio builds its own kinds and the application's reverse-proxy processor; every other kind is
    built by the MLRun API alone, so Nuclio's version is no caveat for it.
    """
    if kind is None or kind in NUCLIO_BUILT_KINDS or kind in NUCLIO_PROCESSOR_KINDS:
        return frozenset(REQUIRED)
    return frozenset({"mlrun"})


def check_gates(registry: str, external: bool, versions: list[ComponentVersion],
                warn_for: Collection[Component] = tuple(REQUIRED)) -> list[str]:
    """Apply both gates to every known version; warnings for unknown and dev versions of the components
    in ``warn_for`` (those that build the function at hand: :func:`builders_of`).

    Only an external registry is gated. A version below a gate is refused whatever ``warn_for`` says:
    the gate is the platform's, for every build. Components that no source reported are warned about once.
    """
    if not external:
        return []
    warnings: list[str] = []
    for component in REQUIRED:
        reported = [v for v in versions if v.component == component]
        if not reported:
            reported = [ComponentVersion(component, None, "no source reported it")]
        for found in reported:
            warning = evaluate(found, registry)
            if warning and component in warn_for:
                warnings.append(warning)
    return warnings
