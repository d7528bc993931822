"""Is the verdict calibrated? A walk-forward study over 20 seeds on synthetic earnings calls.

With `signal_strength: 0` the text says nothing about the move, so neither the model nor any baseline can be better than
another: a test at the 5% level must say "not distinguishable" in at least 90% of fold × seed units (95% expected). With
`signal_strength: 0.6` the model must be "better" than the best baseline (chosen on each fold's val) pooled over all folds and seeds.

Each unit's verdict is the one the report prints for a fold (`finann.evaluate.model_verdict`: paired bootstrap over event
dates, best baseline chosen on the fold's val), computed here for each seed alone. Writes the `--form` section of
bench/results/calibration.md: with `--form linear` every cue of the text shows the surprise, so a bag of words is as good a
reader as the MLP; with `--form interaction` the direction is an XOR of the results and the outlook, which only the MLP can read.

Usage: python bench/calibration.py [--form linear|interaction] [--seeds 20] [--n-tickers 40] [--epochs 5] [--signals 0 0.6] [--options KEY=VALUE ...] [--out FILE]"""
import argparse, datetime, json, os, platform, tempfile, time
from pathlib import Path
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def study(signal:float, seeds:int, n_tickers:int, epochs:int, out:Path, options:list[str]=(), form:str='linear') -> dict:
    "Train the walk-forward study; return the verdict of every fold × seed unit and the pooled verdict."
    from finann.config import load_config
    from finann.cli import repeat_flags
    from finann.task import setup_task, setup_logger
    from finann.predictions import read_predictions, split_inputs
    from finann.evaluate import model_verdict
    from finann.evaluate.report import _best_on_val
    opts = [f'dataset.config.n_tickers={n_tickers}', 'dataset.config.start_year=2013', 'dataset.config.end_year=2017',
            'dataset.config.val_years=[2016]', 'dataset.config.test_years=[2017]', f'dataset.config.signal_strength={signal}', f'dataset.config.signal_form={form}',
            f'trainer.num_train_epochs={epochs}', 'trainer.per_device_train_batch_size=32', 'trainer.learning_rate=3e-3',
            'trainer.report_to=[]', 'trainer.disable_tqdm=true', f'trainer.output_dir={out}', *options]
    cfg = repeat_flags(load_config(ROOT / 'configs/default.yml', opts), walk_forward=True, seeds=seeds)
    setup_logger()
    t0 = time.perf_counter()
    metrics = setup_task(cfg).run()
    seconds = time.perf_counter() - t0
    df, meta = read_predictions(out)
    units = []
    for k in sorted(df['fold'].unique()):
        fold = df[df['fold'] == k]
        best = _best_on_val({}, fold[fold['seed'] == fold['seed'].min()], meta)  # the baselines are the same for every seed
        for s in sorted(fold['seed'].unique()):
            x = split_inputs(fold[fold['seed'] == s], meta, 'test')
            v = model_verdict(x['labels'], x['probs'], x['baselines'][best], best, dates=x['dates'], seed=int(s))
            units.append({'fold': int(k), 'seed': int(s), 'baseline': best, 'outcome': v['outcome'], 'p': v.get('p'), 'diff': v.get('diff')})
    return {'signal': signal, 'units': units, 'pooled': metrics['test']['verdict']['line'], 'seconds': seconds,
            'n_test_per_fold': int((df[(df['split'] == 'test') & (df['seed'] == df['seed'].min())].groupby('fold').size()).median())}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, default=20)
    p.add_argument('--n-tickers', type=int, default=40)
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--form', choices=['linear', 'interaction'], default='linear', help="the synthetic data's signal_form")
    p.add_argument('--signals', type=float, nargs='+', default=[0.0, 0.6])
    p.add_argument('--out', default=str(ROOT / 'bench/results/calibration.md'))
    p.add_argument('--options', nargs='*', default=[], metavar='KEY=VALUE', help='more config overrides, e.g. evaluator.baselines=[majority,ticker]')
    a = p.parse_args(argv)
    rows = []
    for signal in a.signals:
        with tempfile.TemporaryDirectory() as tmp:
            r = study(signal, a.seeds, a.n_tickers, a.epochs, Path(tmp) / 'run', a.options, a.form)
        u = pd.DataFrame(r['units'])
        counts = u['outcome'].value_counts()
        share = counts.get('not distinguishable', 0) / len(u)
        rows.append(f"| {signal:g} | {u['fold'].nunique()} × {u['seed'].nunique()} = {len(u)} | {r['n_test_per_fold']} | "
                    f"{counts.get('not distinguishable', 0)} ({100 * share:.0f}%) | {counts.get('better', 0)} | {counts.get('worse', 0)} | {r['pooled']} | {r['seconds']:.0f} s |")
        print(rows[-1], flush=True)
    section = [f"## signal_form: {a.form}", '',
               f"{a.seeds} seeds, {a.n_tickers} synthetic tickers × 4 calls a year, 2013–2017, a walk-forward fold per year (one train year at least, one val year), "
               f"{a.epochs} epochs of batch 32 at learning rate 3e-3, `configs/default.yml` otherwise{' with ' + ' '.join(a.options) if a.options else ''}. Each unit is one fold's test year for one seed, against the best baseline on that fold's val.", '',
               '| signal | folds × seeds | test events per fold | not distinguishable | better | worse | pooled verdict (all folds and seeds) | wall |',
               '|---|---|---|---|---|---|---|---|', *rows, '',
               f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.node()} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores), "
               f"shared machine, load average at the end {' '.join(f'{x:.1f}' for x in os.getloadavg())}."]
    md = write_section(Path(a.out), section)
    print(md)


def write_section(path:Path, section:list[str]) -> str:
    "Write one signal_form's section of the results page, keeping the page's head and the other forms' sections as they are."
    head = ('# Calibration of the verdict\n\nGoal: with signal 0, \"not distinguishable\" in ≥ 90% of fold × seed units at the 5% level; '
            'with signal 0.6, the pooled verdict says \"better\".\n')
    parts = path.read_text().split('\n## ') if path.exists() else [head]
    sections = {s.split('\n', 1)[0]: '## ' + s.strip() for s in parts[1:]}
    sections[section[0][3:]] = '\n'.join(section)
    md = '\n'.join([parts[0].rstrip() + '\n', *(sections[k] + '\n' for k in sorted(sections))])  # the head (title, goal and its result) is kept as it is
    path.write_text(md)
    return md


if __name__ == '__main__':
    main()
