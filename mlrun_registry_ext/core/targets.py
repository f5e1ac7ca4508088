"""Push targets: the values written into every function that MLRun or Nuclio builds.

A notebook's ``mlrun.mlconf`` does not steer where the MLRun server pushes; only what the function
spec carries does. So the target is computed here, fully, and written explicitly: like Skaffold's
default-repo rewriting, but with MLRun's and Nuclio's own naming rules.
"""

from __future__ import annotations

import html
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlrun_registry_ext.core.kinds import ALL_KINDS, MLRUN_BUILT_KINDS, NUCLIO_BUILT_KINDS
from mlrun_registry_ext.core.providers import Provider
from mlrun_registry_ext.core.reference import ImageReference, validate_tag
from mlrun_registry_ext.core.service import DEFAULT_REPOSITORY, RegistryService
from mlrun_registry_ext.errors import ConfigError

DEFAULT_TAG = "latest"
MLRUN_NAME_TEMPLATE = "func-{project}-{name}"
PREFIX_TEMPLATE_SETTING = "MLRUN_HTTPDB__BUILDER__FUNCTION_TARGET_IMAGE_NAME_PREFIX_TEMPLATE"

_PROJECT_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_GO_FIELD_RE = re.compile(r"\{\{-?\s*\.(ProjectName|FunctionName)\s*-?\}\}")

Builder = Literal["mlrun", "nuclio"]


class MLRunNaming(BaseModel):
    """The MLRun server's naming (frontend-spec); defaults are MLRun's own."""

    model_config = ConfigDict(frozen=True)

    name_prefix_template: str = MLRUN_NAME_TEMPLATE
    registries_to_enforce_prefix: tuple[str, ...] = ()
    source: str = "MLRun default"


class NuclioNaming(BaseModel):
    """The Nuclio dashboard's ``imageNamePrefixTemplate`` (None when the dashboard was not asked)."""

    model_config = ConfigDict(frozen=True)

    image_name_prefix_template: str | None = None
    source: str = "unknown (no dashboard)"


class PushTarget(BaseModel):
    """Where one function's image goes, and the secrets its build and its pods use."""

    model_config = ConfigDict(frozen=True)

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
    notes: tuple[str, ...] = Field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def __str__(self) -> str:
        return self.image

    def _repr_html_(self) -> str:
        rows = [("image", self.image), ("builder", self.builder), ("registry", self.registry),
                ("build secret", self.secret or "-"), ("pull secret", self.pull_secret or "-"),
                ("source", self.source)]
        rows += [(key, value) for key, value in (self.nuclio or {}).items()]
        rows += [("note", note) for note in self.notes]
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td><code>{html.escape(str(v))}"
                       f"</code></td></tr>" for k, v in rows)
        caption = f"Push target for <b>{html.escape(self.project)}/{html.escape(self.function)}</b> ({self.kind})"
        return f"<table><caption>{caption}</caption>{body}</table>"


def builder_for(kind: str) -> Builder:
    if kind in MLRUN_BUILT_KINDS:
        return "mlrun"
    if kind in NUCLIO_BUILT_KINDS:
        return "nuclio"
    raise ConfigError("kind", f"{kind!r} is not a kind MLRun or Nuclio builds; allowed: {', '.join(ALL_KINDS)}")


def validate_project(project: str) -> str:
    if len(project) > 63 or not _PROJECT_RE.match(project):
        raise ConfigError("project", f"{project!r} is not a valid MLRun project name: lowercase letters, digits "
                                     "and '-', starting and ending with a letter or digit, at most 63 characters")
    return project


def normalize_function_name(name: str) -> str:
    """MLRun's ``normalize_name``: lower-case, '_' becomes '-'."""
    return name.strip().lower().replace("_", "-")


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


def secrets_for(service: RegistryService, builder: Builder) -> tuple[str | None, str | None, list[str]]:
    """(build secret, pull secret, notes) for one builder, with MLRun's and Nuclio's ECR rules."""
    notes: list[str] = []
    docker_secret = service.docker_secret_name
    if service.provider is Provider.ECR:
        if service.has_credentials:
            who = "MLRun" if builder == "mlrun" else "Nuclio"
            setting = ("MLRUN_HTTPDB__BUILDER__DOCKER_REGISTRY_SECRET" if builder == "mlrun"
                       else "NUCLIO_KANIKO_REGISTRY_PROVIDER_AUTH_SECRET_NAME")
            notes.append(f"ECR: {who} does not mount a per-function build secret for ECR; the build uses the "
                         f"server's AWS credentials secret ({setting}={service.aws_secret_name}) or the "
                         "cluster's IAM role. See `mlrun-registry platform-config`.")
        else:
            notes.append("ECR: builds push with the cluster's IAM role (no credentials configured)")
        return None, docker_secret, notes
    return docker_secret, docker_secret, notes


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
) -> PushTarget:
    """The full target for one function; raises :class:`ConfigError` when no valid target exists.

    ``nuclio_name`` is the Nuclio function's own name when it is deployed without MLRun (MLRun names it
    ``<project>-<function>``).
    """
    builder = builder_for(kind)
    validate_project(project)
    function = normalize_function_name(function)
    if not function:
        raise ConfigError("function", "the function name is empty")
    tag = validate_tag(tag or DEFAULT_TAG, "tag")
    if builder == "mlrun":
        return _mlrun_target(service, project, function, kind, tag, mlrun_naming or MLRunNaming(), source)
    return _nuclio_target(service, project, function, kind, tag, nuclio_naming or NuclioNaming(), source,
                          nuclio_name or nuclio_function_name(project, function, tag))


