"""Quay (``quay.io``): robot accounts ``<organization>+<name>`` with their token."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar

from mlrun_registry_ext.core.providers.base import Provider, RegistryProvider
from mlrun_registry_ext.core.secrets import SecretText
from mlrun_registry_ext.errors import ConfigError


class QuayProvider(RegistryProvider):
    provider = Provider.QUAY
    credential_hint = "a robot account org+name and its token"
    login_options: ClassVar[Mapping[str, str]] = {
        "robot": "robot account short name; the username becomes <organization>+<name>",
    }

    @classmethod
    def matches(cls, host: str, bare: str, namespace_domain: str | None) -> bool:
        return bare == "quay.io"

    def login_user(self, username: str, password: SecretText, options: Mapping[str, str], path: str) -> str:
        robot = options.get("robot")
        if robot is not None:
            org = path.split("/", 1)[0]
            if not org or not re.match(r"^[a-z][a-z0-9_]{1,254}\Z", robot):
                raise ConfigError("option robot", "a Quay robot needs the organization as the URL path "
                                                  "(quay.io/<org>) and a short name of [a-z0-9_]")
            return f"{org}+{robot}"
        if "+" in username and not re.match(r"^[a-z0-9_]+\+[a-z0-9_]+\Z", username):
            raise ConfigError("username", "a Quay robot account is written <organization>+<name>")
        return username
