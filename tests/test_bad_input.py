"""Bad input through the real CLIs: configs, data files, arguments and environment.

Each case asserts one clear last line that names the problem and where (file, key, row, column), a non-zero exit,
no traceback, and that earlier output in the run folder is left as it was."""
import os, resource, shutil
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import BIN, run_cmd

PRICES = ['d+1_open', 'd+1_close', 'd+2_open', 'd+2_close', 'd+3_open', 'd+3_close']


def events(n=40, start='2015-01-05'):
    "n well-formed events, one a week."
    t = pd.date_range(start, periods=n, freq='7D') + pd.Timedelta(hours=7)
    return pd.DataFrame({'text': [f'call {i} revenue beat' for i in range(n)], 'ticker': ['ABC'] * n,
                         'event_start_at_et': t.strftime('%Y-%m-%d %H:%M:%S'), **{c: np.linspace(10, 12, n) for c in PRICES}}) \
        .assign(**{'d+3_close': lambda d: d['d+1_open'] * np.where(np.arange(n) % 2, 1.02, 0.98)})  # up and down moves


def base_config(tmp_path, dataset=None):
    return {'model': {'config': {'hidden_size': 'auto', 'intermediate_size': 16}},
            'embedding': {'cls_name': 'HashingEmbedding', 'config': {'n_features': 64}},
            'collator': {'cls_name': 'CollatorForBinaryClassification'},
            'dataset': dataset or {'cls_name': 'SyntheticEarningsCallBuilder', 'config': {'n_tickers': 5}},
            'trainer': {'output_dir': str(tmp_path / 'run'), 'num_train_epochs': 1, 'report_to': []}}


def earlier_output(tmp_path):
    "A run folder holding an earlier, unfinished run's files."
    run = tmp_path / 'run'; (run / 'checkpoint-3').mkdir(parents=True, exist_ok=True)
    (run / 'checkpoint-3' / 'trainer_state.json').write_text('{"global_step": 3}')
    (run / 'earlier.txt').write_text('keep me')
    return {p: p.read_bytes() for p in run.rglob('*') if p.is_file()}


def assert_one_clear_line(p, expected, tmp_path, before, code=2):
    assert p.returncode == code, (p.returncode, p.stderr[-2000:])
    assert 'Traceback' not in p.stderr, p.stderr[-2000:]
    last = p.stderr.strip().splitlines()[-1]
    for e in expected: assert e in last, last
    assert not (tmp_path / 'run' / 'metrics.json').exists()
    assert {p: p.read_bytes() for p in (tmp_path / 'run').rglob('*') if p.is_file() and p in before} == before, 'earlier output changed'


def train(tmp_path, dataset):
    (tmp_path / 'cfg.yml').write_text(yaml.safe_dump(base_config(tmp_path, dataset)))
    return run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(tmp_path / 'cfg.yml')], tmp_path)


def local(path, **kw): return {'cls_name': 'LocalTranscriptBuilder', 'config': {'path': str(path), 'val_years': [2015], **kw}}


def write(df, path):
    if path.suffix == '.parquet': df.to_parquet(path)
    elif path.suffix == '.jsonl': df.to_json(path, orient='records', lines=True)
    else: df.to_csv(path, index=False)
    return path


def nan_prices(tmp):
    "A price the label reads (d+1 open → d+3 close) missing; a session the label doesn't read is no reason to drop."
    df = events(); df.loc[3:30, 'd+3_close'] = np.nan
    return local(write(df, tmp / 'ev.csv')), ['ev.csv row 4, column d+3_close', 'rows are unusable']

def zero_prices(tmp):
    df = events(); df.loc[1:35, 'd+1_open'] = 0.0
    return local(write(df, tmp / 'ev.parquet')), ['ev.parquet row 2, column d+1_open']

def negative_prices(tmp):
    df = events(); df.loc[:30, 'd+3_close'] = -5.0
    return local(write(df, tmp / 'ev.jsonl')), ['ev.jsonl row 1, column d+3_close']

