#!/usr/bin/env bash
# Install what is missing (see scripts/install.sh), then start JupyterLab on the tutorials (nbs/tutorials/quickstart.ipynb
# opens first; the file browser shows the whole repository, so configs/ and outputs/ are a click away).
#   bash scripts/lab.sh [jupyter lab options, e.g. --port=8890 --no-browser]
# FINANN_SKIP_INSTALL=1 skips the install step (for a .venv you manage yourself).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${FINANN_SKIP_INSTALL:-0}" = 1 ] || bash scripts/install.sh
export WANDB_MODE=${WANDB_MODE:-offline}
as_root=(); [ "$(id -u)" = 0 ] && as_root=(--allow-root)  # Jupyter refuses root without it; never passed otherwise
echo "finann: starting JupyterLab on nbs/tutorials (Ctrl-C to stop)"
exec .venv/bin/jupyter-lab "${as_root[@]}" --ServerApp.root_dir="$PWD" \
  --LabApp.default_url=/lab/tree/nbs/tutorials/quickstart.ipynb "$@"
