"""The MLRun API server's REAL build code, run from the main test venv.

The server side of MLRun (``mlrun/api/...``) shipped in the PyPI wheels up to 1.5.x; 1.5.2 is the newest
that has it. ``scripts/bootstrap.sh --test`` installs it in ``.venv-mlrun-server`` from
``requirements-mlrun-server.lock``. :class:`MLRunServer` starts ``mlrun_server_driver.py`` there once per
session and sends it functions configured by THIS package with the real mlrun 1.12.1 client; the wheel's
own code answers where Kaniko would push, with which secret, and what it refuses. Only the
kube-apiserver is faked (the driver records the pods instead of creating them).

Two ways in:
- ``mlrun_server.build(body, env=...)``: ``body`` is what the client POSTs to ``/api/v1/build/function``
  (:func:`build_body` makes it from a function object as the 1.12 client does); ``env`` is the API
  Deployment's ``MLRUN_*`` environment, e.g. ``active.platform_config().mlrun_env``.
- ``mlrun_server.serve_builds(mlrun_api, env)``: the MLRun API stand-in answers ``POST build/function``
  with the real server's result, so client flows (``project.build_image()``) reach the real code.

1.5.2 reads the 1.12 function dict as it is (``new_function(runtime=dict)`` ignores fields it does not
know, and every registry field has kept its name and place), so no translation is applied.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER_VENV = ROOT / ".venv-mlrun-server"
DRIVER = Path(__file__).with_name("mlrun_server_driver.py")
START_TIMEOUT = 120.0  # importing mlrun 1.5.2 takes ~8 s here, more under load
REQUEST_TIMEOUT = 60.0
REPLY_CAP = 16 * 1024 * 1024


@dataclass(frozen=True)
class KanikoPod:
    """The Kaniko build pod the server would create, reduced to what decides where and how it pushes."""

    args: list[str]
    destination: str | None
    docker_config_secret: str | None  # the secret mounted at /kaniko/.docker (config.json)
    secret_mounts: dict[str, str]  # mount path -> secret name, every container
    init_containers: list[dict[str, Any]]
    env: dict[str, str | None]  # the Kaniko container's env (value, or None for valueFrom)
    raw: dict[str, Any] = field(repr=False)

    @property
    def insecure(self) -> bool:
        return "--insecure" in self.args

    @property
    def insecure_pull(self) -> bool:
        return "--insecure-pull" in self.args

    @property
    def init_container_names(self) -> list[str]:
        return [c.get("name", "") for c in self.init_containers]

    def init_command(self, name: str) -> str:
        for container in self.init_containers:
            if container.get("name") == name:
                return " ".join(container.get("command", []) + container.get("args", []))
        raise AssertionError(f"no init container {name!r}; have {self.init_container_names}")

    @classmethod
    def from_pod(cls, pod: dict[str, Any]) -> KanikoPod:
        spec = pod.get("spec", {})
        kaniko = spec["containers"][0]
        args = [str(a) for a in kaniko.get("args", [])]
        destination = args[args.index("--destination") + 1] if "--destination" in args else None
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        mounts: dict[str, str] = {}
        for container in [kaniko, *spec.get("initContainers", [])]:
            for mount in container.get("volumeMounts", []):
                secret = volumes.get(mount["name"], {}).get("secret")
                if secret:
                    mounts[mount["mountPath"]] = secret["secretName"]
        env = {e["name"]: e.get("value") for e in kaniko.get("env") or []}
        return cls(args=args, destination=destination, docker_config_secret=mounts.get("/kaniko/.docker"),
                   secret_mounts=mounts, init_containers=list(spec.get("initContainers", [])), env=env, raw=pod)


@dataclass(frozen=True)
class ServerBuild:
    """The real server's answer to one build (or Nuclio compile) request."""

    ok: bool
    error: str | None
    error_type: str | None
    ready: bool | None
    function: dict[str, Any]
    pods: list[dict[str, Any]]
    nuclio_config: dict[str, Any] | None
    server_version: str

    @property
    def kaniko(self) -> KanikoPod:
        assert self.ok, f"the server refused the build: {self.error_type}: {self.error}"
        assert len(self.pods) == 1, f"expected one Kaniko pod, the server created {len(self.pods)}"
        return KanikoPod.from_pod(self.pods[0])

    @property
    def build_image(self) -> str | None:
        return (self.function.get("spec", {}).get("build") or {}).get("image")

    @property
    def build_secret(self) -> str | None:
        return (self.function.get("spec", {}).get("build") or {}).get("secret")

    def nuclio(self, key: str) -> Any:
        """A dotted key of the Nuclio function config MLRun would send the dashboard."""
        assert self.ok, f"the server refused: {self.error_type}: {self.error}"
        node: Any = self.nuclio_config
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node


def build_body(fn: Any, *, with_mlrun: bool = False, skip_deployed: bool = False) -> dict[str, Any]:
    """The body the 1.12 client POSTs to /api/v1/build/function (``HTTPRunDB.remote_builder``)."""
    return {"function": fn.to_dict(), "with_mlrun": "yes" if with_mlrun else "no",
            "skip_deployed": skip_deployed, "force_build": False}