def missing_file(tmp): return local(tmp / 'nope.csv'), ['nope.csv: data file or folder not found']

def empty_file(tmp):
    (tmp / 'empty.csv').write_text('')
    return local(tmp / 'empty.csv'), ['empty.csv: the file is empty']

def missing_columns(tmp):
    return local(write(events().drop(columns=['ticker', 'd+2_open']), tmp / 'ev.csv')), ['ev.csv: missing column(s) ticker, d+2_open']

def non_utf8(tmp):
    (tmp / 'ev.csv').write_bytes(events().to_csv(index=False).encode('utf-8').replace(b'call 1 ', b'caf\xe9 \xff '))
    return local(tmp / 'ev.csv'), ['ev.csv: not UTF-8 text']

def unsupported_type(tmp):
    (tmp / 'ev.xlsx').write_bytes(b'PK\x03\x04')
    return local(tmp / 'ev.xlsx'), ["ev.xlsx: unsupported file type '.xlsx'"]

def corrupt_parquet(tmp):
    (tmp / 'ev.parquet').write_bytes(b'PAR1 this is not parquet')
    return local(tmp / 'ev.parquet'), ['ev.parquet: could not read it']

def bad_dates(tmp):
    df = events(); df['event_start_at_et'] = ['31/31/2015 99:00'] * 30 + df['event_start_at_et'][30:].tolist()
    return local(write(df, tmp / 'ev.csv')), ['ev.csv row 1, column event_start_at_et', 'unparsable date']

def duplicates(tmp):
    df = events(10); df = pd.concat([df] * 4, ignore_index=True)
    return local(write(df, tmp / 'ev.csv')), ['duplicate event: ', 'ev.csv row 11']

def leaky_years(tmp):
    return local(write(events(120, '2014-01-06'), tmp / 'ev.csv'), val_years=[2014], test_years=None), ['leakage: a val event at 2014-01-06']

def empty_train_years(tmp):
    return local(write(events(), tmp / 'ev.csv'), train_years=[1999]), ['no events in train_years [1999]']

def ticker_without_prices(tmp):
    ev = events()[['ticker', 'event_start_at_et', 'text']]
    write(ev, tmp / 'events.csv'); (tmp / 'px').mkdir()
    pd.DataFrame({'date': pd.bdate_range('2015-01-01', '2016-12-31'), 'open': 10.0, 'close': 10.5}).to_csv(tmp / 'px' / 'XYZ.csv', index=False)
    return {'cls_name': 'EventStudyBuilder', 'config': {'events': str(tmp / 'events.csv'), 'prices': str(tmp / 'px'), 'val_years': [2015]}}, \
        ['events.csv row 1, column ticker, event_start_at_et', 'ticker without prices']

def price_file_without_open(tmp):
    write(events()[['ticker', 'event_start_at_et', 'text']], tmp / 'events.csv'); (tmp / 'px').mkdir()
    pd.DataFrame({'date': pd.bdate_range('2015-01-01', '2015-12-31'), 'close': 10.5}).to_csv(tmp / 'px' / 'ABC.csv', index=False)
    # closes only are read (a close-to-close label needs no opens); the default label starts at d+1's open: refused, naming it
    return {'cls_name': 'EventStudyBuilder', 'config': {'events': str(tmp / 'events.csv'), 'prices': str(tmp / 'px'), 'val_start': '2015-07-01'}}, \
        ["collator.config.start_field: 'd+1_open' is a missing or non-positive price on every event", 'start the label at a close']


CASES = [nan_prices, zero_prices, negative_prices, missing_file, empty_file, missing_columns, non_utf8, unsupported_type,
         corrupt_parquet, bad_dates, duplicates, leaky_years, empty_train_years, ticker_without_prices, price_file_without_open]


