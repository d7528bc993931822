"""Many texts per event: short posts grouped into 5-session windows, embedded by the packaged MiniLM in one run two ways:
finann's (each unique text once, pooled per event) against joining each window's texts into one string (chunked when long).
Writes bench/results/text_stream.md.
Usage: python bench/text_stream.py [--texts 100000] [--window 5] [--batch-size 64] [--joined-sample 0.1]
--joined-sample times the joined side on a random share of the windows and scales its time by windows (its cost is per window);
the finann side and the forward-pass count are always measured in full."""
import argparse, datetime, os, platform, tempfile, time
from pathlib import Path
import numpy as np


def counting(cls):
    "`cls` (a transformer encoder class) that counts the strings it is asked to encode, and the windows its model runs on."
    from pydantic import PrivateAttr
    class Counting(cls):
        _counts: dict = PrivateAttr(default_factory=dict)
        @property
        def counts(self) -> dict: return self._counts
        def reset(self): self._counts.update({'strings': 0, 'windows': 0, 'forward calls': 0})
        def _encode_batches(self, texts):  # every path to the model (encode, embed_unique) goes through here
            self._counts['strings'] = self._counts.get('strings', 0) + len(texts)
            return super()._encode_batches(texts)
        def _forward(self, ids, mask):  # ids: (b, t), one row per window of tokens
            self._counts['windows'] = self._counts.get('windows', 0) + ids.shape[0]
            self._counts['forward calls'] = self._counts.get('forward calls', 0) + 1
            return super()._forward(ids, mask)
    return Counting


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--texts', type=int, default=100_000, help='short texts in the stream (about)')
    ap.add_argument('--window', type=int, default=5, help='sessions of lookback per event')
    ap.add_argument('--n-tickers', type=int, default=4)
    ap.add_argument('--batch-size', type=int, default=64)
    ap.add_argument('--joined-sample', type=float, default=1.0,
                    help='share of the windows the joined side is timed on (seeded); its time is scaled to all windows')
    ap.add_argument('--out', default=str(Path(__file__).parent / 'results' / 'text_stream.md'))
    a = ap.parse_args(argv)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    os.environ['FINANN_CACHE'] = tempfile.mkdtemp(prefix='finann-bench-')  # cold caches: every text is encoded here
    import torch
    from finann.data import SyntheticTextStreamBuilder, trading_sessions
    from finann.embedding import SentenceTransformerEmbedding
    from finann.embedding.pooling import embed_windows

    sessions = len(trading_sessions('2010-01-01', '2010-12-31'))
    b = SyntheticTextStreamBuilder(n_tickers=a.n_tickers, start='2010-01-01', end='2010-12-31', posts_per_session=a.texts / a.n_tickers / sessions,
                                   cutoff='close', lookback_sessions=a.window, horizon=1, val_start='2010-12-01', purge_sessions=0)
    t = time.perf_counter(); events = b.build_datasets(); t_build = time.perf_counter() - t
    n_texts, n_events = b.report['texts']['rows_kept'], sum(ds.num_rows for ds in events.values())
    occurrences = sum(sum(ds['n_texts']) for ds in events.values())
    load = os.getloadavg()[0]
    Enc = counting(SentenceTransformerEmbedding)

    ours = Enc(batch_size=a.batch_size, cache_dir=tempfile.mkdtemp(), show_progress_bar=False)
    ours.encode(['warm up']); ours.reset()
    t = time.perf_counter(); pooled, rows = embed_windows(ours, events); t_ours = time.perf_counter() - t
    unique, sent = ours.last_stats['unique'], ours.counts['windows']
    assert sent == unique == ours.counts['strings'], f"the model ran on {sent} windows for {unique} unique texts ({ours.counts})"

    joined = [' '.join(x) for ds in events.values() for x in ds['texts']]  # the window's texts as one string: what finann never does
    n_joined = len(joined)
    if a.joined_sample < 1:  # its cost is per window: time a seeded random share and scale by the number of windows
        keep = np.sort(np.random.default_rng(0).choice(n_joined, max(1, round(a.joined_sample * n_joined)), replace=False))
        joined = [joined[i] for i in keep]
    scale = n_joined / len(joined)
    theirs = Enc(batch_size=a.batch_size, cache_dir=tempfile.mkdtemp(), show_progress_bar=False)
    theirs.encode(['warm up']); theirs.reset()
    t = time.perf_counter(); theirs(joined); t_join = scale * (time.perf_counter() - t)  # longer strings are cut into windows and averaged
    load_end = os.getloadavg()[0]

    today = datetime.date.today()
    sampled = '' if scale == 1 else f" (measured on {len(joined):,} of {n_joined:,} windows, scaled ×{scale:.2f})"
    counted = (lambda n: f'{n:,}') if scale == 1 else (lambda n: f'{n:,} (~{round(n * scale):,} scaled)')
    lines = [f"# Many texts per event: {a.window}-session windows of short posts, packaged MiniLM", '',
             f"Measured {today} on {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
             f"1-minute load {load:.1f} at the start, {load_end:.1f} at the end. `python bench/text_stream.py --texts {a.texts}"
             + (f" --joined-sample {a.joined_sample:g}" if a.joined_sample < 1 else '') + "`.", '',
             f"Goal: the model runs once per unique text (not texts × windows): **{sent:,} windows through the model for {unique:,} unique texts**; "
             f"{t_join / t_ours:.1f}× faster than joining each window's texts into one string"
             + (" (that side timed on a sample of the windows and scaled)." if scale != 1 else '.'), '',
             f"The stream: {n_texts:,} synthetic posts (`SyntheticTextStreamBuilder`, {a.n_tickers} tickers, 2010), built into {n_events:,} events "
             f"(one per ticker and session, {a.window} sessions of lookback) in {t_build:.1f} s; the windows hold {occurrences:,} texts in all.", '',
             f'| method | strings encoded | windows through the model (≤{ours.window} tokens) | forward calls | wall s | events/s |',
             '|---|---:|---:|---:|---:|---:|',
             f"| finann: each unique text once, mean-pooled per event | {ours.counts['strings']:,} | {sent:,} | {ours.counts['forward calls']:,} | {t_ours:.1f} | {n_events / t_ours:,.1f} |",
             f"| joined: one string per window, chunked and averaged{sampled} | {counted(theirs.counts['strings'])} | {counted(theirs.counts['windows'])} | "
             f"{counted(theirs.counts['forward calls'])} | {t_join:.1f} | {n_events / t_join:,.1f} |"]
    if scale != 1:
        lines += ['', f"The joined side was measured on a seeded random {len(joined):,} of the {n_joined:,} windows and its time scaled by "
                      f"{n_joined:,}/{len(joined):,} (its cost is per window); the finann side and its forward-pass count are measured in full."]
    if a.texts < 100_000:
        lines += ['', f"Measured at {a.texts:,} texts rather than 100,000: on 2 CPU cores shared with other work the joined run alone would take "
                      "tens of minutes. `python bench/text_stream.py` runs the full size."]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text('\n'.join(lines) + '\n')
    print("\n".join(lines))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
