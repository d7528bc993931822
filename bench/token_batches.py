"""Token-budget batches against sentence-transformers' own `encode` on the packaged MiniLM, on a corpus of mixed lengths
(short tweets and long earnings-call transcripts), in one run: tokens per second, and the vectors compared.
Writes bench/results/token_batches.md. Usage: python bench/token_batches.py [--tweets 800] [--transcripts 24] [--repeats 3]"""
import argparse, datetime, os, platform, statistics, tempfile, time
from pathlib import Path
import numpy as np


def corpus(n_tweets: int, n_transcripts: int) -> list[str]:
    "Short tweets and long transcripts (several synthetic calls of one company joined), shuffled."
    from finann.data import SyntheticEarningsCallBuilder
    calls = list(dict.fromkeys(SyntheticEarningsCallBuilder(n_tickers=max(2, n_transcripts // 8)).load_frame()['text']))
    long = [' '.join(calls[(i * 5 + k) % len(calls)] for k in range(5)) for i in range(n_transcripts)]
    verbs, names = ['beats', 'misses', 'raises guidance', 'cuts outlook', 'holds'], ['ACME', 'GLOBX', 'INITECH', 'UMBR', 'HOOLI']
    tweets = [f"${names[i % 5]} {verbs[i % 5]} — {'bullish' if i % 3 else 'bearish'} into the print, {i % 97} bps {'up' if i % 2 else 'down'} #earnings"
              + ' more context' * (i % 7) for i in range(n_tweets)]
    texts = tweets + long
    np.random.default_rng(0).shuffle(texts)
    return texts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--tweets', type=int, default=800)
    ap.add_argument('--transcripts', type=int, default=24)
    ap.add_argument('--batch-size', type=int, default=32, help="sentence-transformers' batch size (its default)")
    ap.add_argument('--budgets', type=int, nargs='+', default=[1024, 2048, 8192], help='max_batch_tokens to try')
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--out', default=str(Path(__file__).parent / 'results' / 'token_batches.md'))
    a = ap.parse_args(argv)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    import torch
    from sentence_transformers import SentenceTransformer
    from finann.embedding import SentenceTransformerEmbedding, packaged_minilm_path
    texts = corpus(a.tweets, a.transcripts)
    ref = SentenceTransformer(packaged_minilm_path(), device='cpu')
    cache = tempfile.mkdtemp(prefix='finann-bench-')
    # truncate: both read the same tokens (the first 256 of a transcript), so tokens/s compare like for like and the vectors must agree
    make = lambda budget, long_text='truncate': SentenceTransformerEmbedding(cache_dir=cache, show_progress_bar=False, long_text=long_text, max_batch_tokens=budget, batch_size=a.batch_size)
    fixed = make(None)
    lens = make(None, 'chunk').count_tokens(texts)  # whole texts' tokens
    tokens = int((np.minimum(lens, fixed.window - 2) + 2).sum())  # what either reads: text tokens up to the window, plus [CLS] and [SEP]
    runs = {f'sentence-transformers `encode` (batch_size={a.batch_size})': lambda: ref.encode(texts, batch_size=a.batch_size, normalize_embeddings=True),
            f'finann, {a.batch_size} windows a batch (`max_batch_tokens=None`)': lambda: fixed.encode(texts)}
    runs.update({f'finann, `max_batch_tokens={b}`': (lambda e: lambda: e.encode(texts))(make(b)) for b in a.budgets})
    ref.encode(texts[:64]); fixed.encode(texts[:64])  # load and warm up
    load = os.getloadavg()[0]
    secs = {k: [] for k in runs}
    for r in range(a.repeats):  # all contenders in every round, in alternating order: load from elsewhere hits them all
        for k in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            t = time.perf_counter(); runs[k](); secs[k].append(time.perf_counter() - t)
    want = ref.encode(texts, batch_size=a.batch_size, normalize_embeddings=True)
    worst = {b: float(np.abs(make(b).encode(texts) - want).max()) for b in a.budgets}
    chunk = make(a.budgets[0], 'chunk'); t = time.perf_counter(); chunk.encode(texts); chunk_s = time.perf_counter() - t
    chunk_tokens = int(sum(len(c) for c in chunk._windows(texts)[0]))
    base = statistics.median(secs[next(iter(runs))])
    best_k = max((k for k in runs if 'max_batch_tokens=' in k and '=None' not in k), key=lambda k: base / statistics.median(secs[k]))
    lines = ['| encoder | seconds (median) | tokens/s | × sentence-transformers |', '|---|---:|---:|---:|']
    lines += [f"| {k} | {statistics.median(v):.2f} | {tokens / statistics.median(v):,.0f} | {base / statistics.median(v):.2f}× |" for k, v in secs.items()]
    ratio = base / statistics.median(secs[best_k])
    lines += ['', f"Largest difference from sentence-transformers' vectors: " + ', '.join(f'{worst[b]:.1e} (budget {b})' for b in a.budgets) + '.',
              f"Reading the transcripts whole (`long_text='chunk'`, budget {a.budgets[0]}): {chunk_tokens:,} tokens in {chunk_s:.1f} s, {chunk_tokens / chunk_s:,.0f} tokens/s.",
              '', f"Goal: token-budget batches at least 1.3× sentence-transformers' tokens/s on mixed lengths: {ratio:.2f}× ({best_k.split(', ')[1]}) — {'met' if ratio >= 1.3 else 'NOT met'}"]
    n_long = sum(l > 256 for l in lens)
    head = (f"{len(texts):,} texts: {len(texts) - n_long:,} tweets (median {int(np.median(lens[lens <= 256]))} tokens) and {n_long} transcripts "
            f"(median {int(np.median(lens[lens > 256])):,} tokens, read to MiniLM's 256-token window by both), {tokens:,} tokens in all; packaged all-MiniLM-L6-v2 on CPU; "
            f"median of {a.repeats} rounds, every contender in every round (the machine is shared); {platform.machine()}, {os.cpu_count()} CPU cores, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads); load average {load:.1f} at the start; {datetime.date.today().isoformat()}.")
    text = head + '\n\n' + '\n'.join(lines) + '\n'
    print(text)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text('# Token-budget batches (`bench/token_batches.py`)\n\n' + text)


if __name__ == '__main__':
    main()
