"""Runs the MLRun API server's real build code (the wheel in ``.venv-mlrun-server``) on request.

Started by ``tests/support/mlrun_server.py`` with the server venv's interpreter; never imported by
the main test venv. Protocol: one JSON request per stdin line, one JSON reply per stdout line.

Request::

    {"action": "build" | "nuclio_config",
     "env": {"MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY": "...", ...},   # the API Deployment's env
     "body": {"function": {...}, "with_mlrun": ..., ...},            # POST /api/v1/build/function
     "project_secrets": {"KEY": "value"},                           # mlrun-project-secrets-<project>
     "client_version": "1.12.1", "client_python_version": "3.11.7"}

Reply: ``{"ok": true, "ready": ..., "function": <fn dict after the server>, "pods": [<V1Pod dict>],
"nuclio_config": {...}}`` or ``{"ok": false, "error": {"type": ..., "message": ...}, "pods": [...]}``.

What runs real, from the installed wheel: ``mlrun.new_function(runtime=...)`` (as the endpoint's
``_build_function`` does), ``mlrun.api.utils.builder.build_runtime`` and everything under it
(``resolve_function_image_name`` with the prefix enforcement, ``resolve_function_image_secret``,
``resolve_image_target_and_registry_secret``, ``make_dockerfile``, ``make_kaniko_pod`` with the ECR
init container, ``K8sHelper.create_pod``), and for Nuclio kinds
``mlrun.api.crud.runtimes.nuclio.function._compile_function_config``. The config is the wheel's own
``mlrun.mlconf``, re-read from ``env`` for every request with ``mlconf.reload()``.

What is not real: the kube-apiserver. ``K8sHelper`` is the real class, but its ``CoreV1Api`` is
:class:`CapturingCoreV1Api`, which records the pods the builder creates and serves the project
secret. The endpoint's steps that need the server's database or auth (project existence, the
``ServerSideLauncher`` project enrichment, ``fn.save``) are skipped: none of them touches the
registry fields.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import traceback
from typing import Any

# MLRun's logger writes to stdout; the protocol owns it. Everything else goes to stderr.
_PROTOCOL_OUT = sys.stdout
sys.stdout = sys.stderr

_BASE_ENV = {
    "MLRUN_IS_API_SERVER": "true",  # what `mlrun db` sets: server-side enrichment paths
    "MLRUN_IGNORE_ENV_FILE": "true",
    "MLRUN_LOG_LEVEL": "WARNING",
}
for _key in [k for k in os.environ if k.startswith("MLRUN_")]:
    del os.environ[_key]
os.environ.update(_BASE_ENV)

import kubernetes.client  # noqa: E402
import mlrun  # noqa: E402
import mlrun.api.crud.runtimes.nuclio.function as nuclio_function  # noqa: E402
import mlrun.api.utils.builder as builder  # noqa: E402
import mlrun.api.utils.singletons.k8s as k8s_singleton  # noqa: E402
import mlrun.common.schemas  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402


class _Meta:
    def __init__(self, name: str, namespace: str) -> None:
        self.name = name
        self.namespace = namespace


class _Created:
    def __init__(self, name: str, namespace: str) -> None:
        self.metadata = _Meta(name, namespace)


class _Secret:
    def __init__(self, data: dict[str, str]) -> None:
        self.data = data


class CapturingCoreV1Api:
    """The only fake: the kube-apiserver calls ``K8sHelper`` makes on the build path."""

    def __init__(self, project_secrets: dict[str, dict[str, str]]) -> None:
        self.pods: list[Any] = []
        self._secrets = {
            name: {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
            for name, data in project_secrets.items()
        }

    def create_namespaced_pod(self, namespace: str, pod: Any) -> _Created:
        self.pods.append(pod)
        name = f"{pod.metadata.generate_name or pod.metadata.name or 'pod-'}x1y2z"
        return _Created(name, namespace)

    def read_namespaced_secret(self, name: str, namespace: str) -> _Secret:
        if name not in self._secrets:
            raise ApiException(status=404, reason="Not Found")
        return _Secret(self._secrets[name])

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"the build path called the kube-apiserver's {name}, which the driver does not fake")


def _install_k8s(project: str, project_secrets: dict[str, str]) -> CapturingCoreV1Api:
    helper = k8s_singleton.K8sHelper.__new__(k8s_singleton.K8sHelper)
    helper.namespace = mlrun.mlconf.namespace
    helper.config_file = None
    helper.running_inside_kubernetes_cluster = True
    secret_name = helper.get_project_secret_name(project)
    api = CapturingCoreV1Api({secret_name: project_secrets} if project_secrets else {})
    helper.v1api = api
    helper.crdapi = None
    k8s_singleton._k8s = helper
    return api


def _apply_env(env: dict[str, str]) -> None:
    for key in [k for k in os.environ if k.startswith("MLRUN_") and k not in _BASE_ENV]:
        del os.environ[key]
    for key, value in env.items():
        if not key.startswith("MLRUN_"):
            raise ValueError(f"env key {key!r} is not an MLRUN_ variable")
        os.environ[key] = str(value)
    mlrun.mlconf.reload()


def _serialize(obj: Any) -> Any:
    return kubernetes.client.ApiClient().sanitize_for_serialization(obj)


def handle(request: dict[str, Any]) -> dict[str, Any]:
    _apply_env(request.get("env") or {})
    body = request["body"]
    function = body["function"]
    project = function.get("metadata", {}).get("project") or mlrun.mlconf.default_project
    api = _install_k8s(project, request.get("project_secrets") or {})
    reply: dict[str, Any] = {"ok": True, "server_version": mlrun.get_version(), "pods": []}
    try:
        fn = mlrun.new_function(runtime=function)
        if request.get("action", "build") == "nuclio_config":
            name, _project, config = nuclio_function._compile_function_config(
                fn,
                client_version=request.get("client_version"),
                client_python_version=request.get("client_python_version"),
                builder_env=body.get("builder_env") or {},
                auth_info=mlrun.common.schemas.AuthInfo(),
            )
            reply.update(nuclio_name=name, nuclio_config=config)
        else:
            with_mlrun = body.get("with_mlrun", "on")
            if not isinstance(with_mlrun, bool):
                with_mlrun = str(with_mlrun).lower() in ("on", "yes", "true", "1", "y", "t")
            reply["ready"] = builder.build_runtime(
                mlrun.common.schemas.AuthInfo(),
                fn,
                with_mlrun,
                body.get("mlrun_version_specifier"),
                body.get("skip_deployed", False),
                builder_env=body.get("builder_env"),
                client_version=request.get("client_version"),
                client_python_version=request.get("client_python_version"),
            )
        reply["function"] = fn.to_dict()
    except Exception as exc:  # the endpoint turns every error into a 400 "runtime error: ..."
        reply["ok"] = False
        reply["error"] = {"type": type(exc).__name__, "message": str(exc)}
        traceback.print_exc(file=sys.stderr)
    reply["pods"] = [_serialize(pod) for pod in api.pods]
    return reply


def main() -> int:
    _PROTOCOL_OUT.write(json.dumps({"ready": True, "server_version": mlrun.get_version()}) + "\n")
    _PROTOCOL_OUT.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = handle(json.loads(line))
        except Exception as exc:  # a bad request: report it, keep serving
            traceback.print_exc(file=sys.stderr)
            reply = {"ok": False, "error": {"type": type(exc).__name__, "message": str(exc)}, "pods": [],
                     "driver_error": True}
        _PROTOCOL_OUT.write(json.dumps(reply, default=str) + "\n")
        _PROTOCOL_OUT.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
