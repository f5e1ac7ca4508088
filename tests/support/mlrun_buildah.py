"""MLRun's Buildah build pod, mirrored line by line, and run here with Debian's buildah.

No MLRun wheel ships the Buildah backend (it is server code, newer than 1.5.2, the last wheel with the
server), so its pod is rebuilt here from the source, read at mlrun/mlrun
``server/py/services/api/utils/builder/buildah.py`` commit 9c0c31d1c55e5d242b16d7391258c87a23f07d43
(``BUILDAH_PY`` below; line numbers are that file's). Only the path a private registry takes is mirrored:
a static docker-config secret, no cloud registry (ECR/ACR/GAR get init containers and JIT scripts there;
:func:`make_buildah_pod` refuses them), no inline code, requirements, build args or pip CA.

What is NOT mirrored but real: the shared build path. ``BuildRequest`` (``base.py``) carries the target,
the secret and the Dockerfile that the shared code resolved; here they come from the real MLRun 1.5.2
server code (``tests/support/mlrun_server.py``) building the same function: its Kaniko pod's
``--destination``, the secret it mounts and the Dockerfile its ``create-dockerfile`` init container writes
(``make_dockerfile``: ``FROM`` + ``RUN`` lines, the same in 2026's ``base.py`` for a function with
commands only). So the function is configured by the package, the server decides where it goes, and the
Buildah pod is what BUILDAH_PY would make of that request.

Running the pod (:func:`run_build_pod`): the container's script is executed line by line. The buildah
command lines run as written, with only the pod's mount paths swapped for temporary directories (the
``context`` emptyDir at ``/empty``, the secret mounted at ``/auth``); the RUN sandbox still sees the
context at ``/empty`` (``--volume <dir>:/empty``). The rest of the container is emulated through the
environment buildah (containers/image, containers/storage) reads, never through an extra flag:

- ``CONTAINERS_STORAGE_CONF``: the store is the ``containers`` emptyDir (BUILDAH_PY 344), not the host's;
- the builder image's files, extracted from the image the pod names (:func:`builder_image_files`):
  ``CONTAINERS_REGISTRIES_CONF`` = its ``/etc/containers/registries.conf`` (where buildah in that image
  reads mirrors), and ``SSL_CERT_FILE`` = its ``/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem``,
  ``SSL_CERT_DIR`` = an empty directory. Go's ``crypto/x509`` on Linux loads the system roots from
  ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set, else from the first of its known bundle paths that exists
  (Fedora: ``/etc/pki/tls/certs/ca-bundle.crt``, a link to the extracted bundle); containers/image uses
  that system pool when a registry has no ``certs.d`` entry. So the trust buildah gets here is exactly the
  image's trust store and nothing of the host's. (``--cert-dir`` is not used: MLRun passes no CA flag.
  The image's ``/etc/containers/certs.d`` is not emulated: containers/image reads it only from the root
  file system; the trust store alone must carry the CA, and does.)
"""

from __future__ import annotations

import base64
import io
import json
import os
import shlex
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.mlrun_server import ServerBuild

MLRUN_BUILDAH = ("mlrun/mlrun server/py/services/api/utils/builder/buildah.py "
                 "at 9c0c31d1c55e5d242b16d7391258c87a23f07d43")

# BUILDAH_PY 35-52: the build user's home, its store, the context and the authfile
_BUILD_HOME = "/home/build"
_CONTAINERS_STORE = f"{_BUILD_HOME}/.local/share/containers"
_CONTEXT_DIR = "/empty"
_AUTHFILE_DIR = "/auth"
_AUTHFILE_PATH = f"{_AUTHFILE_DIR}/config.json"
# BUILDAH_PY 65
_SUPPORTED_STORAGE_DRIVERS = ("overlay", "vfs")
#: registries ``registry_auth.classify_cloud_registry`` would give a cloud provider (init containers, JIT
#: scripts: not mirrored here)
_CLOUD_MARKERS = (".dkr.ecr.", ".amazonaws.com", ".azurecr.io", "-docker.pkg.dev", "gcr.io")

#: The builder image's files the emulation reads (tar member names).
TRUST_BUNDLE = "etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"
REGISTRIES_CONF = "etc/containers/registries.conf"


