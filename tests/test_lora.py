"LoRA encoder + MLP end to end on CPU with the packaged MiniLM and real peft, HF Trainer, torchrun: train, evaluate, predict, SIGKILL + resume, reload, finann-eval, bad input."
import json, subprocess, time
import numpy as np
import pandas as pd
import pytest
from conftest import BIN, ROOT, run_cmd, run_env

CFG = 'configs/lora_minilm.yml'
# 112 training events, 7 steps of 16 per epoch; 32 tokens (every synthetic call is longer: no padding, so batch makeup
# changes nothing); no dropout, so that 2 ranks of 8 compute what 1 process of 16 does
TINY = ['dataset.config.n_tickers=4', 'model.config.max_seq_length=32', 'model.config.long_text=truncate', 'model.config.intermediate_size=64',
        'model.config.hidden_dropout=0.0', 'model.config.classifier_dropout=0.0', 'model.lora.lora_dropout=0.0', 'trainer.learning_rate=2.0e-3',
        'trainer.num_train_epochs=2', 'trainer.logging_steps=1', 'trainer.save_strategy=steps', 'trainer.save_steps=3',
        'trainer.save_total_limit=2', 'trainer.per_device_eval_batch_size=16', 'evaluator.n_boot=20']


def train_cmd(out, *extra, per_device=16):
    return [str(BIN / 'finann-train'), '--cfg-path', CFG, '--options', f'trainer.output_dir={out}', f'trainer.per_device_train_batch_size={per_device}', *TINY, *extra]


def metrics(out): return json.loads((out / 'metrics.json').read_text())


def losses(out): return [h['loss'] for h in json.loads((out / 'trainer_state.json').read_text())['log_history'] if 'loss' in h]


def model_scores(out): return pd.read_parquet(out / 'predictions.parquet').sort_values(['split', 'ticker', 'event_start_at_et'])[['split', 'p_0', 'p_1']]


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    "One uninterrupted LoRA run."
    tmp = tmp_path_factory.mktemp('lora'); out = tmp / 'run'
    p = run_cmd(train_cmd(out, 'model.tuned_encoder=tuned'), tmp)
    assert p.returncode == 0, p.stderr[-3000:]
    return tmp, out


def test_lora_run_trains_evaluates_and_writes_small_checkpoints(reference):
    from safetensors.torch import load_file
    _, out = reference
    m = metrics(out)
    assert m['train']['n'] == 112 and json.loads((out / 'trainer_state.json').read_text())['global_step'] == 14
    preds = pd.read_parquet(out / 'predictions.parquet')
    assert len(preds) == m['val']['n'] + m['test']['n'] and preds[['p_0', 'p_1']].notna().all().all()
    assert {'baseline_majority_p_1', 'baseline_logistic_p_1'} <= set(preds.columns)  # judged beside the baselines
    assert json.loads((out / 'config.json').read_text())['model_type'] == 'finann-encoder-mlp'
    # the checkpoint holds the adapters and the head only, not the 90 MB encoder
    weights = load_file(out / 'model.safetensors')
    assert weights and all('lora_' in k or k.startswith('head.') for k in weights), sorted(weights)[:5]
    assert (out / 'model.safetensors').stat().st_size < 2e6
    # the adapters trained: LoRA's B matrices start at zero
    b = [v for k, v in weights.items() if 'lora_B' in k]
    assert len(b) == 12 and all(v.abs().sum() > 0 for v in b)
    assert losses(out)[-1] < losses(out)[0]
    assert (out / 'report.md').is_file()


def test_tuned_encoder_feeds_the_frozen_vector_path(reference):
    "model.tuned_encoder: the adapters merged into a plain model folder, and the embedding section that reads it."
    import yaml
    from safetensors.torch import load_file
    from finann.embedding import HFEmbedding, packaged_minilm_path
    _, out = reference
    section = yaml.safe_load((out / 'tuned' / 'finann_embedding.yml').read_text())['embedding']
    assert section['cls_name'] == 'HFEmbedding' and section['config']['model_name_or_path'] == str(out / 'tuned')
    tuned, base = load_file(out / 'tuned' / 'model.safetensors'), load_file(f'{packaged_minilm_path()}/model.safetensors')
    key = next(k for k in tuned if k.endswith('layer.0.attention.self.query.weight'))
    assert not any('lora' in k for k in tuned) and not (tuned[key] == base[key]).all()  # merged: the deltas are in the weights
    assert all((tuned[k] == base[k]).all() for k in tuned if 'query' not in k and 'value' not in k and k in base)
    emb = HFEmbedding(**section['config'], cache_dir=str(out / 'cache'))
    assert emb.identity()['model'] != HFEmbedding(max_length=32, long_text='truncate').identity()['model']  # its own cache identity
    assert emb(['Revenue beat the consensus.']).shape == (1, 384)


