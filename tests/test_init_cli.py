"""A new user's own data in one try: `finann-init` on a CSV with unusual headers and a folder of real daily prices
(bokeh-sampledata's AAPL, IBM, MSFT, GOOG), then `finann-train` on the config it wrote, end to end."""
import json
import numpy as np, pandas as pd
import pytest
import yaml
from conftest import BIN, run_cmd

TICKERS = ('AAPL', 'IBM', 'MSFT', 'GOOG')


@pytest.fixture
def own_data(tmp_path):
    "events.csv with headers `Symbol`, `Published At (ET)`, `Call Text`, `Analyst` and a prices/ folder with `Date`, `Open`, `Close`, `Adj Close`."
    from bokeh_sampledata import stocks
    (tmp_path/'prices').mkdir()
    for t in TICKERS:
        df = pd.DataFrame(getattr(stocks, t))[['date', 'open', 'close', 'adj_close']]
        df.columns = ['Date', 'Open', 'Close', 'Adj Close']
        df.to_csv(tmp_path/'prices'/f'{t}.csv', index=False)
    rng = np.random.default_rng(1)
    days = pd.bdate_range('2004-01-05', '2012-12-28')[::8]
    words = np.array(['beat', 'missed', 'raised', 'cut', 'guidance', 'margins', 'record', 'weak', 'demand', 'strong'])
    pd.DataFrame({'Symbol': rng.choice(TICKERS, len(days)), 'Published At (ET)': (days + pd.Timedelta('16:30:00')).astype(str),
                  'Call Text': [' '.join(rng.choice(words, 12)) for _ in days], 'Analyst': 'n/a'}).to_csv(tmp_path/'events.csv', index=False)
    return tmp_path


def train_written_config(cfg, tmp_path, printed):
    "Train the config finann-init wrote for one epoch; the splits it trained on are the ones finann-init printed."
    out = tmp_path/'run'
    t = run_cmd([str(BIN/'finann-train'), '--cfg-path', str(cfg), '--options', f'trainer.output_dir={out}', 'trainer.num_train_epochs=1',
                 'evaluator.n_boot=0', 'trainer.report_to=[]'], tmp_path, timeout=300)
    assert t.returncode == 0, t.stderr[-3000:]
    metrics = json.loads((out/'metrics.json').read_text())
    assert {k: str(v) for k, v in metrics['data']['splits'].items()} == printed
    return out, metrics


