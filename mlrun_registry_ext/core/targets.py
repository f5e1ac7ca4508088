"""Push targets: the values written into every function that MLRun or Nuclio builds.

A notebook's ``mlrun.mlconf`` does not steer where the MLRun server pushes; only what the function
spec carries does. So the target is computed here, fully, and written explicitly: like Skaffold's
default-repo rewriting, but with MLRun's and Nuclio's own naming rules.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Sequence
from dataclasses import field
from typing import Any, Literal

from mlrun_registry_ext.core import gourl
from mlrun_registry_ext.core.build import kaniko_flags, registry_mirror
from mlrun_registry_ext.core.buildah import (
    BUILDAH_IGNORED,
    BuilderBackend,
    cloud_login_notes,
    ignored_features,
)
from mlrun_registry_ext.core.compat import slotted, zip_strict
from mlrun_registry_ext.core.kinds import (
    ALL_KINDS,
    MLRUN_BUILT_KINDS,
    NEVER_BUILT_KINDS,
    NUCLIO_BUILT_KINDS,
    NUCLIO_PROCESSOR_KINDS,
)
from mlrun_registry_ext.core.notes import Note
from mlrun_registry_ext.core.providers.ecr import (
    ECR_BUILD_SECRET_NOT_MOUNTED,
    ECR_INSTANCE_ROLE,
    ECR_SERVER_UNPREPARED,
)
from mlrun_registry_ext.core.reference import ImageReference, validate_tag
from mlrun_registry_ext.core.service import DEFAULT_REPOSITORY, RegistryService, validate_project_name
from mlrun_registry_ext.errors import ConfigError, quote

DEFAULT_TAG = "latest"
MLRUN_NAME_TEMPLATE = "func-{project}-{name}"
PREFIX_TEMPLATE_SETTING = "MLRUN_HTTPDB__BUILDER__FUNCTION_TARGET_IMAGE_NAME_PREFIX_TEMPLATE"

_GO_FIELD_RE = re.compile(r"\{\{-?\s*\.(ProjectName|FunctionName)\s*-?\}\}")

Builder = Literal["mlrun", "nuclio"]

#: The name ``project.build_image()`` gives its builder function (mlrun 1.12.1 ``projects/project.py``).
PROJECT_IMAGE_BUILDER = "mlrun--project--image--builder"
#: Where the dashboard's push registry is unknown ('.' without NUCLIO_DASHBOARD_REGISTRY_URL).
DASHBOARD_REGISTRY_PLACEHOLDER = "(the dashboard's NUCLIO_DASHBOARD_REGISTRY_URL)"


#: Note codes (stable; adapters and tools match on these, never on the text). The providers' own
#: codes (ECR_BUILD_SECRET_NOT_MOUNTED, ECR_INSTANCE_ROLE) are defined with their provider.
PREFIX_IN_SERVER_TEMPLATE = "prefix-in-server-template"
SERVER_REGISTRY_NOTE = "server-registry"
MLRUN_REPOSITORY_DROPPED = "mlrun-repository-dropped"
NUCLIO_TEMPLATE_UNKNOWN = "nuclio-template-unknown"
NUCLIO_PREFIX_IN_TEMPLATE = "nuclio-prefix-in-template"
NUCLIO_DASHBOARD_REGISTRY = "nuclio-dashboard-registry"
NUCLIO_TAG_NOT_APPLIED = "nuclio-tag-not-applied"
READY_IMAGE = "ready-image"
NUCLIO_BUILD_POD_UNLABELLED = "nuclio-build-pod-unlabelled"
PROJECT_IMAGE_NAME = "project-image-name"
#: Codes that are worth a warning in a notebook (the build will not do what one would assume).
WARNING_CODES = frozenset({ECR_BUILD_SECRET_NOT_MOUNTED, ECR_INSTANCE_ROLE, ECR_SERVER_UNPREPARED,
                           MLRUN_REPOSITORY_DROPPED, NUCLIO_TAG_NOT_APPLIED, PROJECT_IMAGE_NAME, BUILDAH_IGNORED,
                           NUCLIO_BUILD_POD_UNLABELLED})
#: Notes about Kaniko's ECR path (the server's AWS secret, its insecure fallback): not said for Buildah.
_KANIKO_ONLY_CODES = frozenset({ECR_BUILD_SECRET_NOT_MOUNTED, ECR_SERVER_UNPREPARED})


@slotted(frozen=True, kw_only=True)
class MLRunNaming:
    """The MLRun server's naming (frontend-spec); defaults are MLRun's own."""

    name_prefix_template: str = MLRUN_NAME_TEMPLATE
    registries_to_enforce_prefix: tuple[str, ...] = ()
    source: str = "MLRun default"

    def __post_init__(self) -> None:
        object.__setattr__(self, "registries_to_enforce_prefix", tuple(self.registries_to_enforce_prefix))


@slotted(frozen=True, kw_only=True)
class NuclioNaming:
    """The Nuclio dashboard's ``imageNamePrefixTemplate`` (None when the dashboard was not asked)."""

    image_name_prefix_template: str | None = None
    source: str = "unknown (no dashboard)"
    #: The dashboard's NUCLIO_DASHBOARD_REGISTRY_URL when known (it fills an empty spec.build.registry).
    registry_url: str | None = None


