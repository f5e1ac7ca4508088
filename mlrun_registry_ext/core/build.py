"""What one build reaches besides its push target: the registries it pulls from, one
merged login for all of them, and the Docker Hub mirror.

Pure: services in, names, flags and a merged docker config out.

Why ONE merged secret (checked in the builders' sources):

- MLRun (server ``mlrun/api/utils/builder.py`` ``make_kaniko_pod``, mlrun 1.5.2 at 7ee16da, the
  server in ``.venv-mlrun-server``; the same on mlrun/mlrun main): the function's ``spec.build.secret``
  is mounted with ``items=[.dockerconfigjson -> config.json]`` at ``/kaniko/.docker``: one secret,
  one config.json. mlrun/mlrun PR 10020 ("Fix Buildah base-image cloud-registry credential exchange",
  merged 2026-08) mints cloud tokens for a base image on another host, but only for the Buildah
  builder; the Kaniko path still mounts the one secret, so every login must be in it.
- Nuclio (``pkg/containerimagebuilderpusher/kaniko.go`` ``configureSecretVolumeMount``, nuclio/nuclio
  at 9e837f6, 1.14.x): one secret (the function's ``spec.imagePullSecrets``, else
  ``NUCLIO_REGISTRY_CREDENTIALS_SECRET_NAME``), ``.dockerconfigjson`` mounted as ``config.json``.
  nuclio/nuclio PR 4238 ("[Buildah] Cloud registry authentication & Multiple secrets", merged
  2026-07-30) merges several docker-config secrets into one authfile in an init container, and PR
  4363 (merged 2026-09-17) adds ``spec.imagePullSecretsList``. No release tag containing either could
  be read here (the stored nuclio/nuclio snapshot ends at 9e837f6), so the versions that merge
  themselves are unknown: the merged secret is handed to every Nuclio, which also works where Nuclio
  merges (a list of one).

The running function's pull secret is the same secret: it covers the built image (push target) and
whatever ready image a function deploys from a ``pull_from`` registry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.errors import ConfigError, quote

if TYPE_CHECKING:  # annotations only: show and target need no credentials package (~8 ms of imports)
    from mlrun_registry_ext.core.credentials.docker_config import DockerLogin

#: Note code: base images come from Docker Hub anonymously (rate limited).
DOCKERHUB_ANONYMOUS = "dockerhub-anonymous"


def pulled_services(service: RegistryService, services: Mapping[str, RegistryService]) -> tuple[RegistryService, ...]:
    """The services ``service.pull_from`` names, looked up in ``services`` (the config file's)."""
    out: list[RegistryService] = []
    for index, name in enumerate(service.pull_from):
        other = services.get(name)
        if other is None:
            allowed = ", ".join(n for n in services if n != service.name) or "(none)"
            raise ConfigError(f"pull_from[{index}]", f"{quote(name)} is not a configured service; allowed: {allowed}")
        out.append(other)
    return tuple(out)


def registry_mirror(service: RegistryService, pulled: Sequence[RegistryService]) -> str | None:
    """The Docker Hub mirror: the build service's own ``mirror``, else a pulled Docker Hub service's."""
    if service.mirror:
        return service.mirror
    for other in pulled:
        if other.rules.default_image_source and other.mirror:
            return other.mirror
    return None


def kaniko_flags(service: RegistryService, pulled: Sequence[RegistryService]) -> tuple[str, ...]:
    """Kaniko flags every build of ``service`` needs, each one token (``--flag=value``): what Nuclio's
    ``spec.build.flags`` (a set of whole arguments) and MLRun's ``spec.build.extra_args`` (split on
    whitespace; a token starting with ``--`` is a flag, server ``_validate_extra_args``) both take."""
    mirror = registry_mirror(service, pulled)
    return (f"--registry-mirror={mirror}",) if mirror else ()


def dockerhub_pull(service: RegistryService, pulled: Sequence[RegistryService]) -> tuple[bool, str]:
    """(anonymous?, what base images from Docker Hub go through). Anonymous when no Docker Hub service
    with a login is pulled from and no mirror is set."""
    mirror = registry_mirror(service, pulled)
    if mirror:
        return False, f"Docker Hub images come through the mirror {mirror} (Kaniko --registry-mirror)"
    for other in (service, *pulled):
        if other.rules.default_image_source and other.has_credentials:
            return False, f"Docker Hub images are pulled with the login of service {other.name!r} ({other.username})"
    return True, ("base images from Docker Hub (mlrun/mlrun, python, ...) are pulled anonymously, which Docker Hub "
                  "rate-limits (TOOMANYREQUESTS): add a Docker Hub service with a login to pull_from, or set mirror")


def merged_docker_config(logins: Sequence[DockerLogin]) -> dict[str, Any]:
    """One docker config with every login (``auths`` by key). The same key twice with different users is
    refused: only one of them could be used, and which one would be luck."""
    auths: dict[str, dict[str, str]] = {}
    users: dict[str, str] = {}
    for login in logins:
        if login.key in users:
            if users[login.key] != login.username:
                raise ConfigError("pull_from", f"two logins for {login.key} (users {users[login.key]!r} and "
                                               f"{login.username!r}); a build can use one login per registry")
            continue
        users[login.key] = login.username
        auths[login.key] = login.entry()
    return {"auths": auths}


@dataclass(frozen=True)
class MergedLogins:
    """Several :class:`DockerLogin` as one docker config; shaped like a login for
    :func:`~.credentials.k8s_secrets.docker_config_secret` (``key`` and ``username`` list every entry)."""

    logins: tuple[DockerLogin, ...]

    @property
    def key(self) -> str:
        return ",".join(login.key for login in self.logins)

    @property
    def username(self) -> str:
        return ",".join(login.username for login in self.logins)

    def docker_config(self) -> dict[str, Any]:
        return merged_docker_config(self.logins)

    def docker_config_json(self) -> str:
        return json.dumps(self.docker_config(), separators=(",", ":"), sort_keys=True)


# --- the build flags this package owns -------------------------------------------------------------
#: Kaniko flags that take one value: a new one replaces an earlier one (the layer cache follows the
#: service's ``cache``) -> whether a value may follow as its own word (``--cache-repo REPO``).
SINGLE_VALUED_FLAGS = {"--cache": False, "--cache-repo": True}
#: Where a function records the flags this package wrote (``metadata.annotations``; MLRun keeps them
#: with the function): the words of ``spec.build.extra_args``, and the entries of Nuclio's
#: ``spec.build.flags``, each space-separated (a flag this package writes is one word).
OWNED_EXTRA_ARGS_ANNOTATION = "mlrun-registry-ext/extra-args"
OWNED_NUCLIO_FLAGS_ANNOTATION = "mlrun-registry-ext/nuclio-build-flags"


def flag_name(word: str) -> str:
    return word.split("=", 1)[0]


def merge_build_flags(words: Sequence[str], owned: Sequence[str], wanted: Sequence[str]
                      ) -> tuple[list[str], tuple[str, ...]]:
    """``(words, owned)`` after writing ``wanted``: the flags this package wrote before (``owned``, as
    recorded) are removed first, so a changed or removed mirror and a cache turned off leave nothing
    behind; then ``wanted`` is added. Pure and idempotent (merging the result again changes nothing).

    What the user wrote is never removed, with one exception kept from before: a single-valued flag
    (:data:`SINGLE_VALUED_FLAGS`, the cache) that ``wanted`` carries replaces the user's (two cache
    repositories cannot both apply). A flag the user already set by name (``--registry-mirror=X`` or
    ``--registry-mirror X``) is not added again and stays the user's. The user's words keep their order;
    ours come after. ``owned`` words no longer present (the user deleted them) are simply forgotten.
    """
    left = list(owned)
    mine_removed: list[str] = []
    for word in words:
        if word in left:
            left.remove(word)
            continue
        mine_removed.append(word)
    replaced = {flag_name(flag) for flag in wanted} & SINGLE_VALUED_FLAGS.keys()
    kept: list[str] = []
    skip_value = False
    for word in mine_removed:
        if skip_value and not word.startswith("--"):
            skip_value = False
            continue
        skip_value = False
        if flag_name(word) in replaced:
            skip_value = SINGLE_VALUED_FLAGS[flag_name(word)] and "=" not in word
            continue
        kept.append(word)
    given = {flag_name(word) for word in kept if word.startswith("--")}
    added = tuple(flag for flag in wanted if flag_name(flag) not in given)
    return [*kept, *added], added
