"""`migrate`: copy images off a registry (by default the on-cluster one) into the active external one.

Credentials for ``--from``/``--to`` URLs come from the one credential chain
(:mod:`mlrun_registry_ext.clients.registry.login`): ``MLRUN_REGISTRY_EXT_MIGRATE_{FROM,TO}_{USERNAME,PASSWORD}``,
the active registry service when it is the same host, the docker config (``$DOCKER_CONFIG/config.json``,
what the ``--emit-job`` Job mounts) and its credential helpers, containers' ``auth.json``, the ECR token
exchange. Never from the command line.

A ``--from``/``--to`` registry that is the active service's (same origin, :mod:`core.origin`) gets
that service's CA bundle, and its login when the environment gives none: the same rules as without
``--to``. One path: both ends are :class:`~mlrun_registry_ext.core.service.RegistryService` objects
(a cheap frozen dataclass), with or without ``--to``, so the rules and the messages are the same. The
active service is only resolved when it can matter (no ``--to``, ``--rename``, or a setting that
describes one), so a re-run with nothing new is over in a fraction of a second.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mlrun_registry_ext.cli._app import add_json_flag, console, inputs_checked, print_json, seconds
from mlrun_registry_ext.clients.local_config import namespace_domain
from mlrun_registry_ext.clients.platform_probe import mlrun_dbpath, nuclio_dashboard_url
from mlrun_registry_ext.core.credentials import validate_namespace
from mlrun_registry_ext.core.location import RegistryLocation, parse_location
from mlrun_registry_ext.core.origin import same_registry
from mlrun_registry_ext.core.platform_images import SOURCES_ENV, parse_source_overrides
from mlrun_registry_ext.core.pod_command import POD_HOME, SECURITY_CONTEXT, cli_command, kube_escape
from mlrun_registry_ext.core.service import RegistryService, Resources
from mlrun_registry_ext.core.strict_yaml import dump_yaml
from mlrun_registry_ext.errors import ConfigError
from mlrun_registry_ext.features.api import as_service, resolve
from mlrun_registry_ext.features.migrate import MigrationReport, Shard, migrate
from mlrun_registry_ext.features.migrate.model import MAX_SHARDS, MigrateOptions
from mlrun_registry_ext.features.migrate.platform import migrate_platform_images
from mlrun_registry_ext.features.migrate.rewrite import rewrite_functions
from mlrun_registry_ext.features.platform_images import image_plan, images_service

if TYPE_CHECKING:
    from mlrun_registry_ext.features.migrate.rewrite import RewriteReport

JOB_IMAGE_ENV = "MLRUN_REGISTRY_EXT_JOB_IMAGE"
DEFAULT_JOB_IMAGE = "python:3.11-slim"
PACKAGE = "mlrun-registry-ext"
#: The index Kubernetes gives each pod of an Indexed Job.
INDEX_ENV = "JOB_COMPLETION_INDEX"
DEFAULT_JOB_RESOURCES = {"requests": {"cpu": "1", "memory": "256Mi"}, "limits": {"cpu": "2", "memory": "512Mi"}}
#: The settings that describe an active registry service (directly or through a config file): when
#: none is set, no active service can share a registry with --from/--to.
ACTIVE_SETTINGS = tuple(f"MLRUN_REGISTRY_EXT_{name}" for name in (
    "URL", "USERNAME", "PASSWORD", "CA_BUNDLE", "INSECURE", "CONFIG", "ACTIVE", "IMAGE_PREFIX", "SECRET_NAME"))


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "migrate",
        help="copy images from a registry (default: the on-cluster one) to the active external registry",
        description="Copy every tag (Docker and OCI manifests, manifest lists and indexes) with digests "
                    "preserved. Skips what the target already has, mounts shared blobs, streams the rest in "
                    "parallel; re-running finishes an interrupted run. URLs: host[:port][/path], https:// "
                    "or (explicitly insecure) http://.",
    )
    parser.add_argument("--from", dest="source", metavar="URL",
                        help="source registry (default: the on-cluster docker-registry.$IGZ_NAMESPACE_DOMAIN:80, "
                             "over http)")
    parser.add_argument("--to", dest="target", metavar="URL", help="target registry (default: the active service)")
    parser.add_argument("--project", help="only images of this MLRun project (func-<project>-... names)")
    parser.add_argument("--include", action="append", default=[], metavar="GLOB",
                        help="only repositories matching GLOB (or repo:tag with ':'); repeatable")
    parser.add_argument("--jobs", type=int, default=6, metavar="N",
                        help="parallel blob transfers per registry (default: 6)")
    parser.add_argument("--dry-run", action="store_true", help="compare and plan; write nothing")
    parser.add_argument("--rename", action="store_true",
                        help="rename into the target's naming (its path and image prefix, as MLRun would push)")
    parser.add_argument("--image-prefix", default=None,
                        help="image prefix for --rename (default: the active service's, when it is the target)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--timeout", type=seconds(3600), default=None, metavar="SECONDS",
                        help="bound on each request (default: 60); a blob stream fails when no byte moved for "
                             "this long or it averages under 16 KiB/s")
    parser.add_argument("--shard", default=None, metavar="I/N",
                        help="only the repositories in shard I of N (0-based; a stable hash of each source "
                             "repository's name): N processes with 0/N .. N-1/N copy everything exactly once")
    fns = parser.add_argument_group("re-pointing functions (MLRun API: MLRUN_DBPATH; Nuclio: NUCLIO_DASHBOARD_URL)")
    fns.add_argument("--rewrite-functions", action="store_true",
                     help="after the copy is verified, point every MLRun function record that names a source "
                          "image at the same image on the target, and list the Nuclio redeploys needed "
                          "(with --dry-run: show the diff only)")
    fns.add_argument("--pin-digests", action="store_true",
                     help="write <target>/<repo>@sha256:... references (the verified digests) instead of tags")
    fns.add_argument("--apply", action="store_true",
                     help="also perform the Nuclio dashboard redeploys (PUT /api/functions/<name>) instead of "
                          "printing them")
    airgap = parser.add_argument_group("air gap")
    airgap.add_argument("--platform-images", action="store_true",
                        help="copy the images the installed MLRun and Nuclio pull by themselves (Kaniko, base, "
                             "onbuild, MLRun images) from their public registries into the platform_images "
                             "service (the internal registry)")
    job = parser.add_argument_group("running inside the cluster")
    job.add_argument("--emit-job", action="store_true",
                     help="print a Kubernetes Job that runs this migration next to the registry, and exit")
    job.add_argument("--shards", type=int, default=None, metavar="N",
                     help="with --emit-job: a Kubernetes Indexed Job of N pods, pod i running --shard i/N")
    job.add_argument("--namespace", default=None, help="namespace of the Job (default: default-tenant)")
    job.add_argument("-o", "--output", choices=("yaml", "json"), default=None,
                     help="with --emit-job: the manifest's format (default yaml; --json is the same as -o json)")
    job.add_argument("--job-image", default=None,
                     help=f"image with {PACKAGE} installed (default: ${JOB_IMAGE_ENV}, else "
                          f"{DEFAULT_JOB_IMAGE} + pip install of this version at start)")
    job.add_argument("--job-wheel", default=None, metavar="URL",
                     help=f"with the default image: install {PACKAGE} from this wheel (https://.../*.whl)")
    job.add_argument("--job-index", default=None, metavar="URL",
                     help=f"with the default image: install {PACKAGE} (this version) from this package index "
                          "(PIP_INDEX_URL, e.g. https://pypi.corp/simple)")
    job.add_argument("--job-secret", default=None,
                     help="dockerconfigjson secret with the registry credentials (default: the service's)")
    job.add_argument("--job-cpu", default=None, metavar="REQUEST[:LIMIT]",
                     help="CPU per pod (default: the target service's resources, else 1:2)")
    job.add_argument("--job-memory", default=None, metavar="REQUEST[:LIMIT]",
                     help="memory per pod (default: the target service's resources, else 256Mi:512Mi)")
    add_json_flag(parser)
    parser.set_defaults(handler=cmd_migrate)


# --- endpoints and credentials -----------------------------------------------------------------
def default_source_url() -> str:
    domain = os.environ.get("IGZ_NAMESPACE_DOMAIN", "").strip()
    if not domain:
        raise ConfigError("--from", "no source registry: give --from URL (the on-cluster default needs "
                                    "IGZ_NAMESPACE_DOMAIN, which is not set)")
    return f"http://docker-registry.{domain}:80"


def active_service_possible() -> bool:
    """Whether any setting could describe an active registry service (the environment or a ``.env``)."""
    if any(os.environ.get(name) for name in ACTIVE_SETTINGS):
        return True
    try:
        with open(".env", encoding="utf-8", errors="replace") as dotenv:
            return "MLRUN_REGISTRY_EXT_" in dotenv.read(1 << 20)
    except OSError:
        return False


@contextlib.contextmanager
def _as_field(field: str) -> Iterator[None]:
    """A service's or location's own error, named after the command-line option it came from."""
    try:
        yield
    except ConfigError as exc:
        raise ConfigError(field, exc.message) from None


def build_services(args: argparse.Namespace) -> tuple[RegistryService, RegistryService, RegistryService | None]:
    """``(source, target, active)``: the two sides as services (their logins are the credential chain's,
    found when the copy starts) and the active service when it can matter."""
    source_url = args.source or default_source_url()
    domain = namespace_domain()
    source_location = parse_location(source_url, "--from", domain)
    needs_active = args.target is None or args.rename or active_service_possible()
    active = None
    if needs_active:
        resolved = as_service(None, project=getattr(args, "project", None))
        active = None if resolved.is_server_default else resolved
    with _as_field("--from"):
        source = as_service(source_url, "--from", name="source", namespace_domain=domain)
    source_same = _same(active, source_location)
    if source_same is not None and source_same.ca_bundle:
        source = source.replace(ca_bundle=source_same.ca_bundle)

    if args.target is None:
        if active is None:
            raise ConfigError("--to", "no target registry: give --to URL or configure an active registry "
                                      "service (mlrun-registry show)")
        target = active
    else:
        target_location = parse_location(args.target, "--to", domain)
        same = _same(active, target_location)
        with _as_field("--to"):
            target = as_service(args.target, "--to", name="target", namespace_domain=domain)
        if same is not None:
            target = target.replace(image_prefix=same.image_prefix, ca_bundle=same.ca_bundle)
    if args.image_prefix is not None:
        target = target.replace(image_prefix=args.image_prefix)
    return source, target, active


def _same(active: RegistryService | None, location: RegistryLocation) -> RegistryService | None:
    """``active`` when it is the registry at ``location`` (same origin: scheme, host in any case, port
    with its default), else None."""
    if active is None or active.insecure != location.insecure:
        return None
    return active if same_registry(active.host, location.host, location.insecure) else None


# --- the Job ------------------------------------------------------------------------------------
def _split_resource(value: str | None, default_request: str, default_limit: str, field: str) -> tuple[str, str]:
    if not value:
        return default_request, default_limit
    request, _, limit = value.partition(":")
    return request, (limit or request)


def _service_default(target: RegistryService, kind: str) -> tuple[str, str]:
    """The target service's ``resources`` for ``kind`` (a missing request or limit takes the other one),
    else the built-in defaults."""
    defaults = DEFAULT_JOB_RESOURCES
    request = getattr(target.resources.requests, kind)
    limit = getattr(target.resources.limits, kind)
    if request is None and limit is None:
        return defaults["requests"][kind], defaults["limits"][kind]
    return str(request or limit), str(limit or request)


def _check_job_options(args: argparse.Namespace) -> None:
    """The Job's own options, refused in one line before anything else is read."""
    if args.namespace is not None:
        validate_namespace(args.namespace, "--namespace")
    image = args.job_image
    if image is not None and (not image or any(ch.isspace() or ch == "$" for ch in image)):
        raise ConfigError("--job-image", "an image reference (no spaces or '$')")
    wheel = args.job_wheel
    if wheel is not None and (not _HTTP_URL.fullmatch(wheel) or not wheel.split("?", 1)[0].endswith(".whl")):
        raise ConfigError("--job-wheel", "an http(s):// URL of a .whl file")
    if args.job_index is not None and not _HTTP_URL.fullmatch(args.job_index):
        raise ConfigError("--job-index", "an http(s):// URL of a package index (e.g. https://pypi.corp/simple)")
    if image is not None and (args.job_wheel or args.job_index):
        raise ConfigError("--job-wheel/--job-index", "not with --job-image: the image already has the package")
    if args.job_wheel and args.job_index:
        raise ConfigError("--job-wheel", "not with --job-index: one source for the package")
    if not args.emit_job:
        for flag in ("job_wheel", "job_index"):
            if getattr(args, flag) is not None:
                raise ConfigError(f"--{flag.replace('_', '-')}", "only with --emit-job")


