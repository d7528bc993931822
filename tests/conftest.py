import os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run_env(tmp_path, **extra):
    "An environment for a finann subprocess: offline wandb and Hub, a private cache."
    env = {**os.environ, 'WANDB_MODE': 'offline', 'HF_HUB_OFFLINE': '1', 'FINANN_CACHE': str(tmp_path / 'cache'),
           'OMP_NUM_THREADS': '1', 'PYTHONUNBUFFERED': '1'}
    env.pop('WANDB_API_KEY', None)
    env.update(extra)
    return env


def run_cmd(cmd, tmp_path, timeout=600, **env):
    return subprocess.run(cmd, cwd=ROOT, env=run_env(tmp_path, **env), capture_output=True, text=True, timeout=timeout)


# a smaller version of configs/default.yml, for speed
SMALL = ['dataset.config.n_tickers=100', 'trainer.num_train_epochs=4', 'trainer.save_total_limit=1']


@pytest.fixture
def small_run(tmp_path):
    "Train configs/default.yml, made smaller, into tmp_path/run; return (process, output dir)."
    out = tmp_path / 'run'
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', '--options', f'trainer.output_dir={out}', *SMALL], tmp_path)
    return p, out
