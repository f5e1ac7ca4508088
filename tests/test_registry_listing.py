"""Bounded registry listings: a catalog or a tag listing that never ends stops at a cap with a one-line
error naming it, for the client, prune and migrate alike; a ``Link`` to another origin is refused.

The endless registry is a stand-in (tests/support/listing.py): no real registry can be made to list
forever. What the client read is asserted on the names the stand-in served, not on a wall time.
"""

from __future__ import annotations

from typing import Any

import pytest

from mlrun_registry_ext.clients.registry import (
    ListingError,
    ListingLimitError,
    ListingLinkError,
    RegistryClient,
)
from mlrun_registry_ext.clients.registry import client as client_module
from mlrun_registry_ext.clients.registry.client import RetryPolicy
from mlrun_registry_ext.errors import RegistryAPIError, RegistryExtError
from tests.support.env import cli_json
from tests.support.listing import MAX_ENTRIES, ListingRegistry
from tests.support.registry import RunningRegistry
from tests.support.standins import MLRunAPIStandIn, NuclioDashboardStandIn, RecordedRequest

CAP = client_module.MAX_LISTING_ITEMS


def _client(registry: ListingRegistry) -> RegistryClient:
    return RegistryClient(registry.host, insecure=True)


def _endpoint(registry: ListingRegistry, **caps: Any) -> RegistryClient:
    """The client as migrate and prune make it: with retries and its own listing caps."""
    client = RegistryClient(registry.host, insecure=True, retry=RetryPolicy(attempts=2, base_delay=0.01))
    client.listing_caps.update(caps)
    return client


# --- the client --------------------------------------------------------------------------------------

def test_an_endless_tag_listing_stops_at_the_item_cap_having_read_no_more_than_the_cap() -> None:
    with ListingRegistry(endless_tags=frozenset({"team/app"})) as registry, _client(registry) as client, \
            pytest.raises(ListingLimitError) as caught:
        client.tags("team/app")
    error = caught.value
    assert error.limit == "max_items" and error.repository == "team/app"
    assert error.items <= CAP
    # memory stays bounded: the client asked for no page beyond the one that passed the cap
    assert registry.served <= CAP + MAX_ENTRIES
    assert error.exit_code == 1 and isinstance(error, RegistryAPIError)
    message = str(error)
    assert "\n" not in message and "max_items" in message and "team/app" in message and f"{CAP}" in message


def test_defaults_allow_a_hundred_thousand_tags_a_legitimately_big_repository() -> None:
    assert client_module.MAX_LISTING_ITEMS >= 100_000
    assert client_module.MAX_LISTING_PAGES * 100 >= 100_000  # a registry paging by 100 despite n=1000
    assert client_module.MAX_LISTING_SECONDS >= 60


@pytest.mark.parametrize(("caps", "limit", "served_at_most"), [
    ({"max_pages": 3}, "max_pages", 3 * MAX_ENTRIES),
    ({"max_items": 2500}, "max_items", 3 * MAX_ENTRIES),
    ({"max_seconds": 0.0}, "max_seconds", 0),
])
def test_each_cap_is_a_keyword_argument_and_the_error_names_it(caps: dict[str, Any], limit: str,
                                                                served_at_most: int) -> None:
    with ListingRegistry(endless_tags=frozenset({"team/app"})) as registry, _client(registry) as client, \
            pytest.raises(ListingLimitError) as caught:
        client.tags("team/app", **caps)
    assert caught.value.limit == limit and limit in str(caught.value)
    assert registry.served <= served_at_most


def test_the_time_cap_covers_every_page_together() -> None:
    with ListingRegistry(endless_tags=frozenset({"team/app"})) as registry, _client(registry) as client, \
            pytest.raises(ListingLimitError) as caught:
        client.tags("team/app", max_seconds=0.5, max_items=10**9, max_pages=10**9)
    assert caught.value.limit == "max_seconds" and "0.5 s" in str(caught.value)
    assert caught.value.pages > 0 and registry.served <= (caught.value.pages + 1) * MAX_ENTRIES


def test_the_module_constants_are_the_defaults_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "MAX_LISTING_PAGES", 2)
    with ListingRegistry(endless_catalog=True) as registry, _client(registry) as client, \
            pytest.raises(ListingLimitError, match="max_pages"):
        client.catalog()
    assert registry.pages == 2


def test_an_endless_catalog_stops_at_the_cap_also_with_retries() -> None:
    with ListingRegistry(endless_catalog=True) as registry, _endpoint(registry) as endpoint:
        with pytest.raises(ListingLimitError) as caught:
            endpoint.catalog()
        assert caught.value.limit == "max_items" and "catalog" in str(caught.value)
        # a stopped catalog is never read as "this registry has no catalog"
        with pytest.raises(ListingLimitError):
            endpoint.repositories(required=False)
    assert registry.served <= 2 * (CAP + MAX_ENTRIES)


