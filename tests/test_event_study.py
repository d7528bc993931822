"""Event studies on real prices: bokeh-sampledata's AAPL, MSFT and IBM daily files (2000-2013, raw OHLC and adjusted close),
checked against values read by hand from those files, on the XNYS calendar of exchange_calendars.

Hand-checked rows (date: open, close, adj_close):
  AAPL 2005-02-17 90.65 87.81 | 02-18 87.74 86.81 | (Mon 02-21 Presidents' Day) | 02-22 86.30 85.29 | 02-23 86.69 88.23 5.669392
       02-24 88.48 88.93 | 02-25 89.62 88.99 | 02-28 (2:1 split) 44.68 44.86 5.765135
  MSFT 2003-02-14 47.25 48.30 16.076443 | (Mon 02-17 Presidents' Day) | 02-18 (2:1 split) 24.62 24.96 16.615653
       2005-02-18 25.64 25.48 | 02-22 25.24 25.23
  IBM  2004-12-31 98.60 98.58 | (Sat 2005-01-01 New Year) | 2005-01-03 98.97 97.75
"""
import warnings
import numpy as np
import pandas as pd
import pytest
import yaml
from bokeh_sampledata import stocks
from conftest import BIN, run_cmd
from finann.collator import CollatorForBinaryClassification, CollatorForRegression
from finann.data import EventStudyBuilder, align_events, read_prices


@pytest.fixture(scope='module')
def price_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp('px')
    for t in ('AAPL', 'MSFT', 'IBM'): pd.DataFrame(getattr(stocks, t)).to_csv(d / f'{t}.csv', index=False)
    return d


@pytest.fixture(scope='module')
def prices(price_dir): return read_prices(price_dir)


def aligned(prices, rows, **kw):
    ev = pd.DataFrame(rows, columns=['ticker', 'event_start_at_et', 'text'])
    return align_events(ev, prices, **kw).set_index('text')


def test_d0_close_across_a_weekend_and_a_holiday(prices):
    al = aligned(prices, [('MSFT', '2005-02-19 10:00', 'Saturday'), ('MSFT', '2005-02-22 08:00', 'Tuesday after the holiday, before the open'),
                          ('IBM', '2005-01-01 12:00', 'New Year, a Saturday'), ('MSFT', '2005-02-22 09:30', 'at the open')], adjust=False)
    # the last close at or before the event is Friday's, across the weekend and Presidents' Day
    assert al.loc['Saturday', ['d+0_close', 'd+1_date', 'd+1_open']].tolist() == [25.48, '2005-02-22', 25.24]
    assert al.loc['Tuesday after the holiday, before the open', ['d+0_close', 'd+1_date', 'd+1_open']].tolist() == [25.48, '2005-02-22', 25.24]
    assert al.loc['New Year, a Saturday', ['d+0_close', 'd+1_date', 'd+1_open', 'd+1_close']].tolist() == [98.58, '2005-01-03', 98.97, 97.75]
    assert al.loc['at the open', ['d+0_close', 'd+1_date']].tolist() == [25.48, '2005-02-23']  # the open has passed: it trades from the next one


def test_d5_across_a_holiday(prices):
    al = aligned(prices, [('AAPL', '2005-02-17 16:30', 'Thursday after the close')], adjust=False, horizon=5)
    row = al.loc['Thursday after the close']
    # d+1 Fri 02-18, d+2 Tue 02-22 (Mon 02-21 is a holiday, not a session), d+3 02-23, d+4 02-24, d+5 Fri 02-25
    assert [row['d+0_close'], row['d+1_open'], row['d+2_open'], row['d+3_close'], row['d+5_open'], row['d+5_close']] == [87.81, 87.74, 86.30, 88.23, 89.62, 88.99]
    assert 'd+6_open' not in al.columns


@pytest.mark.parametrize('ticker, when, end, raw, adjusted', [
    ('AAPL', '2005-02-24 07:00', 'd+3_close', 44.86 / 88.23 - 1, 5.765135 / 5.669392 - 1),    # split on d+3 (Mon 02-28)
    ('MSFT', '2003-02-14 16:30', 'd+1_close', 24.96 / 48.30 - 1, 16.615653 / 16.076443 - 1),  # d+1 is the split day, after a holiday
])
def test_a_2_for_1_split_is_not_a_move(prices, ticker, when, end, raw, adjusted):
    ev = pd.DataFrame({'ticker': [ticker], 'event_start_at_et': [when], 'text': ['x']})
    col = CollatorForRegression(start_field='d+0_close', end_field=end)
    assert col.dataset_labels(align_events(ev, prices, adjust=False))[0] == pytest.approx(100 * raw, abs=1e-4)  # about -49%: the split
    assert col.dataset_labels(align_events(ev, prices))[0] == pytest.approx(100 * adjusted, abs=1e-3)         # a few percent: the real move


