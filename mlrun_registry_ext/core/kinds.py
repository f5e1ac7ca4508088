"""Which function kinds MLRun builds (Kaniko on the MLRun API) and which Nuclio builds.

Its own module, free of pydantic, so the CLI can name the kinds in its help without importing the
target rules.
"""

MLRUN_BUILT_KINDS = ("job", "mpijob", "spark", "dask", "application")
NUCLIO_BUILT_KINDS = ("nuclio", "serving", "remote")
ALL_KINDS = MLRUN_BUILT_KINDS + NUCLIO_BUILT_KINDS
