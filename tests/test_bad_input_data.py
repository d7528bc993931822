"""Data read as the user meant it, through the real `finann-train`: files that are fine train (zeros kept, headers matched,
compressed, mixed time zones, thousands separators); files that are wrong are one line naming the file, row and column;
splits that the data cannot fill are one line naming the config key and what the data has."""
import json, zipfile
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import BIN, run_cmd
from test_bad_input import assert_one_clear_line, base_config, earlier_output, events, local, write


def train(tmp_path, dataset, **trainer):
    cfg = base_config(tmp_path, dataset); cfg['trainer'].update(trainer)
    (tmp_path / 'cfg.yml').write_text(yaml.safe_dump(cfg))
    return run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(tmp_path / 'cfg.yml')], tmp_path)


def prices(start='2013-12-02', end='2016-06-30', seed=0):
    d = pd.bdate_range(start, end)
    close = 20 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, len(d))))
    return pd.DataFrame({'Date': d.strftime('%Y-%m-%d'), 'Open': close * 0.999, 'Close': close, 'Adj Close': close})


def study(tmp, ev, px, **kw):
    return {'cls_name': 'EventStudyBuilder', 'config': {'events': str(ev), 'prices': str(px), 'val_years': [2015], **kw}}


def event_rows(tickers=('0007203', '10107'), n=60, start='2014-01-06'):
    t = pd.date_range(start, periods=n, freq='7D') + pd.Timedelta(hours=7)
    return pd.DataFrame({'Ticker': [tickers[i % len(tickers)] for i in range(n)], 'Event Start At ET': t.strftime('%Y-%m-%d %H:%M:%S'),
                         'Text': [f'call {i} revenue {"beat" if i % 2 else "miss"}' for i in range(n)]})


# ---- input that is fine: a sensible result
def test_own_data_in_one_try(tmp_path):
    "Zero-padded and numeric tickers, headers in any case, gzip, a zip of one file, mixed time zones, thousands separators: it trains."
    ev = event_rows()
    ev.loc[3, 'Event Start At ET'] = '2014-01-27T12:00:00Z'  # 07:00 in New York, written in UTC
    ev.loc[5, 'Event Start At ET'] = '2014-02-10 21:00:00+09:00'  # 07:00 in New York, written in Tokyo time
    ev.to_csv(tmp_path / 'events.csv.gz', index=False)
    long = pd.concat([prices(seed=i).assign(Ticker=t) for i, t in enumerate(('0007203', '10107'))])
    long['Close'] = long['Close'].map(lambda v: f'{v * 100:,.2f}')  # "2,012.34": a vendor's number format
    long['Open'] = long['Open'] * 100; long['Adj Close'] = long['Adj Close'] * 100
    with zipfile.ZipFile(tmp_path / 'stocks.zip', 'w') as z: z.writestr('stocks.csv', long.to_csv(index=False))
    p = train(tmp_path, study(tmp_path, tmp_path / 'events.csv.gz', tmp_path / 'stocks.zip'))
    assert p.returncode == 0, p.stderr[-3000:]
    metrics = json.loads((tmp_path / 'run' / 'metrics.json').read_text())
    assert metrics['data']['rows_kept'] == 60, metrics['data']  # nothing dropped: every ticker, time and price was read
    preds = pd.read_parquet(tmp_path / 'run' / 'predictions.parquet')
    assert set(preds['ticker']) == {'0007203', '10107'}


def test_json_array_and_a_renamed_column(tmp_path):
    "A .json file holding an array of records, with the ticker column renamed through dataset.config.columns."
    df = events(60, '2014-01-06').rename(columns={'ticker': 'PERMNO'}).assign(PERMNO=10107)
    (tmp_path / 'ev.json').write_text(df.to_json(orient='records'))
    p = train(tmp_path, local(tmp_path / 'ev.json', columns={'permno': 'ticker'}))
    assert p.returncode == 0, p.stderr[-3000:]
    assert set(pd.read_parquet(tmp_path / 'run' / 'predictions.parquet')['ticker']) == {'10107'}


# ---- files that are wrong: (make the files, what the last line must say)
def price_case(px_frame, name='stocks.csv'):
    def make(tmp):
        write(event_rows()[['Ticker', 'Event Start At ET', 'Text']], tmp / 'events.csv')
        px_frame().to_csv(tmp / name, index=False)
        return study(tmp, tmp / 'events.csv', tmp / name)
    return make

def px_long(): return pd.concat([prices().assign(Ticker=t) for t in ('0007203', '10107')])