def test_builder_reports_a_missing_session_and_the_dead_band(tmp_path, price_dir, monkeypatch):
    monkeypatch.setenv('FINANN_CACHE', str(tmp_path / 'cache'))
    px = tmp_path / 'px'; px.mkdir()
    aapl = pd.DataFrame(stocks.AAPL)
    aapl[aapl['date'] != '2005-02-23'].to_csv(px / 'AAPL.csv', index=False)  # a session missing from the file
    days = pd.bdate_range('2005-01-03', '2005-06-30')
    ev = pd.DataFrame({'ticker': 'AAPL', 'event_start_at_et': days.strftime('%Y-%m-%d 07:00'), 'text': [f'post {i}' for i in range(len(days))]})
    ev.to_csv(tmp_path / 'events.csv', index=False)
    b = EventStudyBuilder(events=str(tmp_path / 'events.csv'), prices=str(px), horizon=5, val_start='2005-05-02')
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        events = b.build_datasets()
    assert any('prices of AAPL: 1 XNYS session(s) missing (first 2005-02-23)' in str(x.message) for x in w)
    assert b.report['sessions_missing'] == {'AAPL': {'count': 1, 'first': '2005-02-23'}}
    # events (07:00, before the open) whose d+0 … d+5 include 02-23: from 02-16 (d+5 is 02-23) to 02-24 (d+0 is 02-23), and the
    # holiday Monday 02-21 (d+0 02-18, d+1 02-22): 02-16, 17, 18, 21, 22, 23, 24
    assert b.report['dropped'] == {'price missing on a session': 7}
    # the default purge (a builder alone) is the horizon: a train event's 5-session label, from its d+1, closes before the first
    # val event's d+1 session (Mon 2005-05-02; data.splits.label_clears)
    last_train = pd.Timestamp(events['train']['event_start_at_et'][-1])
    assert last_train.strftime('%Y-%m-%d') == '2005-04-25'  # 07:00, before the open: its label spans 04-25 … 04-29
    assert b.report['embargoed'] == {'train': 4}  # 04-26 … 04-29: their labels would close on 05-02 or later
    # a label from the close before a 07:00 call is untradable (refused by default): accepted here to test the dead band
    col = CollatorForBinaryClassification(start_field='d+0_close', end_field='d+1_close', drop_band=(-0.005, 0.0055), allow_untradable=True)
    kept, report = col.filter_events(events, b.report)
    assert 'move inside drop_band' not in b.report['dropped']  # the builder's report is not changed: the counts come back
    moves = np.concatenate([col.dataset_moves(ds) for ds in events.values()])
    inside = int(((moves >= -0.005) & (moves <= 0.0055)).sum())
    assert 0 < inside < len(moves)
    assert report['dropped']['move inside drop_band'] == inside
    assert sum(ds.num_rows for ds in kept.values()) == len(moves) - inside


def test_unknown_calendar_is_one_line(tmp_path, price_dir):
    pd.DataFrame({'ticker': ['AAPL'], 'event_start_at_et': ['2005-02-24 07:00'], 'text': ['x']}).to_csv(tmp_path / 'ev.csv', index=False)
    cfg = {'model': {'config': {'hidden_size': 'auto', 'intermediate_size': 16}},
           'embedding': {'cls_name': 'HashingEmbedding', 'config': {'n_features': 64}},
           'collator': {'cls_name': 'CollatorForBinaryClassification', 'config': {'start_field': 'd+0_close', 'end_field': 'd+1_close'}},
           'dataset': {'cls_name': 'EventStudyBuilder', 'config': {'events': str(tmp_path / 'ev.csv'), 'prices': str(price_dir), 'calendar': 'XNYSE'}},
           'trainer': {'output_dir': str(tmp_path / 'run'), 'num_train_epochs': 1, 'report_to': []}}
    (tmp_path / 'cfg.yml').write_text(yaml.safe_dump(cfg))
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(tmp_path / 'cfg.yml')], tmp_path)
    assert p.returncode == 2 and 'Traceback' not in p.stderr, p.stderr[-2000:]
    last = p.stderr.strip().splitlines()[-1]
    assert 'cfg.yml: dataset.config.calendar' in last and "unknown exchange calendar 'XNYSE'; did you mean 'XNYS'?" in last, last


# ---- many texts per event ----

def stream_file(tmp_path, rows):
    pd.DataFrame(rows, columns=['ticker', 'timestamp', 'text']).to_csv(tmp_path / 'texts.csv', index=False)
    return str(tmp_path / 'texts.csv')


