"""Docker Hub (``docker.io``): two-level ``NAMESPACE/REPOSITORY`` names, logins under the legacy
``https://index.docker.io/v1/`` key."""

from __future__ import annotations

from mlrun_registry_ext.core.providers.base import Provider, RegistryProvider
from mlrun_registry_ext.errors import ConfigError

DOCKERHUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
#: The ``auths`` key docker (and Kaniko) use for Docker Hub.
DOCKERHUB_LOGIN_KEY = "https://index.docker.io/v1/"


class DockerHubProvider(RegistryProvider):
    provider = Provider.DOCKERHUB
    credential_hint = "a Docker Hub user and an access token"
    default_image_source = True
    cache_off_reason = ("Kaniko's layer cache is off on Docker Hub: repositories are exactly NAMESPACE/REPOSITORY, "
                        "so <repo>/cache is not a valid name, and every cache layer pulled counts against "
                        "Docker Hub's pull rate limit")

    @classmethod
    def matches(cls, host: str, bare: str, namespace_domain: str | None) -> bool:
        return bare in DOCKERHUB_HOSTS

    def validate_repository(self, repository: str, host: str, field: str = "image") -> None:
        super().validate_repository(repository, host, field)
        if repository.count("/") != 1:
            raise ConfigError(field, f"Docker Hub repositories are exactly NAMESPACE/REPOSITORY; {repository!r} has "
                                     f"{repository.count('/') + 1} levels (put the image prefix without '/')")

    def check_url_path(self, path: str, host: str, field: str = "url") -> None:
        if not path:
            raise ConfigError(field, "Docker Hub needs a namespace: docker.io/<user or organization>")

    def login_key(self, host: str) -> str:
        return DOCKERHUB_LOGIN_KEY
