"""Loopback stand-ins for the MLRun API server and the Nuclio dashboard, plus their pytest fixtures.

These are STAND-INS, not emulators: each one answers only the calls the real clients installed in
``.venv`` (mlrun 1.12.1, nuclio-jupyter 0.13.2) make for the flows the plugin cares about (project
create/load, image build, Nuclio deploy), with the smallest response shapes that make those clients
finish successfully. Every request is recorded so a test can assert what the REAL client sent.

Shapes follow the shared reference notes on MLRun ("Client facts": client-spec, frontend-spec) and
Nuclio ("Dashboard HTTP API"), checked against the installed client source
(``mlrun/db/httpdb.py``, ``mlrun/runtimes/pod.py``, ``mlrun/runtimes/nuclio/function.py``,
``nuclio/deploy.py``). docs/standins.md summarises what each client sends.

Both servers are stdlib ``ThreadingHTTPServer`` instances on 127.0.0.1 with a free port, served from
a daemon thread, and are shut down by ``close()`` (or leaving the ``with`` block / fixture).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

Headers = dict[str, str]
Response = tuple[int, Any, Headers]  # status, JSON-able body (or str / None), extra headers


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stand-in received it."""

    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # header names lower-cased
    body: Any  # parsed JSON, or None when empty / not JSON
    raw_body: bytes = field(repr=False, default=b"")

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


class _Handler(BaseHTTPRequestHandler):
    server: _StandInHTTPServer
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers after shutdown

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        parts = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw_body=raw,
        )
        stand_in = self.server.stand_in
        stand_in._record(request)
        try:
            status, payload, headers = stand_in._dispatch(request)
        except Exception as exc:  # a bug in the stand-in must show up as a 500, not a hang
            status, payload, headers = 500, {"detail": f"stand-in error: {exc!r}"}, {}
        if payload is None:
            data = b""
        elif isinstance(payload, bytes):
            data = payload
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None and not isinstance(payload, (str, bytes)):
            self.send_header("Content-Type", "application/json")
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class _StandInHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, stand_in: _StandIn) -> None:
        self.stand_in = stand_in
        super().__init__(("127.0.0.1", 0), _Handler)


Route = tuple[str, re.Pattern[str], Callable[..., Response]]


class _StandIn:
    """Common part: server thread, request log, routing table."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._routes: list[Route] = []
        self._httpd: _StandInHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> _StandIn:
        self._httpd = _StandInHTTPServer(self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> _StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- request log -----------------------------------------------------------------------------
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def find(self, method: str | None = None, path_prefix: str = "") -> list[RecordedRequest]:
        """Recorded requests matching ``method`` (any when None) whose path starts with ``path_prefix``."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper()) and r.path.startswith(path_prefix)
            ]

    def last(self, method: str | None = None, path_prefix: str = "") -> RecordedRequest:
        found = self.find(method, path_prefix)
        if not found:
            seen = ", ".join(f"{r.method} {r.path}" for r in self.requests) or "nothing"
            raise AssertionError(f"no {method or 'any'} request under {path_prefix!r}; received: {seen}")
        return found[-1]

    def last_body(self, method: str, path_prefix: str) -> Any:
        """Parsed JSON body of the latest matching request (AssertionError if there is none)."""
        return self.last(method, path_prefix).body

    def calls(self) -> list[str]:
        """``["GET /api/v1/client-spec", ...]``: the call sequence, handy in assertion messages."""
        with self._lock:
            return [f"{r.method} {r.path}" for r in self.requests]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- routing ---------------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Callable[..., Response]) -> None:
        """Add (or override, newest wins) a handler; ``pattern`` is a full-match regex on the path whose
        named groups are passed as keyword arguments after the request."""
        self._routes.insert(0, (method.upper(), re.compile(pattern), handler))

    def _dispatch(self, request: RecordedRequest) -> Response:
        for method, pattern, handler in self._routes:
            if method != request.method:
                continue
            match = pattern.fullmatch(request.path)
            if match:
                return handler(request, **match.groupdict())
        return self._not_found(request)

    def _not_found(self, request: RecordedRequest) -> Response:
        return 404, {"detail": f"stand-in has no route for {request.method} {request.path}"}, {}


def _next_state(states: Sequence[str], counter: dict[str, int], key: str) -> str:
    """States are consumed one per poll; the last one repeats."""
    index = counter.get(key, 0)
    counter[key] = index + 1
    return states[min(index, len(states) - 1)]


def _get(obj: Any, dotted: str, default: Any = None) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return default
        obj = obj[part]
    return obj


# =================================================================================================
# MLRun API server stand-in
# =================================================================================================


def parse_docker_registry(docker_registry: str) -> tuple[str | None, str | None]:
    """The server-side meaning of docker_registry, as documented: (registry, repository); the first
    segment is a registry only when it has '.' or ':' or is localhost; no '/' means a registry."""
    first_slash = docker_registry.find("/")
    if first_slash == -1:
        return docker_registry, None
    head = docker_registry[:first_slash]
    if "." not in head and ":" not in head and head != "localhost":
        return None, docker_registry
    return head, docker_registry[first_slash + 1 :]


