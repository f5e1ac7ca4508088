"""One credential chain: :func:`login` finds the login for a registry service where its user keeps it.

Tried in this order; the first source with a login for the service's registry answers, and the
returned :class:`~mlrun_registry_ext.core.location.RegistryAccess` says which (``access.source``, what
``doctor`` shows):

1. an explicit setting: the service's own username and password, else
   ``MLRUN_REGISTRY_EXT_MIGRATE_{FROM,TO}_{USERNAME,PASSWORD}`` for that side of a copy;
2. the active service, when it is the same registry (``core.origin``: name in any case, port with its
   default) and has a login;
3. the docker config (``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``): a ``credHelpers``
   entry for the registry, then its ``auths`` entry (``auth``, ``username``/``password``, and
   ``identitytoken``: an OAuth2 refresh token, what ``az acr login`` writes), then ``credsStore``. Docker
   asks a registry's ``credHelpers`` helper before anything else, and so does containers/image (``pkg/docker/
   config/config.go``, ``findCredentialsInFile``): the ``auths`` entry of a registry served by a helper
   is an empty marker;
4. ``REGISTRY_AUTH_FILE`` alone when set (skopeo's ``--authfile`` default), else containers' ``auth.json``:
   ``${XDG_RUNTIME_DIR}/containers/auth.json`` (``/run/containers/<uid>/auth.json`` without it), then
   ``${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`` (containers/image ``getAuthFilePaths`` and
   ``getPathToAuthWithOS``, commit df7e80d2d19872b61f352a8a182ec934dc0c2346); their ``credHelpers``
   too (containers/image reads no ``credsStore``);
5. for ECR, the token exchange: AWS keys found above (or, with none, the ambient AWS credentials) traded
   for a 12-hour registry token under user ``AWS`` (``clients.aws``).

Docker Hub's key is ``https://index.docker.io/v1/`` (``core.origin.DOCKER_HUB_KEY``); every key is
matched by the one canonical-host rule of ``core.origin``.

Credential helpers speak the ``docker-credential-*`` protocol (docker/docker-credential-helpers
``client/client.go``, commit 594c02358018f8ea0848d6656057728aac6d26e2): ``docker-credential-<name>
get`` with the server URL on stdin, ``{"ServerURL", "Username", "Secret"}`` on stdout, a non-zero exit
with ``credentials not found in native keychain`` when it has none; ``Username`` ``<token>`` means
``Secret`` is an identity token. The helper runs bounded (:data:`HELPER_TIMEOUT`, :data:`MAX_HELPER_OUTPUT`),
with nothing secret on its command line; its stderr is discarded and its stdout is never echoed, since
either may hold the secret.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrun_registry_ext.clients import aws
from mlrun_registry_ext.clients.local_config import read_text_file
from mlrun_registry_ext.core.location import RegistryAccess
from mlrun_registry_ext.core.origin import helper_server_url, login_key_matches, same_registry
from mlrun_registry_ext.core.secrets import SecretText, check_credential_pair
from mlrun_registry_ext.core.service import RegistryService
from mlrun_registry_ext.errors import ConfigError

log = logging.getLogger(__name__)

#: ``MLRUN_REGISTRY_EXT_MIGRATE_{FROM,TO}_{USERNAME,PASSWORD}``: the login of one side of a copy.
ENV_CREDENTIALS = "MLRUN_REGISTRY_EXT_MIGRATE_{side}_{field}"
SIDES = ("FROM", "TO")
#: A credential helper answers from a keychain or a cloud CLI: a few seconds at most, normally.
HELPER_TIMEOUT = 20.0
#: A helper's answer is a small JSON document.
MAX_HELPER_OUTPUT = 64 * 1024
#: What every helper prints when it has no login for the server (docker-credential-helpers
#: ``credentials/error.go``).
NOT_FOUND = "credentials not found in native keychain"
#: The username a helper gives for an identity token (docker/cli ``credentials/native_store.go``).
TOKEN_USERNAME = "<token>"
HELPER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class _Found:
    username: str | None
    password: str | None
    identity_token: str | None
    source: str


def login(service: RegistryService, *, side: str | None = None, active: RegistryService | None = None,
          exchange: bool = True, environ: Mapping[str, str] | None = None,
          helper_timeout: float = HELPER_TIMEOUT) -> RegistryAccess:
    """The service's :class:`RegistryAccess` with the first login the chain finds (the module docstring);
    ``access.source`` names where it came from (None: no login, anonymous). ``side`` (``FROM``/``TO``)
    picks the environment variables of one side of a copy; ``exchange=False`` leaves an ECR login as
    found (the doctor checks the exchange itself). ``helper_timeout`` bounds a credential helper."""
    env = os.environ if environ is None else environ
    if side is not None and side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}")
    found = _explicit(service, side, env)
    explicit = found is not None
    if found is None and active is not None and active.has_credentials and active is not service \
            and same_registry(active.host, service.host, service.insecure, active.insecure):
        found = _from_service(active, f"the active service {active.name}")
        explicit = True
    if found is None and not service.is_server_default:
        found = _from_files(service, env, helper_timeout)
    if service.ecr is not None and exchange and (found is None or explicit):
        return _ecr_exchange(service, found)
    if found is None:
        return service.access
    password = SecretText(found.password) if found.password is not None else None
    token = SecretText(found.identity_token) if found.identity_token is not None else None
    username = found.username if (found.username or password is not None) else None
    return RegistryAccess(service.location, username, password, service.ca_bundle, identity_token=token,
                          source=found.source)


def env_login(side: str, environ: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """``(username, password)`` of one side (``FROM``/``TO``) from the environment."""
    env = os.environ if environ is None else environ
    user = env.get(ENV_CREDENTIALS.format(side=side, field="USERNAME")) or None
    password = env.get(ENV_CREDENTIALS.format(side=side, field="PASSWORD")) or None
    return user, password


def _explicit(service: RegistryService, side: str | None, env: Mapping[str, str]) -> _Found | None:
    if service.has_credentials:
        return _from_service(service, f"the settings of service {service.name}")
    if side is not None:
        user, password = env_login(side, env)
        if user or password is not None:
            field = ENV_CREDENTIALS.format(side=side, field="PASSWORD" if user else "USERNAME")
            _check_pair(user, password, field)
            return _Found(user, password, None, f"the environment ({ENV_CREDENTIALS.format(side=side, field='*')})")
    return None


def _check_pair(user: str | None, password: str | None, field: str) -> None:
    """Both or neither: half a login is a mistake to name, not a reason to go on anonymously."""
    try:
        check_credential_pair(user, bool(password))
    except ConfigError as exc:
        raise ConfigError(field, exc.detail) from None


def _from_service(service: RegistryService, source: str) -> _Found:
    password = service.password.get_secret_value() if service.password is not None else None
    return _Found(service.username, password, None, source)


# --- files --------------------------------------------------------------------------------------------
def docker_config_path(env: Mapping[str, str]) -> Path:
    directory = env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return Path(directory) / "config.json"


def auth_file_paths(env: Mapping[str, str]) -> list[Path]:
    """Containers' auth files in containers/image's order; ``REGISTRY_AUTH_FILE`` alone when set."""
    if env.get("REGISTRY_AUTH_FILE"):
        return [Path(env["REGISTRY_AUTH_FILE"]).expanduser()]
    runtime = env.get("XDG_RUNTIME_DIR")
    first = Path(runtime) / "containers" / "auth.json" if runtime else Path(f"/run/containers/{os.getuid()}/auth.json")
    config_home = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return [first, Path(config_home) / "containers" / "auth.json"]


def _from_files(service: RegistryService, env: Mapping[str, str], timeout: float) -> _Found | None:
    host, insecure = service.host, service.insecure
    docker = docker_config_path(env)
    found = _from_file(docker, "docker config", host, insecure, env, timeout, creds_store=True)
    if found is not None:
        return found
    for path in auth_file_paths(env):
        found = _from_file(path, "auth file", host, insecure, env, timeout, creds_store=False)
        if found is not None:
            return found
    return None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        if not path.is_file():
            return None
        data = json.loads(read_text_file(path, str(path)))
    except (ConfigError, ValueError, OSError) as exc:
        # never the content: a half-written file may hold a password
        log.warning("%s is not a readable JSON login file (%s); ignored", path, type(exc).__name__)
        return None
    return data if isinstance(data, dict) else None


def _matching(mapping: Any, host: str, insecure: bool) -> Iterator[tuple[str, Any]]:
    """The entries of a login file's mapping for ``host``: the exact key first, then any key naming it."""
    if not isinstance(mapping, dict):
        return
    if host in mapping:
        yield host, mapping[host]
    for key, value in mapping.items():
        if isinstance(key, str) and key != host and login_key_matches(key, host, insecure):
            yield key, value