#: An http(s) URL without spaces, quotes or '$' (it is written into a pod's command).
_HTTP_URL = re.compile(r"https?://[^\s\"'`$\\]+")


def job_manifest(args: argparse.Namespace, source: RegistryService, target: RegistryService) -> dict[str, Any]:
    """A batch/v1 Job running the same migration in the cluster (credentials from a secret, never inline).

    With ``--shards N``: an Indexed Job (``completionMode: Indexed``, ``completions = parallelism = N``):
    Kubernetes starts one pod per index, retries failed ones and reports the Job done when every index
    succeeded; pod i reads its index from ``JOB_COMPLETION_INDEX`` and runs ``--shard i/N``. Kubernetes
    is the coordinator: the shards are disjoint by construction (a stable hash), so none is needed."""
    shards = getattr(args, "shards", None)
    cpu = _split_resource(args.job_cpu, *_service_default(target, "cpu"), "--job-cpu")
    memory = _split_resource(args.job_memory, *_service_default(target, "memory"), "--job-memory")
    try:
        resources = Resources.parse({"requests": {"cpu": cpu[0], "memory": memory[0]},
                                     "limits": {"cpu": cpu[1], "memory": memory[1]}})
    except ConfigError as exc:
        raise ConfigError("--job-cpu/--job-memory", exc.message) from None
    argv = ["migrate", "--from", f"{source.scheme}://{source.url}", "--to", f"{target.scheme}://{target.url}",
            "--jobs", str(args.jobs), "--json", "--no-progress"]
    if args.project:
        argv += ["--project", args.project]
    for glob in args.include:
        argv += ["--include", glob]
    if args.rename:
        argv += ["--rename", "--image-prefix", target.image_prefix]
    if args.dry_run:
        argv.append("--dry-run")
    # $(VAR) in command/args is expanded by the kubelet from the container's env (defined below)
    references = ["--shard", f"$({INDEX_ENV})/{shards}"] if shards else []
    image = args.job_image or os.environ.get(JOB_IMAGE_ENV)
    env: list[dict[str, Any]] = [{"name": "HOME", "value": POD_HOME}]
    if image:
        command = cli_command(argv, references=references)
    else:
        image = DEFAULT_JOB_IMAGE
        if args.job_index:
            env.append({"name": "PIP_INDEX_URL", "value": kube_escape(args.job_index)})
        command = cli_command(argv, package=args.job_wheel or f"{PACKAGE}{_pin()}", references=references)
    secret = args.job_secret or target.secret_name
    labels = {"app.kubernetes.io/name": "mlrun-registry-migrate", "app.kubernetes.io/managed-by": PACKAGE}
    container: dict[str, Any] = {"name": "migrate", "image": image, "command": command,
                                 "resources": resources.as_kubernetes(), "securityContext": dict(SECURITY_CONTEXT),
                                 "env": env}
    pod: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if secret:
        env.insert(0, {"name": "DOCKER_CONFIG", "value": "/registry-auth"})
        container["volumeMounts"] = [{"name": "registry-auth", "mountPath": "/registry-auth", "readOnly": True}]
        pod["volumes"] = [{"name": "registry-auth", "secret": {"secretName": secret, "items": [
            {"key": ".dockerconfigjson", "path": "config.json"}]}}]
    spec: dict[str, Any] = {
        # a migration is resumable and idempotent: a retried pod finishes what the last one began
        "backoffLimit": 4,
        "ttlSecondsAfterFinished": 86400,
        "template": {"metadata": {"labels": labels}, "spec": pod},
    }
    if shards:
        # the Job controller sets JOB_COMPLETION_INDEX too; defining it from the pod's annotation makes
        # the $(JOB_COMPLETION_INDEX) expansion in the command independent of that
        container["env"].append({"name": INDEX_ENV, "valueFrom": {"fieldRef": {
            "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}})
        spec.update({"completionMode": "Indexed", "completions": shards, "parallelism": shards,
                     "backoffLimit": 4 * shards})
    digest = hashlib.sha256(json.dumps(command).encode()).hexdigest()[:8]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"mlrun-registry-migrate-{digest}", "namespace": args.namespace or "default-tenant",
                     "labels": labels},
        "spec": spec,
    }


def _pin() -> str:
    """``==<this version>``: the Job runs the version that wrote it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"=={version(PACKAGE)}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return ""


# --- the command ----------------------------------------------------------------------------------
def _options(args: argparse.Namespace, **fields: Any) -> MigrateOptions:
    """The run's :class:`MigrateOptions`, its errors named after the command-line options."""
    shard = Shard.parse(args.shard) if getattr(args, "shard", None) is not None else None
    try:
        return MigrateOptions(jobs=args.jobs, dry_run=args.dry_run, timeout=args.timeout, shard=shard, **fields)
    except ConfigError as exc:
        raise ConfigError(f"--{exc.field}", exc.detail) from None


def _check_options(args: argparse.Namespace) -> tuple[MigrateOptions, str | None]:
    """Combinations that cannot work, refused before anything is read or written:
    ``(the run's options, the MLRun API URL for --rewrite-functions)``."""
    options = _options(args, project=args.project, include=tuple(args.include), rename=args.rename)
    shard = options.shard
    if args.shards is not None:
        if not args.emit_job:
            raise ConfigError("--shards", "only with --emit-job (one process takes one shard: --shard I/N)")
        if not 1 <= args.shards <= MAX_SHARDS:
            raise ConfigError("--shards", f"must be between 1 and {MAX_SHARDS} (got {args.shards})")
        if shard is not None:
            raise ConfigError("--shard", "not with --shards: each pod of the Job gets its own shard")
    for flag in ("pin_digests", "apply"):
        if getattr(args, flag) and not args.rewrite_functions:
            raise ConfigError(f"--{flag.replace('_', '-')}", "only with --rewrite-functions")
    dbpath = None
    if args.rewrite_functions:
        if args.emit_job:
            raise ConfigError("--rewrite-functions", "not with --emit-job: run migrate --rewrite-functions once "
                                                     "the Job is done (the re-run copies nothing)")
        dbpath = mlrun_dbpath()
        if not dbpath:
            raise ConfigError("--rewrite-functions", "needs the MLRun API: set MLRUN_DBPATH to its URL")
    return options, dbpath


def cmd_migrate(args: argparse.Namespace) -> int:
    if args.output and not args.emit_job:
        raise ConfigError("--output", "only with --emit-job (the manifest's format); a report as JSON: --json")
    _check_job_options(args)
    if args.platform_images:
        return _platform_images(args)
    options, dbpath = _check_options(args)
    progress = not args.json and not args.no_progress and sys.stderr.isatty()
    source, target, active = build_services(args)
    inputs_checked()
    if args.emit_job:
        manifest = job_manifest(args, source, target)
        if args.json or args.output == "json":
            print_json(manifest)
        else:
            if target.has_credentials and not (args.job_secret or target.secret_name):
                console(stderr=True).print("note: the target needs credentials; create a dockerconfigjson secret "
                                           "and pass --job-secret NAME")
            print(dump_yaml(manifest), end="")
        return 0

    report = migrate(source, target, options, progress=progress, active=active)
    rewritten = None
    if dbpath:
        rewritten = rewrite_functions(report, source.location, target.location, project=args.project,
                                      pin_digests=args.pin_digests, dry_run=args.dry_run, apply=args.apply,
                                      dbpath=dbpath, dashboard=nuclio_dashboard_url(),
                                      timeout=args.timeout or 10.0)
    return _print_report(args, report, rewritten)


def _print_report(args: argparse.Namespace, report: MigrationReport, rewritten: RewriteReport | None = None) -> int:
    if args.json:
        data = report.to_dict()
        if args.shard is not None:
            data["shard"] = args.shard
        if rewritten is not None:
            data["rewrite"] = rewritten.to_dict()
        print_json(data)
    else:
        out = console()
        for line in report.summary_lines():
            out.print(line, markup=False)
        if rewritten is not None:
            for line in rewritten.summary_lines():
                out.print(line, markup=False, soft_wrap=True)
    ok = report.ok and (rewritten is None or rewritten.ok)
    return 0 if ok else 1


# --- air gap ------------------------------------------------------------------
#: What ``--platform-images`` decides itself: the sources, the target, the selection and the naming.
_NOT_WITH_PLATFORM_IMAGES = ("source", "target", "project", "include", "rename", "image_prefix", "shard",
                             "rewrite_functions", "emit_job", "shards")


def _platform_images(args: argparse.Namespace) -> int:
    """``migrate --platform-images``: the public sources, the images and the target come from the
    configuration (the ``platform_images`` service), the installed versions and the environment."""
    for name in _NOT_WITH_PLATFORM_IMAGES:
        if getattr(args, name) not in (None, False, []):
            raise ConfigError(f"--{name.replace('_', '-')}".replace("--source", "--from").replace("--target", "--to"),
                              "not with --platform-images: it copies the platform's images from their public "
                              "registries into the platform_images service")
    options = _options(args)
    overrides = parse_source_overrides(os.environ.get(SOURCES_ENV))
    active = resolve()
    service = images_service(active.resolved.all_services)
    plan = image_plan(service, active.platform)
    progress = not args.json and not args.no_progress and sys.stderr.isatty()
    reports = migrate_platform_images(plan.images, service, options, overrides=overrides, progress=progress)
    ok = all(report.ok for report in reports)
    if args.json:
        print_json({"internal": plan.base, "images": [image.to_dict(plan.base) for image in plan.images],
                    "reports": [report.to_dict() for report in reports], "ok": ok})
    else:
        out = console()
        out.print(f"platform images for {plan.base}:", markup=False)
        for image in plan.images:
            out.print(f"  {image.source} -> {image.internal(plan.base)}", markup=False)
        for report in reports:
            for line in report.summary_lines():
                out.print(line, markup=False)
    return 0 if ok else 1
# --- end air gap --------------------------------------------------------------------------------
