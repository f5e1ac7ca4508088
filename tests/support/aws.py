"""Fixtures: moto in server mode on loopback (real HTTP, real boto3 through ``AWS_ENDPOINT_URL``).

The server's WSGI app is wrapped in a counter, so tests count API calls (e.g. ``GetAuthorizationToken``)
at the server, whichever process made them.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
ECR_HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


@dataclass
class MotoServer:
    url: str
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, action: str) -> int:
        with self.lock:
            return self.calls[action]

    def reset(self) -> None:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10)
        with self.lock:
            self.calls.clear()


class _Counting:
    """WSGI middleware: counts ``X-Amz-Target`` (JSON APIs) and ``Action=`` (query APIs) per request."""

    def __init__(self, app: Any, server: MotoServer) -> None:
        self.app = app
        self.server = server

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        action = None
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            action = target.rsplit(".", 1)[-1]
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length and environ.get("REQUEST_METHOD") == "POST":
                import io

                body = environ["wsgi.input"].read(length)
                environ["wsgi.input"] = io.BytesIO(body)
                action = (parse_qs(body.decode(errors="replace")).get("Action") or [None])[0]
            if action is None:
                action = (parse_qs(environ.get("QUERY_STRING", "")).get("Action") or [None])[0]
        if action:
            with self.server.lock:
                self.server.calls[action] += 1
        return self.app(environ, start_response)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    from moto.moto_server import threaded_moto_server
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    holder = MotoServer(url="")
    app = _Counting(DomainDispatcherApplication(create_backend_app), holder)
    # moto >= 5.2 serves with its own request handler; the moto of the Python 3.9 run (5.1) with werkzeug's
    handler = getattr(threaded_moto_server, "MotoRequestHandler", None)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)
    holder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield holder
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def aws(moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """A clean moto state, boto3 pointed at it through the environment, and a private token cache."""
    moto_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config-absent"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials-absent"))
    monkeypatch.setenv("MLRUN_REGISTRY_EXT_CACHE_DIR", str(tmp_path / "cache"))
    return moto_server


def iam_user_with_policy(policy: dict[str, Any], name: str = "builder") -> tuple[str, str]:
    """Create an IAM user with ``policy`` attached (as a managed policy); return its access keys."""
    import json

    import boto3

    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName=name)
    arn = iam.create_policy(PolicyName=f"{name}-ecr", PolicyDocument=json.dumps(policy))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]
