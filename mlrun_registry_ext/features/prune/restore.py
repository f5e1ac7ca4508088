"""Undo: the restore file prune writes before its first delete, and ``prune --restore FILE``.

The file holds every manifest prune is about to delete, byte for byte (base64), with its media type,
repository and tags, and the registry's ``host[:port]``; never a credential (the login comes from the
active service, as for prune). Restoring puts each manifest back by digest (index children before their
index), then the tags, and reads every tag back to check its digest.

This works while the blobs are still there: a registry's garbage collection (``registry
garbage-collect``, ECR's own) removes the blobs no manifest references. Before writing anything, restore
checks every blob and child manifest it needs (``HEAD /v2/<repo>/blobs/<digest>``, ECR
``BatchCheckLayerAvailability``); if one is missing it fails, naming them, and writes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlrun_registry_ext.clients import aws
from mlrun_registry_ext.clients.local_config import read_text_file
from mlrun_registry_ext.clients.registry.client import RegistryClient, RetryPolicy
from mlrun_registry_ext.clients.registry.login import login
from mlrun_registry_ext.clients.registry.transfer import put_manifest
from mlrun_registry_ext.core.manifest import MANIFEST_MEDIA_TYPES, Manifest, parse_manifest
from mlrun_registry_ext.core.origin import same_registry
from mlrun_registry_ext.core.prune_plan import ManifestDeletion
from mlrun_registry_ext.core.reference import SHA256_RE, validate_repository, validate_tag
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.errors import ConfigError, RegistryAPIError, RegistryExtError, quote

FORMAT = "mlrun-registry-ext/prune-restore"
VERSION = 1
MAX_RESTORE_FILE = 256 << 20


@dataclass(frozen=True)
class RestoreEntry:
    repository: str
    digest: str
    media_type: str
    raw: bytes
    tags: tuple[str, ...]

    @property
    def manifest(self) -> Manifest:
        return parse_manifest(self.raw, self.media_type, f"{self.repository}@{self.digest}")


@dataclass
class RestoreReport:
    file: str
    registry: str
    manifests: int = 0
    tags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "registry": self.registry, "manifests_restored": self.manifests,
                "tags_restored": list(self.tags)}

    def summary_lines(self) -> list[str]:
        return [f"restored {self.manifests} manifests and {len(self.tags)} tags on {self.registry} from {self.file}"]

    def __str__(self) -> str:
        return "\n".join(self.summary_lines())

    def _repr_html_(self) -> str:
        import html

        rows = "".join(f"<li><code>{html.escape(tag)}</code></li>" for tag in self.tags[:500])
        return f"<div><p>{html.escape(str(self))}</p><ul>{rows}</ul></div>"


def default_restore_path(now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return Path.cwd() / f"mlrun-registry-prune-restore-{stamp}.json"


def restore_document(registry: str, deletions: Sequence[ManifestDeletion],
                     raw: dict[tuple[str, str], tuple[bytes, str | None]]) -> dict[str, Any]:
    """The restore file's content (no credential: registry host, repositories, digests, bytes, tags)."""
    entries = []
    for item in deletions:
        data, media_type = raw[(item.repository, item.digest)]
        entries.append({"repository": item.repository, "digest": item.digest,
                        "media_type": item.media_type or media_type,
                        "manifest": base64.b64encode(data).decode(), "tags": list(item.tags)})
    return {"format": FORMAT, "version": VERSION, "registry": registry,
            "written": datetime.now(timezone.utc).isoformat(), "manifests": entries}


def write_restore_file(path: Path, document: dict[str, Any]) -> Path:
    """Write atomically (a temporary file renamed), readable by its owner only, synced to disk."""
    path = path.expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".prune-restore-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _field(entry: Any, name: str, index: int) -> Any:
    if not isinstance(entry, dict) or name not in entry:
        raise ConfigError("--restore", f"manifest {index} has no {name!r}")
    return entry[name]


def read_restore_file(path: str) -> tuple[str, list[RestoreEntry]]:
    """The registry and the entries, every manifest checked against its digest; a ConfigError otherwise."""
    text = read_text_file(Path(path), "--restore", limit=MAX_RESTORE_FILE)
    try:
        document = json.loads(text)
    except ValueError:
        raise ConfigError("--restore", f"{quote(path)} is not JSON; expected a prune restore file") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT or document.get("version") != VERSION:
        raise ConfigError("--restore", f"{quote(path)} is not a prune restore file (format {FORMAT} {VERSION})")
    registry = document.get("registry")
    if not isinstance(registry, str) or not registry:
        raise ConfigError("--restore", "the restore file names no registry")
    if not isinstance(document.get("manifests"), list):
        raise ConfigError("--restore", "the restore file has no 'manifests' list")
    entries = []
    for i, entry in enumerate(document["manifests"]):
        repository = validate_repository(_field(entry, "repository", i), "--restore")
        digest = _field(entry, "digest", i)
        if not isinstance(digest, str) or not SHA256_RE.fullmatch(digest):
            raise ConfigError("--restore", f"manifest {i} has no sha256 digest")
        media_type = _field(entry, "media_type", i)
        if media_type not in MANIFEST_MEDIA_TYPES:
            raise ConfigError("--restore", f"manifest {i} has the unknown media type {quote(str(media_type))}")
        try:
            raw = base64.b64decode(_field(entry, "manifest", i), validate=True)
        except (ValueError, TypeError):
            raise ConfigError("--restore", f"manifest {i} is not base64") from None
        if "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
            raise ConfigError("--restore", f"manifest {i} ({repository}@{digest[:19]}) does not match its digest")
        tags = _field(entry, "tags", i)
        if not isinstance(tags, list):
            raise ConfigError("--restore", f"manifest {i} has no tag list")
        entries.append(RestoreEntry(repository, digest, media_type, raw,
                                    tuple(validate_tag(t, "--restore") for t in tags)))
    return registry, entries


