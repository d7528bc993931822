"StockNet on the real files: the builder against an independent pandas computation, and the paper's protocol end to end on a few tickers."
import json
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, BIN, run_cmd


def _clone() -> Path|None:
    "`shared/data/stocknet` beside the checkout (`../shared/data/stocknet` from the main checkout; a worktree looks further up)."
    return next((p/'shared/data/stocknet' for p in ROOT.parents if (p/'shared/data/stocknet/tweet/preprocessed').is_dir()), None)


CLONE = _clone()
pytestmark = pytest.mark.skipif(CLONE is None, reason='the StockNet clone (../shared/data/stocknet) is absent beside the checkout')
# dense tweets (AAPL), sparse ones (PICO: most 5-session windows are empty), a listing in the window (BABA, Sept 2014), a dash in the name
TICKERS = ['AAPL', 'PICO', 'BABA', 'RDS-B']
SPLITS = {'train': ('2014-01-01', '2015-08-01'), 'val': ('2015-08-01', '2015-10-01'), 'test': ('2015-10-01', '2016-01-01')}
EARLY_CLOSES = {'2014-07-03', '2014-11-28', '2014-12-24', '2015-11-27', '2015-12-24'}  # the NYSE closed at 13:00 on these days


def _closes(dates:pd.Series) -> np.ndarray:
    "Each day's close in New York time: 16:00, or 13:00 on the NYSE's early closes."
    return (pd.to_datetime(dates) + pd.to_timedelta(np.where(dates.isin(EARLY_CLOSES), 13, 16), unit='h')).values


def expected_events(ticker:str) -> pd.DataFrame:
    "Written here from the files with pandas alone: one row per target day d (a row of the price file after its first) and the tweets of its window."
    px = pd.read_csv(CLONE/'price/raw'/f'{ticker}.csv').sort_values('Date').reset_index(drop=True)
    sessions = pd.read_csv(CLONE/'price/raw/AAPL.csv')['Date'].sort_values().reset_index(drop=True)  # AAPL traded on every session
    close_at = _closes(sessions)
    tweets = [json.loads(line) for f in sorted((CLONE/'tweet/preprocessed'/ticker).iterdir()) for line in f.read_text().splitlines() if line.strip()]
    tw = pd.DataFrame({'created_at': [t['created_at'] for t in tweets], 'text': [' '.join(t['text']) for t in tweets]}).drop_duplicates()
    t = np.sort(pd.to_datetime(tw['created_at'], format='%a %b %d %H:%M:%S %z %Y').dt.tz_convert('America/New_York').dt.tz_localize(None).values)
    t = t[t >= np.datetime64(px['Date'].iloc[0])]  # tweets before the first price are outside the price history
    k = sessions.searchsorted(px['Date'].values[1:])  # each target day's session; its window: from the close 6 sessions before
    n = np.searchsorted(t, close_at[k - 1], 'left') - np.searchsorted(t, close_at[k - 6], 'left')  # ...up to (not including) d-1's close
    out = pd.DataFrame({'ticker': ticker, 'd+1_date': px['Date'].values[1:], 'n_texts': n,
                        'd+0_close': px['Adj Close'].values[:-1], 'd+1_close': px['Adj Close'].values[1:]})
    out['split'] = None
    for name, (a, b) in SPLITS.items(): out.loc[(out['d+1_date'] >= a) & (out['d+1_date'] < b), 'split'] = name
    return out[out['split'].notna()].reset_index(drop=True)


@pytest.fixture(scope='module')
def expected() -> pd.DataFrame: return pd.concat([expected_events(t) for t in TICKERS], ignore_index=True)


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    "finann's events for TICKERS: the builder's splits (before the dead band), and the task's (after it), with the builder's report."
    import os
    os.environ['FINANN_CACHE'] = str(tmp_path_factory.mktemp('cache'))
    from finann.config import load_config
    from finann.task import setup_task
    cfg = load_config(ROOT/'configs/stocknet.yml', [f'dataset.config.path={CLONE}', f'dataset.config.tickers={json.dumps(TICKERS)}'])
    task = setup_task(cfg)
    b = task.build_builder()
    events = b.build_datasets()
    frame = pd.concat([events[s].select_columns(['ticker', 'd+1_date', 'n_texts', 'd+0_close', 'd+1_close']).to_pandas().assign(split=s)
                       for s in events], ignore_index=True)
    labelled, _ = task.build_datasets(task.build_builder())  # the events the label keeps, and the drop report
    return frame, {s: labelled[s].num_rows for s in labelled}, b.report


