"""A walk-forward × seeds study on the tweet benchmark (configs/stocknet.yml, its hashed-n-gram encoder, the real clone),
timed phase by phase in one process: data, vectors, labels, folds, baselines, per-unit set-up, training, prediction,
evaluation. Each phase's time is its own (a phase called inside another is not counted twice), wall and CPU, with how many
times it ran: the phases that do not depend on the seed should run once per fold, the data and vectors once per study.
Writes bench/results/study_profile.md. Scaled down to minutes with --tickers, --seeds and --epochs.
Usage: python bench/study_profile.py [--tickers 8] [--seeds 3] [--epochs 5] [--period quarter] [--data PATH]"""
import argparse, datetime, os, platform, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from stocknet import find_clone  # shared/data/stocknet beside the checkout


class Phases:
    "Exclusive wall and CPU seconds per phase: a timed call inside another timed call is taken out of its parent's time."
    def __init__(self): self.rows, self.stack = {}, []

    def wrap(self, name, f):
        def timed(*args, **kw):
            self.stack.append([0.0, 0.0]); w0, c0 = time.perf_counter(), time.process_time()
            try: return f(*args, **kw)
            finally:
                w, c = time.perf_counter() - w0, time.process_time() - c0
                inner_w, inner_c = self.stack.pop()
                r = self.rows.setdefault(name, [0.0, 0.0, 0]); r[0] += w - inner_w; r[1] += c - inner_c; r[2] += 1
                if self.stack: self.stack[-1][0] += w; self.stack[-1][1] += c
        return timed


