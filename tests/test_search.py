"`finann-train --search`: Optuna trials on folds inside train+val, the trial ledger that the final run's verdict and deflated Sharpe count, PBO, resuming a killed search, two workers on one study, bad input in one line."
import hashlib, json, subprocess
import pandas as pd
import pytest
from conftest import BIN, ROOT, run_cmd, run_env

# 20 tickers × 5 years: train 2013-2015, val 2016, test 2017; the search's folds hold out 2015 and 2016 (inside train+val)
TINY = ['dataset.config.n_tickers=20', 'dataset.config.start_year=2013', 'dataset.config.end_year=2017', 'dataset.config.val_years=[2016]',
        'dataset.config.test_years=[2017]', 'trainer.num_train_epochs=1', 'evaluator.n_boot=200', 'trainer.report_to=[]']
SPACE = "trainer.learning_rate: {low: 1.0e-4, high: 1.0e-2, log: true}\nmodel.config.num_mlp_layers: [0, 1]\n"


def search_cmd(tmp_path, trials=3, *extra, space=SPACE):
    (tmp_path / 'search.yml').write_text(space)
    return [str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', '--search', str(tmp_path / 'search.yml'), '--trials', str(trials),
            '--options', f'trainer.output_dir={tmp_path / "default"}', *TINY, *extra]


def search(tmp_path, trials=3, *extra, **env):
    return run_cmd(search_cmd(tmp_path, trials, *extra), tmp_path, **env)


def ledger(tmp_path):
    return [json.loads(l) for l in (tmp_path / 'default' / 'ledger.jsonl').read_text().splitlines()]


@pytest.fixture(scope='module')
def searched(tmp_path_factory):
    "One uninterrupted 3-trial search at the default signal."
    tmp = tmp_path_factory.mktemp('search')
    return search(tmp), tmp


def test_final_run_counts_the_ledger_and_the_search_never_reads_test(searched):
    p, tmp = searched
    assert p.returncode == 0, p.stderr[-3000:]
    trials = [e for e in ledger(tmp) if e['kind'] == 'trial']
    n = sum(e['counts'] for e in ledger(tmp))
    assert n == 3 and [e['trial'] for e in trials] == [0, 1, 2]
    for e in trials:  # config, seed, folds, score and time of every trial
        assert e['config']['model']['config']['num_mlp_layers'] in (0, 1) and e['seed'] == 2024 and e['seconds'] > 0
        assert [f['held_out'] for f in e['folds']] == ['2015', '2016'] and 0 <= e['value'] <= 1
    final = tmp / 'default-final'
    m = json.loads((final / 'metrics.json').read_text())
    test = pd.read_parquet(final / 'predictions.parquet').query("split == 'test'")
    first_test = pd.to_datetime(test['event_start_at_et'], format='mixed', utc=True).min()
    for e in trials:  # the test split was never built into a trial's events: not embedded, labelled or folded
        assert e['data']['splits'] == ['train', 'val'] and pd.Timestamp(e['data']['last']) < first_test
    t = m['test']
    assert t['verdict']['n_tests'] == n and t['backtest']['uncertainty']['n_trials'] == n and t['ic']['n_trials'] == n
    assert t['trials']['source'].startswith("the trial ledger of study 'default'")
    md = (final / 'report.md').read_text()
    assert f"**Configurations tried**: {n}, from the trial ledger of study 'default'" in md and f"deflated for {n} trials" in md
    assert f"{n} configurations tried: Bonferroni p" in t['verdict']['line']
    s = json.loads((tmp / 'default' / 'search.json').read_text())
    assert s['n_trials'] == n and s['sentence'].startswith(f"{n} configurations tried; the best one's test result is accuracy: model ")
    assert f'deflated for {n} trials: ' in s['sentence'] and s['best']['test'] == pytest.approx(t['model']['accuracy'])
    assert s['pbo']['pbo'] is not None and (tmp / 'default' / 'plots' / 'search_pbo.png').is_file()
    assert (tmp / 'default' / 'plots' / 'search_objective.png').is_file() and '## Trials' in (tmp / 'default' / 'search.md').read_text()
    assert s['sentence'] in p.stdout


def test_a_plain_run_of_the_study_counts_itself_and_an_override_is_stated(searched):
    p, tmp = searched
    out = tmp / 'plain'
    r = run_cmd([str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', '--options', f'trainer.output_dir={out}', *TINY,
                 'run.study=default'], tmp)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((out / 'metrics.json').read_text())
    assert m['test']['verdict']['n_tests'] == 4 and ledger(tmp)[-1]['kind'] == 'run' and sum(e['counts'] for e in ledger(tmp)) == 4
    r = run_cmd([str(BIN / 'finann-eval'), '--run', str(out), '--output-dir', str(tmp / 'override'), '--options', 'evaluator.configs_tried=2'], tmp)
    assert r.returncode == 0, r.stderr[-2000:]  # finann-eval reads the saved config, the ledger (4: the run is in it once) and the override
    assert "**Configurations tried**: 2, from evaluator.configs_tried, an override; the ledger of study 'default' counts 4" in (tmp / 'override' / 'report.md').read_text()


