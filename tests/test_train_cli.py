"End-to-end runs of `finann-train`: results, run folder, reload, bad input, secrets."
import json, re, sys
import numpy as np
import pytest
import torch
import yaml
from conftest import BIN, ROOT, SMALL, run_cmd


def test_default_job_beats_majority_and_writes_run_folder(small_run):
    p, out = small_run
    assert p.returncode == 0, p.stderr[-3000:]
    m = json.loads((out / 'metrics.json').read_text())
    for split in ('val', 'test'):
        assert m[split]['model']['accuracy'] > m[split]['baselines']['majority']['accuracy'] + 0.1, m[split]['model']
    assert m['world_size'] == 1
    for f in ('config.json', 'model.safetensors', 'trainer_state.json', 'config.yaml'):
        assert (out / f).is_file(), f
    assert len(list((out / 'wandb').glob('offline-run-*'))) == 1
    saved = yaml.safe_load((out / 'config.yaml').read_text())
    assert saved['dataset']['config']['n_tickers'] == 100  # the resolved config, overrides applied
    assert 'accuracy' in p.stdout and 'majority' in p.stdout  # the results table
    card = (out / 'report.md').read_text().split('# Evaluation')[0]  # the run card: each split's size and first and last date
    assert re.search(r'\| splits \(events, first – last target session\) \| train [\d,]+ \(2010-\d\d-\d\d – 2016-\d\d-\d\d\) · '
                     r'val [\d,]+ \(2017-\d\d-\d\d – 2017-\d\d-\d\d\) · test [\d,]+ \(2018-\d\d-\d\d – 2019-\d\d-\d\d\) \|', card), card


def test_saved_model_reloads_and_reproduces_val_accuracy(small_run, tmp_path):
    "from_pretrained on the run folder gives a model whose val accuracy is the reported one."
    p, out = small_run
    assert p.returncode == 0, p.stderr[-3000:]
    import finann  # noqa: F401  (registers the model with the Auto classes)
    from transformers import AutoModelForTokenClassification
    from finann.config import load_config
    from finann.task import setup_task
    model = AutoModelForTokenClassification.from_pretrained(out).eval()
    assert type(model).__name__ == 'MLPModelForTokenClassification'
    task = setup_task(load_config(ROOT / 'configs/default.yml', [f'trainer.output_dir={out}', *SMALL, f'embedding.config.cache_dir={tmp_path}/c2']))
    events, _ = task.build_datasets(); vectors = task.embed(events); labels = task.build_labels(events)
    batch = task.build_collator(vectors)(task.event_dataset(vectors, labels, 'val')[list(range(events['val'].num_rows))])
    with torch.no_grad(): acc = (model(batch['inputs_embeds']).logits.argmax(-1) == batch['labels']).float().mean().item()
    m = json.loads((out / 'metrics.json').read_text())
    assert acc == pytest.approx(m['val']['model']['accuracy'], abs=1e-6)


def test_second_run_uses_the_embedding_cache(small_run, tmp_path):
    p, out = small_run
    assert p.returncode == 0
    assert json.loads((out / 'metrics.json').read_text())['embedding']['encoded'] > 0
    out2 = tmp_path / 'run2'
    p2 = run_cmd([str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', '--options', f'trainer.output_dir={out2}', *SMALL], tmp_path)
    assert p2.returncode == 0, p2.stderr[-3000:]
    assert json.loads((out2 / 'metrics.json').read_text())['embedding']['encoded'] == 0


@pytest.mark.parametrize('options, expected', [
    (['model.config.num_mlp_layer=2'], "configs/default.yml: model.config.num_mlp_layer: unknown key; did you mean 'num_mlp_layers'?"),
    (['trainer.learning_rate=fast'], "configs/default.yml: trainer.learning_rate: expected float, got 'fast'"),
    (['embedding.cls_name=OpenAIEmbeding'], "configs/default.yml: embedding.cls_name: unknown embedding 'OpenAIEmbeding'"),
    (['model.config.hidden_size=384'], "model.config.hidden_size: 384 does not match the 1024-d vectors of HashingEmbedding"),
    (['collator.config.band=0.03'], "collator.config.band: unknown key"),
])
def test_bad_config_is_one_clear_line(tmp_path, options, expected):
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', '--options', f'trainer.output_dir={tmp_path}/o', *options], tmp_path)
    assert p.returncode == 2
    err = p.stderr.strip().splitlines()
    assert 'Traceback' not in p.stderr
    assert err[-1].startswith('finann-train: error: ') and expected in err[-1], p.stderr


def test_finished_run_is_not_overwritten(small_run, tmp_path):
    p, out = small_run
    assert p.returncode == 0
    before = (out / 'metrics.json').read_bytes()
    p2 = run_cmd([str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', '--options', f'trainer.output_dir={out}',
                  'trainer.overwrite_output_dir=false', *SMALL], tmp_path)
    assert p2.returncode == 2 and 'already holds a finished run' in p2.stderr
    assert (out / 'metrics.json').read_bytes() == before


def test_secrets_are_never_written(tmp_path):
    "Keys planted in --wandb-key, WANDB_API_KEY, OPENAI_API_KEY and HF_TOKEN appear in no output and no file of the run."
    keys = {name: f'finannplanted{name}' + '0123456789abcdef' * 2 for name in ('cli', 'WANDB_API_KEY', 'OPENAI_API_KEY', 'HF_TOKEN')}
    out = tmp_path / 'run'
    env = {k: v for k, v in keys.items() if k != 'cli'}
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', '--wandb-key', keys['cli'],
                 '--options', f'trainer.output_dir={out}', 'dataset.config.n_tickers=20', 'trainer.num_train_epochs=1', 'evaluator.n_boot=10'],
                tmp_path, WANDB_MODE='offline', **env)
    assert p.returncode == 0, p.stderr[-3000:]
    files = [f for f in out.rglob('*') if f.is_file()]
    assert len(files) > 10 and any('wandb' in f.parts for f in files)
    for name, key in keys.items():
        assert key not in p.stdout and key not in p.stderr, name
        for f in files: assert key.encode() not in f.read_bytes(), (name, f)