@slotted(frozen=True, kw_only=True)
class PushTarget:
    """Where one function's image goes, and the secrets its build and its pods use."""

    project: str
    function: str
    kind: str
    builder: Builder
    tag: str
    image: str
    registry: str
    repository: str
    secret: str | None
    pull_secret: str | None
    source: str
    nuclio: dict[str, Any] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: ``note_codes[i]`` is the machine-readable code of ``notes[i]`` (see :class:`Note`).
    note_codes: tuple[str, ...] = field(default_factory=tuple)
    #: What is written into ``spec.build.image`` when it differs from the predicted ``image``
    #: (MLRun's '.' convention: the server fills in its registry).
    spec_image: str | None = None
    #: ``application``: the reverse-proxy processor that Nuclio builds next to the MLRun-built image.
    reverse_proxy: PushTarget | None = None
    #: A ready image with nothing to build: only the pull secret is written.
    ready_image: bool = False
    #: Kaniko flags for the build (``--registry-mirror``); MLRun: ``spec.build.extra_args``,
    #: Nuclio: ``spec.build.flags`` (already in :attr:`nuclio`).
    build_flags: tuple[str, ...] = ()
    #: Kaniko's ``--cache-repo`` (the service's ``cache``; MLRun builds: ``spec.build.extra_args``).
    cache_repo: str | None = None
    #: The backend that builds it (core.buildah): MLRun's ``kaniko`` or ``buildah``; Nuclio builds are
    #: Nuclio's own (Kaniko).
    builder_backend: str = "kaniko"
    #: Labels the function's pods need (Azure workload identity: ``azure.workload.identity/use``); MLRun
    #: passes ``metadata.labels`` on to the function's pods, not to its build pod (see platform_config).
    pod_labels: dict[str, str] = field(default_factory=dict)

    @property
    def typed_notes(self) -> tuple[Note, ...]:
        return tuple(Note(code, text) for code, text in zip_strict(self.note_codes, self.notes))

    def has_note(self, code: str) -> bool:
        return code in self.note_codes

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, fields in order (tuples as lists, the reverse proxy's target nested)."""
        out: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, PushTarget):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, dict):
                value = dict(value)
            out[item.name] = value
        return out

    def replace(self, **changes: Any) -> PushTarget:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    def __str__(self) -> str:
        return self.image

    def _repr_html_(self) -> str:
        rows = [("image", self.image), ("builder", self.builder), ("registry", self.registry),
                ("build secret", self.secret or "-"), ("pull secret", self.pull_secret or "-"),
                ("source", self.source)]
        if self.builder == "mlrun":
            rows.append(("builder backend", self.builder_backend))
        rows += [(key, value) for key, value in (self.nuclio or {}).items()]
        rows += [("pod label", f"{key}={value}") for key, value in self.pod_labels.items()]
        rows += [("note", note) for note in self.notes]
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td><code>{html.escape(str(v))}"
                       f"</code></td></tr>" for k, v in rows)
        caption = f"Push target for <b>{html.escape(self.project)}/{html.escape(self.function)}</b> ({self.kind})"
        return f"<table><caption>{caption}</caption>{body}</table>"


def _notes(items: list[Note]) -> dict[str, Any]:
    return {"notes": tuple(n.text for n in items), "note_codes": tuple(n.code for n in items)}


