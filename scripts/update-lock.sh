#!/usr/bin/env bash
# Re-resolve the lock files from pyproject.toml (slow: mlrun pins hundreds of packages). uv keeps the pins
# already in a lock file where they still satisfy the inputs (add --upgrade to move them):
#   requirements.lock        Python 3.11, every extra: the main suite (mlrun 1.12.1);
#   requirements-py39.lock   Python 3.9, the extras at mlrun 1.7.2 (requirements-py39.in): scripts/test-pythons.sh;
#   requirements-py313.lock  Python 3.13, no extras (requirements-py313.in): scripts/test-pythons.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
uv pip compile "$@" --python-version 3.11 pyproject.toml --all-extras -o requirements.lock
uv pip compile "$@" --python-version 3.9 pyproject.toml --extra mlrun --extra nuclio --extra kubernetes --extra aws \
  requirements-py39.in -o requirements-py39.lock
uv pip compile "$@" --python-version 3.13 pyproject.toml requirements-py313.in -o requirements-py313.lock
