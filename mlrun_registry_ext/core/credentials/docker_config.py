"""Docker logins as data: the ``auths`` entry a registry needs, by provider, with its login host.

Pure: no network. The password is a :class:`~.secrets.SecretText` and leaves it only inside the entry
(and from there only inside base64 ``data`` of a Secret manifest, :mod:`.k8s_secrets`); reprs and
errors never show it.

Per-provider login formats (shared/reference/registries.md):

========== ================================================ ===================================
provider   ``auths`` key                                    username
========== ================================================ ===================================
Docker Hub ``https://index.docker.io/v1/``                  the user
ECR        the registry host                                ``AWS`` (password: an ECR token)
ACR        the registry host                                admin user, service principal, or
                                                            ``00000000-0000-...`` (refresh token)
GCR / GAR  the registry host                                ``_json_key``, ``_json_key_base64``
                                                            or ``oauth2accesstoken``
GHCR       ``ghcr.io``                                      the GitHub user (password: a PAT)
Quay       ``quay.io``                                      a robot ``org+name``
others     the registry host (or Nuclio's ``loginUrl``)     the user
========== ================================================ ===================================
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mlrun_registry_ext.core.providers import (
    DOCKERHUB_LOGIN_KEY,
    PROVIDERS,
    Provider,
    provider_for,
)
from mlrun_registry_ext.core.reference import validate_host
from mlrun_registry_ext.core.secrets import SecretText as SecretStr
from mlrun_registry_ext.errors import ConfigError

if TYPE_CHECKING:
    from mlrun_registry_ext.core.service import RegistryService

#: ECR tokens live 12 hours; the refresh CronJob runs well inside that.
ECR_TOKEN_LIFETIME_SECONDS = 12 * 3600

#: Options each provider accepts (``--option key=value`` on the command line), from the provider classes.
PROVIDER_OPTIONS: dict[Provider, dict[str, str]] = {
    p.provider: dict(p.login_options) for p in PROVIDERS if p.login_options
}


def b64(text: str | bytes) -> str:
    """Base64 text of ``text`` (UTF-8) or bytes, as Secret ``data`` and docker ``auth`` hold it."""
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class DockerLogin:
    """One ``auths`` entry. The password is a SecretStr and never part of the repr."""

    key: str
    username: str
    password: SecretStr = field(repr=False)

    def entry(self) -> dict[str, str]:
        secret = self.password.get_secret_value()
        return {
            "username": self.username,
            "password": secret,
            "auth": b64(f"{self.username}:{secret}"),
        }

    def docker_config(self) -> dict[str, Any]:
        return {"auths": {self.key: self.entry()}}

    def docker_config_json(self) -> str:
        return json.dumps(self.docker_config(), separators=(",", ":"), sort_keys=True)


class DockerConfigSource(Protocol):
    """What a docker config Secret is made from: one :class:`DockerLogin` or several merged
    (:class:`mlrun_registry_ext.core.build.MergedLogins`)."""

    @property
    def key(self) -> str: ...

    @property
    def username(self) -> str: ...

    def docker_config_json(self) -> str: ...


def normalise_login_host(login_url: str, field: str = "login_url") -> str:
    """Nuclio's ``loginUrl``: accept a scheme and a path, keep ``host[:port]`` (Docker Hub keeps its URL)."""
    text = login_url.strip()
    if not text:
        raise ConfigError(field, "the login URL is empty; expected host[:port]")
    if text.rstrip("/") in ("https://index.docker.io/v1", "index.docker.io/v1"):
        return DOCKERHUB_LOGIN_KEY
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme.lower() not in ("http", "https"):
            raise ConfigError(field, f"scheme {scheme + '://'!r} is not allowed; use host[:port] or https://host")
    host = text.split("/", 1)[0]
    return validate_host(host, field)


def check_provider_options(provider: Provider, options: Mapping[str, str] | None) -> dict[str, str]:
    """Unknown options are an error naming the ones this provider accepts."""
    return provider_for(provider).check_login_options(options)


def docker_login(
    service: RegistryService,
    *,
    login_url: str | None = None,
    options: Mapping[str, str] | None = None,
    ecr_token: str | SecretStr | None = None,
) -> DockerLogin:
    """The ``auths`` entry ``service`` needs, with the provider's login key and user.

    ``login_url`` is Nuclio's ``loginUrl`` when the login host differs from the push path. For ECR the
    service's username/password are AWS keys, not a docker login: pass ``ecr_token`` (from
    ``GetAuthorizationToken``) and the entry is ``AWS`` with the token's password.
    """
    rules = service.rules
    opts = rules.check_login_options(options)
    key = normalise_login_host(login_url) if login_url else rules.login_key(service.host)
    if service.is_server_default:
        raise ConfigError("url", "'.' is the MLRun server's own registry: give the registry URL to log in to")

    if rules.token_login:
        if ecr_token is None:
            raise ConfigError("token", "an ECR docker login needs an authorization token "
                                       "(GetAuthorizationToken): use `mlrun-registry ecr refresh` or "
                                       "the Python API refresh_ecr_pull_secret")
        token_user, token_password = rules.token_password(ecr_token)
        return DockerLogin(key=key, username=token_user, password=token_password)

    if not service.has_credentials or service.password is None or not service.username:
        raise ConfigError("username", f"a docker login for {rules.provider.value} needs a username and "
                                      f"password: {rules.credential_hint}")
    username = rules.login_user(service.username, service.password, opts, service.path)
    return DockerLogin(key=key, username=username, password=service.password)



def credential_helper_config(service: RegistryService, pulled: Sequence[DockerLogin] = ()) -> dict[str, Any]:
    """Kaniko's config.json for ``auth: workload-identity``: ``credHelpers`` names the provider's helper
    for the host, and ``auths`` has no entry for it, because a static ``auths`` entry for the host is
    used before the helper and hides it (kaniko issues 2526, 1805, 2059). ``pulled``: the logins of the
    other registries the build pulls from (``pull_from``), which keep their static entries."""
    helper = service.rules.credential_helper
    if not service.workload_identity or helper is None:
        raise ConfigError("auth", "a credential-helper config is only for auth: workload-identity")
    key = service.rules.login_key(service.host)
    auths: dict[str, dict[str, str]] = {}
    for login in pulled:
        if login.key == key:
            raise ConfigError("pull_from", f"a login for {key} would hide the credential helper that "
                                           "workload identity uses for it; leave that service out of pull_from")
        auths.setdefault(login.key, login.entry())
    return {"auths": auths, "credHelpers": {key: helper}}
