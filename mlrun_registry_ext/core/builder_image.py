"""The builder image for the Buildah backend: its trust store and its registries.conf (pure).

MLRun's Buildah backend (mlrun/mlrun ``server/py/services/api/utils/builder/buildah.py`` at 9c0c31d1)
runs ``buildah bud`` and ``buildah push`` in the image ``httpdb.builder.buildah_image`` (the stock
``quay.io/buildah/stable``) and hands them no CA flag (``--cert-dir``), no registries.conf and no mirror:
``_build_script`` writes only ``--storage-driver``, ``--volume``, ``--tls-verify=false``, ``--build-arg``,
``--tag``, ``--file``, ``--retry`` and ``--authfile``. A private CA or a mirror therefore has to live in
the image itself, where containers/image (the library inside buildah) reads them:

- The system trust store. containers/image verifies a registry with Go's ``crypto/x509`` system pool
  unless ``certs.d`` adds roots (``pkg/tlsclientconfig/tlsclientconfig.go`` ``SetupCertificates`` at
  6accca5: a ``*.crt`` is appended to ``tlsconfig.SystemCertPool()``). On Linux Go reads the first of its
  ``certFiles`` that exists; in the Fedora-based buildah image that is ``/etc/pki/tls/certs/ca-bundle.crt``,
  a link to :data:`TRUST_BUNDLE`, the bundle ``update-ca-trust`` extracts from
  ``/etc/pki/ca-trust/source/anchors``. The CA is appended to the extracted bundle (used at once) and
  also dropped as an anchor (:data:`TRUST_ANCHOR`), so a later ``update-ca-trust`` in a derived image keeps it.
- Per-registry trust: ``/etc/containers/certs.d/<host[:port]>/ca.crt`` (containers/image
  ``docs/containers-certs.d.5.md``), one per service with a CA: ``SetupCertificates`` adds it to whatever
  system pool Go found, so it holds whichever bundle path a Fedora release links (the stock image's own
  layout could not be inspected here: no network) and if a derived image regenerates the bundle.
- Mirrors: ``/etc/containers/registries.conf`` (v2 TOML, containers/image
  ``docs/containers-registries.conf.5.md`` at f28c903: ``[[registry]]`` with ``prefix``/``location`` and
  ``[[registry.mirror]]`` entries tried in order before ``location``). The base image's own file is kept
  and the package's tables are appended (a TOML array of tables may continue after any table).

Kaniko's counterpart (``/kaniko/ssl/certs``) is :mod:`mlrun_registry_ext.core.kaniko_ca`; the layer
and the manifest are made the same way (deterministic: same inputs, same digest).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from mlrun_registry_ext.core.buildah import STOCK_IMAGE, BackendName
from mlrun_registry_ext.core.kaniko_ca import CA_FILE, EXECUTOR_PATH, Layer, ca_tag, combined_trust, files_layer
from mlrun_registry_ext.core.manifest import sha256_digest

Backend = BackendName
BACKENDS: tuple[Backend, ...] = ("kaniko", "buildah")

#: The extracted bundle Go's system pool reads in the Fedora-based buildah image (tar member names: no
#: leading slash).
TRUST_BUNDLE = "etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"
#: Where ``update-ca-trust`` takes local anchors from.
TRUST_ANCHOR = "etc/pki/ca-trust/source/anchors/mlrun-registry-ext.pem"
REGISTRIES_CONF = "etc/containers/registries.conf"
CERTS_D = "etc/containers/certs.d"
#: The stock image MLRun's Buildah backend runs (``httpdb.builder.buildah_image``); its tag is not known.
BUILDAH_IMAGE = STOCK_IMAGE
#: The repository of the Buildah builder image on the target registry (under the service's path).
BUILDAH_PATH = "buildah/stable"
#: Docker Hub as containers/image names it in registries.conf (``docker.io/library/x`` normalised).
DOCKER_HUB = "docker.io"
MARKER = "# --- mlrun-registry builder-image: mirrors ---"


def image_path(backend: Backend) -> str:
    """The builder image's repository under the target service's path."""
    return EXECUTOR_PATH if backend == "kaniko" else BUILDAH_PATH


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of printable ASCII is a TOML basic string


def registries_conf(base: str, mirrors: Mapping[str, Sequence[str]]) -> str:
    """``base`` (the image's registries.conf, possibly empty) with one ``[[registry]]`` per mirrored
    prefix, its ``[[registry.mirror]]`` entries in order. A prefix the base already configures is
    refused: containers/image rejects a prefix defined twice."""
    if not mirrors:
        return base
    for prefix in mirrors:
        for line in base.splitlines():
            if line.strip().replace(" ", "") in (f"prefix={_toml_string(prefix)}", f"location={_toml_string(prefix)}"):
                raise ValueError(f"the builder image's registries.conf already configures {prefix}")
    out = [base.rstrip("\n"), ""] if base.strip() else []
    out.append(MARKER)
    for prefix in sorted(mirrors):
        out += ["[[registry]]", f"prefix = {_toml_string(prefix)}", f"location = {_toml_string(prefix)}", ""]
        for location in mirrors[prefix]:
            out += ["[[registry.mirror]]", f"location = {_toml_string(location)}", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def buildah_files(system_bundle: bytes, bundle: bytes, per_host: Mapping[str, bytes],
                  base_conf: str | None, mirrors: Mapping[str, Sequence[str]]) -> dict[str, bytes]:
    """The files the Buildah builder layer writes: the extracted trust bundle with ``bundle`` appended,
    the anchor, ``certs.d/<host>/ca.crt`` per host, and registries.conf when there are mirrors."""
    files: dict[str, bytes] = {}
    if bundle:
        files[TRUST_BUNDLE] = combined_trust(system_bundle, bundle)
        files[TRUST_ANCHOR] = bundle
        for host, pem in per_host.items():
            files[f"{CERTS_D}/{host}/ca.crt"] = pem
    if mirrors:
        files[REGISTRIES_CONF] = registries_conf(base_conf or "", mirrors).encode()
    return files


def config_digest(bundle: bytes, mirrors: Mapping[str, Sequence[str]]) -> bytes:
    """What the builder image's extra layer depends on besides the base: the tag is made from it."""
    doc = {"ca": sha256_digest(bundle) if bundle else "", "mirrors": {k: list(v) for k, v in sorted(mirrors.items())}}
    return json.dumps(doc, sort_keys=True).encode()


def builder_tag(backend: Backend, base_tag: str, bundle: bytes, mirrors: Mapping[str, Sequence[str]]) -> str:
    """Kaniko: ``<tag>-ca-<sha of the bundle>`` (as before); Buildah: ``<tag>-ca-<sha of the bundle and
    the mirrors>``: a new CA or mirror is a new tag, the same ones the same."""
    if backend == "kaniko":
        return ca_tag(base_tag, bundle)
    return ca_tag(base_tag, config_digest(bundle, mirrors))


def builder_layer(backend: Backend, system_bundle: bytes, bundle: bytes, per_host: Mapping[str, bytes],
                  base_conf: str | None, mirrors: Mapping[str, Sequence[str]]) -> Layer:
    """The one layer appended to the base builder image."""
    if backend == "kaniko":
        return files_layer({CA_FILE: combined_trust(system_bundle, bundle)})
    return files_layer(buildah_files(system_bundle, bundle, per_host, base_conf, mirrors))
