"""Registry settings as content: the ``MLRUN_REGISTRY_EXT_*`` variables, a ``.env`` text, a YAML config text.

Pure parsing: the environment, the ``.env`` text and the config file's text come in as arguments
(:mod:`mlrun_registry_ext.clients.local_config` reads them, safely). Each source becomes a
:class:`Layer` on its own, so that resolution can merge them field by field and remember, for every
value, where it came from.

The ``.env`` grammar is python-dotenv's (what pydantic-settings used): ``[export] KEY=value``,
single quotes literal, double quotes with backslash escapes (and over several lines), ``# comments``
(after a space when the value is unquoted), ``${VAR}`` and ``${VAR:-default}`` expanded in unquoted and
double-quoted values from the file's earlier keys, then the environment. Variable names are matched
without regard to case; an empty value counts as not set. YAML: aliases (the "billion laughs" bomb),
nesting deeper than :data:`MAX_YAML_DEPTH` and duplicate keys (silently last-wins otherwise) are refused.

The config file's ``projects`` map sends projects to services (:func:`parse_project_map`,
:func:`match_project`): an exact name wins over every pattern; among ``fnmatch`` patterns the most
specific wins (:func:`pattern_specificity`), and two equally specific patterns that name different
services are refused rather than picked by file order, because a silent pick would push a project's
images, and its credentials, to the wrong registry.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrun_registry_ext.core.secrets import as_secret
from mlrun_registry_ext.core.service import LAYER_FIELDS, RegistryService, validate_dns1123_label, validate_project_name
from mlrun_registry_ext.errors import ConfigError, quote

ENV_PREFIX = "MLRUN_REGISTRY_EXT_"
#: Every ``MLRUN_REGISTRY_EXT_<NAME>`` a layer reads: the layered fields (``core.service.FIELDS``), the
#: config file and the active service.
SETTING_NAMES = (*LAYER_FIELDS, "config", "active")
#: The deepest YAML nesting accepted (a service is four levels deep).
MAX_YAML_DEPTH = 16
#: The config file's top-level keys.
CONFIG_KEYS = ("services", "active", "projects")
#: What a ``projects`` key may contain: an MLRun project name's characters and fnmatch's ``* ? [ ] !``.
_PROJECT_KEY_RE = re.compile(r"[a-z0-9*?\[\]!-]{1,63}")
_GLOB_CHARS = frozenset("*?[")


def env_var(name: str) -> str:
    return f"{ENV_PREFIX}{name.upper()}"


@dataclass
class Layer:
    """Values one source gives, each labelled with where it came from."""

    name: str
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def set(self, key: str, value: Any, source: str) -> None:
        if value is None or (isinstance(value, str) and value == ""):
            return
        self.values[key] = value
        self.sources[key] = source


def settings_from(variables: Mapping[str, str | None]) -> dict[str, str]:
    """Our settings among ``variables`` (the environment, a ``.env``): ``{field: text}``, names matched
    without regard to case, empty values left out. The exact upper-case name wins over other spellings."""
    out: dict[str, str] = {}
    exact: set[str] = set()
    for key, value in variables.items():
        upper = key.upper()
        if not upper.startswith(ENV_PREFIX) or value is None or value == "":
            continue
        name = upper[len(ENV_PREFIX):].lower()
        if name not in SETTING_NAMES or (name in exact and key != upper):
            continue
        out[name] = value
        if key == upper:
            exact.add(name)
    return out


def layer_from_settings(name: str, settings: Mapping[str, Any], label: str) -> Layer:
    """A :class:`Layer` from :func:`settings_from`'s values; ``label`` may use ``{var}`` (the variable)."""
    layer = Layer(name)
    for key in SETTING_NAMES:
        if key in settings:
            value = settings[key]
            if key == "password":
                value = as_secret(value, env_var(key))
            layer.set(key, value, label.format(var=env_var(key)))
    return layer


# --- .env ---------------------------------------------------------------------------------------------------
_DOTENV_KEY_RE = re.compile(r"[ \t]*(?:export[ \t]+)?([^=#\s]+)[ \t]*")
_DOTENV_EXPAND_RE = re.compile(r"\$\{(?P<name>[^}:]*)(?::-(?P<default>[^}]*))?\}")
_DOUBLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "b": "\b", "f": "\f",
                   "v": "\v", "a": "\a"}


