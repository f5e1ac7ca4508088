"""Fixtures: a kube-apiserver stand-in on loopback, driven by the real ``kubernetes`` client.

It implements what the plugin uses, answering as the real API server does (``Status`` objects):

- ``/api/v1/namespaces/{ns}/secrets`` GET (list), POST; ``.../secrets/{name}`` GET, PUT, PATCH, DELETE;
- ``/apis/apps/v1/namespaces/{ns}/deployments/{name}`` GET and PATCH (JSON patch and merge patch);
- 404 NotFound, 409 AlreadyExists / Conflict (stale ``resourceVersion``), 422 Invalid (bad names,
  changed ``type``), 403 Forbidden for the namespaces/verbs a test forbids, 401 without the bearer token.

Every request is logged (method, path) so tests can assert that bad input wrote nothing.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

TOKEN = "stand-in-bearer-token-5f1c"
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

SECRET_RE = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/secrets(?:/(?P<name>[^/]+))?$")
DEPLOY_RE = re.compile(r"^/apis/apps/v1/namespaces/(?P<ns>[^/]+)/deployments(?:/(?P<name>[^/]+))?$")
SA_RE = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/serviceaccounts(?:/(?P<name>[^/]+))?$")
NAMESPACE_RE = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)$")
VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "details": details or {}, "code": code}


class ApiError(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["message"])
        self.body = body


def json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 add / replace / remove / test (what the plugin sends)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(index, op["value"])
            elif kind == "replace":
                parent[index] = op["value"]
            elif kind == "remove":
                del parent[index]
            elif kind == "test" and parent[index] != op["value"]:
                raise ApiError(status(422, "Invalid", f"test failed at {op['path']}"))
        else:
            if kind in ("add", "replace"):
                if kind == "replace" and last not in parent:
                    raise ApiError(status(422, "Invalid", f"replace operation does not apply: {op['path']}"))
                parent[last] = op["value"]
            elif kind == "remove":
                del parent[last]
            elif kind == "test" and parent.get(last) != op["value"]:
                raise ApiError(status(422, "Invalid", f"test failed at {op['path']}"))
    return doc


def merge_patch(doc: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


@dataclass
class KubeStandIn:
    url: str = ""
    namespaces: set[str] = field(default_factory=lambda: {"default", "mlrun", "nuclio", "team-a", "team-b"})
    secrets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    deployments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    service_accounts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: (namespace, verb) pairs answered with 403; verb "*" forbids everything in the namespace.
    forbidden: set[tuple[str, str]] = field(default_factory=set)
    #: Next N PUTs on secrets answer 409 Conflict as if another writer got there first.
    conflicts_on_put: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _rv: int = 100

    # --- helpers for tests ---------------------------------------------------------------------
    def forbid(self, namespace: str, *verbs: str) -> None:
        for verb in verbs or ("*",):
            self.forbidden.add((namespace, verb))

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]

    def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.secrets.get((namespace, name))

    def secret_data(self, namespace: str, name: str, key: str) -> str:
        obj = self.secrets[(namespace, name)]
        return base64.b64decode(obj["data"][key]).decode()

    def put_secret(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        body = copy.deepcopy(body)
        body.setdefault("metadata", {}).update(name=name, namespace=namespace)
        self._stamp(body, new=True)
        self.secrets[(namespace, name)] = body

    def add_deployment(self, namespace: str, name: str, containers: list[dict[str, Any]]) -> dict[str, Any]:
        body = {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}},
                                      "spec": {"containers": copy.deepcopy(containers)}}}}
        self._stamp(body, new=True)
        self.deployments[(namespace, name)] = body
        return body

    def _stamp(self, body: dict[str, Any], new: bool) -> None:
        self._rv += 1
        meta = body.setdefault("metadata", {})
        meta["resourceVersion"] = str(self._rv)
        if new:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = "2024-01-01T00:00:00Z"

    # --- request handling ----------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: Any, raw: bytes) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append((method, path))
            self.bodies.append(raw)
            if headers.get("Authorization") != f"Bearer {TOKEN}":
                return 401, status(401, "Unauthorized", "Unauthorized")
            try:
                return self._route(method, path, headers, raw)
            except ApiError as exc:
                return exc.body["code"], exc.body

    def _check_rbac(self, ns: str, verb: str, resource: str, name: str | None, group: str = "") -> None:
        if (ns, verb) in self.forbidden or (ns, "*") in self.forbidden:
            what = f'{resource} "{name}"' if name else resource
            raise ApiError(status(
                403, "Forbidden",
                f'{what} is forbidden: User "system:serviceaccount:tools:ci" cannot {verb} resource '
                f'"{resource}" in API group "{group}" in the namespace "{ns}"',
                {"name": name, "kind": resource} if name else {"kind": resource}))

    def _route(self, method: str, path: str, headers: Any, raw: bytes) -> tuple[int, dict[str, Any]]:
        path = path.split("?", 1)[0]
        body = json.loads(raw) if raw else None
        if (m := NAMESPACE_RE.match(path)) and method == "GET":
            if m["ns"] in self.namespaces:
                return 200, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": m["ns"]}}
            raise ApiError(status(404, "NotFound", f'namespaces "{m["ns"]}" not found',
                                  {"name": m["ns"], "kind": "namespaces"}))
        if m := SECRET_RE.match(path):
            return self._secrets(method, m["ns"], m["name"], headers, body)
        if m := DEPLOY_RE.match(path):
            return self._deployments(method, m["ns"], m["name"], headers, body)
        if m := SA_RE.match(path):
            return self._service_accounts(method, m["ns"], m["name"], headers, body)
        return 404, status(404, "NotFound", "the server could not find the requested resource")

    def _service_accounts(self, method: str, ns: str, name: str | None, headers: Any,
                          body: Any) -> tuple[int, dict[str, Any]]:
        return _service_accounts_handler(self, method, ns, name, headers, body)

    def _not_found(self, resource: str, name: str) -> ApiError:
        return ApiError(status(404, "NotFound", f'{resource} "{name}" not found',
                               {"name": name, "kind": resource}))

    def _validate_secret(self, body: dict[str, Any], name: str) -> None:
        if not DNS1123_SUBDOMAIN.match(name) or len(name) > 253:
            raise ApiError(status(422, "Invalid", f'Secret "{name}" is invalid: metadata.name: Invalid value',
                                  {"name": name, "kind": "Secret"}))
        if body.get("type") == "kubernetes.io/dockerconfigjson":
            data = body.get("data") or {}
            if ".dockerconfigjson" not in data:
                raise ApiError(status(422, "Invalid", f'Secret "{name}" is invalid: data[.dockerconfigjson]: '
                                                      "Required value", {"name": name, "kind": "Secret"}))
            json.loads(base64.b64decode(data[".dockerconfigjson"]))

    def _secrets(self, method: str, ns: str, name: str | None, headers: Any,
                 body: Any) -> tuple[int, dict[str, Any]]:
        verb = VERBS[method] if name or method != "GET" else "list"
        self._check_rbac(ns, verb, "secrets", name)
        if ns not in self.namespaces:
            raise ApiError(status(404, "NotFound", f'namespaces "{ns}" not found',
                                  {"name": ns, "kind": "namespaces"}))
        key = (ns, name or "")
        if name is None:
            if method == "GET":
                items = [v for (n, _), v in sorted(self.secrets.items()) if n == ns]
                return 200, {"apiVersion": "v1", "kind": "SecretList",
                             "metadata": {"resourceVersion": str(self._rv)}, "items": copy.deepcopy(items)}
            if method == "POST":
                new_name = body["metadata"]["name"]
                self._validate_secret(body, new_name)
                if (ns, new_name) in self.secrets:
                    raise ApiError(status(409, "AlreadyExists", f'secrets "{new_name}" already exists',
                                          {"name": new_name, "kind": "secrets"}))
                body["metadata"]["namespace"] = ns
                body["metadata"].pop("resourceVersion", None)
                self._stamp(body, new=True)
                self.secrets[(ns, new_name)] = body
                return 201, copy.deepcopy(body)
            raise ApiError(status(405, "MethodNotAllowed", "method not allowed"))
        current = self.secrets.get(key)
        if current is None:
            raise self._not_found("secrets", name)
        if method == "GET":
            return 200, copy.deepcopy(current)
        if method == "DELETE":
            del self.secrets[key]
            return 200, status(200, "", "", {"name": name, "kind": "secrets"}) | {"status": "Success"}
        if method == "PUT":
            if self.conflicts_on_put > 0:
                self.conflicts_on_put -= 1
                self._stamp(current, new=False)  # someone else wrote in between
            rv = (body.get("metadata") or {}).get("resourceVersion")
            if rv and rv != current["metadata"]["resourceVersion"]:
                raise ApiError(status(
                    409, "Conflict", f'Operation cannot be fulfilled on secrets "{name}": the object has '
                    "been modified; please apply your changes to the latest version and try again",
                    {"name": name, "kind": "secrets"}))
            new = body
        elif method == "PATCH":
            ctype = headers.get("Content-Type", "")
            new = json_patch(current, body) if "json-patch" in ctype else merge_patch(current, body)
        else:
            raise ApiError(status(405, "MethodNotAllowed", "method not allowed"))
        self._validate_secret(new, name)
        if new.get("type", "Opaque") != current.get("type", "Opaque"):
            raise ApiError(status(422, "Invalid", f'Secret "{name}" is invalid: type: Invalid value: '
                                                  f'"{new.get("type")}": field is immutable',
                                  {"name": name, "kind": "Secret"}))
        meta = new.setdefault("metadata", {})
        meta.update(name=name, namespace=ns, uid=current["metadata"]["uid"],
                    creationTimestamp=current["metadata"]["creationTimestamp"])
        self._stamp(new, new=False)
        self.secrets[key] = new
        return 200, copy.deepcopy(new)

    def _deployments(self, method: str, ns: str, name: str | None, headers: Any,
                     body: Any) -> tuple[int, dict[str, Any]]:
        if name is None:
            raise ApiError(status(405, "MethodNotAllowed", "method not allowed"))
        self._check_rbac(ns, VERBS[method], "deployments", name, group="apps")
        current = self.deployments.get((ns, name))
        if current is None:
            raise ApiError(status(404, "NotFound", f'deployments.apps "{name}" not found',
                                  {"name": name, "group": "apps", "kind": "deployments"}))
        if method == "GET":
            return 200, copy.deepcopy(current)
        if method == "PATCH":
            ctype = headers.get("Content-Type", "")
            new = json_patch(current, body) if "json-patch" in ctype else merge_patch(current, body)
            self._stamp(new, new=False)
            self.deployments[(ns, name)] = new
            return 200, copy.deepcopy(new)
        raise ApiError(status(405, "MethodNotAllowed", "method not allowed"))


def _service_accounts_handler(standin: KubeStandIn, method: str, ns: str, name: str | None, headers: Any,
                              body: Any) -> tuple[int, dict[str, Any]]:
    """ServiceAccounts: GET, POST (create) and PATCH (strategic merge / merge patch of metadata, which
    for string maps such as annotations and labels is the same merge)."""
    standin._check_rbac(ns, VERBS[method] if name or method != "GET" else "list", "serviceaccounts", name)
    if ns not in standin.namespaces:
        raise ApiError(status(404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"}))
    if name is None:
        if method != "POST":
            raise ApiError(status(405, "MethodNotAllowed", "method not allowed"))
        new_name = body["metadata"]["name"]
        if (ns, new_name) in standin.service_accounts:
            raise ApiError(status(409, "AlreadyExists", f'serviceaccounts "{new_name}" already exists',
                                  {"name": new_name, "kind": "serviceaccounts"}))
        body["metadata"]["namespace"] = ns
        standin._stamp(body, new=True)
        standin.service_accounts[(ns, new_name)] = body
        return 201, copy.deepcopy(body)
    current = standin.service_accounts.get((ns, name))
    if current is None:
        raise standin._not_found("serviceaccounts", name)
    if method == "GET":
        return 200, copy.deepcopy(current)
    if method == "PATCH":
        new = merge_patch(current, body)
        standin._stamp(new, new=False)
        standin.service_accounts[(ns, name)] = new
        return 200, copy.deepcopy(new)
    raise ApiError(status(405, "MethodNotAllowed", "method not allowed"))


def _handler_for(standin: KubeStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            code, payload = standin.handle(self.command, self.path, self.headers, raw)
            out = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def kube_apiserver() -> Iterator[KubeStandIn]:
    standin = KubeStandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(standin))
    server.daemon_threads = True
    standin.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()


def write_kubeconfig(path: Path, url: str, namespace: str = "default") -> Path:
    import yaml

    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "stand-in",
        "clusters": [{"name": "stand-in", "cluster": {"server": url}}],
        "users": [{"name": "stand-in", "user": {"token": TOKEN}}],
        "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "stand-in",
                                                       "namespace": namespace}}],
    }))
    return path


@pytest.fixture
def kubeconfig(kube_apiserver: KubeStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kubeconfig pointing at the stand-in, set as ``KUBECONFIG`` (in-cluster detection disabled)."""
    path = write_kubeconfig(tmp_path / "kubeconfig", kube_apiserver.url)
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return path
