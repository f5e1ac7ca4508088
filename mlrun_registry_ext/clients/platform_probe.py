"""Ask the MLRun API and the Nuclio dashboard what they run and how they name images.

Plain HTTP GETs with short timeouts (clients.transport), not the mlrun client: importing mlrun costs ~1.5 s and
hangs ~28 s on an unreachable ``MLRUN_DBPATH``; the CLI must answer in well under a second.
Endpoints and shapes: ``GET {dbpath}/api/v1/client-spec`` and ``/api/v1/frontend-spec`` (MLRun),
``GET {dashboard}/api/versions`` and ``/api/frontend_spec`` (Nuclio). Nothing reachable is not an
error: the values stay unknown and the caller warns.

The builder backend (Kaniko or Buildah) is NOT in MLRun's answers: the client-spec
(mlrun/mlrun ``server/py/services/api/crud/client_spec.py`` at a639934, schema
``mlrun/common/schemas/client_spec.py`` at 28b5b95) and the frontend-spec
(``server/py/services/api/api/endpoints/frontend_spec.py`` at dcbfb39) carry no builder field, while
``httpdb.builder.builder_backend`` arrived in July 2026 (``builder/__init__.py`` at 7f3709e). A
``builder_backend`` in the client-spec is read should a server add one under the config key's name;
until then the package's ``builder_backend`` setting decides (core.buildah: ``auto`` is MLRun's default,
Kaniko).
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from mlrun_registry_ext.core.location import validate_service_url
from mlrun_registry_ext.core.targets import MLRunNaming, NuclioNaming
from mlrun_registry_ext.core.versions import ComponentVersion

#: Bound on the whole probe (every request to the MLRun API and the Nuclio dashboard together): a
#: server that drips its answer must not hold ``show`` or ``target`` longer than this.
DEFAULT_TIMEOUT = 3.0
#: The most a platform answer (client-spec, frontend-spec, versions) may weigh.
MAX_JSON = 1 << 20
#: CA bundle for an MLRun API / Nuclio dashboard behind a private certificate authority.
PLATFORM_CA_BUNDLE_ENV = "MLRUN_REGISTRY_EXT_PLATFORM_CA_BUNDLE"
#: The most a Nuclio function listing (every function's whole config) may hold.
LISTING_CAP = 64 << 20


@dataclass
class PlatformInfo:
    """What the client package, the MLRun server and the Nuclio dashboard report."""

    mlrun_server: str | None = None
    nuclio_from_mlrun: str | None = None
    nuclio_dashboard: str | None = None
    docker_registry: str | None = None
    #: The server's builder backend, if its client-spec says (none does at the commits read: see above).
    builder_backend: str | None = None
    mlrun_naming: MLRunNaming = field(default_factory=MLRunNaming)
    nuclio_naming: NuclioNaming = field(default_factory=NuclioNaming)
    dbpath: str | None = None
    dashboard_url: str | None = None
    problems: list[str] = field(default_factory=list)

    @functools.cached_property
    def mlrun_client(self) -> str | None:
        """The installed mlrun package's version, read once and only when a gate or report needs it."""
        return installed_mlrun_version()

    def versions(self) -> list[ComponentVersion]:
        """Every version a source reported; unknown server versions are left out (gates warn)."""
        found = []
        if self.mlrun_client:
            found.append(ComponentVersion("mlrun", self.mlrun_client, "the installed mlrun package"))
        if self.dbpath:
            found.append(ComponentVersion("mlrun", self.mlrun_server, f"the MLRun server at {self.dbpath}"))
            found.append(ComponentVersion("nuclio", self.nuclio_from_mlrun,
                                          f"the MLRun server's nuclio_version at {self.dbpath}"))
        if self.dashboard_url:
            found.append(ComponentVersion("nuclio", self.nuclio_dashboard,
                                          f"the Nuclio dashboard at {self.dashboard_url}"))
        return found


def installed_mlrun_version() -> str | None:
    """The mlrun client package's version, from the name of its ``mlrun-<version>.dist-info`` directory.

    Importing mlrun costs seconds, and ``importlib.metadata`` ~20 ms of imports (a sixth of ``show``) to
    read the same name. The ``sys.path`` entries are read in order, as ``import mlrun`` reads them: the
    first one holding the metadata gives the version; one holding the package itself (``mlrun/__init__.py``
    or ``mlrun.py``) without metadata is a source checkout that shadows any installed one. A plain file
    named ``mlrun`` is neither: a console script's ``sys.path[0]`` is the venv's ``bin/``, which holds
    mlrun's own ``mlrun`` command.
    """
    for entry in sys.path:
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if name.startswith("mlrun-") and name.endswith(".dist-info"):
                version = name.removeprefix("mlrun-").removesuffix(".dist-info")
                if version[:1].isdigit():  # not mlrun-registry-ext-0.1.0.dist-info from an older installer
                    return version
        if "mlrun.py" in names or ("mlrun" in names and os.path.isfile(os.path.join(folder, "mlrun", "__init__.py"))):
            return None
    return None