@pytest.mark.parametrize('case', CASES, ids=[c.__name__ for c in CASES])
def test_bad_data_is_one_clear_line(tmp_path, case):
    dataset, expected = case(tmp_path)
    before = earlier_output(tmp_path)
    p = train(tmp_path, dataset)
    assert_one_clear_line(p, ['finann-train: error: ', *expected], tmp_path, before)


# ---- configs: (how to break the config, what the line must say)
def drop(*keys):
    def f(c):
        for k in keys: c.pop(k)
    return f

def setk(path, value):
    def f(c):
        node = c
        for k in path[:-1]: node = node.setdefault(k, {})
        node[path[-1]] = value
    return f

CONFIGS = {
    'missing_section': (drop('model'), ['cfg.yml: model: required key is missing']),
    'misspelled_key': (setk(['model', 'config', 'num_mlp_layer'], 2), ["cfg.yml: model.config.num_mlp_layer: unknown key; did you mean 'num_mlp_layers'?"]),
    'wrong_type': (setk(['trainer', 'num_train_epochs'], 'many'), ["cfg.yml: trainer.num_train_epochs: expected float, got 'many'"]),
    'unknown_class': (setk(['embedding', 'cls_name'], 'OpenAIEmbeding'), ["cfg.yml: embedding.cls_name: unknown embedding 'OpenAIEmbeding'", 'registered: ']),
    'fp16_on_cpu': (setk(['trainer', 'fp16'], True), ['cfg.yml: trainer.fp16: true needs a CUDA GPU and none is visible']),
    'hidden_size_mismatch': (setk(['model', 'config', 'hidden_size'], 384), ['cfg.yml: model.config.hidden_size: 384 does not match the 64-d vectors of HashingEmbedding']),
    'negative_learning_rate': (setk(['trainer', 'learning_rate'], -0.001), ['cfg.yml: trainer.learning_rate: must be positive, got -0.001']),
    'unknown_section': (setk(['evaluation'], {}), ['cfg.yml: evaluation: unknown key']),
    'regression_collator_with_classifier': (setk(['collator', 'cls_name'], 'CollatorForRegression'), ['cfg.yml: model.model_cls_name: CollatorForRegression needs a regression model']),
    'bad_evaluator_value': (setk(['evaluator', 'weighting'], 'l3'), ["cfg.yml: evaluator.weighting: Input should be 'uniform', 'l1' or 'l2'"]),
    'bad_builder_value': (setk(['dataset', 'config', 'signal_strength'], 2.0), ['cfg.yml: dataset.config.signal_strength: Input should be less than or equal to 1']),
}


@pytest.mark.parametrize('name', list(CONFIGS))
def test_bad_config_is_one_clear_line(tmp_path, name):
    breaker, expected = CONFIGS[name]
    if name == 'fp16_on_cpu':
        import torch
        if torch.cuda.is_available(): pytest.skip('a GPU is visible: fp16 is allowed')
    cfg = base_config(tmp_path); breaker(cfg)
    (tmp_path / 'cfg.yml').write_text(yaml.safe_dump(cfg))
    before = earlier_output(tmp_path)
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(tmp_path / 'cfg.yml')], tmp_path)
    assert_one_clear_line(p, ['finann-train: error: ', *expected], tmp_path, before)


def test_invalid_yaml_names_the_line(tmp_path):
    (tmp_path / 'cfg.yml').write_text('model:\n  config: {hidden_size: auto\ntrainer: {}\n')
    before = earlier_output(tmp_path)
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(tmp_path / 'cfg.yml')], tmp_path)
    assert_one_clear_line(p, ['cfg.yml: line ', 'invalid YAML'], tmp_path, before)


