"""Write the docs' Benchmarks page (nbs/bench.ipynb) from the tables the benchmarks left in bench/results/*.md.

bench/run_all.sh runs it last, so the page always shows the latest measured figures, with the machine, versions and date.
Usage: python bench/make_page.py [--out nbs/bench.ipynb]"""
import argparse, datetime, os, platform, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT/'bench'/'results'
# the order of the sections, and a sentence on what each measures and why
SECTIONS = {
    'train_loop': "finann's training (the registered Trainer, as `finann-train` configures it) against a plain PyTorch loop with a fused AdamW, "
                  "over the same cached features, model and batch size. A gap here is per-step overhead the Trainer adds.\n\n"
                  "finann's Trainer subclasses use documented extension points only (`compute_loss`, `log`, the sampler hook and callbacks), "
                  "so the step is HF's own. Where the remaining time goes, against a ~12 ms plain step (2 threads, timers inside the real loop): "
                  "clipping at HF's default `max_grad_norm: 1.0`, norm plus scaling pass, ~0.6 ms (the plain loop clips nothing); HF's and "
                  "accelerate's bookkeeping around clipping (NaN/inf filter, loss sum, the clip wrapper), ~0.4 ms; the optimizer step through "
                  "accelerate's wrapper (which looks for an optional `lomo_optim` package on `sys.path` twice a step, 0.07-0.09 ms), +0.3-0.4 ms; "
                  "the batch through the DataLoader and accelerate's wrapper, +0.3 ms; scheduler, `zero_grad` and callbacks, +0.1 ms. Forward and "
                  "backward match the plain loop. Batches index preloaded tensors, and subnormal floats are flushed to zero on CPU by a callback "
                  "during training. Closing the rest would need private Trainer methods, which finann does not override.",
    'train_loop_cuda': "The same comparison on a GPU, and the share of the card's peak matmul rate the MLP reaches.",
    'default_job': "`finann-train configs/default.yml` after install, phase by phase, with a cold and a warm embedding cache.",
    'explain_sheet': "The explanation sheet (`explain.md`, `finann.evaluate.explain`) of the default run, as the run writes it at its end: "
                     "examples, the words probe, the identity probe, calibration, the move around the event, fit health.",
    'growth': "How time and memory grow with the number of events (one epoch, HashingEmbedding).",
    'data_scale': "Building and training on 10k to 1M events: the data is written once as memory-mapped Arrow and read back.",
    'embedding': "finann's encoders against sentence-transformers' own `encode`, and what the cache saves.",
    'token_batches': "Local encoders pack each forward pass to a token budget (`max_batch_tokens`) instead of a fixed number of texts: "
                     "on a corpus of short tweets and long transcripts, against sentence-transformers' own `encode`, all in one run.",
    'onnx_cpu': "The packaged MiniLM through ONNX Runtime on CPU (`embedding.config.backend: onnx`, optionally `onnx_quantize: int8`) against "
                "sentence-transformers' torch `encode` and finann's torch path, interleaved in one run on real StockNet tweets and long texts: "
                "speed, and how close each vector is to torch's. The default stays `backend: torch` (exact vectors, GPUs, existing caches); "
                "`onnx_quantize: int8` is the choice for embedding a large corpus cold on CPU.",
    'gpu_check': "`bash bench/gpu_check.sh` runs every GPU path once on a CUDA machine in under 8 minutes and writes the `*_cuda` tables "
                 "below (bf16 MLP training against a plain loop, the HF encoder in bf16, a LoRA epoch with gradient checkpointing, the default job).",
    'train_bf16_cuda': "MLP training on a GPU in fp32 and bf16, finann's Trainer against a plain loop, and the share of the card's peak matmul rate.",
    'encoder_cuda': "The HF encoder in bf16 on a GPU against sentence-transformers' `encode`.",
    'lora_cuda': "One LoRA epoch with gradient checkpointing and bf16 on a GPU.",
    'default_job_cuda': "The default job on a GPU against the same job on the CPU of the same machine.",
    'onnx_options': "onnxruntime's int8 options for the packaged MiniLM on this CPU, each against sentence-transformers' torch `encode` "
                    "in the same process: the export (SDPA attention, or eager attention that onnxruntime's BERT optimizer fuses), "
                    "per-channel or per-tensor weights, `reduce_range`, the ops quantized, the graph optimisation level and intra-op threads.",
    'embedding_api': "`OpenAIEmbedding` against a real HTTP server on 127.0.0.1 that takes 200 ms per request: requests in flight against one "
                     "at a time, and the most tokens the server saw in any 60 s under a tokens-per-minute limit.",
    'text_stream': "Many short texts per event (`TextStreamBuilder`): each unique text through the model once and pooled per event, against "
                   "joining each window's texts into one string (chunked when longer than the model's window), in one run with the packaged MiniLM.",
    'stocknet': "The StockNet protocol (`configs/stocknet.yml`) on the real clone of 106,338 tweets, run once cold by `finann-train`, "
                "phase by phase from the run's progress log: where the time of a real-data run goes.",
    'study_profile': "A walk-forward × seeds study on the real tweet benchmark, phase by phase in one process: what a study costs "
                     "beyond its units' training. Data and vectors run once per study, baselines once per fold (they do not depend on "
                     "the seed), training and prediction once per unit.",
    'lora': "What fine-tuning the encoder buys: the packaged MiniLM frozen (vectors cached, then the MLP) against the same MiniLM with LoRA "
            "adapters trained with the same MLP head (`configs/lora_minilm.yml`), on the same synthetic calls, seed, windows and schedule.",
    'calibration': "Whether the verdict against the best baseline is honest: with no signal in the text, a test at the 5% level must say "
                   "\"not distinguishable\" in about 95% of walk-forward folds and seeds.",
}


