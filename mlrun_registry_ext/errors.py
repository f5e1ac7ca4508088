"""Exceptions with one-line messages that are safe to print (they never carry secrets).

Every error the package raises on purpose derives from :class:`RegistryExtError`; the CLI turns it
into one line on stderr and its ``exit_code``, never a traceback.
"""

from __future__ import annotations


class RegistryExtError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(RegistryExtError):
    """Invalid configuration or usage: names the field and what is allowed (CLI exit 2)."""

    exit_code = 2

    # Deliberately not a ValueError: pydantic lets it through unchanged instead of wrapping it.
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.detail = message
        super().__init__(f"{field}: {message}" if field else message)


class VersionGateError(RegistryExtError):
    """A component is too old for an external registry (CLI exit 3)."""

    exit_code = 3


class RegistryAPIError(RegistryExtError):
    """A registry, cluster or cloud API answered with an error a person can act on (CLI exit 1)."""

    exit_code = 1


def config_error_from(exc: Exception, allowed: tuple[str, ...] = ()) -> ConfigError:
    """Turn a pydantic ``ValidationError`` into one :class:`ConfigError` (the first problem found).

    Input values are never echoed: they may be secrets.
    """
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return ConfigError("", str(exc))
    first = errors(include_input=False, include_url=False)[0]
    field = ".".join(str(part) for part in first.get("loc", ()))
    if first.get("type") == "extra_forbidden":
        hint = f"; allowed: {', '.join(allowed)}" if allowed else ""
        return ConfigError(field, f"unknown field{hint}")
    return ConfigError(field, str(first.get("msg", "invalid value")).removeprefix("Value error, "))
