"""Resolve the active registry service, remembering where each value came from.

Precedence, highest first: explicit Python arguments > environment > ``.env`` > the config file's
``projects`` entry for the project being resolved > the config file's ``active`` service > the MLRun
server's registry (client-spec ``docker_registry``) > the embedded default (the tenant's on-cluster
``docker-registry``, else MLRun's ``.`` convention).

The project map sits below the environment on purpose: ``MLRUN_REGISTRY_EXT_URL`` (or ``_ACTIVE``) set
in CI, or an explicit argument, is a decision made for this one run and must win over a file shared by
everyone; the map only replaces the file's own default, ``active``. When it is overridden that way, a
warning says so, and every value's source still names the layer it came from
(``config F projects['fraud-*'] -> services.ecr-team`` when the map decided).

Values merge field by field, with one exception: what belongs to a registry (username, password,
secret name, ``insecure``, CA bundle) is only taken from a layer that names no URL or the same
registry as the result (:func:`~mlrun_registry_ext.core.location.same_registry`), so a password, a
private CA or plain HTTP never follows a different registry. A URL written ``https://`` is never
downgraded: ``insecure`` then comes from nowhere but the URL's own layer, where it is an error.

Pure: the layers (environment, ``.env``), the config file loader and the namespace domain come in as
arguments; :func:`mlrun_registry_ext.features.api.resolve_registry` reads them
(:mod:`mlrun_registry_ext.clients.local_config`) and logs the warnings.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlrun_registry_ext.core.buildah import AUTO as BACKEND_AUTO
from mlrun_registry_ext.core.config import ConfigFile
from mlrun_registry_ext.core.location import RegistryLocation, parse_location, same_registry
from mlrun_registry_ext.core.projects import ProjectMatch
from mlrun_registry_ext.core.reference import is_registry_host
from mlrun_registry_ext.core.secrets import SecretText
from mlrun_registry_ext.core.service import (
    FIELDS,
    LAYER_FIELDS,
    REGISTRY_FIELDS,
    SERVER_REGISTRY,
    SERVICE_ONLY_FIELDS,
    RegistryService,
    validate_project_name,
)
from mlrun_registry_ext.core.settings import Layer, env_var
from mlrun_registry_ext.errors import ConfigError, quote


def url_from_mlrun_docker_registry(value: str) -> str:
    """MLRun's ``docker_registry`` as a URL, with MLRun's own parsing rule.

    The first segment is a registry only when it contains '.' or ':' or is 'localhost'; a value with
    no '/' is a registry; otherwise the whole value is a Docker Hub repository.
    """
    text = value.strip()
    for scheme in ("https://", "http://"):
        if text.lower().startswith(scheme):
            text = text[len(scheme):]
    text = text.rstrip("/")
    first, sep, _ = text.partition("/")
    if not sep or is_registry_host(first):
        return text
    return f"docker.io/{text}"


@dataclass
class ResolvedRegistry:
    """The active service, every configured one, and the source of each active value."""

    service: RegistryService
    sources: dict[str, str]
    all_services: dict[str, RegistryService] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    config_path: str | None = None
    #: The project this was resolved for (None: no project), and the ``projects`` entry that matched it.
    project: str | None = None
    project_entry: ProjectMatch | None = None
    #: The config file's ``projects`` map (name or pattern -> service), as written.
    projects: dict[str, str] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """Where the URL came from: the source that decides which registry is active."""
        return self.sources.get("url", "default")

    def to_dict(self) -> dict[str, Any]:
        active = self.service.public_dict()
        return {
            "active": {**active, "sources": dict(self.sources)},
            "services": {name: svc.public_dict() for name, svc in self.all_services.items()},
            "config_path": self.config_path,
            "project": self.project,
            "project_entry": ({"key": self.project_entry.key, "service": self.project_entry.service}
                              if self.project_entry else None),
            "projects": dict(self.projects),
            "warnings": list(self.warnings),
        }

    def rows(self) -> list[tuple[str, str, str]]:
        """(field, value, source) for people; the password shows as set / not set."""
        public = self.service.public_dict()
        out = []
        shown_fields = [spec.name for spec in FIELDS if spec.name not in ("pull_from", "mirror", "platform_images")]
        for key in (*shown_fields[:2], "provider", *shown_fields[2:]):
            value = public.get(key)
            if key == "secret_name" and not value and self.service.docker_secret_name:
                value = f"{self.service.docker_secret_name} (derived)"
            shown = "-" if value in (None, "", {}) else str(value)
            out.append((key, shown, self.sources.get(key, "derived" if key == "provider" else "default")))
        return out

    def _repr_html_(self) -> str:
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td><code>{html.escape(v)}</code></td>"
                       f"<td>{html.escape(s)}</td></tr>" for k, v, s in self.rows())
        notes = "".join(f"<p>&#9888; {html.escape(w)}</p>" for w in self.warnings)
        scope = f" for project <b>{html.escape(self.project)}</b>" if self.project else ""
        return (f"<table><caption>Active registry <b>{html.escape(self.service.name)}</b>{scope}</caption>"
                f"<tr><th>field</th><th>value</th><th>source</th></tr>{body}</table>{notes}")


def explicit_layer(explicit: dict[str, Any], service: RegistryService | None = None) -> Layer:
    """The top layer: a service passed in, then explicit arguments (``None`` values left out)."""
    layer = Layer("explicit")
    if service is not None:
        for key in LAYER_FIELDS:
            if key == "builder_backend" and service.builder_backend == BACKEND_AUTO:
                continue  # "auto" is no choice: the environment or the config file may still make one
            layer.set(key, getattr(service, key), "explicit service")
    for key, value in explicit.items():
        if value is None:
            continue
        if key == "password":
            getter = getattr(value, "get_secret_value", None)
            value = SecretText(getter() if callable(getter) else str(value))
        layer.set(key, value, "explicit argument")
    return layer


def _config_layer(config: ConfigFile, active: str, label: str) -> Layer:
    layer = Layer("config")
    svc = config.services[active]
    for key in LAYER_FIELDS:
        value = getattr(svc, key)
        if (key == "insecure" and not value) or (key == "builder_backend" and value == BACKEND_AUTO):
            continue
        layer.set(key, value, label)
    return layer


def _default_layer(server_registry: str | None, namespace_domain: str | None) -> Layer:
    layer = Layer("default")
    if server_registry:
        url = url_from_mlrun_docker_registry(server_registry)
        layer.set("url", url, "MLRun server client-spec docker_registry")
        written_https = server_registry.strip().lower().startswith("https://")
        if not written_https and url.split("/", 1)[0].endswith(":80"):
            layer.set("insecure", True, "MLRun server's registry is on port 80: plain HTTP")
    elif namespace_domain:
        layer.set("url", f"docker-registry.{namespace_domain}:80", "default: on-cluster docker-registry "
                                                                   "(IGZ_NAMESPACE_DOMAIN)")
        layer.set("insecure", True, "default: the on-cluster registry serves plain HTTP")
    else:
        layer.set("url", SERVER_REGISTRY, "default: '.', the MLRun server's configured registry")
    return layer


def _layer_location(layer: Layer) -> RegistryLocation:
    """The registry a layer names, by its URL's scheme (bare and ``https://`` both mean port 443)."""
    return parse_location(layer.values["url"], layer.sources.get("url", "url"))


