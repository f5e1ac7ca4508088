"""Exceptions with one-line messages that are safe to print (they never carry secrets).

Every error the package raises on purpose derives from :class:`RegistryExtError`; the CLI turns it
into one line on stderr and its ``exit_code``, never a traceback.
"""

from __future__ import annotations

import re

#: How much of an input value an error quotes (the rest is cut with an ellipsis).
QUOTE_LIMIT = 80
#: The longest message an error carries: a safety net for messages that quote input without :func:`quote`.
MESSAGE_LIMIT = 400
ELLIPSIS = "..."
_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s'\"]*@")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr`` of a user-given value for an error message, cut to ``limit`` characters.

    The one place that decides how much input an error echoes: a megabyte-long URL or tag shows its
    first characters and an ellipsis, never the whole thing. Never pass a secret: cutting is not hiding.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        return repr(text[:limit]) + ELLIPSIS
    return repr(text)


def one_line(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """A message safe to print: one line (control characters escaped), URL userinfo masked, length capped.

    Messages that quote input through :func:`quote` never need the cap; it is the safety net for text
    that did not (an unexpected exception's message, a value formatted with ``!r`` elsewhere). The cut
    keeps the head (the field) and the tail (what is allowed).
    """
    text = _USERINFO_RE.sub(r"\1***@", message)
    text = _CONTROL_RE.sub(lambda match: repr(match[0])[1:-1], text)
    if len(text) > limit:
        half = (limit - 5) // 2
        text = f"{text[:half]} {ELLIPSIS} {text[-half:]}"
    return text


class RegistryExtError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        message = one_line(message)
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(RegistryExtError):
    """Invalid configuration or usage: names the field and what is allowed (CLI exit 2)."""

    exit_code = 2

    # Deliberately not a ValueError: validation layers (pydantic in a caller's model, argparse) let it through.
    def __init__(self, field: str, message: str) -> None:
        self.field = one_line(field, QUOTE_LIMIT * 2)
        self.detail = one_line(message)
        super().__init__(f"{self.field}: {self.detail}" if field else self.detail)


class VersionGateError(RegistryExtError):
    """A component is too old for an external registry (CLI exit 3)."""

    exit_code = 3


class MissingExtraError(RegistryExtError, ModuleNotFoundError):
    """An optional package is not installed: the one line names the extra that installs it (CLI exit 2).

    Also a ``ModuleNotFoundError``, so that code falling back on ``except ImportError`` still does.
    """

    exit_code = 2

    def __init__(self, extra: str, module: str) -> None:
        super().__init__(f"{module} is not installed; install the {extra!r} extra: "
                         f"pip install 'mlrun-registry-ext[{extra}]'")
        self.extra = extra
        self.name = module


class RegistryAPIError(RegistryExtError):
    """A registry, cluster or cloud API answered with an error a person can act on (CLI exit 1)."""

    exit_code = 1
