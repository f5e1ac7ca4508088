#!/usr/bin/env bash
# Set up a fresh Debian machine: a virtualenv from the lock file (no dependency resolution) and the
# package itself; with --test also Debian's registry, skopeo, htpasswd, openssl and tinyproxy that tests run,
# buildah (real image builds, as root: vfs, chroot) with busybox-static (the /bin/sh of the test base image),
# and .venv-mlrun-server: the MLRun API server's real build code (mlrun 1.5.2) that
# tests/test_mlrun_server_real.py drives.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--test" ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  missing=()
  for pair in docker-registry:docker-registry skopeo:skopeo htpasswd:apache2-utils openssl:openssl tinyproxy:tinyproxy \
      buildah:buildah; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  # the static build: it runs inside a scratch image (Debian's plain busybox needs libc)
  dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "ok installed" || missing+=(busybox-static)
  # Debian's python3 with venv: the fresh Python environment the emitted Jobs' commands run in (tests/test_emitted_jobs.py)
  dpkg -s python3-venv >/dev/null 2>&1 || missing+=(python3-venv)
  command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
  if [ ${#missing[@]} -gt 0 ]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # The unprivileged user the non-root tests run as (pods run as a UID the image does not know).
  id -u mlrr >/dev/null 2>&1 || $sudo useradd --system --no-create-home --shell /usr/sbin/nologin mlrr
fi

python=$(command -v python3.11 || command -v python3)
command -v uv >/dev/null 2>&1 || "$python" -m pip install -q uv
[ -x .venv/bin/python ] || uv venv -q -p "$python" .venv
# The lock pins every package (mlrun has hundreds of pins): sync installs without resolving.
uv pip sync -q --compile-bytecode -p .venv/bin/python requirements.lock
# compat: a plain path entry (.pth), not an import hook that costs every process ~15 ms at start-up
uv pip install -q --no-deps -p .venv/bin/python -C editable_mode=compat -e .
.venv/bin/python -m compileall -q mlrun_registry_ext >/dev/null

if [ "${1:-}" = "--test" ]; then
  # A separate venv: the server wheel's pins (pydantic 1, kubernetes 12, kfp 1.8) cannot share .venv.
  # The lock lists every package; sync installs exactly those, resolving nothing (~1 s on a warm cache).
  [ -x .venv-mlrun-server/bin/python ] || uv venv -q -p "$python" .venv-mlrun-server
  uv pip sync -q -p .venv-mlrun-server/bin/python requirements-mlrun-server.lock
fi
