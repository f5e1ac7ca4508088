"""Nuclio's image naming: Go's url.Parse decides ``nuclio/``, the prefix template and the tag follow Nuclio.

The expected paths below are what Go's own ``net/url.Parse`` returned for each string (go1.19 on this
machine, a scratch program outside the repository; Nuclio's go.mod names Go 1.21, whose parser is the
same in these respects). Expected images follow nuclio/nuclio at 9e837f6 (``pkg/processor/build/
builder.go`` ``getImage``, ``pkg/platform/abstract/platform.go`` ``enrichImageName``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import mlrun_registry_ext as registry
from mlrun_registry_ext import RegistryService
from mlrun_registry_ext.core import gourl
from mlrun_registry_ext.core.targets import NUCLIO_TAG_NOT_APPLIED, nuclio_repository
from mlrun_registry_ext.features.nuclio_hooks import apply_to_config
from tests.support.standins import NuclioDashboardStandIn, go_url_has_path

pytestmark = pytest.mark.timeout(60)

TEMPLATE = "{{ .ProjectName }}-{{ .FunctionName }}-"

# (string, Path from Go's url.Parse or None where Go returns an error)
GO_PARSE = [
    ("registry.example.com", "registry.example.com"),
    ("registry.example.com:5000", ""),
    ("registry.example.com:5000/team", ""),
    ("ghcr.io/acme", "ghcr.io/acme"),
    ("10.0.0.5:5000/x", None),
    ("10.0.0.5:5000", None),
    ("localhost:5000", ""),
    ("localhost", "localhost"),
    ("https://registry.example.com", ""),
    ("https://registry.example.com/team", "/team"),
    ("http://registry.example.com:80/team", "/team"),
    ("docker-registry.default-tenant.svc:80", ""),
    ("registry.example.com/team/", "registry.example.com/team/"),
    ("", ""),
    ("//registry.example.com/team", "/team"),
    ("registry.example.com?x", "registry.example.com"),
    ("host:port/x", ""),
    ("a b", "a b"),
    ("%zz", None),
    ("1host:5000", None),
]


@pytest.mark.parametrize(("raw", "path"), GO_PARSE)
def test_go_url_parse_port_matches_go(raw: str, path: str | None) -> None:
    assert gourl.parsed_path(raw) == path
    assert nuclio_repository(raw) == ("" if path else "nuclio/")
    assert go_url_has_path(raw) == bool(path)  # the dashboard stand-in's own reading agrees with Go too


@given(st.text(alphabet=st.sampled_from(list("aZ09.:/-_@%#?[]+~ ")), max_size=30))
def test_go_url_parse_never_raises_anything_else(raw: str) -> None:
    with contextlib.suppress(gourl.GoURLError):
        gourl.parse(raw)


@given(st.from_regex(r"\A[a-z][a-z0-9-]{0,10}(\.[a-z0-9-]{1,8}){1,3}(/[a-z0-9]{1,6}){0,3}\Z"))
def test_a_registry_without_port_or_scheme_is_a_path_to_go(raw: str) -> None:
    assert gourl.parsed_path(raw) == raw  # so Nuclio never adds nuclio/ to it


@given(st.from_regex(r"\A[a-z][a-z0-9.-]{0,20}:[0-9]{1,5}(/[a-z0-9]{1,6}){0,3}\Z"))
def test_a_registry_with_a_port_gets_nuclio_repository(raw: str) -> None:
    assert nuclio_repository(raw) == "nuclio/"


@pytest.fixture
def handler_file(tmp_path: Path) -> Path:
    path = tmp_path / "echo.py"
    path.write_text("def handler(context, event):\n    return event.body\n")
    return path


# (service URL, dashboard registry, dashboard prefix template, image prefix, tag, pushed image)
TABLE = [
    ("registry.example.com", "", "", "", None, "registry.example.com/processor-echo:latest"),
    ("registry.example.com:5000", "", "", "", None, "registry.example.com:5000/nuclio/processor-echo:latest"),
    ("registry.example.com:5000/team", "", "", "", None,
     "registry.example.com:5000/team/nuclio/processor-echo:latest"),
    ("ghcr.io/acme", "", "", "", None, "ghcr.io/acme/processor-echo:latest"),
    ("10.0.0.5:5000/x", "", "", "", None, "10.0.0.5:5000/x/nuclio/processor-echo:latest"),
    ("localhost:5000", "", "", "", None, "localhost:5000/nuclio/processor-echo:latest"),
    ("https://registry.example.com", "", "", "", None, "registry.example.com/processor-echo:latest"),
    ("http://registry.example.com:80/team", "", "", "", None,
     "registry.example.com:80/team/nuclio/processor-echo:latest"),
    ("registry.example.com", "", TEMPLATE, "", None, "registry.example.com/demo-echo-processor:latest"),
    ("registry.example.com:5000", "", TEMPLATE, "", None,
     "registry.example.com:5000/nuclio/demo-echo-processor:latest"),
    ("registry.example.com", "", "", "", "v2", "registry.example.com/processor-echo:v2"),
    ("registry.example.com:5000", "", "", "", "v2", "registry.example.com:5000/nuclio/processor-echo:v2"),
    ("registry.example.com", "", TEMPLATE, "", "v2", "registry.example.com/demo-echo-processor:v2"),
    # a template replaces nuclio/ once spec.build.image is set: the tag is left off rather than move it
    ("registry.example.com:5000", "", TEMPLATE, "", "v2",
     "registry.example.com:5000/nuclio/demo-echo-processor:latest"),
    ("registry.example.com:5000", "", "", "ml-", None, "registry.example.com:5000/nuclio/ml-processor-echo:latest"),
    ("registry.example.com/team", "", TEMPLATE, "ml-", None, "registry.example.com/team/demo-echo-ml-processor:latest"),
    (".", "docker-registry.default-tenant.svc:80", "", "", None,
     "docker-registry.default-tenant.svc:80/nuclio/processor-echo:latest"),
    (".", "docker-registry.default-tenant.svc:80", "", "", "v2",
     "docker-registry.default-tenant.svc:80/nuclio/processor-echo:v2"),
    (".", "registry.example.com/team", "", "", None, "registry.example.com/team/processor-echo:latest"),
    (".", "docker-registry.default-tenant.svc:80", TEMPLATE, "ml-", None,
     "docker-registry.default-tenant.svc:80/demo-echo-ml-processor:latest"),
]


@pytest.mark.parametrize(("url", "dashboard_registry", "template", "prefix", "tag", "pushed"), TABLE)
def test_predicted_nuclio_image_is_where_the_dashboard_pushes(
        nuclio_dashboard: NuclioDashboardStandIn, handler_file: Path, monkeypatch: pytest.MonkeyPatch,
        url: str, dashboard_registry: str, template: str, prefix: str, tag: str | None, pushed: str) -> None:
    import nuclio

    nuclio_dashboard.image_name_prefix_template = template
    nuclio_dashboard.registry_url = dashboard_registry
    if dashboard_registry:
        monkeypatch.setenv("NUCLIO_DASHBOARD_REGISTRY_URL", dashboard_registry)
    service = RegistryService(url=url, image_prefix=prefix)
    target = registry.nuclio.nuclio_target("echo", "demo", service, tag=tag)
    _, config, _ = nuclio.build_file(str(handler_file), name="echo")  # the real nuclio-jupyter config
    apply_to_config(config, target)
    config["metadata"].setdefault("labels", {})["nuclio.io/project-name"] = "demo"
    dashboard_registry_used, image = nuclio_dashboard.push_target(config)
    assert f"{dashboard_registry_used.rstrip('/')}/{image}" == pushed
    assert target.image == pushed
    if pushed.endswith(":latest") and tag:
        assert target.has_note(NUCLIO_TAG_NOT_APPLIED)


def test_a_tag_keeps_the_function_in_its_repository() -> None:
    for url in ("registry.example.com", "registry.example.com:5000", "ghcr.io/acme", "10.0.0.5:5000/x"):
        service = RegistryService(url=url)
        latest = registry.target("demo", "echo", "nuclio", None, service).image
        tagged = registry.target("demo", "echo", "nuclio", "v2", service).image
        # MLRun names the Nuclio function demo-echo-v2; only that name and the tag differ
        assert tagged.rsplit(":", 1)[0] == latest.rsplit(":", 1)[0] + "-v2"
