"""The manifest model, in one place: media types, descriptors, parsing and write order.

Used by the registry client (the Accept header), the copy engine and prune. Manifests are kept as
their exact bytes (``raw``) and addressed by the sha256 of those bytes: re-serialising JSON would
change the digest, and a registry refuses a manifest whose digest does not match its reference.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from mlrun_registry_ext.errors import RegistryAPIError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v1+prettyjws")
#: gzip layer and config types of each image manifest family (what a new layer and config are written as).
LAYER_GZIP = {DOCKER_MANIFEST: "application/vnd.docker.image.rootfs.diff.tar.gzip",
              OCI_MANIFEST: "application/vnd.oci.image.layer.v1.tar+gzip"}
CONFIG_TYPE = {DOCKER_MANIFEST: "application/vnd.docker.container.image.v1+json",
               OCI_MANIFEST: "application/vnd.oci.image.config.v1+json"}
IMAGE_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEX_TYPES = frozenset({DOCKER_LIST, OCI_INDEX})
MANIFEST_TYPES = IMAGE_TYPES | INDEX_TYPES
#: Every manifest type copied or inspected, OCI first.
MANIFEST_MEDIA_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
#: The Accept header for manifest requests: every type we copy (a registry may convert otherwise).
MANIFEST_ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)
#: Layers that live outside the registry (Windows base layers): not copied, like skopeo/crane.
FOREIGN_MARKERS = ("foreign", "nondistributable")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    foreign: bool = False


@dataclass(frozen=True)
class Manifest:
    """A manifest's exact bytes, its media type, and what it references."""

    digest: str
    media_type: str
    raw: bytes
    blobs: tuple[Descriptor, ...] = ()
    children: tuple[Descriptor, ...] = ()

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _descriptor(entry: Any, where: str) -> Descriptor:
    if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
        raise RegistryAPIError(f"{where}: a descriptor without a digest")
    media_type = str(entry.get("mediaType") or "")
    size = entry.get("size")
    if not isinstance(size, int) or size < 0:
        raise RegistryAPIError(f"{where}: descriptor {entry['digest']} has no valid size")
    foreign = any(marker in media_type for marker in FOREIGN_MARKERS)
    return Descriptor(media_type, entry["digest"], size, foreign)


def parse_manifest(raw: bytes, content_type: str | None, where: str = "manifest") -> Manifest:
    """Classify a manifest and list its blobs (config + layers) or children (index entries).

    The media type comes from the document's ``mediaType`` (OCI makes it optional), then the
    response's Content-Type, then the document's shape. Docker schema 1 is refused with a clear error.
    """
    try:
        doc = json.loads(raw)
    except ValueError:
        raise RegistryAPIError(f"{where}: the manifest is not JSON") from None
    if not isinstance(doc, dict):
        raise RegistryAPIError(f"{where}: the manifest is not a JSON object")
    header = (content_type or "").split(";", 1)[0].strip()
    media_type = str(doc.get("mediaType") or "")
    if not media_type:
        if header in MANIFEST_TYPES:
            media_type = header
        elif "manifests" in doc:
            media_type = OCI_INDEX
        elif "config" in doc and "layers" in doc:
            media_type = OCI_MANIFEST
    if media_type in DOCKER_SCHEMA1 or header in DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
        raise RegistryAPIError(f"{where}: Docker schema 1 manifests are not supported (deprecated since 2017); "
                               "re-push the image with a current client")
    if media_type not in MANIFEST_TYPES:
        raise RegistryAPIError(f"{where}: unsupported manifest media type {media_type or header or '(none)'!r}; "
                               f"supported: {', '.join(sorted(MANIFEST_TYPES))}")
    digest = sha256_digest(raw)
    if media_type in INDEX_TYPES:
        children = tuple(_descriptor(e, where) for e in doc.get("manifests") or [])
        return Manifest(digest, media_type, raw, (), children)
    blobs = [_descriptor(doc.get("config"), where)]
    blobs += [_descriptor(e, where) for e in doc.get("layers") or []]
    return Manifest(digest, media_type, raw, tuple(blobs), ())


def write_order(root: Manifest, children: dict[str, Manifest]) -> list[Manifest]:
    """Every manifest under ``root`` children-first (post-order, each digest once), ``root`` last.

    A registry refuses an index whose children it does not have, so they must be written first.
    """
    out: list[Manifest] = []
    seen: set[str] = set()

    def visit(node: Manifest, path: tuple[str, ...]) -> None:
        for child in node.children:
            if child.digest in path:
                raise RegistryAPIError(f"manifest {root.digest} references itself through {child.digest}")
            sub = children.get(child.digest)
            if sub is None:
                raise RegistryAPIError(f"index {node.digest} lists {child.digest}, which was not fetched")
            visit(sub, (*path, child.digest))
        if node.digest not in seen:
            seen.add(node.digest)
            out.append(node)

    visit(root, (root.digest,))
    return out