def _from_file(path: Path, kind: str, host: str, insecure: bool, env: Mapping[str, str], timeout: float,
               creds_store: bool) -> _Found | None:
    data = _read_json(path)
    if data is None:
        return None
    for _key, helper in _matching(data.get("credHelpers"), host, insecure):
        if isinstance(helper, str) and helper:
            return _from_helper(helper, host, f"{kind} {path} credHelpers", env, timeout)
    for key, entry in _matching(data.get("auths"), host, insecure):
        found = _auth_entry(entry, f"{kind} {path} auths[{key}]")
        if found is not None:
            return found
    store = data.get("credsStore")
    if creds_store and isinstance(store, str) and store:
        return _from_helper(store, host, f"{kind} {path} credsStore", env, timeout)
    return None


def _auth_entry(entry: Any, source: str) -> _Found | None:
    """A docker config ``auths`` entry: ``auth`` (base64 ``user:password``) or ``username``/``password``,
    and ``identitytoken``; an empty entry (a credential helper's marker) is no login."""
    if not isinstance(entry, dict):
        return None
    user = password = None
    if isinstance(entry.get("auth"), str) and entry["auth"]:
        try:
            user, sep, password = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if not sep:
            return None
        password = password.strip("\x00")
    elif isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        user, password = entry["username"], entry["password"]
    token = entry.get("identitytoken")
    token = token if isinstance(token, str) and token else None
    if token is not None:
        return _Found(user or None, None, token, source + " identitytoken")
    if user or password:
        _check_pair(user, password, source)
        return _Found(user, password, None, source)
    return None


