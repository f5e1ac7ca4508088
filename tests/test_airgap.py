"""Air-gapped sites: every image the platform pulls by itself comes from the internal registry.

The image list is checked against the installed mlrun client (its config defaults and its own
``enrich_image_url``); the emitted env is fed to a real mlrun process; the copy runs between two real
Debian docker-registry processes on loopback. The "public" registries (docker.io, gcr.io, quay.io) are
one loopback registry that holds the images at their public paths (``library/python``...), reached
through ``MLRUN_REGISTRY_EXT_PLATFORM_SOURCES`` (the documented override for a connected-side mirror);
skopeo then pulls every copy from the internal registry by the exact reference MLRun or Nuclio uses.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mlrun_registry_ext.core.platform_images import (
    MLRUN_DEFAULTS,
    mlrun_defaults_from_config,
    mlrun_image_tag,
    platform_images,
)
from tests.support.env import run_cli
from tests.support.faults import START_UP, ended_by_deadline
from tests.support.images import build_image, build_index, push_image, random_layer, registry_client
from tests.support.registry import RunningRegistry

MLRUN = "1.12.1"
NUCLIO = "1.14.1"


def _config(tmp_path: Path, internal: str, extra: str = "") -> Path:
    path = tmp_path / "registries.yaml"
    path.write_text(f"""
