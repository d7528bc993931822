"""onnxruntime's int8 options for the packaged MiniLM on this CPU, against sentence-transformers' torch `encode` in the same
process, the contenders interleaved block by block on the texts of bench/onnx_cpu.py: the export (finann's, attention as
SDPA, or 'eager' attention, which onnxruntime's transformer optimizer fuses into Attention/SkipLayerNorm/BiasGelu nodes),
the quantization (per channel or per tensor, reduce_range, which ops), and the session (graph optimisation level, threads).
Writes bench/results/onnx_options.md. Usage: python bench/onnx_options.py [--tweets 200] [--transcripts 4] [--repeats 2]"""
import argparse, datetime, os, platform, subprocess, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from onnx_cpu import ROOT, cosines, stocknet_tweets, time_interleaved, transcripts  # the same texts and measure as bench/onnx_cpu.py


def export_eager(enc, out: Path) -> Path:
    "The encoder exported with eager attention, then fused by onnxruntime's BERT optimizer (`<out>_fused.onnx`)."
    import torch
    from onnxruntime.transformers.optimizer import optimize_model
    hf = enc._model[0].auto_model
    was = hf.config._attn_implementation
    hf.set_attn_implementation('eager')  # SDPA's exported graph is not matched by the optimizer's attention fusion
    class Forward(torch.nn.Module):
        def __init__(self): super().__init__(); self.model = enc._model
        def forward(self, ids, mask): return enc._forward(ids, mask)
    a, b = enc._windows(['finann traces the encoder once, on two texts of different lengths', 'short'])[0]
    ids = torch.full((2, len(a)), enc._pad[0]); ids[0], ids[1, :len(b)] = torch.tensor(a), torch.tensor(b)
    mask = (torch.arange(len(a)) < torch.tensor([[len(a)], [len(b)]])).long()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')
        torch.onnx.export(Forward().eval(), (ids, mask), out, input_names=['input_ids', 'attention_mask'], output_names=['embedding'],
                          opset_version=17, dynamo=False,
                          dynamic_axes={'input_ids': {0: 'b', 1: 't'}, 'attention_mask': {0: 'b', 1: 't'}, 'embedding': {0: 'b'}})
    hf.set_attn_implementation(was)
    cfg = hf.config
    m = optimize_model(str(out), model_type='bert', num_heads=cfg.num_attention_heads, hidden_size=cfg.hidden_size)
    fused = out.with_name(out.stem + '_fused.onnx'); m.save_model_to_file(str(fused))
    return fused, {k: v for k, v in m.get_fused_operator_statistics().items() if v}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--tweets', type=int, default=200)
    ap.add_argument('--transcripts', type=int, default=4)
    ap.add_argument('--block', type=int, default=0, help='texts per turn (0: all of them in one call)')
    ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--data', default=str(next((d for d in (ROOT.parent/'shared'/'data', ROOT.parents[1]/'shared'/'data') if d.is_dir()),
                                               ROOT.parent/'shared'/'data')))
    ap.add_argument('--out', default=str(ROOT/'bench'/'results'/'onnx_options.md'))
    a = ap.parse_args(argv)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    os.environ.setdefault('FINANN_CACHE', tempfile.mkdtemp(prefix='finann-bench-'))
    import onnx, torch, onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer
    from finann.embedding import SentenceTransformerEmbedding, packaged_minilm_path
    from finann.embedding.encoders import onnx_model_path
    tweets, longs = stocknet_tweets(a.tweets, Path(a.data)), transcripts(a.transcripts)
    texts = tweets + longs
    np.random.default_rng(0).shuffle(texts)
    ref = SentenceTransformer(packaged_minilm_path(), device='cpu')
    enc = SentenceTransformerEmbedding(cache_dir=tempfile.mkdtemp(prefix='finann-bench-'), show_progress_bar=False,
                                       long_text='truncate', backend='onnx')
    tmp = Path(tempfile.mkdtemp(prefix='finann-onnx-options-'))
    sdpa = onnx_model_path(enc)
    fused, fusions = export_eager(enc, tmp/'eager.onnx')
    def q(src, name, **kw):
        dst = tmp/f'{name}.onnx'  # the fused nodes (com.microsoft) have no shape inference: their outputs are float
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8, extra_options={'DefaultTensorType': onnx.TensorProto.FLOAT}, **kw)
        return dst
    models = {'sdpa int8 per-channel': q(sdpa, 'sdpa_pc', per_channel=True),
              'fused int8 per-channel': q(fused, 'fused_pc', per_channel=True),
              'fused int8 per-tensor': q(fused, 'fused_pt', per_channel=False),
              'fused int8 per-channel, reduce_range': q(fused, 'fused_pc_rr', per_channel=True, reduce_range=True),
              'fused int8 per-channel, MatMul only': q(fused, 'fused_pc_mm', per_channel=True, op_types_to_quantize=['MatMul'])}
    def sess(path, level=ort.GraphOptimizationLevel.ORT_ENABLE_ALL, threads=0):
        o = ort.SessionOptions(); o.graph_optimization_level = level; o.intra_op_num_threads = threads
        return ort.InferenceSession(str(path), o, providers=['CPUExecutionProvider'])
    sessions = {'sdpa int8 per-channel (finann until 2026-12-06), all graph optimisations': sess(models['sdpa int8 per-channel'])}
    for k in models: sessions[f'{k}, 1 intra-op thread'] = sess(models[k], threads=1)
    sessions['fused int8 per-channel, 2 intra-op threads (finann now)'] = sess(models['fused int8 per-channel'])
    sessions['fused int8 per-channel, 1 intra-op thread, basic graph optimisations'] = sess(
        models['fused int8 per-channel'], ort.GraphOptimizationLevel.ORT_ENABLE_BASIC, threads=1)
    def onnx_run(s):
        def f(x): enc._ort = s; return enc.encode(x)
        return f
    runs = {'sentence-transformers `encode`, torch (reference)': lambda x: ref.encode(x, batch_size=32, normalize_embeddings=True)}
    def torch1(x):  # torch on one thread: on a loaded machine fewer threads can be faster
        n = torch.get_num_threads(); torch.set_num_threads(1)
        try: return ref.encode(x, batch_size=32, normalize_embeddings=True)
        finally: torch.set_num_threads(n)
    runs['sentence-transformers `encode`, torch, 1 thread'] = torch1
    runs.update({k: onnx_run(s) for k, s in sessions.items()})
    lens = SentenceTransformerEmbedding(show_progress_bar=False, long_text='chunk').count_tokens(texts)
    tok = np.minimum(lens, enc.window - 2) + 2
    for f in runs.values(): f(texts[:32])
    a.block = a.block or len(texts)
    up0, up1, best, vecs = time_interleaved(runs, texts, a.block, a.repeats)
    base = next(iter(runs)); secs = {k: sum(v) for k, v in best.items()}
    lines = ['| contender | seconds | tokens/s | × torch `encode` | cosine to torch: min | median | size MiB |',
             '|---|---:|---:|---:|---:|---:|---:|']
    for k, s in secs.items():
        c = cosines(vecs[k], vecs[base])
        m = next((p for n, p in models.items() if k.startswith(n + ',') or k.startswith(n + ' (')), None)
        size = f'{m.stat().st_size / 2**20:.0f}' if m else ''
        lines.append(f"| {k} | {s:.1f} | {tok.sum() / s:,.0f} | {secs[base] / s:.2f}× | {c.min():.4f} | {np.median(c):.4f} | {size} |")
    flags = ' '.join(f for f in ('avx2', 'avx512f', 'avx512_vnni', 'avx_vnni', 'amx_int8') if f' {f}' in Path('/proc/cpuinfo').read_text())
    head = (f"{len(texts):,} texts ({len(tweets)} real StockNet tweets, {len(longs)} transcript-like texts read to 256 tokens), "
            f"{int(tok.sum()):,} tokens; blocks of {a.block} texts, every contender in turn, order alternating, fastest of {a.repeats} "
            f"turns per block. {platform.machine()}, {os.cpu_count()} CPU cores, CPU flags: {flags}; torch "
            f"{torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {ort.__version__}; {datetime.date.today().isoformat()}.\n\n"
            f"Fusions found by onnxruntime's BERT optimizer in the eager export: {fusions} (none of Attention in the SDPA export).\n\n"
            f"`uptime` before: `{up0}`; after: `{up1}`.")
    text = head + '\n\n' + '\n'.join(lines) + '\n'
    print(text)
    Path(a.out).write_text('# onnxruntime int8 options on CPU (`bench/onnx_options.py`)\n\n' + text)


if __name__ == '__main__':
    main()
