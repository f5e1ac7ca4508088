"""MLRun hook: write the push target and secrets into function specs, which is what the server obeys.

The MLRun API builds with its own ``httpdb.builder`` config; a notebook's ``mlrun.mlconf`` changes
nothing there. Explicit ``spec.build.image``, ``spec.build.secret`` and ``spec.image_pull_secret`` in
every function do. Nuclio-built kinds get the Nuclio keys through ``fn.set_config`` (merged into the
Nuclio function config at deploy) and the pull secret through ``spec.image_pull_secret`` (MLRun
overwrites ``spec.imagePullSecrets`` from it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from mlrun_registry_ext.api import ActiveRegistry, as_active
from mlrun_registry_ext.core.kinds import ALL_KINDS
from mlrun_registry_ext.core.resolution import warn_once
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.core.targets import PushTarget

#: Nuclio keys MLRun manages itself; the pull secret goes through ``spec.image_pull_secret`` instead.
_MLRUN_MANAGED_NUCLIO_KEYS = frozenset({"spec.imagePullSecrets"})


def _function_identity(fn: Any, project: str | None) -> tuple[str, str, str, str | None]:
    kind = getattr(fn, "kind", None) or "job"
    name = fn.metadata.name
    proj = project or fn.metadata.project
    if not proj:
        import mlrun

        proj = mlrun.mlconf.default_project
    tag = getattr(fn.metadata, "tag", None) or None
    return str(kind), str(name), str(proj), tag


def configure_function(fn: Any, registry: ActiveRegistry | RegistryService | None = None, *,
                       project: str | None = None, tag: str | None = None, **overrides: Any) -> PushTarget:
    """Write the active registry's target and secrets into ``fn``; idempotent. Returns the target."""
    active = as_active(registry, overrides)
    kind, name, proj, fn_tag = _function_identity(fn, project)
    target = active.target(proj, name, kind, tag or fn_tag)
    if target.builder == "mlrun":
        fn.spec.build.image = target.image
        if target.secret:
            fn.spec.build.secret = target.secret
    else:
        for key, value in (target.nuclio or {}).items():
            if key not in _MLRUN_MANAGED_NUCLIO_KEYS:
                fn.set_config(key, value)
    if target.pull_secret:
        fn.spec.image_pull_secret = target.pull_secret
    for note in target.notes:
        if note.startswith("ECR: MLRun does not mount") or note.startswith("ECR: Nuclio does not mount"):
            warn_once(note)
    return target


def _project_functions(project: Any) -> dict[str, Any]:
    """Every function object the project defines, loaded locally (no DB round trip).

    A definition that cannot be loaded is an error, not skipped: a function left unconfigured would
    silently push to the server's default registry.
    """
    spec = project.spec
    functions: dict[str, Any] = dict(spec._function_objects)
    for name in spec._function_definitions:
        if name not in functions:
            functions[name] = project.get_function(name, sync=True, enrich=False)
    return functions


def configure_project(project: Any, registry: ActiveRegistry | RegistryService | None = None, *,
                      tag: str | None = None, **overrides: Any) -> dict[str, PushTarget]:
    """Configure every function of ``project`` and its build config; idempotent.

    Functions added to the project later are configured by calling this again (or by ``setup``).
    """
    active = as_active(registry, overrides)
    targets: dict[str, PushTarget] = {}
    for key, fn in _project_functions(project).items():
        kind = getattr(fn, "kind", None) or "job"
        if kind not in ALL_KINDS:
            continue  # local / handler functions are not built
        targets[key] = configure_function(fn, active, project=project.metadata.name, tag=tag)
    image = active.project_image(project.metadata.name, tag)
    build = project.spec.build
    build.image = image.image
    if image.secret:
        build.secret = image.secret
    return targets


def setup(project: Any, registry: ActiveRegistry | RegistryService | None = None, **overrides: Any) -> Any:
    """For ``project_setup.py``: ``def setup(project): return mlrun_registry_ext.setup(project)``."""
    configure_project(project, registry, **overrides)
    return project


@contextlib.contextmanager
def registry_context(registry: ActiveRegistry | RegistryService | None = None,
                     **overrides: Any) -> Iterator[ActiveRegistry]:
    """Set the client-side ``mlrun.mlconf.httpdb.builder`` values for the block, then restore them.

    Only client-side code reads these (local builds, MLRun's own default image names); the server
    still needs its own settings (``mlrun-registry platform-config``) or explicit function specs.
    """
    import mlrun

    active = as_active(registry, overrides)
    service = active.service
    config = active.platform_config()
    builder = mlrun.mlconf.httpdb.builder
    pull_secret = mlrun.mlconf.function.spec.image_pull_secret
    saved = {
        "docker_registry": builder.docker_registry,
        "docker_registry_secret": builder.docker_registry_secret,
        "function_target_image_name_prefix_template": builder.function_target_image_name_prefix_template,
        "default": pull_secret.default,
    }
    try:
        if not service.is_server_default:
            builder.docker_registry = service.url
        builder.docker_registry_secret = config.mlrun_env["MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY_SECRET"]
        template = config.mlrun_env.get("MLRUN_HTTPDB__BUILDER__FUNCTION_TARGET_IMAGE_NAME_PREFIX_TEMPLATE")
        if template:
            builder.function_target_image_name_prefix_template = template
        if service.docker_secret_name:
            pull_secret.default = service.docker_secret_name
        yield active
    finally:
        builder.docker_registry = saved["docker_registry"]
        builder.docker_registry_secret = saved["docker_registry_secret"]
        builder.function_target_image_name_prefix_template = saved["function_target_image_name_prefix_template"]
        pull_secret.default = saved["default"]
