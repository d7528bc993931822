"""The StockNet protocol (configs/stocknet.yml) on the real clone, cold, timed phase by phase: where does the time go?
Runs `finann-train` once with an empty FINANN_CACHE and reads the phases from the run's progress.jsonl.
Writes bench/results/stocknet.md (a section per encoder, the other section kept).
Usage: python bench/stocknet.py [--embedding minilm|hashing] [--data ../shared/data/stocknet] [--options KEY=VALUE ...]"""
import argparse, datetime, json, os, platform, re, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENCODERS = {'hashing': [], 'minilm': ['embedding={cls_name: SentenceTransformerEmbedding, config: {}}'],
            'minilm-int8': ['embedding={cls_name: SentenceTransformerEmbedding, config: {backend: onnx, onnx_quantize: int8}}']}
NAMES = {'hashing': 'hashed word 1–2-grams (1,024 features)', 'minilm': 'the packaged MiniLM (all-MiniLM-L6-v2, 384-d)',
         'minilm-int8': 'the packaged MiniLM through ONNX Runtime, int8 (`backend: onnx`, `onnx_quantize: int8`)'}


def find_clone() -> Path|None:
    "`shared/data/stocknet` beside the checkout (`../shared/data/stocknet` from the main checkout; a worktree looks further up)."
    return next((p/'shared/data/stocknet' for p in ROOT.parents if (p/'shared/data/stocknet/tweet/preprocessed').is_dir()), None)


def phase_times(progress:Path, end:float) -> list[tuple[str, float]]:
    "(phase, seconds) from the run's progress log: each phase lasts until the next one starts, the last until the process ended."
    marks = [json.loads(l) for l in progress.read_text().splitlines() if '"phase"' in l]
    marks = [(m['phase'], m['t']) for m in marks if m.get('event') == 'phase']
    return [(p, (marks[i + 1][1] if i + 1 < len(marks) else end) - t) for i, (p, t) in enumerate(marks)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--embedding', choices=list(ENCODERS), default='minilm')
    ap.add_argument('--data', default=None, help='the StockNet clone (default: shared/data/stocknet beside the checkout)')
    ap.add_argument('--options', nargs='*', default=[], help='more config overrides')
    ap.add_argument('--work', default=None, help='the run folder and its cache go here (default: a new temporary folder)')
    ap.add_argument('--out', default=str(ROOT/'bench'/'results'/'stocknet.md'))
    a = ap.parse_args(argv)
    clone = Path(a.data) if a.data else find_clone()
    if clone is None: sys.exit('bench/stocknet.py: no StockNet clone (pass --data PATH, a clone of yumoxu/stocknet-dataset)')
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix='finann-bench-stocknet-'))
    if (work/'cache').exists(): sys.exit(f'bench/stocknet.py: {work/"cache"} exists: a cold run needs an empty cache')
    env = {**os.environ, 'FINANN_CACHE': str(work/'cache'), 'WANDB_MODE': 'offline', 'HF_HUB_OFFLINE': '1', 'TRANSFORMERS_OFFLINE': '1'}
    cmd = [str(Path(sys.executable).parent/'finann-train'), '--cfg-path', 'configs/stocknet.yml', '--options', f'dataset.config.path={clone}',
           f'trainer.output_dir={work/"run"}', 'trainer.report_to=[]', 'trainer.disable_tqdm=true', *ENCODERS[a.embedding], *a.options]
    load0, t0 = os.getloadavg(), time.time()
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    end, load1 = time.time(), os.getloadavg()
    if p.returncode: sys.exit(f"bench/stocknet.py: finann-train failed:\n{p.stderr[-3000:]}")
    phases = phase_times(work/'run'/'progress.jsonl', end)
    embeds = [json.loads(l) for l in (work/'run'/'progress.jsonl').read_text().splitlines() if '"embed"' in l]
    enc = dict(phases).get('embedding', 0.0)
    rate = (f"The encoder read {embeds[-1]['total']:,} distinct texts ({embeds[-1].get('tokens_total') or embeds[-1].get('tokens', 0):,} tokens) "
            f"in the embedding phase's {enc:.0f} s: {embeds[-1]['total'] / enc:.1f} texts/s (each distinct tweet once, however many windows hold it)."
            if embeds and enc else '')
    startup = phases and (json.loads((work/'run'/'progress.jsonl').read_text().splitlines()[0])['t'] - t0)
    data = json.loads((work/'run'/'data_report.json').read_text())
    metrics = json.loads((work/'run'/'metrics.json').read_text())
    import torch
    shown = ' '.join(c if ' ' not in c else repr(c) for c in ['python', 'bench/stocknet.py', '--embedding', a.embedding] + (['--options', *a.options] if a.options else []))
    total = end - t0
    counts = ' / '.join(format(data['splits'][s], ',') for s in ('train', 'val', 'test'))
    rows = [('start-up (imports, config, wandb offline)', startup)] + phases
    lines = [f"## {NAMES[a.embedding]}", '',
             f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} CPU cores, "
             f"torch {torch.__version__} ({torch.get_num_threads()} threads), 1-minute load {load0[0]:.1f} at the start and {load1[0]:.1f} at the end "
             f"(the cores are shared with other jobs: times are upper bounds). `{shown}`, cold: an empty `FINANN_CACHE`.", '',
             f"{data['texts']['rows_kept']:,} tweets → {sum(data['splits'].values()):,} events (train / val / test {counts}); "
             f"the test accuracy {metrics['test']['model']['accuracy']:.3f}.", '',
             *([rate, ''] if rate else []), '| phase | wall s | share |', '|---|---:|---:|'] + [f"| {n} | {s:.1f} | {s / total:.0%} |" for n, s in rows] + \
            [f"| **total** | **{total:.1f}** | |", '']
    out = Path(a.out)
    old = out.read_text() if out.exists() else ''
    sections = {m.group(1): m.group(0) for m in re.finditer(r'(## [^\n]+)\n.*?(?=\n## |\Z)', old, re.S)}
    sections[lines[0]] = '\n'.join(lines)
    head = ('# StockNet protocol, phase by phase (real tweets)\n\n`configs/stocknet.yml` on the StockNet clone, run once cold by '
            '`bench/stocknet.py`; the phases are those of the run\'s `progress.jsonl` (each lasts until the next begins; the last, '
            'until the process ends: prediction, baselines, evaluation and the report are in it).\n\n')
    out.write_text(head + '\n\n'.join(v.strip() for v in sections.values()) + '\n')
    print(out.read_text())


if __name__ == '__main__': main()
