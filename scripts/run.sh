#!/usr/bin/env bash
# Set up (if needed) and run the pipeline on the offline defaults: `dvc repro`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source .venv/bin/activate
start=$(date +%s)
dvc repro "$@"
echo "dvc repro finished in $(( $(date +%s) - start ))s; open reports/report.html (offline), or see reports/report.md and metrics/summary.json"
