import os, shlex, signal, socket, subprocess, sys, time, urllib.request, uuid
from contextlib import contextmanager
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


@contextmanager
def jupyterlab_server(cmd: list, env: dict, log_path: Path, timeout: float = 60):
    "Start `cmd` (JupyterLab) on a free port of 127.0.0.1 with a fresh token, wait until /api/status answers; yield (base URL, token)."
    port, token = free_port(), uuid.uuid4().hex
    cmd = [*cmd, '--ip=127.0.0.1', f'--port={port}', '--ServerApp.port_retries=0', f'--IdentityProvider.token={token}']
    log = open(log_path, 'w')
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f'http://127.0.0.1:{port}'
    try:
        deadline = time.time() + timeout
        while True:
            try: urllib.request.urlopen(f'{base}/api/status?token={token}', timeout=2); break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    pytest.fail(f'{shlex.join(cmd[:3])} did not start JupyterLab:\n' + Path(log_path).read_text()[-3000:])
                time.sleep(0.3)
        yield base, token
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server, its kernels and their runs
        try: server.wait(15)
        except subprocess.TimeoutExpired: os.killpg(server.pid, signal.SIGKILL); server.wait(5)
        log.close()
