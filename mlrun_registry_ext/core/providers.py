"""Registry providers: one class per flavor, detected from the host, each with its naming and login rules.

The rules come from each provider's documentation (see shared/reference/registries.md): ECR's single
separators and 256-character repositories, Docker Hub's two-level names, the login user each
provider expects in a docker config, and so on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from mlrun_registry_ext.core.origin import host_name
from mlrun_registry_ext.core.reference import MAX_NAME_LENGTH
from mlrun_registry_ext.errors import ConfigError


class Provider(StrEnum):
    ON_CLUSTER = "on-cluster"
    ECR = "ecr"
    ACR = "acr"
    GCR = "gcr"
    GAR = "gar"
    GHCR = "ghcr"
    QUAY = "quay"
    DOCKERHUB = "dockerhub"
    GENERIC = "generic"


ECR_HOST_RE = re.compile(
    r"^(?P<account>\d{12})\.dkr[.-]ecr(?P<fips>-fips)?\.(?P<region>[a-z0-9-]+)\."
    r"(?:amazonaws\.com(?:\.cn)?|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)\Z"
)
ECR_REPOSITORY_RE = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*\Z")
DOCKERHUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
ACR_TOKEN_USER = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class EcrLocation:
    account: str
    region: str
    fips: bool = False


class ProviderRules:
    """Defaults shared by every provider; subclasses override what their documentation says."""

    provider: Provider = Provider.GENERIC
    #: Who authenticates a push when no username/password is given.
    ambient_auth: str | None = None
    #: The username a docker config needs when it is fixed by the provider (ECR's ``AWS``).
    fixed_username: str | None = None
    #: Hint shown when credentials are requested, naming what the provider expects.
    credential_hint: str = "username and password (or token)"

    def validate_repository(self, repository: str, host: str, field: str = "image") -> None:
        """Provider-specific rules on top of the reference grammar (already checked)."""
        if len(host) + 1 + len(repository) > MAX_NAME_LENGTH:
            raise ConfigError(field, f"{host}/{repository} is longer than {MAX_NAME_LENGTH} characters")

    def login_key(self, host: str) -> str:
        """The ``auths`` key of a docker config for this registry."""
        return host

    def docker_username(self, username: str | None) -> str | None:
        return self.fixed_username or username


class OnClusterRules(ProviderRules):
    provider = Provider.ON_CLUSTER
    credential_hint = "none: the on-cluster registry is reached inside the cluster without credentials"


class EcrRules(ProviderRules):
    provider = Provider.ECR
    ambient_auth = "the cluster's IAM role (instance profile or IRSA)"
    fixed_username = "AWS"
    credential_hint = "an AWS access key ID as username and secret access key as password, or blank for the IAM role"

    def validate_repository(self, repository: str, host: str, field: str = "image") -> None:
        super().validate_repository(repository, host, field)
        if len(repository) > 256:
            raise ConfigError(field, f"ECR repository names are at most 256 characters ({len(repository)} given)")
        if not ECR_REPOSITORY_RE.match(repository):
            raise ConfigError(field, f"{repository!r} is not a valid ECR repository name; ECR allows only single "
                                     "'.', '_' or '-' between lowercase letters and digits")


class AcrRules(ProviderRules):
    provider = Provider.ACR
    ambient_auth = "the cluster's managed identity (AKS attached to ACR)"
    credential_hint = f"an admin user, a service principal (appId/secret), or {ACR_TOKEN_USER} with a refresh token"


class GcrRules(ProviderRules):
    provider = Provider.GCR
    ambient_auth = "the node's or workload identity's service account"
    credential_hint = "_json_key with a service-account JSON key, or oauth2accesstoken with an access token"


class GarRules(GcrRules):
    provider = Provider.GAR

    def validate_repository(self, repository: str, host: str, field: str = "image") -> None:
        super().validate_repository(repository, host, field)
        if repository.count("/") < 2:
            raise ConfigError(field, f"Artifact Registry images are PROJECT/REPOSITORY/IMAGE; {repository!r} "
                                     "has fewer than three levels")


class GhcrRules(ProviderRules):
    provider = Provider.GHCR
    credential_hint = "a GitHub user and a classic personal access token with write:packages"


class QuayRules(ProviderRules):
    provider = Provider.QUAY
    credential_hint = "a robot account org+name and its token"


class DockerHubRules(ProviderRules):
    provider = Provider.DOCKERHUB
    credential_hint = "a Docker Hub user and an access token"

    def validate_repository(self, repository: str, host: str, field: str = "image") -> None:
        super().validate_repository(repository, host, field)
        if repository.count("/") != 1:
            raise ConfigError(field, f"Docker Hub repositories are exactly NAMESPACE/REPOSITORY; {repository!r} has "
                                     f"{repository.count('/') + 1} levels (put the image prefix without '/')")

    def login_key(self, host: str) -> str:
        return "https://index.docker.io/v1/"


RULES: dict[Provider, ProviderRules] = {
    rules.provider: rules
    for rules in (
        OnClusterRules(), EcrRules(), AcrRules(), GcrRules(), GarRules(), GhcrRules(), QuayRules(),
        DockerHubRules(), ProviderRules(),
    )
}


def rules_for(provider: Provider) -> ProviderRules:
    return RULES[provider]


def is_on_cluster_host(host: str, namespace_domain: str | None = None) -> bool:
    """The tenant's ``docker-registry`` service (or any in-cluster service name)."""
    bare = host_name(host)
    if bare == "docker-registry" or bare.endswith(".svc") or bare.endswith(".svc.cluster.local"):
        return True
    if namespace_domain and bare == f"docker-registry.{namespace_domain.lower()}":
        return True
    return bare.startswith("docker-registry.default-tenant.")


def detect_provider(host: str, namespace_domain: str | None = None) -> Provider:
    """Which provider a registry host belongs to (``.`` is the MLRun server's own, on-cluster)."""
    if host in ("", "."):
        return Provider.ON_CLUSTER
    bare = host_name(host)
    if ECR_HOST_RE.match(bare):
        return Provider.ECR
    if re.search(r"\.azurecr\.(io|cn|us)\Z", bare):
        return Provider.ACR
    if bare.endswith("-docker.pkg.dev"):
        return Provider.GAR
    if bare == "gcr.io" or bare.endswith(".gcr.io"):
        return Provider.GCR
    if bare == "ghcr.io":
        return Provider.GHCR
    if bare == "quay.io":
        return Provider.QUAY
    if bare in DOCKERHUB_HOSTS:
        return Provider.DOCKERHUB
    if is_on_cluster_host(host, namespace_domain):
        return Provider.ON_CLUSTER
    return Provider.GENERIC


def parse_ecr_host(host: str) -> EcrLocation | None:
    match = ECR_HOST_RE.match(host_name(host))
    if not match:
        return None
    return EcrLocation(account=match["account"], region=match["region"], fips=bool(match["fips"]))