def test_text_stream_windows_and_bad_rows(tmp_path, price_dir, monkeypatch):
    from finann.data import TextStreamBuilder
    monkeypatch.setenv('FINANN_CACHE', str(tmp_path / 'cache'))
    rows = [('AAPL', '2005-02-17 20:00', 'a'), ('AAPL', '2005-02-18 12:00', 'b'), ('AAPL', '2005-02-22 08:00', 'c'),
            ('AAPL', '2005-02-22 08:00', 'c'), ('IBMX', '2005-02-22 08:00', 'd'), ('AAPL', '2014-01-02 10:00', 'e'), ('aapl', '2005-02-23 20:00', 'f')]
    b = TextStreamBuilder(texts=stream_file(tmp_path, rows), prices=str(price_dir), lookback_sessions=2, max_drop_share=0.9)  # every event in train
    ev = b.build_datasets()['train'].to_pandas()
    # windows end at each session's open; two sessions of lookback: a (Thu evening) → Fri, Tue; b (Fri, in session) → Tue, Wed;
    # c (Tue before the open) → Tue, Wed; f (Wed evening, lower-case ticker) → Thu, Fri
    assert [(d, list(t)) for d, t in ev[['d+1_date', 'texts']].values] == [
        ('2005-02-18', ['a']), ('2005-02-22', ['a', 'b', 'c']), ('2005-02-23', ['b', 'c']), ('2005-02-24', ['f']), ('2005-02-25', ['f'])]
    assert list(ev['text_ids'][1]) == [0, 1, 2]
    texts = b.report['texts']
    assert texts['dropped'] == {'duplicate text': 1, 'ticker without prices': 1, 'text outside the price history': 1}
    assert texts['first_bad']['duplicate text'] == {'file': str(tmp_path / 'texts.csv'), 'row': 4, 'column': 'ticker, timestamp, text'}
    assert b.report['windows_without_texts'] == 0
    with pytest.raises(Exception, match=r"texts.csv: 100% of 2 rows are unusable .* ticker without prices: .*texts.csv row 1, column ticker"):
        TextStreamBuilder(texts=stream_file(tmp_path, rows[4:5] * 2), prices=str(price_dir)).load_frame()


def test_each_unique_text_goes_through_the_encoder_once(tmp_path, monkeypatch):
    from finann.data import SyntheticTextStreamBuilder
    from finann.embedding import HashingEmbedding
    from finann.task import embed_events
    monkeypatch.setenv('FINANN_CACHE', str(tmp_path / 'cache'))
    seen = []
    class Counting(HashingEmbedding):
        def encode(self, texts):
            seen.extend(texts)
            return super().encode(texts)
    b = SyntheticTextStreamBuilder(n_tickers=3, start='2010-01-01', end='2010-06-30', posts_per_session=5, lookback_sessions=5, cutoff='close', val_start='2010-05-01')
    events = b.build_datasets()
    emb = Counting(n_features=64, show_progress_bar=False)
    vectors = embed_events(events, emb)
    texts = [t for ds in events.values() for x in ds['texts'] for t in x]
    assert len(texts) > 4 * len(set(texts))                    # each post is in about five windows
    assert sorted(seen) == sorted(set(texts))                   # the encoder saw each distinct post once
    assert vectors.stats['encoded'] == len(set(texts)) and vectors.stats['texts'] == len(texts)
    first = events['val'][0]
    np.testing.assert_allclose(vectors.of('val')[0], HashingEmbedding(n_features=64, use_cache=False).encode(first['texts']).mean(0), atol=1e-6)
    again = Counting(n_features=64, show_progress_bar=False)
    seen.clear(); embed_events(events, again)
    assert seen == []                                           # a second run reads every vector from the cache


def test_untradable_label_is_one_line(tmp_path):
    cfg = {'model': {'config': {'hidden_size': 'auto', 'intermediate_size': 16}},
           'embedding': {'cls_name': 'HashingEmbedding', 'config': {'n_features': 64}},
           'collator': {'cls_name': 'CollatorForBinaryClassification', 'config': {'start_field': 'd+0_close', 'end_field': 'd+1_close'}},
           'dataset': {'cls_name': 'SyntheticTextStreamBuilder', 'config': {'n_tickers': 2, 'start': '2010-01-01', 'end': '2010-03-31', 'cutoff': 'open',
                                                                            'posts_per_session': 5, 'val_start': '2010-03-01'}},
           'trainer': {'output_dir': str(tmp_path / 'run'), 'num_train_epochs': 1, 'report_to': []}}
    (tmp_path / 'cfg.yml').write_text(yaml.safe_dump(cfg))
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(tmp_path / 'cfg.yml')], tmp_path)
    assert p.returncode != 0 and 'Traceback' not in p.stderr, p.stderr[-2000:]
    last = p.stderr.strip().splitlines()[-1]
    assert "event(s) have a text published after the label's start price d+0_close (first: SYN0 at 2010-01-04 09:29" in last, last
    assert 'collator.config.allow_untradable: true' in last, last
