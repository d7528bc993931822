"""Does half precision cost accuracy? The same config trained twice, same seed: `collator.config.precision` float32,
then float16 (the vectors kept in float16 from the embedding on: the model reads them rounded to half precision).

Each run is `finann-train` in a subprocess (bench/default_job.py's `run_job`), both on one FINANN_CACHE (the float16 run
reads the float32 vectors the first one cached, and rounds them). Compares each split's model metrics, the largest
difference between the two runs' scores (predictions.parquet), and how far the float16 vectors are from the float32 ones
(read from the cache). Prints a markdown section; `--out` appends it to a file.

Usage: python bench/precision.py [--cfg configs/default.yml] [--options KEY=VALUE ...] [--label NAME] [--out FILE]"""
import argparse, datetime, os, sys, tempfile
from pathlib import Path
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from default_job import ROOT, run_job  # noqa: E402

METRICS = {'classification': ['accuracy', 'balanced_accuracy', 'mcc', 'log_loss'], 'regression': ['r2', 'mae', 'rmse']}


def vector_rounding(cache:str) -> tuple[float, float, int]:
    "Largest absolute and relative difference between the cached float32 vectors and their float16 rounding; rows."
    worst = rel = 0.0; rows = 0
    for f in Path(cache, 'embeddings').rglob('*.vecs.npy'):
        v = np.load(f, mmap_mode='r')
        for s in range(0, len(v), 1 << 16):
            b = np.asarray(v[s:s + (1 << 16)]); d = np.abs(b - b.astype(np.float16).astype(np.float32))
            worst = max(worst, float(d.max(initial=0))); rows += len(b)
            nz = np.abs(b) > 0
            if nz.any(): rel = max(rel, float((d[nz] / np.abs(b[nz])).max()))
    return worst, rel, rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--cfg', default='configs/default.yml')
    ap.add_argument('--options', nargs='*', default=[], help='finann-train overrides for both runs')
    ap.add_argument('--label', default=None, help='what the section is called (default: the config and options)')
    ap.add_argument('--timeout', type=float, default=1800)
    ap.add_argument('--out', default=None, help='append the section to this file')
    a = ap.parse_args(argv)
    import pandas as pd
    cache = tempfile.mkdtemp(prefix='finann-bench-cache-')
    runs = {}
    for p in ('float32', 'float16'):
        r = runs[p] = run_job(cache, [*a.options, f'collator.config.precision={p}'], timeout=a.timeout, cfg=a.cfg)
        if r['rc'] != 0: sys.exit(f"precision {p}: finann-train failed ({r['rc']}):\n{r['stderr_tail']}")
        print(f"{p}: wall {r['wall']:.1f} s, peak RSS {r['maxrss_mb']:,.0f} MB", flush=True)
    import json
    met = {p: json.loads(Path(r['run_dir'], 'metrics.json').read_text()) for p, r in runs.items()}
    pred = {p: pd.read_parquet(Path(r['run_dir'], 'predictions.parquet')) for p, r in runs.items()}
    score_cols = [c for c in pred['float32'].columns if c.startswith('p_') or c == 'pred']  # the model's own
    diff = max(float(np.nanmax(np.abs(pred['float32'][c].to_numpy(float) - pred['float16'][c].to_numpy(float))))
               for c in score_cols) if score_cols else float('nan')
    worst, rel, rows = vector_rounding(cache)
    label = a.label or f"`{a.cfg}`{' ' + ' '.join(a.options) if a.options else ''}"
    lines = [f"### {label}", '',
             f"Same seed, precision float32 vs float16; {datetime.date.today()}, 1-minute load {os.getloadavg()[0]:.2f} "
             f"at the end. Vectors: {rows:,} cached, float16 rounding off by at most {worst:.2g} "
             f"({rel:.2g} relative).", '',
             '| split | metric | float32 | float16 | difference |', '|---|---|---:|---:|---:|']
    for split in ('val', 'test'):
        m32, m16 = met['float32'].get(split, {}), met['float16'].get(split, {})
        for k in METRICS.get(m32.get('task'), []):
            x, y = m32.get('model', {}).get(k), m16.get('model', {}).get(k)
            if x is None or y is None: continue
            lines.append(f"| {split} (n={m32.get('n', 0):,}) | {k} | {x:.5f} | {y:.5f} | {y - x:+.5f} |")
    lines += ['', f"Largest difference between the two runs' model scores ({', '.join(score_cols) or 'none found'}): "
                  f"{diff:.3g}. Peak RSS {runs['float32']['maxrss_mb']:,.0f} MB (float32) and "
                  f"{runs['float16']['maxrss_mb']:,.0f} MB (float16, warm cache); wall {runs['float32']['wall']:.0f} s "
                  f"and {runs['float16']['wall']:.0f} s.", '']
    print('\n'.join(lines))
    if a.out:
        with open(a.out, 'a') as f: f.write('\n'.join(lines) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
