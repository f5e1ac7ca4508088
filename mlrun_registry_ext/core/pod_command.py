"""How a pod the package emits (the migrate Job, its sharded form, the ECR refresh CronJob) runs the CLI.

Pods start under a UID the image may not know (``runAsUser``, OpenShift's random UIDs), with a PATH
nobody chose. So:

- the CLI runs as ``python -m mlrun_registry_ext.cli``, never through a console script that must be on PATH;
- without an image that has the package, it is installed at start with ``pip install --target`` into a
  directory under ``$HOME`` (the pod sets ``HOME=/tmp``) and found through ``PYTHONPATH``: ``pip install
  --user`` by a non-root user puts the console script into ``~/.local/bin`` (not on PATH), and is refused
  inside a virtualenv; the package comes from a wheel URL, an index the user names (``PIP_INDEX_URL``),
  or the default index, pinned to this version;
- the package and the user's arguments go to ``sh -c`` as positional parameters (``"$0"``, ``"$@"``), so
  no shell quoting is involved;
- every ``$`` of them is written ``$$``: the kubelet expands ``$(VAR)`` in ``command`` and ``args`` (and
  turns ``$$`` into ``$``) before any shell runs (kubernetes/kubernetes
  ``third_party/forked/golang/expansion/expand.go``), so an argument such as ``--include 'a$(b)'`` would
  otherwise change on its way into the pod. Only the references the package means (``$(JOB_COMPLETION_INDEX)``)
  stay unescaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CLI_MODULE = "mlrun_registry_ext.cli"
#: A non-root user for the pods; the command works under any other UID too (it writes only under $HOME).
POD_USER = 1000
POD_HOME = "/tmp"
SECURITY_CONTEXT: dict[str, Any] = {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                                    "runAsUser": POD_USER}
#: Installs the package ("$0") under $HOME and runs the CLI with the remaining parameters ("$@").
INSTALL_AND_RUN = (
    'target="${HOME:-/tmp}/.mlrun-registry-ext" && '
    'python -m pip install --no-cache-dir --disable-pip-version-check --progress-bar off --target "$target" "$0" '
    f'&& PYTHONPATH="$target${{PYTHONPATH:+:$PYTHONPATH}}" exec python -m {CLI_MODULE} "$@"'
)


def kube_escape(value: str) -> str:
    """``value`` as the kubelet must receive it to pass it on unchanged: every ``$`` doubled."""
    return value.replace("$", "$$")


def cli_command(argv: Sequence[str], *, package: str | None = None, references: Sequence[str] = ()) -> list[str]:
    """The container ``command`` running ``mlrun-registry ARGV REFERENCES``.

    ``package``: what ``pip install`` installs at start (a wheel URL or ``name==version``); None when the
    image already has the package. ``argv`` is escaped for the kubelet; ``references`` (arguments holding
    ``$(VAR)`` meant for the kubelet to expand) are not.
    """
    escaped = [kube_escape(arg) for arg in argv] + list(references)
    if package is None:
        return ["python", "-m", CLI_MODULE, *escaped]
    return ["sh", "-c", kube_escape(INSTALL_AND_RUN), kube_escape(package), *escaped]
