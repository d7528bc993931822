"`finann-train` under real torchrun on CPU (gloo DDP): 2 processes on one node, and 2 single-process 'nodes' on one machine."
import json, math, socket, subprocess
import numpy as np
import pytest
from conftest import BIN, ROOT, run_cmd, run_env

# dropout off and 896 training events (14 global batches of 64), so that 2 ranks and 1 process compute the same thing; an odd eval batch
COMMON = ['dataset.config.n_tickers=32', 'trainer.num_train_epochs=2', 'trainer.logging_steps=1', 'trainer.per_device_eval_batch_size=7',
          'model.config.hidden_dropout=0.0', 'model.config.classifier_dropout=0.0', 'evaluator.n_boot=50']
GLOBAL_BATCH = 64


def opts(out, per_device): return ['--options', f'trainer.output_dir={out}', f'trainer.per_device_train_batch_size={per_device}', *COMMON]


def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def result(out):
    m = json.loads((out / 'metrics.json').read_text())
    state = json.loads((out / 'trainer_state.json').read_text())
    losses = [h['loss'] for h in state['log_history'] if 'loss' in h]
    return m, state, losses


@pytest.fixture(scope='module')
def single(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('single'); out = tmp / 'run'
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', *opts(out, GLOBAL_BATCH)], tmp)
    assert p.returncode == 0, p.stderr[-3000:]
    return out


def check_matches_single(out, single, world):
    m, state, losses = result(out)
    m1, state1, losses1 = result(single)
    assert m['world_size'] == world
    assert state['global_step'] == state1['global_step'] == 2 * math.ceil(m['train']['n'] / GLOBAL_BATCH)  # ranks did not train apart
    # the loss is the global batch's mean, not multiplied by the world size
    assert losses[0] == pytest.approx(losses1[0], abs=2e-3), (losses[0], losses1[0])
    assert losses[-1] == pytest.approx(losses1[-1], abs=2e-2)
    for s in ('val', 'test'):
        # every event predicted once: the report's counts add up to the split, and the metrics match one process
        assert sum(map(sum, m[s]['model']['confusion_matrix'])) == m[s]['n'] == m1[s]['n']
        assert m[s]['model']['accuracy'] == pytest.approx(m1[s]['model']['accuracy'], abs=0.02)  # float summation order only
    assert m['val']['model']['accuracy'] > m['val']['baselines']['majority']['accuracy']
    # only rank 0 wrote: the same files as a single-process run, and one wandb run; the exception is by design:
    # each rank keeps its own RNG state in a checkpoint (rng_state_<rank>.pth), which an exact resume needs
    files = lambda d: sorted(str(p.relative_to(d)) for p in d.rglob('*') if p.is_file() and 'wandb' not in p.parts)
    rng = [f for f in files(out) if 'rng_state' in f]
    assert sorted(f.rsplit('/', 1)[1] for f in rng) == [f'rng_state_{r}.pth' for r in range(world)] * len({f.rsplit('/', 1)[0] for f in rng})
    assert [f for f in files(out) if 'rng_state' not in f] == [f for f in files(single) if 'rng_state' not in f]
    assert len(list((out / 'wandb').glob('offline-run-*'))) == 1


def test_torchrun_two_processes_is_real_ddp(single, tmp_path):
    out = tmp_path / 'run'
    p = run_cmd([str(BIN / 'torchrun'), '--standalone', '--nproc_per_node=2', '-m', 'finann.cli', '--cfg-path', 'configs/default.yml',
                 *opts(out, GLOBAL_BATCH // 2)], tmp_path, timeout=900)
    assert p.returncode == 0, p.stderr[-4000:]
    check_matches_single(out, single, world=2)
    assert p.stdout.count('finann: ') == 1  # only rank 0 prints the results table


def test_two_nodes_on_one_machine_train_one_job(single, tmp_path):
    "Two torchrun launches (--nnodes=2, node_rank 0 and 1) meet through a c10d rendezvous on 127.0.0.1."
    out, port = tmp_path / 'run', free_port()
    launch = lambda rank: subprocess.Popen(
        [str(BIN / 'torchrun'), '--nnodes=2', '--nproc_per_node=1', f'--node_rank={rank}', '--rdzv-backend=c10d',
         f'--rdzv-endpoint=127.0.0.1:{port}', '--rdzv-id=finann-test', '-m', 'finann.cli', '--cfg-path', 'configs/default.yml',
         *opts(out, GLOBAL_BATCH // 2)], cwd=ROOT, env=run_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    nodes = [launch(0), launch(1)]
    outs = [n.communicate(timeout=900) for n in nodes]
    for n, (o, e) in zip(nodes, outs): assert n.returncode == 0, e[-4000:]
    check_matches_single(out, single, world=2)
    assert sum(o.count('finann: ') for o, _ in outs) == 1
    # the embedding cache: each unique text encoded by one rank only and stored once (ranks write disjoint shards, by design)
    shards = list((tmp_path / 'cache').rglob('*.keys.npy'))
    keys = np.concatenate([np.load(k) for k in shards])
    assert len(shards) >= 1 and len(keys) == len(np.unique(keys)), (len(shards), len(keys), len(np.unique(keys)))


def test_a_killed_rank_fails_the_job_visibly(tmp_path):
    "SIGKILL one rank mid-training: torchrun fails the job (no hang), and the run resumes from its last checkpoint."
    import signal, time
    out = tmp_path / 'run'
    job = subprocess.Popen([str(BIN / 'torchrun'), '--standalone', '--nproc_per_node=2', '-m', 'finann.cli', '--cfg-path', 'configs/default.yml',
                            *opts(out, 16), 'trainer.num_train_epochs=4', 'trainer.save_strategy=steps', 'trainer.save_steps=10'],
                           cwd=ROOT, env=run_env(tmp_path, TORCHELASTIC_ERROR_FILE=str(tmp_path / 'err.json')),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not list(out.glob('checkpoint-*/trainer_state.json')):
        assert job.poll() is None and time.time() - t0 < 300, 'no checkpoint before the job ended'
        time.sleep(0.1)
    # the rank-1 worker: a child of torchrun whose environment says RANK=1
    worker = None
    for pid in subprocess.run(['pgrep', '-P', str(job.pid)], capture_output=True, text=True).stdout.split():
        env = open(f'/proc/{pid}/environ', 'rb').read().split(b'\0')
        if b'RANK=1' in env: worker = int(pid)
    assert worker, 'rank 1 not found'
    import os; os.kill(worker, signal.SIGKILL)
    _, err = job.communicate(timeout=180)  # fails within the timeout: no hang
    assert job.returncode != 0
    assert 'ChildFailedError' in err or 'exitcode' in err or 'Signal 9' in err or 'SIGKILL' in err, err[-2000:]
    assert not (out / 'metrics.json').exists()
    p = run_cmd([str(BIN / 'torchrun'), '--standalone', '--nproc_per_node=2', '-m', 'finann.cli', '--cfg-path', 'configs/default.yml',
                 *opts(out, 16), 'trainer.num_train_epochs=4', 'trainer.save_strategy=steps', 'trainer.save_steps=10',
                 '--resume-from-checkpoint', 'latest'], tmp_path, timeout=900)
    assert p.returncode == 0, p.stderr[-4000:]
    assert json.loads((out / 'metrics.json').read_text())['world_size'] == 2
