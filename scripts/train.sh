#!/usr/bin/env bash
# Install (see scripts/install.sh), then train configs/default.yml (or the config given as $1) and print the results.
#   bash scripts/train.sh [configs/x.yml] [--options key=value ...]
# The wandb key, if any, comes from WANDB_API_KEY in the environment; never put it in this file.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
cfg=configs/default.yml
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then cfg=$1; shift; fi
exec .venv/bin/finann-train --cfg-path "$cfg" "$@"