def _pick(layers: list[Layer], key: str, url_layer: Layer, final: RegistryLocation,
          locations: dict[int, RegistryLocation]) -> tuple[Any, str] | None:
    """The first layer's value for ``key``; for a registry field, only from a layer about that registry.
    ``final`` is the URL layer's location; ``locations`` caches the other layers' (each URL parsed once)."""
    for layer in layers:
        if key not in layer.values:
            continue
        if key in REGISTRY_FIELDS and layer is not url_layer:
            if key == "insecure" and not final.is_server_default and _written_https(url_layer):
                continue  # https:// is never downgraded by another layer
            if "url" in layer.values:
                where = locations.get(id(layer))
                if where is None:
                    where = locations[id(layer)] = _layer_location(layer)
                if not same_registry(where, final):
                    continue
        return layer.values[key], layer.sources[key]
    return None


def _written_https(layer: Layer | None) -> bool:
    value = layer.values.get("url") if layer is not None else None
    return isinstance(value, str) and value.strip().lower().startswith("https://")


def _url_layer(layers: list[Layer]) -> Layer:
    for layer in layers:
        if "url" in layer.values:
            return layer
    raise AssertionError("the default layer always has a URL")  # pragma: no cover


def _first(layers: list[Layer], key: str) -> tuple[Any, str] | None:
    for layer in layers:
        if key in layer.values:
            return layer.values[key], layer.sources[key]
    return None


