#!/usr/bin/env bash
# The main job end to end on the embedded default: Azurite + emulators + seeded demo company.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m sandbox.demo "$@"