def wait_for_checkpoint(out, proc, step, timeout=300):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if [c for c in out.glob('checkpoint-*') if (c / 'trainer_state.json').exists() and int(c.name.split('-')[1]) >= step]: return
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        time.sleep(0.05)
    raise AssertionError('no checkpoint appeared')


def test_sigkill_then_resume_matches_uninterrupted(reference):
    tmp, ref = reference
    out = tmp / 'killed'
    proc = subprocess.Popen(train_cmd(out), cwd=ROOT, env=run_env(tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_checkpoint(out, proc, step=3)
    proc.kill(); proc.wait()
    assert not (out / 'metrics.json').exists()
    p = run_cmd(train_cmd(out, '--resume-from-checkpoint', 'latest'), tmp)
    assert p.returncode == 0, p.stderr[-3000:]
    for s in ('val', 'test'):
        for k, v in metrics(ref)[s]['model'].items():
            assert metrics(out)[s]['model'][k] == (pytest.approx(v, abs=1e-6) if isinstance(v, float) else v), (s, k)
    a, b = model_scores(out), model_scores(ref)
    np.testing.assert_allclose(a[['p_0', 'p_1']].to_numpy(), b[['p_0', 'p_1']].to_numpy(), atol=1e-6)


def test_reload_with_the_base_path_and_finann_eval(reference):
    "from_pretrained plus the base encoder's folder; finann-eval --checkpoint predicts what the run predicted; --run rebuilds the report."
    import torch
    from safetensors.torch import load_file
    from finann.embedding import packaged_minilm_path
    from finann.model_encoder import EncoderMLPForTokenClassification
    tmp, ref = reference
    m = EncoderMLPForTokenClassification.from_pretrained(ref, base_model_name_or_path=packaged_minilm_path())
    state = m.state_dict()
    assert all(torch.equal(state[k], v) for k, v in load_file(ref / 'model.safetensors').items())
    out = tmp / 'eval'
    p = run_cmd([str(BIN / 'finann-eval'), '--checkpoint', str(ref), '--cfg-path', CFG, '--output-dir', str(out), '--options', *TINY], tmp)
    assert p.returncode == 0, p.stderr[-3000:]
    np.testing.assert_allclose(model_scores(out)[['p_0', 'p_1']].to_numpy(), model_scores(ref)[['p_0', 'p_1']].to_numpy(), atol=1e-5)
    p = run_cmd([str(BIN / 'finann-eval'), '--run', str(ref), '--output-dir', str(tmp / 'again')], tmp)
    assert p.returncode == 0 and (tmp / 'again' / 'report.md').is_file(), p.stderr[-3000:]


def test_torchrun_two_processes_with_gradient_checkpointing(reference):
    "2 gloo ranks of 8 events with gradient checkpointing on compute what 1 process of 16 does."
    tmp, ref = reference
    out = tmp / 'ddp'
    p = run_cmd([str(BIN / 'torchrun'), '--standalone', '--nproc_per_node=2', '-m', 'finann.cli', *train_cmd(out, 'trainer.gradient_checkpointing=true', per_device=8)[1:]],
                tmp, timeout=900)
    assert p.returncode == 0, p.stderr[-4000:]
    m, m1 = metrics(out), metrics(ref)
    assert m['world_size'] == 2 and json.loads((out / 'trainer_state.json').read_text())['global_step'] == 14
    assert losses(out)[0] == pytest.approx(losses(ref)[0], abs=2e-3)  # the first step's loss: the same global batch, the same weights
    assert losses(out)[-1] == pytest.approx(losses(ref)[-1], abs=2e-2)
    for s in ('val', 'test'):  # every event predicted once
        assert m[s]['n'] == m1[s]['n'] and sum(map(sum, m[s]['model']['confusion_matrix'])) == m[s]['n']
    # each event's score, not the accuracy: this tiny model gives every event nearly the same p_1 (a spread of ~0.003), so its
    # accuracy is a step function of one shared offset (one rounding can flip all 16 val events, 0.0625 each). Two 2-rank runs
    # are bit-identical (measured, also at load average 17); 2 ranks vs 1 process: max |Δp_1| 0.0014 over 48 events
    np.testing.assert_allclose(model_scores(out)[['p_0', 'p_1']].to_numpy(), model_scores(ref)[['p_0', 'p_1']].to_numpy(), atol=5e-3)


BAD = [(['model.lora.target_modules=[q_proj]'], "model.lora.target_modules: ['q_proj'] not in", 'its linear modules: dense, key, query, value'),
       (['model.config.base_model_name_or_path=/nowhere/encoder'], "model.config.base_model_name_or_path: '/nowhere/encoder' is not a model folder", None),
       (['model.config.max_seq_length=1024'], 'model.config.max_seq_length: 1024 is more than', '(512 positions)'),
       (['model.lora.rank=4'], 'model.lora.rank: unknown key', None)]


@pytest.mark.parametrize('opts,msg,also', BAD, ids=['target_module', 'base_folder', 'max_seq_length', 'lora_key'])
def test_bad_lora_input_is_one_line(opts, msg, also):
    from finann.config import ConfigError, load_config
    from finann.task import setup_task
    with pytest.raises(ConfigError) as e: setup_task(load_config(ROOT / CFG, opts)).build_model()
    line = str(e.value)
    assert '\n' not in line and line.startswith(f'{ROOT / CFG}: {msg}') and (also is None or also in line), line


def test_fp16_on_cpu_and_lora_on_the_frozen_mlp_are_one_line():
    from finann.config import ConfigError, load_config
    from finann.task import setup_task
    with pytest.raises(ConfigError, match=r'trainer.fp16: true needs a CUDA GPU and none is visible; set fp16: false \(bf16: true works on CPU\)$'):
        setup_task(load_config(ROOT / CFG, ['trainer.fp16=true'])).training_arguments()
    with pytest.raises(ConfigError, match='model.lora: LoRA adapters need a model that reads text, such as EncoderMLPForTokenClassification; MLPModelForTokenClassification'):
        load_config(ROOT / 'configs/default.yml', ['model.lora.r=8'])
    with pytest.raises(ConfigError, match='model.tuned_encoder: only a model that fine-tunes its encoder has one to save'):
        load_config(ROOT / 'configs/default.yml', ['model.tuned_encoder=tuned'])
    with pytest.raises(ConfigError, match='model.config_cls_name: EncoderMLPForTokenClassification takes EncoderMLPConfig, not MLPModelConfig'):
        load_config(ROOT / CFG, ['model.config_cls_name=MLPModelConfig'])


def test_regression_twin_trains_predicts_and_reports(tmp_path):
    "EncoderMLPForMSELoss with CollatorForRegression through the real finann-train and finann-eval: MSE metrics, a y_hat per event."
    out = tmp_path / 'run'
    p = run_cmd(train_cmd(out, 'model.model_cls_name=EncoderMLPForMSELoss', 'collator.cls_name=CollatorForRegression'), tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    m = metrics(out)
    for s in ('val', 'test'):
        assert {'mse', 'mae', 'r2', 'direction_accuracy'} <= set(m[s]['model']), (s, m[s]['model'])
        assert {'train_mean', 'ridge'} <= set(m[s]['baselines'])  # judged beside the regression baselines
    preds = pd.read_parquet(out / 'predictions.parquet')
    for s in ('val', 'test'):
        split = preds.query('split == @s')
        assert len(split) == m[s]['n'] and not split.duplicated(['ticker', 'event_start_at_et']).any()
        assert split['y_hat'].notna().all() and np.isfinite(split['y_hat']).all()
        assert np.mean((split['y_hat'] - split['label']) ** 2) == pytest.approx(m[s]['model']['mse'], rel=1e-4)
    # the prediction depends on the text: an encoder cut off from the head would give every event the same y_hat
    assert preds['y_hat'].std() > 1e-4, preds['y_hat'].describe()
    steps = losses(out)  # 7 steps per epoch, the same 112 events each epoch
    assert np.mean(steps[-7:]) < np.mean(steps[:7]), steps
    p = run_cmd([str(BIN / 'finann-eval'), '--run', str(out), '--output-dir', str(tmp_path / 'again')], tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    again = json.loads((tmp_path / 'again' / 'report.json').read_text())
    assert again['test']['model']['mse'] == pytest.approx(m['test']['model']['mse'], rel=1e-6)
    assert 'mse' in (tmp_path / 'again' / 'report.md').read_text().lower()
