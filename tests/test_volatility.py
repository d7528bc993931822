"""Volatility after the event on real prices: bokeh-sampledata's AAPL and MSFT daily files, read as closes only
(date, close, adj_close), labelled by CollatorForVolatility and checked against log returns computed here by hand.

Hand-checked rows (date: close, adj_close), both around a 2:1 split:
  AAPL 2005-02-23 88.23 5.669392 | 02-24 88.93 5.714372 | 02-25 88.99 5.718228 | 02-28 (split) 44.86 5.765135
       03-01 44.50 5.718870 | 03-02 44.121 5.670163
  MSFT 2003-02-14 48.30 16.076443 | (Mon 02-17 Presidents' Day) | 02-18 (split) 24.96 16.615653 | 02-19 24.53 16.382661
       02-20 24.14 16.122195
"""
import json, re
import yaml
import numpy as np
import pandas as pd
import pytest
from bokeh_sampledata import stocks
from conftest import BIN, run_cmd
from finann.collator import CollatorForRegression, CollatorForVolatility
from finann.config import FinannError
from finann.data import align_events, read_prices


def hand_log_vol(closes):
    "log √(mean of squared daily log returns), written out with the standard library's view of it: numpy on a list."
    r = np.log(np.asarray(closes[1:]) / np.asarray(closes[:-1]))
    return float(np.log(np.sqrt(np.mean(r ** 2))))


@pytest.fixture(scope='module')
def closes_only(tmp_path_factory):
    "The real files without opens, highs, lows or volumes: what many vendors give."
    d = tmp_path_factory.mktemp('closes')
    for t in ('AAPL', 'MSFT'): pd.DataFrame(getattr(stocks, t))[['date', 'close', 'adj_close']].to_csv(d / f'{t}.csv', index=False)
    return read_prices(d)


EVENTS = pd.DataFrame({'ticker': ['AAPL', 'MSFT'], 'event_start_at_et': ['2005-02-24 07:00', '2003-02-14 16:30'], 'text': ['a', 'm']})


def test_log_vol_matches_a_hand_computation_across_a_split(closes_only):
    al = align_events(EVENTS, closes_only, horizon=5)
    assert al['d+1_open'].isna().all() and al['_drop_reason'].isna().all()  # closes only: read, and no event dropped for it
    got = CollatorForVolatility(horizon=5).dataset_labels(al)
    # AAPL: d+0 is Wed 02-23 (the event is before Thursday's open), d+1 … d+5 run to 03-02 through the split on 02-28
    assert got[0] == pytest.approx(hand_log_vol([5.669392, 5.714372, 5.718228, 5.765135, 5.718870, 5.670163]), abs=1e-5)
    m = CollatorForVolatility(horizon=3).dataset_labels(al)[1]  # MSFT: d+1 is the split day, after the holiday
    assert m == pytest.approx(hand_log_vol([16.076443, 16.615653, 16.382661, 16.122195]), abs=1e-5)
    raw = CollatorForVolatility(horizon=5).dataset_labels(align_events(EVENTS, closes_only, horizon=5, adjust=False))[0]
    assert raw == pytest.approx(hand_log_vol([88.23, 88.93, 88.99, 44.86, 44.50, 44.121]), abs=1e-5)
    assert raw > got[0] + 2  # unadjusted, the split looks like a crash: e² ≈ 7× the volatility


def test_abs_move_and_a_label_that_needs_opens(closes_only):
    al = align_events(EVENTS, closes_only, horizon=3)
    got = CollatorForVolatility(horizon=3, target='abs_move').dataset_labels(al)
    assert got[1] == pytest.approx(100 * abs(16.122195 / 16.076443 - 1), abs=1e-4)
    with pytest.raises(FinannError, match=r"collator.config.start_field: 'd\+1_open' is a missing or non-positive price on every event"):
        CollatorForRegression(start_field='d+1_open', end_field='d+3_close').dataset_labels(al)
    assert CollatorForRegression(start_field='d+0_close', end_field='d+3_close').dataset_labels(al)[1] == pytest.approx(100 * (16.122195 / 16.076443 - 1), abs=1e-3)


