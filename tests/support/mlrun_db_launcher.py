"""Starts the MLRun API server of the mlrun 1.5.2 wheel, as ``mlrun db`` does, bound to loopback.

Run by ``tests/support/mlrun_db.py`` with ``.venv-mlrun-server``'s interpreter; never imported by the
main test venv. Arguments: ``PORT DATA_DIR``.

``mlrun db --port P --dirpath D --dsn sqlite:///D/mlrun.db --logs-path D/logs`` (``mlrun/__main__.py``
``db`` in the 1.5.2 wheel) sets the environment below and runs ``python -m mlrun.api.main``, whose
``main()`` runs ``init_data()`` (the alembic migrations and the initial data on sqlite) and then
``uvicorn.run("mlrun.api.main:app", host="0.0.0.0", port=...)``. This does the same in one process with
one change: uvicorn binds 127.0.0.1, not every interface.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    port, root = sys.argv[1], Path(sys.argv[2]).resolve()
    root.mkdir(parents=True, exist_ok=True)
    for key in [k for k in os.environ if k.startswith("MLRUN_")]:
        del os.environ[key]
    # what `mlrun db` puts in the server's environment (the wheel's mlrun/__main__.py, ``db``)
    os.environ.update({
        "MLRUN_IGNORE_ENV_FILE": "true",
        "MLRUN_DBPATH": "",
        "MLRUN_httpdb__port": port,
        "MLRUN_httpdb__dirpath": str(root),
        "MLRUN_HTTPDB__DSN": f"sqlite:///{root}/mlrun.db?check_same_thread=false",
        "MLRUN_HTTPDB__LOGS_PATH": str(root / "logs"),
        "MLRUN_ARTIFACT_PATH": str(root / "artifacts") + "/{{project}}",
        "MLRUN_IS_API_SERVER": "true",
        "MLRUN_LOG_LEVEL": "WARNING",
    })
    import uvicorn

    run = uvicorn.run

    def on_loopback(app: str, **kwargs: object) -> None:
        kwargs["host"] = "127.0.0.1"
        run(app, **kwargs)  # type: ignore[arg-type]

    uvicorn.run = on_loopback  # mlrun.api.main calls uvicorn.run(...) by attribute, at run time
    import mlrun.api.main

    mlrun.api.main.main()


if __name__ == "__main__":
    main()