@dataclass(frozen=True)
class ServerConfig:
    """The ``httpdb.builder`` keys BUILDAH_PY reads, from the API Deployment's env (``MLRUN_HTTPDB__BUILDER__*``)."""

    buildah_image: str
    buildah_storage_driver: str
    buildah_push_retry: str
    insecure_pull_registry_mode: str
    insecure_push_registry_mode: str

    @classmethod
    def from_env(cls, env: dict[str, str]) -> ServerConfig:
        prefix = "MLRUN_HTTPDB__BUILDER__"
        # the image and the storage driver: what platform-config must set (MLRun's defaults for them could
        # not be read); the push retries: MLRun's default is unknown too, 3 is Kaniko's --push-retry here
        return cls(buildah_image=env[prefix + "BUILDAH_IMAGE"],
                   buildah_storage_driver=env[prefix + "BUILDAH_STORAGE_DRIVER"],
                   buildah_push_retry=env.get(prefix + "BUILDAH_PUSH_RETRY", "3"),
                   # mlrun/config.py: both modes default to "auto"
                   insecure_pull_registry_mode=env.get(prefix + "INSECURE_PULL_REGISTRY_MODE", "auto"),
                   insecure_push_registry_mode=env.get(prefix + "INSECURE_PUSH_REGISTRY_MODE", "auto"))


@dataclass(frozen=True)
class BuildahPod:
    """The build pod BUILDAH_PY's ``make_buildah_pod`` makes, as a V1Pod dict reduced to its one container."""

    image: str
    command: list[str]
    script: str
    env: dict[str, str]
    volume_mounts: dict[str, str]  # mount path -> volume name
    volumes: dict[str, dict[str, Any]]  # volume name -> volume source
    security_context: dict[str, Any] = field(default_factory=dict)

    @property
    def lines(self) -> list[str]:
        return self.script.split("\n")

    def command_line(self, subcommand: str) -> list[str]:
        """The argv of the ``buildah ... bud`` or ``buildah ... push`` line."""
        for line in self.lines:
            argv = shlex.split(line)
            if argv and argv[0] == "buildah" and subcommand in argv:
                return argv
        raise AssertionError(f"no buildah {subcommand} line in {self.script!r}")

    @property
    def secret_at_auth(self) -> str | None:
        name = self.volume_mounts.get(_AUTHFILE_DIR)
        secret = self.volumes.get(name or "", {}).get("secret")
        return None if secret is None else str(secret["secretName"])


def _tls_verify_flag(mode: str, has_registry_auth: bool) -> list[str]:
    # BUILDAH_PY 613-618
    if mode == "enabled" or (mode == "auto" and not has_registry_auth):
        return ["--tls-verify=false"]
    return []


def _b64(content: str) -> str:
    # BUILDAH_PY 633-634
    return base64.b64encode(content.encode("utf-8")).decode("utf-8")


def _build_env(dockerfile: str, secret_name: str | None) -> dict[str, str]:
    # BUILDAH_PY 434-498 without inline code, requirements, GAR scripts, builder env and project secrets
    env = {"BUILDAH_ISOLATION": "chroot", "HOME": _BUILD_HOME, "MLRUN_DOCKERFILE": _b64(dockerfile)}  # 446-450
    has_cloud_registry = False  # 451-454: refused in make_buildah_pod
    if secret_name or has_cloud_registry:  # 455-456
        env["REGISTRY_AUTH_FILE"] = _AUTHFILE_PATH
    return env


def _build_script(dest: str, storage_driver: str, verbose: bool, secret_name: str | None,
                  config: ServerConfig) -> str:
    # BUILDAH_PY 501-597 without inline code, requirements, GAR exchanges and build args
    dockerfile_path = f"{_CONTEXT_DIR}/Dockerfile"  # 513
    lines = ["set -e", f"echo ${{MLRUN_DOCKERFILE}} | base64 -d > {shlex.quote(dockerfile_path)}"]  # 514-517
    global_opts = ["buildah"]  # 529-532
    if verbose:
        global_opts += ["--log-level", "debug"]
    global_opts += ["--storage-driver", storage_driver]
    push_cloud_provider = pull_cloud_provider = None  # 537-538: no cloud registry
    has_push_auth = bool(secret_name or push_cloud_provider)  # 540
    has_pull_auth = bool(secret_name or pull_cloud_provider)  # 545
    bud = [*global_opts, "bud"]  # 572
    bud += ["--volume", f"{_CONTEXT_DIR}:{_CONTEXT_DIR}"]  # 576
    bud += _tls_verify_flag(config.insecure_pull_registry_mode, has_pull_auth)  # 577-579
    bud += ["--tag", dest, "--file", dockerfile_path, _CONTEXT_DIR]  # 582
    lines.append(shlex.join(bud))  # 583
    push = [*global_opts, "push"]  # 587
    push += _tls_verify_flag(config.insecure_push_registry_mode, has_push_auth)  # 588-590
    push += ["--retry", str(config.buildah_push_retry)]  # 591
    if has_push_auth:  # 592-593
        push += ["--authfile", _AUTHFILE_PATH]
    push += [dest, f"docker://{dest}"]  # 594
    lines.append(shlex.join(push))  # 595
    return "\n".join(lines)  # 597


