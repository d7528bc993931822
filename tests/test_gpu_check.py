"`bench/gpu_check.sh` on a machine without CUDA: one line, exit 0, no results written (on a CUDA machine it runs the checks)."
import subprocess
import pytest
from conftest import BIN, ROOT, run_env


def test_gpu_check_refuses_in_one_line_without_cuda(tmp_path):
    results = ROOT/'bench'/'results'
    before = {p.name: p.stat().st_mtime_ns for p in results.glob('*_cuda.md')}
    # CUDA hidden: the refusal runs here even on a GPU machine
    p = subprocess.run(['bash', 'bench/gpu_check.sh'], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env=run_env(tmp_path, CUDA_VISIBLE_DEVICES='', PYTHON=str(BIN/'python')))
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip().splitlines() == ["bench/gpu_check.sh: no CUDA device visible (torch.cuda.is_available() is False): nothing run, no results written"]
    assert {p.name: p.stat().st_mtime_ns for p in results.glob('*_cuda.md')} == before
