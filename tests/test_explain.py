"The explanation sheet of real runs: the identity line fires when the only signal is the ticker and not on the default data; missing inputs and too few events."
import re, shutil
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import BIN, ROOT, run_cmd

SMALL = ['trainer.num_train_epochs=3', 'evaluator.n_boot=10', 'trainer.save_strategy="no"', 'trainer.eval_strategy=epoch']


def ticker_only_events(path, n_tickers=40, seed=0):
    "Synthetic calls whose text says nothing about the move (signal 0), and whose move is the ticker's own: half the companies go up, half down."
    from finann.data import SyntheticEarningsCallBuilder
    df = SyntheticEarningsCallBuilder(n_tickers=n_tickers, signal_strength=0, seed=seed).load_frame()
    rng = np.random.default_rng(seed)
    up = {t: 1 if i % 2 else -1 for i, t in enumerate(sorted(df['ticker'].unique()))}
    df['d+3_close'] = df['d+1_open'] * np.exp(0.02 * df['ticker'].map(up) + rng.normal(0, 0.01, len(df)))
    df.to_parquet(path, index=False)
    return path


def train(tmp_path, name, config_changes=None, options=()):
    cfg = yaml.safe_load((ROOT / 'configs/default.yml').read_text())
    for k, v in (config_changes or {}).items(): cfg[k] = v
    cfg_path = tmp_path / f'{name}.yml'; cfg_path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / name
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(cfg_path), '--options', f'trainer.output_dir={out}', *SMALL, *options], tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    return out


def sheet_lines(out):
    md = (out / 'explain.md').read_text()
    assert not re.search(r'\bnan\b', md, re.I), md
    return md


def test_identity_line_fires_when_the_signal_is_the_ticker_only(tmp_path):
    data = ticker_only_events(tmp_path / 'calls.parquet')
    out = train(tmp_path, 'ticker_only', {'dataset': {'cls_name': 'LocalTranscriptBuilder', 'config': {'path': str(data), 'val_years': [2017], 'test_years': [2018, 2019]}}},
                ['trainer.num_train_epochs=10', 'trainer.learning_rate=3e-3'])  # 9 steps an epoch: the names take a few epochs to learn
    md = sheet_lines(out)
    head = md.split('## 1.')[0]
    assert 'Identity, not content' in head and 'mask_entities' in head, head  # in the first lines: the Launcher shows them
    assert 'Identity, not content' in md.split('## 3. Identity')[1]
    for f in ('explain_calibration', 'explain_event', 'explain_fit'): assert (out / 'plots' / f'{f}.png').is_file(), f


def test_default_data_gets_every_part_and_no_identity_line(tmp_path, monkeypatch):
    out = train(tmp_path, 'default', options=['dataset.config.n_tickers=40'])
    md = sheet_lines(out)
    assert 'Identity, not content' not in md
    for part in ('## 1. Examples', '### val', '### test', 'most up', 'largest errors', 'A bag of words explains', 'A linear probe names the company',
                 'expected calibration error', 'IC (mean weekly)', 'The signal'):
        assert part in md, part
    assert 'not built' not in md.split('## 1.')[0], md[:1500]
    # the cache cleared: the identity probe says why it is missing, the rest is built (finann-eval --run DIR --explain)
    p = run_cmd([str(BIN / 'finann-eval'), '--run', str(out), '--explain', '--output-dir', str(tmp_path / 'nocache')], tmp_path, FINANN_CACHE=str(tmp_path / 'empty'))
    assert p.returncode == 0, p.stderr[-2000:]
    md = sheet_lines(tmp_path / 'nocache')
    assert 'not in the embedding cache' in md and 'A bag of words explains' in md and 'The signal' in md, md[:2000]
    assert 'explain.md' in p.stdout.splitlines()[0]
    # too few events for a probe: one line each, no NaN
    from finann.predictions import read_predictions, write_predictions
    df, meta = read_predictions(out)
    few = tmp_path / 'few'; few.mkdir()
    shutil.copy(out / 'explain_events.parquet', few); shutil.copy(out / 'config.yaml', few)
    write_predictions(pd.concat([df[df['split'] == s].head(12) for s in ('val', 'test')]), few, meta)
    from finann.runs import load_run
    monkeypatch.setenv('FINANN_CACHE', str(tmp_path / 'cache'))  # the run's cache (run_cmd's)
    sheet = load_run(few).explain()
    md = sheet_lines(few)
    assert md.count('too few events') >= 2, md[:3000]