def builder_for(kind: str) -> Builder:
    if kind in MLRUN_BUILT_KINDS:
        return "mlrun"
    if kind in NUCLIO_BUILT_KINDS:
        return "nuclio"
    if kind in NEVER_BUILT_KINDS:
        raise ConfigError("kind", f"{kind!r} is not a kind MLRun or Nuclio builds: {NEVER_BUILT_KINDS[kind]}; "
                                  f"allowed: {', '.join(ALL_KINDS)}")
    raise ConfigError("kind", f"{kind!r} is not a kind MLRun or Nuclio builds; allowed: {', '.join(ALL_KINDS)}")


_FUNCTION_RE = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


def normalize_function_name(name: str) -> str:
    """MLRun's ``normalize_name`` (white space and '_' become '-', lower-case), then checked: the name
    becomes part of an image repository, where a '/' or ':' would silently change the reference."""
    normalized = re.sub(r"\s+", "-", name.strip()).replace("_", "-").lower()
    if normalized and (len(normalized) > 63 or not _FUNCTION_RE.fullmatch(normalized)):
        raise ConfigError("function", f"{quote(name)} is not a valid function name: lowercase letters, digits, "
                                      "'-' and '.', starting and ending with a letter or digit, at most 63 characters")
    return normalized


def render_mlrun_template(template: str, project: str, function: str) -> str:
    try:
        return template.format(project=project, name=function)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError("name_prefix_template", f"{template!r} is not a valid MLRun template: only {{project}} "
                                                   "and {name} are allowed") from exc


def render_nuclio_template(template: str, project: str, function: str) -> str:
    """Render the dashboard's Go template for the two fields it offers."""
    values = {"ProjectName": project, "FunctionName": function}
    return _GO_FIELD_RE.sub(lambda match: values[match[1]], template)


def secrets_for(service: RegistryService, builder: Builder) -> tuple[str | None, str | None, list[Note]]:
    """(build secret, pull secret, notes) for one builder, with the provider's build rules (ECR: no
    per-function build secret, see :meth:`~.providers.ecr.EcrProvider.build_notes`)."""
    notes: list[Note] = []
    docker_secret = service.docker_secret_name
    rules = service.rules
    notes.extend(rules.build_notes(builder, service.has_credentials, service.aws_secret_name))
    if service.workload_identity:
        # the secret holds only Kaniko's credHelpers: the build logs in with the pod's identity, while the
        # running function's image is pulled by the node (kubelet), which a helper config cannot serve
        return (docker_secret if rules.build_secret_per_function else None), None, notes
    return (docker_secret if rules.build_secret_per_function else None), docker_secret, notes


def kaniko_cache_args(cache_repo: str) -> list[str]:
    """The Kaniko flags for a layer cache, as single ``--flag=value`` words: the MLRun server
    (``mlrun/api/utils/builder.py`` ``_validate_extra_args`` / ``_parse_extra_args``, mlrun 1.5.2; the same
    on mlrun/mlrun main) splits ``extra_args`` on white space, wants it to start with ``--`` and checks only
    ``--build-arg`` values; a flag it does not set itself is appended to Kaniko's arguments."""
    return ["--cache=true", f"--cache-repo={cache_repo}"]


