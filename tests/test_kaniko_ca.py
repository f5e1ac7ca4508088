"""Private CA: a Kaniko executor that trusts the services' CA, made without Docker.

A fake executor (a layer with /kaniko/ssl/certs/ca-certificates.crt holding a dummy system bundle, and
/kaniko/executor) sits at gcr.io's path on a plain loopback registry (reached through
``MLRUN_REGISTRY_EXT_PLATFORM_SOURCES``, as in tests/test_airgap.py); the build registry is a real
Debian docker-registry with TLS and a test CA. skopeo then pulls the result with the test CA.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import shutil
import ssl
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mlrun_registry_ext.core.kaniko_ca import (
    CA_FILE,
    appended_config,
    appended_manifest,
    file_layer,
    find_in_layer,
)
from mlrun_registry_ext.core.manifest import DOCKER_MANIFEST, OCI_MANIFEST, parse_manifest, sha256_digest
from tests.support.env import run_cli
from tests.support.images import Blob, build_image, build_index, push_image, random_layer, registry_client
from tests.support.registry import RunningRegistry

SYSTEM = b"-----BEGIN CERTIFICATE-----\nDUMMYSYSTEMBUNDLE\n-----END CERTIFICATE-----\n"


def _tar_layer(files: dict[str, bytes]) -> Blob:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    data = raw.getvalue()
    return Blob.of(gzip.compress(data, mtime=0), sha256_digest(data))


def _executor(multi: bool) -> tuple[object, ...]:
    rng = random.Random(5)
    layers = [_tar_layer({"kaniko/executor": b"#!/bin/sh\necho kaniko\n",
                          "kaniko/ssl/certs/ca-certificates.crt": SYSTEM}), random_layer(rng, 1500)]
    amd = build_image(layers, platform=("linux", "amd64"), oci=multi)
    if not multi:
        return (amd,)
    arm = build_image([random_layer(rng, 900)], platform=("linux", "arm64"), oci=True)
    return (build_index([amd, arm]),)


def _config(tmp_path: Path, build: RunningRegistry) -> Path:
    path = tmp_path / "registries.yaml"
    path.write_text(f"""
active: builds
services:
  builds:
    url: {build.host}/ml
    ca_bundle: {build.ca_path}
