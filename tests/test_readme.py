"The README's sample output is what finann prints today: its verdict lines and its results table's columns come from the code."
from pathlib import Path
from types import SimpleNamespace
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def test_readme_sample_output_is_what_finann_prints_today():
    "A new column (the Sharpe's standard error) or a new verdict line (against the majority class) that the README's sample lacks fails here."
    from finann.evaluate import evaluate_predictions, results_table
    from finann.predictions import predictions_frame
    block = (ROOT / 'README.md').read_text().split('```\nval: accuracy:')[1].split('```')[0]
    lines = ('val: accuracy:' + block).splitlines()
    rng = np.random.default_rng(0); n = 240
    y = rng.integers(0, 2, n)
    ev = {'ticker': np.array(['A', 'B', 'C'] * (n // 3)), 'event_start_at_et': [f'2019-{1 + i // 24:02d}-{1 + i % 24:02d} 08:00:00.000' for i in range(n)]}
    probs = np.eye(2)[np.where(rng.random(n) < 0.7, y, 1 - y)] * 0.6 + 0.2
    tfidf = np.eye(2)[np.where(rng.random(n) < 0.65, y, 1 - y)] * 0.6 + 0.2  # the best baseline: the verdict's, and the floor's line beside it
    df = predictions_frame('test', ev, y, rng.normal(0, 0.02, n), probs, {'majority': np.tile([0.4, 0.6], (n, 1)), 'tfidf': tfidf})
    ev_cfg = SimpleNamespace(splits=['test'], n_boot=20, ci_by=None, q=0.2, weighting='uniform', period='W', cost_bps=0.0, rf=0.0)
    today = results_table(evaluate_predictions(df, {'num_labels': 2, 'baselines': ['majority', 'tfidf']}, ev_cfg)).splitlines()
    header = lambda ls: next(l for l in ls if l.lstrip().startswith('split ')).split()
    assert header(lines) == header(today), (header(lines), header(today))
    kinds = lambda ls: {l.split(':')[1].strip().split(',')[0] for l in ls if l.startswith(('val:', 'test:'))}  # 'accuracy', 'against the floor'
    assert kinds(lines) == kinds(today), (kinds(lines), kinds(today))
    assert lines[-1].split()[:2] == ['momentum', '0.507'] and not any(l.strip() == '...' for l in lines)  # the whole table, not cut