def project_image_target(service: RegistryService, project: str, tag: str | None = None,
                         source: str = "explicit") -> PushTarget:
    """The project's default image (``project.build_image()``), MLRun's ``mlrun-project-image-<project>``."""
    validate_project(project)
    naming = MLRunNaming(name_prefix_template="mlrun-project-image-{project}",
                         source="MLRun default_project_image_name")
    target = _mlrun_target(service, project, "project-image", "job", validate_tag(tag or DEFAULT_TAG, "tag"),
                           naming, source)
    return target.model_copy(update={"function": "(project image)"})


def _mlrun_target(service: RegistryService, project: str, function: str, kind: str, tag: str,
                  naming: MLRunNaming, source: str) -> PushTarget:
    rendered = render_mlrun_template(naming.name_prefix_template, project, function)
    notes: list[str] = []
    if service.image_prefix and rendered.startswith(service.image_prefix):
        name = rendered  # the server's template already carries the prefix: never add it twice
        notes.append(f"the MLRun server's name template already starts with the image prefix ({naming.source})")
    else:
        name = service.image_prefix + rendered
    if service.is_server_default:
        ImageReference.build("", name, tag, field="image")
        image = f".{name}:{tag}"
        registry = "."
        repository = name
        notes.append("'.' means the MLRun server's configured registry (it fills in registry and repository)")
    else:
        repository = f"{service.path or DEFAULT_REPOSITORY}/{name}"
        ref = ImageReference.build(service.host, repository, tag, field="image")
        service.rules.validate_repository(repository, service.host, "image")
        image = str(ref)
        registry = service.url
    _check_enforced_prefix(image, rendered, name, naming)
    secret, pull_secret, secret_notes = secrets_for(service, "mlrun")
    return PushTarget(project=project, function=function, kind=kind, builder="mlrun", tag=tag, image=image,
                      registry=registry, repository=repository, secret=secret, pull_secret=pull_secret,
                      source=source, notes=tuple(notes + secret_notes))


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


def _nuclio_target(service: RegistryService, project: str, function: str, kind: str, tag: str,
                   naming: NuclioNaming, source: str, nuclio_name: str) -> PushTarget:
    notes: list[str] = []
    config: dict[str, Any] = {}
    template = naming.image_name_prefix_template
    rendered = render_nuclio_template(template, project, nuclio_name) if template else ""
    prefix = service.image_prefix
    if rendered and prefix and rendered.startswith(prefix):
        prefix = ""  # the dashboard's template already carries it: never prepend it twice
        notes.append("the dashboard's imageNamePrefixTemplate already starts with the image prefix")
    if rendered:
        stem = "processor"
    elif service.path or service.is_server_default:
        stem = f"processor-{nuclio_name}"
    else:
        stem = f"nuclio/processor-{nuclio_name}"
    build_image = f"{prefix}{stem}" if prefix else None
    image_name = rendered + (build_image or stem)
    if service.is_server_default:
        registry = "(the dashboard's NUCLIO_DASHBOARD_REGISTRY_URL)"
        notes.append("'.': Nuclio pushes to the dashboard's default registry")
        ImageReference.build("", image_name, tag, field="image")
        image = f"{registry}/{image_name}:{tag}"
    else:
        registry = service.url
        full = f"{service.path}/{image_name}" if service.path else image_name
        ImageReference.build(service.host, full, tag, field="image")
        service.rules.validate_repository(full, service.host, "image")
        image = f"{registry}/{image_name}:{tag}"
        config["spec.build.registry"] = registry
    if build_image:
        config["spec.build.image"] = build_image if tag == DEFAULT_TAG else f"{build_image}:{tag}"
    elif tag != DEFAULT_TAG:
        config["spec.build.image"] = f"{stem}:{tag}"
    if service.run_registry:
        config["spec.runRegistry"] = service.run_registry
    secret, pull_secret, secret_notes = secrets_for(service, "nuclio")
    if pull_secret:
        config["spec.imagePullSecrets"] = pull_secret
    if template is None:
        notes.append("the dashboard's imageNamePrefixTemplate is unknown (set NUCLIO_DASHBOARD_URL); if it has "
                     "one, Nuclio prepends it")
    return PushTarget(project=project, function=function, kind=kind, builder="nuclio", tag=tag, image=image,
                      registry=registry, repository=image_name, secret=secret, pull_secret=pull_secret,
                      source=source, nuclio=config, notes=tuple(notes + secret_notes))
