"""A REAL MLRun API server: the mlrun 1.5.2 wheel's ``mlrun db`` on sqlite, on loopback, per module.

The wheel (the newest on PyPI that ships ``mlrun/api``) lives in ``.venv-mlrun-server``
(``scripts/bootstrap.sh --test``, ``requirements-mlrun-server.lock``). ``mlrun_db_launcher.py`` runs
what ``mlrun db`` runs (the alembic migrations on a fresh sqlite file, then uvicorn), bound to
127.0.0.1 on a free port. The fixture waits for ``GET /api/v1/healthz`` within a deadline, and stops the
server (its own process group) afterwards. The stand-in (tests/support/standins.py) stays for the
paging and the failures a real server cannot be made to produce.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.mlrun_server import SERVER_VENV
from tests.support.registry import free_port

LAUNCHER = Path(__file__).with_name("mlrun_db_launcher.py")
#: Importing the 1.5.2 server and migrating a fresh sqlite database takes ~15 s here, more under load.
START_DEADLINE = 180.0


@dataclass
class MLRunDB:
    """A running server: ``url`` (``http://127.0.0.1:<port>``), its data directory and log file."""

    url: str
    root: Path
    log: Path
    process: subprocess.Popen[bytes]
    version: str = ""

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # its own session: the server and nothing else
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_mlrun_db(root: Path, deadline: float = START_DEADLINE) -> MLRunDB:
    python = SERVER_VENV / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{SERVER_VENV.name} is missing: the real MLRun server is installed by "
                    "`scripts/bootstrap.sh --test`; run it, then the tests again", pytrace=False)
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    log = root / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLRUN_", "PYTHON"))}
    with log.open("wb") as out:
        process = subprocess.Popen([str(python), str(LAUNCHER), str(port), str(root / "data")], stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=root,
                                   start_new_session=True)
    server = MLRunDB(f"http://127.0.0.1:{port}", root, log, process)
    end = time.monotonic() + deadline
    while True:
        if process.poll() is not None:
            pytest.fail(f"the MLRun 1.5.2 server exited ({process.returncode}) before it answered:\n"
                        f"{server.log_tail()}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{server.url}/api/v1/healthz", timeout=2) as answer:
                body = json.loads(answer.read(4096))
                if answer.status == 200 and body.get("status") == "ok":
                    server.version = str(body.get("version"))
                    return server
        except (OSError, ValueError):
            pass
        if time.monotonic() > end:
            server.stop()
            pytest.fail(f"the MLRun 1.5.2 server did not answer within {deadline:g} s:\n{server.log_tail()}",
                        pytrace=False)
        time.sleep(0.5)


@pytest.fixture(scope="module")
def mlrun_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLRunDB]:
    """The real MLRun 1.5.2 API server (``mlrun db`` on sqlite) on loopback, started once per module."""
    server = start_mlrun_db(tmp_path_factory.mktemp("mlrun-db"))
    try:
        yield server
    finally:
        server.stop()