def parse_dotenv(text: str, field: str, environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """The bindings of a ``.env`` text (python-dotenv's grammar); one of our variables given twice is a
    :class:`ConfigError`. ``environ`` feeds ``${VAR}`` expansion after the file's own earlier keys.
    A line that is not a binding is skipped, as python-dotenv skips it."""
    environ = environ or {}
    values: dict[str, str | None] = {}
    seen: dict[str, int] = {}
    pos, line = 0, 1
    length = len(text)
    while pos < length:
        end = text.find("\n", pos)
        end = length if end == -1 else end
        start_line = line
        stripped = text[pos:end].strip()
        if not stripped or stripped.startswith("#"):
            pos, line = end + 1, line + 1
            continue
        match = _DOTENV_KEY_RE.match(text, pos, end)
        if match is None or (match.end() < end and text[match.end()] not in "=#"):
            pos, line = end + 1, line + 1  # not a binding
            continue
        key = match[1]
        pos = match.end()
        value: str | None
        if pos >= end or text[pos] == "#":
            value = None
        else:
            pos += 1  # '='
            while pos < end and text[pos] in " \t":
                pos += 1
            quote_char = text[pos] if pos < length else ""
            if quote_char in ("'", '"'):
                closing = _closing_quote(text, pos + 1, quote_char)
                if closing == -1:
                    pos, line = end + 1, line + 1  # an unterminated quote: not a binding
                    continue
                raw = text[pos + 1:closing]
                line += raw.count("\n")
                value = raw.replace("\\'", "'").replace("\\\\", "\\") if quote_char == "'" else \
                    _expand(_unescape(raw), values, environ)
                end = text.find("\n", closing)
                end = length if end == -1 else end
            else:
                raw = text[pos:end]
                comment = re.search(r"[ \t]#", raw)
                if comment:
                    raw = raw[:comment.start()]
                value = _expand(raw.strip(), values, environ)
        upper = key.upper()
        if upper.startswith(ENV_PREFIX):
            if upper in seen:
                raise ConfigError(field, f"{quote(upper)} is set twice (line {start_line}); set it once")
            seen[upper] = start_line
        values[key] = value
        pos, line = end + 1, line + 1
    return values


def _closing_quote(text: str, pos: int, quote_char: str) -> int:
    while pos < len(text):
        char = text[pos]
        if char == "\\":
            pos += 2
            continue
        if char == quote_char:
            return pos
        pos += 1
    return -1


def _unescape(raw: str) -> str:
    return re.sub(r"\\(.)", lambda m: _DOUBLE_ESCAPES.get(m[1], "\\" + m[1]), raw, flags=re.DOTALL)


def _expand(value: str, earlier: Mapping[str, str | None], environ: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match["name"]  # python-dotenv: the file's earlier keys over the environment; a default when unset
        found = earlier[name] if name in earlier else environ.get(name, match["default"] or "")
        return found or ""

    return _DOTENV_EXPAND_RE.sub(one, value) if "${" in value else value


# --- the YAML config file -----------------------------------------------------------------------------------
def load_yaml(text: str, field: str) -> Any:
    """``yaml.safe_load`` without aliases, duplicate keys or deep nesting; errors name ``field``."""
    import yaml

    loader = None
    try:
        loader = _strict_loader()(text)  # the reader already refuses control characters here
        return loader.get_single_data()
    except _YamlRefused as exc:
        raise ConfigError(field, str(exc)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(field, f"not readable YAML{where} ({type(exc).__name__})") from None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        # ValueError: e.g. an integer of thousands of digits; TypeError: an unhashable mapping key
        raise ConfigError(field, f"not readable YAML ({type(exc).__name__})") from None
    finally:
        if loader is not None:
            loader.dispose()


class _YamlRefused(Exception):
    """A YAML construct the config file may not use (alias, duplicate key, deep nesting)."""


@functools.cache
def _strict_loader() -> Any:
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """SafeLoader that refuses aliases, duplicate keys and nesting deeper than MAX_YAML_DEPTH."""

        _depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise _YamlRefused(f"YAML aliases (*name) are not allowed (line {mark.line + 1})")
            self._depth += 1
            try:
                if self._depth > MAX_YAML_DEPTH:
                    mark = self.peek_event().start_mark
                    raise _YamlRefused(f"nested deeper than {MAX_YAML_DEPTH} levels (line {mark.line + 1})")
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:
                    raise _YamlRefused(f"a mapping key is not a plain value (line {key_node.start_mark.line + 1})")\
                        from None
                if duplicate:
                    raise _YamlRefused(f"duplicate key {quote(key)} (line {key_node.start_mark.line + 1}); each key "
                                       "may appear once")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


# --- the project map ------------------------------------------------------------------------------------
def is_pattern(key: str) -> bool:
    """A ``projects`` key with fnmatch wildcards (``*``, ``?``, ``[...]``); anything else is an exact name."""
    return not _GLOB_CHARS.isdisjoint(key)


def pattern_specificity(pattern: str) -> tuple[int, int, int]:
    """How specific a pattern is, compared as a tuple: literal characters, then single-character wildcards
    (``?`` and ``[...]``), then fewer ``*``. ``fraud-*`` (6, 0, -1) beats ``fr*`` (2, 0, -1) and
    ``ml-?`` (3, 1, 0) beats ``ml-*`` (3, 0, -1). A ``[`` without its ``]`` is a literal, as in fnmatch."""
    literal = single = stars = 0
    index, length = 0, len(pattern)
    while index < length:
        char = pattern[index]
        if char == "*":
            stars += 1
        elif char == "?":
            single += 1
        elif char == "[":  # fnmatch.translate's reading: '[!]...]' and '[]...]' hold a literal ']'
            start = index + 1
            if pattern[start:start + 1] == "!":
                start += 1
            if pattern[start:start + 1] == "]":
                start += 1
            close = pattern.find("]", start)
            if close == -1:
                literal += 1
            else:
                single += 1
                index = close
        else:
            literal += 1
        index += 1
    return literal, single, -stars


def parse_project_map(raw: Any, services: Mapping[str, RegistryService], where: str) -> dict[str, str]:
    """The ``projects`` mapping: project name or fnmatch pattern -> a configured service's name.

    Keys use a project name's characters (lowercase letters, digits, ``-``) and the wildcards ``* ? [ ] !``;
    a value must name a service in ``services``. Errors name the key (``projects['ml-*']``)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: projects", "expected a mapping of project name or pattern to service name, "
                                                "e.g. {fraud: ecr-team, 'ml-*': ghcr}")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not _PROJECT_KEY_RE.fullmatch(key):
            raise ConfigError(f"{where}: projects[{quote(key, 40)}]",
                              "not a project name or pattern: lowercase letters, digits, '-' and the wildcards "
                              "* ? [ ] !, at most 63 characters")
        entry = f"{where}: projects[{quote(key, 40)}]"
        if not is_pattern(key):
            validate_project_name(key, entry)
        if not isinstance(value, str) or value not in services:
            raise ConfigError(entry, f"{quote(value, 40)} is not a configured service; allowed: "
                                     f"{', '.join(services) or '(none configured)'}")
        out[key] = value
    return out


@dataclass(frozen=True)
class ProjectMatch:
    """The ``projects`` entry that sends ``project`` to ``service`` (``key`` is the name or the pattern)."""

    project: str
    key: str
    service: str

    def label(self, path: Path | str) -> str:
        """The source shown for every value this entry decides."""
        return f"config {path} projects[{quote(self.key, 70)}] -> services.{self.service}"


def match_project(projects: Mapping[str, str], project: str, where: str = "projects") -> ProjectMatch | None:
    """The entry for ``project``: its exact name, else the most specific matching pattern
    (:func:`pattern_specificity`), else None. Equally specific patterns naming different services are a
    :class:`ConfigError` naming both (add an exact entry or a more specific pattern); naming the same
    service they agree, and the first in sorted order is the one shown."""
    if project in projects:
        return ProjectMatch(project, project, projects[project])
    candidates = [key for key in projects if is_pattern(key) and fnmatch.fnmatchcase(project, key)]
    if not candidates:
        return None
    best = max(pattern_specificity(key) for key in candidates)
    top = sorted(key for key in candidates if pattern_specificity(key) == best)
    chosen = {projects[key] for key in top}
    if len(chosen) > 1:
        raise ConfigError(f"{where}: projects", f"project {quote(project)} matches {quote(top[0], 40)} and "
                                                f"{quote(top[1], 40)} equally (services "
                                                f"{projects[top[0]]}, {projects[top[1]]}); add an exact entry "
                                                "for it or make one pattern more specific")
    return ProjectMatch(project, top[0], projects[top[0]])


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
            raw_services = dict(zip(names, raw_services, strict=True))
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
