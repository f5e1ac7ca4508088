"""Re-point functions after a migration: the images they name move from the source registry to the target.

After images are rescued off a registry, the functions still name the old images, so the next restart
(or scale-up) pulls from a registry that may no longer have them. ``migrate --rewrite-functions``:

1. after the copy is verified, updates every MLRun function record whose image names the source
   registry to the same image on the target (``pin_digests``: ``<target>/<repo>@sha256:...``, the
   digest the migration verified, so the record names exactly the bytes that were checked);
2. with ``dry_run``, only shows the diff;
3. prints, or with ``apply`` performs, the redeploys Nuclio functions need: a function the Nuclio
   dashboard deployed directly gets a ``PUT /api/functions/<name>`` with the target image and
   ``spec.build.mode: neverBuild``; a function MLRun manages (kinds ``remote``/``nuclio``/``serving``,
   label ``mlrun/class`` on the dashboard) gets its ``fn.deploy()`` instruction, because a dashboard
   PUT behind MLRun's back would leave MLRun's record stale.

**Never a half-verified function**: a function is rewritten only when EVERY image it names on the
source registry resolved on the target to the digest the source has (``TagResult`` copied or skipped
with equal digests, no difference reported); otherwise it is left alone and listed with the reason.

What MLRun 1.12.1 stores (client ``mlrun/db/httpdb.py`` ``get_builder_status``: ``function_image``
becomes ``spec.image``; ``mlrun/runtimes/nuclio/function.py`` ``NuclioStatus.container_image`` from
``x-mlrun-container-image``): ``spec.image`` (what runs, the built image after a Kaniko build),
``spec.build.image`` (the build's target), ``spec.build.base_image`` (what a rebuild starts from)
and, for Nuclio kinds, ``status.container_image`` (what Nuclio pushed). Job kinds keep no image in
status (``FunctionStatus`` has ``state`` and ``build_pod``). All four are rewritten.

What Nuclio does with the PUT (nuclio/nuclio): ``pkg/platform/abstract/platform.go``
``functionBuildRequired`` skips the build for ``spec.build.mode == "neverBuild"`` (checked at
9e837f6a07fc7d1cbe770020a8a85f2ee5ab69a9), and ``pkg/platform/kube/deployer.go``
``populateFunction`` prepends ``spec.runRegistry`` to ``spec.image`` unless the image already starts
with it (bcbb235c02b2bd9bc96e3ce4afed7d03b37ec294): so ``runRegistry`` is set to the target host.

The first half is pure planning (:func:`plan_mlrun_rewrites`, :func:`plan_nuclio_redeploys`: records,
locations and verified digests in, a list of changes out); the calls (the real mlrun client, the
dashboard over HTTP) are below it.
"""

from __future__ import annotations

import contextlib
import copy
import html
import json
import logging
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mlrun_registry_ext.clients.extras import extra_module
from mlrun_registry_ext.clients.platform_probe import (
    list_nuclio_functions,
    platform_transport,
    require_mlrun_api,
)
from mlrun_registry_ext.clients.transport import TransportError
from mlrun_registry_ext.core.compat import zip_strict
from mlrun_registry_ext.core.origin import same_registry
from mlrun_registry_ext.core.reference import is_registry_host, parse_reference
from mlrun_registry_ext.errors import ConfigError, RegistryExtError

if TYPE_CHECKING:
    from mlrun_registry_ext.core.location import RegistryLocation
    from mlrun_registry_ext.features.migrate.report import MigrationReport

#: The image fields of an MLRun function record (see the module docstring).
MLRUN_IMAGE_FIELDS = ("spec.image", "spec.build.image", "spec.build.base_image", "status.container_image")
#: MLRun kinds deployed by Nuclio (``mlrun.runtimes.RuntimeKinds.pure_nuclio_deployed_runtimes()``).
MLRUN_NUCLIO_KINDS = frozenset({"remote", "nuclio", "serving"})
#: The label MLRun puts on the Nuclio functions it deploys (``mlrun.common.constants``: ``mlrun/class``).
MLRUN_CLASS_LABEL = "mlrun/class"
NEVER_BUILD = "neverBuild"
#: How many rows the text table lists.
MAX_LISTED = 50

Status = Literal["planned", "applied", "blocked", "failed"]


# --- what the migration verified ------------------------------------------------------------------

@dataclass(frozen=True)
class VerifiedImage:
    """A source tag whose manifest digest the target was seen to resolve to (``target_repository`` is
    the repository on the target, its path included)."""

    source_repository: str
    tag: str
    target_repository: str
    digest: str


