"""Training throughput: finann's Trainer path against a plain PyTorch loop, same model, data, batch size and steps.

finann's side is built as `finann-train` builds it: a `TrainTask` from `configs/default.yml` and its `training_arguments()`
(HF's default clipping, max_grad_norm 1.0), the registered collator, model and Trainer classes, the split preloaded by the
collator (`col.preload(ds)`), and the task's callbacks (stop on signal, the progress log); only evaluation and checkpoints
are off: they are timed in bench/default_job.py. The plain loop indexes preloaded tensors and
steps `torch.optim.AdamW` (fused, or foreach where faster on this device). Both skip the first `--warmup` steps.
Writes bench/results/train_loop.md.

Usage: python bench/train_loop.py [--events 50000] [--steps 400] [--repeats 5] [--device cpu|cuda] [--profile]"""
import argparse, datetime, os, platform, statistics, sys, tempfile, time
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODEL = dict(hidden_size=384, intermediate_size=768, num_mlp_layers=1, num_labels=2)  # 384→768→768→384→2


def make_events(n:int, dim:int, seed:int=0):
    "`n` random events (each its own text) as the `datasets.Dataset` TrainTask builds, and their (n, dim) vectors."
    from datasets import Dataset
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    w = rng.standard_normal(dim).astype(np.float32)
    move = 0.02 * np.tanh(vectors @ w / np.sqrt(dim)) + 0.01 * rng.standard_normal(n)  # learnable, but not exactly
    ds = Dataset.from_dict({'text_id': np.arange(n, dtype=np.int64), 'd+1_open': np.full(n, 100.0), 'd+3_close': 100.0 * (1 + move)})
    return ds, vectors


class StepTimer:
    "Wall time from the end of step `warmup` to the end of the last step (synchronising CUDA at both ends)."
    def __init__(self, warmup:int, device:str): self.warmup, self.device, self.t0, self.t1, self.steps = warmup, device, None, None, 0
    def step(self, global_step:int):
        if global_step < self.warmup: return
        if self.device == 'cuda':
            import torch; torch.cuda.synchronize()
        now, cpu = time.perf_counter(), time.process_time()
        if global_step == self.warmup: self.t0, self.c0 = now, cpu
        else: self.t1, self.c1, self.steps = now, cpu, global_step - self.warmup


def finann_task(bs:int, device:str, out:str):
    "A TrainTask for the default job with the benchmark's batch size (wandb and the console bar off)."
    from finann.config import load_config
    from finann.task import setup_task
    opts = [f'trainer.per_device_train_batch_size={bs}', 'trainer.report_to=[]', 'trainer.disable_tqdm=true', f'trainer.output_dir={out}']
    return setup_task(load_config(ROOT/'configs'/'default.yml', opts))


def run_finann(ds, vectors, steps:int, warmup:int, bs:int, device:str, profile:bool=False, **overrides) -> dict:
    "Train `steps` steps with the Trainer built as the task builds it; samples/s after warm-up, and the Trainer's choices."
    import torch
    from transformers import TrainerCallback
    from finann.registry import registry
    from finann.progress import ProgressLog
    from finann.trainer import compute_metrics, StopOnSignal, ProgressCallback
    out = tempfile.mkdtemp(prefix='finann-bench-')
    task = finann_task(bs, device, out)
    cfg = task.config
    col = registry.get_collator_class(cfg.collator.cls_name)(**cfg.collator.config).attach(vectors)
    train = col.preload(ds)  # stands in for build_datasets + the embedding step
    args = task.training_arguments(max_steps=steps, eval_strategy='no', save_strategy='no', **({'use_cpu': True} if device == 'cpu' else {}), **overrides)
    torch.manual_seed(0)
    model_kw = {**MODEL, 'num_labels': col.num_labels, 'hidden_dropout': 0.0, 'classifier_dropout': 0.0}
    model = registry.get_model_class(cfg.model.model_cls_name)(registry.get_model_config_class(cfg.model.config_cls_name)(**model_kw))
    t = registry.get_trainer_class(cfg.run.runner)(model=model, args=args, train_dataset=train, data_collator=col, compute_metrics=compute_metrics,
                                                   callbacks=[StopOnSignal(), ProgressCallback(ProgressLog(out))])
    timer = StepTimer(warmup, device)
    class Timer(TrainerCallback):
        def on_step_end(self, args, state, control, **kw): timer.step(state.global_step)
    t.add_callback(Timer())
    if profile:
        import cProfile, pstats
        pr = cProfile.Profile(); pr.enable(); t.train(); pr.disable()
        pstats.Stats(pr).sort_stats('tottime').print_stats(30)
    else: t.train()
    return {'samples_s': timer.steps * bs / (timer.t1 - timer.t0), 'cpu_ms_step': 1e3 * (timer.c1 - timer.c0) / timer.steps, 'optim': getattr(args.optim, 'value', args.optim), 'runner': type(t).__name__,
            'logging_steps': args.logging_steps, 'max_grad_norm': args.max_grad_norm, 'threads': torch.get_num_threads()}


