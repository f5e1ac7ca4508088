"""The Buildah builder image's layer (pure): trust store, certs.d, registries.conf, tag; CLI input errors.

The pushed image and real builds with it: tests/test_buildah_real.py.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest
import tomllib  # novermin: this module runs on Python 3.11+ only (scripts/test-pythons.sh leaves it out)
from hypothesis import given, settings
from hypothesis import strategies as st

from mlrun_registry_ext.core.builder_image import (
    CERTS_D,
    REGISTRIES_CONF,
    TRUST_ANCHOR,
    TRUST_BUNDLE,
    builder_layer,
    builder_tag,
    registries_conf,
)
from mlrun_registry_ext.core.kaniko_ca import CA_FILE, ca_tag
from mlrun_registry_ext.core.manifest import sha256_digest
from tests.support.env import run_cli

SYSTEM = b"-----BEGIN CERTIFICATE-----\nSYSTEM\n-----END CERTIFICATE-----\n"
CA = b"-----BEGIN CERTIFICATE-----\nCORP\n-----END CERTIFICATE-----\n"
FEDORA = 'unqualified-search-registries = ["registry.fedoraproject.org", "docker.io"]\nshort-name-mode = "enforcing"\n'

hosts = st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z]{2,5}){1,2}(:[1-9][0-9]{2,4})?", fullmatch=True)


def _files(layer_data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer_data)), mode="r:") as tar:
        out = {}
        for member in tar:
            assert member.isfile() and member.uid == 0 and member.mtime == 0
            handle = tar.extractfile(member)
            assert handle is not None
            out[member.name] = handle.read()
        return out


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["docker.io", "quay.io", "ghcr.io"]), st.lists(hosts, min_size=1, max_size=3),
                       max_size=3),
       st.sampled_from(["", FEDORA, FEDORA + '\n[aliases]\n"fedora" = "registry.fedoraproject.org/fedora"\n']))
def test_registries_conf_keeps_the_base_and_adds_each_mirror_in_order(mirrors: dict[str, list[str]], base: str) -> None:
    text = registries_conf(base, mirrors)
    doc = tomllib.loads(text)  # valid TOML, whatever the base ended with
    if base:
        assert doc["short-name-mode"] == "enforcing"
    tables = {entry["prefix"]: entry for entry in doc.get("registry", [])}
    assert sorted(tables) == sorted(mirrors)
    for prefix, locations in mirrors.items():
        assert tables[prefix]["location"] == prefix
        assert [m["location"] for m in tables[prefix]["mirror"]] == locations
    assert registries_conf(base, mirrors) == text


def test_a_prefix_the_base_already_configures_is_refused() -> None:
    base = '[[registry]]\nprefix = "docker.io"\nlocation = "docker.io"\n'
    with pytest.raises(ValueError, match=r"docker\.io"):
        registries_conf(base, {"docker.io": ["mirror.corp:5000"]})


def test_the_buildah_layer_holds_the_trust_store_the_anchor_certs_d_and_registries_conf() -> None:
    mirrors = {"docker.io": ("mirror.corp:5000/hub",)}
    layer = builder_layer("buildah", SYSTEM, CA, {"registry.corp:5000": CA}, FEDORA, mirrors)
    files = _files(layer.data)
    assert files[TRUST_BUNDLE] == SYSTEM + CA and files[TRUST_ANCHOR] == CA
    assert files[f"{CERTS_D}/registry.corp:5000/ca.crt"] == CA
    conf = tomllib.loads(files[REGISTRIES_CONF].decode())
    assert conf["registry"][0]["mirror"] == [{"location": "mirror.corp:5000/hub"}]
    assert layer == builder_layer("buildah", SYSTEM, CA, {"registry.corp:5000": CA}, FEDORA, mirrors)  # same digest
    assert layer.diff_id == sha256_digest(gzip.decompress(layer.data))
    mirror_only = _files(builder_layer("buildah", SYSTEM, b"", {}, FEDORA, mirrors).data)
    assert sorted(mirror_only) == [REGISTRIES_CONF]  # no CA: the trust store stays the image's
    assert _files(builder_layer("kaniko", SYSTEM, CA, {}, None, {}).data) == {CA_FILE: SYSTEM + CA}


def test_the_tag_follows_the_ca_and_the_mirrors_and_kaniko_keeps_its_old_tag() -> None:
    assert builder_tag("kaniko", "v1.23.2", CA, {}) == ca_tag("v1.23.2", CA)
    tags = {builder_tag("buildah", "latest", ca, mirrors)
            for ca in (CA, SYSTEM) for mirrors in ({}, {"docker.io": ["a.corp"]}, {"docker.io": ["b.corp"]})}
    assert len(tags) == 6 and all(tag.startswith("latest-ca-") for tag in tags)


def test_builder_image_without_a_ca_or_mirror_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "registries.yaml"
    path.write_text("active: builds\nservices:\n  builds: {url: registry.example.com/ml}\n")
    result = run_cli("builder-image", "--backend", "buildah", env={"MLRUN_REGISTRY_EXT_CONFIG": str(path)})
    assert result.code == 2 and "ca_bundle" in result.stderr and "mirror" in result.stderr, result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    wrong = run_cli("builder-image", "--backend", "docker", env={"MLRUN_REGISTRY_EXT_CONFIG": str(path)})
    assert wrong.code == 2 and "kaniko" in wrong.stderr and "buildah" in wrong.stderr