@dataclass
class VerifiedImages:
    """Verified images by ``(source repository, tag)`` and by ``(source repository, digest)``."""

    by_tag: dict[tuple[str, str], VerifiedImage] = field(default_factory=dict)
    by_digest: dict[tuple[str, str], VerifiedImage] = field(default_factory=dict)

    def add(self, image: VerifiedImage) -> None:
        self.by_tag[(image.source_repository, image.tag)] = image
        self.by_digest.setdefault((image.source_repository, image.digest), image)

    def lookup(self, repository: str, tag: str | None, digest: str | None) -> VerifiedImage | None:
        """A reference with a digest needs that digest verified (its tag, if any, is only a label);
        otherwise its tag (``latest`` when none)."""
        if digest:
            return self.by_digest.get((repository, digest))
        return self.by_tag.get((repository, tag or "latest"))

    def __len__(self) -> int:
        return len(self.by_tag)

    @classmethod
    def from_report(cls, report: MigrationReport, *, assume_planned: bool = False) -> VerifiedImages:
        """The tags ``report`` saw resolve on the target to the source's digest: copied (and verified)
        or skipped as identical, with no difference reported. ``assume_planned`` (a dry run, where
        nothing is copied) also counts the tags the run would copy, for showing the diff only."""
        differing = {d.get("tag") for d in report.differences}
        out = cls()
        for tag in report.tags:
            digest = tag.source_digest
            if not digest or tag.target in differing:
                continue
            verified = tag.status in ("copied", "skipped") and tag.target_digest == digest
            if not (verified or (assume_planned and tag.status == "planned")):
                continue
            source_repo, _, source_tag = tag.source.rpartition(":")
            target_repo, _, _ = tag.target.rpartition(":")
            if source_repo and source_tag and target_repo:
                out.add(VerifiedImage(source_repo, source_tag, target_repo, digest))
        return out


# --- the plan -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "old": self.old, "new": self.new}


