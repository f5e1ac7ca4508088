"""Which function kinds MLRun builds (Kaniko on the MLRun API), which Nuclio builds, which nobody builds.

Its own module, free of pydantic, so the CLI can name the kinds in its help without importing the
target rules. Every kind of ``mlrun.runtimes.RuntimeKinds.all()`` (mlrun 1.12.1) is in exactly one
list: a kind missing here is refused with a reason, never skipped in silence.
"""

#: Built by the MLRun API's Kaniko builder. ``databricks`` and ``remote-spark`` subclass the job
#: runtime; ``application`` builds its image here and its reverse-proxy processor in Nuclio.
MLRUN_BUILT_KINDS = ("job", "mpijob", "spark", "dask", "databricks", "remote-spark", "application")
NUCLIO_BUILT_KINDS = ("nuclio", "serving", "remote")
ALL_KINDS = MLRUN_BUILT_KINDS + NUCLIO_BUILT_KINDS
#: Kinds that run in the client process and are never built: skipped, with this reason.
NEVER_BUILT_KINDS = {
    "local": "it runs in the client process, so MLRun never builds an image for it",
    "handler": "a handler runs in the client process, so MLRun never builds an image for it",
    "": "a function without a kind runs locally, so MLRun never builds an image for it",
}
#: Kinds whose Nuclio processor is built next to an MLRun-built image (the application's reverse proxy).
NUCLIO_PROCESSOR_KINDS = ("application",)