PHASES = [  # (phase, where: 'task' methods or module functions, the names timed)
    ('data (build, split, label filter)', 'task', ['build_builder', 'build_datasets']),
    ('vectors (embedding, through the cache)', 'task', ['build_embedding', 'embed']),
    ('labels', 'task', ['build_labels', 'class_balance']),
    ('folds (walk-forward split of events, vectors, labels)', 'finann.task.study', ['fold_units']),
    ('baselines (fit on train, score val and test)', 'task', ['baselines']),
    ('per-unit set-up (model, collator, datasets, Trainer)', 'task', ['build_model', 'build_collator', 'event_dataset', 'build_trainer']),
    ('training (Trainer.train, epoch evals on val)', 'task', ['fit']),
    ('prediction (model scores, predictions table)', 'task', ['predict']),
    ('evaluation (metrics, bootstrap, backtest, report, plots)', 'task', ['write_predictions', 'evaluate', 'write_report']),
    ('explanation (explain.md)', 'finann.evaluate.explain', ['explain_finished_run']),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--data', default=None, help='the StockNet clone (default: shared/data/stocknet beside the checkout)')
    ap.add_argument('--tickers', type=int, default=8, help='the first N tickers of the clone (0: all 87)')
    ap.add_argument('--seeds', type=int, default=3)
    ap.add_argument('--epochs', type=float, default=5)
    ap.add_argument('--period', choices=['year', 'quarter'], default='quarter')
    ap.add_argument('--options', nargs='*', default=[], help='more config overrides')
    ap.add_argument('--out', default=str(ROOT/'bench'/'results'/'study_profile.md'))
    a = ap.parse_args(argv)
    clone = Path(a.data) if a.data else find_clone()
    if clone is None: sys.exit('bench/study_profile.py: no StockNet clone (pass --data PATH, a clone of yumoxu/stocknet-dataset)')
    work = Path(tempfile.mkdtemp(prefix='finann-study-profile-'))
    for k, v in {'FINANN_CACHE': str(work/'cache'), 'WANDB_MODE': 'offline', 'HF_HUB_OFFLINE': '1', 'TRANSFORMERS_OFFLINE': '1'}.items():
        os.environ[k] = v
    t_import = time.perf_counter()
    import importlib, torch
    from finann.config import load_config
    from finann.cli import repeat_flags
    from finann.task import setup_task, setup_seeds
    tickers = sorted(p.name for p in (clone/'tweet'/'preprocessed').iterdir())[:a.tickers or None]
    opts = [f'dataset.config.path={clone}', f'dataset.config.tickers={tickers}', f'trainer.output_dir={work/"run"}',
            'trainer.report_to=[]', 'trainer.disable_tqdm=true', f'trainer.num_train_epochs={a.epochs}',
            f'evaluator.folds={{period: {a.period}}}', *a.options]
    cfg = repeat_flags(load_config(ROOT/'configs'/'stocknet.yml', opts), seeds=a.seeds)
    setup_seeds(cfg.run.seed)
    task = setup_task(cfg)
    prof = Phases()
    for phase, where, names in PHASES:
        for n in names:
            if where == 'task': setattr(task, n, prof.wrap(phase, getattr(task, n)))
            else:
                mod = importlib.import_module(where); setattr(mod, n, prof.wrap(phase, getattr(mod, n)))
    from finann.evaluate.baselines import get_baseline_class
    from finann.task.study import baseline_names
    for name in baseline_names(task):  # each baseline's own fit and scores, inside the baselines phase
        cls = get_baseline_class(name)
        for m in ('fit', 'scores'): setattr(cls, m, prof.wrap(f'baseline {name}', getattr(cls, m)))
    import_s = time.perf_counter() - t_import
    up0 = subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()
    w0, c0 = time.perf_counter(), time.process_time()
    metrics = task.run()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    up1 = subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()
    import pandas as pd
    preds = pd.read_parquet(work/'run'/'predictions.parquet')
    units = preds.groupby(['fold', 'seed']).ngroups if 'fold' in preds else 1
    folds = preds['fold'].nunique() if 'fold' in preds else 1
    train = prof.rows.get('training (Trainer.train, epoch evals on val)', [0, 0, 0])
    lines = ['| phase | runs | wall s | share of wall | CPU s |', '|---|---:|---:|---:|---:|']
    for phase, *_ in PHASES:
        w, c, n = prof.rows.get(phase, [0.0, 0.0, 0])
        if phase.startswith('baselines'):
            w += sum(r[0] for k, r in prof.rows.items() if k.startswith('baseline '))
            c += sum(r[1] for k, r in prof.rows.items() if k.startswith('baseline '))
        lines.append(f'| {phase} | {n} | {w:.1f} | {w / wall:.0%} | {c:.1f} |')
        if phase.startswith('baselines'):  # of it, each baseline's fit and scores (runs: fit + val and test scores)
            lines += [f'| &nbsp;&nbsp;of it {k} | {r[2]} | {r[0]:.1f} | {r[0] / wall:.0%} | {r[1]:.1f} |'
                      for k, r in prof.rows.items() if k.startswith('baseline ')]
    ow, oc = wall - sum(r[0] for r in prof.rows.values()), cpu - sum(r[1] for r in prof.rows.values())
    lines += [f'| the rest (run folder, config, saving the last model, …) | | {ow:.1f} | {ow / wall:.0%} | {oc:.1f} |',
              f'| **the study** | | **{wall:.1f}** | 100% | **{cpu:.1f}** |']
    n_train = {k: v for k, v in metrics['data']['splits'].items()}
    head = (f"A walk-forward study on the real StockNet clone: `configs/stocknet.yml` (hashed word 1–2-grams, 1,024 features), "
            f"the first {len(tickers)} of {len(list((clone/'tweet'/'preprocessed').iterdir()))} tickers, {a.period}ly folds "
            f"(expanding window, one {a.period} of val), {folds} folds × {a.seeds} seeds = {units} units of {a.epochs:g} epochs; "
            f"the builder's splits {n_train}; a cold cache. `python bench/study_profile.py --tickers {a.tickers} --seeds {a.seeds} "
            f"--epochs {a.epochs:g} --period {a.period}`. Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
            f"on {platform.machine()}, {os.cpu_count()} CPU cores shared by 8 developers, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), in one process (imports {import_s:.0f} s before the study, not counted).\n\n"
            f"`uptime` before: `{up0}`; after: `{up1}`.")
    tail = (f"The study took {wall:.0f} s of wall time and {cpu:.0f} s of CPU; its units' training {train[0]:.0f} s wall and {train[1]:.0f} s CPU. "
            f"**The study costs {wall / train[0]:.2f}× its units' training in wall time ({cpu / max(train[1], 1e-9):.2f}× in CPU).** "
            f"Data and vectors ran once per study, baselines once per fold ({prof.rows.get(PHASES[4][0], [0, 0, 0])[2]} fits for {folds} folds).")
    goal = (f"Goal: a study costs little more than its units' training: {cpu / max(train[1], 1e-9):.2f}× in CPU, "
            f"{wall / train[0]:.2f}× in wall time ({units} units, {folds} folds)")
    text = head + '\n\n' + '\n'.join(lines) + '\n\n' + tail + '\n\n' + goal + '\n'
    print(text)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text('# A walk-forward × seeds study, phase by phase (`bench/study_profile.py`)\n\n' + text)


if __name__ == '__main__':
    main()
