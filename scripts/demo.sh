#!/usr/bin/env bash
# The main job end to end on the embedded default: Azurite + emulators + seeded demo company.
# 1. CURRENCY through timer -> queue -> processor (first run, no-change run, one-change run);
# 2. a full synchronization of the demo company in dependency order, with its review;
# 3. lead to cash: quotes and orders made in Dynamics 365 Sales become BC documents by webhook.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m sandbox.demo "$@"
echo
.venv/bin/python -m sandbox.demo_full_sync
echo
exec .venv/bin/python -m sandbox.demo_documents
