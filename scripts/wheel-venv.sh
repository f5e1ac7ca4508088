#!/usr/bin/env bash
# What users install: the wheel, built from this tree, in a venv of its own (.venv-wheel) next to the
# locked dependencies with every extra. The tests run its `mlrun-registry` console script from outside
# the tree (tests/support/env.py reads MLRUN_REGISTRY_TEST_CLI, which scripts/test.sh sets).
# No resolving: the build backend is the lock's setuptools (--build-constraint), the venv is the lock
# (`uv pip sync`), the wheel goes in with --no-deps. Prints the console script's path.
# Byte-compiled at install: PYTHONDONTWRITEBYTECODE would otherwise make every `import mlrun` compile anew.
# Another interpreter or lock (e.g. a Python 3.9 run): WHEEL_PYTHON, WHEEL_LOCK, WHEEL_VENV; WHEELHOUSE=0 skips
# dist/wheelhouse (a run that executes no emitted Job, or whose lock lacks the extras).
set -euo pipefail
cd "$(dirname "$0")/.."
default_python=$(command -v python3.11 || command -v python3)
python=${WHEEL_PYTHON:-$default_python}
lock=${WHEEL_LOCK:-requirements.lock}
venv=${WHEEL_VENV:-.venv-wheel}
rm -rf dist/wheel
uv build -q --wheel --build-constraint requirements.lock -o dist/wheel . >&2
rm -rf build  # setuptools' scratch directory
[ -x "$venv/bin/python" ] || uv venv -q -p "$python" "$venv" >&2
uv pip sync -q --compile-bytecode -p "$venv/bin/python" "$lock" >&2
uv pip install -q --compile-bytecode --no-deps --reinstall -p "$venv/bin/python" dist/wheel/mlrun_registry_ext-*.whl >&2
# dist/wheelhouse: the wheel and its dependencies' wheels (with the aws and kubernetes extras; the versions the
# venv has, i.e. the lock's), the only package source of the tests that run the emitted Jobs' commands
# (PIP_NO_INDEX, PIP_FIND_LINKS). pip keeps them in its cache.
if [ "${WHEELHOUSE:-1}" = 0 ]; then
  case $venv in /*) echo "$venv/bin/mlrun-registry" ;; *) echo "$PWD/$venv/bin/mlrun-registry" ;; esac
  exit 0
fi
mkdir -p dist/wheelhouse
rm -f dist/wheelhouse/mlrun_registry_ext-*.whl
cp dist/wheel/mlrun_registry_ext-*.whl dist/wheelhouse/
"$venv/bin/python" scripts/wheel_deps.py aws kubernetes > dist/wheelhouse.txt
if ! "$default_python" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --no-index \
    --find-links dist/wheelhouse -d dist/wheelhouse -r dist/wheelhouse.txt >/dev/null 2>&1; then
  if ! out=$("$default_python" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      -d dist/wheelhouse -r dist/wheelhouse.txt 2>&1); then
    printf '%s\n' "$out" >&2
    exit 1
  fi
fi
case $venv in /*) echo "$venv/bin/mlrun-registry" ;; *) echo "$PWD/$venv/bin/mlrun-registry" ;; esac