def test_a_clients_own_caps_bound_every_listing_it_makes() -> None:
    with ListingRegistry(endless_tags=frozenset({"team/app"})) as registry, \
            _endpoint(registry, max_pages=4) as endpoint, pytest.raises(ListingLimitError, match="max_pages"):
        endpoint.tags("team/app")
    assert registry.pages == 4


def test_a_link_to_another_origin_is_refused_and_never_followed() -> None:
    with ListingRegistry() as elsewhere, \
            ListingRegistry(endless_tags=frozenset({"team/app"}), link_origin=elsewhere.url) as registry, \
            _client(registry) as client, pytest.raises(ListingLinkError) as caught:
        client.tags("team/app")
    assert caught.value.limit == "origin" and elsewhere.url.removeprefix("http://") in str(caught.value)
    assert registry.pages == 1 and not elsewhere.requests


@pytest.mark.parametrize("spelling", ["http://LOCALHOST:{port}", "http://127.0.0.1:{port}"])
def test_a_link_to_the_same_origin_spelled_otherwise_is_followed(spelling: str) -> None:
    with ListingRegistry(endless_tags=frozenset({"team/app"})) as registry:
        registry.link_origin = spelling.format(port=registry.port)
        host = "localhost" if "LOCALHOST" in spelling else "127.0.0.1"
        with RegistryClient(f"{host}:{registry.port}", insecure=True) as client, \
                pytest.raises(ListingLimitError, match="max_pages"):
            client.tags("team/app", max_pages=3)
    assert registry.pages == 3


def test_a_link_back_to_a_page_already_read_is_a_loop_not_the_end() -> None:
    def looping(request: RecordedRequest) -> tuple[int, Any, dict[str, str]]:
        return 200, {"repositories": ["a"]}, {"Link": '</v2/_catalog?n=1000>; rel="next"'}

    with ListingRegistry() as registry, _client(registry) as client:
        registry.route("GET", r"/v2/_catalog", looping)
        with pytest.raises(ListingLinkError) as caught:
            client.catalog()
    assert caught.value.limit == "loop"


@pytest.mark.parametrize("body", [{"tags": "v1"}, {"tags": [1, 2]}, {"name": "team/app"}, ["v1"], "not json"])
def test_a_garbled_page_is_an_error_never_an_empty_listing(body: Any) -> None:
    def garbled(request: RecordedRequest, name: str) -> tuple[int, Any, dict[str, str]]:
        return 200, body, {}

    with ListingRegistry() as registry, _client(registry) as client:
        registry.route("GET", r"/v2/(?P<name>.+)/tags/list", garbled)
        with pytest.raises(RegistryAPIError, match="'tags' list of names; not read as empty"):
            client.tags("team/app")


def test_a_null_tag_list_is_an_empty_repository_as_distribution_writes_it() -> None:
    with ListingRegistry(tags={"team/app": None}) as registry, _client(registry) as client:  # type: ignore[dict-item]
        assert client.tags("team/app") == []


def test_a_real_registry_lists_every_page(registry_anonymous: RunningRegistry) -> None:
    from tests.support import images as im

    im.push_all(registry_anonymous.url, im.image_set(count=3, with_index=False))
    with RegistryClient(registry_anonymous.host, insecure=True) as client:
        repositories = client.catalog(n=1)  # one name a page: every Link followed
        assert repositories == sorted(repositories) and len(repositories) >= 1
        assert client.catalog(n=1, max_pages=len(repositories)) == repositories  # the last page has no Link
        for repository in repositories:
            assert client.tags(repository)


# --- prune and migrate ------------------------------------------------------------------------------



@pytest.fixture
def platform(mlrun_api: MLRunAPIStandIn, nuclio_dashboard: NuclioDashboardStandIn) -> MLRunAPIStandIn:
    mlrun_api.projects["p1"] = {"metadata": {"name": "p1"}, "spec": {}, "status": {"state": "online"}}
    return mlrun_api


def test_prune_dry_run_on_an_endless_catalog_stops_with_one_line_naming_the_cap(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], platform: MLRunAPIStandIn) -> None:
    with ListingRegistry(endless_catalog=True) as registry:
        monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", registry.url)
        code, out, err = cli_json(["prune", "--dry-run", "--json"], capsys)
    assert code == 1 and not out
    assert err.count("\n") == 1 and "max_items" in err and "catalog" in err
    assert registry.served <= CAP + MAX_ENTRIES


def test_prune_dry_run_on_an_endless_tag_listing_stops_with_one_line_naming_the_cap(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], platform: MLRunAPIStandIn) -> None:
    with ListingRegistry(repositories=["mlrun/func-p1-trainer"], endless_tags=frozenset({"mlrun/func-p1-trainer"})) \
            as registry:
        monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", registry.url)
        code, out, err = cli_json(["prune", "--dry-run", "--json", "--keep", "0"], capsys)
    assert code == 1 and not out  # no plan, no report: the registry was not fully read
    assert err.count("\n") == 1 and "max_items" in err and "mlrun/func-p1-trainer" in err
    assert registry.served <= CAP + MAX_ENTRIES


