"""MLRun hook: write the push target and secrets into function specs, which is what the server obeys.

The MLRun API builds with its own ``httpdb.builder`` config; a notebook's ``mlrun.mlconf`` changes
nothing there. Explicit ``spec.build.image``, ``spec.build.secret`` and ``spec.image_pull_secret`` in
every function do. Nuclio-built kinds get the Nuclio keys through ``fn.set_config`` (merged into the
Nuclio function config at deploy) and the pull secret through ``spec.image_pull_secret`` (MLRun
overwrites ``spec.imagePullSecrets`` from it).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

from mlrun_registry_ext.clients.extras import extra_module
from mlrun_registry_ext.core.build import (
    OWNED_EXTRA_ARGS_ANNOTATION,
    OWNED_NUCLIO_FLAGS_ANNOTATION,
    merge_build_flags,
)
from mlrun_registry_ext.core.compat import zip_strict
from mlrun_registry_ext.core.kinds import ALL_KINDS, NEVER_BUILT_KINDS
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.core.targets import READY_IMAGE, WARNING_CODES, PushTarget, kaniko_cache_args
from mlrun_registry_ext.errors import ConfigError
from mlrun_registry_ext.features.api import ActiveRegistry, as_active, warn_once

#: Nuclio keys MLRun manages itself; the pull secret goes through ``spec.image_pull_secret`` instead.
_MLRUN_MANAGED_NUCLIO_KEYS = frozenset({"spec.imagePullSecrets"})
#: Nuclio build keys this package writes (removed again from a function that deploys a ready image).
_NUCLIO_BUILD_KEYS = ("spec.build.registry", "spec.build.image")


class ProjectTargets(dict[str, PushTarget]):
    """``configure_project``'s result: function name -> target, plus ``skipped``: name -> why it was not
    configured (kinds MLRun never builds). Nothing is skipped without a reason."""

    def __init__(self, targets: dict[str, PushTarget], skipped: dict[str, str], project_image: PushTarget) -> None:
        super().__init__(targets)
        self.skipped = skipped
        self.project_image = project_image


def _function_identity(fn: Any, project: str | None) -> tuple[str, str, str, str | None]:
    kind = getattr(fn, "kind", None)
    kind = "job" if kind is None else kind
    name = fn.metadata.name
    proj = project or fn.metadata.project
    if not proj:
        mlrun = extra_module("mlrun")

        proj = mlrun.mlconf.default_project
    tag = getattr(fn.metadata, "tag", None) or None
    return str(kind), str(name), str(proj), tag


def _mlrun_image_ready(fn: Any) -> bool:
    """A ready image and nothing for MLRun's builder to do (the server's ``build_runtime`` skips it)."""
    build = fn.spec.build
    requires = fn.requires_build() if hasattr(fn, "requires_build") else bool(
        build.commands or build.requirements or (build.source and not build.load_source_on_run))
    return bool(fn.spec.image) and not requires and not getattr(build, "extra", None)


def _nuclio_image_ready(fn: Any) -> bool:
    """``from_image``: Nuclio deploys ``spec.image`` as is, but only while no ``spec.build.image`` is set
    (``functionBuildRequired`` in nuclio/nuclio ``pkg/platform/abstract/platform.go``)."""
    get_in = extra_module("mlrun.utils").get_in

    build = fn.spec.build
    entry = get_in(fn.spec.base_spec or {}, "spec.build.codeEntryType")
    image = get_in(fn.spec.base_spec or {}, "spec.image")
    return (entry == "image" and bool(image) and not build.functionSourceCode and not build.source
            and not build.commands)


def _ready(target: PushTarget, image: str, what: str) -> PushTarget:
    note = (f"{what} deploys the ready image {image} and has nothing to build: only the pull secret is set "
            "(no spec.build.image, which would make Nuclio rebuild or MLRun report an image never built)")
    return dataclasses.replace(target, ready_image=True, notes=(*target.notes, note),
                               note_codes=(*target.note_codes, READY_IMAGE))


def _write_nuclio_keys(fn: Any, target: PushTarget) -> None:
    for key, value in (target.nuclio or {}).items():
        if key not in _MLRUN_MANAGED_NUCLIO_KEYS and key != "spec.build.flags":
            fn.set_config(key, value)
    _sync_nuclio_flags(fn, target)


def _drop_nuclio_keys(fn: Any, target: PushTarget) -> None:
    for key in _NUCLIO_BUILD_KEYS:
        if key in (target.nuclio or {}) and fn.spec.config.get(key) == (target.nuclio or {})[key]:
            fn.spec.config.pop(key)


def _plan(fn: Any, active: ActiveRegistry, project: str | None, tag: str | None) -> PushTarget:
    """The target for ``fn`` (nothing written yet): raises ConfigError for a kind nobody builds."""
    kind, name, proj, fn_tag = _function_identity(fn, project)
    target = active.target(proj, name, kind, tag or fn_tag)
    if target.builder == "mlrun" and _mlrun_image_ready(fn):
        target = _ready(target, str(fn.spec.image), f"{kind} function {name!r}")
    elif target.builder == "nuclio" and _nuclio_image_ready(fn):
        get_in = extra_module("mlrun.utils").get_in

        target = _ready(target, str(get_in(fn.spec.base_spec, "spec.image")), f"Nuclio function {name!r}")
    return target


def _annotations(obj: Any) -> dict[str, str]:
    """The ``metadata.annotations`` of a function or project (created when missing)."""
    metadata = obj.metadata
    if getattr(metadata, "annotations", None) is None:
        metadata.annotations = {}
    annotations: dict[str, str] = metadata.annotations
    return annotations


def _owned(annotations: dict[str, str], key: str) -> list[str]:
    return str(annotations.get(key) or "").split()


def _record(annotations: dict[str, str], key: str, added: Sequence[str]) -> None:
    if added:
        annotations[key] = " ".join(added)
    else:
        annotations.pop(key, None)


def _add_extra_args(owner: Any, build: Any, flags: Sequence[str]) -> None:
    """Kaniko flags in ``spec.build.extra_args``, the string the MLRun server splits on whitespace (it
    takes words starting with ``--`` as flags; ``base.py`` ``_validate_extra_args``); idempotent.

    The flags written last time (recorded in ``owner``'s ``metadata.annotations``, see
    :func:`~mlrun_registry_ext.core.build.merge_build_flags`) go first, so the flags follow the service:
    a new mirror replaces the old one, a removed mirror, a cache turned off or a Buildah server leave
    none behind. What the user wrote stays.
    """
    annotations = _annotations(owner)
    current = str(getattr(build, "extra_args", None) or "").split()
    owned = _owned(annotations, OWNED_EXTRA_ARGS_ANNOTATION)
    if not current and not owned and not flags:
        return
    words, added = merge_build_flags(current, owned, flags)
    if words != current:
        build.extra_args = " ".join(words)
    _record(annotations, OWNED_EXTRA_ARGS_ANNOTATION, added)


def _sync_nuclio_flags(fn: Any, target: PushTarget) -> None:
    """Nuclio's ``spec.build.flags`` (whole arguments, in ``spec.config``): the same ownership as
    :func:`_add_extra_args`; the user's flags there are kept, not replaced by ours."""
    annotations = _annotations(fn)
    wanted = list((target.nuclio or {}).get("spec.build.flags") or [])
    current = [str(flag) for flag in fn.spec.config.get("spec.build.flags") or []]
    owned = _owned(annotations, OWNED_NUCLIO_FLAGS_ANNOTATION)
    if not current and not owned and not wanted:
        return
    flags, added = merge_build_flags(current, owned, wanted)
    if flags:
        fn.spec.config["spec.build.flags"] = flags
    else:
        fn.spec.config.pop("spec.build.flags", None)
    _record(annotations, OWNED_NUCLIO_FLAGS_ANNOTATION, added)


