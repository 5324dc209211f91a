#!/usr/bin/env bash
# Create .venv and install evokd with its test tools. Idempotent; CPU-only torch (pinned).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch is pinned here and in pyproject.toml: an unpinned torch pulls a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0" -e ".[test]"
# DVC needs a git repository with at least one commit (a fresh `git init`, or a tarball copy).
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  git init -q && git add -A && git -c user.name=evokd -c user.email=evokd@localhost commit -qm "evokd project"
fi
echo "evokd is installed in .venv (activate with: source .venv/bin/activate)"
