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
# The report's browser test (tests/e2e/test_report_browser.py) opens the HTML pages in headless
# Chromium, Debian's package: installed here when missing and apt-get may run (as root, or
# through password-less sudo, as on CI machines). EVOKD_NO_BROWSER=1 skips this; the test then
# skips, saying why (and fails instead where CI is set).
if [ -z "${EVOKD_NO_BROWSER:-}" ] && ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  if [ -z "$SUDO" ] || sudo -n true 2>/dev/null; then
    echo "installing chromium (Debian package) for the report's browser test"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "chromium is missing and apt-get cannot run here: the report's browser test will skip"
  fi
fi
# DVC needs a git repository with at least one commit (a fresh `git init`, or a tarball copy).
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  git init -q && git add -A && git -c user.name=evokd -c user.email=evokd@localhost commit -qm "evokd project"
fi
echo "evokd is installed in .venv (activate with: source .venv/bin/activate)"