def push_target(
    service: RegistryService,
    project: str,
    function: str,
    kind: str = "job",
    tag: str | None = None,
    *,
    mlrun_naming: MLRunNaming | None = None,
    nuclio_naming: NuclioNaming | None = None,
    source: str = "explicit",
    nuclio_name: str | None = None,
    server_registry: str | None = None,
    pulled: Sequence[RegistryService] = (),
    backend: BuilderBackend | None = None,
) -> PushTarget:
    """The full target for one function; raises :class:`ConfigError` when no valid target exists.

    ``nuclio_name`` is the Nuclio function's own name when it is deployed without MLRun (MLRun names it
    ``<project>-<function>``). ``server_registry`` is the MLRun server's ``docker_registry``
    (client-spec), used to predict where a '.' image really lands. ``pulled``: the services the build
    pulls from (``service.pull_from``, :func:`~.build.pulled_services`); they add Kaniko flags.
    ``backend``: the MLRun server's builder backend (default Kaniko); on Buildah an MLRun build gets no
    Kaniko flags and a note for what it ignores (Nuclio builds keep Nuclio's Kaniko flags).
    """
    builder = builder_for(kind)
    validate_project_name(project)
    function = normalize_function_name(function)
    if not function:
        raise ConfigError("function", "the function name is empty")
    tag = validate_tag(tag or DEFAULT_TAG, "tag")
    if builder == "mlrun":
        target = _mlrun_target(service, project, function, kind, tag, mlrun_naming or MLRunNaming(), source,
                               server_registry)
        if kind in NUCLIO_PROCESSOR_KINDS:
            # mlrun 1.12.1 runtimes/nuclio/application/application.py: deploy() builds the image with
            # MLRun, then deploys a Go reverse proxy as a Nuclio function named like any Nuclio function
            # (get_fullname); its build keys travel in spec.config like for the nuclio kinds.
            proxy = _nuclio_target(service, project, function, "remote", tag, nuclio_naming or NuclioNaming(),
                                   source, nuclio_name or nuclio_function_name(project, function, tag))
            target = target.replace(reverse_proxy=_with_labels(_with_flags(proxy, kaniko_flags(service, pulled)),
                                                               service))
        return _with_labels(_for_backend(target, service, pulled, backend), service)
    nuclio = _nuclio_target(service, project, function, kind, tag, nuclio_naming or NuclioNaming(), source,
                            nuclio_name or nuclio_function_name(project, function, tag))
    return _with_labels(_with_flags(nuclio, kaniko_flags(service, pulled)), service)


def _for_backend(target: PushTarget, service: RegistryService, pulled: Sequence[RegistryService],
                 backend: BuilderBackend | None) -> PushTarget:
    """An MLRun-built target for the server's backend: Kaniko gets its flags; Buildah none (its build never
    reads ``spec.build.extra_args``: core.buildah), and a note for each configured feature it ignores."""
    if backend is None or backend.takes_kaniko_flags:
        return _with_flags(target, kaniko_flags(service, pulled))
    kept = [Note(code, text) for code, text in zip_strict(target.note_codes, target.notes)
            if code not in _KANIKO_ONLY_CODES]
    notes = [*kept, *ignored_features(service, pulled, registry_mirror(service, pulled)),
             *cloud_login_notes(service)]
    secret = target.secret
    if service.workload_identity and not service.pull_from:
        # the secret would be Kaniko's credHelpers config: Buildah's authfile keeps credHelpers entries
        # (registry_auth.py at 53b1179 merges only auths) and its image has no docker-credential-* helper
        secret = None
    return target.replace(builder_backend=backend.name, build_flags=(), cache_repo=None, secret=secret,
                          **_notes(notes))


def _with_labels(target: PushTarget, service: RegistryService) -> PushTarget:
    """The pod labels the service's workload identity needs (Azure: since azure-workload-identity v1.0
    only pods labelled ``azure.workload.identity/use: "true"`` get the federated token)."""
    if not service.workload_identity or not service.rules.identity_labels:
        return target
    target = target.replace(pod_labels=dict(service.rules.identity_labels))
    if target.builder != "nuclio":
        return target
    labels = ", ".join(f"{k}={v}" for k, v in service.rules.identity_labels.items())
    note = Note(NUCLIO_BUILD_POD_UNLABELLED,
                f"Nuclio's Kaniko job pod carries no labels (nuclio/nuclio pkg/containerimagebuilderpusher/kaniko.go "
                f"compileJobSpec at 9e837f6: neither the function's labels nor a setting), so without {labels} "
                "it gets no federated token and cannot push with workload identity; the function's own pods "
                "are labelled")
    return target.replace(notes=(*target.notes, note.text), note_codes=(*target.note_codes, note.code))


def _with_flags(target: PushTarget, flags: tuple[str, ...]) -> PushTarget:
    """The Kaniko flags on the target; a Nuclio build carries them in ``spec.build.flags``."""
    if not flags:
        return target
    if target.builder == "nuclio":
        return target.replace(build_flags=flags, nuclio={**(target.nuclio or {}), "spec.build.flags": list(flags)})
    return target.replace(build_flags=flags)


