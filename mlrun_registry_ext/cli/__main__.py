from mlrun_registry_ext.cli import run

run()