active: builds
services:
  builds:
    url: registry.example.com/team
  internal:
    url: {internal}
    role: system
    platform_images: true
{extra}""")
    return path


def _env_lines(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key] = value.strip("'")
    return out


# --- what the list is -------------------------------------------------------------------------------
def test_image_list_uses_the_installed_mlrun_defaults_and_the_tags_mlrun_asks_for() -> None:
    from mlrun.config import default_config
    from mlrun.utils.helpers import enrich_image_url

    assert mlrun_defaults_from_config(default_config) == dict(MLRUN_DEFAULTS)
    sources = {image.source for image in platform_images(MLRUN, NUCLIO)}
    for image in ("mlrun/mlrun", "mlrun/mlrun-kfp"):
        assert f"docker.io/{enrich_image_url(image, MLRUN, '3.11')}" in sources
    builder = default_config["httpdb"]["builder"]
    assert f"docker.io/library/{builder['kaniko_init_container_image']}" in sources
    assert f"docker.io/{builder['kaniko_aws_cli_image']}" in sources
    assert builder["kaniko_image"] in sources
    assert f"quay.io/nuclio/handler-builder-python-onbuild:{NUCLIO}-amd64" in sources
    assert "docker.io/library/python:3.11" in sources and "docker.io/library/busybox:stable" in sources
    # the same tag rules as mlrun's own, where they differ by version and Python
    for version, python in (("1.10.2", "3.9"), ("1.9.1", "3.9"), ("1.8.0", "3.9"), ("1.11.0", "3.9")):
        for image in ("mlrun/mlrun", "mlrun/mlrun-kfp"):
            assert f"{image}:{mlrun_image_tag(image, version, python)}" == enrich_image_url(image, version, python)


def test_emitted_env_makes_the_real_mlrun_client_resolve_every_image_on_the_internal_registry(
        tmp_path: Path) -> None:
    config = _config(tmp_path, "registry.corp:5000/platform")
    result = run_cli("platform-config", env={"MLRUN_REGISTRY_EXT_CONFIG": str(config)})
    assert result.code == 0, result.output
    env = {k: v for k, v in _env_lines(result.stdout).items() if k.startswith("MLRUN_") and "DOCKER_REGISTRY" not in
           k and "INSECURE" not in k}
    script = (
        "import json, mlrun\n"
        "from mlrun.utils.helpers import enrich_image_url as e\n"
        "b = mlrun.mlconf.httpdb.builder\n"
        f"print(json.dumps([e('mlrun/mlrun', '{MLRUN}', '3.11'), e('mlrun/mlrun-kfp', '{MLRUN}', '3.11'),"
        " e('python:3.11'), b.kaniko_image, b.kaniko_init_container_image, b.kaniko_aws_cli_image]))\n")
    import os

    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("MLRUN_")},
                               "MLRUN_IGNORE_ENV_FILE": "true", **env})
    assert proc.returncode == 0, proc.stderr[-800:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [
        f"registry.corp:5000/platform/mlrun/mlrun:{MLRUN}",
        f"registry.corp:5000/platform/mlrun/mlrun-kfp:{MLRUN}",
        "registry.corp:5000/platform/python:3.11",
        "registry.corp:5000/platform/kaniko-project/executor:v1.23.2",
        "registry.corp:5000/platform/alpine:3.20",
        "registry.corp:5000/platform/amazon/aws-cli:2.17.16",
    ]


def test_nuclio_gets_base_onbuild_and_kaniko_images_from_the_internal_registry(tmp_path: Path) -> None:
    config = _config(tmp_path, "registry.corp:5000/platform")
    env = run_cli("platform-config", env={"MLRUN_REGISTRY_EXT_CONFIG": str(config)})
    lines = _env_lines(env.stdout)
    assert lines["NUCLIO_DASHBOARD_DEFAULT_BASE_REGISTRY_URL"] == "registry.corp:5000/platform"
    assert lines["NUCLIO_DASHBOARD_DEFAULT_ONBUILD_REGISTRY_URL"] == "registry.corp:5000/platform"
    assert lines["NUCLIO_KANIKO_CONTAINER_IMAGE"] == "registry.corp:5000/platform/kaniko-project/executor:v1.23.2"
    assert lines["NUCLIO_BUSYBOX_CONTAINER_IMAGE"] == "registry.corp:5000/platform/busybox:stable"
    helm = run_cli("platform-config", "--format", "helm", env={"MLRUN_REGISTRY_EXT_CONFIG": str(config)})
    assert helm.code == 0, helm.output
    values = yaml.safe_load(helm.stdout)
    assert values["nuclio"]["registry"]["defaultBaseRegistryURL"] == "registry.corp:5000/platform"
    assert values["nuclio"]["registry"]["defaultOnbuildRegistryURL"] == "registry.corp:5000/platform"
    assert values["nuclio"]["registry"]["kind"] == "offCluster"  # the builds' registry keeps its settings
    assert values["nuclio"]["dashboard"]["kaniko"]["initContainerImage"]["awscli"] == {
        "repository": "registry.corp:5000/platform/amazon/aws-cli", "tag": "2.17.16"}
    assert values["mlrun"]["api"]["extraEnvKeyValue"]["MLRUN_IMAGES_REGISTRY"] == "registry.corp:5000/platform/"


@pytest.mark.parametrize(("services", "field", "words"), [
    ("  internal:\n    url: registry.corp\n    platform_images: true\n", "services.internal.platform_images",
     "role: system"),
    ("  a:\n    url: a.corp\n    role: system\n    platform_images: true\n"
     "  b:\n    url: b.corp\n    role: system\n    platform_images: true\n", "services.b.platform_images",
     "both say platform_images"),
    ("  internal:\n    url: registry.corp\n    role: system\n    platform_images: maybe\n",
     "services.internal.platform_images", "expected a boolean"),
])
def test_a_wrong_platform_images_setting_is_one_line_exit_2(tmp_path: Path, services: str, field: str,
                                                            words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("services:\n" + services)
    result = run_cli("platform-config", env={"MLRUN_REGISTRY_EXT_CONFIG": str(path)})
    assert result.code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and field in result.stderr and words in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_public_source_override_is_one_line_exit_2(tmp_path: Path) -> None:
    config = _config(tmp_path, "registry.corp")
    for value in ("docker.io", "docker.io=ftp://x", "docker.io=http://a,docker.io=http://b"):
        result = run_cli("migrate", "--platform-images", "--dry-run",
                         env={"MLRUN_REGISTRY_EXT_CONFIG": str(config), "MLRUN_REGISTRY_EXT_PLATFORM_SOURCES": value})
        assert result.code == 2, result.output
        assert "MLRUN_REGISTRY_EXT_PLATFORM_SOURCES" in result.stderr and result.stderr.count("\n") == 1


def test_platform_images_refuses_options_it_decides_itself(tmp_path: Path) -> None:
    config = _config(tmp_path, "registry.corp")
    result = run_cli("migrate", "--platform-images", "--to", "https://x.corp",
                     env={"MLRUN_REGISTRY_EXT_CONFIG": str(config)})
    assert result.code == 2 and "--to" in result.stderr and result.stderr.count("\n") == 1


# --- the copy, end to end on loopback -------------------------------------------------------------
def _publish(public: RunningRegistry) -> dict[str, str]:
    """Every platform image of the installed versions at its public path on ``public``; their digests."""
    rng = random.Random(12)
    base = [random_layer(rng, 3000) for _ in range(2)]
    digests = {}
    with registry_client(public.url) as client:
        for number, image in enumerate(platform_images(MLRUN, NUCLIO)):
            own = [random_layer(rng, 2000 + number)]
            if image.path == "python":  # a multi-platform tag, as the real one is
                built = build_index([build_image([*base, *own], oci=True, platform=("linux", arch))
                                     for arch in ("amd64", "arm64")])
            else:
                built = build_image([*base, *own], oci=bool(number % 2))
            push_image(client, image.repository, image.tag, built)
            digests[f"{image.path}:{image.tag}"] = built.digest
    return digests


def _skopeo_digest(reference: str) -> tuple[int, str]:
    proc = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{reference}"],
                          capture_output=True, timeout=60)
    if proc.returncode != 0:
        return proc.returncode, proc.stderr.decode()[-300:]
    import hashlib

    return 0, "sha256:" + hashlib.sha256(proc.stdout).hexdigest()


def test_air_gapped_site_gets_every_platform_image_copied_and_the_doctor_proves_it(
        tmp_path: Path, registry_factory: Callable[..., RunningRegistry]) -> None:
    public, internal = registry_factory(), registry_factory()
    digests = _publish(public)
    base = f"{internal.host}/platform"
    config = _config(tmp_path, f"http://{base}")
    env = {"MLRUN_REGISTRY_EXT_CONFIG": str(config),
           "MLRUN_REGISTRY_EXT_PLATFORM_SOURCES": ",".join(f"{name}=http://{public.host}"
                                                           for name in ("docker.io", "gcr.io", "quay.io"))}

    before = run_cli("doctor", "--images", "--json", env=env)
    assert before.code == 1, before.output
    failed = [c for c in json.loads(before.stdout)["checks"] if not c["ok"]]
    assert len(failed) == len(digests)
    assert all("is missing" in c["detail"] and "mlrun-registry migrate --platform-images" in c["detail"]
               for c in failed)
    assert any(f"{base}/kaniko-project/executor:v1.23.2 is missing" in c["detail"] for c in failed)

    copied = run_cli("migrate", "--platform-images", "--json", env=env, timeout=120)
    assert copied.code == 0, copied.output
    result = json.loads(copied.stdout)
    assert result["ok"]
    assert {r["source"] for r in result["reports"]} == {f"{name} (from http://{public.host})"
                                                        for name in ("docker.io", "gcr.io", "quay.io")}
    assert sum(r["images"]["copied"] for r in result["reports"]) == len(digests)
    for name, digest in digests.items():  # what a kubelet or Kaniko pulls, by the reference MLRun/Nuclio use
        assert _skopeo_digest(f"{base}/{name}") == (0, digest), name

    after = run_cli("doctor", "--images", "--json", env=env)
    assert after.code == 0, after.output
    checks = json.loads(after.stdout)["checks"]
    assert len(checks) == len(digests) + 1 and all(c["ok"] for c in checks)

    again = run_cli("migrate", "--platform-images", "--json", env=env, timeout=120)
    assert again.code == 0, again.output
    reports: list[dict[str, Any]] = json.loads(again.stdout)["reports"]
    assert sum(r["bytes"]["copied"] for r in reports) == 0  # nothing new: every tag already there
    assert sum(r["images"]["skipped"] for r in reports) == len(digests)


def test_doctor_images_is_over_within_its_timeout_when_the_registry_does_not_answer(
        tmp_path: Path, blackhole_host: str) -> None:
    import time

    config = _config(tmp_path, f"http://{blackhole_host}")
    started = time.monotonic()
    result = run_cli("doctor", "--images", "--timeout", "1", "--json",
                     env={"MLRUN_REGISTRY_EXT_CONFIG": str(config)})
    elapsed = time.monotonic() - started
    assert result.code == 1, result.output
    assert ended_by_deadline(elapsed, 1, start_up=START_UP)  # a blackhole never answers
    checks = json.loads(result.stdout)["checks"]
    assert all(not c["ok"] for c in checks[1:]) and len(checks) == len(platform_images(MLRUN, NUCLIO)) + 1


# --- the override's parser ------------------------------------------------------------------------
@given(st.text(max_size=120))
@settings(max_examples=300, deadline=None)
def test_any_public_sources_text_is_read_or_refused_in_one_line(text: str) -> None:
    from mlrun_registry_ext.core.platform_images import parse_source_overrides
    from mlrun_registry_ext.errors import ConfigError

    try:
        parsed = parse_source_overrides(text)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("MLRUN_REGISTRY_EXT_PLATFORM_SOURCES")
    else:
        assert all(name == name.lower() and url for name, url in parsed.items())


@given(st.from_regex(r"([a-z0-9.-]{1,20}(:[0-9]{2,5})?/)?[a-z0-9._/-]{1,30}(:[A-Za-z0-9._-]{1,20})?", fullmatch=True))
@settings(max_examples=300, deadline=None)
def test_a_public_reference_keeps_its_path_and_tag_on_the_internal_registry(reference: str) -> None:
    from mlrun_registry_ext.core.platform_images import PlatformImage, split_public

    registry, repository, tag = split_public(reference)
    image = PlatformImage("test", registry, repository, tag)
    internal = image.internal("registry.corp:5000/platform")
    assert internal.startswith("registry.corp:5000/platform/") and internal.endswith(f":{tag}")
    if registry == "docker.io":
        assert not image.path.startswith("library/")