def project_image_target(service: RegistryService, project: str, tag: str | None = None,
                         source: str = "explicit", *, mlrun_naming: MLRunNaming | None = None,
                         server_registry: str | None = None, pulled: Sequence[RegistryService] = (),
                         backend: BuilderBackend | None = None) -> PushTarget:
    """The project's image (``project.build_image()``), named so the MLRun server accepts it.

    ``build_image`` builds through a job named ``mlrun--project--image--builder`` (mlrun 1.12.1
    ``projects/project.py``), and the server checks that job's ``build.image`` against its prefix template
    (``resolve_function_image_name``: ``func-<project>-mlrun--project--image--builder`` by default) on its
    own registry. MLRun's own default name (``.mlrun-project-image-<project>``) fails that check once the
    server's registry is the configured one, so the project image is named like the builder job's image.
    """
    validate_project_name(project)
    tag = validate_tag(tag or DEFAULT_TAG, "tag")
    naming = mlrun_naming or MLRunNaming()
    try:
        target = _mlrun_target(service, project, PROJECT_IMAGE_BUILDER, "job", tag, naming, source, server_registry)
    except ConfigError as exc:
        if exc.field != "image":
            raise
        # ECR refuses the builder job's '--' in a repository name: fall back to MLRun's own name, which
        # the server accepts as long as it does not enforce its prefix on this registry (checked here).
        fallback = dataclasses.replace(naming, name_prefix_template="mlrun-project-image-{project}")
        target = _mlrun_target(service, project, "project-image", "job", tag, fallback, source, server_registry)
        if any(r and (target.spec_image or target.image).startswith(r) for r in naming.registries_to_enforce_prefix):
            wanted = render_mlrun_template(naming.name_prefix_template, project, PROJECT_IMAGE_BUILDER)
            raise ConfigError("image", f"the project image cannot be named so that the MLRun server accepts it: its "
                                       f"prefix check wants {wanted!r}, which this registry refuses "
                                       f"({exc.detail}); pass image= to build_image with a name outside "
                                       f"{', '.join(naming.registries_to_enforce_prefix)}") from None
        note = Note(PROJECT_IMAGE_NAME, f"the project image keeps MLRun's name {target.repository!r}: the name the "
                                        f"server's prefix check wants is not valid here ({exc.detail}); a server "
                                        f"that enforces its prefix on this registry refuses build_image()")
        target = target.replace(notes=(*target.notes, note.text), note_codes=(*target.note_codes, note.code))
    return _with_labels(_for_backend(target.replace(function="(project image)"), service, pulled, backend), service)


def parse_mlrun_docker_registry(docker_registry: str) -> tuple[str | None, str | None]:
    """The MLRun server's ``get_parsed_docker_registry`` (mlrun 1.4.1 ``mlrun/utils/helpers.py``; the same
    rule on mlrun/mlrun main): (registry, repository); the first segment is a registry only when it has
    '.' or ':' or is ``localhost``; a value without '/' is a registry."""
    first_slash = docker_registry.find("/")
    if first_slash == -1:
        return docker_registry, None
    head = docker_registry[:first_slash]
    if "." not in head and ":" not in head and head != "localhost":
        return None, docker_registry
    return head, docker_registry[first_slash + 1:]


def resolve_dot_image(image: str, docker_registry: str) -> str | None:
    """Where the MLRun server pushes a '.'-image: ``resolve_image_target_and_registry_secret`` (mlrun
    1.4.1 ``mlrun/api/utils/builder.py``): ``<registry>/<repository>/<rest>``, the repository left out when
    it occurs anywhere in the rest (a substring test). None when the server has no registry (it refuses)."""
    rest = image[1:]
    registry, repository = parse_mlrun_docker_registry(docker_registry)
    if not registry:
        return None
    parts = [registry, rest]
    if repository and repository not in rest:
        parts = [registry, repository, rest]
    return "/".join(parts)


