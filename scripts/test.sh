#!/usr/bin/env bash
# Install with the dev extras, check that finann/ is in sync with the notebooks, then run the notebook
# tests (nbdev_test) and pytest. Everything runs offline: wandb in offline mode, no Hub access.
set -euo pipefail
cd "$(dirname "$0")/.."
FINANN_DEV=1 bash scripts/install.sh
export WANDB_MODE=offline HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
export FINANN_CACHE=${FINANN_CACHE:-$(mktemp -d -t finann-cache-XXXX)}
.venv/bin/nbdev_export
if git rev-parse --git-dir >/dev/null 2>&1 && ! git diff --quiet -- finann; then
  echo "finann/ is out of sync with nbs/: run nbdev_export and commit the result" >&2
  git diff --stat -- finann >&2
  exit 1
fi
n=$(find nbs -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | wc -l)
echo "finann: nbdev_test: $n notebooks, ${NBDEV_WORKERS:-2} at a time (each prints Starting/Completed; the slowest are listed at the end)"
# --do_print: a line when each notebook starts and ends; --timing: seconds per notebook; unbuffered so the workers' lines show at once
PYTHONUNBUFFERED=1 .venv/bin/nbdev_test --n_workers "${NBDEV_WORKERS:-2}" --do_print --timing
# The bad-input cases each start a real finann-train/finann-eval (about 10 s of single-threaded imports before the one
# line they check): two at a time, one test file per worker. The rest run one at a time, as their timing-sensitive
# parts (kills, torchrun, a browser) expect; the slowest are listed at the end.
.venv/bin/python -m pytest -q -n 2 --dist loadfile tests/test_bad_input*.py "$@"
.venv/bin/python -m pytest -q --durations=15 tests --ignore-glob='tests/test_bad_input*.py' "$@"