def plain_optimizer(params, lr:float, device:str):
    "AdamW, fused where this torch build has it for `device`."
    import torch
    try: return torch.optim.AdamW(params, lr=lr, fused=True), 'AdamW(fused=True)'
    except (RuntimeError, TypeError): return torch.optim.AdamW(params, lr=lr, foreach=True), 'AdamW(foreach=True)'


def run_plain(ds, vectors, steps:int, warmup:int, bs:int, device:str, lr:float=1e-3, clip:float=0.0) -> dict:
    "The same model and steps in a plain loop over preloaded tensors: index, forward, backward, (clip,) AdamW step."
    import torch
    from finann.collator import CollatorForBinaryClassification
    from finann.model import MLPModelConfig, MLPModelForTokenClassification
    torch.manual_seed(0)
    model = MLPModelForTokenClassification(MLPModelConfig(**MODEL)).to(device).train()
    X = torch.from_numpy(vectors).to(device)
    text_id = torch.as_tensor(ds.select_columns(['text_id']).with_format('numpy')[:]['text_id'], device=device)
    y = torch.from_numpy(CollatorForBinaryClassification().dataset_labels(ds)).to(device)
    opt, name = plain_optimizer(model.parameters(), lr, device)
    timer, g, n, step = StepTimer(warmup, device), torch.Generator().manual_seed(0), len(text_id), 0
    while step < steps:
        perm = torch.randperm(n, generator=g).to(device)
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            loss = model(X[text_id[idx]], labels=y[idx]).loss
            loss.backward()
            if clip: torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step(); opt.zero_grad(set_to_none=True)
            step += 1; timer.step(step)
            if step == steps: break
    return {'samples_s': timer.steps * bs / (timer.t1 - timer.t0), 'cpu_ms_step': 1e3 * (timer.c1 - timer.c0) / timer.steps, 'optim': name}


