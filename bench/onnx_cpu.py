"""ONNX Runtime on CPU against torch for the packaged MiniLM: sentence-transformers' own torch `encode`, finann's torch path,
finann's ONNX fp32 and int8 backends, interleaved in one run on the same mixed-length texts (real StockNet tweets and long
transcript-like texts): texts/s, tokens/s, and each vector's cosine to torch's. Writes bench/results/onnx_cpu.md.
Usage: python bench/onnx_cpu.py [--tweets 600] [--transcripts 12] [--repeats 2]"""
import argparse, datetime, json, os, platform, subprocess, tempfile, time
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def stocknet_tweets(n: int, data: Path) -> list[str]:
    "`n` unique tweets spread over every ticker and day of StockNet's preprocessed tweets (tokens joined by spaces)."
    files = sorted((data/'stocknet'/'tweet'/'preprocessed').glob('*/*'))
    if not files: raise SystemExit(f"bench/onnx_cpu.py: no StockNet tweets under {data/'stocknet'/'tweet'/'preprocessed'}")
    out = {}
    for f in files[::max(1, len(files) // (2 * n))]:
        for line in f.read_text().splitlines()[:3]:
            out.setdefault(' '.join(json.loads(line)['text']), None)
    return list(out)[:n]


def transcripts(n: int) -> list[str]:
    "Long transcript-like texts: five synthetic earnings calls of one company joined (as bench/token_batches.py)."
    from finann.data import SyntheticEarningsCallBuilder
    calls = list(dict.fromkeys(SyntheticEarningsCallBuilder(n_tickers=max(2, n // 8)).load_frame()['text']))
    return [' '.join(calls[(i * 5 + k) % len(calls)] for k in range(5)) for i in range(n)]


def cosines(v: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return (v * ref).sum(1) / np.linalg.norm(v, axis=1) / np.linalg.norm(ref, axis=1)


def time_interleaved(runs: dict, texts: list, block: int, repeats: int, dim: int = 384):
    """Time each contender in `runs` (name -> function of a list of texts, returning vectors) block by block, every
    contender in turn and the order alternating, so load from elsewhere hits all alike; the best of `repeats` per block.
    Returns (uptime before, uptime after, {name: best seconds per block}, {name: vectors})."""
    up0 = subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()
    blocks = [np.arange(s, min(s + block, len(texts))) for s in range(0, len(texts), block)]
    best = {k: [float('inf')] * len(blocks) for k in runs}
    vecs = {k: np.zeros((len(texts), dim), np.float32) for k in runs}
    for r in range(repeats):
        for b, idx in enumerate(blocks):
            for k in (list(runs) if (r + b) % 2 == 0 else list(runs)[::-1]):
                chunk = [texts[i] for i in idx]
                t = time.perf_counter(); v = runs[k](chunk); best[k][b] = min(best[k][b], time.perf_counter() - t)
                vecs[k][idx] = v
    up1 = subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()
    return up0, up1, best, vecs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--tweets', type=int, default=600)
    ap.add_argument('--transcripts', type=int, default=12)
    ap.add_argument('--block', type=int, default=0, help='texts per turn (0: all of them): the contenders take turns block by block; '
                    'small blocks cost sentence-transformers padding its own whole-corpus sort would avoid')
    ap.add_argument('--repeats', type=int, default=2, help='turns per block; each contender keeps its fastest')
    ap.add_argument('--data', default=str(next((d for d in (ROOT.parent/'shared'/'data', ROOT.parents[1]/'shared'/'data') if d.is_dir()),
                                               ROOT.parent/'shared'/'data')), help="../shared/data from the checkout (a worktree's: ../../shared/data)")
    ap.add_argument('--out', default=str(ROOT/'bench'/'results'/'onnx_cpu.md'))
    a = ap.parse_args(argv)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    os.environ.setdefault('FINANN_CACHE', tempfile.mkdtemp(prefix='finann-bench-'))  # the ONNX exports land here
    import torch, onnxruntime
    from sentence_transformers import SentenceTransformer
    from finann.embedding import SentenceTransformerEmbedding, packaged_minilm_path
    from finann.embedding.encoders import onnx_model_path
    tweets, longs = stocknet_tweets(a.tweets, Path(a.data)), transcripts(a.transcripts)
    texts = tweets + longs
    np.random.default_rng(0).shuffle(texts)
    is_long = np.array([t in set(longs) for t in texts])
    ref = SentenceTransformer(packaged_minilm_path(), device='cpu')
    cache = tempfile.mkdtemp(prefix='finann-bench-')
    # truncate: every contender reads the same tokens (a transcript's first 256), so tokens/s compare like for like
    make = lambda **kw: SentenceTransformerEmbedding(**{'cache_dir': cache, 'show_progress_bar': False, 'long_text': 'truncate', **kw})
    fin, fp32, int8 = make(), make(backend='onnx'), make(backend='onnx', onnx_quantize='int8')
    t0 = time.perf_counter(); onnx_model_path(fp32); export_s = time.perf_counter() - t0
    t0 = time.perf_counter(); onnx_model_path(int8); quant_s = time.perf_counter() - t0
    sizes = {k: onnx_model_path(e).stat().st_size / 2**20 for k, e in (('fp32', fp32), ('int8', int8))}
    lens = make(long_text='chunk').count_tokens(texts)
    tok = np.minimum(lens, fin.window - 2) + 2  # what each reads: text tokens up to the window, plus [CLS] and [SEP]
    runs = {"sentence-transformers `encode`, torch (reference)": lambda x: ref.encode(x, batch_size=32, normalize_embeddings=True),
            "finann, torch": fin.encode, "finann, ONNX fp32 (`backend: onnx`)": fp32.encode,
            "finann, ONNX int8 (`onnx_quantize: int8`)": int8.encode}
    for f in runs.values(): f(texts[:32])  # load and warm up
    a.block = a.block or len(texts)
    up0, up1, best, vecs = time_interleaved(runs, texts, a.block, a.repeats)
    base_k = next(iter(runs)); secs = {k: sum(v) for k, v in best.items()}
    want = vecs[base_k]
    lines = ['| encoder | seconds | texts/s | tokens/s | × torch `encode` | cosine to torch: min | median | tweets min | transcripts min |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|']
    stats = {}
    for k, s in secs.items():
        c = cosines(vecs[k], want)
        stats[k] = (secs[base_k] / s, float(np.median(c)), float(np.abs(vecs[k] - want).max()))
        lines.append(f"| {k} | {s:.1f} | {len(texts) / s:,.0f} | {tok.sum() / s:,.0f} | {secs[base_k] / s:.2f}× | {c.min():.4f} | "
                     f"{np.median(c):.4f} | {c[~is_long].min():.4f} | {c[is_long].min():.4f} |")
    k8, k32 = list(runs)[3], list(runs)[2]
    lines += ['', f"Largest difference from torch's vectors: ONNX fp32 {stats[k32][2]:.1e}, ONNX int8 {stats[k8][2]:.1e}, finann torch {stats[list(runs)[1]][2]:.1e}.",
              f"Export, once per model into the cache folder: fp32 {export_s:.1f} s ({sizes['fp32']:.0f} MiB), int8 quantization {quant_s:.1f} s ({sizes['int8']:.0f} MiB).",
              '', f"Goal: int8 at least 3× torch `encode`'s tokens/s at a median cosine ≥ 0.99: {stats[k8][0]:.2f}× at {stats[k8][1]:.4f} — "
              f"{'met' if stats[k8][0] >= 3 and stats[k8][1] >= 0.99 else 'NOT met'}",
              f"Goal: ONNX fp32 within 1e-4 of torch: {stats[k32][2]:.1e} — {'met' if stats[k32][2] <= 1e-4 else 'NOT met'}"]
    head = (f"{len(texts):,} texts: {len(tweets):,} real StockNet tweets (median {int(np.median(lens[~is_long]))} tokens) and {len(longs)} "
            f"transcript-like texts (median {int(np.median(lens[is_long])):,} tokens, read to MiniLM's 256-token window by all), {int(tok.sum()):,} tokens; "
            f"packaged all-MiniLM-L6-v2 on CPU; " + (f"each contender encodes all the texts in one call, {a.repeats} times, in turns, order alternating; the fastest counts"
            if a.block >= len(texts) else f"the contenders take turns on blocks of {a.block} texts, order alternating, fastest of {a.repeats} turns per block") +
            f"; {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__}; {datetime.date.today().isoformat()}.\n\n"
            f"`uptime` before: `{up0}`; after: `{up1}`.")
    text = head + '\n\n' + '\n'.join(lines) + '\n'
    print(text)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text('# ONNX Runtime encoders on CPU (`bench/onnx_cpu.py`)\n\n' + text)


if __name__ == '__main__':
    main()