# ---- command-line arguments
ARGS = {
    'missing_cfg_path': ([], ['the following arguments are required: --cfg-path']),
    'override_without_equals': (['--cfg-path', 'configs/default.yml', '--options', 'trainer.learning_rate'], ["override 'trainer.learning_rate' must look like key.path=value"]),
    'override_into_a_value': (['--cfg-path', 'configs/default.yml', '--options', 'trainer.learning_rate.x=1'], ['trainer.learning_rate is not a section']),
    'config_is_a_folder': (['--cfg-path', 'configs'], ['configs: config file not found']),
    'unknown_flag': (['--cfg-path', 'configs/default.yml', '--epochs', '3'], ['unrecognized arguments: --epochs 3']),
}


@pytest.mark.parametrize('name', list(ARGS))
def test_bad_arguments_are_one_clear_line(tmp_path, name):
    argv, expected = ARGS[name]
    before = earlier_output(tmp_path)
    p = run_cmd([str(BIN / 'finann-train'), *argv], tmp_path)
    assert_one_clear_line(p, expected, tmp_path, before)


# ---- environment
def cli(tmp_path, *extra, cfg=None, **env):
    (tmp_path / 'cfg.yml').write_text(yaml.safe_dump(cfg or base_config(tmp_path)))
    return run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(tmp_path / 'cfg.yml'), *extra], tmp_path, **env)


def test_missing_checkpoint_path(tmp_path):
    before = earlier_output(tmp_path)
    p = cli(tmp_path, '--resume-from-checkpoint', str(tmp_path / 'nope'))
    assert_one_clear_line(p, ['--resume-from-checkpoint: ', 'nope is not a checkpoint folder'], tmp_path, before)


def test_unwritable_output_dir(tmp_path):
    (tmp_path / 'afile').write_text('x')
    cfg = base_config(tmp_path); cfg['trainer']['output_dir'] = str(tmp_path / 'afile' / 'run')
    before = earlier_output(tmp_path)
    p = cli(tmp_path, cfg=cfg)
    assert_one_clear_line(p, ['trainer.output_dir: cannot write to ', 'afile/run'], tmp_path, before)


def test_full_cache_dir(tmp_path):
    "A file-size limit makes the embedding cache write fail the way a full disk does (EFBIG/ENOSPC)."
    import subprocess
    from conftest import ROOT, run_env
    (tmp_path / 'cfg.yml').write_text(yaml.safe_dump(base_config(tmp_path)))
    before = earlier_output(tmp_path)
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    p = subprocess.run([str(BIN / 'finann-train'), '--cfg-path', str(tmp_path / 'cfg.yml')], cwd=ROOT, env=run_env(tmp_path),
                       capture_output=True, text=True, timeout=300, preexec_fn=limit)
    assert_one_clear_line(p, ['could not write the cache', str(tmp_path / 'cache')], tmp_path, before)


def test_cache_dir_is_a_file(tmp_path):
    (tmp_path / 'cachefile').write_text('x')
    before = earlier_output(tmp_path)
    p = cli(tmp_path, FINANN_CACHE=str(tmp_path / 'cachefile'))
    assert_one_clear_line(p, ['cachefile'], tmp_path, before)


def test_wandb_key_given_but_offline(tmp_path):
    cfg = base_config(tmp_path); cfg['trainer'].pop('report_to')
    before = earlier_output(tmp_path)
    p = cli(tmp_path, cfg=cfg, WANDB_API_KEY='k' * 40, WANDB_BASE_URL='http://127.0.0.1:9', WANDB_MODE='')
    assert_one_clear_line(p, ["wandb: a key is set but 127.0.0.1 can't be reached; set WANDB_MODE=offline"], tmp_path, before)
    assert 'k' * 40 not in p.stderr + p.stdout


def test_ten_megabyte_text_trains(tmp_path):
    "Defined behaviour, not an error: one 10 MB transcript is embedded like any other."
    df = events(60, '2014-01-06'); df.loc[5, 'text'] = 'revenue beat guidance raised ' * 350_000
    p = train(tmp_path, local(write(df, tmp_path / 'ev.parquet')))
    assert p.returncode == 0, p.stderr[-2000:]
    assert (tmp_path / 'run' / 'metrics.json').exists()