def mlrun_frontend_spec_defaults(
    docker_registry: str, prefix_template: str = "func-{project}-{name}"
) -> dict[str, Any]:
    """The three registry fields as the MLRun server computes them (server ``frontend_spec`` endpoint:
    ``fill_function_image_name_template(f"{registry}/", repository, "{project}", "{name}", "{tag}")`` and
    ``resolve_function_target_image_registries_to_enforce_prefix()``). Faithful, including the odd
    ``"/mlrun/..."`` (empty registry) and ``"None/..."`` (repository-only docker_registry) renderings."""
    registry, repository = parse_docker_registry(docker_registry)
    repository = repository or "mlrun"
    prefix = prefix_template.format(project="{project}", name="{name}")
    return {
        "function_deployment_target_image_template": f"{registry}/{repository}/{prefix}:{{tag}}",
        "function_deployment_target_image_name_prefix_template": prefix_template,
        "function_deployment_target_image_registries_to_enforce_prefix": [
            f".{repository}/",
            f"{registry}/{repository}/",
        ],
    }


class MLRunAPIStandIn(_StandIn):
    """Stand-in for the MLRun API server (``/api/v1``), enough for the real mlrun 1.12.1 client to connect,
    create/load a project, build a job image (``POST /api/v1/build/function`` + ``GET /api/v1/build/status``)
    and deploy a nuclio/serving function (``POST``/``GET /api/v1/projects/{p}/nuclio/{name}/deploy``).

    - ``version`` / ``nuclio_version`` / ``docker_registry`` go into ``GET /api/v1/client-spec`` (any label:
      "1.12.1", "1.0.4", "unstable", "0.0.0+unstable", "1.10.0-rc3"; the client only warns on odd ones).
    - ``frontend_spec`` overrides/extends the ``GET /api/v1/frontend-spec`` body (defaults computed from
      ``docker_registry`` like the server does, see ``mlrun_frontend_spec_defaults``).
    - ``build_states``: states returned by successive ``GET build/status`` polls (last one repeats). The
      client sleeps a hard-coded 2 s between polls after the first, so keep it ``("ready",)`` for speed.
    - ``nuclio_deploy_states``: same for the nuclio deploy status polls (``x-mlrun-function-status``).
    - ``enforce_prefix``: reject builds whose ``spec.build.image`` is on the configured registry but does not
      start with the rendered name prefix, with the server's message (HTTP 400).
    - ``store_errors``: ``{"<project>/<name>": status}``: storing that function fails with that status and
      stores nothing, answered as the server answers an ``MLRunHTTPStatusError``: ``{"detail": "<repr>"}``
      (FastAPI's ``HTTPException`` handler, reached from ``http_status_error_handler`` in the 1.5.2 wheel's
      ``mlrun/api/main.py``).
    All attributes may be changed while the server runs; responses are computed per request.
    """

    def __init__(
        self,
        version: str = "1.12.1",
        nuclio_version: str = "1.14.1",
        docker_registry: str = "",
        frontend_spec: dict[str, Any] | None = None,
        *,
        namespace: str = "default-tenant",
        client_spec: dict[str, Any] | None = None,
        build_states: Sequence[str] = ("ready",),
        nuclio_deploy_states: Sequence[str] = ("ready",),
        enforce_prefix: bool = False,
        prefix_template: str = "func-{project}-{name}",
    ) -> None:
        super().__init__()
        self.version = version
        self.nuclio_version = nuclio_version
        self.docker_registry = docker_registry
        self.namespace = namespace
        self.frontend_spec_overrides = dict(frontend_spec or {})
        self.client_spec_overrides = dict(client_spec or {})
        self.build_states = tuple(build_states)
        self.nuclio_deploy_states = tuple(nuclio_deploy_states)
        self.enforce_prefix = enforce_prefix
        self.prefix_template = prefix_template
        self.projects: dict[str, dict[str, Any]] = {}
        self.functions: dict[str, dict[str, Any]] = {}  # "<project>/<name>" -> last function dict received
        self.store_errors: dict[str, int] = {}
        self._polls: dict[str, int] = {}
        self._page_tokens: dict[str, tuple[list[dict[str, Any]], int, int]] = {}

        v1 = "/api/v1"
        self.route("GET", rf"{v1}/client-spec", self._client_spec)
        self.route("GET", rf"{v1}/frontend-spec", self._frontend_spec)
        self.route("GET", rf"{v1}/projects", self._list_projects)
        self.route("POST", rf"{v1}/projects", self._create_project)
        self.route("GET", rf"{v1}/projects/(?P<name>[^/]+)", self._get_project)
        self.route("PUT", rf"{v1}/projects/(?P<name>[^/]+)", self._store_project)
        self.route("PATCH", rf"{v1}/projects/(?P<name>[^/]+)", self._patch_project)
        self.route("POST", rf"{v1}/projects/(?P<project>[^/]+)/functions/(?P<name>[^/]+)", self._store_fn)
        self.route("GET", rf"{v1}/projects/(?P<project>[^/]+)/functions/(?P<name>[^/]+)", self._get_fn)
        self.route("GET", rf"{v1}/projects/(?P<project>[^/]+)/functions", self._list_fns)
        self.route("POST", rf"{v1}/build/function", self._build_function)
        self.route("GET", rf"{v1}/build/status", self._build_status)
        self.route("POST", rf"{v1}/projects/(?P<project>[^/]+)/nuclio/(?P<name>[^/]+)/deploy", self._nuclio_deploy)
        self.route("GET", rf"{v1}/projects/(?P<project>[^/]+)/nuclio/(?P<name>[^/]+)/deploy", self._nuclio_status)

    def start(self) -> MLRunAPIStandIn:
        super().start()
        return self

    def __enter__(self) -> MLRunAPIStandIn:
        return self.start()

    def reconnect(self) -> None:
        """Make the mlrun client forget cached server state and connect again (GET client-spec). Use after
        changing ``version`` / ``nuclio_version`` / ``docker_registry``; MLRUN_DBPATH must point here."""
        reset_mlrun_client_state()

    # -- spec endpoints ----------------------------------------------------------------------------
    def client_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "version": self.version,
            "namespace": self.namespace,
            "docker_registry": self.docker_registry,
            "nuclio_version": self.nuclio_version,
            "ui_url": "",
            "artifact_path": "v3io:///projects/{{run.project}}/artifacts",
            "default_function_pod_resources": {
                "requests": {"cpu": None, "memory": None, "gpu": None},
                "limits": {"cpu": None, "memory": None, "gpu": None},
            },
        }
        spec.update(self.client_spec_overrides)
        return spec

    def frontend_spec(self) -> dict[str, Any]:
        spec = mlrun_frontend_spec_defaults(self.docker_registry, self.prefix_template)
        spec.update(self.frontend_spec_overrides)
        return spec

    def _client_spec(self, request: RecordedRequest) -> Response:
        return 200, self.client_spec(), {}

    def _frontend_spec(self, request: RecordedRequest) -> Response:
        return 200, self.frontend_spec(), {}

    # -- projects ------------------------------------------------------------------------------------
    def _project_record(self, body: Any) -> dict[str, Any]:
        project = copy.deepcopy(body) if isinstance(body, dict) else {}
        project.setdefault("metadata", {})
        project.setdefault("spec", {})
        project["status"] = {**(project.get("status") or {}), "state": "online"}
        return project

    def _list_projects(self, request: RecordedRequest) -> Response:
        """``GET /api/v1/projects``: ``{"projects": [...]}``, names only for ``format=name_only`` (what
        ``list_projects()`` asks for by default), project dicts otherwise (server ``endpoints/projects.py``
        ``list_projects``, mlrun/mlrun@bfdb533c1de6a7bc2e0e55355b81fca0fa6a6d0f)."""
        if request.param("format") == "name_only":
            return 200, {"projects": sorted(self.projects)}, {}
        return 200, {"projects": list(self.projects.values())}, {}

    def _create_project(self, request: RecordedRequest) -> Response:
        project = self._project_record(request.body)
        name = project["metadata"].get("name", "")
        if name in self.projects:
            return 409, {"detail": f"Project already exists: {name}"}, {}
        self.projects[name] = project
        return 201, project, {}

    def _get_project(self, request: RecordedRequest, name: str) -> Response:
        if name not in self.projects:
            return 404, {"detail": f"Project not found: {name}"}, {}
        return 200, self.projects[name], {}

    def _store_project(self, request: RecordedRequest, name: str) -> Response:
        self.projects[name] = self._project_record(request.body)
        return 200, self.projects[name], {}

    def _patch_project(self, request: RecordedRequest, name: str) -> Response:
        if name not in self.projects:
            return 404, {"detail": f"Project not found: {name}"}, {}
        if isinstance(request.body, dict):
            for key, value in request.body.items():
                if isinstance(value, dict):
                    self.projects[name].setdefault(key, {}).update(value)
                else:
                    self.projects[name][key] = value
        return 200, self.projects[name], {}

    # -- functions -----------------------------------------------------------------------------------
    def _store_fn(self, request: RecordedRequest, project: str, name: str) -> Response:
        status = self.store_errors.get(f"{project}/{name}")
        if status:
            return status, {"detail": f"MLRunHTTPStatusError('store function {project}/{name} failed')"}, {}
        self.functions[f"{project}/{name}"] = copy.deepcopy(request.body)
        return 200, {"hash_key": "0" * 40}, {}

    def _list_fns(self, request: RecordedRequest, project: str) -> Response:
        """``GET /api/v1/projects/{project}/functions`` as the server answers it (``endpoints/functions.py``
        ``list_functions``, mlrun/mlrun@97cad439e6c6af9074790ee94c134926168be7a6): ``{"funcs": [...],
        "pagination": {"page", "page-size", "page-token"}}``; ``*`` is every project; ``name``, ``tag``
        (``*``: tagged only) and ``kind`` filter. The 1.12.1 client always sends ``page=1`` and
        ``page-size``, then follows ``page-token`` with nothing else until the token is null."""
        token = request.param("page-token")
        if token:
            if token not in self._page_tokens:
                return 404, {"detail": "Pagination token not found"}, {}
            items, page, size = self._page_tokens.pop(token)
        else:
            name, tag, kind = request.param("name"), request.param("tag"), request.param("kind")
            items = []
            for key, function in sorted(self.functions.items()):
                fn_project, _, fn_name = key.partition("/")
                if project != "*" and fn_project != project:
                    continue
                record = copy.deepcopy(function) if isinstance(function, dict) else {}
                meta = record.setdefault("metadata", {})
                meta.setdefault("project", fn_project)
                meta.setdefault("name", fn_name)
                if name and meta.get("name") != name:
                    continue
                if tag == "*" and not meta.get("tag"):
                    continue
                if tag and tag != "*" and meta.get("tag") != tag:
                    continue
                if kind and record.get("kind") != kind:
                    continue
                items.append(record)
            page = int(request.param("page") or 1)
            size = int(request.param("page-size") or max(1, len(items)))
        chunk = items[(page - 1) * size: page * size]
        next_token = None
        if page * size < len(items):
            next_token = f"token-{len(self._page_tokens)}-{page + 1}-{time.monotonic_ns()}"
            self._page_tokens[next_token] = (items, page + 1, size)
        return 200, {"funcs": chunk, "pagination": {"page": page, "page-size": size, "page-token": next_token}}, {}

    def _get_fn(self, request: RecordedRequest, project: str, name: str) -> Response:
        if f"{project}/{name}" not in self.functions:
            return 404, {"detail": f"Function not found {project}/{name}"}, {}
        return 200, {"func": self.functions[f"{project}/{name}"]}, {}

    # -- builds (kinds built by MLRun's Kaniko) ----------------------------------------------------
    def target_image(self, function: dict[str, Any]) -> str:
        """``spec.build.image`` when set, else what the server generates:
        ``.<repository>/func-<project>-<name>:<tag>``."""
        image = _get(function, "spec.build.image") or ""
        if image:
            return str(image)
        _, repository = parse_docker_registry(self.docker_registry)
        project = _get(function, "metadata.project") or ""
        name = _get(function, "metadata.name") or ""
        tag = _get(function, "metadata.tag") or "latest"
        prefix = self.prefix_template.format(project=project, name=name)
        return f".{repository or 'mlrun'}/{prefix}:{tag}"

    def _prefix_violation(self, function: dict[str, Any]) -> str | None:
        image = _get(function, "spec.build.image") or ""
        if not image:
            return None
        prefix = self.prefix_template.format(
            project=_get(function, "metadata.project") or "", name=_get(function, "metadata.name") or ""
        )
        for registry in self.frontend_spec()["function_deployment_target_image_registries_to_enforce_prefix"]:
            if image.startswith(registry) and not image.startswith(f"{registry}{prefix}"):
                return f"Configured registry enforces image name to start with this prefix: {prefix}"
        return None

    def _build_function(self, request: RecordedRequest) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        function = copy.deepcopy(body.get("function") or {})
        if self.enforce_prefix and (message := self._prefix_violation(function)):
            return 400, {"detail": {"reason": f"MLRunInvalidArgumentError: {message}"}}, {}
        key = f"{_get(function, 'metadata.project')}/{_get(function, 'metadata.name')}"
        self.functions[key] = copy.deepcopy(function)
        self._polls.pop(f"build:{key}", None)
        image = self.target_image(function)
        function.setdefault("spec", {}).setdefault("build", {})["image"] = image
        function.setdefault("status", {})
        function["status"] = {**(function["status"] or {}), "state": "deploying"}
        # The real server answers "not ready" and the client then polls GET build/status (no sleep before
        # the first poll); "ready": true here would skip polling entirely.
        return 200, {"data": function, "ready": False}, {}

    def _build_status(self, request: RecordedRequest) -> Response:
        key = f"{request.param('project')}/{request.param('name')}"
        state = _next_state(self.build_states, self._polls, f"build:{key}")
        function = self.functions.get(key) or {}
        headers = {
            "x-mlrun-function-status": state,
            "x-mlrun-last-timestamp": str(time.time()),
            "deploy_status_text_kind": "logs",
        }
        if state == "ready":
            headers["function_image"] = self.target_image(function)
        return 200, f"stand-in build log: {state}\n", headers

    # -- nuclio deploys through MLRun -------------------------------------------------------------
    def _nuclio_deploy(self, request: RecordedRequest, project: str, name: str) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        function = copy.deepcopy(body.get("function") or {})
        self.functions[f"{project}/{name}"] = copy.deepcopy(function)
        self._polls.pop(f"nuclio:{project}/{name}", None)
        function["status"] = {**(function.get("status") or {}), "state": "deploying"}
        return 200, {"data": function}, {}

    def _nuclio_status(self, request: RecordedRequest, project: str, name: str) -> Response:
        state = _next_state(self.nuclio_deploy_states, self._polls, f"nuclio:{project}/{name}")
        function = self.functions.get(f"{project}/{name}") or {}
        config = _get(function, "spec.config") or {}
        registry = config.get("spec.build.registry") or self.docker_registry
        image = _get(function, "spec.build.image") or f"processor-{project}-{name}:latest"
        headers = {
            "x-mlrun-function-status": state,
            "x-mlrun-last-timestamp": str(time.time()),
            "x-mlrun-name": f"{project}-{name}",
            "x-mlrun-address": "127.0.0.1:30001",
            "x-mlrun-internal-invocation-urls": (f"nuclio-{project}-{name}.{self.namespace}.svc.cluster.local:8080"),
            "x-mlrun-external-invocation-urls": "",
            # approximation of what Nuclio pushed, for display only
            "x-mlrun-container-image": (
                f"{registry.rstrip('/')}/{image}" if registry and not image.startswith(registry) else image
            ),
        }
        return 200, f"stand-in deploy log: {state}", headers