def _apply_pod_labels(fn: Any, target: PushTarget) -> None:
    """The labels the function's pods need (MLRun passes ``metadata.labels`` on to them, and to the Nuclio
    function it deploys)."""
    if target.pod_labels:
        if getattr(fn.metadata, "labels", None) is None:
            fn.metadata.labels = {}
        fn.metadata.labels.update(target.pod_labels)


def _apply(fn: Any, target: PushTarget) -> None:
    mlrun_image = target.spec_image or target.image
    if target.builder == "mlrun":
        if target.ready_image:
            if fn.spec.build.image == mlrun_image:
                fn.spec.build.image = ""  # written by an earlier call, before the image was ready
        else:
            fn.spec.build.image = mlrun_image
            if target.secret:
                fn.spec.build.secret = target.secret
            cache = kaniko_cache_args(target.cache_repo) if target.cache_repo else []
            _add_extra_args(fn, fn.spec.build, [*target.build_flags, *cache])
        if target.reverse_proxy is not None:
            proxy_ready = bool(getattr(fn.status, "container_image", None)) or _nuclio_image_ready(fn)
            if proxy_ready:
                _drop_nuclio_keys(fn, target.reverse_proxy)
            else:
                _write_nuclio_keys(fn, target.reverse_proxy)
    elif target.ready_image:
        _drop_nuclio_keys(fn, target)
    else:
        _write_nuclio_keys(fn, target)
    if target.pull_secret:
        fn.spec.image_pull_secret = target.pull_secret
    _apply_pod_labels(fn, target)
    for code, note in zip_strict(target.note_codes, target.notes):
        if code in WARNING_CODES:
            warn_once(note)


