"""Test images made from random bytes, pushed to a registry over plain HTTP (httpx, no docker daemon).

Every layer is a real gzip-compressed tar holding one file of random bytes, with a config blob that
lists the layers' diff IDs, so skopeo and the registry treat them as ordinary images. Builders for
each manifest type a registry serves: Docker schema 2 manifest and manifest list, OCI manifest and OCI
index (two platforms). Base layers are shared between images by reusing the same :class:`Blob`.

Large layers (the benchmark's 1 GiB layer) are written to a file and streamed, never held in memory.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
CHUNK = 1 << 20


@dataclass(frozen=True)
class Blob:
    """A blob held in memory (``data``) or in a file (``path``, for big layers)."""

    digest: str
    size: int
    diff_id: str = ""
    data: bytes | None = None
    path: Path | None = None

    @classmethod
    def of(cls, data: bytes, diff_id: str = "") -> Blob:
        return cls("sha256:" + hashlib.sha256(data).hexdigest(), len(data), diff_id, data=data)

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        assert self.path is not None
        with self.path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk


def random_layer(rng: random.Random, size: int, name: str = "payload.bin") -> Blob:
    """A gzip tar with one file of ``size`` random bytes (incompressible, so the blob is ~size)."""
    payload = rng.randbytes(size)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = size
        info.mtime = 0
        tar.addfile(info, io.BytesIO(payload))
    tar_bytes = raw.getvalue()
    diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
    return Blob.of(gzip.compress(tar_bytes, compresslevel=1, mtime=0), diff_id)


class _HashingWriter(io.RawIOBase):
    """A write-only file that hashes what passes through to ``inner`` (for the tar stream's diff ID)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sha = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.sha.update(b)
        self.inner.write(b)
        return len(b)


def big_random_layer(rng: random.Random, size: int, directory: Path) -> Blob:
    """Like :func:`random_layer` but written to a file in ``directory`` and streamed (for 1 GiB layers).

    The gzip stream uses compression level 0 (stored blocks): a valid gzip tar, written at disk speed.
    """
    path = directory / f"layer-{rng.getrandbits(64):016x}.tar.gz"
    with path.open("wb") as out, gzip.GzipFile(fileobj=out, mode="wb", compresslevel=0, mtime=0) as gz:
        hashing = _HashingWriter(gz)
        with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo("payload.bin")
            info.size = size

            class _Random(io.RawIOBase):
                left = size

                def readable(self) -> bool:
                    return True

                def readinto(self, buf: Any) -> int:
                    n = min(len(buf), self.left, CHUNK)
                    buf[:n] = rng.randbytes(n)
                    self.left -= n
                    return n

            tar.addfile(info, io.BufferedReader(_Random(), CHUNK))
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
    return Blob("sha256:" + sha.hexdigest(), path.stat().st_size, "sha256:" + hashing.sha.hexdigest(), path=path)


def _descriptor(media_type: str, blob: Blob, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "size": blob.size, "digest": blob.digest, **extra}


@dataclass
class Image:
    """One manifest (``media_type``, exact ``manifest`` bytes), the blobs it needs and, for an index,
    the child images it lists (pushed by digest before the index)."""

    media_type: str
    manifest: bytes
    blobs: list[Blob] = field(default_factory=list)
    children: list[Image] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()

    @property
    def size(self) -> int:
        return len(self.manifest) + sum(b.size for b in self.all_blobs())

    def all_blobs(self) -> list[Blob]:
        seen: dict[str, Blob] = {}
        for child in self.children:
            for blob in child.all_blobs():
                seen.setdefault(blob.digest, blob)
        for blob in self.blobs:
            seen.setdefault(blob.digest, blob)
        return list(seen.values())


def build_image(layers: Sequence[Blob], *, oci: bool = False, platform: tuple[str, str] = ("linux", "amd64"),
                label: str = "", created: str | None = None) -> Image:
    """A single-platform image (Docker schema 2, or OCI with ``oci=True``) over ``layers``; ``created``
    (RFC 3339) goes into the config as a build tool writes it."""
    config: dict[str, Any] = {
        "architecture": platform[1],
        "os": platform[0],
        "config": {"Labels": {"test.label": label}} if label else {},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created_by": "tests.support.images"} for _ in layers],
    }
    if created is not None:
        config["created"] = created
    config_blob = Blob.of(json.dumps(config, sort_keys=True).encode())
    layer_type, config_type, media_type = (
        (OCI_LAYER, OCI_CONFIG, OCI_MANIFEST) if oci else (DOCKER_LAYER, DOCKER_CONFIG, DOCKER_MANIFEST))
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": _descriptor(config_type, config_blob),
        "layers": [_descriptor(layer_type, layer) for layer in layers],
    }
    return Image(media_type, json.dumps(manifest, indent=3).encode(), [config_blob, *layers])


def build_index(children: Sequence[Image], *, oci: bool = True) -> Image:
    """An OCI index (or a Docker manifest list with ``oci=False``) over per-platform ``children``."""
    media_type = OCI_INDEX if oci else DOCKER_LIST
    entries = []
    for child in children:
        config = json.loads(next(b for b in child.blobs).data or b"{}")
        entries.append({"mediaType": child.media_type, "size": len(child.manifest), "digest": child.digest,
                        "platform": {"architecture": config.get("architecture", "amd64"),
                                     "os": config.get("os", "linux")}})
    index = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    return Image(media_type, json.dumps(index, indent=2).encode(), [], list(children))


@dataclass
class TestImage:
    repository: str
    tag: str
    image: Image

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