def resolve_layers(
    *,
    explicit: Layer,
    env: Layer,
    dotenv: Layer,
    load_config: Callable[[str], ConfigFile],
    service: RegistryService | None = None,
    server_registry: str | None = None,
    namespace_domain: str | None = None,
    project: str | None = None,
) -> ResolvedRegistry:
    """Resolve the active registry from the layers, highest first: ``explicit`` (see :func:`explicit_layer`),
    ``env``, ``dotenv``, then the config file ``load_config`` returns for the path a layer names (its
    ``projects`` entry for ``project``, else its ``active`` service), the MLRun server's ``docker_registry``
    (``server_registry``) and the embedded default (``namespace_domain``: the tenant's ``IGZ_NAMESPACE_DOMAIN``).
    An ``active`` name from a top layer picks the service before the project map is consulted."""
    if project is not None:
        validate_project_name(project)
    top = [explicit, env, dotenv]
    config_file: ConfigFile | None = None
    picked_config = _first(top, "config")
    if picked_config:
        config_file = load_config(str(picked_config[0]))
    picked_active = _first(top, "active")
    active_name: str | None = None
    match: ProjectMatch | None = None  # a service passed in is explicit: the project map does not pick one
    if config_file is not None and project is not None and service is None:
        try:
            match = config_file.match_project(project)
        except ConfigError:
            if not picked_active:  # an ambiguous entry only matters when the map decides
                raise
    notes: list[str] = []
    if picked_active:
        active_name = str(picked_active[0])
        if config_file is None:
            raise ConfigError(env_var("active"), f"{quote(active_name)} names a service but no config file is set "
                                                 f"(set {env_var('config')})")
        if active_name not in config_file.services:
            raise ConfigError(env_var("active"), f"{quote(active_name)} is not a configured service; allowed: "
                                                 f"{', '.join(config_file.services) or '(none)'}")
        if match is not None and match.service != active_name:
            notes.append(_overridden(match, config_file, f"the service is {active_name!r}, named by "
                                                         f"{picked_active[1]}"))
        match = None
    elif match is not None and config_file is not None:
        active_name = match.service
    elif config_file is not None:
        active_name = config_file.active
        if active_name is None and len(config_file.services) == 1:
            active_name = next(iter(config_file.services))
        elif active_name is None and config_file.services:
            unmatched = f"no 'projects' entry matches project {quote(project)}, " \
                if project is not None and config_file.projects else ""
            hint = "" if project is not None or not config_file.projects else "; or name a project (--project)"
            raise ConfigError(f"config file {config_file.path}: active",
                              f"{unmatched}several services ({', '.join(config_file.services)}) and none active; "
                              f"set 'active' in the file or {env_var('active')}{hint}")

    layers = list(top)
    base: RegistryService | None = None
    config_label = ""
    if config_file is not None and active_name is not None:
        base = config_file.services[active_name]
        config_label = match.label(config_file.path) if match is not None else \
            f"config {config_file.path} services.{active_name}"
        layers.append(_config_layer(config_file, active_name, config_label))
    if service is not None:
        base = service
    layers.append(_default_layer(server_registry, namespace_domain))

    url_layer = _url_layer(layers)
    try:
        final = _layer_location(url_layer)
    except ConfigError as exc:
        raise ConfigError(f"url (from {url_layer.sources['url']})", exc.detail) from None
    if match is not None and config_file is not None and any(url_layer is layer for layer in top):
        mapped = config_file.services[match.service].location
        if not same_registry(final, mapped) or final.path != mapped.path:
            notes.append(_overridden(match, config_file, f"the url comes from {url_layer.sources['url']}"))
    locations: dict[int, RegistryLocation] = {}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key in LAYER_FIELDS:
        picked = _pick(layers, key, url_layer, final, locations)
        if picked is not None:
            values[key], sources[key] = picked
    if base is not None:
        values["name"] = base.name
        sources["name"] = "explicit service" if service is not None else (
            config_label if match is not None else f"config {config_file and config_file.path}")
        for spec in SERVICE_ONLY_FIELDS:  # with the chosen service as a whole; sourced when not the default
            values[spec.name] = value = getattr(base, spec.name)
            if value != spec.parse(spec.default, spec.name):
                sources[spec.name] = sources["name"]
    try:
        resolved_service = RegistryService(**values, namespace_domain=namespace_domain)
    except ConfigError as exc:
        where = sources.get(exc.field.split(".")[0])
        raise ConfigError(f"{exc.field} (from {where})" if where else exc.field, exc.detail) from None

    all_services = dict(config_file.services) if config_file else {}
    all_services[resolved_service.name] = resolved_service
    warnings: list[str] = list(notes)
    if resolved_service.rules.warning:
        warnings.append(resolved_service.rules.warning)
    return ResolvedRegistry(service=resolved_service, sources=sources, all_services=all_services,
                            warnings=warnings, config_path=str(config_file.path) if config_file else None,
                            project=project, project_entry=match,
                            projects=dict(config_file.projects) if config_file else {})


def _overridden(match: ProjectMatch, config: ConfigFile, why: str) -> str:
    """The warning when explicit settings or the environment win over the project map."""
    return (f"project {match.project}: {why}, not {match.label(config.path)} (explicit settings, the "
            "environment and .env win over the project map)")