def test_volatility_config_trains_end_to_end_beside_pev_garch_and_text(tmp_path):
    out = tmp_path / 'run'
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', 'configs/volatility.yml', '--options', f'trainer.output_dir={out}',
                 'trainer.num_train_epochs=2', 'dataset.config.posts_per_session=2', 'evaluator.n_boot=50'], tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    report, metrics = (out / 'report.md').read_text(), json.loads((out / 'metrics.json').read_text())
    val = metrics['val']
    assert val['task'] == 'risk' and val['verdict']['metric'] == 'mse' and val['verdict']['chosen_on'] == 'val'
    assert {'past_vol', 'past_vol_30', 'garch', 'tfidf', 'lm_tone', 'ticker', 'train_mean', 'ridge', 'momentum'} <= set(val['baselines'])
    assert '**Verdict**: mse: model' in report and 'QLIKE' in report and 'R² out of sample' in report
    assert not re.search(r'\bnan\b', report, re.I) and 'direction' not in report.lower() and 'Sharpe' not in report
    console = p.stdout + p.stderr
    assert 'val: mse: model' in console and 'direction' not in console and 'acc=' not in console  # the verdict line; no direction while training


def test_an_event_study_label_from_the_close_before_the_text_is_refused(closes_only):
    "A call at 07:00 cannot be traded at the previous close: refused in one line (as text streams are); a volatility includes the reaction on purpose."
    from datasets import Dataset, DatasetDict
    from finann.collator import CollatorForBinaryClassification
    al = align_events(EVENTS, closes_only, horizon=3).drop(columns=['_drop_reason'])
    events = DatasetDict({'train': Dataset.from_pandas(al.assign(text_id=[0, 1]), preserve_index=False)})
    with pytest.raises(FinannError, match=r"train split: 2 event\(s\) have a text published after the label's start price d\+0_close \(first: AAPL at 2005-02-24 07:00"):
        CollatorForBinaryClassification(start_field='d+0_close', end_field='d+1_close').filter_events(events)
    kept, report = CollatorForBinaryClassification(start_field='d+0_close', end_field='d+1_close', allow_untradable=True).filter_events(events, {})
    assert kept['train'].num_rows == 2 and report['untradable_accepted'] == 2
    assert CollatorForVolatility(horizon=3).filter_events(events)[0]['train'].num_rows == 2