def test_prune_refuses_a_cross_origin_link(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                           platform: MLRunAPIStandIn) -> None:
    with ListingRegistry() as elsewhere, ListingRegistry(endless_catalog=True, link_origin=elsewhere.url) as registry:
        monkeypatch.setenv("MLRUN_REGISTRY_EXT_URL", registry.url)
        code, _out, err = cli_json(["prune", "--dry-run", "--json"], capsys)
    assert code == 1 and err.count("\n") == 1 and "another origin" in err
    assert not elsewhere.requests


def test_migrate_on_an_endless_tag_listing_stops_with_one_line_naming_the_cap(
        registry_anonymous: RunningRegistry, capsys: pytest.CaptureFixture[str]) -> None:
    with ListingRegistry(repositories=["mlrun/func-p1-trainer"],
                         endless_tags=frozenset({"mlrun/func-p1-trainer"})) as source:
        code, out, err = cli_json(["migrate", "--from", source.url, "--to", registry_anonymous.url, "--dry-run",
                               "--json"], capsys)
    assert code == 1, (out, err)
    assert err.count("\n") == 1 and "max_items" in err and "mlrun/func-p1-trainer" in err
    assert source.served <= CAP + MAX_ENTRIES


def test_migrate_on_an_endless_catalog_stops_with_one_line_naming_the_cap(
        registry_anonymous: RunningRegistry, capsys: pytest.CaptureFixture[str]) -> None:
    with ListingRegistry(endless_catalog=True) as source:
        code, _out, err = cli_json(["migrate", "--from", source.url, "--to", registry_anonymous.url, "--dry-run"],
                               capsys)
    assert code == 1 and err.count("\n") == 1 and "max_items" in err and "catalog" in err
    assert source.served <= CAP + MAX_ENTRIES


def test_migrate_target_with_an_endless_catalog_is_an_error_not_an_unknown_catalog(
        registry_anonymous: RunningRegistry, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.support import images as im

    im.push_all(registry_anonymous.url, im.image_set(count=1, with_index=False))
    with ListingRegistry(endless_catalog=True) as target:
        code, _out, err = cli_json(["migrate", "--from", registry_anonymous.url, "--to", target.url, "--dry-run"],
                               capsys)
    assert code == 1 and "max_items" in err and "catalog" in err


def test_listing_errors_are_one_public_family() -> None:
    assert issubclass(ListingLimitError, ListingError) and issubclass(ListingLinkError, ListingError)
    assert issubclass(ListingError, RegistryExtError) and ListingError.exit_code == 1


# --- ECR: DescribeRepositories / DescribeImages follow nextToken under the same caps ------------------

def _stubbed_ecr(pages: int, per_page: int) -> tuple[Any, Any]:
    """A real boto3 ECR client whose DescribeImages answers (botocore's Stubber) never stop handing out
    a fresh ``nextToken`` within ``pages`` pages: an endless listing as far as the caps can tell."""
    import boto3
    from botocore.stub import Stubber

    ecr = boto3.client("ecr", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    stubber = Stubber(ecr)
    for page in range(pages):
        details = [{"imageDigest": f"sha256:{page * per_page + i:064x}", "imageTags": [f"t{page}-{i}"]}
                   for i in range(per_page)]
        expected = {"repositoryName": "team/app", **({"nextToken": f"token-{page}"} if page else {})}
        stubber.add_response("describe_images", {"imageDetails": details, "nextToken": f"token-{page + 1}"},
                             expected)
    return ecr, stubber


@pytest.mark.parametrize(("caps", "limit"), [({"max_pages": 4}, "max_pages"), ({"max_items": 25}, "max_items")])
def test_an_endless_ecr_image_listing_stops_at_the_cap(caps: dict[str, Any], limit: str) -> None:
    from mlrun_registry_ext.clients import aws

    ecr, stubber = _stubbed_ecr(pages=6, per_page=10)
    with stubber, pytest.raises(ListingLimitError) as caught:
        aws.ecr_listing(ecr, "describe_images", "imageDetails", what="the image listing of team/app",
                        repositoryName="team/app", **caps)
    assert caught.value.limit == limit and caught.value.repository == "team/app" and limit in str(caught.value)
    assert caught.value.items <= 40  # read no further than the page that passed the cap


def test_a_finite_ecr_listing_is_read_to_its_end() -> None:
    import boto3
    from botocore.stub import Stubber

    from mlrun_registry_ext.clients import aws

    ecr = boto3.client("ecr", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(ecr) as stubber:
        first = {"repositories": [{"repositoryName": "team/a"}], "nextToken": "n"}
        stubber.add_response("describe_repositories", first)
        stubber.add_response("describe_repositories", {"repositories": [{"repositoryName": "team/b"}]},
                             {"nextToken": "n"})
        found = aws.ecr_listing(ecr, "describe_repositories", "repositories", what="the repository listing")
    assert [r["repositoryName"] for r in found] == ["team/a", "team/b"]
