"""Version gates: MLRun >= 1.0.5 and Nuclio >= 1.10.0 for an external registry."""

from __future__ import annotations

import pytest

from mlrun_registry_ext import VersionGateError
from mlrun_registry_ext.core.versions import ComponentVersion, check_gates, is_dev_label, parse_version


@pytest.mark.parametrize("raw", ["1.0.5", "1.0.5+build.7", "1.12.1", "v1.7.0", "2.0.0-rc1"])
def test_mlrun_at_or_above_gate_passes(raw: str) -> None:
    assert check_gates("x.io", True, [ComponentVersion("mlrun", raw, "test"),
                                      ComponentVersion("nuclio", "1.14.1", "test")]) == []


@pytest.mark.parametrize("raw", ["1.0.4", "1.0.5-rc3", "1.0.5rc3", "0.10.1"])
def test_mlrun_below_gate_refused_with_one_clear_message(raw: str) -> None:
    with pytest.raises(VersionGateError) as info:
        check_gates("ghcr.io/acme", True, [ComponentVersion("mlrun", raw, "the MLRun server at http://api")])
    message = str(info.value)
    assert f"MLRun {raw}" in message and "1.0.5" in message and "upgrade MLRun" in message
    assert "http://api" in message and "ghcr.io/acme" in message


@pytest.mark.parametrize(("raw", "ok"), [("1.9.9", False), ("1.10.0-rc3", False), ("1.10.0", True),
                                         ("1.10.0+build", True), ("1.14.1", True)])
def test_nuclio_gate(raw: str, ok: bool) -> None:
    versions = [ComponentVersion("mlrun", "1.12.1", "t"), ComponentVersion("nuclio", raw, "the dashboard")]
    if ok:
        assert check_gates("x.io", True, versions) == []
    else:
        with pytest.raises(VersionGateError, match="Nuclio"):
            check_gates("x.io", True, versions)


@pytest.mark.parametrize("raw", ["unstable", "latest", "0.0.0+unstable", "1.7.0-unstable"])
def test_dev_labels_pass_with_a_warning(raw: str) -> None:
    assert is_dev_label(raw)
    warnings = check_gates("x.io", True, [ComponentVersion("mlrun", raw, "t"), ComponentVersion("nuclio", raw, "t")])
    assert len(warnings) == 2 and all("development build" in w for w in warnings)


def test_unknown_version_is_a_warning_not_a_refusal() -> None:
    warnings = check_gates("x.io", True, [])
    assert len(warnings) == 2 and all("unknown" in w for w in warnings)


def test_on_cluster_is_not_gated() -> None:
    assert check_gates("docker-registry:80", False, [ComponentVersion("mlrun", "0.9.0", "t")]) == []


def test_parse_handles_semver_and_pep440() -> None:
    assert parse_version("1.10.0-rc3") == parse_version("1.10.0rc3")
    assert parse_version("not-a-version") is None