# =================================================================================================
# Nuclio dashboard stand-in
# =================================================================================================


def _render_prefix_template(template: str, project: str, function: str) -> str:
    """The two Go-template fields the dashboard offers in NUCLIO_DASHBOARD_IMAGE_NAME_PREFIX_TEMPLATE."""
    out = re.sub(r"\{\{-?\s*\.ProjectName\s*-?\}\}", project, template)
    return re.sub(r"\{\{-?\s*\.FunctionName\s*-?\}\}", function, out)


class NuclioDashboardStandIn(_StandIn):
    """Stand-in for the Nuclio dashboard API (``/api``), enough for nuclio-jupyter 0.13.2 ``deploy_config`` /
    ``deploy_file`` / ``deploy_code``: ``GET /api/projects`` (+ ``POST`` when ``create_new``), ``GET
    /api/functions/<name>`` (404 when new), ``POST /api/functions`` (202) or ``PUT /api/functions/<name>``
    (202), then ``GET /api/functions/<name>`` polls until ``ready``/``error``/``unhealthy``.

    - ``label``: ``GET /api/versions`` -> ``{"dashboard": {"label": label, ...}}`` ("1.14.1", "latest", ...).
    - ``image_name_prefix_template`` (Go template, e.g. ``{{ .ProjectName }}-{{ .FunctionName }}-``):
      returned by ``GET /api/frontend_spec`` and applied to the image name like the dashboard does.
    - ``registry_url`` / ``credentials_secret_name``: the dashboard defaults (NUCLIO_DASHBOARD_REGISTRY_URL /
      NUCLIO_REGISTRY_CREDENTIALS_SECRET_NAME) used to fill an empty ``spec.build.registry`` /
      ``spec.imagePullSecrets`` in the stored function, and to compute ``status.containerImage``.
    - ``deploy_states``: states returned by successive polls after a create/update (last one repeats).
      nuclio-jupyter sleeps a hard-coded 1 s between non-terminal polls, so keep ``("ready",)`` for speed.
    - ``projects``: names that already exist (deploy_config without ``create_new`` needs its project).
    - ``update_errors``: ``{name: status}``: ``PUT /api/functions/<name>`` fails with that status and changes
      nothing, with the dashboard's error body ``{"error": ..., "errorStackTrace": ...}``.
    """

    def __init__(
        self,
        label: str = "1.14.1",
        image_name_prefix_template: str = "",
        *,
        registry_url: str = "",
        credentials_secret_name: str = "",
        namespace: str = "default-tenant",
        platform_kind: str = "kube",
        deploy_states: Sequence[str] = ("ready",),
        projects: Sequence[str] = ("default",),
    ) -> None:
        super().__init__()
        self.label = label
        self.image_name_prefix_template = image_name_prefix_template
        self.registry_url = registry_url
        self.credentials_secret_name = credentials_secret_name
        self.namespace = namespace
        self.platform_kind = platform_kind
        self.deploy_states = tuple(deploy_states)
        self.projects: dict[str, dict[str, Any]] = {}
        for name in projects:
            self.add_project(name)
        self.functions: dict[str, dict[str, Any]] = {}  # name -> stored config (with status)
        self.received_configs: dict[str, dict[str, Any]] = {}  # name -> config exactly as last POST/PUT
        self.update_errors: dict[str, int] = {}
        self._polls: dict[str, int] = {}

        self.route("GET", r"/api/versions", self._versions)
        self.route("GET", r"/api/frontend_spec", self._frontend_spec)
        self.route("GET", r"/api/projects", self._list_projects)
        self.route("POST", r"/api/projects", self._create_project)
        self.route("GET", r"/api/projects/(?P<name>[^/]+)", self._get_project)
        self.route("GET", r"/api/functions", self._list_functions)
        self.route("POST", r"/api/functions", self._create_function)
        self.route("GET", r"/api/functions/(?P<name>[^/]+)", self._get_function)
        self.route("PUT", r"/api/functions/(?P<name>[^/]+)", self._update_function)
        self.route("GET", r"/api/external_ip_addresses", self._external_ips)

    def start(self) -> NuclioDashboardStandIn:
        super().start()
        return self

    def __enter__(self) -> NuclioDashboardStandIn:
        return self.start()

    def add_project(self, name: str) -> None:
        self.projects[name] = {
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {},
            "status": {},
        }

    def _not_found(self, request: RecordedRequest) -> Response:
        return (
            404,
            {"error": f"stand-in has no route for {request.method} {request.path}", "errorStackTrace": ""},
            {},
        )

    # -- versions / spec -------------------------------------------------------------------------------
    def _versions(self, request: RecordedRequest) -> Response:
        return (
            200,
            {"dashboard": {"label": self.label, "gitCommit": "stand-in", "os": "linux", "arch": "amd64"}},
            {},
        )

    def _frontend_spec(self, request: RecordedRequest) -> Response:
        return (
            200,
            {
                "namespace": self.namespace,
                "platformKind": self.platform_kind,
                "imageNamePrefixTemplate": self.image_name_prefix_template,
                "defaultFunctionConfig": {"attributes": {"spec": {}}},
                "scaleToZero": {},
                "allowedAuthenticationModes": ["none", "basicAuth"],
            },
            {},
        )

    # -- projects ----------------------------------------------------------------------------------------
    def _list_projects(self, request: RecordedRequest) -> Response:
        return 200, self.projects, {}

    def _get_project(self, request: RecordedRequest, name: str) -> Response:
        if name not in self.projects:
            return 404, {"error": "Project not found", "errorStackTrace": ""}, {}
        return 200, self.projects[name], {}

    def _create_project(self, request: RecordedRequest) -> Response:
        name = _get(request.body, "metadata.name") or ""
        if not name:
            return 400, {"error": "Project name must be specified", "errorStackTrace": ""}, {}
        if name in self.projects:
            return 409, {"error": "Project already exists", "errorStackTrace": ""}, {}
        self.add_project(name)
        return 201, self.projects[name], {}

    # -- functions ---------------------------------------------------------------------------------------
    def push_target(self, config: dict[str, Any]) -> tuple[str, str]:
        """``(registry, "<image>:<tag>")`` the dashboard would use for this config, with Nuclio's own rules
        (nuclio/nuclio at 9e837f6a07fc7d1cbe770020a8a85f2ee5ab69a9):

        - an empty ``spec.build.registry`` is filled from NUCLIO_DASHBOARD_REGISTRY_URL (``registry_url``);
        - ``pkg/platform/abstract/platform.go`` ``enrichImageName``: with a prefix template and a
          ``spec.build.image``, the rendered prefix is prepended unless the image already starts with it;
        - ``pkg/processor/build/builder.go`` ``getImage``: without ``spec.build.image``, ``nuclio/`` is used
          unless Go's ``url.Parse(registry)`` succeeds with a non-empty ``Path`` (:func:`go_url_has_path`,
          this stand-in's own reading of Go's parser, not the product's), then ``processor-<name>`` or
          ``<rendered prefix>processor``;
        - ``builder.go`` after ``getImage``: ``strings.Split(image, ":")`` with exactly two parts gives the tag,
          else ``latest``; the push target is ``<registry>/<image>:<tag>``.
        """
        name = _get(config, "metadata.name") or ""
        project = _get(config, "metadata.labels", {}).get("nuclio.io/project-name", "")
        registry = _get(config, "spec.build.registry") or self.registry_url
        prefix = _render_prefix_template(self.image_name_prefix_template, project, name)
        image = _get(config, "spec.build.image") or ""
        if image:
            if prefix and not image.startswith(prefix):
                image = f"{prefix}{image}"
        else:
            repository = "" if go_url_has_path(registry) else "nuclio/"
            image = f"{repository}{prefix}processor" if prefix else f"{repository}processor-{name}"
        parts = image.split(":")
        tag = "latest"
        if len(parts) == 2:
            image, tag = parts[0], parts[1] or "latest"
        return registry, f"{image}:{tag}"

    def _store(self, name: str, config: dict[str, Any], project: str) -> None:
        self.received_configs[name] = copy.deepcopy(config)
        stored = copy.deepcopy(config)
        stored.setdefault("metadata", {}).setdefault("labels", {}).setdefault("nuclio.io/project-name", project)
        stored["metadata"].setdefault("namespace", self.namespace)
        spec = stored.setdefault("spec", {})
        build = spec.setdefault("build", {})
        if build.get("mode") == "neverBuild" and spec.get("image"):
            # no build (``functionBuildRequired``, pkg/platform/abstract/platform.go at 9e837f6a): the pods run
            # spec.image, with spec.runRegistry put in front unless the image starts with it (``populateFunction``,
            # pkg/platform/kube/deployer.go, nuclio/nuclio@bcbb235c02b2bd9bc96e3ce4afed7d03b37ec294)
            run_registry = (spec.get("runRegistry") or "").rstrip("/")
            image = spec["image"]
            if run_registry and not image.startswith(f"{run_registry}/"):
                image = f"{run_registry}/{image}"
            stored["status"] = {"state": "waitingForBuild", "containerImage": image,
                                "internalInvocationUrls": [f"nuclio-{name}.{self.namespace}.svc.cluster.local:8080"],
                                "externalInvocationUrls": [], "httpPort": 0, "logs": []}
            self.functions[name] = stored
            self._polls.pop(name, None)
            return
        registry, image = self.push_target(stored)
        build["registry"] = build.get("registry") or registry
        spec["runRegistry"] = spec.get("runRegistry") or build["registry"]
        spec["imagePullSecrets"] = spec.get("imagePullSecrets") or self.credentials_secret_name
        spec["image"] = image
        stored["status"] = {
            "state": "waitingForBuild",
            "containerImage": f"{registry.rstrip('/')}/{image}" if registry else image,
            "internalInvocationUrls": [f"nuclio-{name}.{self.namespace}.svc.cluster.local:8080"],
            "externalInvocationUrls": [],
            "httpPort": 0,
            "logs": [],
        }
        self.functions[name] = stored
        self._polls.pop(name, None)

    def add_function(self, name: str, project: str, container_image: str, *, image: str = "",
                     run_registry: str = "", state: str = "ready") -> None:
        """A function as the dashboard lists it after a deploy (for tests that only read the listing)."""
        self.functions[name] = {
            "metadata": {"name": name, "namespace": self.namespace,
                         "labels": {"nuclio.io/project-name": project}},
            "spec": {"image": image, "runRegistry": run_registry, "build": {}},
            "status": {"state": state, "containerImage": container_image},
        }

    def _list_functions(self, request: RecordedRequest) -> Response:
        """``GET /api/functions``: ``{name: function}``; ``X-Nuclio-Project-Name`` (optional) filters by
        the ``nuclio.io/project-name`` label (nuclio/nuclio ``docs/reference/api/README.md``, "Listing all
        functions", nuclio/nuclio@8ec17cdcf50db07762c59ff5f281bd464d6d1e43)."""
        project = request.header("x-nuclio-project-name")
        return (
            200,
            {
                n: f
                for n, f in self.functions.items()
                if not project or f["metadata"]["labels"].get("nuclio.io/project-name") == project
            },
            {},
        )

    def _get_function(self, request: RecordedRequest, name: str) -> Response:
        if name not in self.functions:
            return 404, {"error": "Function not found", "errorStackTrace": ""}, {}
        stored = self.functions[name]
        stored["status"]["state"] = _next_state(self.deploy_states, self._polls, name)
        return 200, stored, {}

    def _create_function(self, request: RecordedRequest) -> Response:
        config = request.body if isinstance(request.body, dict) else {}
        name = _get(config, "metadata.name") or ""
        if not name:
            return 400, {"error": "Function name must be specified", "errorStackTrace": ""}, {}
        if name in self.functions:
            return 409, {"error": "Function already exists", "errorStackTrace": ""}, {}
        self._store(name, config, request.header("x-nuclio-project-name") or "")
        return 202, None, {}

    def _update_function(self, request: RecordedRequest, name: str) -> Response:
        if name not in self.functions:
            return 404, {"error": "Function not found", "errorStackTrace": ""}, {}
        if name in self.update_errors:
            return self.update_errors[name], {"error": "Failed to update function", "errorStackTrace": ""}, {}
        config = request.body if isinstance(request.body, dict) else {}
        self._store(name, config, request.header("x-nuclio-project-name") or "")
        return 202, None, {}

    def _external_ips(self, request: RecordedRequest) -> Response:
        return 200, {"externalIPAddresses": {"addresses": ["127.0.0.1"]}}, {}


