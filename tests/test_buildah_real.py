"""Real builds: Debian's buildah runs the build pod MLRun's Buildah backend makes for a function this
package configured, and pushes to a real registry.

The chain, each link real except the one marked:
- the function: the mlrun 1.12.1 client's object, configured by ``configure_function`` for a service with
  ``builder_backend: buildah``, a ``pull_from`` registry A (TLS with a private CA, htpasswd) for the base
  image and a Docker Hub ``mirror``;
- the server's shared build path (target, secret, Dockerfile): the real MLRun 1.5.2 server code;
- the Buildah pod: MLRun's 2026 backend, mirrored line by line in ``tests/support/mlrun_buildah.py`` (no
  wheel ships it) -- the only reconstruction;
- the builder image: ``mlrun-registry builder-image --backend buildah`` (the console entry point) made it
  from a Fedora-like stand-in for ``quay.io/buildah/stable``; its trust store and registries.conf are what
  buildah reads, through the environment (see the support module);
- the secret: ``mlrun-registry secret apply --dry-run -o json``, the merged ``pull_from`` authfile;
- the builder: Debian's buildah (``scripts/bootstrap.sh --test`` installs it), as root, vfs, chroot;
  skopeo checks the result.

Scenarios: the base from A through the merged authfile, pushed to B at the predicted target, A's base
layer kept and the RUN step's file on top; a Docker Hub base through the mirror only the builder image's
registries.conf names; A's CA trusted only through the builder image; a wrong password for A failing the
build and ``doctor`` naming A; an insecure (plain HTTP) build registry getting ``--tls-verify=false``.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import random
import shutil
import ssl
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

import mlrun_registry_ext as registry
from mlrun_registry_ext.core.manifest import sha256_digest
from mlrun_registry_ext.features.doctor import AUTH, doctor
from tests.support.env import CANARY, run_cli
from tests.support.images import Blob, build_image, push_image, random_layer
from tests.support.mlrun_buildah import (
    REGISTRIES_CONF,
    TRUST_BUNDLE,
    BuildahPod,
    BuildRun,
    buildah_pod_for,
    builder_image_files,
    remove_store,
    run_build_pod,
)
from tests.support.mlrun_server import MLRunServer, build_body
from tests.support.registry import RunningRegistry, make_tls_files

pytestmark = pytest.mark.timeout(600)

BASE_USER, BASE_PASSWORD = "base-reader", "base-pw-Q2x8"
PUSH_USER = "ci-builder"
BUSYBOX = Path("/bin/busybox")
#: What Fedora's containers-common ships at the top of /etc/containers/registries.conf (keys, no tables).
FEDORA_REGISTRIES_CONF = ('unqualified-search-registries = ["registry.fedoraproject.org", '
                          '"registry.access.redhat.com", "docker.io", "quay.io"]\nshort-name-mode = "enforcing"\n')


def _tar(entries: list[tarfile.TarInfo], contents: dict[str, bytes]) -> Blob:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for info in entries:
            data = contents.get(info.name)
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    tar_bytes = raw.getvalue()
    return Blob.of(gzip.compress(tar_bytes, mtime=0), sha256_digest(tar_bytes))


def _entry(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    return info


def tiny_base() -> Blob:
    """A scratch image's one layer: busybox-static as /bin/sh (so RUN steps work) and /etc/base.txt."""
    assert BUSYBOX.exists(), "busybox-static is missing: scripts/bootstrap.sh --test installs it"
    entries = [_entry("bin", tarfile.DIRTYPE, 0o755), _entry("etc", tarfile.DIRTYPE, 0o755),
               _entry("tmp", tarfile.DIRTYPE, 0o1777), _entry("bin/busybox", mode=0o755),
               _entry("bin/sh", tarfile.SYMTYPE, link="busybox"), _entry("etc/base.txt")]
    return _tar(entries, {"bin/busybox": BUSYBOX.read_bytes(), "etc/base.txt": b"from registry A\n"})


