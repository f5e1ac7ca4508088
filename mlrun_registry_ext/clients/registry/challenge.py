"""``WWW-Authenticate`` (RFC 9110 section 11.6.1): what a registry's 401 asks for.

A registry answers an unauthenticated request with 401 and one or more challenges, e.g.
``Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"``.
Real servers send several challenges in one header, several headers, quoted strings with commas and
escapes, and sloppy whitespace; a split on commas gets them wrong, so this is a small tokenizer that
follows the RFC grammar and skips what it cannot read rather than failing. The client picks the
challenge to answer (:func:`preferred`); ``RegistryClient.ping()`` hands it to the doctor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlrun_registry_ext.clients.transport import Response

__all__ = ["Challenge", "parse_www_authenticate", "preferred", "response_challenges"]


@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: lower-case ``scheme`` and its parameters (lower-case keys)."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")

    @property
    def error(self) -> str | None:
        return self.params.get("error")


_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def parse_www_authenticate(value: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value (RFC 9110) into challenges.

    Handles several challenges in one header, quoted strings with commas and backslash escapes,
    whitespace around ``=`` and unquoted values. Token68 credentials (no ``=``) are not kept: no
    registry scheme uses them.
    """
    challenges: list[Challenge] = []
    i, n = 0, len(value)

    def skip(chars: str) -> None:
        nonlocal i
        while i < n and value[i] in chars:
            i += 1

    def token() -> str:
        nonlocal i
        start = i
        while i < n and value[i] in _TOKEN_CHARS:
            i += 1
        return value[start:i]

    def quoted() -> str:
        nonlocal i
        i += 1  # opening quote
        out: list[str] = []
        while i < n and value[i] != '"':
            if value[i] == "\\" and i + 1 < n:
                i += 1
            out.append(value[i])
            i += 1
        i += 1  # closing quote (or the end of a truncated header)
        return "".join(out)

    while i < n:
        skip(" \t,")
        scheme = token()
        if not scheme:
            i += 1  # a stray character: skip it rather than fail on a sloppy server
            continue
        params: dict[str, str] = {}
        while i < n:
            skip(" \t")
            mark = i
            name = token()
            skip(" \t")
            if not name or i >= n or value[i] != "=":
                i = mark  # not a parameter: the next challenge's scheme (or a token68) starts here
                break
            i += 1
            skip(" \t")
            params[name.lower()] = quoted() if i < n and value[i] == '"' else token()
            skip(" \t")
            if i < n and value[i] == ",":
                i += 1
                continue
            break
        challenges.append(Challenge(scheme.lower(), params))
    return challenges


def response_challenges(response: Response) -> list[Challenge]:
    """Every challenge of every ``WWW-Authenticate`` header of ``response``, in order."""
    found: list[Challenge] = []
    for value in response.headers.get_all("www-authenticate") or []:
        found.extend(parse_www_authenticate(value))
    return found


def preferred(challenges: Sequence[Challenge]) -> Challenge | None:
    """Bearer over Basic (Bearer scopes say what is allowed); ``None`` when neither is offered."""
    by_scheme = {c.scheme: c for c in challenges}
    return by_scheme.get("bearer") or by_scheme.get("basic")
