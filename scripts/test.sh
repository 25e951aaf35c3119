#!/usr/bin/env bash
# All tests. Installs what it needs (venv, pip, npm azurite); the tests start and stop Azurite
# and the emulators themselves, on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