# =================================================================================================
# Fixtures
# =================================================================================================


def reset_mlrun_client_state() -> None:
    """Drop everything the mlrun client caches between calls: the process-wide run-db singleton (and its
    HTTP session), the config synced from a server's client-spec, the active project/pipeline context.
    ``mlconf.reload()`` re-applies defaults + env and, when MLRUN_DBPATH is set, reconnects
    (GET client-spec)."""
    import mlrun
    import mlrun.db.factory
    import mlrun.projects.pipelines

    factory = mlrun.db.factory.RunDBFactory()
    session = getattr(factory._run_db, "session", None)
    if session is not None:
        session.close()
    factory._run_db = None
    factory._last_db_url = None
    mlrun.projects.pipelines.pipeline_context.clear(with_project=True)
    mlrun.mlconf.reload()


@pytest.fixture
def mlrun_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[MLRunAPIStandIn]:
    """A running ``MLRunAPIStandIn`` with MLRUN_DBPATH pointing at it and a fresh mlrun client state.

    Reconfigure first, then reconnect: e.g. ``mlrun_api.version = "unstable"; mlrun_api.reconnect()``.
    The Nuclio deploy status poll interval is set to 0 s (``MLRUN_HTTPDB__LOGS__NUCLIO__PULL_DEPLOY_STATUS_
    DEFAULT_INTERVAL``, default 10 s) so a nuclio ``fn.deploy()`` returns at once."""
    stand_in = MLRunAPIStandIn().start()
    monkeypatch.setenv("MLRUN_DBPATH", stand_in.url)
    monkeypatch.setenv("MLRUN_HTTPDB__LOGS__NUCLIO__PULL_DEPLOY_STATUS_DEFAULT_INTERVAL", "0")
    try:
        reset_mlrun_client_state()
        yield stand_in
    finally:
        monkeypatch.delenv("MLRUN_DBPATH", raising=False)
        monkeypatch.delenv("MLRUN_HTTPDB__LOGS__NUCLIO__PULL_DEPLOY_STATUS_DEFAULT_INTERVAL", raising=False)
        reset_mlrun_client_state()
        monkeypatch.delenv("MLRUN_DBPATH", raising=False)  # get_run_db() may have set "./" again
        stand_in.close()