# --- credential helpers ----------------------------------------------------------------------------------
def _from_helper(name: str, host: str, where: str, env: Mapping[str, str], timeout: float) -> _Found | None:
    """``docker-credential-<name> get`` for the registry: its login, or None (none there, or the helper
    failed: a warning that never carries its output)."""
    program = f"docker-credential-{name}"
    if not HELPER_NAME_RE.fullmatch(name):
        log.warning("%s names the credential helper %r, which is not a helper name; ignored", where, name[:64])
        return None
    path = shutil.which(program, path=env.get("PATH"))
    if path is None:
        log.warning("%s names %s, which is not on PATH; no login from it", where, program)
        return None
    server = helper_server_url(host)
    try:
        status, out = _run_helper(path, server, dict(env), timeout)
    except subprocess.TimeoutExpired:
        log.warning("%s did not answer within %g s; no login from it", program, timeout)
        return None
    except OSError as exc:
        log.warning("%s could not be run (%s); no login from it", program, type(exc).__name__)
        return None
    if status != 0:
        if NOT_FOUND not in out[:4096].decode("utf-8", "replace"):
            log.warning("%s get failed (exit status %d); no login from it", program, status)
        return None
    try:
        data = json.loads(out)
        user, secret = data.get("Username"), data.get("Secret")
    except (ValueError, AttributeError):
        log.warning("%s get answered with something that is not its JSON; ignored", program)
        return None
    if not isinstance(secret, str) or not secret or not isinstance(user, str):
        return None
    source = f"credential helper {program} ({where})"
    if user == TOKEN_USERNAME:
        return _Found(None, None, secret, source)
    return _Found(user, secret, None, source) if user else None


def _run_helper(path: str, server: str, env: dict[str, str], timeout: float) -> tuple[int, bytes]:
    """Run ``<helper> get`` with the server URL on stdin: the exit status and at most
    :data:`MAX_HELPER_OUTPUT` bytes of stdout; killed after ``timeout`` seconds."""
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen([path, "get"], stdin=subprocess.PIPE, stdout=out, stderr=subprocess.DEVNULL,
                                   env=env, close_fds=True)
        try:
            process.communicate(server.encode(), timeout=max(0.1, timeout))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        out.seek(0)
        data = out.read(MAX_HELPER_OUTPUT + 1)
    if len(data) > MAX_HELPER_OUTPUT:
        return 1, b""
    return process.returncode, data


# --- ECR ----------------------------------------------------------------------------------------------------
def _ecr_exchange(service: RegistryService, keys: _Found | None) -> RegistryAccess:
    """ECR's registry API takes no AWS keys: the keys found (or the ambient AWS credentials, the role)
    become a 12-hour token under user ``AWS``."""
    keyed = service
    if keys is not None and keys.username and keys.password is not None:
        keyed = service.replace(username=keys.username, password=keys.password)
    token = aws.get_ecr_token(keyed)
    via = f"the keys from {keys.source}" if keys is not None else "the ambient AWS credentials"
    return RegistryAccess(service.location, "AWS", token.password, service.ca_bundle,
                          source=f"the ECR token exchange ({via})")