def test_finann_init_notices_prices_without_opens(tmp_path):
    "Closes only (real MSFT closes, 2003-2004): finann-init says so and writes a close-to-close label, which reads no open."
    px = tmp_path / 'prices'; px.mkdir()
    msft = pd.DataFrame(stocks.MSFT)
    msft[(msft['date'] >= '2003-01-01') & (msft['date'] < '2005-01-01')][['date', 'close']].to_csv(px / 'MSFT.csv', index=False)
    days = pd.bdate_range('2003-02-03', '2004-11-30', freq='7D')
    pd.DataFrame({'ticker': 'MSFT', 'time': days.strftime('%Y-%m-%d 07:00'), 'text': [f'call {i}' for i in range(len(days))]}).to_csv(tmp_path / 'ev.csv', index=False)
    p = run_cmd([str(BIN / 'finann-init'), '--events', str(tmp_path / 'ev.csv'), '--prices', str(px), '--output', str(tmp_path / 'cfg.yml')], tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert 'opens: the price files have no opens, so the label runs close to close' in p.stdout, p.stdout
    assert 'start_field: d+1_close' in (tmp_path / 'cfg.yml').read_text()


def test_only_the_sessions_a_label_reads_must_exist(tmp_path, monkeypatch):
    """Real AAPL closes (2005) with one session, Wed 2005-02-23, taken out of the file; events every business day at 07:00
    with price points to d+5. The builder alone needs every session d+0 … d+5 (7 events dropped, as before); through
    TrainTask only the label's: a 3-session volatility reads d+0 … d+3 (5 dropped), a move d+0 close → d+3 close reads two
    (2 dropped), and the drop report names the ticker, the first missing session it reads and the file."""
    from finann import load_config, setup_task
    from finann.data import EventStudyBuilder
    from finann.data.schema import format_report
    monkeypatch.setenv('FINANN_CACHE', str(tmp_path / 'cache'))
    px = tmp_path / 'px'; px.mkdir()
    aapl = pd.DataFrame(stocks.AAPL)[['date', 'close', 'adj_close']]
    aapl[(aapl['date'] >= '2004-06-01') & (aapl['date'] != '2005-02-23')].to_csv(px / 'AAPL.csv', index=False)
    days = pd.bdate_range('2005-01-03', '2005-06-30')
    pd.DataFrame({'ticker': 'AAPL', 'event_start_at_et': days.strftime('%Y-%m-%d 07:00'),
                  'text': [f'post {i}' for i in range(len(days))]}).to_csv(tmp_path / 'events.csv', index=False)
    ds = {'events': str(tmp_path / 'events.csv'), 'prices': str(px), 'horizon': 5, 'val_start': '2005-05-02'}
    alone = EventStudyBuilder(**ds); alone.build_datasets()
    assert alone.report['dropped'] == {'price missing on a session': 7}  # 02-16 … 02-24: d+0 … d+5 hold 02-23

    def built(collator):
        cfg = {'model': {'config': {'hidden_size': 'auto'}}, 'collator': collator,
               'embedding': {'cls_name': 'HashingEmbedding', 'config': {'n_features': 64}},
               'dataset': {'cls_name': 'EventStudyBuilder', 'config': ds}, 'trainer': {'output_dir': str(tmp_path / 'run')}}
        (tmp_path / 'cfg.yml').write_text(yaml.safe_dump(cfg))
        return setup_task(load_config(tmp_path / 'cfg.yml')).build_datasets()

    events, report = built({'cls_name': 'CollatorForVolatility', 'config': {'horizon': 3}})
    # d+0 … d+3 hold 02-23 for the events of 02-18 (d+3), 02-21 and 02-22 (d+2), 02-23 (d+1), 02-24 (d+0)
    assert report['dropped'] == {'price missing on a session': 5}
    assert report['sessions_read_missing'] == {'AAPL': {'count': 5, 'first': '2005-02-23', 'session': 'd+3', 'file': str(px / 'AAPL.csv')}}
    line = next(l for l in format_report(report).splitlines() if 'its label reads one' in l)
    assert 'AAPL' in line and '2005-02-23 (d+3)' in line and str(px / 'AAPL.csv') in line, line
    ev = pd.concat([events[s].to_pandas() for s in events])
    kept = ev.set_index(ev['event_start_at_et'].str[:10])
    assert np.isnan(kept.loc['2005-02-16', 'd+5_close']) and kept.loc['2005-02-16', 'd+3_close'] > 0  # 02-23 is its d+5: not read
    assert np.isfinite(CollatorForVolatility(horizon=3).dataset_labels(events['train'])).all()
    _, report = built({'cls_name': 'CollatorForRegression', 'config': {'start_field': 'd+0_close', 'end_field': 'd+3_close', 'allow_untradable': True}})
    assert report['dropped'] == {'price missing on a session': 2}  # 02-18 (d+3 is 02-23) and 02-24 (d+0 is 02-23)


def test_garch_is_fitted_on_the_returns_before_each_splits_start(tmp_path):
    """GARCH(1,1) on real AAPL adjusted closes (bokeh-sampledata): a test event's forecast comes from a model fitted on the
    returns dated before the test split's start (its first d+1), computed here independently with `arch`, not from the
    model fitted up to the train end (the old behaviour) nor from one that has seen the test split's returns."""
    from arch import arch_model
    from finann.data.prices import adjusted_closes
    from finann.evaluate.baselines import SplitData, get_baseline_class
    aapl = pd.DataFrame(stocks.AAPL)[['date', 'close', 'adj_close']]
    (tmp_path / 'px').mkdir(); aapl.to_csv(tmp_path / 'px' / 'AAPL.csv', index=False)
    prices = adjusted_closes(read_prices(tmp_path / 'px'))
    k = 7

    def split(name, d1):  # events of AAPL whose d+1 sessions are `d1`
        ev = pd.DataFrame({'ticker': 'AAPL', 'd+1_date': d1})
        return SplitData(np.zeros(len(ev)), events=ev, name=name, prices=prices, horizon=k)
    days = aapl['date'].to_numpy()
    train = split('train', days[(days >= '2008-01-02') & (days < '2010-12-01')][::5])
    test = split('test', ['2012-07-02', '2012-07-16', '2012-10-01'])  # the split starts on Mon 2012-07-02
    got = get_baseline_class('garch')().fit(train).predict(test)

    # by hand: log returns of the adjusted closes, in percent (arch's scale)
    a = aapl.assign(date=pd.to_datetime(aapl['date'])).set_index('date')['adj_close']
    r = 100 * np.log(a).diff().dropna()

    def by_hand(last_return_date):
        n = int((r.index <= pd.Timestamp(last_return_date)).sum())
        res = arch_model(r, mean='Constant', vol='GARCH', p=1, q=1, rescale=False).fit(last_obs=n, disp='off')
        d0 = [pd.Timestamp(d) for d in ('2012-06-29', '2012-07-13', '2012-09-28')]  # the sessions before each d+1
        var = res.forecast(horizon=k, start=d0[0], reindex=False).variance.loc[d0].to_numpy() + res.params['mu'] ** 2
        return 0.5 * np.log(var.mean(1)) - np.log(100)
    np.testing.assert_allclose(got, by_hand("2012-06-29"), atol=1e-5)  # returns up to the close before the split's start
    assert np.abs(got - by_hand('2010-11-30')).max() > 1e-3            # not the model fitted up to the train end
    assert np.abs(got - by_hand('2012-12-31')).max() > 1e-4            # nor one that saw the test split's returns


def test_garch_fallbacks_are_counted_over_every_fold(tmp_path, monkeypatch):
    """configs/volatility.yml (real bokeh prices from late 2009), 2010-2011 in quarterly walk-forward folds: GARCH needs 250 returns
    before a split's start, so the early folds fall back to PEV and the later ones do not. The run's report counts the
    fallbacks of every fold (the sum of each fold's, computed here fold by fold), not the last fold's that had any."""
    from finann import load_config, setup_task
    from finann.task.study import fit_baselines, fold_units
    monkeypatch.setenv('FINANN_CACHE', str(tmp_path / 'cache'))
    out = tmp_path / 'run'
    opts = [f'trainer.output_dir={out}', 'trainer.num_train_epochs=1', 'trainer.report_to=[]', 'dataset.config.posts_per_session=1',
            'evaluator.n_boot=0', 'evaluator.baselines=[garch]', 'evaluator.folds.period=quarter', 'evaluator.folds.train_periods=2',
            'dataset.config.end=2011-12-31', 'dataset.config.val_start=2011-07-01', 'dataset.config.test_start=2011-10-01']  # 8 quarters
    task = setup_task(load_config('configs/volatility.yml', opts))
    events, _ = task.build_datasets()
    vectors, labels = task.embed(events), task.build_labels(events)
    per_fold = []
    for fold, ev, vec, lab in fold_units(task, events, vectors, labels)[0]:
        notes = fit_baselines(task, ev, vec, lab, task.eval_splits(ev))[1].get('garch', {})
        per_fold.append(sum(notes.values()))
    assert per_fold[0] > 0 and per_fold[-1] == 0 and sum(per_fold) > max(per_fold), per_fold  # more than one fold falls back
    metrics = task.run()
    reported = metrics['test']['baseline_notes']['garch']
    assert sum(reported.values()) == sum(per_fold), (reported, per_fold)