@pytest.fixture
def nuclio_dashboard(monkeypatch: pytest.MonkeyPatch) -> Iterator[NuclioDashboardStandIn]:
    """A running ``NuclioDashboardStandIn`` with NUCLIO_DASHBOARD_URL pointing at it (nuclio-jupyter appends
    ``/api``). Attributes (``label``, ``image_name_prefix_template``, ``deploy_states``...) may be changed
    in the test; responses are computed per request."""
    stand_in = NuclioDashboardStandIn().start()
    monkeypatch.setenv("NUCLIO_DASHBOARD_URL", stand_in.url)
    try:
        yield stand_in
    finally:
        stand_in.close()


# --- Go's url.Parse, as far as Nuclio's getImage looks at it -------------------------------------------------
_GO_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_GO_SCHEME_LATER = frozenset("0123456789+-.")
_HEX = frozenset("0123456789abcdefABCDEF")


def go_url_has_path(raw: str) -> bool:
    """Whether Go's ``url.Parse(raw)`` succeeds with a non-empty ``Path``: the test Nuclio's ``getImage``
    (``pkg/processor/build/builder.go``, nuclio/nuclio at 9e837f6a07fc7d1cbe770020a8a85f2ee5ab69a9) makes
    to drop ``nuclio/``. Written from Go's ``src/net/url/url.go`` (golang/go at
    011829989365218ba4532e86ab0b6702971daab3: ``Parse``, ``getScheme``, ``parse``, ``parseAuthority``,
    ``parseHost``, ``validOptionalPort``, ``unescape``), step by step and only as far as the path's
    emptiness and the errors go; independent of the product's own port of that parser (``core.gourl``),
    which this stand-in checks.
    """
    raw, _, fragment = raw.partition("#")  # Parse: the fragment first (its escapes must be valid too)
    if not _go_unescape_ok(fragment):
        return False
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):  # stringContainsCTLByte
        return False
    if raw == "*":
        return True
    scheme, rest = "", raw
    for i, c in enumerate(raw):  # getScheme
        if c in _GO_SCHEME_CHARS or (i > 0 and c in _GO_SCHEME_LATER):
            continue
        if c == ":":
            if i == 0:
                return False  # "missing protocol scheme"
            scheme, rest = raw[:i], raw[i + 1:]
        break
    rest = rest[:-1] if rest.endswith("?") and rest.count("?") == 1 else rest.partition("?")[0]
    if not rest.startswith("/"):
        if scheme:
            return False  # rootless: Opaque, the Path stays empty
        if ":" in rest.partition("/")[0]:
            return False  # "first path segment in URL cannot contain colon"
    if rest.startswith("//") and (scheme or not rest.startswith("///")):
        authority, slash, path = rest[2:].partition("/")
        rest = slash + path
        if not _go_authority_ok(authority):
            return False
    return _go_unescape_ok(rest) and rest != ""


