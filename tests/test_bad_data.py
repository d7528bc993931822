"Malformed data files through `finann-train`: one clear line naming the file (row, column), exit status 2, no traceback."
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
                         'event_start_at_et': t.strftime('%Y-%m-%d %H:%M:%S'), **{c: np.linspace(10, 12, n) for c in PRICES}})


def train(tmp_path, dataset):
    cfg = {'model': {'config': {'hidden_size': 'auto', 'intermediate_size': 16}},
           'embedding': {'cls_name': 'HashingEmbedding', 'config': {'n_features': 64}},
           'collator': {'cls_name': 'CollatorForBinaryClassification'},
           'dataset': dataset, 'trainer': {'output_dir': str(tmp_path / 'run'), 'num_train_epochs': 1, 'report_to': []}}
    (tmp_path / 'cfg.yml').write_text(yaml.safe_dump(cfg))
    return run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(tmp_path / 'cfg.yml')], tmp_path)


def local(path, **kw): return {'cls_name': 'LocalTranscriptBuilder', 'config': {'path': str(path), 'val_years': [2015], **kw}}


def write(df, path):
    if path.suffix == '.parquet': df.to_parquet(path)
    elif path.suffix == '.jsonl': df.to_json(path, orient='records', lines=True)
    else: df.to_csv(path, index=False)
    return path


def nan_prices(tmp):
    df = events(); df.loc[3:30, 'd+2_close'] = np.nan
    return local(write(df, tmp / 'ev.csv')), ['ev.csv row 4, column d+2_close', 'rows are unusable']

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
    return {'cls_name': 'EventStudyBuilder', 'config': {'events': str(tmp / 'events.csv'), 'prices': str(tmp / 'px')}}, \
        ['ABC.csv: missing price column(s) open']


CASES = [nan_prices, zero_prices, negative_prices, missing_file, empty_file, missing_columns, non_utf8, unsupported_type,
         corrupt_parquet, bad_dates, duplicates, leaky_years, empty_train_years, ticker_without_prices, price_file_without_open]


@pytest.mark.parametrize('case', CASES, ids=[c.__name__ for c in CASES])
def test_bad_data_is_one_clear_line(tmp_path, case):
    dataset, expected = case(tmp_path)
    p = train(tmp_path, dataset)
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert 'Traceback' not in p.stderr, p.stderr[-2000:]
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith('finann-train: error: '), p.stderr[-2000:]
    for e in expected: assert e in last, last
    assert not (tmp_path / 'run' / 'metrics.json').exists()
