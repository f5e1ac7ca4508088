"""Secrets, and the username/password pair rule.

:class:`SecretText` is the one password holder of the registry service model: a plain class, so the
CLI never pays for pydantic at start-up. Anything that answers ``get_secret_value()``
(:class:`SecretValue`, e.g. :class:`pydantic.SecretStr` from a notebook) is accepted by
:func:`as_secret` and stored as a :class:`SecretText`.
"""

from __future__ import annotations

from typing import Any, Protocol

from mlrun_registry_ext.errors import ConfigError

MASK = "**********"


class SecretValue(Protocol):
    """A password holder: ``pydantic.SecretStr`` or :class:`SecretText`."""

    def get_secret_value(self) -> str: ...


class SecretText:
    """A string that never shows itself: ``repr``/``str``/format give ``**********``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"SecretText takes a str, not {type(value).__name__}")
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"SecretText('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretText) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def as_secret(value: Any, field: str = "password") -> SecretText | None:
    """A password as :class:`SecretText`; None or '' is no password. Never echoes the value."""
    if value is None:
        return None
    if isinstance(value, SecretText):
        return value if value.get_secret_value() != "" else None
    getter = getattr(value, "get_secret_value", None)
    text = getter() if callable(getter) else value
    if not isinstance(text, str):
        raise ConfigError(field, f"expected text, got {type(text).__name__}")
    return SecretText(text) if text != "" else None


def check_credential_pair(username: str | None, has_password: bool) -> None:
    """Username and password come together or not at all (``username`` None/'' means none)."""
    if has_password and not username:
        raise ConfigError("username", "a password was given without a username")
    if username and not has_password:
        raise ConfigError("password", f"the password for user {username!r} is empty; give both or neither")