def test_original_layout_config_loads_and_builds():
    from finann.config import load_config
    from finann.task import setup_task
    cfg = load_config(ROOT / 'configs/original_layout.yml')
    task = setup_task(cfg)
    assert str(task.output_dir) == 'outputs/original-layout'  # 'TBD' means the default folder
    model = task.build_model()
    assert model.config.hidden_size == 3072 and len(model.layers) == 2
    args = task.training_arguments()
    assert args.per_device_train_batch_size == 4096 and args.use_cpu == (not torch.cuda.is_available())


def test_finann_eval_reproduces_the_run_and_writes_a_report(small_run, tmp_path):
    p, out = small_run
    assert p.returncode == 0, p.stderr[-3000:]
    ev = tmp_path / 'eval'
    from conftest import SMALL
    e = run_cmd([str(BIN / 'finann-eval'), '--cfg-path', 'configs/default.yml', '--checkpoint', str(out), '--split', 'test',
                 '--output-dir', str(ev), '--options', *SMALL], tmp_path)
    assert e.returncode == 0, e.stderr[-3000:]
    rep = json.loads((ev / 'report.json').read_text())
    assert list(rep) == ['test']
    m = json.loads((out / 'metrics.json').read_text())
    assert rep['test']['model']['accuracy'] == pytest.approx(m['test']['model']['accuracy'], abs=1e-9)
    assert rep['test']['backtest']['sharpe'] == pytest.approx(m['test']['backtest']['sharpe'], abs=1e-9)
    md = (ev / 'report.md').read_text()
    assert 'logistic' in md and 'ticker' in md and '.png' in md
    pngs = list(ev.rglob('*.png'))
    assert len(pngs) >= 3 and all(f.stat().st_size > 1000 for f in pngs)
    bad = run_cmd([str(BIN / 'finann-eval'), '--cfg-path', 'configs/default.yml', '--checkpoint', str(tmp_path / 'nope')], tmp_path)
    assert bad.returncode == 2 and 'holds no saved model' in bad.stderr.strip().splitlines()[-1]


def test_finann_eval_run_rebuilds_the_report_from_predictions_without_an_encoder(small_run, tmp_path):
    "finann-eval --run: the same report.json and report.md from predictions.parquet, and neither torch nor an encoder is imported."
    p, out = small_run
    assert p.returncode == 0, p.stderr[-3000:]
    import pandas as pd
    preds = pd.read_parquet(out / 'predictions.parquet')
    assert set(preds['split']) == {'val', 'test'} and {'p_0', 'p_1', 'baseline_logistic_p_1', 'label', 'move', 'd+1_date'} <= set(preds.columns)
    m = json.loads((out / 'metrics.json').read_text())
    assert len(preds[preds['split'] == 'test']) == m['test']['n']
    ev = tmp_path / 'again'
    probe = ("import sys, runpy; sys.argv = ['finann-eval', '--run', %r, '--output-dir', %r]; from finann.cli import eval_main; rc = eval_main(sys.argv[1:]); "
             "print('HEAVY', sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules)); sys.exit(rc)") % (str(out), str(ev))
    e = run_cmd([sys.executable, '-c', probe], tmp_path)
    assert e.returncode == 0, e.stderr[-3000:]
    assert "HEAVY []" in e.stdout  # no encoder, no model: only the table
    assert json.loads((ev / 'report.json').read_text()) == json.loads((out / 'report.json').read_text())
    assert (ev / 'report.md').read_text() == (out / 'report.md').read_text()
    for s in ('val', 'test'): assert json.loads((ev / 'report.json').read_text())[s]['model'] == m[s]['model']