def test_events_match_pandas(expected, built):
    frame, _, report = built
    want = expected[expected['n_texts'] > 0]
    key = ['ticker', 'd+1_date']
    got, want = frame.sort_values(key).reset_index(drop=True), want.sort_values(key).reset_index(drop=True)
    assert len(got) == len(want), (len(got), len(want))
    assert (got[key + ['split', 'n_texts']].values == want[key + ['split', 'n_texts']].values).all()
    np.testing.assert_allclose(got[['d+0_close', 'd+1_close']].values, want[['d+0_close', 'd+1_close']].values, rtol=1e-9)
    assert report['price'].startswith('Adj Close')


def test_day_after_a_holiday_and_a_window_without_tweets(expected, built):
    frame = built[0].set_index(['ticker', 'd+1_date'])
    # Tuesday 2014-01-21, after Martin Luther King day: d+0 is Friday 17's adjusted close, and the weekend's and Monday's tweets count
    px = pd.read_csv(CLONE/'price/raw/AAPL.csv', index_col='Date')['Adj Close']
    ev = frame.loc[('AAPL', '2014-01-21')]
    assert ev['d+0_close'] == pytest.approx(px['2014-01-17']) and ev['d+1_close'] == pytest.approx(px['2014-01-21'])
    assert ev['n_texts'] == expected.set_index(['ticker', 'd+1_date']).loc[('AAPL', '2014-01-21'), 'n_texts'] > 0
    # PICO: target days whose 5 sessions hold no tweet make no event, and the report counts the sessions without texts
    empty = expected[(expected['ticker'] == 'PICO') & (expected['n_texts'] == 0)]['d+1_date']
    assert len(empty) > 100 and not frame.index.isin([('PICO', d) for d in empty]).any()
    assert built[2]['windows_without_texts'] > 0


def test_counts_after_the_dead_band_match_pandas(expected, built):
    "The paper's band: a move in [-0.5%, +0.55%] is dropped (the released code drops [-0.5%, +0.55%); no move here is on either end)."
    want = expected[expected['n_texts'] > 0]
    move = want['d+1_close'] / want['d+0_close'] - 1
    kept = want[~((move >= -0.005) & (move <= 0.0055))]
    assert built[1] == kept.groupby('split').size().to_dict()


def test_bad_clone_is_one_line(tmp_path):
    p = run_cmd([str(BIN/'finann-train'), '--cfg-path', 'configs/stocknet.yml', '--options', f'dataset.config.path={tmp_path}',
                 f'trainer.output_dir={tmp_path}/o'], tmp_path, timeout=300)
    err = p.stderr.strip().splitlines()
    assert p.returncode != 0 and 'not a StockNet clone' in err[-1] and str(tmp_path) in err[-1], p.stderr[-2000:]


def test_protocol_end_to_end(tmp_path):
    "The paper's protocol on three tickers with hashed n-grams: the report has the verdict line and the baseline ladder."
    out = tmp_path/'run'
    p = run_cmd([str(BIN/'finann-train'), '--cfg-path', 'configs/stocknet.yml', '--options', f'dataset.config.path={CLONE}',
                 'dataset.config.tickers=[AAPL,GOOG,FB]', 'embedding.config.n_features=1024', 'trainer.num_train_epochs=2',
                 'evaluator.n_boot=200', 'trainer.report_to=[]', f'trainer.output_dir={out}'], tmp_path, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    report = (out/'report.md').read_text()
    assert 'Verdict' in report or 'verdict' in report, report[:2000]
    for name in ('majority', 'ticker', 'logistic', 'tfidf', 'momentum'): assert name in report, name
    data = json.loads((out/'data_report.json').read_text())
    assert data['price'].startswith('Adj Close') and data['splits']['test'] > 0