class MLRunServer:
    """A long-lived driver process in ``.venv-mlrun-server``; requests are answered one at a time."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the driver, closed in close()
        self._buffer = b""
        self.server_version = ""
        self.last: ServerBuild | None = None

    @staticmethod
    def python() -> Path:
        python = SERVER_VENV / "bin" / "python"
        if not python.exists():
            pytest.fail(f"{SERVER_VENV.name} is missing: the real MLRun server code is installed by "
                        "`scripts/bootstrap.sh --test`; run it, then the tests again", pytrace=False)
        return python

    def start(self) -> MLRunServer:
        """Start the driver without waiting for its (slow) import; the first request waits."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLRUN_", "PYTHON"))}
        self._proc = subprocess.Popen([str(self.python()), str(DRIVER)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._stderr, env=env, cwd=tempfile.gettempdir())
        return self

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-3000:]

    def _read_line(self, timeout: float) -> dict[str, Any]:
        assert self._proc and self._proc.stdout
        deadline = time.monotonic() + timeout
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"the MLRun server driver did not answer in {timeout:.0f} s\n{self._stderr_tail()}")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"the MLRun server driver exited\n{self._stderr_tail()}")
            self._buffer += chunk
            if len(self._buffer) > REPLY_CAP:
                raise AssertionError("the MLRun server driver's reply exceeds 16 MiB")
        line, _, self._buffer = self._buffer.partition(b"\n")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def _ensure_ready(self) -> None:
        if self._proc is None:
            self.start()
        if not self.server_version:
            hello = self._read_line(START_TIMEOUT)
            self.server_version = str(hello["server_version"])

    def request(self, action: str, body: dict[str, Any], env: dict[str, str] | None = None, *,
                project_secrets: dict[str, str] | None = None, client_version: str = "1.12.1") -> ServerBuild:
        self._ensure_ready()
        assert self._proc and self._proc.stdin
        message = {"action": action, "body": body, "env": dict(env or {}), "project_secrets": project_secrets or {},
                   "client_version": client_version, "client_python_version": "3.11.7"}
        self._proc.stdin.write(json.dumps(message).encode() + b"\n")
        self._proc.stdin.flush()
        reply = self._read_line(REQUEST_TIMEOUT)
        if reply.get("driver_error"):
            raise AssertionError(f"the driver could not run the request: {reply['error']}\n{self._stderr_tail()}")
        error = reply.get("error") or {}
        self.last = ServerBuild(ok=bool(reply["ok"]), error=error.get("message"), error_type=error.get("type"),
                                ready=reply.get("ready"), function=reply.get("function") or {},
                                pods=reply.get("pods") or [], nuclio_config=reply.get("nuclio_config"),
                                server_version=str(reply.get("server_version", "")))
        return self.last

    def build(self, body: dict[str, Any], env: dict[str, str] | None = None, **kwargs: Any) -> ServerBuild:
        """``POST /api/v1/build/function`` for MLRun-built kinds: ``build_runtime`` and the Kaniko pod."""
        return self.request("build", body, env, **kwargs)

    def nuclio_config(self, fn: Any, env: dict[str, str] | None = None, **kwargs: Any) -> ServerBuild:
        """The Nuclio function config MLRun's deploy would send the dashboard (``_compile_function_config``)."""
        return self.request("nuclio_config", {"function": fn.to_dict()}, env, **kwargs)

    def serve_builds(self, mlrun_api: Any, env: dict[str, str] | None = None) -> None:
        """Answer the stand-in's ``POST build/function`` with the real server's result (400 on refusal,
        as the endpoint does: ``runtime error: ...``)."""

        def handler(request: Any) -> tuple[int, Any, dict[str, str]]:
            result = self.build(request.body, env)
            if not result.ok:
                return 400, {"detail": {"reason": f"runtime error: {result.error}"}}, {}
            key = f"{result.function['metadata'].get('project')}/{result.function['metadata']['name']}"
            mlrun_api.functions[key] = result.function
            return 200, {"data": result.function, "ready": bool(result.ready)}, {}

        def delete(request: Any, **_: str) -> tuple[int, Any, dict[str, str]]:
            return 204, None, {}  # build_image() deletes its temporary builder function afterwards

        mlrun_api.route("POST", r"/api/v1/build/function", handler)
        mlrun_api.route("DELETE", r"/api/v2/projects/(?P<project>[^/]+)/functions/(?P<name>[^/]+)", delete)

    def close(self) -> None:
        if self._proc is not None:
            if self._proc.stdin:
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout:
                self._proc.stdout.close()
            self._proc = None
        self._stderr.close()


@pytest.fixture(scope="session")
def mlrun_server() -> Iterator[MLRunServer]:
    """The real MLRun 1.5.2 API server build code in its own venv (started once per session)."""
    server = MLRunServer().start()
    try:
        yield server
    finally:
        server.close()