def test_finann_eval_run_refuses_a_bad_predictions_file_in_one_line(small_run, tmp_path):
    "No file, a file an older finann wrote, a file that is no Parquet: one line each, naming the file; exit 2."
    import pandas as pd
    p, out = small_run
    assert p.returncode == 0
    cases = [(lambda d: None, 'no predictions file'),
             (lambda d: pd.DataFrame({'split': ['val']}).to_parquet(d / 'predictions.parquet'), 'written by an older finann'),
             (lambda d: (d / 'predictions.parquet').write_text('not parquet'), 'not a readable Parquet file'),
             (lambda d: damaged(d, 'p_1', float('nan')), 'row 3, column p_1: nan is not a finite number'),
             (lambda d: damaged(d, 'p_0', 2.5), 'row 3, column p_0: 2.5 is not a probability (0 to 1); are these logits?')]
    def damaged(d, column, value):  # the run's own predictions, one score spoilt, its metadata kept
        from finann.predictions import read_predictions, write_predictions
        df, meta = read_predictions(out)
        df.loc[2, column] = value
        write_predictions(df, d, {k: v for k, v in meta.items() if k != 'version'})
    for i, (make, expected) in enumerate(cases):
        run = tmp_path / f'copy{i}'; run.mkdir()
        for f in ('config.yaml', 'metrics.json'): (run / f).write_bytes((out / f).read_bytes())
        make(run)
        e = run_cmd([str(BIN / 'finann-eval'), '--run', str(run)], tmp_path)
        last = e.stderr.strip().splitlines()[-1]
        assert e.returncode == 2 and 'Traceback' not in e.stderr and last.startswith('finann-eval: error: ') and expected in last and 'predictions.parquet' in last, e.stderr


def test_finann_eval_run_refuses_predictions_that_do_not_match_the_config(small_run, tmp_path):
    "Predictions of another label scheme: one line. Predictions without the test split the config asks for: val is reported, and the skip is said."
    p, out = small_run
    assert p.returncode == 0
    import pandas as pd
    from finann.predictions import read_predictions, write_predictions
    val = tmp_path / 'val-only'; val.mkdir()
    (val / 'config.yaml').write_bytes((out / 'config.yaml').read_bytes())
    df, meta = read_predictions(out)
    write_predictions(df[df['split'] == 'val'], val, {k: v for k, v in meta.items() if k != 'version'})
    e = run_cmd([str(BIN / 'finann-eval'), '--run', str(val)], tmp_path)
    said = f"split test skipped: {val / 'predictions.parquet'} has no test rows (it has val); evaluator.splits asks for it"
    assert e.returncode == 0 and e.stdout.strip().splitlines()[-1] == f"notice: {said}", e.stdout[-2000:] + e.stderr[-2000:]
    assert list(json.loads((val / 'report.json').read_text())) == ['val']
    assert f"**Notice**: {said}." in (val / 'report.md').read_text().split('# Evaluation')[0]
    run = tmp_path / 'copy'; run.mkdir()
    for f in ('predictions.parquet', 'metrics.json'): (run / f).write_bytes((out / f).read_bytes())
    cfg = (out / 'config.yaml').read_text().replace('CollatorForBinaryClassification', 'CollatorForClassificationWithNeutral')
    (run / 'config.yaml').write_text(cfg)
    e = run_cmd([str(BIN / 'finann-eval'), '--run', str(run)], tmp_path)
    last = e.stderr.strip().splitlines()[-1]
    assert e.returncode == 2 and 'predictions.parquet' in last and "collator has 3" in last, e.stderr


def test_finann_predict_scores_new_texts_as_the_run_did(small_run, tmp_path):
    "finann-predict on the run's own val texts gives the probabilities predictions.parquet holds for them; a file without texts is one line."
    import pandas as pd, yaml
    from finann.config import load_config
    from finann.task import setup_task
    p, out = small_run
    assert p.returncode == 0
    events, _ = setup_task(load_config(out / 'config.yaml')).build_datasets()
    val = events['val'].to_pandas().head(20)
    val[['ticker', 'event_start_at_et', 'text']].to_json(tmp_path / 'texts.jsonl', orient='records', lines=True)
    e = run_cmd([str(BIN / 'finann-predict'), '--run', str(out), '--texts', str(tmp_path / 'texts.jsonl'), '--output', str(tmp_path / 'scored.csv')], tmp_path)
    assert e.returncode == 0, e.stderr[-2000:]
    got = pd.read_csv(tmp_path / 'scored.csv', dtype={'ticker': str})
    assert list(got.columns) == ['ticker', 'event_start_at_et', 'text', 'p_0', 'p_1', 'predicted', 'score'] and len(got) == 20
    preds = pd.read_parquet(out / 'predictions.parquet').query("split == 'val'")
    both = got.merge(preds, on=['ticker', 'event_start_at_et'], suffixes=('', '_run'))
    assert len(both) == 20 and (both['p_1'] - both['p_1_run']).abs().max() < 1e-5, both[['p_1', 'p_1_run']]
    (tmp_path / 'bad.csv').write_text('ticker,body\nA,x\n')
    b = run_cmd([str(BIN / 'finann-predict'), '--run', str(out), '--texts', str(tmp_path / 'bad.csv')], tmp_path)
    assert b.returncode == 2 and b.stderr.strip().splitlines()[-1] == f"finann-predict: error: {tmp_path / 'bad.csv'}: no text column (columns: ticker, body)"