def _split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """``scheme://user:password@host/...`` -> (URL without them, user, password).

    The host part never contains '@', so the last '@' ends the userinfo even when the password holds
    '/', '#' or ':' (``urlsplit`` would read such a password as a path and lose it).
    """
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url, None, None
    userinfo, _, host = rest.rpartition("@")
    user, _, password = userinfo.partition(":")
    from urllib.parse import unquote

    return f"{scheme}://{host}", unquote(user) or None, unquote(password) or None


def mlrun_dbpath() -> str | None:
    """``MLRUN_DBPATH`` when it names an HTTP server (``./`` and file paths mean no server), without the
    ``user:password@`` MLRun accepts in it (see :func:`mlrun_headers`); the rest is checked."""
    value = os.environ.get("MLRUN_DBPATH", "").strip()
    if not value.startswith(("http://", "https://")):
        return None
    return validate_service_url(_split_userinfo(value)[0], "MLRUN_DBPATH").rstrip("/")


def nuclio_dashboard_url() -> str | None:
    value = os.environ.get("NUCLIO_DASHBOARD_URL", "").strip()
    if not value:
        return None
    if "://" not in value:
        value = f"http://{value}"
    return validate_service_url(value, "NUCLIO_DASHBOARD_URL").rstrip("/").removesuffix("/api")


def mlrun_headers() -> dict[str, str]:
    """The MLRun client's own login rule (mlrun/mlrun ``mlrun/db/httpdb.py`` ``HTTPRunDB``, client 1.12.1):
    a user and password from the dbpath's userinfo, else ``MLRUN_HTTPDB__USER``/``__PASSWORD``, as Basic
    auth; otherwise a token as Bearer. Never shown: PlatformInfo keeps the dbpath without them."""
    headers = {"Accept": "application/json"}
    _, user, password = _split_userinfo(os.environ.get("MLRUN_DBPATH", "").strip())
    user = user or os.environ.get("MLRUN_HTTPDB__USER") or None
    password = password or os.environ.get("MLRUN_HTTPDB__PASSWORD") or ""
    token = os.environ.get("MLRUN_HTTPDB__TOKEN") or os.environ.get("MLRUN_AUTH_TOKEN")
    if user:
        import base64

        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    elif token:
        headers["Authorization"] = f"Bearer {token}"
    access_key = os.environ.get("V3IO_ACCESS_KEY")
    if access_key:
        headers["X-V3io-Session-Key"] = access_key
    return headers


def _get_json(client: Any, url: str, headers: dict[str, str], problems: list[str], what: str,
              deadline: Any = None) -> dict[str, Any]:
    # Lazy on purpose (not a cycle): see probe_platform.
    from mlrun_registry_ext.clients.transport import BodyTooLarge, TransportError, TransportTimeout

    try:
        response = client.request("GET", url, headers=headers, deadline=deadline, max_body=MAX_JSON)
    except TransportTimeout:
        problems.append(f"{what} at {url} did not answer within {client.timeout:g} s")
        return {}
    except BodyTooLarge:
        problems.append(f"{what} at {url} answered with more than {MAX_JSON >> 20} MiB")
        return {}
    except (TransportError, ValueError) as exc:
        problems.append(f"{what} at {url} did not answer ({type(exc).__name__})")
        return {}
    if response.status_code != 200:
        problems.append(f"{what} at {url} answered HTTP {response.status_code}")
        return {}
    try:
        data = response.json()
    except ValueError:
        problems.append(f"{what} at {url} did not return JSON")
        return {}
    return data if isinstance(data, dict) else {}