@dataclass
class FunctionRewrite:
    """One function to re-point (``changes``), or left alone (``status == "blocked"``, ``reason``).

    ``platform`` is where the record lives: ``mlrun`` (the MLRun DB) or ``nuclio`` (the dashboard).
    ``redeploy``: what the running function needs (None: nothing runs from the record until the next
    run or deploy, e.g. a job); ``redeploy_kind``: ``dashboard`` (a PUT this tool makes with ``apply``)
    or ``mlrun`` (an instruction only). ``record`` is the new record (or dashboard config) to store.
    """

    platform: Literal["mlrun", "nuclio"]
    project: str
    name: str
    tag: str = ""
    kind: str = ""
    changes: list[FieldChange] = field(default_factory=list)
    status: Status = "planned"
    reason: str | None = None
    redeploy: str | None = None
    redeploy_kind: Literal["dashboard", "mlrun"] | None = None
    redeploy_status: Literal["printed", "applied", "failed"] | None = None
    #: for a dashboard function MLRun manages: the MLRun function's name (its dashboard name is
    #: ``<project>-<name>``), so one function is not listed twice
    mlrun_function: str = ""
    record: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def label(self) -> str:
        text = f"{self.project}/{self.name}" if self.project else self.name
        return f"{text}:{self.tag}" if self.tag else text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"platform": self.platform, "project": self.project, "name": self.name,
                               "status": self.status, "changes": [c.to_dict() for c in self.changes]}
        for key in ("tag", "kind", "reason", "redeploy", "redeploy_kind", "redeploy_status"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


def _get(record: Any, dotted: str) -> Any:
    node = record
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _set(record: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = record
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value


def rewrite_image(image: Any, source: RegistryLocation, target: RegistryLocation, verified: VerifiedImages, *,
                  pin_digests: bool = False) -> tuple[bool, str | None]:
    """``(on_source, new_image)``: whether ``image`` names the source registry, and its reference on
    the target (None when it was not verified there). MLRun's ``.name`` form (the server's own
    registry, whatever it is configured to) is not on the source: the server decides where it points."""
    if not isinstance(image, str) or not image or len(image) > 512 or image.startswith("."):
        return False, None
    try:
        ref = parse_reference(image)
    except ConfigError:
        return False, None
    if not ref.registry or not same_registry(ref.registry, source.host, source.insecure):
        return False, None
    found = verified.lookup(ref.repository, ref.tag, ref.digest)
    if found is None:
        return True, None
    name = f"{target.host}/{found.target_repository}"
    if pin_digests or ref.digest:
        return True, f"{name}@{found.digest}"
    return True, f"{name}:{found.tag}"


def _unverified(images: Sequence[str]) -> str:
    shown = ", ".join(images[:3]) + (f" and {len(images) - 3} more" if len(images) > 3 else "")
    return f"not verified on the target by this migration: {shown}"


def mlrun_redeploy_instruction(project: str, name: str, tag: str) -> str:
    """How a user redeploys an MLRun-managed Nuclio function from its (rewritten) record."""
    uri = f"db://{project}/{name}" + (f":{tag}" if tag else "")
    return f"python -c 'import mlrun; mlrun.import_function(\"{uri}\").deploy()'"


def plan_mlrun_rewrites(functions: Iterable[Mapping[str, Any]], source: RegistryLocation,
                        target: RegistryLocation, verified: VerifiedImages, *,
                        pin_digests: bool = False) -> list[FunctionRewrite]:
    """The MLRun function records to re-point: one entry per record that names the source registry.

    A record whose every source image was verified gets its new ``record`` and ``changes``; one with
    any unverified image is ``blocked``. Untagged records (hash-only versions: history, and storing one
    back would need its tag) are left alone. Nuclio kinds also get their redeploy instruction.
    """
    out: list[FunctionRewrite] = []
    for function in functions:
        if not isinstance(function, Mapping):
            continue
        meta = _get(function, "metadata") or {}
        entry = FunctionRewrite("mlrun", str(meta.get("project") or ""), str(meta.get("name") or ""),
                                str(meta.get("tag") or ""), str(function.get("kind") or ""))
        missing: list[str] = []
        for dotted in MLRUN_IMAGE_FIELDS:
            old = _get(function, dotted)
            on_source, new = rewrite_image(old, source, target, verified, pin_digests=pin_digests)
            if not on_source:
                continue
            if new is None:
                missing.append(str(old))
            elif new != old:
                entry.changes.append(FieldChange(dotted, str(old), new))
        if not entry.changes and not missing:
            continue
        if missing:
            entry.status, entry.reason = "blocked", _unverified(missing)
            entry.changes = []
        elif not entry.tag:
            entry.status, entry.reason = "blocked", "untagged version (history): left as it was"
            entry.changes = []
        else:
            record = copy.deepcopy(dict(function))
            for change in entry.changes:
                _set(record, change.field, change.new)
            entry.record = record
            if entry.kind in MLRUN_NUCLIO_KINDS:
                entry.redeploy = mlrun_redeploy_instruction(entry.project, entry.name, entry.tag)
                entry.redeploy_kind = "mlrun"
        out.append(entry)
    return out


def nuclio_images(function: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(field, full image)`` of a dashboard function: ``status.containerImage`` and ``spec.image``
    (with ``spec.runRegistry`` in front when it has no registry host, as the deployer does)."""
    out: list[tuple[str, str]] = []
    container = _get(function, "status.containerImage")
    if isinstance(container, str) and container:
        out.append(("status.containerImage", container))
    image = _get(function, "spec.image")
    if isinstance(image, str) and image:
        run_registry = _get(function, "spec.runRegistry")
        first = image.split("/", 1)[0]
        if not ("/" in image and is_registry_host(first)) and isinstance(run_registry, str) \
                and run_registry.strip("/"):
            image = f"{run_registry.strip('/')}/{image}"
        out.append(("spec.image", image))
    return out


def plan_nuclio_redeploys(functions: Mapping[str, Any], source: RegistryLocation, target: RegistryLocation,
                          verified: VerifiedImages, *, pin_digests: bool = False) -> list[FunctionRewrite]:
    """The dashboard's functions (``GET /api/functions``: name -> config) that run an image of the
    source registry. A function deployed directly gets the config to PUT: ``spec.image`` on the target
    (what ``status.containerImage`` named, else ``spec.image``), ``spec.runRegistry`` the target host,
    ``spec.build.mode: neverBuild``, no ``status``. One MLRun manages (label ``mlrun/class``) gets its
    MLRun instruction instead."""
    out: list[FunctionRewrite] = []
    for name, function in sorted(functions.items()):
        if not isinstance(function, Mapping):
            continue
        labels = _get(function, "metadata.labels") or {}
        labels = labels if isinstance(labels, Mapping) else {}
        entry = FunctionRewrite("nuclio", str(labels.get("nuclio.io/project-name") or ""), str(name),
                                kind=str(labels.get(MLRUN_CLASS_LABEL) or ""))
        missing: list[str] = []
        running: str | None = None
        for dotted, old in nuclio_images(function):
            on_source, new = rewrite_image(old, source, target, verified, pin_digests=pin_digests)
            if not on_source:
                continue
            if new is None:
                missing.append(old)
            else:
                entry.changes.append(FieldChange(dotted, old, new))
                running = running or new
        if not entry.changes and not missing:
            continue
        if missing:
            entry.status, entry.reason, entry.changes = "blocked", _unverified(missing), []
        elif entry.kind:
            # MLRun deployed it: MLRun's record is re-pointed above; MLRun redeploys it
            function_name = str(labels.get("mlrun/function") or name)
            project = entry.project
            if project and function_name.startswith(f"{project}-"):
                function_name = function_name[len(project) + 1:]
            entry.mlrun_function = function_name
            entry.redeploy = mlrun_redeploy_instruction(project, function_name, "")
            entry.redeploy_kind = "mlrun"
            entry.changes = [c for c in entry.changes if c.field == "status.containerImage"] or entry.changes
        else:
            assert running is not None
            config = {k: copy.deepcopy(v) for k, v in function.items() if k != "status"}
            spec = config.setdefault("spec", {})
            spec["image"] = running
            spec["runRegistry"] = target.host
            build = spec.get("build") if isinstance(spec.get("build"), dict) else {}
            spec["build"] = {**build, "mode": NEVER_BUILD}
            entry.record = config
            entry.redeploy = f"PUT /api/functions/{name}: spec.image {running}, spec.build.mode {NEVER_BUILD}"
            entry.redeploy_kind = "dashboard"
        out.append(entry)
    return out


# --- the report -----------------------------------------------------------------------------------

@dataclass
class RewriteReport:
    """What ``--rewrite-functions`` changed (or, with ``dry_run``, would change)."""

    source: str
    target: str
    dry_run: bool = False
    apply: bool = False
    pin_digests: bool = False
    verified: int = 0
    functions: list[FunctionRewrite] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(1 for f in self.functions if f.status == status)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.count("failed")

    @property
    def redeploys(self) -> list[FunctionRewrite]:
        """The redeploys to show: planned or done, and the ones that failed (a failed redeploy is listed
        as failed, never dropped). Not those of a record that could not be stored."""
        return [f for f in self.functions
                if f.redeploy and (f.status in ("planned", "applied") or f.redeploy_status == "failed")]

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "dry_run": self.dry_run, "apply": self.apply,
                "pin_digests": self.pin_digests, "ok": self.ok, "verified_images": self.verified,
                "functions": {"rewritten" if not self.dry_run else "to_rewrite":
                              self.count("applied") if not self.dry_run else self.count("planned"),
                              "blocked": self.count("blocked"), "failed": self.count("failed")},
                "changes": [f.to_dict() for f in self.functions],
                "redeploys": [{"function": f.label, "platform": f.platform, "kind": f.redeploy_kind,
                               "action": f.redeploy, "status": f.redeploy_status or "printed"}
                              for f in self.redeploys],
                "warnings": self.warnings, "errors": self.errors}

    def table_rows(self) -> list[tuple[str, str, str, str, str]]:
        """``(function, field, old, new, status)`` rows: one per change, one per blocked function."""
        rows = []
        for f in self.functions:
            where = f"{f.platform}:{f.label}"
            if not f.changes:
                rows.append((where, "-", "-", "-", f"{f.status}: {f.reason or ''}".rstrip(": ")))
            for change in f.changes:
                rows.append((where, change.field, change.old, change.new, f.status))
        return rows

    def summary_lines(self) -> list[str]:
        verb = "would re-point" if self.dry_run else "re-pointed"
        done = self.count("planned") if self.dry_run else self.count("applied")
        lines = [f"functions: {verb} {done} from {self.source} to {self.target}"
                 + (" (dry run: nothing changed)" if self.dry_run else "")
                 + f", {self.count('blocked')} left alone, {self.count('failed')} failed"
                 + f" ({self.verified} verified images)"]
        rows = self.table_rows()
        if rows:
            widths = [max(len(r[i]) for r in [("function", "field", "old", "new", "status"), *rows])
                      for i in range(5)]
            widths = [min(w, 72) for w in widths]
            for row in [("function", "field", "old", "new", "status"), *rows[:MAX_LISTED]]:
                lines.append("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths))
                             .rstrip())
            if len(rows) > MAX_LISTED:
                lines.append(f"  ... and {len(rows) - MAX_LISTED} more (see --json)")
        for f in self.redeploys:
            state = f.redeploy_status or "printed"
            prefix = {"printed": "redeploy (run it, or --apply)" if f.redeploy_kind == "dashboard"
                      else "redeploy (run it)", "applied": "redeployed", "failed": "redeploy FAILED"}[state]
            lines.append(f"{prefix}: {f.platform}:{f.label}: {f.redeploy}")
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"error: {e}" for e in self.errors]
        return lines

    def __str__(self) -> str:
        return "\n".join(self.summary_lines())

    def _repr_html_(self) -> str:
        body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                       for row in self.table_rows())
        head = "".join(f"<th>{h}</th>" for h in ("function", "field", "old", "new", "status"))
        title = f"Re-pointing functions {html.escape(self.source)} &rarr; {html.escape(self.target)}"
        return f"<table><caption>{title}</caption><tr>{head}</tr>{body}</table>"


# --- the calls ------------------------------------------------------------------------------------

class _Stderr:
    """``sys.stderr`` as it is at each write (a test's capture, a notebook's stream), not at import."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@contextlib.contextmanager
def mlrun_logs_to_stderr() -> Iterator[None]:
    """Within the block, the mlrun client logs to stderr, not stdout.

    It logs to stdout (``mlrun/utils/logger.py``: ``create_logger(stream=stdout)``, handler ``default``),
    e.g. that the client is newer than the server, which ``import mlrun`` already says when
    MLRUN_DBPATH is set. A command's stdout is its output (``--json``). A client imported inside the
    block keeps logging to stderr (its handler takes ``sys.stdout`` at import: the CLI's case); one
    imported before (a notebook) has its handler's stream put back afterwards.
    """
    handlers = [h for h in logging.getLogger("mlrun").handlers
                if h.name == "default" and isinstance(h, logging.StreamHandler)
                and not isinstance(h, logging.FileHandler)]
    # not setStream(): it flushes the old stream first, which may be closed (a finished capture)
    previous = [h.stream for h in handlers]
    for handler in handlers:
        handler.stream = _Stderr()
    try:
        with contextlib.redirect_stdout(_Stderr()):
            yield
    finally:
        for handler, stream in zip_strict(handlers, previous):
            handler.stream = stream


def mlrun_db(dbpath: str, timeout: float = 10.0) -> Any:
    """The real mlrun client's run DB at ``dbpath``, after a bounded probe (an unreachable
    MLRUN_DBPATH makes ``import mlrun`` hang for ~28 s)."""
    require_mlrun_api(dbpath, timeout, "no function was re-pointed")
    with mlrun_logs_to_stderr():
        mlrun = extra_module("mlrun")

        # no argument: the client's own configuration (MLRUN_DBPATH with its user:password, or the
        # MLRUN_HTTPDB__* login), which ``dbpath`` (shown in messages) has had removed
        return mlrun.get_run_db()


def list_mlrun_functions(db: Any, project: str | None) -> list[dict[str, Any]]:
    """Every function record of ``project`` (or of every project), through the real client."""
    try:
        projects = [project] if project else [str(p) for p in db.list_projects()]
        out: list[dict[str, Any]] = []
        for name in projects:
            for function in db.list_functions(project=name) or []:
                if isinstance(function, Mapping):
                    record = dict(function)
                    record.setdefault("metadata", {}).setdefault("project", name)
                    out.append(record)
        return out
    except Exception as exc:  # the mlrun client's HTTP errors, requests' connection errors
        raise RegistryExtError(f"listing functions through the MLRun API failed ({type(exc).__name__}: "
                               f"{str(exc)[:160]}); no function was re-pointed") from None


def store_mlrun_rewrites(db: Any, rewrites: Sequence[FunctionRewrite]) -> list[str]:
    """Store each planned record (``store_function``, same name, project and tag, not versioned)."""
    errors = []
    for entry in rewrites:
        if entry.platform != "mlrun" or entry.status != "planned":
            continue
        try:
            db.store_function(entry.record, entry.name, entry.project, tag=entry.tag, versioned=False)
            entry.status = "applied"
        except Exception as exc:  # the client's HTTP errors; reported per function
            entry.status = "failed"
            entry.reason = f"{type(exc).__name__}: {str(exc)[:160]}"
            errors.append(f"{entry.label}: store_function failed ({entry.reason})")
    return errors


def redeploy_nuclio(dashboard: str, rewrites: Sequence[FunctionRewrite], timeout: float = 60.0) -> list[str]:
    """PUT each planned dashboard config, then poll ``GET /api/functions/<name>`` until ``ready`` (or
    ``error``/``unhealthy``, or ``timeout`` seconds for that function)."""
    errors = []
    with platform_transport(min(timeout, 30.0)) as transport:
        for entry in rewrites:
            if entry.redeploy_kind != "dashboard" or entry.status != "planned":
                continue
            headers = {"Content-Type": "application/json", "Accept": "application/json"}
            if entry.project:
                headers["X-Nuclio-Project-Name"] = entry.project
            url = f"{dashboard}/api/functions/{entry.name}"
            try:
                status = transport.request("PUT", url, headers=headers,
                                           body=json.dumps(entry.record).encode()).status_code
                if status not in (200, 202, 204):
                    raise RegistryExtError(f"the dashboard answered HTTP {status} to the PUT")
                deadline = time.monotonic() + timeout
                state = ""
                while True:
                    response = transport.request("GET", url, headers={"Accept": "application/json"})
                    try:
                        state = str(_get(response.json(), "status.state") or "") if response.status_code == 200 \
                            else ""
                    except ValueError:
                        state = ""
                    if state in ("ready", "error", "unhealthy") or time.monotonic() > deadline:
                        break
                    time.sleep(1.0)
                if state != "ready":
                    raise RegistryExtError(f"the function is {state or 'not ready'} after the redeploy")
                entry.status = entry.redeploy_status = "applied"
            except (RegistryExtError, TransportError, ValueError) as exc:
                entry.status = entry.redeploy_status = "failed"
                entry.reason = str(exc)[:200]
                errors.append(f"nuclio:{entry.label}: redeploy failed ({entry.reason})")
    return errors


def rewrite_functions(report: MigrationReport, source: RegistryLocation, target: RegistryLocation, *,
                      project: str | None = None, pin_digests: bool = False, dry_run: bool = False,
                      apply: bool = False, dbpath: str | None = None, dashboard: str | None = None,
                      timeout: float = 10.0) -> RewriteReport:
    """Re-point the functions after ``report``'s migration (see the module docstring). ``dbpath``:
    the MLRun API (required); ``dashboard``: the Nuclio dashboard (None: its functions are not
    checked, and a warning says so)."""
    if not dbpath:
        raise ConfigError("MLRUN_DBPATH", "--rewrite-functions needs the MLRun API; set MLRUN_DBPATH to its URL")
    verified = VerifiedImages.from_report(report, assume_planned=dry_run)
    out = RewriteReport(source.display, target.display, dry_run=dry_run, apply=apply, pin_digests=pin_digests,
                        verified=len(verified))
    if dry_run:
        out.warnings.append("dry run: images the migration would copy are assumed verified")
    db = mlrun_db(dbpath, timeout)
    mlrun_plan = plan_mlrun_rewrites(list_mlrun_functions(db, project), source, target, verified,
                                     pin_digests=pin_digests)
    nuclio_plan: list[FunctionRewrite] = []
    if dashboard:
        nuclio_plan = plan_nuclio_redeploys(list_nuclio_functions(dashboard, project, timeout), source, target,
                                            verified, pin_digests=pin_digests)
    else:
        out.warnings.append("Nuclio functions were not checked: NUCLIO_DASHBOARD_URL is not set")
    # a function MLRun deployed to Nuclio shows up twice: its MLRun record carries the instruction
    known = {(e.project, e.name) for e in mlrun_plan}
    nuclio_plan = [e for e in nuclio_plan if not (e.mlrun_function and (e.project, e.mlrun_function) in known)]
    out.functions = mlrun_plan + nuclio_plan
    if dry_run:
        return out
    out.errors += store_mlrun_rewrites(db, mlrun_plan)
    if apply and dashboard:
        out.errors += redeploy_nuclio(dashboard, nuclio_plan, timeout=max(timeout, 60.0))
    for entry in out.functions:
        if entry.redeploy and entry.redeploy_status is None and entry.status in ("planned", "applied"):
            entry.redeploy_status = "printed"
    return out


__all__ = [
    "FieldChange", "FunctionRewrite", "RewriteReport", "VerifiedImage", "VerifiedImages", "mlrun_logs_to_stderr",
    "plan_mlrun_rewrites",
    "plan_nuclio_redeploys", "rewrite_functions", "rewrite_image",
]
