"""Shared test set-up. Fixture modules per area live in tests/support/ and are loaded here."""

from __future__ import annotations

import os

# `import mlrun` must never try to reach a server the developer happens to have configured.
os.environ.pop("MLRUN_DBPATH", None)
os.environ["MLRUN_IGNORE_ENV_FILE"] = "true"
for _key in [k for k in os.environ if k.startswith("MLRUN_REGISTRY_EXT_")]:
    os.environ.pop(_key)
for _key in ("NUCLIO_DASHBOARD_URL", "IGZ_NAMESPACE_DOMAIN"):
    os.environ.pop(_key, None)

pytest_plugins = [
    "tests.support.env",
    "tests.support.standins",
    "tests.support.registry",
    "tests.support.kube",
    "tests.support.aws",
    "tests.support.mlrun_server",
    "tests.support.mlrun_db",
]
