"""The YAML config file: several named services, an ``active`` one and a ``projects`` map.

Pure parsing: the file's text comes in as an argument (:func:`mlrun_registry_ext.clients.local_config.
load_config_file` reads it, safely). Its pieces live beside it: the settings layers
(:mod:`.settings`), the ``.env`` grammar (:mod:`.dotenv`), the strict YAML loader (:mod:`.strict_yaml`)
and the project map (:mod:`.projects`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlrun_registry_ext.core.projects import ProjectMatch, match_project, parse_project_map
from mlrun_registry_ext.core.service import RegistryService, validate_dns1123_label
from mlrun_registry_ext.core.settings import env_var
from mlrun_registry_ext.core.strict_yaml import load_yaml
from mlrun_registry_ext.errors import ConfigError, quote

#: The config file's top-level keys.
CONFIG_KEYS = ("services", "active", "projects")


@dataclass
class ConfigFile:
    """A YAML file with several named services, an ``active`` one and a ``projects`` map."""

    path: Path
    services: dict[str, RegistryService]
    active: str | None
    projects: dict[str, str] = field(default_factory=dict)

    def match_project(self, project: str) -> ProjectMatch | None:
        """The ``projects`` entry for ``project`` (see :func:`match_project`)."""
        return match_project(self.projects, project, f"config file {self.path}")

    @classmethod
    def from_text(cls, file: Path, text: str, namespace_domain: str | None = None) -> ConfigFile:
        """The config file ``file`` whose content is ``text`` (read by
        :func:`mlrun_registry_ext.clients.local_config.load_config_file`)."""
        where = f"config file {file}"
        data = load_yaml(text, f"{env_var('config')} {file}") or {}
        if not isinstance(data, dict):
            raise ConfigError(where, "expected a mapping with 'services' and optionally 'active' and 'projects'")
        unknown = sorted(str(key) for key in set(data) - set(CONFIG_KEYS))
        if unknown:
            raise ConfigError(f"{where}: {quote(unknown[0], 40)}", f"unknown key; allowed: {', '.join(CONFIG_KEYS)}")
        raw_services = data.get("services") or {}
        if isinstance(raw_services, list):
            for index, item in enumerate(raw_services):
                if not isinstance(item, dict) or "name" not in item:
                    raise ConfigError(f"{where}: services[{index}]", "expected a mapping with a name and fields")
            names = [str(item["name"]) for item in raw_services]
            for index, name in enumerate(names):
                if name in names[:index]:
                    raise ConfigError(f"{where}: services[{index}].name", f"{quote(name)} is used twice; "
                                                                          "each service needs its own name")
            raw_services = dict(zip(names, raw_services))
        if not isinstance(raw_services, dict):
            raise ConfigError(f"{where}: services", "expected a mapping of service name to fields")
        services: dict[str, RegistryService] = {}
        for name, fields in raw_services.items():
            validate_dns1123_label(str(name), f"{where}: services name")
            if isinstance(fields, dict):
                fields = {k: v for k, v in fields.items() if k != "name"}
            try:
                services[str(name)] = RegistryService.from_mapping(fields, name=str(name),
                                                                namespace_domain=namespace_domain)
            except ConfigError as exc:
                raise ConfigError(f"{where}: services.{name}.{exc.field}".rstrip("."),
                                  exc.detail) from None
        check_pull_from(services, where)  # the build fields
        active = data.get("active")
        if active is not None and str(active) not in services:
            raise ConfigError(f"{where}: active", f"{quote(active)} is not a configured service; allowed: "
                                                  f"{', '.join(services) or '(none configured)'}")
        projects = parse_project_map(data.get("projects"), services, where)
        platform_images_service(services, where)  # air gap: at most one
        return cls(path=file, services=services, active=str(active) if active is not None else None,
                   projects=projects)


# --- the build fields -------------------------------------------------------------------------
def check_pull_from(services: Mapping[str, RegistryService], where: str) -> None:
    """Every ``pull_from`` entry names a service of the same file."""
    for name, service in services.items():
        for index, other in enumerate(service.pull_from):
            if other not in services:
                raise ConfigError(f"{where}: services.{name}.pull_from[{index}]",
                                  f"{quote(other)} is not a configured service; allowed: "
                                  f"{', '.join(n for n in services if n != name) or '(no other service)'}")


# --- air gap ------------------------------------------------------------------
def platform_images_service(services: Mapping[str, RegistryService], where: str = "services"
                            ) -> RegistryService | None:
    """The service marked ``platform_images: true`` (the internal registry of the platform's own images),
    None when there is none. Two are a :class:`ConfigError` naming both: the platform can be pointed at
    one registry for its images, and a silent pick would send it to the other one."""
    marked = [service for service in services.values() if service.platform_images]
    if len(marked) > 1:
        raise ConfigError(f"{where}: services.{marked[1].name}.platform_images",
                          f"services {marked[0].name} and {marked[1].name} both say platform_images: true; "
                          "mark one")
    return marked[0] if marked else None
# --- end air gap --------------------------------------------------------------------------------
