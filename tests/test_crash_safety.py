"Kill `finann-train` with SIGKILL at several points; nothing left behind may be read later as valid, and the next run works."
import json, signal, subprocess, time
import pytest
from conftest import BIN, ROOT, run_cmd, run_env

OPTS = ['dataset.config.n_tickers=120', 'trainer.num_train_epochs=3', 'trainer.per_device_train_batch_size=64',
        'trainer.save_strategy=steps', 'trainer.save_steps=7', 'evaluator.n_boot=300']

# kill points inside finann's own writers, reached exactly: the run kills itself there (FINANN_FAULT, see finann.embedding.cache)
FAULTS = {'embedding cache between a shard\'s vectors and its keys': 'cache.after_vectors',
          'embedding cache while a shard\'s vectors are written': 'cache.in_vectors'}
# kill points in files that other code writes: the first time the path pattern exists under the run's tmp dir
POINTS = {'first checkpoint being written': 'run/checkpoint-*/*',
          'plots being written': 'run/plots/*',
          'report being written': 'run/report.*'}


@pytest.mark.parametrize('point', [*FAULTS, *POINTS])
def test_sigkill_leaves_nothing_half_valid(tmp_path, point):
    out = tmp_path / 'run'
    cmd = [str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', '--options', f'trainer.output_dir={out}', *OPTS]
    if point in FAULTS:
        p = run_cmd(cmd, tmp_path, FINANN_FAULT=FAULTS[point])
        assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
        assert any(f.name.endswith('.tmp' if FAULTS[point] == 'cache.in_vectors' else '.vecs.npy') for f in tmp_path.glob('cache/embeddings/*/*'))
    else:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=run_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.time()
        while not list(tmp_path.glob(POINTS[point])):
            if proc.poll() is not None: pytest.fail(f'the run ended before {point}')
            assert time.time() - t0 < 300
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL); proc.wait()
    # finann's own files are renamed into place whole: every one left parses. The Trainer writes checkpoints in place,
    # so a checkpoint counts only once its trainer_state.json (written last) parses: latest_checkpoint() skips others
    from finann.task import latest_checkpoint
    for f in tmp_path.rglob('*.json'):
        if 'wandb' in f.parts or any(p.startswith('checkpoint-') for p in f.parts): continue
        json.loads(f.read_text())
    if latest_checkpoint(out): json.loads((latest_checkpoint(out) / 'trainer_state.json').read_text())
    if (out / 'metrics.json').exists():  # written last: its presence means a finished run (a late kill can miss it)
        assert {'val', 'test'} <= set(json.loads((out / 'metrics.json').read_text())) and (out / 'report.md').exists()
    elif point != 'report being written':
        assert not (out / 'report.md').exists() or point == 'plots being written'
    # the next run in the same place (resuming when a complete checkpoint exists) finishes, reading the same cache
    resume = ['--resume-from-checkpoint', 'latest'] if latest_checkpoint(out) else []
    p = run_cmd(cmd + ['trainer.overwrite_output_dir=true', *resume], tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    m = json.loads((out / 'metrics.json').read_text())
    assert m['val']['model']['accuracy'] > m['val']['baselines']['majority']['accuracy']


def test_a_full_disk_while_saving_is_one_line_and_leaves_nothing_valid(tmp_path):
    "A file size limit (RLIMIT_FSIZE: writes fail with EFBIG, as on a full disk) hits the model save: one line naming the folder and the OS error, exit 2."
    import resource
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))  # the cache's vectors fit (160 kB), the model's weights (520 kB) do not
    out = tmp_path / 'run'
    cmd = [str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', '--options', f'trainer.output_dir={out}', 'dataset.config.n_tickers=20',
           'dataset.config.start_year=2013', 'dataset.config.end_year=2016', 'dataset.config.val_years=[2015]', 'dataset.config.test_years=[2016]',
           'trainer.num_train_epochs=1', 'trainer.report_to=[]', 'embedding.config.n_features=128', 'model.config.intermediate_size=1024']
    p = subprocess.run(cmd, cwd=ROOT, env=run_env(tmp_path), capture_output=True, text=True, preexec_fn=limit, timeout=600)
    errors = [l for l in p.stderr.splitlines() if l.startswith('finann-train: ')]  # an open progress bar may print after it
    assert p.returncode == 2 and 'Traceback' not in p.stderr and len(errors) == 1, p.stderr[-2000:]
    assert errors[0].startswith(f'finann-train: error: writing in {out} during training: File too large (os error 27)'), errors
    assert not (out / 'metrics.json').exists() and not any((c / 'trainer_state.json').exists() for c in out.glob('checkpoint-*'))
