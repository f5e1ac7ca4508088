"""The optional packages (the extras) and the one rule for importing them.

``import mlrun_registry_ext`` stays light: mlrun, nuclio-jupyter, kubernetes and boto3 are imported
inside the functions that need them, always through :func:`extra_module`. When one is not installed,
the user sees one line naming the extra to install (:class:`~mlrun_registry_ext.errors.MissingExtraError`,
exit 2), not a ``ModuleNotFoundError`` from deep inside a command.

The modules are named as text: this tier never imports MLRun's or Nuclio's client itself (the
import contracts), it only knows which extra provides which top-level package.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mlrun_registry_ext.errors import MissingExtraError

#: top-level package -> the extra of ``mlrun-registry-ext`` that installs it (pyproject.toml)
EXTRAS = {
    "mlrun": "mlrun",
    "nuclio": "nuclio",
    "kubernetes": "kubernetes",
    "urllib3": "kubernetes",  # the Kubernetes client's transport (its exceptions)
    "boto3": "aws",
    "botocore": "aws",
}


def extra_module(name: str) -> ModuleType:
    """``import name`` (a package of :data:`EXTRAS` or one of its modules); its extra named if it is missing.

    Only the package itself missing is an extra's absence; a module missing inside an installed package
    (a broken install, another version's layout) passes through as the ``ModuleNotFoundError`` it is.
    """
    top = name.partition(".")[0]
    extra = EXTRAS[top]
    try:
        importlib.import_module(top)
    except ModuleNotFoundError as exc:
        if exc.name != top:
            raise
        raise MissingExtraError(extra, top) from None
    return importlib.import_module(name)
