"""Peak RSS of the linear baselines' training sample at a million events: a 1M × 256 float32 matrix of vectors, 700k train
rows given as `finann.task.study.baseline_data` gives them (the shared matrix and the split's rows), and the 100k-row float64
sample the logistic and ridge baselines fit on (`SplitData.sample(...).X`). `--before` takes the rows the way the code did
before 2026-12-06 (the whole split as float64, then the sample's rows); `--lazy` the way it did until 2026-12-07 (the split's
float32 rows, then the sample's). Each mode in a fresh process: python bench/baseline_memory.py [--before | --lazy]"""
import argparse, resource
import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--before', action='store_true', help="the old way: the whole split as float64, then the sample's rows")
    ap.add_argument('--lazy', action='store_true', help="the split's rows as a function: its float32 rows, then the sample's")
    a = ap.parse_args(argv)
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB (Linux reports KiB)
    from finann.evaluate.baselines import SplitData
    vectors = np.random.default_rng(0).standard_normal((1_000_000, 256), dtype=np.float32)  # 1 GB
    ids, y = np.arange(700_000), np.random.default_rng(1).integers(0, 2, 700_000)
    train = SplitData(y, 'single_label_classification', 2, None, X=(lambda: vectors[ids]) if a.before or a.lazy else (vectors, ids))
    base = peak()
    if a.before: X = train.X[np.sort(np.random.default_rng(0).choice(700_000, 100_000, replace=False))]
    else: X = train.sample(100_000, seed=0).X
    print(f"{'before' if a.before else 'lazy' if a.lazy else 'now'}: peak RSS {base:,.0f} MB with the vectors, {peak():,.0f} MB after the "
          f"sample's X {X.shape} {X.dtype}: +{peak() - base:,.0f} MB")


if __name__ == '__main__':
    main()
