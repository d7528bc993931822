"""Frozen MiniLM + MLP against LoRA-tuned MiniLM + MLP: the same synthetic earnings calls, seed, windows, head and schedule.

Both sides are `finann-train` runs in a subprocess (their own peak RSS from wait4):
- frozen: `HFEmbedding` on the packaged all-MiniLM-L6-v2 (mean pooling, 96-token windows: the calls' first sentences, which carry the results), vectors cached, then the MLP;
- LoRA: `configs/lora_minilm.yml`, `EncoderMLPForTokenClassification` on the same encoder, pooling and windows, with rank-8
  adapters on the attention's query and value layers, trained with the head.
The head (one block, 512 wide, dropout 0.1), batch size, learning rate, epochs and seed are the same. Evaluation during
training is off, so that "training s/epoch" is the training loop alone; the frozen side's embedding time is listed apart.
Writes bench/results/lora.md. On a machine with a GPU the same command measures it; otherwise the table says the GPU was skipped and why.

Usage: python bench/lora.py [--tickers 12] [--epochs 3] [--max-length 96] [--signal-strength 0.9] [--batch-size 8]"""
import argparse, datetime, json, os, platform, sys, tempfile
from pathlib import Path
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from default_job import ROOT, run_job, write_result  # noqa: E402

HEAD = ['model.config.intermediate_size=512', 'model.config.num_mlp_layers=1', 'model.config.hidden_dropout=0.1', 'model.config.classifier_dropout=0.1']


def common(a) -> list[str]:
    return [f'dataset.config.n_tickers={a.tickers}', f'dataset.config.signal_strength={a.signal_strength}', f'trainer.num_train_epochs={a.epochs}',
            f'trainer.per_device_train_batch_size={a.batch_size}', 'trainer.per_device_eval_batch_size=64', f'trainer.learning_rate={a.lr}',
            'trainer.eval_strategy="no"', 'trainer.save_strategy="no"', 'trainer.report_to=[]', 'trainer.disable_tqdm=true',
            'evaluator.n_boot=200', 'run.seed=2024', *HEAD]


def frozen_opts(a) -> list[str]:
    return ['embedding.cls_name=HFEmbedding', 'embedding.config={pooling: mean, max_length: %d, long_text: truncate, batch_size: 32}' % a.max_length,
            'model.config.hidden_size=auto']


def lora_opts(a) -> list[str]:
    return [f'model.config.max_seq_length={a.max_length}', 'model.config.long_text=truncate', 'model.config.pooling=mean']