def test_finann_init_then_train_in_one_try(own_data, tmp_path):
    cfg = own_data/'my.yml'
    p = run_cmd([str(BIN/'finann-init'), '--events', str(own_data/'events.csv'), '--prices', str(own_data/'prices'),
                 '--text-column', 'Call Text', '--embedding', 'HashingEmbedding', '--output', str(cfg)], tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    assert f'next: finann-train --cfg-path {cfg}' in p.stdout
    written = yaml.safe_load(cfg.read_text())['dataset']['config']
    assert written['columns'] == {'symbol': 'ticker', 'published_at_(et)': 'event_start_at_et', 'Call Text': 'text'}  # found headers as read (case- and space-insensitive), --text-column as given
    assert '2004' < written['val_start'] < written['test_start'] < '2013'
    # the splits it printed are the ones training gets
    printed = dict(part.split()[:2] for part in p.stdout.split('splits: ')[1].splitlines()[0].split(' · '))
    n = {k: int(v) for k, v in printed.items()}
    assert 0.15 < n['test'] / sum(n.values()) < 0.25 and 0.05 < n['val'] / sum(n.values()) < 0.15, n  # last 20% of dates, 10% before
    out, metrics = train_written_config(cfg, tmp_path, printed)
    assert metrics['test']['model']['n'] == int(printed['test']) > 0


def test_finann_init_says_in_one_line_what_it_cannot_find(own_data, tmp_path):
    "'Call Text' is no name it knows: it asks for --text-column, naming the file and its columns; an existing config is never overwritten."
    args = [str(BIN/'finann-init'), '--events', str(own_data/'events.csv'), '--prices', str(own_data/'prices'), '--output', str(tmp_path/'x.yml')]
    p = run_cmd(args, tmp_path, timeout=120)
    assert p.returncode == 2 and not (tmp_path/'x.yml').exists()
    assert p.stderr.strip() == (f"finann-init: error: {own_data/'events.csv'}: no column for text among "
                                "['symbol', 'published_at_(et)', 'call_text', 'analyst'] (name it with --text-column)")
    (tmp_path/'x.yml').write_text('mine')
    p = run_cmd(args + ['--text-column', 'Call Text'], tmp_path, timeout=120)
    assert p.returncode == 2 and 'already exists' in p.stderr and (tmp_path/'x.yml').read_text() == 'mine'


def test_your_own_data_yml_refuses_splits_outside_the_data_before_any_encoder(own_data, tmp_path):
    "configs/your_own_data.yml's example dates (2017, 2018) on events of 2004-2012: one line naming val_start and the data's dates, in phase 'data'."
    ev = pd.read_csv(own_data/'events.csv').rename(columns={'Symbol': 'ticker', 'Published At (ET)': 'event_start_at_et', 'Call Text': 'text'})
    ev.to_csv(own_data/'plain.csv', index=False)
    out = tmp_path/'run'
    p = run_cmd([str(BIN/'finann-train'), '--cfg-path', 'configs/your_own_data.yml', '--options', f'dataset.config.events={own_data/"plain.csv"}',
                 f'dataset.config.prices={own_data/"prices"}', f'trainer.output_dir={out}', 'trainer.report_to=[]'], tmp_path, timeout=120)
    assert p.returncode == 2
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("finann-train: error: ") and last.endswith(": dataset.config.val_start: 2017-01-01 leaves val empty "
                           "(the data has events from 2004-01-06 to 2012-12-31 (years 2004–2012))"), last
    assert 'Traceback' not in p.stderr
    phases = [e.get('phase', e['event']) for e in map(json.loads, (out/'progress.jsonl').read_text().splitlines())]
    assert phases == ['data', 'failed'], phases  # no encoder was built: the run never reached its embedding phase


def test_finann_init_takes_the_label_and_proposes_a_text_stream(own_data, tmp_path):
    "--label/--horizon reach the config; many short texts per ticker and day get the TextStreamBuilder proposal; a bad --label is one line."
    days = pd.bdate_range('2010-01-04', periods=250)
    pd.DataFrame({'ticker': np.repeat(TICKERS[:2], 4 * len(days)), 'created_at': (np.tile(np.repeat(days, 4), 2) + pd.Timedelta('10:00:00')).astype(str),
                  'text': ['$X up', 'selling', 'watching this', 'long here'] * 2 * len(days)}).to_csv(own_data/'tweets.csv', index=False)
    cfg = own_data/'tw.yml'
    p = run_cmd([str(BIN/'finann-init'), '--events', str(own_data/'tweets.csv'), '--prices', str(own_data/'prices'), '--embedding', 'HashingEmbedding',
                 '--label', 'd+1_open:d+5_close', '--output', str(cfg)], tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    written = yaml.safe_load(cfg.read_text())
    assert (written['collator']['config'], written['dataset']['config']['horizon']) == ({'start_field': 'd+1_open', 'end_field': 'd+5_close'}, 5)
    assert 'note: many short texts per ticker and day (median 4 texts per ticker-day' in p.stdout and 'TextStreamBuilder' in p.stdout, p.stdout
    b = run_cmd([str(BIN/'finann-init'), '--events', str(own_data/'tweets.csv'), '--prices', str(own_data/'prices'), '--label', 'open:close',
                 '--output', str(own_data/'x.yml')], tmp_path, timeout=120)
    assert b.returncode == 2 and b.stderr.strip().splitlines()[-1].startswith("finann-init: error: --label: 'open:close' is not START:END"), b.stderr


def test_finann_init_reads_us_dates_with_date_format_and_training_reads_them_alike(own_data, tmp_path):
    "--date-format '%m/%d/%Y' on headlines with US dates and no times: time_of_day unknown, stated; the splits it printed are"
    " the ones training gets and the run card says where the events were placed; a value that does not match, or day-first dates without"
    " the flag, is one line naming the file, row and column."
    ev = pd.read_csv(own_data/'events.csv')
    ev['Published At (ET)'] = pd.to_datetime(ev['Published At (ET)']).dt.strftime('%m/%d/%Y')
    ev.to_csv(own_data/'us.csv', index=False)
    cfg = own_data/'us.yml'
    base = [str(BIN/'finann-init'), '--events', str(own_data/'us.csv'), '--prices', str(own_data/'prices'), '--text-column', 'Call Text',
            '--embedding', 'HashingEmbedding']
    p = run_cmd(base + ['--date-format', '%m/%d/%Y', '--output', str(cfg)], tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "dates: read as --date-format '%m/%d/%Y'" in p.stdout and 'times: none (dates only), so time_of_day: unknown' in p.stdout, p.stdout
    written = yaml.safe_load(cfg.read_text())
    assert (written['dataset']['config']['date_format'], written['dataset']['config']['time_of_day']) == ('%m/%d/%Y', 'unknown')
    printed = dict(part.split()[:2] for part in p.stdout.split('splits: ')[1].splitlines()[0].split(' · '))
    out, metrics = train_written_config(cfg, tmp_path, printed)
    assert '| time of day | unknown: each event is placed before the open of its date' in (out/'report.md').read_text()
    bad = run_cmd(base + ['--date-format', '%d/%m/%Y', '--output', str(own_data/'x.yml')], tmp_path, timeout=120)
    row = next(i for i, d in enumerate(ev['Published At (ET)'], 1) if int(d[3:5]) > 12)  # the first date whose day cannot be a month
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1] == (
        f"finann-init: error: {own_data/'us.csv'}: row {row}, column published_at_(et): {ev['Published At (ET)'][row - 1]!r} does not match "
        "--date-format '%d/%m/%Y'"), bad.stderr
    ev['Published At (ET)'] = pd.to_datetime(ev['Published At (ET)']).dt.strftime('%d/%m/%Y')  # day first, and no --date-format
    ev.to_csv(own_data/'eu.csv', index=False)
    eu = run_cmd([*base[:2], str(own_data/'eu.csv'), *base[3:], '--output', str(own_data/'y.yml')], tmp_path, timeout=120)
    assert eu.returncode == 2 and ' can only be day first, but ' in eu.stderr and 'give --date-format' in eu.stderr, eu.stderr
    assert not (own_data/'x.yml').exists() and not (own_data/'y.yml').exists()