def bad_number():
    df = px_long(); df['Close'] = df['Close'].astype(str); df.iloc[4, df.columns.get_loc('Close')] = '20,1'
    return df

def conflicting_dates():
    df = px_long(); dup = df.iloc[[10]].assign(Close=99.0)
    return pd.concat([df.iloc[:11], dup, df.iloc[11:]])

def no_ticker_column(): return prices()

def mixed_schemas(tmp):
    (tmp / 'evs').mkdir()
    write(events(30, '2014-01-06'), tmp / 'evs' / 'a.csv')
    write(events(30, '2014-08-04').rename(columns={'text': 'body'}), tmp / 'evs' / 'b.csv')
    return local(tmp / 'evs')

def rename_onto_existing(tmp):
    write(events(60, '2014-01-06').assign(Symbol='XYZ'), tmp / 'ev.csv')
    return local(tmp / 'ev.csv', columns={'Symbol': 'ticker'})

def rename_of_a_missing_column(tmp):
    write(events(60, '2014-01-06'), tmp / 'ev.csv')
    return local(tmp / 'ev.csv', columns={'Sym': 'ticker'})

def two_columns_one_name(tmp):
    write(events(60, '2014-01-06').assign(Ticker='ABC'), tmp / 'ev.csv')
    return local(tmp / 'ev.csv')

def zip_of_two(tmp):
    with zipfile.ZipFile(tmp / 'ev.zip', 'w') as z:
        for n in ('a.csv', 'b.csv'): z.writestr(n, events(30).to_csv(index=False))
    return local(tmp / 'ev.zip')

def broken_json(tmp):
    (tmp / 'ev.json').write_text('[{"ticker": "A", "text": "x"')
    return local(tmp / 'ev.json')

def rar_file(tmp):
    (tmp / 'ev.csv.rar').write_bytes(b'Rar!')
    return local(tmp / 'ev.csv.rar')

def val_years_outside(tmp): return local(write(events(60, '2014-01-06'), tmp / 'ev.csv'), val_years=[2031])

def val_start_after_the_data(tmp):
    return {'cls_name': 'LocalTranscriptBuilder', 'config': {'path': str(write(events(60, '2014-01-06'), tmp / 'ev.csv')), 'val_start': '2017-01-01', 'test_start': '2018-01-01'}}

def late_test_start(tmp):
    return {'cls_name': 'LocalTranscriptBuilder', 'config': {'path': str(write(events(60, '2014-01-06'), tmp / 'ev.csv')), 'val_start': '2014-10-01', 'test_start': '2030-01-01'}}

def embargo_empties_val(tmp):
    return {'cls_name': 'LocalTranscriptBuilder', 'config': {'path': str(write(events(60, '2014-01-06'), tmp / 'ev.csv')),
                                                             'val_start': '2014-10-01', 'test_start': '2014-10-10', 'embargo_days': 10}}

def no_val_split(tmp): return local(write(events(60, '2014-01-06'), tmp / 'ev.csv'), val_years=None, test_years=[2015])

def two_files_one_ticker(tmp):  # aapl.csv beside AAPL.csv: one ticker (upper case), two files; one would silently win
    write(event_rows(('ABC',))[['Ticker', 'Event Start At ET', 'Text']], tmp / 'events.csv')
    (tmp / 'px').mkdir()
    for name in ('abc.csv', 'ABC.csv'): prices().to_csv(tmp / 'px' / name, index=False)
    return study(tmp, tmp / 'events.csv', tmp / 'px')


