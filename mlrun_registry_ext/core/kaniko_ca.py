"""Private CA: a Kaniko executor image that trusts the services' CA bundle.

Why an image and not ``--registry-certificate``: the flag needs the CA as a file in the Kaniko pod,
and neither builder mounts one. MLRun's ``make_kaniko_pod`` (mlrun 1.5.2 ``mlrun/api/utils/builder.py``,
the server in ``.venv-mlrun-server``) mounts only the docker-config secret as ``config.json`` (with
``items``) and the pip CA secret into the build context; Nuclio 1.14's Kaniko job
(``pkg/containerimagebuilderpusher/kaniko.go`` at 9e837f6) mounts only ``.dockerconfigjson`` and the AWS
secret. Both builders do let the server name the executor image (MLRun ``httpdb.builder.kaniko_image``,
Nuclio ``NUCLIO_KANIKO_CONTAINER_IMAGE``), and Kaniko reads its trust store from
``/kaniko/ssl/certs/ca-certificates.crt`` (``SSL_CERT_DIR=/kaniko/ssl/certs`` in the executor's
Dockerfile). So the CA goes into that file, once, in one extra layer on the executor image, the way
``crane append`` adds a layer without Docker: every build of every function then trusts it.

Pure: bytes in, bytes out. The layer and the config are deterministic (no timestamps, mtime 0, fixed
gzip settings), so the same base and the same bundle give the same manifest digest: a re-run finds
the tag already pointing at it and pushes nothing.
"""

from __future__ import annotations

import gzip
import io
import json
import posixpath
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, Literal

from mlrun_registry_ext.core.manifest import CONFIG_TYPE, DOCKER_MANIFEST, LAYER_GZIP, sha256_digest
from mlrun_registry_ext.errors import ConfigError, RegistryAPIError

#: The executor's trust store (no leading slash: as tar members are named).
CA_FILE = "kaniko/ssl/certs/ca-certificates.crt"
#: The largest trust store read from a layer (Debian's is ~220 KB).
MAX_BUNDLE = 4 << 20
#: The largest image config read (a real executor's is ~2 KB).
MAX_CONFIG = 1 << 20
PEM_CERT = b"-----BEGIN CERTIFICATE-----"
#: The repository of the executor on the target registry (under the service's path), as the air gap names it.
EXECUTOR_PATH = "kaniko-project/executor"


def bundle_of(pems: list[tuple[str, str]]) -> bytes:
    """The services' CA certificates as one PEM bundle (each text once, in order). ``pems`` holds
    ``(field, text)``; a text without a PEM certificate is a :class:`ConfigError` on its field."""
    out: list[bytes] = []
    for field, text in pems:
        data = text.strip().encode()
        if PEM_CERT not in data:
            raise ConfigError(field, "holds no PEM certificate (-----BEGIN CERTIFICATE-----); expected the CA "
                                     "bundle as a PEM file path or PEM text")
        if data not in out:
            out.append(data)
    return b"\n".join(out) + b"\n" if out else b""


def short_sha(bundle: bytes) -> str:
    return sha256_digest(bundle).split(":", 1)[1][:12]


def ca_tag(base_tag: str, bundle: bytes) -> str:
    """``<base tag>-ca-<12 hex of the bundle's sha256>``: a new bundle is a new tag, the same one the same."""
    return f"{base_tag}-ca-{short_sha(bundle)}"


def combined_trust(system: bytes, bundle: bytes) -> bytes:
    """The executor's trust store with ``bundle`` appended (a newline between them when missing)."""
    if system and not system.endswith(b"\n"):
        system += b"\n"
    return system + bundle


@dataclass(frozen=True)
class Layer:
    """A gzip tar layer: its blob bytes, blob digest (``digest``) and uncompressed digest (``diff_id``)."""

    data: bytes
    digest: str
    diff_id: str

    @property
    def size(self) -> int:
        return len(self.data)


def file_layer(path: str, content: bytes, mode: int = 0o644) -> Layer:
    """One regular file at ``path`` as a deterministic gzip tar (root-owned, mtime 0, USTAR)."""
    return files_layer({path: content}, mode)