""")
    return path


def _skopeo_dir(reference: str, certs: Path, into: Path) -> None:
    proc = subprocess.run(["skopeo", "copy", "--src-cert-dir", str(certs), f"docker://{reference}", f"dir:{into}"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-600:]


def test_builds_trust_the_private_ca_through_one_executor_image_pushed_once(
        tmp_path: Path, registry_factory: Callable[..., RunningRegistry]) -> None:
    public, build = registry_factory(), registry_factory(tls=True)
    (image,) = _executor(multi=True)
    with registry_client(public.url) as client:
        push_image(client, "kaniko-project/executor", "v1.23.2", image)  # type: ignore[arg-type]
    assert build.ca_path is not None
    env = {"MLRUN_REGISTRY_EXT_CONFIG": str(_config(tmp_path, build)),
           "MLRUN_REGISTRY_EXT_PLATFORM_SOURCES": f"gcr.io=http://{public.host}"}

    first = run_cli("kaniko-image", "--json", env=env, timeout=120)
    assert first.code == 0, first.output
    result = json.loads(first.stdout)
    ca = build.ca_path.read_bytes()
    bundle = ca.strip() + b"\n"
    expected = f"{build.host}/ml/kaniko-project/executor:v1.23.2-ca-{hashlib.sha256(bundle).hexdigest()[:12]}"
    assert result["reference"] == expected and result["pushed"] and result["platform"] == "linux/amd64"

    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(build.ca_path, certs / "ca.crt")
    pulled = tmp_path / "pulled"
    _skopeo_dir(expected, certs, pulled)
    manifest = json.loads((pulled / "manifest.json").read_bytes())
    config = json.loads((pulled / manifest["config"]["digest"].split(":")[1]).read_bytes())
    diff_ids = []
    for layer in manifest["layers"]:
        blob = (pulled / layer["digest"].split(":")[1]).read_bytes()
        assert sha256_digest(blob) == layer["digest"] and len(blob) == layer["size"]
        diff_ids.append(sha256_digest(gzip.decompress(blob)))
    assert config["rootfs"]["diff_ids"] == diff_ids and len(diff_ids) == 3
    last = (pulled / manifest["layers"][-1]["digest"].split(":")[1]).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(last), mode="r:gz") as tar:
        member = tar.extractfile(CA_FILE)
        assert member is not None
        assert member.read() == SYSTEM + ca.strip() + b"\n"
    assert result["digest"] == sha256_digest((pulled / "manifest.json").read_bytes())

    inspect = subprocess.run(["skopeo", "inspect", "--cert-dir", str(certs), f"docker://{expected}"],
                             capture_output=True, text=True, timeout=60)
    assert inspect.returncode == 0 and json.loads(inspect.stdout)["Architecture"] == "amd64", inspect.stderr

    again = run_cli("kaniko-image", "--json", env=env, timeout=120)
    assert again.code == 0, again.output
    second = json.loads(again.stdout)
    assert second["digest"] == result["digest"] and not second["pushed"]
    general = run_cli("builder-image", "--backend", "kaniko", "--json", env=env, timeout=120)
    assert general.code == 0, general.output  # kaniko-image is builder-image --backend kaniko
    assert json.loads(general.stdout)["digest"] == result["digest"] and json.loads(general.stdout)["present"]

    config_out = run_cli("platform-config", env=env)
    assert config_out.code == 0, config_out.output
    assert f"MLRUN_HTTPDB__BUILDER__KANIKO_IMAGE={expected}" in config_out.stdout
    assert f"NUCLIO_KANIKO_CONTAINER_IMAGE={expected}" in config_out.stdout


def test_air_gapped_site_gets_the_ca_executor_from_its_internal_registry_and_the_password_stays_hidden(
        tmp_path: Path, registry_factory: Callable[..., RunningRegistry]) -> None:
    canary = "canary-pw-Zq81x"
    internal = registry_factory(tls=True, auth="htpasswd", htpasswd_users={"pusher": canary})
    assert internal.ca_path is not None
    (image,) = _executor(multi=False)
    trust = ssl.create_default_context(cafile=str(internal.ca_path))
    with httpx.Client(base_url=internal.url, auth=("pusher", canary), verify=trust, timeout=30) as client:
        push_image(client, "platform/kaniko-project/executor", "v1.23.2", image)  # type: ignore[arg-type]
    config = tmp_path / "registries.yaml"
    config.write_text(f"""
active: builds
services:
  builds: {{url: registry.example.com/ml}}
  internal:
    url: {internal.host}/platform
    role: system
    platform_images: true
    ca_bundle: {internal.ca_path}