def summary(r:dict, epochs:int) -> dict:
    "Accuracy (val, test, with the test's 95% interval), training s/epoch, embedding s, peak RSS, from a finished run's folder."
    if r['rc'] != 0: raise SystemExit(f"finann-train failed ({r['rc']}):\n{r['stderr_tail']}")
    run = Path(r['run_dir'])
    m = json.loads((run/'metrics.json').read_text())
    state = json.loads((run/'trainer_state.json').read_text())
    runtime = next(h['train_runtime'] for h in state['log_history'] if 'train_runtime' in h)
    ci = m['test'].get('ci', {}).get('metrics', {}).get('accuracy')  # the model's bootstrap interval, resampled by date
    size = sum(f.stat().st_size for f in run.glob('model.safetensors'))
    preds = pd.read_parquet(run/'predictions.parquet').query("split == 'test'")  # a model that says "up" for every event learnt nothing
    return {'val': m['val']['model']['accuracy'], 'test': m['test']['model']['accuracy'], 'test_ci': ci,
            'logistic_test': m['test']['baselines'].get('logistic', {}).get('accuracy'), 'majority_test': m['test']['baselines']['majority']['accuracy'],
            's_epoch': runtime / epochs, 'embed_s': m['seconds']['setup'], 'rss': r['maxrss_mb'], 'wall': r['wall'], 'n_train': m['train']['n'],
            'n_test': m['test']['n'], 'model_mb': size / 1e6, 'up_share': float((preds['p_1'] > 0.5).mean()), 'load': os.getloadavg()[0]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--tickers', type=int, default=12, help='synthetic tickers (40 calls each over 2010-2019: 28 train, 4 val, 8 test)')
    ap.add_argument('--epochs', type=int, default=3)
    ap.add_argument('--signal-strength', type=float, default=0.9, help="how often the calls' cue words agree with the move (0 to 1)")
    ap.add_argument('--batch-size', type=int, default=8, help='training batch, both sides: more steps for the same encoder cost')
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--max-length', type=int, default=96, help='tokens per window, both sides')
    ap.add_argument('--out', default=str(ROOT/'bench'/'results'/'lora.md'))
    a = ap.parse_args(argv)
    import torch
    # finann-train uses a GPU whenever one is visible: the same command measures one
    gpu_note = (f'GPU: measured on {torch.cuda.get_device_name(0)}.' if torch.cuda.is_available() else
                'GPU: skipped: no GPU on this machine (`torch.cuda.is_available()` is False); the same command fills this table in on one.')
    rows = {}
    for name, cfg, opts in [('frozen MiniLM + MLP', 'configs/default.yml', frozen_opts(a)), ('LoRA MiniLM + MLP', 'configs/lora_minilm.yml', lora_opts(a))]:
        r = run_job(tempfile.mkdtemp(prefix='finann-bench-cache-'), [*common(a), *opts], binary=True, cfg=cfg)
        rows[name] = summary(r, a.epochs)
        print(name, rows[name], flush=True)
    f = lambda v, p='{:.3f}': p.format(v) if isinstance(v, (int, float)) else '-'
    lines = ['# Frozen vs LoRA-tuned encoder (`bench/lora.py`)', '',
             f"Synthetic earnings calls, `n_tickers={a.tickers}` ({rows['LoRA MiniLM + MLP']['n_train']} training events, {rows['LoRA MiniLM + MLP']['n_test']} test events), "
             f"`signal_strength={a.signal_strength:g}`, seed 2024; packaged all-MiniLM-L6-v2, mean pooling, {a.max_length}-token windows (truncated); the same MLP head (512 wide, one block), batch {a.batch_size}, "
             f"learning rate {a.lr:g}, {a.epochs} epochs; LoRA rank 8, alpha 16 on query and value. {platform.machine()}, {os.cpu_count()} CPU cores, "
             f"torch {torch.__version__} ({torch.get_num_threads()} threads); {datetime.date.today()}. **The machine was shared** with other jobs "
             f"(the 1-minute load at the end of each run is in the table, on {os.cpu_count()} cores): times are upper bounds, comparable with each other only roughly. "
             "Test accuracy is over the test events, with the run's 95% bootstrap interval (resampled by date).", '',
             '| model | val accuracy | test accuracy (95% CI) | test events predicted up | test: logistic / majority | training s/epoch | setup: data + embedding (s) | peak RSS (MB) | saved model (MB) | wall (s) | load at end |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for name, s in rows.items():
        ci = f" ({f(s['test_ci'][0])}–{f(s['test_ci'][1])})" if isinstance(s['test_ci'], (list, tuple)) else ''
        lines.append(f"| {name} | {f(s['val'])} | {f(s['test'])}{ci} (n={s['n_test']}) | {s['up_share']:.0%} | {f(s['logistic_test'])} / {f(s['majority_test'])} | "
                     f"{f(s['s_epoch'], '{:.1f}')} | {f(s['embed_s'], '{:.1f}')} | {f(s['rss'], '{:,.0f}')} | {f(s['model_mb'], '{:.1f}')} | {f(s['wall'], '{:.0f}')} | {s['load']:.1f} |")
    fr, lo = rows['frozen MiniLM + MLP'], rows['LoRA MiniLM + MLP']
    lines += ['', f"Goal: measure what fine-tuning buys on the same data: LoRA {f(lo['test'])} vs frozen {f(fr['test'])} test accuracy "
                  f"({lo['test'] - fr['test']:+.3f}), at {lo['s_epoch'] / max(fr['s_epoch'], 1e-9):.0f}× the training time per epoch "
                  f"(the frozen side's encoder runs once, {fr['embed_s']:.0f} s, before training) and {lo['rss'] - fr['rss']:+,.0f} MB of peak memory.",
              '', gpu_note]
    return write_result(a.out, lines)


if __name__ == '__main__':
    sys.exit(main())
