#!/usr/bin/env bash
# Re-resolve requirements.lock from pyproject.toml (slow: mlrun pins hundreds of packages).
set -euo pipefail
cd "$(dirname "$0")/.."
uv pip compile --python-version 3.11 pyproject.toml --all-extras -o requirements.lock