def md_cell(text:str) -> dict: return {'cell_type': 'markdown', 'metadata': {}, 'source': text.strip('\n')}


def versions() -> str:
    from importlib.metadata import version, PackageNotFoundError
    out = []
    for p in ('torch', 'transformers', 'accelerate', 'datasets', 'scikit-learn'):
        try: out.append(f'{p} {version(p)}')
        except PackageNotFoundError: pass
    return ', '.join(out + [f'CPython {platform.python_version()}'])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=str(ROOT/'nbs'/'bench.ipynb'))
    a = ap.parse_args(argv)
    files = {p.stem: p.read_text() for p in sorted(RESULTS.glob('*.md'))}
    order = [k for k in SECTIONS if k in files] + sorted(k for k in files if k not in SECTIONS)
    if not order: raise SystemExit(f"no results in {RESULTS}: run bash bench/run_all.sh first")
    ram = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30
    cells = [md_cell('# Benchmarks\n\n> How fast finann trains next to a plain PyTorch loop, how long the default job takes, and how time and memory grow with the data.'),
             md_cell("The scripts in `bench/` measure; each writes its table to `bench/results/<name>.md`, and `bash bench/run_all.sh` runs them all, "
                     "prints each figure beside its goal and rewrites this page (`bench/make_page.py`). Timings mean something only on a quiet machine: "
                     "run them when `uptime` shows a 1-minute load well below the number of cores.\n\n"
                     f"| | |\n|---|---|\n| machine | {platform.machine()}, {os.cpu_count()} CPU cores, {ram:.0f} GiB RAM |\n"
                     f"| versions | {versions()} |\n| page written | {datetime.date.today()} (each table gives the date it was measured) |")]
    goals = []
    for k in order:
        for line in files[k].splitlines():
            if line.startswith('Goal'): goals.append(f"| `bench/{k}` | {line.split(':', 1)[1].strip()} |")
            elif re.search(r'NOT RUN', line): goals.append(f"| `bench/{k}` | {line.split(':', 1)[-1].strip()} |")
    if goals: cells.append(md_cell('## Goals\n\n| benchmark | goal and result |\n|---|---|\n' + '\n'.join(goals)))
    for k in order:
        body = files[k].strip().splitlines()
        title = body[0].lstrip('# ').strip() if body and body[0].startswith('#') else k
        rest = '\n'.join(('#' + l if l.startswith('#') else l) for l in body[1:])  # the file's own headings one level down
        cells.append(md_cell(f"## {title}\n\n{SECTIONS.get(k, '')}\n\n{rest.strip()}"))
    import json
    nb = {'cells': cells, 'metadata': {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}}, 'nbformat': 4, 'nbformat_minor': 5}
    for i, c in enumerate(nb['cells']): c['id'] = f'bench{i:03d}'
    Path(a.out).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    print(f"wrote {a.out}: {len(order)} benchmarks, {len(goals)} goals")
    return 0


if __name__ == '__main__':
    sys.exit(main())