def probe_platform(dbpath: str | None = None, dashboard_url: str | None = None,
                   timeout: float = DEFAULT_TIMEOUT) -> PlatformInfo:
    """Collect versions and naming from whatever is configured (env by default)."""
    info = PlatformInfo(dbpath=dbpath or mlrun_dbpath(),
                        dashboard_url=dashboard_url or nuclio_dashboard_url())
    if not info.dbpath and not info.dashboard_url:
        return info
    # Lazy on purpose (not a cycle): the transport loads http.client, email and ssl (~20 ms). Every
    # `show`/`target` imports this module through features.api, but asks a platform only when an MLRun
    # API or Nuclio dashboard URL is configured; configured through env alone they stay without it
    # (the start-up goal: median under 0.15 s).
    from mlrun_registry_ext.clients.transport import Deadline

    deadline = Deadline(timeout)  # one bound for every request below

    with platform_transport(timeout) as client:
        if info.dbpath:
            headers = mlrun_headers()
            spec = _get_json(client, f"{info.dbpath}/api/v1/client-spec", headers, info.problems, "the MLRun API",
                             deadline)
            info.mlrun_server = spec.get("version") or None
            info.nuclio_from_mlrun = spec.get("nuclio_version") or None
            info.docker_registry = spec.get("docker_registry") or None
            backend = spec.get("builder_backend")
            info.builder_backend = backend if isinstance(backend, str) and backend else None
            if spec:
                front = _get_json(client, f"{info.dbpath}/api/v1/frontend-spec", headers, info.problems,
                                  "the MLRun API", deadline)
                template = front.get("function_deployment_target_image_name_prefix_template")
                enforce = front.get("function_deployment_target_image_registries_to_enforce_prefix") or []
                if template or enforce:
                    info.mlrun_naming = MLRunNaming(
                        name_prefix_template=template or MLRunNaming().name_prefix_template,
                        registries_to_enforce_prefix=tuple(str(r) for r in enforce),
                        source=f"the MLRun server's frontend-spec at {info.dbpath}",
                    )
        if info.dashboard_url:
            versions = _get_json(client, f"{info.dashboard_url}/api/versions", {}, info.problems,
                                 "the Nuclio dashboard", deadline)
            dashboard = versions.get("dashboard") if isinstance(versions.get("dashboard"), dict) else {}
            info.nuclio_dashboard = (dashboard or {}).get("label") or None
            if versions:
                front = _get_json(client, f"{info.dashboard_url}/api/frontend_spec", {}, info.problems,
                                  "the Nuclio dashboard", deadline)
                if front:
                    info.nuclio_naming = NuclioNaming(
                        image_name_prefix_template=str(front.get("imageNamePrefixTemplate") or ""),
                        source=f"the Nuclio dashboard's frontend_spec at {info.dashboard_url}",
                    )
    return info


# --- the calls prune and migrate --rewrite-functions make (errors, not problems: they act on the answer)

def platform_transport(timeout: float) -> Any:
    """A transport to the MLRun API or the Nuclio dashboard: their own CA bundle
    (:data:`PLATFORM_CA_BUNDLE_ENV`), no proxy from the environment (in-cluster services)."""
    from mlrun_registry_ext.clients.transport import Transport, tls_context  # lazy: see probe_platform

    ca_bundle = os.environ.get(PLATFORM_CA_BUNDLE_ENV)
    context = tls_context(ca_bundle, PLATFORM_CA_BUNDLE_ENV) if ca_bundle else None
    return Transport(ssl_context=context, timeout=timeout, trust_env=False)


def _then(message: str, consequence: str) -> str:
    return f"{message}; {consequence}" if consequence else message


def require_mlrun_api(dbpath: str, timeout: float, consequence: str) -> None:
    """A bounded ``GET /api/v1/client-spec`` before the mlrun client is used (an unreachable
    ``MLRUN_DBPATH`` makes ``import mlrun`` hang for ~28 s); an error saying ``consequence`` if it fails."""
    from mlrun_registry_ext.clients.transport import TransportError
    from mlrun_registry_ext.errors import RegistryExtError

    try:
        with platform_transport(timeout) as transport:
            status = transport.request("GET", f"{dbpath}/api/v1/client-spec", headers=mlrun_headers()).status_code
    except (TransportError, ValueError) as exc:
        raise RegistryExtError(_then(f"the MLRun API at {dbpath} did not answer ({type(exc).__name__})",
                                     consequence)) from None
    if status != 200:
        raise RegistryExtError(_then(f"the MLRun API at {dbpath} answered HTTP {status}", consequence))


def list_nuclio_functions(dashboard: str, project: str | None, timeout: float = 10.0,
                          consequence: str = "") -> dict[str, Any]:
    """``GET /api/functions`` (one project: ``X-Nuclio-Project-Name``), capped at :data:`LISTING_CAP`:
    the function map. Unreachable, an error status, too large or not a map: an error saying
    ``consequence``."""
    from mlrun_registry_ext.clients.transport import BodyTooLarge, TransportError
    from mlrun_registry_ext.errors import RegistryAPIError, RegistryExtError

    headers = {"Accept": "application/json"}
    if project:
        headers["X-Nuclio-Project-Name"] = project
    try:
        with platform_transport(timeout) as transport:
            response = transport.request("GET", f"{dashboard}/api/functions", headers=headers,
                                         max_body=LISTING_CAP)
    except BodyTooLarge:
        raise RegistryAPIError(_then(f"the Nuclio function listing is larger than {LISTING_CAP} bytes; refused",
                                     consequence)) from None
    except (TransportError, ValueError) as exc:
        raise RegistryExtError(_then(f"the Nuclio dashboard at {dashboard} did not answer ({type(exc).__name__})",
                                     consequence)) from None
    if response.status_code != 200:
        raise RegistryExtError(_then(f"the Nuclio dashboard at {dashboard} answered HTTP {response.status_code} "
                                     "to GET /api/functions", consequence))
    try:
        functions = response.json()
    except ValueError:
        raise RegistryExtError(_then(f"the Nuclio dashboard at {dashboard} did not return JSON",
                                     consequence)) from None
    if not isinstance(functions, dict):
        raise RegistryExtError(_then(f"the Nuclio dashboard at {dashboard} returned no function map", consequence))
    return functions