def stock_buildah_image(system_ca: bytes) -> Any:
    """A stand-in for quay.io/buildah/stable: the two files buildah reads from its Fedora root (the
    extracted trust bundle, holding one unrelated "system" CA, and registries.conf), then a layer on top."""
    files = {TRUST_BUNDLE: system_ca, REGISTRIES_CONF: FEDORA_REGISTRIES_CONF.encode()}
    fedora = _tar([_entry(path) for path in files], files)
    return build_image([fedora, random_layer(random.Random(19), 2048, "usr/bin/buildah")], oci=True)


@dataclass
class Site:
    """Registry A (base images, TLS + private CA + htpasswd), B (the build registry, likewise), the public
    registry holding the stock builder image, and the config file naming them."""

    a: RunningRegistry
    b: RunningRegistry
    config: Path
    env: dict[str, str]
    base_diff_id: str
    tmp: Path

    def certs(self, *registries: RunningRegistry) -> Path:
        directory = self.tmp / ("certs-" + "-".join(r.host.replace(":", "_") for r in registries))
        directory.mkdir(exist_ok=True)
        for r in registries:
            assert r.ca_path is not None
            shutil.copy(r.ca_path, directory / f"{r.host.replace(':', '_')}.crt")
        return directory


def _write_config(path: Path, a: RunningRegistry, b: RunningRegistry, base_password: str) -> None:
    path.write_text(yaml.safe_dump({"active": "builds", "services": {
        "base": {"url": a.host, "username": BASE_USER, "password": base_password, "ca_bundle": str(a.ca_path)},
        "builds": {"url": f"{b.host}/ml", "username": PUSH_USER, "password": CANARY, "ca_bundle": str(b.ca_path),
                   "pull_from": ["base"], "mirror": f"{a.host}/hub", "builder_backend": "buildah"},
    }}))


