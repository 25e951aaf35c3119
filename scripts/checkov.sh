#!/usr/bin/env bash
# checkov over infra/ (Bicep), offline. Exits non-zero when a check fails, when a template does not
# parse (checkov itself exits 0 then: its parser is our only Bicep syntax check, the Bicep CLI cannot
# be installed here), or when nothing was scanned. A check is skipped only by an inline
# `//checkov:skip=CKV_...:reason` comment on the resource.
# azure.yaml is not scanned: it declares no resources and checkov has no azd framework.
# Usage: scripts/checkov.sh [DIR]   (default infra; tests pass a mutated copy)
# CHECKOV=/path/to/checkov picks another checkov (e.g. a newer one in its own venv).
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKOV="${CHECKOV:-.venv/bin/checkov}"
dir="${1:-infra}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
set +e
"$CHECKOV" -d "$dir" --framework bicep --skip-download --quiet --compact 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
set -e
if ! grep -q 'Passed checks:' "$out"; then
  echo "checkov.sh: no scan summary: no template was scanned" >&2
  exit 1
fi
if grep -Eq 'Parsing errors: [1-9]' "$out"; then
  echo "checkov.sh: a template under $dir did not parse (run checkov without --quiet to see which)" >&2
  exit 1
fi
exit "$rc"
