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
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlrun_registry_ext.core.providers import ACR_TOKEN_USER, Provider
from mlrun_registry_ext.core.reference import validate_host
from mlrun_registry_ext.core.secrets import SecretText as SecretStr
from mlrun_registry_ext.errors import ConfigError

if TYPE_CHECKING:
    from mlrun_registry_ext.core.service import RegistryService

DOCKERHUB_LOGIN_KEY = "https://index.docker.io/v1/"
GCR_USERS = ("_json_key", "_json_key_base64", "oauth2accesstoken")
#: ECR tokens live 12 hours; the refresh CronJob runs well inside that.
ECR_TOKEN_LIFETIME_SECONDS = 12 * 3600

#: Options each provider accepts (``--option key=value`` on the command line).
PROVIDER_OPTIONS: dict[Provider, dict[str, str]] = {
    Provider.ACR: {"auth": "user (admin user or service principal, default) or token (ACR refresh token)"},
    Provider.GCR: {"auth": "json_key, json_key_base64 or access_token"},
    Provider.GAR: {"auth": "json_key, json_key_base64 or access_token"},
    Provider.QUAY: {"robot": "robot account short name; the username becomes <organization>+<name>"},
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
    options = dict(options or {})
    allowed = PROVIDER_OPTIONS.get(provider, {})
    for key in options:
        if key not in allowed:
            names = ", ".join(sorted(allowed)) or "none"
            raise ConfigError(f"option {key}",
                              f"unknown option for provider {provider.value}; allowed: {names}")
    return options


def ecr_token_password(token: str | SecretStr) -> SecretStr:
    """ECR's authorization token is base64 of ``AWS:<password>``; return the password part."""
    text = token.get_secret_value() if isinstance(token, SecretStr) else token
    try:
        decoded = base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ConfigError("token", "the ECR authorization token is not base64 of AWS:<password>") from None
    user, sep, password = decoded.partition(":")
    if not sep or user != "AWS" or not password:
        raise ConfigError("token", "the ECR authorization token is not base64 of AWS:<password>")
    return SecretStr(password)


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
    provider = service.provider
    opts = check_provider_options(provider, options)
    key = normalise_login_host(login_url) if login_url else service.rules.login_key(service.host)
    if provider is Provider.ON_CLUSTER and service.is_server_default:
        raise ConfigError("url", "'.' is the MLRun server's own registry: give the registry URL to log in to")

    if provider is Provider.ECR:
        if ecr_token is None:
            raise ConfigError("token", "an ECR docker login needs an authorization token "
                                       "(GetAuthorizationToken): use `mlrun-registry ecr refresh` or "
                                       "the Python API refresh_ecr_pull_secret")
        return DockerLogin(key=key, username="AWS", password=ecr_token_password(ecr_token))

    if not service.has_credentials or service.password is None or not service.username:
        hint = service.rules.credential_hint
        raise ConfigError("username",
                          f"a docker login for {provider.value} needs a username and password: {hint}")
    username: str = service.username
    password = service.password

    if provider is Provider.ACR:
        auth = opts.get("auth", "token" if username == ACR_TOKEN_USER else "user")
        if auth not in ("user", "token"):
            raise ConfigError("option auth", f"{auth!r} is not allowed for acr; allowed: user, token")
        if auth == "token":
            username = ACR_TOKEN_USER
    elif provider in (Provider.GCR, Provider.GAR):
        username = _google_username(username, password, opts.get("auth"))
    elif provider is Provider.QUAY:
        robot = opts.get("robot")
        if robot is not None:
            org = service.path.split("/", 1)[0]
            if not org or not re.match(r"^[a-z][a-z0-9_]{1,254}\Z", robot):
                raise ConfigError("option robot", "a Quay robot needs the organization as the URL path "
                                                  "(quay.io/<org>) and a short name of [a-z0-9_]")
            username = f"{org}+{robot}"
        elif "+" in username and not re.match(r"^[a-z0-9_]+\+[a-z0-9_]+\Z", username):
            raise ConfigError("username", "a Quay robot account is written <organization>+<name>")
    return DockerLogin(key=key, username=username, password=password)


def _google_username(username: str, password: SecretStr, auth: str | None) -> str:
    by_option = {"json_key": "_json_key", "json_key_base64": "_json_key_base64",
                 "access_token": "oauth2accesstoken"}
    if auth is not None:
        if auth not in by_option:
            raise ConfigError("option auth", f"{auth!r} is not allowed; allowed: {', '.join(by_option)}")
        username = by_option[auth]
    if username not in GCR_USERS:
        raise ConfigError("username", f"Google registries take the user {', '.join(GCR_USERS)} "
                                      "(service-account key or access token), or --option auth=...")
    if username == "_json_key":
        try:
            parsed = json.loads(password.get_secret_value())
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or "private_key" not in parsed:
            raise ConfigError("password",
                              "for _json_key the password must be a service-account JSON key file")
    return username
