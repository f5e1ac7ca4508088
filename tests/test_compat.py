"""The spellings that let Python 3.9 run the package behave as the 3.10/3.11 features they stand for
(scripts/test-pythons.sh runs this file under 3.9 and 3.13, the main suite under 3.11)."""

from __future__ import annotations

import dataclasses
import json
import pickle

import pytest

from mlrun_registry_ext.core.compat import zip_strict
from mlrun_registry_ext.core.location import RegistryLocation
from mlrun_registry_ext.core.providers.base import Provider
from mlrun_registry_ext.core.targets import PushTarget
from mlrun_registry_ext.features.migrate.report import TagResult


def test_a_provider_is_its_value_as_text_in_output_json_and_comparisons() -> None:
    assert str(Provider.ECR) == f"{Provider.ECR}" == "ecr"
    assert f"[{Provider.ON_CLUSTER:>12}]" == "[  on-cluster]"
    assert json.dumps({"provider": Provider.GHCR}) == '{"provider": "ghcr"}'
    assert Provider("dockerhub") is Provider.DOCKERHUB and Provider.DOCKERHUB == "dockerhub"


def test_records_have_no_per_instance_dict_and_stay_frozen_and_comparable() -> None:
    result = TagResult("team/app:1", "ecr/team/app:1")
    assert not hasattr(result, "__dict__")  # one per tag in a migration: slots keep them small
    result.status = "copied"
    with pytest.raises(AttributeError):
        result.extra = 1  # type: ignore[attr-defined]
    location = RegistryLocation("ghcr.io", "acme")
    assert not hasattr(location, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        location.host = "quay.io"  # type: ignore[misc]
    assert location == RegistryLocation("ghcr.io", "acme") and location.provider == Provider.GHCR
    assert pickle.loads(pickle.dumps(location)) == location


def test_push_targets_are_made_with_keywords_only() -> None:
    with pytest.raises(TypeError):
        PushTarget("proj", "fn", "job", "mlrun", "latest", "img", "reg", "repo", None, None, "src")  # type: ignore[misc]
    target = PushTarget(project="proj", function="fn", kind="job", builder="mlrun", tag="latest", image="img",
                        registry="reg", repository="repo", secret=None, pull_secret=None, source="src")
    assert target.notes == () and not hasattr(target, "__dict__")


def test_zip_strict_pairs_equal_lengths_and_refuses_unequal_ones() -> None:
    assert list(zip_strict("ab", [1, 2])) == [("a", 1), ("b", 2)]
    for first, second in (("ab", [1]), ("a", [1, 2])):
        with pytest.raises(ValueError):
            list(zip_strict(first, second))


@pytest.mark.parametrize(("created", "expected"), [
    ("2024-05-01T12:34:56Z", "2024-05-01T12:34:56+00:00"),
    ("2024-05-01T12:34:56.1Z", "2024-05-01T12:34:56.100000+00:00"),
    ("2024-05-01T12:34:56.12345Z", "2024-05-01T12:34:56.123450+00:00"),
    ("2024-05-01T12:34:56.123456789Z", "2024-05-01T12:34:56.123456+00:00"),
    ("2024-05-01T14:34:56.5+02:00", "2024-05-01T14:34:56.500000+02:00"),
    ("2024-05-01T12:34:56", "2024-05-01T12:34:56+00:00"),
    ("1970-01-01T00:00:00Z", None),  # a reproducible build's placeholder
    ("yesterday", None),
])
def test_image_creation_dates_as_go_writes_them_parse_on_every_python(created: str, expected: str | None) -> None:
    from mlrun_registry_ext.core.prune_plan import parse_created

    when = parse_created(created)
    assert (when.isoformat() if when else None) == expected
