"""``python -m mlrun_registry_ext``: the ``mlrun-registry`` command, for where the console script is not
on PATH (a non-root ``pip install --user``, a Job whose image has no bin directory on PATH)."""

from mlrun_registry_ext.cli import run

if __name__ == "__main__":
    run()
