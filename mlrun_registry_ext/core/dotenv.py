"""A ``.env`` text's bindings, with python-dotenv's grammar (what pydantic-settings used).

``[export] KEY=value``, single quotes literal, double quotes with backslash escapes (and over several
lines), ``# comments`` (after a space when the value is unquoted), ``${VAR}`` and ``${VAR:-default}``
expanded in unquoted and double-quoted values from the file's earlier keys, then the environment.
Variable names are matched without regard to case; an empty value counts as not set. Pure: the text
comes in as an argument (:func:`mlrun_registry_ext.clients.local_config.read_dotenv_layer` reads it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from mlrun_registry_ext.core.settings import ENV_PREFIX
from mlrun_registry_ext.errors import ConfigError, quote

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