def configure_function(fn: Any, registry: ActiveRegistry | RegistryService | None = None, *,
                       project: str | None = None, tag: str | None = None, **overrides: Any) -> PushTarget:
    """Write the active registry's target and secrets into ``fn``; idempotent. Returns the target.

    A function with a ready image and nothing to build keeps its image and gets only the pull secret.
    The registry is the one of the function's project (the config file's ``projects`` map).
    """
    active = as_active(registry, overrides, project=_function_identity(fn, project)[2])
    target = _plan(fn, active, project, tag)
    _apply(fn, target)
    return target


def project_functions(project: Any) -> dict[str, Any]:
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
                      tag: str | None = None, **overrides: Any) -> ProjectTargets:
    """Configure every function of ``project``, its build config and ``project.build_image``; idempotent.

    Every target is computed before anything is written, so a refused function leaves the project
    untouched. Kinds MLRun never builds (``local``, ``handler``) are listed in the result's ``skipped``
    with the reason; a kind this package does not know is refused. Functions added to the project
    later are configured by calling this again (or by ``setup``). Without ``registry`` (or with one
    resolved without explicit choices) the registry is the project's: the config file's ``projects`` entry
    for ``project.metadata.name``.
    """
    name = project.metadata.name
    active = as_active(registry, overrides, project=name)
    planned: dict[str, tuple[Any, PushTarget]] = {}
    skipped: dict[str, str] = {}
    for key, fn in project_functions(project).items():
        kind = getattr(fn, "kind", None)
        kind = "job" if kind is None else str(kind)
        if kind in NEVER_BUILT_KINDS:
            skipped[key] = f"kind {kind!r}: {NEVER_BUILT_KINDS[kind]}"
            continue
        if kind not in ALL_KINDS:
            raise ConfigError(f"function {key}: kind", f"{kind!r} is a kind this package does not know how MLRun "
                                                       f"or Nuclio builds; allowed: {', '.join(ALL_KINDS)} "
                                                       f"(never built: {', '.join(k for k in NEVER_BUILT_KINDS if k)})")
        planned[key] = (fn, _plan(fn, active, name, tag))
    image = active.project_image(name, tag)
    for fn, target in planned.values():
        _apply(fn, target)
    build = project.spec.build
    build.image = image.spec_image or image.image
    if image.secret:
        build.secret = image.secret
    _add_extra_args(project, build, [*image.build_flags,
                                     *(kaniko_cache_args(image.cache_repo) if image.cache_repo else [])])
    _patch_build_image(project)
    for key, reason in skipped.items():
        warn_once(f"project {name}: function {key!r} not configured: {reason}")
    return ProjectTargets({k: t for k, (_, t) in planned.items()}, skipped, image)


def build_image(project: Any, image: str | None = None, **kwargs: Any) -> Any:
    """``project.build_image`` onto the configured project image.

    mlrun's ``build_image()`` without ``image`` calls ``build_config(image=None)``, which falls back to the
    project's default image or ``.mlrun-project-image-<project>`` and replaces the ``spec.build.image``
    that ``configure_project`` wrote. This passes that image (and the build secret) explicitly.
    """
    build = project.spec.build
    image = image or build.image or None
    if build.secret and not kwargs.get("secret_name"):
        kwargs["secret_name"] = build.secret
    return type(project).build_image(project, image=image, **kwargs)


def _patch_build_image(project: Any) -> None:
    """Make ``project.build_image()`` on this project object use the configured image (instance attribute,
    so the class and other projects are untouched; idempotent)."""
    if getattr(project.build_image, "_mlrun_registry_ext", False):
        return

    def patched(image: str | None = None, *args: Any, **kwargs: Any) -> Any:
        if args:  # positional arguments after image: hand them to mlrun as they are
            return type(project).build_image(project, image or project.spec.build.image or None, *args, **kwargs)
        return build_image(project, image, **kwargs)

    patched._mlrun_registry_ext = True  # type: ignore[attr-defined]
    patched.__doc__ = build_image.__doc__
    project.build_image = patched


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
    mlrun = extra_module("mlrun")

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
        builder.docker_registry_secret = config.mlrun_env.get("MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY_SECRET",
                                                             builder.docker_registry_secret)
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
