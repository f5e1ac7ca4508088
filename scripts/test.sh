#!/usr/bin/env bash
# The full test suite: set-up, lint, types, tests (which start and stop their own registries,
# moto servers and stand-ins on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh --test
.venv/bin/ruff check mlrun_registry_ext tests benchmarks
.venv/bin/mypy
.venv/bin/lint-imports --no-cache --no-logo
# the source stays Python 3.9-compatible (requires-python); the runs under 3.9 and 3.13 follow the main suite
.venv/bin/vermin -q -t=3.9- --no-tips --violations mlrun_registry_ext tests benchmarks
env -u MLRUN_DBPATH MLRUN_IGNORE_ENV_FILE=true .venv/bin/python -m pytest -q "$@"
# with no arguments (CI): the core, API, CLI and client tests under Python 3.9 (mlrun 1.7.2) and 3.13
[ $# -gt 0 ] || ./scripts/test-pythons.sh
