"""Embedding throughput on synthetic earnings calls: finann's MiniLM encoders against sentence-transformers'
own `encode` at the same batch size, cold against warm cache, and the hashing baseline. Writes
bench/results/embedding.md. Usage: python bench/embedding.py [--n-tickers 12] [--batch-size 32] [--repeats 3]"""
import argparse, datetime, os, platform, tempfile, time
from pathlib import Path
import numpy as np


def best_of(fn, repeats: int) -> float:
    "The fastest of `repeats` timed calls, in seconds (the least disturbed by the rest of the machine)."
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n-tickers', type=int, default=12, help='synthetic tickers; 40 calls each')
    ap.add_argument('--batch-size', type=int, default=32)
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--short-texts', type=int, default=100_000, help='short texts for the HashingEmbedding cache-build figure')
    ap.add_argument('--out', default=str(Path(__file__).parent / 'results' / 'embedding.md'))
    a = ap.parse_args(argv)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    import torch
    from sentence_transformers import SentenceTransformer
    from finann.data import SyntheticEarningsCallBuilder
    from finann.embedding import HashingEmbedding, HFEmbedding, SentenceTransformerEmbedding, packaged_minilm_path

    texts = list(dict.fromkeys(SyntheticEarningsCallBuilder(n_tickers=a.n_tickers).load_frame()['text']))
    n, bs, cache = len(texts), a.batch_size, tempfile.mkdtemp(prefix='finann-bench-')
    ref = SentenceTransformer(packaged_minilm_path(), device='cpu')
    hf = HFEmbedding(batch_size=bs, cache_dir=cache, show_progress_bar=False)
    st = SentenceTransformerEmbedding(batch_size=bs, cache_dir=cache, show_progress_bar=False)
    for m in (lambda x: ref.encode(x, batch_size=bs), hf.encode, st.encode): m(texts[:bs])  # load and warm up
    load = os.getloadavg()[0]
    runs = {
        'sentence-transformers `encode` (reference)': lambda x: ref.encode(x, batch_size=bs, normalize_embeddings=True),
        'finann `HFEmbedding` (mean pooling)': hf.encode,
        'finann `SentenceTransformerEmbedding`': st.encode,
    }
    # the contenders take turns on blocks of 4 batches, and each keeps its fastest time per block: a burst of load
    # from elsewhere on the machine slows one turn, not one contender
    blocks = [texts[s:s + 4 * bs] for s in range(0, n, 4 * bs)]
    best = {k: [float('inf')] * len(blocks) for k in runs}
    for r in range(a.repeats):
        for b, block in enumerate(blocks):
            for k in (list(runs) if (r + b) % 2 == 0 else list(runs)[::-1]):
                best[k][b] = min(best[k][b], best_of(lambda: runs[k](block), 1))
    secs = {k: sum(v) for k, v in best.items()}
    np.testing.assert_allclose(hf.encode(texts[:64]), ref.encode(texts[:64], normalize_embeddings=True), atol=1e-5)

    forward = {}  # texts sent through the encoder: cold, then warm
    def cold_warm(name, make):
        emb = make(tempfile.mkdtemp(prefix='finann-bench-'))
        cold = best_of(lambda: emb.embed_unique(texts), 1)
        again = make(emb.cache_dir)  # a new encoder: nothing in memory
        warm = best_of(lambda: again.embed_unique(texts), a.repeats)
        forward[name] = (emb.last_stats['encoded'], again.last_stats['encoded'])
        assert forward[name] == (n, 0), forward[name]
        return cold, warm
    hf_cold, hf_warm = cold_warm('HFEmbedding (MiniLM)', lambda d: HFEmbedding(batch_size=bs, cache_dir=d, show_progress_bar=False))
    hash_enc = HashingEmbedding(cache_dir=cache, show_progress_bar=False)
    hash_secs = best_of(lambda: hash_enc.encode(texts), a.repeats + 2)
    hash_cold, hash_warm = cold_warm('HashingEmbedding', lambda d: HashingEmbedding(cache_dir=d, show_progress_bar=False))
    # building the cache for 100k short, unique texts with HashingEmbedding (encode + append-only shard writes)
    short = [f"{texts[i % n].split('. ')[0]} (call {i})" for i in range(a.short_texts)]
    big = HashingEmbedding(cache_dir=tempfile.mkdtemp(prefix='finann-bench-'), show_progress_bar=False)
    t0 = time.perf_counter(); big.embed_unique(short); short_secs = time.perf_counter() - t0

    base = secs['sentence-transformers `encode` (reference)']
    rows = [(k, n / s, base / s) for k, s in secs.items()]
    rows.append(('finann `HashingEmbedding` (1024 features)', n / hash_secs, base / hash_secs))
    lines = ['| encoder (no cache) | texts/s | × sentence-transformers |', '|---|---:|---:|']
    lines += [f'| {k} | {tps:,.0f} | {r:.2f}× |' for k, tps, r in rows]
    lines += ['', '| `embed_unique` through the cache | cold (encode + write) | warm (read) | speed-up |', '|---|---:|---:|---:|']
    lines += [f'| {k} | {c:.2f} s | {w * 1000:.0f} ms | {c / w:,.0f}× |' for k, c, w in
              [('HFEmbedding (MiniLM)', hf_cold, hf_warm), ('HashingEmbedding', hash_cold, hash_warm)]]
    lines += ['', '| forward passes (texts encoded) | cold run | warm run |', '|---|---:|---:|']
    lines += [f'| {k} | {c:,} | {w:,} |' for k, (c, w) in forward.items()]
    lines += ['', f'Building the cache for {len(short):,} short unique texts with `HashingEmbedding`: {short_secs:.1f} s, '
              f'**{len(short) / short_secs:,.0f} texts/s** (encode and write shards).']
    cpu = platform.processor() or platform.machine()
    tokens = int(np.mean([len(t) for t in texts]))
    head = (f"{n:,} synthetic earnings calls (about {tokens} characters, ~{tokens // 4.5:.0f} tokens each), batch size {bs}, "
            f"fastest of {a.repeats} turns per block of {4 * bs}; {cpu}, {os.cpu_count()} CPU cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), {platform.python_implementation()} {platform.python_version()}; "
            f"load average {load:.1f} at the start; {datetime.date.today().isoformat()}.")
    text = head + '\n\n' + '\n'.join(lines) + '\n'
    print(text)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text('# Embedding benchmark (`bench/embedding.py`)\n\n' + text)


if __name__ == '__main__':
    main()
