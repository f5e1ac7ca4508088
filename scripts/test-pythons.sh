#!/usr/bin/env bash
# The package under the other Pythons it supports, each from its own lock file (installed with
# `uv pip sync`: nothing is resolved here). scripts/test.sh runs this after the main suite (Python 3.11,
# requirements.lock):
#   - Python 3.9 with mlrun 1.7.2, the MLRun client of MLRun <= 1.7 notebook kernels (requirements-py39.lock):
#     the core, Python API, CLI and MLRun-client tests;
#   - Python 3.13 with the package alone, no extras (requirements-py313.lock): the core and CLI tests, and
#     the one-line "install the extra" errors with kubernetes and boto3 really absent.
# The interpreters come from pyenv (this machine kind ships 3.9.18 and 3.13.0); a missing one fails the run.
# Usage: scripts/test-pythons.sh [py39|py313]...  (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."

# --- the selections (the one place that says which tests run under which Python) -------------------------
PY39_VERSION=3.9.18
PY39_TESTS=(
  # core
  tests/test_service.py tests/test_targets.py tests/test_providers.py tests/test_resolution.py
  tests/test_versions.py tests/test_properties.py tests/test_project_registries.py tests/test_multi_registry.py
  tests/test_compat.py tests/test_prune_plan.py tests/test_prune_rules.py
  # Python API
  tests/test_credentials.py tests/test_registry_http.py tests/test_http_transport.py tests/test_migrate.py
  tests/test_migrate_registry.py tests/test_network_faults.py tests/test_prune_safety.py tests/test_registry_listing.py
  # CLI
  tests/test_cli_core.py tests/test_bad_input.py tests/test_credentials_cli.py tests/test_doctor.py
  tests/test_extras.py
  # the MLRun and Nuclio clients (mlrun 1.7.2, nuclio-jupyter 0.10.4) against the stand-ins
  tests/test_mlrun_e2e.py tests/test_server_agreement.py tests/test_standins.py tests/test_migrate_rewrite.py
  tests/test_nuclio_e2e.py tests/test_builder_backends.py
)
# What the 3.9 environment cannot show, each for a reason outside this package (run under 3.11 instead):
PY39_DESELECT=(
  # moto 5.1 (the last for Python 3.9) answers ECR's InitiateLayerUpload with a 500
  tests/test_prune_safety.py::test_ecr_dry_run_never_deletes_and_a_prune_is_restored_with_put_image
  tests/test_prune_safety.py::test_on_ecr_a_tag_added_between_plan_and_delete_keeps_its_digest
  # mlrun 1.7.2's config has no httpdb.builder.pod_labels (the key this test decodes came later)
  tests/test_builder_backends.py::test_build_pod_label_setting_is_what_mlrun_config_decodes
)
PY313_VERSION=3.13.0
PY313_TESTS=(
  # core
  tests/test_service.py tests/test_targets.py tests/test_providers.py tests/test_resolution.py
  tests/test_versions.py tests/test_properties.py tests/test_compat.py tests/test_prune_plan.py
  # CLI (and the missing extras)
  tests/test_cli_core.py tests/test_bad_input.py tests/test_extras.py
)

# The 3.13 environment has no mlrun and no notebook packages on purpose: what needs them runs under 3.11 and 3.9
PY313_DESELECT=(
  tests/test_versions.py::test_the_installed_console_script_sees_the_installed_mlrun
  tests/test_versions.py::test_python_m_from_the_installed_wheel_sees_the_installed_mlrun
  tests/test_versions.py::test_a_notebook_kernel_sees_the_installed_mlrun
)

interpreter() {  # the pyenv interpreter of version $1 (its path), or a loud failure
  local prefix
  prefix=$(pyenv prefix "$1" 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}/versions/$1")
  if [ ! -x "$prefix/bin/python" ]; then
    echo "scripts/test-pythons.sh: error: Python $1 is missing (looked in $prefix); install it: pyenv install $1" >&2
    return 1
  fi
  echo "$prefix/bin/python"
}

venv() {  # venv DIR VERSION LOCK: DIR holds exactly LOCK's packages and the package (editable)
  local dir=$1 version=$2 lock=$3 python
  python=$(interpreter "$version")
  if [ ! -x "$dir/bin/python" ] || [ "$("$dir/bin/python" -c 'import platform; print(platform.python_version())')" != "$version" ]; then
    rm -rf "$dir"
    uv venv -q -p "$python" "$dir"
  fi
  uv pip sync -q -p "$dir/bin/python" "$lock"
  uv pip install -q --no-deps -p "$dir/bin/python" -C editable_mode=compat -e .
}

run() {  # run NAME DIR VERSION LOCK TESTS...
  local name=$1 dir=$2 version=$3 lock=$4 start=$SECONDS
  shift 4
  echo "== Python $version ($name: $lock)"
  venv "$dir" "$version" "$lock"
  # the CLI tests run this Python's console script, installed from the wheel (not the 3.11 one of the main run)
  cli=$(WHEEL_PYTHON="$(interpreter "$version")" WHEEL_LOCK="$lock" WHEEL_VENV=".venv-wheel-$name" WHEELHOUSE=0 \
        ./scripts/wheel-venv.sh)
  echo "   set-up: $((SECONDS - start)) s"
  MLRUN_REGISTRY_TEST_CLI=$cli env -u MLRUN_DBPATH MLRUN_IGNORE_ENV_FILE=true \
    "$dir/bin/python" -m pytest -q -p no:cacheprovider "$@"
  echo "== Python $version ($name): $((SECONDS - start)) s in all"
}

runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(py39 py313)
for name in "${runs[@]}"; do
  case "$name" in
    py39) run py39 .venv-py39 "$PY39_VERSION" requirements-py39.lock "${PY39_TESTS[@]}" \
            "${PY39_DESELECT[@]/#/--deselect=}" ;;
    py313) run py313 .venv-py313 "$PY313_VERSION" requirements-py313.lock "${PY313_TESTS[@]}" \
             "${PY313_DESELECT[@]/#/--deselect=}" ;;
    *) echo "scripts/test-pythons.sh: error: unknown run $name (allowed: py39, py313)" >&2; exit 2 ;;
  esac
done