def test_a_storage_searched_over_another_space_is_refused_and_nothing_changes(searched):
    p, tmp = searched
    db, led = tmp / 'default' / 'search.db', tmp / 'default' / 'ledger.jsonl'
    before = [hashlib.sha256(f.read_bytes()).hexdigest() for f in (db, led)]
    (tmp / 'other').mkdir(exist_ok=True)
    r = run_cmd(search_cmd(tmp / 'other', 3, space="model.config.num_mlp_layers: [0, 1, 2]\n")[:-len(TINY) - 1]
                + [f'trainer.output_dir={tmp / "default"}', *TINY], tmp)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and "study 'default' was made by a search over another space (keys ['model.config.num_mlp_layers', 'trainer.learning_rate'])" in last, r.stderr[-2000:]
    assert [hashlib.sha256(f.read_bytes()).hexdigest() for f in (db, led)] == before


@pytest.mark.parametrize('space, expect', [
    ("trainer.learnin_rate: [1.0e-3]\n", "trainer.learnin_rate: unknown key; did you mean 'learning_rate'?"),
    ("metric: acuracy\ntrainer.learning_rate: [1.0e-3]\n", "metric: 'acuracy' is not a metric of this task; did you mean 'accuracy'?"),
    ("trainer.learning_rate: {low: 1.0e-2, high: 1.0e-4}\n", "trainer.learning_rate: low 0.01 is above high 0.0001"),
    ("metric: accuracy\n", "the search space is empty")])
def test_bad_search_space_is_one_line(tmp_path, space, expect):
    r = run_cmd(search_cmd(tmp_path, 3, space=space), tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and lines[-1].startswith(f"finann-train: error: {tmp_path / 'search.yml'}: ") and expect in lines[-1], r.stderr[-2000:]
    assert not (tmp_path / 'default' / 'search.db').exists()


def test_a_killed_search_resumes_to_the_same_final_result(searched, tmp_path):
    p, ref = searched
    # killed after trial 1's first fold (the 3rd fold trained): its process dies with SIGKILL, nothing written after
    k = search(tmp_path, FINANN_FAULT='search.after_fold@3')
    assert k.returncode == -9, k.stderr[-2000:]
    assert [e['trial'] for e in ledger(tmp_path)] == [0]
    r = search(tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    states = {e['trial']: e['state'] for e in ledger(tmp_path) if e['kind'] == 'trial'}
    assert states == {0: 'complete', 1: 'killed', 2: 'complete', 3: 'complete'}
    a, b = (json.loads((d / 'default' / 'search.json').read_text()) for d in (ref, tmp_path))
    assert a['n_trials'] == b['n_trials'] == 3 and a['best']['params'] == b['best']['params'] and a['best']['val'] == b['best']['val']
    ma, mb = (json.loads((d / 'default-final' / 'metrics.json').read_text()) for d in (ref, tmp_path))
    assert ma['test']['model'] == mb['test']['model'] and ma['test']['verdict']['line'] == mb['test']['verdict']['line']


def test_two_workers_share_one_study(tmp_path):
    cmd = search_cmd(tmp_path, 4)
    ps = [subprocess.Popen(cmd, cwd=ROOT, env=run_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in ps]
    assert all(p.returncode == 0 for p in ps), [o[1][-2000:] for o in outs]
    trials = [e for e in ledger(tmp_path) if e['kind'] == 'trial']
    assert len({e['pid'] for e in trials}) == 2 and len(trials) >= 4 and len({e['trial'] for e in trials}) == len(trials)
    s = json.loads((tmp_path / 'default' / 'search.json').read_text())
    assert s['n_trials'] == len(trials) and all(s['sentence'] in o[0] for o in outs)  # one final run, read by both


def test_no_signal_search_reports_no_discovery(tmp_path):
    r = search(tmp_path, 3, 'dataset.config.signal_strength=0')
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((tmp_path / 'default-final' / 'metrics.json').read_text())
    s = json.loads((tmp_path / 'default' / 'search.json').read_text())
    assert m['test']['verdict']['outcome'] == 'not distinguishable', m['test']['verdict']['line']
    assert s['pbo']['pbo'] is not None and 'PBO: ' in r.stdout
