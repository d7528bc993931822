#!/usr/bin/env bash
# Shared install step, sourced by train.sh and test.sh: make .venv if needed, then install
# torch==2.13.0 first (so pip never resolves a bare `torch` to a multi-GB CUDA build), then finann
# with its pins (and the dev extras when FINANN_DEV=1). Re-runs are no-ops unless the requirements changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "finann: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
extras=""; [ "${FINANN_DEV:-0}" = 1 ] && extras="[dev]"
stamp=".venv/.finann-install-$(cat settings.ini setup.py pyproject.toml | sha256sum | cut -c1-16)${extras:+-dev}"
if [ ! -f "$stamp" ]; then
  echo "finann: installing torch==2.13.0, then finann${extras}"
  .venv/bin/python -m pip install -qq --upgrade pip
  .venv/bin/python -m pip install -qq "torch==2.13.0"
  .venv/bin/python -m pip install -qq -e ".${extras}"
  touch "$stamp"
fi