""")
    env = {"MLRUN_REGISTRY_EXT_CONFIG": str(config), "MLRUN_REGISTRY_EXT_MIGRATE_TO_USERNAME": "pusher",
           "MLRUN_REGISTRY_EXT_MIGRATE_TO_PASSWORD": canary}
    dry = run_cli("kaniko-image", "--dry-run", env=env, timeout=120)
    assert dry.code == 0 and "would push: " in dry.stdout, dry.output
    made = run_cli("kaniko-image", env=env, timeout=120)
    assert made.code == 0, made.output
    assert canary not in made.output
    reference = f"{internal.host}/platform/kaniko-project/executor:" \
                f"v1.23.2-ca-{hashlib.sha256(internal.ca_path.read_bytes().strip() + bytes([10])).hexdigest()[:12]}"
    assert f"pushed: {reference}" in made.stdout and "single-platform" in made.stdout

    again = run_cli("kaniko-image", env=env, timeout=120)
    assert again.code == 0 and f"up to date: {reference}" in again.stdout, again.output

    helm = run_cli("platform-config", "--format", "helm", env=env)
    assert helm.code == 0, helm.output
    values = yaml.safe_load(helm.stdout)
    assert values["mlrun"]["api"]["extraEnvKeyValue"]["MLRUN_HTTPDB__BUILDER__KANIKO_IMAGE"] == reference
    repository, _, tag = reference.rpartition(":")
    assert values["nuclio"]["dashboard"]["kaniko"]["image"] == {"repository": repository, "tag": tag}
    lines = run_cli("platform-config", env=env).stdout.splitlines()
    assert [line for line in lines if line.startswith("MLRUN_HTTPDB__BUILDER__KANIKO_IMAGE=")] == \
        [f"MLRUN_HTTPDB__BUILDER__KANIKO_IMAGE={reference}"]  # the CA executor replaces the air gap's plain one
    assert [line for line in lines if line.startswith("NUCLIO_KANIKO_CONTAINER_IMAGE=")] == \
        [f"NUCLIO_KANIKO_CONTAINER_IMAGE={reference}"]


def test_kaniko_image_without_any_ca_bundle_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "registries.yaml"
    path.write_text("active: builds\nservices:\n  builds: {url: registry.example.com/ml}\n")
    result = run_cli("kaniko-image", env={"MLRUN_REGISTRY_EXT_CONFIG": str(path)})
    assert result.code == 2 and "ca_bundle" in result.stderr and result.stderr.count("\n") == 1


# --- pure parts ------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=3000))
def test_the_ca_layer_is_a_deterministic_tar_whose_digests_match(content: bytes) -> None:
    layer = file_layer(CA_FILE, content)
    assert layer == file_layer(CA_FILE, content)
    assert layer.digest == sha256_digest(layer.data)
    assert layer.diff_id == sha256_digest(gzip.decompress(layer.data))
    assert find_in_layer(io.BytesIO(layer.data)) == ("file", content)


def test_a_whiteout_in_a_layer_removes_the_trust_store() -> None:
    blob = _tar_layer({"kaniko/ssl/certs/.wh.ca-certificates.crt": b""})
    assert find_in_layer(io.BytesIO(blob.data or b"")) == ("deleted", b"")
    opaque = _tar_layer({"kaniko/ssl/.wh..wh..opq": b""})
    assert find_in_layer(io.BytesIO(opaque.data or b"")) == ("deleted", b"")
    assert find_in_layer(io.BytesIO(_tar_layer({"etc/x": b"1"}).data or b"")) == ("absent", b"")
    readded = _tar_layer({"kaniko/ssl/certs/.wh..wh..opq": b"", CA_FILE: b"new"})
    assert find_in_layer(io.BytesIO(readded.data or b"")) == ("file", b"new")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="0123456789abcdef", min_size=64, max_size=64), max_size=5),
       st.sampled_from([DOCKER_MANIFEST, OCI_MANIFEST]))
def test_config_and_manifest_gain_exactly_one_layer(diff_ids: list[str], media_type: str) -> None:
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d in diff_ids]},
                         "history": [{"created_by": "x"}] * len(diff_ids)}).encode()
    layer = file_layer(CA_FILE, b"pem")
    new_config = appended_config(config, layer, "ca")
    doc = json.loads(new_config)
    assert doc["rootfs"]["diff_ids"] == [f"sha256:{d}" for d in diff_ids] + [layer.diff_id]
    assert len(doc["history"]) == len(diff_ids) + 1
    base = {"schemaVersion": 2, "mediaType": media_type,
            "config": {"mediaType": "c", "digest": sha256_digest(config), "size": len(config)},
            "layers": [{"mediaType": "l", "digest": f"sha256:{d}", "size": 1} for d in diff_ids]}
    raw = appended_manifest(json.dumps(base).encode(), media_type, new_config, layer)
    parsed = parse_manifest(raw, None)
    assert parsed.media_type == media_type
    assert parsed.blobs[0].digest == sha256_digest(new_config) and parsed.blobs[-1].digest == layer.digest
    assert len(parsed.blobs) == len(diff_ids) + 2
    assert hashlib.sha256(raw).hexdigest() == parsed.digest.split(":")[1]


def test_a_ca_bundle_without_a_certificate_is_one_line_exit_2_naming_the_service(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_text("not a certificate\n")
    path = tmp_path / "registries.yaml"
    path.write_text(f"active: builds\nservices:\n  builds: {{url: registry.example.com/ml, ca_bundle: {pem}}}\n")
    for command in (("kaniko-image",), ("platform-config",)):
        result = run_cli(*command, env={"MLRUN_REGISTRY_EXT_CONFIG": str(path)})
        assert result.code == 2 and "services.builds.ca_bundle" in result.stderr, result.output
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