def _mlrun_target(service: RegistryService, project: str, function: str, kind: str, tag: str,
                  naming: MLRunNaming, source: str, server_registry: str | None = None) -> PushTarget:
    rendered = render_mlrun_template(naming.name_prefix_template, project, function)
    notes: list[Note] = []
    spec_image: str | None = None
    if service.image_prefix and rendered.startswith(service.image_prefix):
        name = rendered  # the server's template already carries the prefix: never add it twice
        notes.append(Note(PREFIX_IN_SERVER_TEMPLATE,
                          f"the MLRun server's name template already starts with the image prefix ({naming.source})"))
    else:
        name = service.image_prefix + rendered
    if service.is_server_default:
        ImageReference.build("", name, tag, field="image")
        image = f".{name}:{tag}"
        registry = "."
        repository = name
        real = resolve_dot_image(image, server_registry) if server_registry else None
        if real is None:
            notes.append(Note(SERVER_REGISTRY_NOTE, "'.' means the MLRun server's configured registry (it fills "
                                                    "in registry and repository)"))
        else:
            spec_image, image = image, real
            server_reg, server_repo = parse_mlrun_docker_registry(server_registry or "")
            registry = server_reg or "."
            notes.append(Note(SERVER_REGISTRY_NOTE, f"'.': the MLRun server's registry is {server_registry!r}, so "
                                                    f"the server pushes {real}"))
            if server_repo and server_repo in spec_image[1:]:
                notes.append(Note(MLRUN_REPOSITORY_DROPPED,
                                  f"MLRun leaves the repository {server_repo!r} of its registry {server_registry!r} "
                                  f"out because {server_repo!r} occurs in the image name {spec_image[1:]!r} (a "
                                  f"substring test in the server's resolve_image_target_and_registry_secret): the "
                                  f"image lands at {real}, not under {server_reg}/{server_repo}/"))
    else:
        repository = f"{service.path or DEFAULT_REPOSITORY}/{name}"
        ref = ImageReference.build(service.host, repository, tag, field="image")
        service.rules.validate_repository(repository, service.host, "image")
        image = str(ref)
        registry = service.url
    _check_enforced_prefix(spec_image or image, rendered, name, naming)
    secret, pull_secret, secret_notes = secrets_for(service, "mlrun")
    cache_repo = None if service.is_server_default else service.cache_repository(repository)
    return PushTarget(project=project, function=function, kind=kind, builder="mlrun", tag=tag, image=image,
                      registry=registry, repository=repository, secret=secret, pull_secret=pull_secret,
                      source=source, spec_image=spec_image, cache_repo=cache_repo,
                      **_notes(notes + secret_notes))


def _check_enforced_prefix(image: str, rendered: str, name: str, naming: MLRunNaming) -> None:
    """The server refuses images on an enforced registry whose name does not start with its prefix."""
    for registry in naming.registries_to_enforce_prefix:
        if registry and image.startswith(registry) and not image[len(registry):].startswith(rendered):
                raise ConfigError(
                    "image_prefix",
                    f"the MLRun server enforces names on {registry} to start with {rendered!r} "
                    f"(template {naming.name_prefix_template!r}, from {naming.source}), but the image prefix makes "
                    f"the name {name!r}; set {PREFIX_TEMPLATE_SETTING}="
                    f"'{name[: len(name) - len(rendered)]}{naming.name_prefix_template}' "
                    "on the MLRun API so they agree",
                )


def nuclio_function_name(project: str, function: str, tag: str) -> str:
    """The name MLRun gives the Nuclio function (``get_fullname``)."""
    name = f"{project}-{function}"
    return f"{name}-{tag}" if tag and tag != DEFAULT_TAG else name


# --- Nuclio's naming rules (nuclio/nuclio at 9e837f6) ----------------------------------------------------


def nuclio_repository(registry: str) -> str:
    """``nuclio/`` unless Go's ``url.Parse(registry)`` succeeds with a non-empty ``Path``
    (``pkg/processor/build/builder.go`` ``getImage``)."""
    return "" if gourl.parsed_path(registry) else "nuclio/"


def nuclio_image(registry: str, function_name: str, build_image: str | None = None,
                 rendered_prefix: str = "") -> tuple[str, str]:
    """``(image name, tag)`` Nuclio builds for a function, with its real rules.

    ``pkg/platform/abstract/platform.go`` ``enrichImageName``: with a prefix template and a
    ``spec.build.image``, the rendered prefix is prepended unless the image already starts with it.
    ``builder.go`` ``getImage``: without ``spec.build.image`` the name is ``<nuclio/ or "">processor-<name>``,
    or ``<nuclio/ or ""><rendered prefix>processor``. Then ``resolveProcessorImage``'s split on ':': exactly
    two parts give name and tag; otherwise the tag is ``latest``.
    """
    if build_image:
        name = build_image
        if rendered_prefix and not name.startswith(rendered_prefix):
            name = rendered_prefix + name
    else:
        repository = nuclio_repository(registry)
        name = (f"{repository}{rendered_prefix}processor" if rendered_prefix
                else f"{repository}processor-{function_name}")
    parts = name.split(":")
    tag = ""
    if len(parts) == 2:
        name, tag = parts
    return name, tag or DEFAULT_TAG


