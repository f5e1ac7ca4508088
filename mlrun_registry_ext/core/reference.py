"""The image reference grammar (OCI distribution / docker ``reference``), with nothing of the network.

Like go-containerregistry's ``name`` package: parse and validate, never resolve. Every error is a
:class:`~mlrun_registry_ext.errors.ConfigError` naming the field and what is allowed.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from mlrun_registry_ext.core.origin import host_name
from mlrun_registry_ext.errors import ConfigError, quote

# Anchored with ``\Z``, not ``$`` (which also matches before a trailing newline), and used with ``fullmatch``.
PATH_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"^{PATH_COMPONENT}(?:/{PATH_COMPONENT})*\Z")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}\Z")
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}\Z")
SHA256_RE = re.compile(r"^sha256:[a-f0-9]{64}\Z")
_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
# distribution's ipv6address is ``\[[a-fA-F0-9:]+\]``; the address itself is checked by ipaddress.
HOST_RE = re.compile(rf"^(?:{_LABEL}(?:\.{_LABEL})*|\[(?P<ipv6>[a-fA-F0-9:]+)\])(?::(?P<port>[0-9]{{1,5}}))?\Z")

#: What clients commonly accept for ``host/name`` (docker's NameTotalLengthMax).
MAX_NAME_LENGTH = 255

ALLOWED_REPOSITORY = (
    "lowercase components of [a-z0-9] joined by '.', '_', '__' or '-', separated by '/'"
)
ALLOWED_TAG = "1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'"


def is_registry_host(component: str) -> bool:
    """True when the first path component names a registry (docker's rule)."""
    return component == "localhost" or "." in component or ":" in component


def validate_host(host: str, field: str = "url") -> str:
    """Validate ``host[:port]`` and return it lower-cased."""
    if not host:
        raise ConfigError(field, "the registry host is empty; expected host[:port][/path]")
    match = HOST_RE.fullmatch(host)
    if match is None or (match["ipv6"] is not None and not _is_ipv6(match["ipv6"])):
        raise ConfigError(field, f"{quote(host)} is not a valid registry host; expected a DNS name or [IPv6], "
                                 "optionally with :port")
    name = host_name(host)
    if match["ipv6"] is None and (len(name) > 253 or any(len(label) > 63 for label in name.split("."))):
        raise ConfigError(field, f"{quote(host)} is not a valid DNS name: at most 63 characters per label and "
                                 "253 in all")
    port = match["port"]
    if port is not None and not 0 < int(port) < 65536:
        raise ConfigError(field, f"port {port} is out of range 1-65535")
    return host.lower()


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def validate_repository(name: str, field: str = "repository") -> str:
    if not name:
        raise ConfigError(field, f"the repository name is empty; allowed: {ALLOWED_REPOSITORY}")
    if not REPOSITORY_RE.fullmatch(name):
        raise ConfigError(field, f"{quote(name)} is not a valid repository name; allowed: {ALLOWED_REPOSITORY}")
    return name


def validate_tag(tag: str, field: str = "tag") -> str:
    if not isinstance(tag, str) or not TAG_RE.fullmatch(tag):
        raise ConfigError(field, f"{quote(tag)} is not a valid tag; allowed: {ALLOWED_TAG}")
    return tag


@dataclass(frozen=True)
class ImageReference:
    """``registry/repository[:tag][@digest]``; ``registry`` is empty for MLRun's ``.`` convention."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @classmethod
    def build(cls, registry: str, repository: str, tag: str | None = None, field: str = "image") -> ImageReference:
        """Assemble and validate a reference, including the overall length limit."""
        validate_repository(repository, field)
        if tag is not None:
            validate_tag(tag, "tag")
        ref = cls(registry=registry, repository=repository, tag=tag)
        if len(ref.name) > MAX_NAME_LENGTH:
            raise ConfigError(field, f"{quote(ref.name)} is {len(ref.name)} characters; "
                                     f"registries accept at most {MAX_NAME_LENGTH} for host/name")
        return ref


def parse_reference(text: str, field: str = "image") -> ImageReference:
    """Parse ``[registry/]repository[:tag][@digest]`` without Docker Hub normalisation."""
    if not text or text != text.strip():
        raise ConfigError(field, f"{quote(text)} is not an image reference; expected [registry/]name[:tag][@digest]")
    rest, _, digest_text = text.partition("@")
    digest = digest_text or None
    if "@" in text and digest is None:
        raise ConfigError(field, f"{quote(text)} ends with '@' but has no digest")
    if digest is not None and not DIGEST_RE.fullmatch(digest):
        raise ConfigError(field, f"{quote(digest)} is not a valid digest; expected algorithm:hex")
    registry = ""
    first, sep, remainder = rest.partition("/")
    if sep and is_registry_host(first):
        registry = validate_host(first, field)
        rest = remainder
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        validate_tag(tag, field)
    validate_repository(rest, field)
    ref = ImageReference(registry, rest, tag, digest)
    if len(ref.name) > MAX_NAME_LENGTH:
        raise ConfigError(field, f"{quote(ref.name)} is longer than {MAX_NAME_LENGTH} characters")
    return ref


#: Docker Hub's names: what ``docker pull`` accepts for it, and where its API answers.
DOCKER_HUB = "docker.io"
DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def docker_hub_folded(ref: ImageReference) -> ImageReference:
    """``ref`` as Docker reads it (docker ``reference.ParseNormalizedNamed``): no registry is Docker Hub,
    every Docker Hub host is ``docker.io``, and a one-component name there is under ``library/``. So
    ``python``, ``library/python``, ``docker.io/python`` and ``index.docker.io/library/python`` are one
    repository. MLRun's ``.`` form (the server's own registry) is not a reference to fold: callers handle
    it first."""
    registry = ref.registry
    if not registry or host_name(registry) in DOCKER_HUB_HOSTS:
        registry = DOCKER_HUB
    repository = ref.repository
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    return ImageReference(registry, repository, ref.tag, ref.digest)