def _needed(entries: Sequence[RestoreEntry]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(repository, blob) and (repository, child manifest not in the file) pairs a restore needs."""
    have = {(e.repository, e.digest) for e in entries}
    blobs: list[tuple[str, str]] = []
    children: list[tuple[str, str]] = []
    for entry in entries:
        manifest = entry.manifest
        blobs += [(entry.repository, b.digest) for b in manifest.blobs if not b.foreign]
        children += [(entry.repository, c.digest) for c in manifest.children
                     if (entry.repository, c.digest) not in have]
    return sorted(set(blobs)), sorted(set(children))


def _missing_error(missing: Sequence[str]) -> RegistryExtError:
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return RegistryExtError(f"restore refused, nothing was written: {len(missing)} blobs or manifests are gone "
                            f"(the registry's garbage collection removed them?): {shown}")


def restore_http(endpoint: RegistryClient, entries: Sequence[RestoreEntry]) -> tuple[int, list[str]]:
    """Check every blob first; then PUT the manifests by digest (children first), then the tags, and read
    each tag back. Returns (manifests written, ``repo:tag`` restored)."""
    blobs, children = _needed(entries)
    missing = [f"{r}@{d}" for r, d in blobs if not endpoint.blob_exists(r, d)]
    missing += [f"{r}@{d}" for r, d in children if endpoint.manifest_digest(r, d) is None]
    if missing:
        raise _missing_error(missing)
    for entry in reversed(entries):  # prune deleted parents first: children go back first
        put_manifest(endpoint, entry.repository, entry.digest, entry.manifest)
    restored = []
    for entry in entries:
        for tag in entry.tags:
            put_manifest(endpoint, entry.repository, tag, entry.manifest)
            now = endpoint.manifest_digest(entry.repository, tag)
            if now != entry.digest:
                raise RegistryAPIError(f"{entry.repository}:{tag} reads back as {now}, not {entry.digest}")
            restored.append(f"{entry.repository}:{tag}")
    return len(entries), restored


def restore_ecr(ecr: Any, entries: Sequence[RestoreEntry]) -> tuple[int, list[str]]:
    """The same on ECR: ``BatchCheckLayerAvailability`` for every blob first, then ``PutImage``."""
    blobs, children = _needed(entries)
    missing: list[str] = []
    by_repo: dict[str, list[str]] = {}
    for repository, digest in blobs:
        by_repo.setdefault(repository, []).append(digest)
    for repository, digests in by_repo.items():
        for start in range(0, len(digests), 100):
            with aws.aws_errors("ecr:BatchCheckLayerAvailability"):
                answer = ecr.batch_check_layer_availability(repositoryName=repository,
                                                            layerDigests=digests[start:start + 100])
            available = {layer["layerDigest"] for layer in answer.get("layers") or []
                         if layer.get("layerAvailability") == "AVAILABLE"}
            missing += [f"{repository}@{d}" for d in digests[start:start + 100] if d not in available]
    for repository, digest in children:
        with aws.aws_errors("ecr:BatchGetImage"):
            answer = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageDigest": digest}])
        if not answer.get("images"):
            missing.append(f"{repository}@{digest}")
    if missing:
        raise _missing_error(missing)
    restored = []
    for entry in reversed(entries):
        tags = list(entry.tags)
        with aws.aws_errors("ecr:PutImage"):
            if not tags:
                ecr.put_image(repositoryName=entry.repository, imageManifest=entry.raw.decode(),
                              imageManifestMediaType=entry.media_type, imageDigest=entry.digest)
            for tag in tags:
                ecr.put_image(repositoryName=entry.repository, imageManifest=entry.raw.decode(),
                              imageManifestMediaType=entry.media_type, imageDigest=entry.digest, imageTag=tag)
        for tag in tags:
            with aws.aws_errors("ecr:BatchGetImage"):
                answer = ecr.batch_get_image(repositoryName=entry.repository, imageIds=[{"imageTag": tag}])
            now = [i["imageId"].get("imageDigest") for i in answer.get("images") or []]
            if now != [entry.digest]:
                raise RegistryAPIError(f"{entry.repository}:{tag} reads back as {now}, not {entry.digest}")
            restored.append(f"{entry.repository}:{tag}")
    return len(entries), restored


def run_restore(service: RegistryService, path: str, *, timeout: float = 10.0) -> RestoreReport:
    """Restore what a prune deleted, from its restore file, on the service's registry (its login)."""
    registry, entries = read_restore_file(path)
    location = service.location
    if not same_registry(registry, location.host, location.insecure):
        raise ConfigError("--restore", f"the restore file is for {quote(registry)}, the active registry is "
                                       f"{quote(location.host)}; activate that registry's service first")
    report = RestoreReport(path, registry)
    if service.ecr is not None:
        report.manifests, report.tags = restore_ecr(aws.client(service, "ecr"), entries)
    else:
        with RegistryClient.for_access(login(service), timeout=timeout * 3, retry=RetryPolicy()) as endpoint:
            report.manifests, report.tags = restore_http(endpoint, entries)
    return report
