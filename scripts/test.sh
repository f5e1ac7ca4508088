#!/usr/bin/env bash
# The full test suite: set-up, lint, types, tests (which start and stop their own registries,
# moto servers and stand-ins on loopback), then the branch coverage of the whole run.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh --test
# What users install: the wheel in its own venv; every CLI test runs its console script from outside the tree.
MLRUN_REGISTRY_TEST_CLI=$(./scripts/wheel-venv.sh)
export MLRUN_REGISTRY_TEST_CLI
.venv/bin/ruff check mlrun_registry_ext tests benchmarks
.venv/bin/mypy
.venv/bin/lint-imports --no-cache --no-logo
# the source stays Python 3.9-compatible (requires-python); the runs under 3.9 and 3.13 follow the main suite
.venv/bin/vermin -q -t=3.9- --no-tips --violations mlrun_registry_ext tests benchmarks
# Coverage: pytest-cov measures the pytest process; coverage's .pth (in .venv and .venv-wheel) measures every
# Python subprocess when COVERAGE_PROCESS_START names the config; the data files meet at COVERAGE_FILE.
rm -f .coverage .coverage.*
export COVERAGE_PROCESS_START="$PWD/pyproject.toml" COVERAGE_FILE="$PWD/.coverage"
status=0
env -u MLRUN_DBPATH MLRUN_IGNORE_ENV_FILE=true .venv/bin/python -m pytest -q --cov --cov-report= "$@" || status=$?
.venv/bin/coverage report --skip-covered --sort=cover | tail -n 25 || true
echo "branch coverage (statements and branches, pytest and every Python subprocess): $(.venv/bin/coverage report --format=total)%"
unset COVERAGE_PROCESS_START COVERAGE_FILE
# with no arguments (CI): the core, API, CLI and client tests under Python 3.9 (mlrun 1.7.2) and 3.13
if [ $# -eq 0 ]; then ./scripts/test-pythons.sh || status=$?; fi
exit "$status"
