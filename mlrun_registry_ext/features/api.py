"""The Python API for notebooks and ``project_setup.py``: resolve the registry, compute targets.

``resolve()`` asks the MLRun API and the Nuclio dashboard (when configured) what they run, so push
targets follow the server's naming and the version gates see real versions.

Per-project registries: ``resolve(project=P)`` follows the config file's ``projects`` map, and an
:class:`ActiveRegistry` follows it for every project it computes a target for (:meth:`ActiveRegistry.for_project`):
what was given explicitly when it was resolved (arguments, a service) and the environment still win.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrun_registry_ext.clients.local_config import (
    load_config_file,
    read_dotenv_layer,
    read_env_layer,
)
from mlrun_registry_ext.clients.local_config import (
    namespace_domain as read_namespace_domain,
)
from mlrun_registry_ext.clients.platform_probe import PlatformInfo, probe_platform
from mlrun_registry_ext.core.build import pulled_services
from mlrun_registry_ext.core.buildah import BuilderBackend, builder_backend
from mlrun_registry_ext.core.platform_config import PlatformConfig
from mlrun_registry_ext.core.resolution import ResolvedRegistry, explicit_layer, resolve_layers
from mlrun_registry_ext.core.secrets import SecretValue
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.core.targets import NuclioNaming, PushTarget, project_image_target, push_target
from mlrun_registry_ext.errors import ConfigError
from mlrun_registry_ext.features.version_gate import check_version_gates

log = logging.getLogger("mlrun_registry_ext")
_warned: set[str] = set()


def warn_once(message: str) -> None:
    """Log a warning the first time this process sees it (notebooks re-run cells a lot)."""
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


def resolve_registry(
    *,
    url: str | None = None,
    username: str | None = None,
    password: str | SecretValue | None = None,
    image_prefix: str | None = None,
    secret_name: str | None = None,
    insecure: bool | None = None,
    ca_bundle: str | None = None,
    service: RegistryService | None = None,
    active: str | None = None,
    config: str | Path | None = None,
    dotenv: str | Path | None = None,
    server_registry: str | None = None,
    namespace_domain: str | None = None,
    project: str | None = None,
    builder_backend: str | None = None,
) -> ResolvedRegistry:
    """Resolve the active registry from every layer: explicit arguments, then ``MLRUN_REGISTRY_EXT_*`` in the
    environment, ``.env`` (``dotenv``, default ``./.env``), the config file, ``server_registry`` (the MLRun
    server's ``docker_registry``; the caller fetches it) and the default. ``namespace_domain`` defaults to
    ``IGZ_NAMESPACE_DOMAIN``; ``project`` picks the config file's ``projects`` entry. The rules are
    :func:`mlrun_registry_ext.core.resolution.resolve_layers`'; this reads the sources
    (:mod:`~mlrun_registry_ext.clients.local_config`) and logs each warning once."""
    text_argument(project, "project", optional=True)
    domain = namespace_domain if namespace_domain is not None else read_namespace_domain()
    top = explicit_layer({"url": url, "username": username, "password": password, "image_prefix": image_prefix,
                          "secret_name": secret_name, "insecure": insecure, "ca_bundle": ca_bundle,
                          "builder_backend": builder_backend}, service)
    if config is not None:
        top.set("config", str(config), "explicit argument")
    if active is not None:
        top.set("active", active, "explicit argument")
    resolved = resolve_layers(explicit=top, env=read_env_layer(), dotenv=read_dotenv_layer(dotenv),
                              load_config=lambda path: load_config_file(path, domain), service=service,
                              server_registry=server_registry, namespace_domain=domain, project=project)
    for warning in resolved.warnings:
        warn_once(warning)
    return resolved


def text_argument(value: Any, field: str, optional: bool = False) -> Any:
    """A name argument must be text without whitespace or control characters (a trailing newline from
    ``input()`` or a file is the usual culprit); its grammar is checked where it is used."""
    if value is None and optional:
        return value
    if not isinstance(value, str):
        raise ConfigError(field, f"expected a string, got {type(value).__name__}")
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise ConfigError(field, "may not contain spaces, newlines or control characters")
    return value


@dataclass
class ActiveRegistry:
    """The resolved registry plus what the platform reported: the thing every hook works from."""

    resolved: ResolvedRegistry
    platform: PlatformInfo = field(default_factory=PlatformInfo)
    #: What :func:`resolve` was given (None: this registry is used as it is, for every project).
    inputs: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    _per_project: dict[str, ActiveRegistry] = field(default_factory=dict, init=False, repr=False, compare=False)

    def for_project(self, project: str) -> ActiveRegistry:
        """This registry resolved again for ``project``, with the same inputs and platform (no network):
        the config file's ``projects`` entry applies, explicit inputs and the environment still win.
        Itself when it was resolved for ``project`` or from no recorded inputs."""
        if self.inputs is None or project == self.resolved.project:
            return self
        cached = self._per_project.get(project)
        if cached is None:
            resolved = resolve_registry(**{**self.inputs, "project": project},
                                        server_registry=self.platform.docker_registry)
            cached = self._per_project[project] = ActiveRegistry(resolved, self.platform, self.inputs)
        return cached

    @property
    def service(self) -> RegistryService:
        return self.resolved.service

    @property
    def sources(self) -> dict[str, str]:
        return self.resolved.sources

    @property
    def warnings(self) -> list[str]:
        return list(self.resolved.warnings) + list(self.platform.problems)

    def check_gates(self, kind: str | None = None) -> list[str]:
        """Raise :class:`VersionGateError` below MLRun 1.0.5 / Nuclio 1.10.0; return the warnings (about
        the components that build ``kind``: no Nuclio caveat for a job)."""
        notes = check_version_gates(self.service, self.platform, kind)
        for note in notes:
            warn_once(note)
        return notes

    def target(self, project: str, function: str, kind: str = "job", tag: str | None = None, *,
               nuclio_name: str | None = None) -> PushTarget:
        """The push target for one function (version gates checked first), on ``project``'s registry."""
        text_argument(project, "project")
        active = self.for_project(project)
        if active is not self:
            return active.target(project, function, kind, tag, nuclio_name=nuclio_name)
        text_argument(function, "function")
        text_argument(kind, "kind")
        text_argument(tag, "tag", optional=True)
        text_argument(nuclio_name, "nuclio_name", optional=True)
        self.check_gates(kind)
        return push_target(self.service, project, function, kind, tag, mlrun_naming=self.platform.mlrun_naming,
                           nuclio_naming=self._nuclio_naming(), source=self.resolved.source,
                           nuclio_name=nuclio_name, server_registry=self.platform.docker_registry,
                           pulled=self.pulled(), backend=self.builder())

    def project_image(self, project: str, tag: str | None = None) -> PushTarget:
        """The image ``project.build_image()`` builds, named so the server's prefix check passes."""
        text_argument(project, "project")
        active = self.for_project(project)
        if active is not self:
            return active.project_image(project, tag)
        text_argument(tag, "tag", optional=True)
        self.check_gates("job")  # built by the MLRun API
        return project_image_target(self.service, project, tag, source=self.resolved.source,
                                    mlrun_naming=self.platform.mlrun_naming,
                                    server_registry=self.platform.docker_registry, pulled=self.pulled(),
                                    backend=self.builder())

    def builder(self) -> BuilderBackend:
        """The MLRun server's builder backend: the ``builder_backend`` setting when it names one, else what
        the MLRun API reports (no MLRun reports it yet: clients.platform_probe), else MLRun's default."""
        where = self.sources.get("builder_backend", "the setting")
        return builder_backend(self.service.builder_backend, self.platform.builder_backend,
                               setting_source=where, reported_source=f"the MLRun API at {self.platform.dbpath}")

    def pulled(self) -> tuple[RegistryService, ...]:
        """The services this registry's builds pull from (``pull_from``, looked up among the configured)."""
        return pulled_services(self.service, self.resolved.all_services)

    def _nuclio_naming(self) -> NuclioNaming:
        """The dashboard's naming, with its push registry when the environment names it (the dashboard's
        API never returns it; a '.' target needs it to know whether Nuclio adds ``nuclio/``)."""
        naming = self.platform.nuclio_naming
        registry_url = os.environ.get("NUCLIO_DASHBOARD_REGISTRY_URL", "").strip()
        if registry_url and naming.registry_url is None:
            naming = dataclasses.replace(naming, registry_url=registry_url)
        return naming

    def platform_config(self) -> PlatformConfig:
        """The platform's settings for this registry (:func:`~mlrun_registry_ext.features.platform_config.
        platform_config_for`)."""
        # Lazy on purpose (not a cycle: that module never imports this one): it brings the registry
        # client (http.client, ssl) that `show` and `target`, which import this module, never use.
        from mlrun_registry_ext.features.platform_config import platform_config_for

        return platform_config_for(self.service, self.resolved.all_services, self.platform, self.builder().name)

    def to_dict(self) -> dict[str, Any]:
        data = self.resolved.to_dict()
        data["platform"] = {
            "mlrun_client": self.platform.mlrun_client, "mlrun_server": self.platform.mlrun_server,
            "nuclio_from_mlrun": self.platform.nuclio_from_mlrun, "nuclio_dashboard": self.platform.nuclio_dashboard,
            "mlrun_dbpath": self.platform.dbpath, "nuclio_dashboard_url": self.platform.dashboard_url,
        }
        data["warnings"] = self.warnings
        return data

    def __repr__(self) -> str:
        svc = self.service
        scope = f" for project {self.resolved.project}" if self.resolved.project else ""
        return (f"<ActiveRegistry {svc.name}{scope}: {svc.url} ({svc.provider.value}), "
                f"url from {self.resolved.source}>")

    def _repr_html_(self) -> str:
        platform = "".join(f"<li>{html.escape(k)}: <code>{html.escape(str(v))}</code></li>"
                           for k, v in self.to_dict()["platform"].items() if v)
        extra = "".join(f"<p>&#9888; {html.escape(w)}</p>" for w in self.platform.problems)
        return self.resolved._repr_html_() + (f"<ul>{platform}</ul>" if platform else "") + extra


def resolve(
    *,
    url: str | None = None,
    username: str | None = None,
    password: str | SecretValue | None = None,
    image_prefix: str | None = None,
    secret_name: str | None = None,
    insecure: bool | None = None,
    ca_bundle: str | None = None,
    service: RegistryService | None = None,
    active: str | None = None,
    config: str | Path | None = None,
    project: str | None = None,
    probe: bool = True,
    probe_timeout: float | None = None,
    builder_backend: str | None = None,
) -> ActiveRegistry:
    """Resolve the active registry; explicit arguments win over env, ``.env`` and the config file.
    ``project``: the registry of that project (the config file's ``projects`` map).
    ``probe_timeout`` bounds asking the MLRun API and Nuclio (default: ``platform_probe.DEFAULT_TIMEOUT``).
    ``builder_backend``: ``kaniko``, ``buildah`` or ``auto``, the MLRun server's backend (core.buildah)."""
    if probe:
        platform = probe_platform() if probe_timeout is None else probe_platform(timeout=probe_timeout)
    else:
        platform = PlatformInfo()
    inputs: dict[str, Any] = {"url": url, "username": username, "password": password, "image_prefix": image_prefix,
                              "secret_name": secret_name, "insecure": insecure, "ca_bundle": ca_bundle,
                              "service": service, "active": active, "config": config,
                              "builder_backend": builder_backend}
    resolved = resolve_registry(**inputs, project=project, server_registry=platform.docker_registry)
    for problem in platform.problems:
        warn_once(problem)
    return ActiveRegistry(resolved=resolved, platform=platform, inputs=inputs)


def as_active(registry: ActiveRegistry | RegistryService | None, overrides: dict[str, Any],
              project: str | None = None) -> ActiveRegistry:
    """Accept what notebooks pass around: an ActiveRegistry, a RegistryService, or nothing; with ``project``,
    the registry for that project (a RegistryService passed in stays explicit and wins)."""
    if isinstance(registry, ActiveRegistry) and not overrides:
        return registry.for_project(project) if project is not None else registry
    if isinstance(registry, RegistryService):
        return resolve(service=registry, project=project, **overrides)
    if isinstance(registry, ActiveRegistry):
        return resolve(service=registry.service, project=project, **overrides)
    return resolve(project=project, **overrides)


def target(project: str, function: str, kind: str = "job", tag: str | None = None,
           registry: ActiveRegistry | RegistryService | None = None, **overrides: Any) -> PushTarget:
    """Shortcut: resolve for ``project`` (its ``projects`` entry in the config file), then the push target."""
    text_argument(project, "project")
    return as_active(registry, overrides, project=project).target(project, function, kind, tag)


def as_service(registry: Any = None, field: str = "registry", *, project: str | None = None,
               **overrides: Any) -> RegistryService:
    """What a user passes for a registry, as a service: a registry URL (``http://`` = explicitly insecure;
    ``overrides`` become its fields), a :class:`RegistryService`, an :class:`ActiveRegistry` (its
    ``project``'s registry), or None (resolved from the settings, for ``project``; no platform probe).
    With a service and ``overrides``, resolution applies them. Anything else is a ConfigError on ``field``."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if isinstance(registry, str):
        return RegistryService(url=registry, **overrides)
    if isinstance(registry, ActiveRegistry):
        registry = (registry.for_project(project) if project is not None else registry).service
        project = None
    if registry is not None and not isinstance(registry, RegistryService):
        raise ConfigError(field, f"expected a registry URL, a RegistryService or a resolved registry, got "
                                 f"{type(registry).__name__}")
    if registry is not None and not overrides:
        return registry
    return resolve_registry(service=registry, project=project, **overrides).service
