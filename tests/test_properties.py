"""Property-based tests: every input to the parsers gives a valid reference or a clear ConfigError."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlrun_registry_ext import ConfigError, RegistryService
from mlrun_registry_ext.core.location import parse_location, parse_registry_url
from mlrun_registry_ext.core.reference import (
    MAX_NAME_LENGTH,
    REPOSITORY_RE,
    TAG_RE,
    parse_reference,
)
from mlrun_registry_ext.core.targets import push_target

#: Every kind MLRun or Nuclio builds, written out (not the product's list).
ALL_KINDS = ("job", "mpijob", "spark", "dask", "databricks", "remote-spark", "application", "nuclio", "serving",
             "remote")
FIELD_MESSAGE = re.compile(r"^[\w.\[\]\- ():/]+: \S.*$")
texty = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)
component = st.from_regex(r"\A[a-z0-9]{1,6}([._-][a-z0-9]{1,6}){0,2}\Z")
host = st.one_of(
    st.sampled_from(["ghcr.io", "quay.io", "localhost:5000", "registry.example.com", "[::1]:5000",
                     "123456789012.dkr.ecr.us-east-1.amazonaws.com", "myacr.azurecr.io", "gcr.io",
                     "docker-registry.default-tenant.app.example.com:80"]),
    st.from_regex(r"\A[a-z][a-z0-9-]{0,10}\.[a-z]{2,5}(:[1-9][0-9]{1,3})?\Z"),
)
path = st.lists(component, min_size=0, max_size=3).map("/".join)


def assert_clear(error: ConfigError) -> None:
    text = str(error)
    assert "\n" not in text and error.field
    assert "Traceback" not in text


def assert_valid_target(image: str) -> None:
    ref = parse_reference(image.lstrip("."))
    assert REPOSITORY_RE.match(ref.repository)
    assert ref.tag is None or TAG_RE.match(ref.tag)
    assert len(ref.name) <= MAX_NAME_LENGTH


@given(texty)
def test_any_url_text_parses_or_fails_clearly(text: str) -> None:
    try:
        host_part, path_part, _ = parse_registry_url(text)
    except ConfigError as error:
        assert_clear(error)
        return
    assert host_part == host_part.lower()
    assert not path_part or REPOSITORY_RE.match(path_part)


@given(host, path, st.sampled_from(["https://", "http://", ""]))
def test_valid_urls_round_trip(host_text: str, path_text: str, scheme: str) -> None:
    url = f"{scheme}{host_text}/{path_text}" if path_text else f"{scheme}{host_text}"
    try:
        service = RegistryService(url=url)
    except ConfigError as error:  # provider rules (Docker Hub, ECR) may still refuse
        assert_clear(error)
        return
    assert service.host == host_text.lower()
    assert service.path == path_text
    assert service.insecure is (scheme == "http://")


@given(host, path, st.sampled_from(["https://", "http://", ""]))
def test_the_service_and_the_pure_location_agree(host_text: str, path_text: str, scheme: str) -> None:
    url = f"{scheme}{host_text}/{path_text}" if path_text else f"{scheme}{host_text}"
    try:
        location = parse_location(url)
    except ConfigError as grammar:  # not a registry URL at all: the service says the same
        with pytest.raises(ConfigError) as refused:
            RegistryService(url=url)
        assert str(refused.value) == str(grammar)
        return
    try:
        service = RegistryService(url=url)
    except ConfigError as error:  # a provider rule: the location refuses it with the same words
        with pytest.raises(ConfigError) as pure:
            location.check_naming("url")
        assert str(pure.value) == str(error)
        return
    location.check_naming("url")
    assert service.location == location
    assert (service.host, service.path, service.scheme, service.provider) == \
        (location.host, location.path, location.scheme, location.provider)
    assert location.display == f"{service.scheme}://{service.url}"


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=150)
@given(host, path, texty, texty, texty, st.sampled_from(ALL_KINDS), st.one_of(st.none(), texty))
def test_any_prefix_project_function_tag_gives_valid_target_or_clear_error(
    host_text: str, path_text: str, prefix: str, project: str, function: str, kind: str, tag: str | None
) -> None:
    url = f"{host_text}/{path_text}" if path_text else host_text
    try:
        service = RegistryService(url=url, image_prefix=prefix)
        target = push_target(service, project, function, kind, tag)
    except ConfigError as error:
        assert_clear(error)
        return
    assert_valid_target(target.image)
    if target.nuclio:
        assert "://" not in str(target.nuclio.get("spec.build.registry", ""))


@given(st.from_regex(r"\A[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,2}\Z"), component, st.from_regex(r"\A[a-z0-9]{1,5}-\Z"))
def test_well_formed_inputs_always_give_targets(project: str, function: str, prefix: str) -> None:
    service = RegistryService(url="registry.example.com/team", image_prefix=prefix)
    for kind in ALL_KINDS:
        target = push_target(service, project, function, kind)
        assert_valid_target(target.image)
        assert prefix in target.image


@given(texty)
def test_any_reference_text_parses_or_fails_clearly(text: str) -> None:
    try:
        ref = parse_reference(text)
    except ConfigError as error:
        assert_clear(error)
        return
    assert str(parse_reference(str(ref))) == str(ref)