def peak_matmul_tflops(device:str, dtype=None) -> float:
    "The card's measured fp32 (TF32 off) matmul rate, TFLOP/s, on 8192² operands: the ceiling an MLP can reach."
    import torch
    a = torch.randn(8192, 8192, device=device); b = torch.randn(8192, 8192, device=device)
    for _ in range(3): a @ b
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(10): a @ b
    torch.cuda.synchronize()
    return 10 * 2 * 8192 ** 3 / (time.perf_counter() - t) / 1e12


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--events', type=int, default=50_000)
    ap.add_argument('--batch-size', type=int, default=256)
    ap.add_argument('--steps', type=int, default=300, help='optimizer steps per timed run (1.5 epochs at 50k events)')
    ap.add_argument('--warmup', type=int, default=20, help='steps not timed')
    ap.add_argument('--repeats', type=int, default=7, help='rounds of alternating runs; the best and the median are reported')
    ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    ap.add_argument('--threads', type=int, default=None, help="torch threads (default: torch's own choice, one per core)")
    ap.add_argument('--quick', action='store_true', help='only finann and the plain loop, not the clipping variants')
    ap.add_argument('--profile', action='store_true', help="print cProfile's top functions of one finann run, then exit")
    ap.add_argument('--out', default=str(ROOT/'bench'/'results'/'train_loop.md'))
    a = ap.parse_args(argv)
    load0 = os.getloadavg()[0]
    import torch, transformers, accelerate, datasets as hfds
    import finann.task  # noqa: F401  (registers everything, as finann-train does)
    if a.threads: torch.set_num_threads(a.threads)
    if a.device == 'cuda' and not torch.cuda.is_available():
        msg = '--device cuda: NOT RUN: no CUDA device is visible on this machine'
        print(msg); Path(a.out).with_name('train_loop_cuda.md').write_text(f'# Training loop on CUDA\n\n{msg} ({datetime.date.today()}).\n')
        return 0
    ds, vectors = make_events(a.events, MODEL['hidden_size'])
    if a.profile:
        run_finann(ds, vectors, a.steps, a.warmup, a.batch_size, a.device, profile=True); return 0
    run_plain(ds, vectors, a.warmup + 10, a.warmup, a.batch_size, a.device)  # warm the allocator and kernels
    args = (ds, vectors, a.steps, a.warmup, a.batch_size, a.device)
    variants = {'finann': lambda: run_finann(*args), 'plain': lambda: run_plain(*args),
                'finann, max_grad_norm=0': lambda: run_finann(*args, max_grad_norm=0.0), 'plain + clip_grad_norm_(1.0)': lambda: run_plain(*args, clip=1.0)}
    if a.quick: variants = {k: variants[k] for k in ('finann', 'plain')}
    res, names = {k: [] for k in variants}, list(variants)
    for r in range(a.repeats):  # alternate, in a rotating order, so drifts in the machine's load hit every variant alike
        for k in names[r % len(names):] + names[:r % len(names)]: res[k].append(variants[k]())
        print(f"round {r + 1}: " + ', '.join(f"{k} {v[-1]['samples_s']:,.0f}" for k, v in res.items()) + ' samples/s; ratio '
              f"{res['finann'][-1]['samples_s'] / res['plain'][-1]['samples_s']:.3f}; CPU ms/step " + ', '.join(f"{v[-1]['cpu_ms_step']:.2f}" for v in res.values()), flush=True)
    med = {k: statistics.median(x['samples_s'] for x in v) for k, v in res.items()}
    best = {k: max(x['samples_s'] for x in v) for k, v in res.items()}  # the least disturbed run of each
    ratios = [x['samples_s'] / y['samples_s'] for x, y in zip(res['finann'], res['plain'])]
    ratio = best['finann'] / best['plain']
    from finann.model import MLPModelConfig, MLPModelForTokenClassification
    params = sum(p_.numel() for p_ in MLPModelForTokenClassification(MLPModelConfig(**MODEL)).parameters())
    info = res['finann'][0]
    label = {'finann': f"finann `{info['runner']}` as `finann-train` runs it (`{info['optim']}`, logging every {info['logging_steps']} steps, grad-norm clip {info['max_grad_norm']})",
             'plain': f"plain PyTorch loop, `{res['plain'][0]['optim']}`", 'finann, max_grad_norm=0': 'finann, `trainer.max_grad_norm: 0` (no clipping)',
             'plain + clip_grad_norm_(1.0)': 'plain loop + `clip_grad_norm_(1.0)`'}
    lines = [f"# Training loop (`bench/train_loop.py`)", '',
             f"{a.events:,} random events, {MODEL['hidden_size']}-d vectors, binary labels; MLP 384→768→768→384→2 ({params:,} parameters); "
             f"batch {a.batch_size}, {a.steps} steps per run ({a.warmup} untimed), {a.repeats} alternating rounds; best (least disturbed) run and median. "
             f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} ({info['threads']} threads) on {a.device}, "
             f"transformers {transformers.__version__}, accelerate {accelerate.__version__}, datasets {hfds.__version__}, CPython {platform.python_version()}; "
             f"{datetime.date.today()}, 1-minute load {load0:.2f} before, {os.getloadavg()[0]:.2f} after.", '',
             '| loop | samples/s, best | × plain | samples/s, median | × plain |', '|---|---:|---:|---:|---:|']
    lines += [f"| {label[k]} | {best[k]:,.0f} | {best[k] / best['plain']:.3f} | {med[k]:,.0f} | {med[k] / med['plain']:.3f} |" for k in res]
    lines += ['', f"Goal: finann ≥ 0.90× the plain loop: **{'met' if ratio >= 0.90 else 'missed'}**, {ratio:.3f}× (best runs; medians "
              f"{med['finann'] / med['plain']:.3f}×; per-round ratios {', '.join(f'{r:.3f}' for r in ratios)}, median {statistics.median(ratios):.3f}: "
              f"within a round both loops share the machine's load, so this is the least noisy figure on a shared machine)."]
    f = best['finann']
    if a.device == 'cuda':
        peak = peak_matmul_tflops(a.device)
        frac = f * 6 * params / 1e12 / peak
        lines += ['', f"CUDA ({torch.cuda.get_device_name()}): {f:,.0f} samples/s × 6 × {params:,} FLOP = {f * 6 * params / 1e12:.2f} TFLOP/s, "
                  f"{frac:.1%} of the card's measured fp32 matmul rate ({peak:.1f} TFLOP/s)."]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    print(f"\nfinann {f:,.0f} samples/s, plain {best['plain']:,.0f} samples/s, ratio {ratio:.3f} (goal ≥ 0.90) → {a.out}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