def files_layer(files: Mapping[str, bytes], mode: int = 0o644) -> Layer:
    """Regular files (``path -> content``, written in sorted path order) as one deterministic gzip tar:
    root-owned, mtime 0, USTAR, no directory entries (the runtime creates missing parents 0755)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(files):
            content = files[path]
            info = tarfile.TarInfo(path)
            info.size = len(content)
            info.mode = mode
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    blob = gzip.compress(tar_bytes, compresslevel=6, mtime=0)
    return Layer(blob, sha256_digest(blob), sha256_digest(tar_bytes))


# --- reading the base ------------------------------------------------------------------------------
#: What a layer says about a file: it does not touch it (look further down), it removes it (whiteout), or
#: it holds the file (its bytes; possibly empty).
LayerState = Literal["absent", "deleted", "file"]


def _normal(name: str) -> str:
    return posixpath.normpath("/" + name).lstrip("/")


def find_in_layer(stream: IO[bytes], path: str = CA_FILE, cap: int = MAX_BUNDLE) -> tuple[LayerState, bytes]:
    """``path`` in one gzip tar layer read from ``stream`` as a stream (never seeked, never whole):
    ``("file", content)``, ``("deleted", b"")`` when the layer removes it (``.wh.`` file or an opaque
    directory above it), ``("absent", b"")`` when the layer does not touch it. The last matching member
    wins, as in the layer itself. A file over ``cap`` bytes or a link is refused (:class:`RegistryAPIError`)."""
    return scan_layer(stream, (path,), cap)[path]


def scan_layer(stream: IO[bytes], paths: Sequence[str], cap: int = MAX_BUNDLE) -> dict[str, tuple[LayerState, bytes]]:
    """:func:`find_in_layer` for several paths in one pass over the layer."""
    found: dict[str, bytes] = {}
    removed: set[str] = set()
    split = {path: posixpath.split(path) for path in paths}
    try:
        with tarfile.open(fileobj=stream, mode="r|gz") as tar:
            for member in tar:
                name = _normal(member.name)
                head, tail = posixpath.split(name)
                for path, (directory, base) in split.items():
                    if name == path:
                        if not member.isfile():
                            raise RegistryAPIError(f"/{path} in the base image is a link or directory; "
                                                   "only a regular file can be appended to")
                        if member.size > cap:
                            raise RegistryAPIError(f"/{path} in the base image is {member.size} bytes "
                                                   f"(more than {cap}); refused")
                        handle = tar.extractfile(member)
                        assert handle is not None
                        found[path] = handle.read(cap + 1)
                    elif (head == directory and tail == f".wh.{base}") or \
                            (tail == ".wh..wh..opq" and (path + "/").startswith(head + "/")):
                        removed.add(path)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise RegistryAPIError(f"a base image layer is not a gzip tar ({type(exc).__name__})") from None
    out: dict[str, tuple[LayerState, bytes]] = {}
    for path in paths:
        if path in found:  # a file added in the same layer as a whiteout is the layer's own: it stays
            out[path] = ("file", found[path])
        else:
            out[path] = ("deleted", b"") if path in removed else ("absent", b"")
    return out


def pick_platform(index: bytes, os_name: str, architecture: str) -> str:
    """The digest of the ``os_name/architecture`` entry of an index (the first one without a variant
    preference); a :class:`RegistryAPIError` listing what the index has otherwise."""
    doc = json.loads(index)
    entries = doc.get("manifests") if isinstance(doc, dict) else None
    listed = []
    for entry in entries if isinstance(entries, list) else []:
        platform = entry.get("platform") if isinstance(entry, dict) else None
        if not isinstance(platform, dict):
            continue
        listed.append(f"{platform.get('os')}/{platform.get('architecture')}")
        if platform.get("os") == os_name and platform.get("architecture") == architecture \
                and isinstance(entry.get("digest"), str):
            return str(entry["digest"])
    raise RegistryAPIError(f"the base image has no {os_name}/{architecture} image (it has: "
                           f"{', '.join(listed) or 'none'})")


# --- the new image -----------------------------------------------------------------------------------
def appended_config(config: bytes, layer: Layer, comment: str) -> bytes:
    """The image config with ``layer``'s diff_id appended to ``rootfs.diff_ids`` and one ``history``
    entry for it (no timestamp: the result depends only on its inputs)."""
    if len(config) > MAX_CONFIG:
        raise RegistryAPIError(f"the base image config is larger than {MAX_CONFIG} bytes; refused")
    try:
        doc: Any = json.loads(config)
    except ValueError:
        raise RegistryAPIError("the base image config is not JSON") from None
    rootfs = doc.get("rootfs") if isinstance(doc, dict) else None
    if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
        raise RegistryAPIError("the base image config has no rootfs.diff_ids")
    rootfs["diff_ids"] = [*rootfs["diff_ids"], layer.diff_id]
    history = doc.get("history")
    doc["history"] = [*(history if isinstance(history, list) else []), {"created_by": comment}]
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def appended_manifest(manifest: bytes, media_type: str, config: bytes, layer: Layer) -> bytes:
    """The image manifest pointing at the new ``config`` with ``layer`` appended, in the base's own
    family (Docker schema 2 or OCI: the layer and config media types of that family)."""
    if media_type not in LAYER_GZIP:
        raise RegistryAPIError(f"{media_type!r} is not an image manifest; expected one of {sorted(LAYER_GZIP)}")
    doc = json.loads(manifest)
    old_config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    doc["config"] = {**old_config, "mediaType": old_config.get("mediaType") or CONFIG_TYPE[media_type],
                     "digest": sha256_digest(config), "size": len(config)}
    layers = doc.get("layers") if isinstance(doc.get("layers"), list) else []
    doc["layers"] = [*layers, {"mediaType": LAYER_GZIP[media_type], "digest": layer.digest, "size": layer.size}]
    if media_type == DOCKER_MANIFEST:
        doc["mediaType"] = DOCKER_MANIFEST  # Docker requires it; OCI keeps what the base had
    return json.dumps(doc, separators=(",", ":")).encode()
