"The memorisation control end to end: the real `finann-train` with `embedding.config.mask_entities=true`, and `finann-eval --compare`."
import json
import yaml
from conftest import BIN, run_cmd

TINY = ['dataset.config.n_tickers=8', 'dataset.config.start_year=2014', 'dataset.config.end_year=2017',
        'dataset.config.val_years=[2016]', 'dataset.config.test_years=[2017]', 'trainer.num_train_epochs=1',
        'trainer.report_to=[]', 'evaluator.n_boot=50', 'embedding.config.n_features=256']


def train(tmp_path, name, *options):
    return run_cmd([str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', '--options',
                    f'trainer.output_dir={tmp_path / name}', *TINY, *options], tmp_path)


def test_masked_run_writes_a_report_and_compare_prints_both_runs(tmp_path):
    plain, masked = train(tmp_path, 'plain'), train(tmp_path, 'masked', 'embedding.config.mask_entities=true')
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert masked.returncode == 0, masked.stderr[-3000:]
    assert (tmp_path / 'masked' / 'report.md').is_file()
    assert yaml.safe_load((tmp_path / 'masked' / 'config.yaml').read_text())['embedding']['config']['mask_entities'] is True
    # the synthetic builder knows its 8 made-up names; the plain run masks nothing and says nothing about it
    assert "mask_entities: each event's ticker and company name(s) are masked (names for 8 tickers from SyntheticEarningsCallBuilder)" in masked.stderr
    assert 'mask_entities' not in plain.stderr
    # every call names its company: masked, each is a new text for the (shared) cache, none is served the plain run's vector
    emb = json.loads((tmp_path / 'masked' / 'metrics.json').read_text())['embedding']
    assert emb['cached'] == 0 and emb['encoded'] == emb['unique'] > 0, emb
    p = run_cmd([str(BIN / 'finann-eval'), '--compare', str(tmp_path / 'plain'), str(tmp_path / 'masked')], tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    lines = [l for l in p.stdout.splitlines() if ': against the floor, ' not in l]  # each run's verdict; the floor lines are checked in 08d
    assert lines[0].startswith('plain: accuracy: model ') and lines[1].startswith('masked (masked): accuracy: model '), p.stdout
    assert lines[2].split()[:3] == ['run', 'n', 'predictor'], p.stdout
    rows = [l.split() for l in lines[3:]]
    assert [r[0] for r in rows if 'model' in r] == ['plain', 'masked'], p.stdout
    assert any(r[0] == 'ticker' for r in rows), p.stdout  # the ticker-identity baseline, beside each run's model
    # finann-predict masks new texts as the run did (ticker and company name), or refuses texts it cannot mask alike
    import pandas as pd
    pd.DataFrame({'text': ['ACME beat estimates']}).to_csv(tmp_path / 'bare.csv', index=False)
    pd.DataFrame({'text': ['ACME beat estimates'], 'ticker': ['ACME']}).to_csv(tmp_path / 'no_names.csv', index=False)
    pd.DataFrame({'text': ['Acme Corp (ACME) beat', '[COMPANY] ([TICKER]) beat'], 'ticker': ['ACME', 'ACME'],
                  'company': ['Acme Corp', 'Acme Corp']}).to_csv(tmp_path / 'named.csv', index=False)
    for f, want in (('bare.csv', 'give a ticker column'), ('no_names.csv', 'give a company column')):
        p = run_cmd([str(BIN / 'finann-predict'), '--run', str(tmp_path / 'masked'), '--texts', str(tmp_path / f)], tmp_path)
        last = p.stderr.strip().splitlines()[-1]
        assert p.returncode == 2 and last.startswith(f"finann-predict: error: {tmp_path / f}: the run masked tickers and company names") and want in last, p.stderr
    p = run_cmd([str(BIN / 'finann-predict'), '--run', str(tmp_path / 'masked'), '--texts', str(tmp_path / 'named.csv'),
                 '--output', str(tmp_path / 'scored.csv')], tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    scored = pd.read_csv(tmp_path / 'scored.csv')
    assert abs(scored['p_1'][0] - scored['p_1'][1]) < 1e-6  # the named text, masked, is the masked text
    p = run_cmd([str(BIN / 'finann-eval'), '--compare', str(tmp_path / 'plain'), str(tmp_path / 'nowhere')], tmp_path)
    assert p.returncode == 2 and 'Traceback' not in p.stderr, p.stderr[-2000:]
    assert p.stderr.strip().splitlines()[-1] == f"finann-eval: error: {tmp_path / 'nowhere'}: no such run folder"


def test_quoted_true_is_one_clear_line(tmp_path):
    p = train(tmp_path, 'run', 'embedding.config.mask_entities="true"')
    assert p.returncode == 2 and 'Traceback' not in p.stderr, p.stderr[-2000:]
    assert p.stderr.strip().splitlines()[-1] == ("finann-train: error: configs/default.yml: embedding.config.mask_entities: "
                                                 "expected true or false, got 'true' (remove the quotes)")
    assert not (tmp_path / 'run').exists()


def last_notices(out: str) -> list[str]:
    "The block of `notice:` lines that ends the console's output."
    lines = out.strip().splitlines()
    k = len(lines)
    while k and lines[k - 1].startswith('notice: '): k -= 1
    return lines[k:]


def test_masking_without_company_names_is_stated_in_the_header_and_the_last_lines(tmp_path):
    "Data without a company column: only tickers can be masked; the run card, the console's last line and --compare say so, not only the log."
    from test_bad_input import base_config, events, local, write
    ev = events(80, '2014-01-06').assign(ticker=['ABC', 'XYZ'] * 40)
    cfg = base_config(tmp_path, local(write(ev, tmp_path / 'ev.csv')))
    cfg['embedding']['config']['mask_entities'] = True
    (tmp_path / 'cfg.yml').write_text(yaml.safe_dump(cfg))
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(tmp_path / 'cfg.yml')], tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    # the console's last lines: the notices, this one among them (the data has no test split: that is a notice too)
    assert 'notice: masking: tickers only — no company column' in last_notices(p.stdout), p.stdout[-2000:]
    header = (tmp_path / 'run' / 'report.md').read_text().split('# Evaluation')[0]
    assert '**Notice**: masking: tickers only — no company column.' in header and '| run card | |' in header
    e = run_cmd([str(BIN / 'finann-eval'), '--run', str(tmp_path / 'run')], tmp_path)
    assert e.returncode == 0 and 'notice: masking: tickers only — no company column' in last_notices(e.stdout), e.stdout[-2000:]
    c = run_cmd([str(BIN / 'finann-eval'), '--compare', str(tmp_path / 'run'), str(tmp_path / 'run'), '--split', 'val'], tmp_path)
    assert c.stdout.splitlines()[0].startswith(f"{tmp_path / 'run'} (masked: tickers only): "), c.stdout
