#!/usr/bin/env bash
# The full test suite: set-up, lint, types, tests (which start and stop their own registries,
# moto servers and stand-ins on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh --test
.venv/bin/ruff check mlrun_registry_ext tests benchmarks
.venv/bin/mypy
.venv/bin/lint-imports --no-cache --no-logo
env -u MLRUN_DBPATH MLRUN_IGNORE_ENV_FILE=true .venv/bin/python -m pytest -q "$@"