def _nuclio_target(service: RegistryService, project: str, function: str, kind: str, tag: str,
                   naming: NuclioNaming, source: str, nuclio_name: str) -> PushTarget:
    notes: list[Note] = []
    config: dict[str, Any] = {}
    template = naming.image_name_prefix_template
    rendered = render_nuclio_template(template, project, nuclio_name) if template else ""
    prefix = service.image_prefix
    if rendered and prefix and rendered.startswith(prefix):
        prefix = ""  # the dashboard's template already carries it: never prepend it twice
        notes.append(Note(NUCLIO_PREFIX_IN_TEMPLATE,
                          "the dashboard's imageNamePrefixTemplate already starts with the image prefix"))
    if service.is_server_default:
        naming_registry = naming.registry_url  # the dashboard fills an empty spec.build.registry with it
    else:
        naming_registry = service.url
        config["spec.build.registry"] = service.url
    repository = nuclio_repository(naming_registry) if naming_registry is not None else None
    build_image: str | None = None
    if prefix or tag != DEFAULT_TAG:
        # A spec.build.image must keep the function where Nuclio puts it without one: the same
        # repository (nuclio/ or not), only the prefix and the tag added.
        if rendered:
            base = f"{prefix}processor"
            moves = repository != "" and not prefix  # enrichImageName would drop Nuclio's nuclio/
        else:
            base = f"{repository or ''}{prefix}processor-{nuclio_name}"
            moves = repository is None and not prefix
        if moves:
            notes.append(Note(NUCLIO_TAG_NOT_APPLIED,
                              f"Nuclio: tag {tag!r} is not set on the image, because a spec.build.image would move "
                              "the function out of the repository Nuclio picks without one ("
                              + ("the dashboard's registry is unknown: set NUCLIO_DASHBOARD_REGISTRY_URL"
                                 if repository is None else "'nuclio/', which the prefix template replaces")
                              + "); the image keeps tag 'latest' (MLRun's Nuclio name carries the tag)"))
        else:
            build_image = base if tag == DEFAULT_TAG else f"{base}:{tag}"
    name, real_tag = nuclio_image(naming_registry or "", nuclio_name, build_image, rendered)
    if build_image:
        config["spec.build.image"] = build_image
    if naming_registry is None:
        registry = DASHBOARD_REGISTRY_PLACEHOLDER
        notes.append(Note(NUCLIO_DASHBOARD_REGISTRY,
                          "'.': Nuclio pushes to the dashboard's default registry (NUCLIO_DASHBOARD_REGISTRY_URL); "
                          "without a spec.build.image Nuclio puts the image under 'nuclio/' unless Go's url.Parse "
                          "of that URL gives a path (a bare host or host/path does; host:port does not)"))
        ImageReference.build("", name, real_tag, field="image")
    else:
        registry = naming_registry
        if service.is_server_default:
            notes.append(Note(NUCLIO_DASHBOARD_REGISTRY,
                              f"'.': Nuclio pushes to the dashboard's default registry {naming_registry}"))
        else:
            full = f"{service.path}/{name}" if service.path else name
            ImageReference.build(service.host, full, real_tag, field="image")
            service.rules.validate_repository(full, service.host, "image")
    image = f"{registry.rstrip('/')}/{name}:{real_tag}"
    if service.run_registry:
        config["spec.runRegistry"] = service.run_registry
    secret, pull_secret, secret_notes = secrets_for(service, "nuclio")
    if pull_secret:
        config["spec.imagePullSecrets"] = pull_secret
    if template is None:
        notes.append(Note(NUCLIO_TEMPLATE_UNKNOWN,
                          "the dashboard's imageNamePrefixTemplate is unknown (set NUCLIO_DASHBOARD_URL); if it has "
                          "one, Nuclio prepends it"))
    return PushTarget(project=project, function=function, kind=kind, builder="nuclio", tag=real_tag, image=image,
                      registry=registry, repository=name, secret=secret, pull_secret=pull_secret,
                      source=source, nuclio=config, **_notes(notes + secret_notes))
