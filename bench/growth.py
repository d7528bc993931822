"""How time and memory grow with the number of events: 10k, 100k and 1M synthetic events, one epoch.

Each size is one `finann-train` run of configs/default.yml in a subprocess with `SyntheticEarningsCallBuilder(n_tickers=N/40)`
(40 calls per ticker over 10 years), `HashingEmbedding(n_features=256)`, one epoch, wandb off and no bootstrap
(`evaluator.n_boot=0`); a fresh FINANN_CACHE per size. Phases and the peak RSS reached by the end of each phase come from the
timers of bench/default_job.py; the process's own peak RSS from wait4. Writes bench/results/growth.md.

Usage: python bench/growth.py [--sizes 10000 100000 1000000] [--timeout 600] [--options KEY=VALUE ...]"""
import argparse, datetime, os, platform, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from default_job import ROOT, run_job, write_result  # noqa: E402

OPTS = ['embedding.config.n_features=256', 'trainer.num_train_epochs=1', 'trainer.report_to=[]', 'evaluator.n_boot=0', 'trainer.disable_tqdm=true']


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sizes', type=int, nargs='+', default=[10_000, 100_000, 1_000_000])
    ap.add_argument('--timeout', type=float, default=600, help='seconds per size; a run past it is killed and reported')
    ap.add_argument('--options', nargs='*', default=[], help='extra finann-train overrides')
    ap.add_argument('--out', default=str(ROOT/'bench'/'results'/'growth.md'))
    a = ap.parse_args(argv)
    import torch
    rows, notes = [], []
    for n in a.sizes:
        r = run_job(tempfile.mkdtemp(prefix='finann-bench-cache-'), [f'dataset.config.n_tickers={n // 40}', *OPTS, *a.options], timeout=a.timeout)
        ph, peak = r.get('phases', {}), r.get('phases', {}).get('peak_rss_mb', {})
        nested = ph.get('eval each epoch', 0) + ph.get('checkpoints', 0)
        loop = ph.get('training', 0) - nested  # the training loop alone: no per-epoch evaluation, no checkpoint
        n_train = r.get('n_train')
        sps = n_train / loop if n_train and loop > 0 else None
        rows.append((n, r, ph, peak, loop, sps))
        status = 'ok' if r['rc'] == 0 else f"FAILED rc={r['rc']} after {r['wall']:.0f} s"
        print(f"{n:>9,} events: {status}, wall {r['wall']:.1f} s, train loop {loop:.1f} s ({sps or 0:,.0f} samples/s), peak RSS {r['maxrss_mb']:,.0f} MB; "
              f"phases { {k: round(v, 1) for k, v in ph.items() if not isinstance(v, dict)} }; peak RSS by phase {peak}", flush=True)
        if r['rc'] != 0: notes.append(f"{n:,} events: {status}; stderr tail: `{r['stderr_tail'].strip().splitlines()[-1] if r['stderr_tail'].strip() else ''}`")
    fmt = lambda v, f='{:.1f}': f.format(v) if isinstance(v, (int, float)) else '-'
    lines = ['# Growth with the number of events (`bench/growth.py`)', '',
             f"configs/default.yml with `{' '.join(OPTS + a.options)}` and `n_tickers = N/40`; train is 70% of the events (2010-2016), "
             f"val 10%, test 20%. {platform.machine()}, {os.cpu_count()} CPU cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
             f"torch {torch.__version__} ({torch.get_num_threads()} threads), CPython {platform.python_version()}; {datetime.date.today()}.", '',
             '| events | data build (s) | embedding (s) | training loop (s) | train samples/s | eval each epoch + checkpoint (s) | evaluation (s) | report (s) | wall (s) | peak RSS (MB) |',
             '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for n, r, ph, peak, loop, sps in rows:
        lines.append(f"| {n:,} | {fmt(ph.get('data build'))} | {fmt(ph.get('embedding'))} | {fmt(loop)} | {fmt(sps, '{:,.0f}')} | "
                     f"{fmt(ph.get('eval each epoch', 0) + ph.get('checkpoints', 0))} | {fmt(ph.get('evaluation'))} | {fmt(ph.get('report + plots'))} | "
                     f"{r['wall']:.1f}{'' if r['rc'] == 0 else ' (failed)'} | {r['maxrss_mb']:,.0f} |")
    keys = ['import finann', 'data build', 'embedding', 'training', 'baselines', 'evaluation', 'report + plots']
    lines += ['', 'Where memory goes: RSS (MB) when each phase ends / the peak RSS reached by then (a high-water mark: '
              'a phase that stays under an earlier peak does not raise it):', '',
              '| events | ' + ' | '.join(['import', 'data build', 'embedding', 'training', 'baselines', 'evaluation', 'report']) + ' |', '|---:' * 8 + '|']
    for n, r, ph, peak, loop, sps in rows:
        now = ph.get('rss_mb', {})
        lines.append(f"| {n:,} | " + ' | '.join(f"{fmt(now.get(k), '{:,.0f}')} / {fmt(peak.get(k), '{:,.0f}')}" for k in keys) + ' |')
    ok = [(n, r, ph) for n, r, ph, *_ in rows if r['rc'] == 0]
    if len(ok) >= 2:  # time: the largest two sizes; memory: what training adds over the data and vectors it is given
        (n0, r0, _), (n1, r1, _) = ok[-2], ok[-1]
        held = lambda ph, k: ph.get('rss_mb', {}).get(k)
        train_mb = [held(ph, 'training') - held(ph, 'embedding') for _, _, ph in ok if held(ph, 'training') and held(ph, 'embedding')]
        lines += ['', f"Goal: time linear in the events, memory flat past the data: {n1 / n0:.0f}× the events took {r1['wall'] / r0['wall']:.1f}× the time "
                  f"(**{'met' if r1['wall'] / r0['wall'] <= 1.1 * n1 / n0 else 'missed'}**); training added "
                  f"{', '.join(f'{m:,.0f}' for m in train_mb)} MB of RSS over the data and vectors at {', '.join(f'{n:,}' for n, *_ in ok)} events."]
    if notes: lines += [''] + [f"- {x}" for x in notes]
    return write_result(a.out, lines)


if __name__ == '__main__':
    sys.exit(main())
