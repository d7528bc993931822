"""Data at scale: time and peak RSS to build 10k, 100k and 1M synthetic events and train one epoch on them.

Each size runs `finann-train` (configs/default.yml, `SyntheticEarningsCallBuilder(n_tickers=N/40)`, HashingEmbedding with 256
features, one epoch, wandb off, no bootstrap) twice on one fresh FINANN_CACHE: cold (the events are generated and written as
memory-mapped Arrow, the texts hashed and embedded) and warm (both read back from the cache). Every size runs at the first of
`--precisions` (`collator.config.precision`: the vectors are kept in it from the embedding on), the largest at each of them.
Phase times and RSS come from bench/default_job.py's timers; peak RSS of the process from wait4. Writes
bench/results/data_scale.md (the table and the goal line; the notes below them are the caller's).

Usage: python bench/data_scale.py [--sizes 10000 100000 1000000] [--precisions float32 float16] [--timeout 900] [--goal-gb 2]"""
import argparse, datetime, os, platform, shutil, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from default_job import ROOT, run_job, write_result  # noqa: E402
from growth import OPTS  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sizes', type=int, nargs='+', default=[10_000, 100_000, 1_000_000])
    ap.add_argument('--timeout', type=float, default=900, help='seconds per run; a run past it is killed and reported')
    ap.add_argument('--goal-gb', type=float, default=2.0, help='peak RSS goal for the largest size')
    ap.add_argument('--precisions', nargs='+', default=['float32', 'float16'], choices=['float32', 'float16', 'bfloat16'],
                    help='collator.config.precision: every size at the first, the largest at each')
    ap.add_argument('--out', default=str(ROOT/'bench'/'results'/'data_scale.md'))
    a = ap.parse_args(argv)
    import torch, datasets
    rows, notes = [], []
    plan = [(n, p) for n in a.sizes for p in (a.precisions if n == max(a.sizes) else a.precisions[:1])]
    for n, prec in plan:
        cache = tempfile.mkdtemp(prefix='finann-bench-cache-')
        runs = {}
        for kind in ('cold', 'warm'):
            r = runs[kind] = run_job(cache, [f'dataset.config.n_tickers={n // 40}', *OPTS, f'collator.config.precision={prec}'],
                                     timeout=a.timeout)
            ph = r.get('phases', {})
            print(f"{n:>9,} events, {prec}, {kind}: rc {r['rc']}, wall {r['wall']:.1f} s, peak RSS {r['maxrss_mb']:,.0f} MB, "
                  f"phases { {k: round(v, 1) for k, v in ph.items() if not isinstance(v, dict)} }", flush=True)
            if r['rc'] != 0:
                tail = r['stderr_tail'].strip().splitlines()
                notes.append(f"{n:,} events, {prec}, {kind}: FAILED rc={r['rc']} after {r['wall']:.0f} s: `{tail[-1] if tail else ''}`")
                break
        disk = sum(f.stat().st_size for f in Path(cache, 'datasets').rglob('*') if f.is_file()) if Path(cache, 'datasets').exists() else 0
        rows.append((n, prec, runs, disk))
        shutil.rmtree(cache, ignore_errors=True)
    f1 = lambda v: f'{v:.1f}' if isinstance(v, (int, float)) else '-'
    mb = lambda v: f'{v:,.0f}' if isinstance(v, (int, float)) else '-'
    ph = lambda r, k: (r or {}).get('phases', {}).get(k)
    at = lambda r, what, k: (r or {}).get('phases', {}).get(what, {}).get(k)
    loop = lambda r: (ph(r, 'training') or 0) - (ph(r, 'eval each epoch') or 0) - (ph(r, 'checkpoints') or 0) if ph(r, 'training') else None
    lines = ['# Data at scale (`bench/data_scale.py`)', '',
             f"configs/default.yml with `{' '.join(OPTS)}`, `n_tickers = N/40` (train 70%, val 10%, test 20%) and "
             f"`collator.config.precision` as the row says (the vectors are kept in it from the embedding on); each size twice on one "
             f"fresh cache: cold (events generated and written as memory-mapped Arrow, texts embedded) and warm (both read from the cache). "
             f"{platform.machine()}, {os.cpu_count()} CPU cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
             f"torch {torch.__version__} ({torch.get_num_threads()} threads), datasets {datasets.__version__}, CPython {platform.python_version()}; "
             f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, 1-minute load {os.getloadavg()[0]:.1f} at the end.", '',
             '| events | precision | data build cold / warm (s) | embedding cold / warm (s) | one epoch (s) | evaluation (s) | wall cold / warm (s) | '
             'RSS after data build (MB) | RSS after embedding, of it anonymous (MB) | peak RSS cold / warm (MB) | Arrow on disk (MB) |',
             '|---:|---|' + '---:|' * 9]
    for n, prec, runs, disk in rows:
        c, w = runs.get('cold'), runs.get('warm')
        wall = lambda r: (f"{r['wall']:.1f}" + ('' if r['rc'] == 0 else ' (failed)')) if r else '-'
        lines.append(f"| {n:,} | {prec} | {f1(ph(c, 'data build'))} / {f1(ph(w, 'data build'))} | {f1(ph(c, 'embedding'))} / {f1(ph(w, 'embedding'))} | "
                     f"{f1(loop(c))} | {f1(ph(c, 'evaluation'))} | {wall(c)} / {wall(w)} | {mb(at(c, 'rss_mb', 'data build'))} | "
                     f"{mb(at(c, 'rss_mb', 'embedding'))}, {mb(at(c, 'anon_mb', 'embedding'))} | "
                     f"{mb(c and c['maxrss_mb'])} / {mb(w and w['maxrss_mb'])} | {disk / 2**20:,.0f} |")
    for n, prec, runs, _ in [r for r in rows if r[0] == max(a.sizes)]:
        if len(runs) == 2 and all(r['rc'] == 0 for r in runs.values()):
            peak = max(r['maxrss_mb'] for r in runs.values()) / 1024
            lines += ['', f"Goal: {n:,} events within {a.goal_gb:g} GB of peak RSS ({prec}): "
                          f"**{'met' if peak <= a.goal_gb else 'NOT met'}** ({peak:.2f} GB, the larger of cold and warm)."]
    if notes: lines += [''] + [f"- {x}" for x in notes]
    return write_result(a.out, lines)


if __name__ == '__main__':
    sys.exit(main())
