#!/usr/bin/env bash
# Every GPU path of finann once, on a CUDA machine, in under 8 minutes: the training loop in bf16 against a plain loop,
# the HF encoder in bf16 against sentence-transformers, one LoRA epoch with gradient checkpointing, and the default job
# on the GPU against the same job on the CPU. Writes bench/results/*_cuda.md (bench/gpu_check.py does the work).
# Without CUDA it says so in one line and exits 0.   Usage: bash bench/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "bench/gpu_check.sh: no CUDA device visible (torch.cuda.is_available() is False): nothing run, no results written"
  exit 0
fi
export WANDB_MODE=offline HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
export FINANN_CACHE=${FINANN_CACHE:-$(mktemp -d -t finann-gpu-check-XXXX)}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 470 "$PY" bench/gpu_check.py "$@"
