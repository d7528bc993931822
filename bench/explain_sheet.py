"""The explanation sheet's time on a finished run: `write_explain` of a run folder, imports warm (as at the end of a run).

Times `finann.evaluate.explain.write_explain` `--repeats` times on `--run` (default: outputs/default, the default job's folder,
which `finann-train --cfg-path configs/default.yml` writes), in this process after the imports the run has already paid for
(scikit-learn, matplotlib, pandas), and reports wall and CPU seconds beside the 1-minute load. Goal: under 5 s wall on the
default run. Writes bench/results/explain_sheet.md.

Usage: python bench/explain_sheet.py [--run outputs/default] [--repeats 3]"""
import argparse, datetime, os, platform, statistics, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--run', default=str(ROOT/'outputs'/'default'))
    ap.add_argument('--repeats', type=int, default=3)
    a = ap.parse_args(argv)
    if not (Path(a.run)/'predictions.parquet').is_file(): raise SystemExit(f"{a.run}: no finished run; train one first: finann-train --cfg-path configs/default.yml")
    import sklearn.linear_model, sklearn.feature_extraction.text, matplotlib.pyplot, finann.data, finann.embedding  # noqa: F401  (a run has them)
    from finann.evaluate.explain import write_explain
    from finann.predictions import read_predictions
    n = len(read_predictions(a.run)[0])
    walls, cpus, loads = [], [], []
    for _ in range(a.repeats):
        w, c = time.time(), time.process_time()
        sheet = write_explain(a.run)
        walls.append(time.time() - w); cpus.append(time.process_time() - c); loads.append(os.getloadavg()[0])
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    met = 'met' if wall < 5 else f"not met on this machine's load (CPU {cpu:.1f} s: met when the cores are free)" if cpu < 5 else 'NOT met'
    text = (f"# The explanation sheet (`bench/explain_sheet.py`)\n\n"
            f"Goal: the default run writes `explain.md` with parts 1–5 in under 5 s: **{met}** (median wall {wall:.2f} s, CPU {cpu:.2f} s).\n\n"
            f"`write_explain({os.path.relpath(a.run, ROOT)})` ({n:,} prediction rows), imports warm, {a.repeats} repeats. {platform.machine()}, {os.cpu_count()} CPU cores, "
            f"CPython {platform.python_version()}; {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, 1-minute load {min(loads):.1f}–{max(loads):.1f}.\n\n"
            "| repeat | wall (s) | CPU (s) | 1-minute load |\n|---:|---:|---:|---:|\n"
            + '\n'.join(f"| {i + 1} | {w:.2f} | {c:.2f} | {l:.1f} |" for i, (w, c, l) in enumerate(zip(walls, cpus, loads)))
            + f"\n\nParts not built: {', '.join(sheet.not_built) or 'none'}.\n")
    out = ROOT/'bench'/'results'/'explain_sheet.md'
    out.write_text(text)
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
