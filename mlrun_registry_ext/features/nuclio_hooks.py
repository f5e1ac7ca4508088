"""Nuclio hook: the resolved registry as nuclio-jupyter ``ConfigSpec`` keys, and gated deploys.

nuclio-jupyter never asks the dashboard for its version, so the Nuclio >= 1.10.0 gate is checked
here, against the dashboard the deploy goes to, before anything is sent.
"""

from __future__ import annotations

import copy
from typing import Any

from mlrun_registry_ext.clients.extras import extra_module
from mlrun_registry_ext.clients.platform_probe import nuclio_dashboard_url, probe_platform
from mlrun_registry_ext.core.build import OWNED_NUCLIO_FLAGS_ANNOTATION, merge_build_flags
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.core.targets import PushTarget
from mlrun_registry_ext.features.api import ActiveRegistry, as_active

DEFAULT_PROJECT = "default"


def _active_for(dashboard_url: str | None, registry: ActiveRegistry | RegistryService | None,
                overrides: dict[str, Any]) -> ActiveRegistry:
    """Resolve against the dashboard the deploy really goes to (argument, else NUCLIO_DASHBOARD_URL)."""
    active = as_active(registry, overrides)
    url = (dashboard_url or "").rstrip("/").removesuffix("/api") or nuclio_dashboard_url()
    if url and url != active.platform.dashboard_url:
        platform = probe_platform(dashboard_url=url)
        active = ActiveRegistry(resolved=active.resolved, platform=platform)
    return active


def nuclio_target(name: str, project: str = "", registry: ActiveRegistry | RegistryService | None = None, *,
                  tag: str | None = None, kind: str = "nuclio", dashboard_url: str | None = None,
                  **overrides: Any) -> PushTarget:
    """The target of a function deployed straight to Nuclio (its name is not project-prefixed)."""
    active = _active_for(dashboard_url, registry, overrides)
    return active.target(project or DEFAULT_PROJECT, name, kind, tag, nuclio_name=name)


def config_spec(name: str, project: str = "", registry: ActiveRegistry | RegistryService | None = None, *,
                spec: Any = None, tag: str | None = None, dashboard_url: str | None = None,
                **overrides: Any) -> Any:
    """A ``nuclio.ConfigSpec`` carrying the registry keys (merged into a copy of ``spec`` if given)."""
    nuclio = extra_module("nuclio")

    target = nuclio_target(name, project, registry, tag=tag, dashboard_url=dashboard_url, **overrides)
    merged = copy.deepcopy(spec) if spec is not None else nuclio.ConfigSpec()
    merged.extra_config.update(target.nuclio or {})
    return merged


def apply_to_config(config: dict[str, Any], target: PushTarget) -> dict[str, Any]:
    """Write the target's keys into a Nuclio function config (full dotted paths from the root).

    ``spec.build.flags`` is merged, not replaced: the flags written last time (recorded in
    ``metadata.annotations``) follow the service and the user's stay (core.build ``merge_build_flags``).
    The target's pod labels (Azure workload identity) go into ``metadata.labels``, which Nuclio puts on
    the function's pods."""
    update_in = extra_module("nuclio.config").update_in

    for key, value in (target.nuclio or {}).items():
        if key != "spec.build.flags":
            update_in(config, key, value)
    metadata = config.get("metadata") or {}
    annotations = dict(metadata.get("annotations") or {})
    build = (config.get("spec") or {}).get("build") or {}
    current = [str(flag) for flag in build.get("flags") or []]
    owned = str(annotations.get(OWNED_NUCLIO_FLAGS_ANNOTATION) or "").split()
    wanted = list((target.nuclio or {}).get("spec.build.flags") or [])
    if current or owned or wanted:
        flags, added = merge_build_flags(current, owned, wanted)
        if flags:
            update_in(config, "spec.build.flags", flags)
        elif "flags" in build:
            del config["spec"]["build"]["flags"]
        if added:
            annotations[OWNED_NUCLIO_FLAGS_ANNOTATION] = " ".join(added)
        else:
            annotations.pop(OWNED_NUCLIO_FLAGS_ANNOTATION, None)
        config.setdefault("metadata", {})["annotations"] = annotations
    if target.pod_labels:
        meta = config.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **target.pod_labels}
    return config


def build_file(source: str, name: str = "", project: str = "", registry: ActiveRegistry | RegistryService | None = None,
               *, spec: Any = None, tag: str = "", **kwargs: Any) -> tuple[str, dict[str, Any], str]:
    """``nuclio.build_file`` with the registry keys in the returned config (offline)."""
    nuclio = extra_module("nuclio")

    if not name:
        # nuclio-jupyter derives the name from the source; ask it first so the target matches
        name, _, _ = nuclio.build_file(source, name, spec=spec, tag=tag, project=project, **kwargs)
    merged = config_spec(name, project, registry, spec=spec, tag=tag or None)
    result: tuple[str, dict[str, Any], str] = nuclio.build_file(source, name, spec=merged, tag=tag, project=project,
                                                                 **kwargs)
    return result


def deploy_config(config: dict[str, Any], dashboard_url: str = "", name: str = "", project: str = "",
                  registry: ActiveRegistry | RegistryService | None = None, *, tag: str = "",
                  **kwargs: Any) -> Any:
    """Check the version gate against ``dashboard_url``, add the registry keys, then deploy."""
    nuclio_deploy_config = extra_module("nuclio.deploy").deploy_config

    name = name or str(config.get("metadata", {}).get("name", ""))
    target = nuclio_target(name, project, registry, tag=tag or None, dashboard_url=dashboard_url or None)
    apply_to_config(config, target)
    return nuclio_deploy_config(config, dashboard_url, name=name, project=project, tag=tag, **kwargs)


def deploy_file(source: str = "", dashboard_url: str = "", name: str = "", project: str = "",
                registry: ActiveRegistry | RegistryService | None = None, *, spec: Any = None, tag: str = "",
                **kwargs: Any) -> Any:
    """``nuclio.deploy_file`` behind the version gate, with the registry keys in its spec."""
    nuclio = extra_module("nuclio")

    if not name:
        name, _, _ = nuclio.build_file(source, name, spec=spec, tag=tag, project=project)
    merged = config_spec(name, project, registry, spec=spec, tag=tag or None, dashboard_url=dashboard_url or None)
    return nuclio.deploy_file(source, dashboard_url, name=name, project=project, spec=merged, tag=tag, **kwargs)


def deploy_code(code: str, dashboard_url: str = "", name: str = "", project: str = "",
                registry: ActiveRegistry | RegistryService | None = None, *, spec: Any = None, tag: str = "",
                **kwargs: Any) -> Any:
    """``nuclio.deploy_code`` behind the version gate, with the registry keys in its spec."""
    nuclio = extra_module("nuclio")

    merged = config_spec(name, project, registry, spec=spec, tag=tag or None, dashboard_url=dashboard_url or None)
    return nuclio.deploy_code(code, dashboard_url, name=name, project=project, spec=merged, tag=tag, **kwargs)
