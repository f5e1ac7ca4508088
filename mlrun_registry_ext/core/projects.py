"""The config file's ``projects`` map: which service a project's images go to.

:func:`parse_project_map` reads it, :func:`match_project` picks the entry: an exact name wins over
every pattern; among ``fnmatch`` patterns the most specific wins (:func:`pattern_specificity`), and
two equally specific patterns that name different services are refused rather than picked by file
order, because a silent pick would push a project's images, and its credentials, to the wrong registry.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrun_registry_ext.core.service import RegistryService, validate_project_name
from mlrun_registry_ext.errors import ConfigError, quote

#: What a ``projects`` key may contain: an MLRun project name's characters and fnmatch's ``* ? [ ] !``.
_PROJECT_KEY_RE = re.compile(r"[a-z0-9*?\[\]!-]{1,63}")
_GLOB_CHARS = frozenset("*?[")


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
