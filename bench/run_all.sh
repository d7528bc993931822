#!/usr/bin/env bash
# Run finann's benchmarks (each writes bench/results/<name>.md), then print every headline figure beside its goal.
# Usage: bash bench/run_all.sh [--quick]   (--quick: fewer repeats, growth to 100k events only)
# Timings are only comparable on a quiet machine: run it when `uptime` shows a 1-minute load well below the core count.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
QUICK=${1:-}
echo "== $(uptime)"
if [ -f bench/embedding.py ]; then echo "== bench/embedding.py"; $PY bench/embedding.py; fi
echo "== bench/token_batches.py"
if [ "$QUICK" = --quick ]; then $PY bench/token_batches.py --repeats 1; else $PY bench/token_batches.py; fi
echo "== bench/onnx_cpu.py"
if [ "$QUICK" = --quick ]; then $PY bench/onnx_cpu.py --repeats 1; else $PY bench/onnx_cpu.py; fi
echo "== bench/onnx_options.py"
if [ "$QUICK" = --quick ]; then $PY bench/onnx_options.py --repeats 1; else $PY bench/onnx_options.py; fi
echo "== bench/embedding_api.py"
if [ "$QUICK" = --quick ]; then $PY bench/embedding_api.py --repeats 1; else $PY bench/embedding_api.py; fi
echo "== bench/train_loop.py"
if [ "$QUICK" = --quick ]; then $PY bench/train_loop.py --repeats 3; else $PY bench/train_loop.py; fi
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then $PY bench/train_loop.py --device cuda --repeats 3 --out bench/results/train_loop_cuda.md
else $PY bench/train_loop.py --device cuda; fi  # records that it was not run
echo "== bench/gpu_check.sh"
PYTHON=$PY bash bench/gpu_check.sh  # on a CUDA machine: the *_cuda tables; elsewhere one line
echo "== bench/default_job.py"
if [ "$QUICK" = --quick ]; then $PY bench/default_job.py --repeats 1; else $PY bench/default_job.py; fi
echo "== bench/explain_sheet.py"  # the sheet of the default run: needs outputs/default (finann-train --cfg-path configs/default.yml)
if [ -d outputs/default ]; then $PY bench/explain_sheet.py; else echo "no outputs/default: explain_sheet not run"; fi
echo "== bench/growth.py"
if [ "$QUICK" = --quick ]; then $PY bench/growth.py --sizes 10000 100000; else $PY bench/growth.py; fi
echo "== bench/text_stream.py"
if [ "$QUICK" = --quick ]; then $PY bench/text_stream.py --texts 5000; else $PY bench/text_stream.py; fi
echo "== bench/data_scale.py"
if [ "$QUICK" = --quick ]; then $PY bench/data_scale.py --sizes 10000 100000; else $PY bench/data_scale.py; fi
echo "== bench/study_profile.py"  # needs the StockNet clone beside the checkout
if [ "$QUICK" = --quick ]; then $PY bench/study_profile.py --tickers 4 --seeds 2 --epochs 1; else $PY bench/study_profile.py; fi
echo "== bench/lora.py"
if [ "$QUICK" = --quick ]; then $PY bench/lora.py --epochs 1; else $PY bench/lora.py; fi
if [ "$QUICK" != --quick ]; then echo "== bench/calibration.py"; $PY bench/calibration.py; fi  # 2 x 60 trainings: skipped by --quick
echo
echo "== figures and goals ($(uptime | sed 's/.*load/load/'))"
for f in bench/results/*.md; do
  echo "-- $f"
  grep -E '^(Goal|\| finann|\| plain|\| \*\*wall|`python -c|CUDA|--device)' "$f" || true
  case "$f" in */growth.md|*/data_scale.md) grep -E '^\| [0-9,]+ \|' "$f" | head -3 ;; */embedding.md) grep -E '^\| sentence' "$f" ;; */text_stream.md) grep -E '^\| (finann|joined)' "$f" ;; */lora.md) grep -E '^\| (frozen|LoRA)' "$f" ;; esac
done
$PY bench/make_page.py  # the docs' Benchmarks page, from the tables above
