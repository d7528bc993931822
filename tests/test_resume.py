"Determinism, SIGKILL + resume, SIGTERM: same config and seed give the same result, interrupted or not."
import json, os, signal, subprocess, time
import pytest
from conftest import BIN, ROOT, run_cmd, run_env

# small and many steps: 2,400 events, batch 64 -> ~27 steps/epoch, checkpoints every 5 steps
OPTS = ['dataset.config.n_tickers=60', 'trainer.num_train_epochs=3', 'trainer.per_device_train_batch_size=64',
        'trainer.save_strategy=steps', 'trainer.save_steps=5', 'trainer.save_total_limit=2', 'trainer.eval_strategy=epoch']


def train(tmp_path, out, *extra, **env):
    return run_cmd([str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', '--options', f'trainer.output_dir={out}', *OPTS, *extra],
                   tmp_path, **env)


def metrics(out): return json.loads((out / 'metrics.json').read_text())


def weights(out): return (out / 'model.safetensors').read_bytes()


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    "One uninterrupted run."
    tmp = tmp_path_factory.mktemp('ref'); out = tmp / 'run'
    p = train(tmp, out)
    assert p.returncode == 0, p.stderr[-3000:]
    return tmp, out


def test_same_seed_same_metrics_and_weights(reference, tmp_path):
    tmp, ref = reference
    out = tmp_path / 'again'
    p = train(tmp, out)
    assert p.returncode == 0, p.stderr[-3000:]
    assert weights(out) == weights(ref)  # bit for bit
    for s in ('val', 'test'):  # predictions identical; float metrics to 1e-9 (summation order in numpy/sklearn)
        a, b = metrics(out)[s]['model'], metrics(ref)[s]['model']
        assert a.keys() == b.keys()
        for k in a: assert a[k] == (pytest.approx(b[k], rel=1e-9, abs=1e-12) if isinstance(b[k], float) else b[k]), (s, k)
    # and a different seed gives a different model: the check can fail
    p = train(tmp, tmp_path / 'seed2', 'run.seed=7')
    assert p.returncode == 0 and weights(tmp_path / 'seed2') != weights(ref)


def start(tmp_path, out, *extra):
    return subprocess.Popen([str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', *extra, '--options', f'trainer.output_dir={out}', *OPTS],
                            cwd=ROOT, env=run_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(out, proc, step=10, timeout=120, pattern='checkpoint-*'):
    t0 = time.time()
    while time.time() - t0 < timeout:
        done = [c for c in out.glob(pattern) if (c / 'trainer_state.json').exists() and int(c.name.split('-')[1]) >= step]
        if done: return
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        time.sleep(0.05)
    raise AssertionError('no checkpoint appeared')


def test_sigkill_then_resume_latest_matches_uninterrupted(reference, tmp_path):
    tmp, ref = reference
    out = tmp_path / 'killed'
    proc = start(tmp, out)
    wait_for_checkpoint(out, proc)
    proc.kill(); proc.wait()
    assert not (out / 'metrics.json').exists()
    p = train(tmp, out, '--resume-from-checkpoint', 'latest')
    assert p.returncode == 0, p.stderr[-3000:]
    for s in ('val', 'test'):
        got = metrics(out)[s]['model']
        for k, v in metrics(ref)[s]['model'].items():
            if isinstance(v, float): assert got[k] == pytest.approx(v, abs=1e-6), (s, k)
            else: assert got[k] == v, (s, k)  # counts: confusion matrix, support


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(reference, tmp_path):
    tmp, ref = reference
    out = tmp_path / 'term'
    proc = start(tmp, out)
    wait_for_checkpoint(out, proc, step=5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert 'Traceback' not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith('finann-train: stopped: stopped by SIGTERM at step') and 'resume-from-checkpoint latest' in last, last
    step = int(last.split('at step ')[1].split(';')[0])
    assert (out / f'checkpoint-{step}' / 'trainer_state.json').exists()
    p = train(tmp, out, '--resume-from-checkpoint', 'latest')
    assert p.returncode == 0, p.stderr[-3000:]
    assert metrics(out)['val']['model']['accuracy'] == pytest.approx(metrics(ref)['val']['model']['accuracy'], abs=1e-6)


def test_resume_without_a_checkpoint_is_one_line(tmp_path):
    p = train(tmp_path, tmp_path / 'none', '--resume-from-checkpoint', 'latest')
    assert p.returncode == 2 and 'no complete checkpoint in' in p.stderr.strip().splitlines()[-1]
    p = train(tmp_path, tmp_path / 'none', '--resume-from-checkpoint', str(tmp_path / 'missing'))
    assert p.returncode == 2 and 'is not a checkpoint folder' in p.stderr.strip().splitlines()[-1]


def test_sigterm_on_a_study_names_its_unit_checkpoint_and_flags(tmp_path):
    "A study keeps its finished units, not checkpoints: the stop line says so (it said 'checkpoint saved in None') and names the flags to continue with."
    out = tmp_path / 'study'
    proc = subprocess.Popen([str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', '--seeds', '2', '--options', f'trainer.output_dir={out}',
                             *OPTS, 'trainer.num_train_epochs=60'], cwd=ROOT, env=run_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()  # a long first unit: the stop lands inside it however fast the machine is
    while not list(out.glob('repeats/*')) and proc.poll() is None and time.time() - t0 < 120: time.sleep(0.05)
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    last = err.strip().splitlines()[-1]
    assert proc.returncode == 130 and 'Traceback' not in err, err[-3000:]
    assert 'the study goes on from its finished folds and seeds (0 finished)' in last and 'None' not in last, last
    assert last.endswith('continue with --seeds 2 --resume-from-checkpoint latest'), last
