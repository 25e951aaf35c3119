#!/usr/bin/env bash
# All checks and tests: lint, format, types, import contracts, then pytest. Installs what it needs
# (venv, pip, npm azurite); the tests start and stop Azurite
# and the emulators themselves, on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy                 # sync_core, settings in pyproject.toml [tool.mypy]
.venv/bin/lint-imports         # layers, forbidden imports, no cycles: pyproject.toml [tool.importlinter]
bash scripts/checkov.sh        # infra/: checkov over the Bicep templates, offline (skips inline, justified)
exec .venv/bin/python -m pytest "$@"
