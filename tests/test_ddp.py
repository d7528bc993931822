"`finann-train` under real torchrun with 2 processes on CPU (gloo DDP)."
import json, math
from conftest import BIN, run_cmd


def test_torchrun_two_processes_is_real_ddp(tmp_path):
    out = tmp_path / 'run'
    bs, epochs = 64, 2
    p = run_cmd([str(BIN / 'torchrun'), '--standalone', '--nproc_per_node=2', '-m', 'finann.cli', '--cfg-path', 'configs/default.yml',
                 '--options', f'trainer.output_dir={out}', 'dataset.config.n_tickers=50', f'trainer.num_train_epochs={epochs}',
                 f'trainer.per_device_train_batch_size={bs}'], tmp_path, timeout=900)
    assert p.returncode == 0, p.stderr[-4000:]
    m = json.loads((out / 'metrics.json').read_text())
    assert m['world_size'] == 2
    n_train = m['train']['n']
    state = json.loads((out / 'trainer_state.json').read_text())
    # one optimizer step consumes 2 x bs events: ranks that trained apart would take twice the steps
    assert state['global_step'] == epochs * math.ceil(n_train / (2 * bs)), (state['global_step'], n_train)
    assert len(list((out / 'wandb').glob('offline-run-*'))) == 1  # one wandb run, from rank 0
    assert p.stdout.count('finann: ') == 1  # only rank 0 prints the results table
    assert m['val']['model']['accuracy'] > m['val']['baselines']['majority']['accuracy']