DATA = {
    'price_not_a_number': (price_case(bad_number), ['stocks.csv (ticker 0007203): row 5, column close: \'20,1\' is not a number']),
    'conflicting_duplicate_price_dates': (price_case(conflicting_dates), ['stocks.csv (ticker 0007203): date 2013-12-16 appears more than once with different prices (rows 11, 12)']),
    'price_file_without_ticker_column': (price_case(no_ticker_column), ['stocks.csv: a single price file needs a ticker column (has date, open, close, adj_close)']),
    'folder_of_different_schemas': (mixed_schemas, ["b.csv: its columns differ from a.csv's (missing text; extra body)"]),
    'rename_onto_an_existing_column': (rename_onto_existing, ["ev.csv: the columns setting renames 'Symbol' to 'ticker', but there already is a 'ticker' column"]),
    'rename_of_a_missing_column': (rename_of_a_missing_column, ["ev.csv: the columns setting renames 'Sym', which is not a column here"]),
    'two_columns_one_name': (two_columns_one_name, ["ev.csv: columns 'ticker' and 'Ticker' are both 'ticker'"]),
    'zip_of_two_files': (zip_of_two, ['ev.zip: a .zip must hold exactly one table file; it holds 2']),
    'broken_json': (broken_json, ['ev.json: could not read it']),
    'unsupported_compression': (rar_file, ["ev.csv.rar: unsupported file type '.csv.rar'"]),
    'val_years_outside_the_data': (val_years_outside, ['dataset.config.val_years: no events in [2031] (the data has events from 2014-01-06 to 2015-02-23']),
    'val_start_after_the_data': (val_start_after_the_data, ['dataset.config.val_start: 2017-01-01 leaves val empty (the data has events from 2014-01-06 to 2015-02-23']),
    'test_start_after_the_data': (late_test_start, ['dataset.config.test_start: 2030-01-01 leaves test empty']),
    'embargo_empties_val': (embargo_empties_val, ['dataset.config.embargo_days leaves val with no events (all are within the embargo before test)']),
    'two_price_files_for_one_ticker': (two_files_one_ticker, ['px: two price files for ticker ABC (', 'keep one per ticker']),
    'no_val_split_to_evaluate_on': (no_val_split, ["dataset.config: the data has no val split (splits: {'train': ", 'set trainer.eval_strategy: no']),
}


@pytest.mark.parametrize('name', list(DATA))
def test_data_mistake_is_one_clear_line(tmp_path, name):
    make, expected = DATA[name]
    dataset = make(tmp_path)
    before = earlier_output(tmp_path)
    p = train(tmp_path, dataset)
    assert_one_clear_line(p, ['finann-train: error: ', *expected], tmp_path, before)


def test_unquoted_yaml_date_is_a_date(tmp_path):
    "`val_start: 2031-01-01` without quotes reaches the split check as the date it is (not a type error)."
    path = write(events(60, '2014-01-06'), tmp_path / 'ev.csv')
    cfg = yaml.safe_dump(base_config(tmp_path, {'cls_name': 'LocalTranscriptBuilder', 'config': {'path': str(path)}}))
    (tmp_path / 'cfg.yml').write_text(cfg.replace('path:', 'val_start: 2031-01-01\n    path:'))
    before = earlier_output(tmp_path)
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(tmp_path / 'cfg.yml')], tmp_path)
    assert_one_clear_line(p, ['dataset.config.val_start: 2031-01-01 leaves val empty'], tmp_path, before)


def test_tickers_named_like_missing_values_stay_tickers(tmp_path):
    "NA (National Bank of Canada), NULL, TRUE and 0001 are tickers in the events file and in the price file: no row dropped, none renamed."
    odd = ('NA', 'NULL', 'TRUE', '0001')
    event_rows(odd, n=80).to_csv(tmp_path / 'events.csv', index=False)
    pd.concat([prices(seed=i).assign(Ticker=t) for i, t in enumerate(odd)]).to_csv(tmp_path / 'stocks.csv', index=False)
    p = train(tmp_path, study(tmp_path, tmp_path / 'events.csv', tmp_path / 'stocks.csv'))
    assert p.returncode == 0, p.stderr[-3000:]
    assert json.loads((tmp_path / 'run' / 'metrics.json').read_text())['data']['rows_kept'] == 80
    assert set(pd.read_parquet(tmp_path / 'run' / 'predictions.parquet')['ticker']) == set(odd)


def test_tickers_in_any_case_meet_their_prices(tmp_path):
    "`abc` and ` Abc ` in the events file are the `ABC` of the price file, ` xyz` in the price file is the events' `XYZ`: every reader upper-cases"
    " and trims tickers, so no event is dropped as 'ticker without prices' and each company is one ticker."
    ev = event_rows(('abc', ' Abc ', 'XYZ'), n=60)
    ev.to_csv(tmp_path / 'events.csv', index=False)
    pd.concat([prices(seed=0).assign(Ticker='ABC'), prices(seed=1).assign(Ticker=' xyz')]).to_csv(tmp_path / 'stocks.csv', index=False)
    p = train(tmp_path, study(tmp_path, tmp_path / 'events.csv', tmp_path / 'stocks.csv'))
    assert p.returncode == 0, p.stderr[-3000:]
    assert json.loads((tmp_path / 'run' / 'metrics.json').read_text())['data']['rows_kept'] == 60
    assert set(pd.read_parquet(tmp_path / 'run' / 'predictions.parquet')['ticker']) == {'ABC', 'XYZ'}
