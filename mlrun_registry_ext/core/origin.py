"""Same origin, defined once: ``(scheme, lower-cased host, port with its default)``.

Credentials and pooled connections belong to an origin. A ``Location`` header, a redirect, a docker
config key or a ``--to`` URL may spell the same registry as ``LOCALHOST``, ``localhost:80`` or
``[::1]:443``; comparing strings would drop the credentials there and the upload would then fail as
"password rejected". Like go-containerregistry's ``canonicalAddress`` (``name/registry.go``), the
port is filled in from the scheme before comparing. Host:port splitting (IPv6 brackets included)
lives here too, so no module writes it again.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


class Origin(NamedTuple):
    """``(scheme, host, port)``: the host lower-case and without IPv6 brackets, the port always set."""

    scheme: str
    host: str
    port: int

    @property
    def netloc(self) -> str:
        """``host:port`` (``[v6]:port``) as a URL writes it, with the port even when it is the default."""
        return f"{bracketed(self.host)}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc}"


def bracketed(name: str) -> str:
    """An IPv6 literal in brackets (as URLs and ``host:port`` need it); other names unchanged."""
    return f"[{name}]" if ":" in name and not name.startswith("[") else name


def split_host_port(host: str) -> tuple[str, int | None]:
    """``name``, ``name:port``, ``[v6]`` or ``[v6]:port`` -> (lower-cased name without brackets, port or None).

    Raises ValueError for a port that is not a number in 1-65535 or an unclosed bracket.
    """
    text = host.strip()
    if text.startswith("["):
        name, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise ValueError(f"malformed host {host[:100]!r}")
        port_text = rest[1:] if rest else None
    elif text.count(":") > 1:  # a bare IPv6 literal (no port possible without brackets)
        name, port_text = text, None
    else:
        name, sep, port_text = text.partition(":")
        port_text = port_text if sep else None
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"port {port_text[:20]!r} is not a number in 1-65535")
        port = int(port_text)
    return name.lower(), port


def host_name(host: str) -> str:
    """The name part of ``host[:port]`` (no port, no brackets); the input itself when it cannot be split."""
    try:
        return split_host_port(host)[0]
    except ValueError:
        return host


def registry_origin(host: str, insecure: bool = False) -> Origin:
    """The origin of a registry written ``host[:port]`` (https unless explicitly insecure)."""
    scheme = "http" if insecure else "https"
    name, port = split_host_port(host)
    return Origin(scheme, name, port or DEFAULT_PORTS[scheme])


def url_origin(url: str) -> Origin:
    """The origin of an absolute http(s) URL; ValueError for anything else."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {url[:200]!r}")
    netloc = parts.netloc.rpartition("@")[2]
    name, port = split_host_port(netloc)
    if not name:
        raise ValueError(f"no host in {url[:200]!r}")
    return Origin(scheme, name, port or DEFAULT_PORTS[scheme])


def same_origin(a: str | Origin, b: str | Origin) -> bool:
    """Whether two URLs (or origins) are the same origin; False when either is not an http(s) URL."""
    try:
        return (a if isinstance(a, Origin) else url_origin(a)) == (b if isinstance(b, Origin) else url_origin(b))
    except ValueError:
        return False


def canonical_address(host: str, insecure: bool = False) -> tuple[str, int]:
    """A registry's identity: the lower-cased name and the port, filled in from the scheme when absent.

    The scheme itself is not part of it: ``http://localhost:5000`` and ``localhost:5000`` are one
    registry (a layer saying ``insecure`` describes it), while ``http://host`` and ``https://host`` are
    two (ports 80 and 443). ValueError for a host that cannot be split.
    """
    name, port = split_host_port(host)
    return name, port or DEFAULT_PORTS["http" if insecure else "https"]


def same_registry(a: str, b: str, insecure: bool = False, b_insecure: bool | None = None) -> bool:
    """Whether two ``host[:port]`` spellings name the same registry (``localhost`` == ``LOCALHOST:443``).

    ``insecure`` is ``a``'s scheme, and ``b``'s too unless ``b_insecure`` says otherwise.
    """
    try:
        return canonical_address(a, insecure) == canonical_address(b, insecure if b_insecure is None else b_insecure)
    except ValueError:
        return False


# --- the registry a login file's key names ---------------------------------------------------------
#: Docker Hub's key in a docker config and the server URL its credential helpers are asked for: what
#: ``docker login`` writes for ``docker.io`` (the v1 index URL, kept for compatibility).
DOCKER_HUB_KEY = "https://index.docker.io/v1/"
#: The names Docker Hub answers to; containers/image ``normalizeRegistry`` maps them to ``index.docker.io``.
DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def login_key_host(key: str) -> str:
    """The ``host[:port]`` a docker config, ``auth.json`` or ``credHelpers`` key names: a URL's scheme and path
    (``https://host/v1/``, what old ``docker login`` wrote) stripped, Docker Hub's names as one
    (containers/image ``pkg/docker/config/config.go``, ``normalizeAuthFileKey``). A key without a scheme
    keeps its path: ``quay.io/team`` is a namespaced login, not the registry's."""
    stripped = key.strip()
    for prefix in ("http://", "https://"):
        if stripped.lower().startswith(prefix):
            stripped = stripped[len(prefix):].split("/", 1)[0]
            break
    return "index.docker.io" if stripped.lower() in DOCKER_HUB_HOSTS else stripped


def login_key_matches(key: str, host: str, insecure: bool = False) -> bool:
    """Whether a login file's ``key`` is for the registry ``host`` (the canonical address: name in any
    case, the port with its default)."""
    return same_registry(login_key_host(key), login_key_host(host), insecure)


def helper_server_url(host: str) -> str:
    """The server URL a ``docker-credential-*`` helper is asked for: Docker Hub's v1 key, else the host
    (what ``docker login`` stores)."""
    return DOCKER_HUB_KEY if login_key_host(host) == "index.docker.io" else host