def make_buildah_pod(dest: str, dockerfile: str, base_image: str | None, secret_name: str | None,
                     config: ServerConfig, verbose: bool = False) -> BuildahPod:
    """BUILDAH_PY ``make_buildah_pod`` (205-417) for a static secret and no cloud registry."""
    storage_driver = config.buildah_storage_driver  # 250-255
    if storage_driver not in _SUPPORTED_STORAGE_DRIVERS:
        raise ValueError(f"Unsupported buildah_storage_driver '{storage_driver}'")
    registry = dest.partition("/")[0]  # 257-259 (no explicit registry here)
    base_registry = base_image.partition("/")[0] if base_image else None  # 261
    for host in (registry, base_registry):  # 273, 279-281: classify_cloud_registry
        if host and any(marker in host for marker in _CLOUD_MARKERS):
            raise NotImplementedError(f"{host}: the cloud-registry path of {MLRUN_BUILDAH} is not mirrored")
    env = _build_env(dockerfile, secret_name)  # 295-304
    script = _build_script(dest, storage_driver, verbose, secret_name, config)  # 305-317
    mounts = {_CONTEXT_DIR: "context", _CONTAINERS_STORE: "containers"}  # 343-344
    volumes: dict[str, dict[str, Any]] = {"context": {"emptyDir": {}}, "containers": {"emptyDir": {}}}
    if secret_name:  # 400-406: no cloud provider, the secret mounted directly as the authfile
        mounts[_AUTHFILE_DIR] = secret_name
        volumes[secret_name] = {"secret": {"secretName": secret_name,
                                           "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}}
    security = {"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True,  # 420-431
                "allowPrivilegeEscalation": True, "privileged": False,
                "capabilities": {"add": ["SETUID", "SETGID"]}}
    return BuildahPod(image=config.buildah_image, command=["/bin/bash", "-c"], script=script,  # 319-331
                      env=env, volume_mounts=mounts, volumes=volumes, security_context=security)


def buildah_pod_for(build: ServerBuild, env: dict[str, str]) -> BuildahPod:
    """The Buildah pod for the request the real server code resolved in ``build`` (see the module doc),
    on a server whose Deployment has ``env``."""
    kaniko = build.kaniko
    init = next(c for c in kaniko.init_containers if c.get("name") == "create-dockerfile")
    encoded = next(e["value"] for e in init.get("env", []) if e["name"] == "DOCKERFILE")
    dockerfile = base64.b64decode(encoded).decode()
    first = dockerfile.splitlines()[0]
    assert first.startswith("FROM "), dockerfile
    assert kaniko.destination is not None
    return make_buildah_pod(kaniko.destination, dockerfile, first.split()[1], kaniko.docker_config_secret,
                            ServerConfig.from_env(env))


# --- running it ---------------------------------------------------------------------------------------
def builder_image_files(reference: str, into: Path, *, cert_dir: Path | None = None,
                        creds: str | None = None) -> Path:
    """The builder image's root file system, as far as buildah reads it (:data:`TRUST_BUNDLE`,
    :data:`REGISTRIES_CONF`), applied layer by layer (later layers win, whiteouts remove) into ``into``.
    ``cert_dir`` None: the registry is plain HTTP."""
    oci = into.with_name(into.name + "-dir")
    trust = ["--src-cert-dir", str(cert_dir)] if cert_dir else ["--src-tls-verify=false"]
    command = ["skopeo", "copy", *trust, *(["--src-creds", creds] if creds else []), f"docker://{reference}",
               f"dir:{oci}"]
    copied = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert copied.returncode == 0, copied.stderr[-800:]
    manifest = json.loads((oci / "manifest.json").read_bytes())
    wanted = (TRUST_BUNDLE, REGISTRIES_CONF)
    for layer in manifest["layers"]:
        data = (oci / layer["digest"].split(":", 1)[1]).read_bytes()
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                name = os.path.normpath("/" + member.name).lstrip("/")
                head, tail = os.path.split(name)
                for path in wanted:
                    if name == path and member.isfile():
                        handle = tar.extractfile(member)
                        assert handle is not None
                        (into / path).parent.mkdir(parents=True, exist_ok=True)
                        (into / path).write_bytes(handle.read())
                    elif tail == ".wh." + os.path.basename(path) and head == os.path.dirname(path):
                        (into / path).unlink(missing_ok=True)
    return into


@dataclass
class BuildRun:
    returncode: int
    output: str
    commands: list[list[str]]


def run_build_pod(pod: BuildahPod, *, secrets: dict[str, dict[str, str]], image_root: Path, workdir: Path,
                  timeout: float = 240) -> BuildRun:
    """Run ``pod``'s container script here as root (see the module doc for what is emulated and how).
    ``secrets``: name -> the Secret's ``data`` (base64 values), as the package writes it."""
    assert pod.command == ["/bin/bash", "-c"]
    context = workdir / "empty"
    store = workdir / "containers"
    auth = workdir / "auth"
    home = workdir / "home"
    certs = workdir / "no-system-certs"
    for directory in (context, store, home, certs):
        directory.mkdir(parents=True, exist_ok=True)
    paths = {_CONTEXT_DIR: str(context), f"{_CONTEXT_DIR}/Dockerfile": str(context / "Dockerfile"),
             f"{_CONTEXT_DIR}:{_CONTEXT_DIR}": f"{context}:{_CONTEXT_DIR}", _AUTHFILE_PATH: str(auth / "config.json"),
             _BUILD_HOME: str(home)}
    secret_name = pod.volume_mounts.get(_AUTHFILE_DIR)
    if secret_name is not None:  # the secret volume with items: only .dockerconfigjson, as config.json
        auth.mkdir(parents=True, exist_ok=True)
        data = secrets[secret_name]
        for item in pod.volumes[secret_name]["secret"]["items"]:
            (auth / item["path"]).write_bytes(base64.b64decode(data[item["key"]]))
    storage_conf = workdir / "storage.conf"
    storage_conf.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{store}/storage"\nrunroot = "{store}/run"\n')
    registries_conf = image_root / REGISTRIES_CONF
    if not registries_conf.exists():
        registries_conf.parent.mkdir(parents=True, exist_ok=True)
        registries_conf.write_text("")
    trust = image_root / TRUST_BUNDLE
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CONTAINERS_STORAGE_CONF": str(storage_conf),
           "CONTAINERS_REGISTRIES_CONF": str(registries_conf), "SSL_CERT_FILE": str(trust),
           "SSL_CERT_DIR": str(certs)}
    env.update({name: paths.get(value, value) for name, value in pod.env.items()})
    lines = pod.lines
    assert lines[0] == "set -e" and lines[1] == "echo ${MLRUN_DOCKERFILE} | base64 -d > /empty/Dockerfile", lines[:2]
    (context / "Dockerfile").write_bytes(base64.b64decode(pod.env["MLRUN_DOCKERFILE"]))
    output: list[str] = []
    commands: list[list[str]] = []
    for line in lines[2:]:  # set -e: the first failing line ends the script
        argv = [paths.get(word, word) for word in shlex.split(line)]
        assert argv[0] == "buildah", line
        commands.append(argv)
        try:
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=workdir)
        except subprocess.TimeoutExpired as exc:
            return BuildRun(124, "\n".join(output) + f"\n{line}: timed out after {exc.timeout} s", commands)
        output.append(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            return BuildRun(proc.returncode, "\n".join(output), commands)
    return BuildRun(0, "\n".join(output), commands)


def remove_store(workdir: Path) -> None:
    """Delete what buildah left in the ``containers`` emptyDir (vfs layers, read-only dirs included)."""
    subprocess.run(["rm", "-rf", str(workdir / "containers")], check=False, timeout=60)