def image_set(seed: int = 7, count: int = 8, layers: tuple[int, int] = (3, 5),
              layer_size: tuple[int, int] = (2_000, 60_000), repositories: Sequence[str] | None = None,
              with_index: bool = True) -> list[TestImage]:
    """``count`` images over shared base layers: a mix of Docker and OCI manifests, a Docker manifest
    list, and (``with_index``) an OCI index with two platforms (linux/amd64 and linux/arm64).

    Images share one of two base stacks (the first two layers), so cross-repository mounts and
    "blob exists" skips happen; each image adds its own random layers. Deterministic for a seed.
    """
    rng = random.Random(seed)
    lo, hi = layer_size
    bases = [[random_layer(rng, rng.randint(lo, hi)) for _ in range(2)] for _ in range(2)]
    repos = list(repositories or [f"mlrun/func-proj{i % 3}-fn{i}" for i in range(count)])
    out: list[TestImage] = []
    for i in range(count):
        n_layers = rng.randint(*layers)
        own = [random_layer(rng, rng.randint(lo, hi)) for _ in range(max(1, n_layers - 2))]
        base = bases[i % 2]
        repo = repos[i % len(repos)]
        if with_index and i == 0:
            amd = build_image([*base, *own], oci=True, platform=("linux", "amd64"), label=f"{i}-amd64")
            arm_own = [random_layer(rng, rng.randint(lo, hi))]
            arm = build_image([*base, *arm_own], oci=True, platform=("linux", "arm64"), label=f"{i}-arm64")
            out.append(TestImage(repo, "multi", build_index([amd, arm], oci=True)))
        elif i == 1 and count > 2:
            child = build_image([*base, *own], platform=("linux", "amd64"), label=str(i))
            out.append(TestImage(repo, "list", build_index([child], oci=False)))
        else:
            out.append(TestImage(repo, f"v{i}", build_image([*base, *own], oci=bool(i % 2), label=str(i))))
    return out


# --- pushing over HTTP ---------------------------------------------------------------------------

def registry_client(base_url: str, auth: tuple[str, str] | None = None, timeout: float = 60.0) -> httpx.Client:
    """A plain httpx client for a test registry (``auth`` = Basic, as the htpasswd registry wants)."""
    return httpx.Client(base_url=base_url.rstrip("/"), auth=auth, timeout=timeout)


def blob_exists(client: httpx.Client, repository: str, digest: str) -> bool:
    return client.head(f"/v2/{repository}/blobs/{digest}").status_code == 200


def push_blob(client: httpx.Client, repository: str, blob: Blob) -> None:
    if blob_exists(client, repository, blob.digest):
        return
    start = client.post(f"/v2/{repository}/blobs/uploads/")
    start.raise_for_status()
    location = start.headers["Location"]
    sep = "&" if "?" in location else "?"
    body: bytes | Iterable[bytes] = blob.data if blob.data is not None else blob.chunks()
    done = client.put(f"{location}{sep}digest={blob.digest}", content=body,
                      headers={"Content-Type": "application/octet-stream", "Content-Length": str(blob.size)})
    done.raise_for_status()


def push_manifest(client: httpx.Client, repository: str, reference: str, image: Image) -> None:
    resp = client.put(f"/v2/{repository}/manifests/{reference}", content=image.manifest,
                      headers={"Content-Type": image.media_type})
    resp.raise_for_status()


def push_image(client: httpx.Client, repository: str, tag: str, image: Image) -> None:
    """Blobs first, then child manifests by digest, then the manifest under ``tag``."""
    for child in image.children:
        for blob in child.blobs:
            push_blob(client, repository, blob)
        push_manifest(client, repository, child.digest, child)
    for blob in image.blobs:
        push_blob(client, repository, blob)
    push_manifest(client, repository, tag, image)


def push_all(base_url: str, images: Iterable[TestImage], auth: tuple[str, str] | None = None) -> None:
    with registry_client(base_url, auth) as client:
        for item in images:
            push_image(client, item.repository, item.tag, item.image)


def tag_digests(base_url: str, auth: tuple[str, str] | None = None) -> dict[str, str]:
    """``{"repo:tag": manifest digest}`` for every tag in the registry (catalog + tags/list)."""
    out: dict[str, str] = {}
    with registry_client(base_url, auth) as client:
        for repo in list_repositories(client):
            tags = client.get(f"/v2/{repo}/tags/list").json().get("tags") or []
            for tag in tags:
                resp = client.head(f"/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT})
                resp.raise_for_status()
                out[f"{repo}:{tag}"] = resp.headers["Docker-Content-Digest"]
    return out


def list_repositories(client: httpx.Client) -> list[str]:
    """The catalog, following ``Link: <...>; rel="next"`` pages."""
    out: list[str] = []
    url: str | None = "/v2/_catalog?n=100"
    while url:
        resp = client.get(url)
        resp.raise_for_status()
        out += resp.json().get("repositories") or []
        url = resp.links.get("next", {}).get("url")
    return out


def expected_digests(images: Iterable[TestImage]) -> dict[str, str]:
    return {item.ref: item.image.digest for item in images}


def fetch_blob(base_url: str, repository: str, digest: str, auth: tuple[str, str] | None = None) -> bytes | None:
    with registry_client(base_url, auth) as client:
        resp = client.get(f"/v2/{repository}/blobs/{digest}", follow_redirects=True)
        return resp.content if resp.status_code == 200 else None


def env_seed() -> int:
    return int(os.environ.get("TEST_IMAGES_SEED", "7"))