@pytest.fixture
def site(tmp_path: Path, registry_factory: Callable[..., RunningRegistry], monkeypatch: pytest.MonkeyPatch
         ) -> Iterator[Site]:
    assert shutil.which("buildah"), "buildah is missing: scripts/bootstrap.sh --test installs it (apt)"
    assert os.geteuid() == 0, "the real Buildah builds run buildah as root (vfs, chroot isolation), as CI runs them"
    a = registry_factory(tls=True, auth="htpasswd", htpasswd_users={BASE_USER: BASE_PASSWORD})
    b = registry_factory(tls=True, auth="htpasswd", htpasswd_users={PUSH_USER: CANARY})
    public = registry_factory()
    assert a.ca_path is not None and b.ca_path is not None
    layer = tiny_base()
    base = build_image([layer])
    with httpx.Client(base_url=a.url, auth=(BASE_USER, BASE_PASSWORD),
                      verify=ssl.create_default_context(cafile=str(a.ca_path)), timeout=30) as client:
        push_image(client, "base/tiny", "1", base)
        push_image(client, "hub/library/tiny", "1", base)  # what the Docker Hub mirror serves
    system_ca, _, _ = make_tls_files(tmp_path / "system-ca")
    with httpx.Client(base_url=public.url, timeout=30) as client:
        push_image(client, "buildah/stable", "latest", stock_buildah_image(system_ca.read_bytes()))
    config = tmp_path / "registries.yaml"
    _write_config(config, a, b, BASE_PASSWORD)
    env = {"MLRUN_REGISTRY_EXT_CONFIG": str(config), "MLRUN_REGISTRY_EXT_PLATFORM_SOURCES": f"quay.io=http://{public.host}"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield Site(a, b, config, env, layer.diff_id, tmp_path)
    remove_store(tmp_path / "build")


def _secret_data(site: Site) -> dict[str, dict[str, str]]:
    result = run_cli("secret", "apply", "-n", "mlrun", "--dry-run", "-o", "json", env=site.env)
    assert result.code == 0, result.stderr
    assert CANARY not in result.output and BASE_PASSWORD not in result.output
    secret = json.loads(result.stdout)
    return {secret["metadata"]["name"]: secret["data"]}


def _function(image: str, name: str = "trainer") -> Any:
    import mlrun

    fn = mlrun.new_function(name, project="fraud", kind="job", image=image)
    fn.spec.build.commands = ["echo built-by-buildah > /etc/built.txt"]
    return fn


def _build(site: Site, mlrun_server: MLRunServer, fn: Any, builder_files: Path, workdir: str) -> tuple[
        BuildahPod, BuildRun, Any]:
    active = registry.resolve(probe=False)
    target = registry.configure_function(fn, active)
    env = active.platform_config().mlrun_env
    server = mlrun_server.build(build_body(fn), env)
    pod = buildah_pod_for(server, env)
    run = run_build_pod(pod, secrets=_secret_data(site), image_root=builder_files, workdir=site.tmp / workdir)
    return pod, run, target


def _inspect(site: Site, reference: str, *extra: str) -> dict[str, Any]:
    proc = subprocess.run(["skopeo", "inspect", *extra, "--cert-dir", str(site.certs(site.b)),
                           "--creds", f"{PUSH_USER}:{CANARY}", f"docker://{reference}"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-600:]
    return dict(json.loads(proc.stdout))


def _top_layer_file(site: Site, reference: str, path: str) -> bytes:
    into = site.tmp / ("pulled-" + reference.rsplit("/", 1)[-1].replace(":", "_"))
    proc = subprocess.run(["skopeo", "copy", "--src-cert-dir", str(site.certs(site.b)), "--src-creds",
                           f"{PUSH_USER}:{CANARY}", f"docker://{reference}", f"dir:{into}"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-600:]
    manifest = json.loads((into / "manifest.json").read_bytes())
    blob = (into / manifest["layers"][-1]["digest"].split(":", 1)[1]).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
        member = tar.extractfile(path)
        assert member is not None, f"{path} not in the top layer"
        return member.read()


def _builder_image(site: Site) -> tuple[str, Path, Path]:
    """Make and push the Buildah builder image; its reference, its files, and the stock image's files."""
    first = run_cli("builder-image", "--backend", "buildah", "--json", env=site.env, timeout=120)
    assert first.code == 0, first.output
    assert CANARY not in first.output and BASE_PASSWORD not in first.output
    made = json.loads(first.stdout)
    assert made["pushed"] and made["backend"] == "buildah"
    assert made["reference"].startswith(f"{site.b.host}/ml/buildah/stable:latest-ca-")
    assert made["mirrors"] == {"docker.io": [f"{site.a.host}/hub"]} and sorted(made["services"]) == ["base", "builds"]
    again = run_cli("builder-image", "--json", env=site.env, timeout=120)  # the service says buildah
    assert again.code == 0, again.output
    second = json.loads(again.stdout)
    assert second["digest"] == made["digest"] and second["present"] and not second["pushed"]  # pushed once
    ours = builder_image_files(made["reference"], site.tmp / "builder-root", cert_dir=site.certs(site.b),
                               creds=f"{PUSH_USER}:{CANARY}")
    public = site.env["MLRUN_REGISTRY_EXT_PLATFORM_SOURCES"].split("http://", 1)[1]
    stock = builder_image_files(f"{public}/buildah/stable:latest", site.tmp / "stock-root")
    return made["reference"], ours, stock


# --- the story --------------------------------------------------------------------------------------------
def test_buildah_pulls_the_base_from_a_with_the_merged_login_and_pushes_to_the_predicted_target(
        site: Site, mlrun_server: MLRunServer) -> None:
    reference, builder_files, _ = _builder_image(site)
    config_out = run_cli("platform-config", env=site.env)
    assert config_out.code == 0, config_out.output
    assert f"MLRUN_HTTPDB__BUILDER__BUILDAH_IMAGE={reference}" in config_out.stdout
    helm = yaml.safe_load(run_cli("platform-config", "--format", "helm", env=site.env).stdout)
    assert helm["mlrun"]["api"]["extraEnvKeyValue"]["MLRUN_HTTPDB__BUILDER__BUILDAH_IMAGE"] == reference

    pod, run, target = _build(site, mlrun_server, _function(f"{site.a.host}/base/tiny:1"), builder_files, "build")
    assert pod.image == reference  # the server runs the builder image platform-config names
    assert pod.env["REGISTRY_AUTH_FILE"] == "/auth/config.json" and pod.secret_at_auth == target.secret
    bud, push = pod.command_line("bud"), pod.command_line("push")
    assert "--tls-verify=false" not in bud + push  # TLS verified all the way, with the image's trust store
    assert push[-2:] == [target.image, f"docker://{target.image}"]
    assert run.returncode == 0, run.output[-3000:]

    pushed = _inspect(site, target.image)
    assert pushed["Name"] == target.image.rsplit(":", 1)[0] and "latest" in pushed["RepoTags"]
    config = _inspect(site, target.image, "--config")
    assert config["rootfs"]["diff_ids"][0] == site.base_diff_id  # the base layer is A's, unchanged
    assert _top_layer_file(site, target.image, "etc/built.txt") == b"built-by-buildah\n"  # the RUN step ran


def test_a_docker_hub_base_comes_through_the_mirror_only_the_builder_image_configures(
        site: Site, mlrun_server: MLRunServer) -> None:
    _, builder_files, stock_files = _builder_image(site)
    fn = _function("docker.io/library/tiny:1", name="mirrored")
    pod, run, target = _build(site, mlrun_server, fn, builder_files, "build")
    assert run.returncode == 0, run.output[-3000:]
    assert f"{site.a.host}/hub" not in pod.script + json.dumps(pod.env)  # only the image's registries.conf names it
    assert _inspect(site, target.image, "--config")["rootfs"]["diff_ids"][0] == site.base_diff_id

    # the stock image has no mirror (and no CA): the same pod cannot reach Docker Hub from here
    shutil.copy(builder_files / TRUST_BUNDLE, stock_files / TRUST_BUNDLE)  # trust, to isolate the mirror
    stock = run_build_pod(pod, secrets=_secret_data(site), image_root=stock_files, workdir=site.tmp / "build-stock",
                          timeout=120)
    remove_store(site.tmp / "build-stock")
    assert stock.returncode != 0 and "docker.io" in stock.output, stock.output[-2000:]


def test_the_private_ca_is_trusted_only_through_the_builder_image(site: Site, mlrun_server: MLRunServer) -> None:
    _, _, stock_files = _builder_image(site)
    _, run, _ = _build(site, mlrun_server, _function(f"{site.a.host}/base/tiny:1"), stock_files, "build")
    assert run.returncode != 0
    assert "x509" in run.output or "certificate" in run.output, run.output[-2000:]


def test_a_wrong_password_for_a_fails_the_build_and_doctor_names_a(site: Site, mlrun_server: MLRunServer) -> None:
    _, builder_files, _ = _builder_image(site)
    good = doctor(timeout=20)
    assert {c.service for c in good.checks} == {"builds", "base"}  # the pull_from registry is checked too
    assert not [c for c in good.checks if not c.ok], [(c.service, c.name, c.detail) for c in good.checks if not c.ok]
    _write_config(site.config, site.a, site.b, "wrong-" + BASE_PASSWORD)
    _, run, _ = _build(site, mlrun_server, _function(f"{site.a.host}/base/tiny:1"), builder_files, "build")
    assert run.returncode != 0
    assert site.a.host in run.output and ("unauthorized" in run.output.lower()
                                          or "authentication required" in run.output.lower()), run.output[-2000:]

    report = doctor(timeout=20)
    failed = [c for c in report.checks if not c.ok and c.severity == "error"]
    assert failed and (failed[0].service, failed[0].name) == ("base", AUTH), [(c.service, c.name) for c in failed]
    assert site.a.host in failed[0].detail and {c.service for c in failed} == {"base"}  # builds (B) is fine
    shown = run_cli("doctor", env=site.env, timeout=60)
    assert shown.code != 0 and site.a.host in shown.output and "base" in shown.output, shown.output
    assert "wrong-" + BASE_PASSWORD not in shown.output


def test_the_buildah_secret_is_the_merged_authfile_with_both_logins(site: Site) -> None:
    (data,) = _secret_data(site).values()
    auths = json.loads(base64.b64decode(data[".dockerconfigjson"]))["auths"]
    assert sorted(auths) == sorted([site.a.host, site.b.host])


def test_an_explicit_base_on_the_build_registry_is_read_with_its_login(site: Site, tmp_path: Path) -> None:
    system_ca, _, _ = make_tls_files(tmp_path / "other-system-ca")
    assert site.b.ca_path is not None
    with httpx.Client(base_url=site.b.url, auth=(PUSH_USER, CANARY), timeout=30,
                      verify=ssl.create_default_context(cafile=str(site.b.ca_path))) as client:
        push_image(client, "ml/tools/buildah", "v1.41", stock_buildah_image(system_ca.read_bytes()))
    dry = run_cli("builder-image", "--backend", "buildah", "--base", f"{site.b.host}/ml/tools/buildah:v1.41",
                  "--dry-run", "--json", env=site.env, timeout=120)
    assert dry.code == 0, dry.output
    result = json.loads(dry.stdout)
    assert result["dry_run"] and not result["pushed"] and result["source"] == f"{site.b.host}/ml/tools/buildah:v1.41"
    assert result["reference"].startswith(f"{site.b.host}/ml/buildah/stable:v1.41-ca-")


def test_an_insecure_build_registry_gets_tls_verify_false_and_buildah_pushes_over_plain_http(
        site: Site, mlrun_server: MLRunServer, registry_factory: Callable[..., RunningRegistry]) -> None:
    plain = registry_factory(auth="htpasswd", htpasswd_users={PUSH_USER: CANARY})
    site.config.write_text(yaml.safe_dump({"active": "builds", "services": {
        "base": {"url": site.a.host, "username": BASE_USER, "password": BASE_PASSWORD},
        "builds": {"url": f"http://{plain.host}/ml", "username": PUSH_USER, "password": CANARY,
                   "pull_from": ["base"], "builder_backend": "buildah"},
    }}))
    public = site.env["MLRUN_REGISTRY_EXT_PLATFORM_SOURCES"].split("http://", 1)[1]
    active = registry.resolve(probe=False)
    stock_image = f"{public}/buildah/stable:latest"  # MLRun's default image: platform-config names none here
    env = {**active.platform_config().mlrun_env, "MLRUN_HTTPDB__BUILDER__BUILDAH_IMAGE": stock_image}
    assert env["MLRUN_HTTPDB__BUILDER__INSECURE_PUSH_REGISTRY_MODE"] == "enabled"
    fn = _function(f"{site.a.host}/base/tiny:1", name="plain")
    target = registry.configure_function(fn, active)
    pod = buildah_pod_for(mlrun_server.build(build_body(fn), env), env)
    assert "--tls-verify=false" in pod.command_line("push") and "--tls-verify=false" in pod.command_line("bud")
    stock = builder_image_files(stock_image, site.tmp / "stock-root")  # no CA of A or B: none needed here
    run = run_build_pod(pod, secrets=_secret_data(site), image_root=stock, workdir=site.tmp / "build")
    assert run.returncode == 0, run.output[-3000:]
    proc = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--creds", f"{PUSH_USER}:{CANARY}",
                           f"docker://{target.image}"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and json.loads(proc.stdout)["Name"] == target.image.rsplit(":", 1)[0], proc.stderr