def _go_authority_ok(authority: str) -> bool:
    userinfo, at, host = authority.rpartition("@")
    if not at:
        host = authority
    if host.startswith("["):
        end = host.rfind("]")
        if end < 0:
            return False
        port = host[end + 1:]
    else:
        colon = host.rfind(":")
        port = host[colon:] if colon >= 0 else ""
    if port and not (port[0] == ":" and all(c in "0123456789" for c in port[1:])):
        return False
    host_chars = set("-._~!$&'()*+,;=:[]<>\"%")  # unescape(encodeHost): other ASCII is an InvalidHostError
    if any(c.isascii() and not c.isalnum() and c not in host_chars for c in host) or not _go_unescape_ok(host):
        return False
    if at:
        allowed = set("-._:~!$&'()*+,;=%@")
        if any(not (c.isascii() and c.isalnum()) and c not in allowed for c in userinfo):
            return False  # "net/url: invalid userinfo"
        return _go_unescape_ok(userinfo)
    return True


def _go_unescape_ok(text: str) -> bool:
    """Every ``%`` begins a two-hex-digit escape (``unescape`` fails otherwise)."""
    i = 0
    while i < len(text):
        if text[i] == "%":
            if len(text[i + 1:i + 3]) != 2 or not set(text[i + 1:i + 3]) <= _HEX:
                return False
            i += 3
        else:
            i += 1
    return True
