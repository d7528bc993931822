"`finann-train --walk-forward --seeds N`: one model per fold and seed, all out-of-sample predictions in one table, per-fold and per-seed reports; bad input in one line."
import json
import numpy as np
import pandas as pd
import pytest
from conftest import BIN, run_cmd

TINY = ['dataset.config.n_tickers=20', 'dataset.config.start_year=2013', 'dataset.config.end_year=2016', 'dataset.config.val_years=[2015]',
        'dataset.config.test_years=[2016]', 'trainer.num_train_epochs=1', 'evaluator.n_boot=200']


def train(tmp_path, *extra, **env):
    out = tmp_path / 'run'
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', *extra, '--options', f'trainer.output_dir={out}', *TINY], tmp_path, **env)
    return p, out


@pytest.fixture(scope='module')
def study(tmp_path_factory):
    "One uninterrupted walk-forward run: 2 folds × 2 seeds."
    return train(tmp_path_factory.mktemp('study'), '--walk-forward', '--seeds', '2')


def test_walk_forward_with_seeds_trains_each_fold_and_seed_and_reports_them(study):
    p, out = study
    assert p.returncode == 0, p.stderr[-3000:]
    preds = pd.read_parquet(out / 'predictions.parquet')
    # 4 years, a fold per year after one train and one val year: tests on 2015 and 2016, each trained with seeds 0 and 1
    assert sorted(map(tuple, preds[['fold', 'seed']].drop_duplicates().to_numpy().tolist())) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    test = preds[preds['split'] == 'test']
    when = lambda d: pd.to_datetime(d['event_start_at_et'], format='mixed')  # the synthetic events carry no d+1 date
    years = when(test).dt.year.groupby(test['fold']).unique()
    assert [list(y) for y in years] == [[2015], [2016]]
    for k in (0, 1):  # every train event of a fold is before its val, its val before its test: out-of-sample
        f = preds[preds['fold'] == k]
        assert when(f[f['split'] == 'val']).max() < when(f[f['split'] == 'test']).min()
    m = json.loads((out / 'metrics.json').read_text())
    t = m['test']
    n_events = len(test[test['seed'] == 0])  # seeds are repetitions of the same events: counted once
    assert t['n'] == n_events and sum(f['n'] for f in t['folds']) == n_events and [f['fold'] for f in t['folds']] == [0, 1]
    assert sum(m['test']['class_counts']) == n_events and 'sharpe' in t['seeds']['per_seed']['0']
    assert set(t['seeds']['per_seed']) == {'0', '1'} and t['seeds']['sd']['accuracy'] is not None
    assert t['backtest']['uncertainty']['n_trials'] == 4  # 2 folds × 2 seeds
    md = (out / 'report.md').read_text()
    assert '**Walk-forward folds**' in md and '| mean ± sd |' in md and f'## test ({n_events:,} events)' in md
    card = md.split('# Evaluation')[0]  # the run card: each fold's test period, its events counted once
    folds = [f"fold {f['fold']}: {f['start']} – {f['end']} ({f['n']:,} events)" for f in t['folds']]
    assert f"| walk-forward folds (test periods) | {' · '.join(folds)} |" in card and folds[0].startswith('fold 0: 2015-'), card
    assert 'test: 2 folds: ' in p.stdout and 'test: 2 seeds: accuracy ' in p.stdout
    assert (out / 'model.safetensors').is_file() and (out / 'trainer_state.json').is_file()


def test_walk_forward_bad_input_is_one_line(tmp_path):
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', '--walk-forward', '--options', f'trainer.output_dir={tmp_path / "a"}',
                 *TINY, 'evaluator.folds={min_events: 100000}'], tmp_path)
    last = p.stderr.strip().splitlines()[-1]
    assert p.returncode == 2 and 'evaluator.folds: every fold was skipped (fold 0 (test 2015) skipped: train has ' in last, p.stderr[-2000:]
    s = run_cmd([str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', '--seeds', '0'], tmp_path)
    assert s.returncode == 2 and s.stderr.strip().splitlines()[-1] == 'finann-train: error: --seeds: 0 trains nothing; give 1 or more'
    e = run_cmd([str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', '--options', 'run.seeds=[]'], tmp_path)
    assert e.returncode == 2 and 'run.seeds: List should have at least 1 item' in e.stderr.strip().splitlines()[-1]


def scores(out):
    df = pd.read_parquet(out / 'predictions.parquet').sort_values(['fold', 'seed', 'split', 'ticker', 'event_start_at_et'])
    return df[['fold', 'seed', 'split', 'ticker']].reset_index(drop=True), df[['p_0', 'p_1']].to_numpy()


def test_an_interrupted_study_goes_on_from_its_finished_units(study, tmp_path):
    "Killed right after its second fold × seed unit (FINANN_FAULT): refused without the flag; resumed, it reuses both and ends where the uninterrupted run did."
    _, ref = study
    p, out = train(tmp_path, '--walk-forward', '--seeds', '2', FINANN_FAULT='study.after_unit@2')
    assert p.returncode == -9 and not (out / 'metrics.json').exists(), p.stderr[-2000:]
    assert sorted(u.parent.name for u in (out / 'repeats').glob('*/unit.json')) == ['fold0-seed0', 'fold0-seed1']
    again, _ = train(tmp_path, '--walk-forward', '--seeds', '2')  # nothing destroyed: the finished units are not trained over
    assert again.returncode == 2 and 'holds an unfinished run (repeats/fold0-seed0, no metrics.json); continue it with --resume-from-checkpoint latest' in again.stderr.strip().splitlines()[-1]
    bare, _ = train(tmp_path, '--resume-from-checkpoint', 'latest')  # resumed without the flags it ran with
    assert bare.returncode == 2 and bare.stderr.strip().splitlines()[-1].endswith(
        "holds a walk-forward or multi-seed study (fold0-seed0, fold0-seed1 in repeats/); resume it with the flags it ran with (--walk-forward, --seeds N)"), bare.stderr[-2000:]
    resumed, _ = train(tmp_path, '--walk-forward', '--seeds', '2', '--resume-from-checkpoint', 'latest')
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    assert 'reused fold 0 (test 2015), seed 0' in log and 'reused fold 0 (test 2015), seed 1' in log and 'trained fold 1 (test 2016), seed 1' in log
    (keys, got), (ref_keys, want) = scores(out), scores(ref)
    pd.testing.assert_frame_equal(keys, ref_keys)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert json.loads((out / 'metrics.json').read_text())['test']['model']['accuracy'] == json.loads((ref / 'metrics.json').read_text())['test']['model']['accuracy']
    assert list((out / 'wandb').glob('offline-run-*')), 'the study logs one offline wandb run'


def test_a_study_resumes_only_from_latest(tmp_path):
    p, _ = train(tmp_path, '--walk-forward', '--resume-from-checkpoint', 'latest')
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1].endswith("no finished fold or seed in " + str(tmp_path / 'run' / 'repeats') + '; start the run again'), p.stderr[-2000:]
