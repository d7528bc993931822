"""The default job's wall time, split into its phases, cold and warm; and what `import finann` costs and pulls in.

Runs `finann-train --cfg-path configs/default.yml` in a subprocess, as the README does (wandb offline, the config's own
settings), once with a fresh FINANN_CACHE (cold: every text is embedded) and `--repeats` times with that cache (warm). The
phases come from timers wrapped around finann's and transformers' methods inside the child (finann-train's own entry point,
`finann.cli.train_main`, nothing else changed); the run's metrics.json `seconds` is kept beside them as a check. Then it times
`python -c "import finann"` and lists the heavy modules that import loads. Writes bench/results/default_job.md.

Usage: python bench/default_job.py [--repeats 3] [--options KEY=VALUE ...]"""
import argparse, datetime, json, os, platform, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HEAVY = ['torch', 'transformers', 'datasets', 'accelerate', 'sentence_transformers', 'sklearn', 'scipy', 'matplotlib', 'wandb', 'pandas', 'pyarrow', 'openai', 'ipywidgets']
# (phase, where its timer sits); nested phases are subtracted from their parent in the table
PHASES = [('import finann', None), ('data build', 'finann.task:TrainTask.build_datasets'), ('embedding', 'finann.task:embed_events'),
          ('training', 'transformers:Trainer.train'), ('  eval each epoch', 'transformers:Trainer._evaluate'),
          ('  checkpoints', 'transformers:Trainer._save_checkpoint'), ('  wandb setup', 'finann.trainer:CustomWandbCallback.setup'),
          ('evaluation', 'finann.task:TrainTask.evaluate'), ('  predict', 'finann.task:TrainTask.predict'), ('  baselines', 'finann.task:TrainTask.baselines'),
          ('report + plots', 'finann.task:TrainTask.write_report'), ('wandb finish', 'wandb:finish')]


def peak_rss_mb() -> float:
    "This process's peak resident memory so far, MB (Linux reports KiB)."
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    "This process's resident memory now, MB."
    return int(Path('/proc/self/statm').read_text().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def anon_mb() -> float:
    "This process's anonymous resident memory now, MB: RSS less file-backed pages (libraries, memory-mapped Arrow) the OS can drop."
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('RssAnon:'): return int(line.split()[1]) / 1024
    return float('nan')


def child(out:str, argv:list[str]) -> int:
    "finann-train's entry point with timers around each phase; the totals go to `out` as JSON."
    t0 = time.perf_counter()
    import importlib
    from finann.cli import train_main  # imports finann, as the console script does
    import finann.task  # noqa: F401
    secs = {'import finann': time.perf_counter() - t0}
    peak = {'import finann': peak_rss_mb()}  # the process's peak RSS when each phase first ended (MB): where memory grows
    now = {'import finann': rss_mb()}  # ... and its RSS right then: what each phase leaves held
    anon = {'import finann': anon_mb()}  # ... of which anonymous (not file-backed)
    dump = lambda: Path(out).write_text(json.dumps({**secs, 'peak_rss_mb': {**peak, 'end': peak_rss_mb()}, 'rss_mb': now, 'anon_mb': anon}))
    def wrap(owner, attr, key):
        fn = getattr(owner, attr)
        def timed(*a, **k):
            s = time.perf_counter()
            try: return fn(*a, **k)
            finally:
                secs[key] = secs.get(key, 0.0) + time.perf_counter() - s
                peak.setdefault(key, peak_rss_mb()); now.setdefault(key, rss_mb()); anon.setdefault(key, anon_mb())
                dump()  # after every phase: a run killed at its time limit still tells how far it got
        setattr(owner, attr, timed)
    for key, where in PHASES[1:]:
        mod, _, path = where.partition(':')
        try: owner = importlib.import_module(mod)
        except ImportError: continue
        *cls, attr = path.split('.')
        for c in cls: owner = getattr(owner, c)
        if hasattr(owner, attr): wrap(owner, attr, key.strip())
    rc = train_main(argv)
    secs['total (in process)'] = time.perf_counter() - t0
    dump()
    return rc


def run_job(cache:str, options:list[str], binary:bool=False, timeout:float|None=None, cfg:str='configs/default.yml') -> dict:
    "One job in a subprocess: wall time, its own peak RSS (wait4), and its phases (not for the plain `finann-train` binary)."
    run_dir = tempfile.mkdtemp(prefix='finann-bench-run-')
    args = ['--cfg-path', cfg, '--options', f'trainer.output_dir={run_dir}', *options]
    env = {**os.environ, 'FINANN_CACHE': cache, 'HF_HUB_OFFLINE': '1', 'PYTHONUNBUFFERED': '1'}
    env.pop('WANDB_API_KEY', None)
    js = Path(run_dir)/'bench-phases.json'
    cmd = [str(BIN/'finann-train'), *args] if binary else [sys.executable, str(Path(__file__).resolve()), '--child', str(js), '--', *args]
    t = time.perf_counter()
    with open(Path(run_dir)/'stdout.log', 'w') as o, open(Path(run_dir)/'stderr.log', 'w') as e:
        p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=o, stderr=e)
        while True:  # wait4: this child's own rusage, not the max over all children so far
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid: break
            if timeout and time.perf_counter() - t > timeout:
                p.kill(); _, status, ru = os.wait4(p.pid, 0); break
            time.sleep(0.1)
    wall = time.perf_counter() - t
    p.returncode = rc = os.waitstatus_to_exitcode(status)
    out = {'wall': wall, 'rc': rc, 'maxrss_mb': ru.ru_maxrss / 1024, 'run_dir': run_dir,
           'stderr_tail': (Path(run_dir)/'stderr.log').read_text()[-3000:]}
    if js.exists(): out['phases'] = json.loads(js.read_text())
    if (Path(run_dir)/'metrics.json').exists():
        m = json.loads((Path(run_dir)/'metrics.json').read_text())
        out.update(metrics_seconds=m.get('seconds', {}), embedding=m.get('embedding', {}), n_train=m.get('train', {}).get('n'))
    return out


def write_result(out:str, lines:list[str]) -> int:
    "Write a benchmark's markdown result to `out` (bench/results/<name>.md) and print it."
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return 0


def check(run:dict) -> dict:
    if run['rc'] != 0: raise SystemExit(f"finann-train failed ({run['rc']}):\n{run['stderr_tail']}")
    return run


def import_profile(repeats:int) -> dict:
    "Wall time of `python -c 'import finann'` (median), the heavy modules it loads, and the largest imports by cumulative time."
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); subprocess.run([sys.executable, '-c', 'import finann'], cwd=ROOT, check=True); times.append(time.perf_counter() - t)
    code = f"import sys, json; import finann; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    loaded = json.loads(subprocess.run([sys.executable, '-c', code], cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    err = subprocess.run([sys.executable, '-X', 'importtime', '-c', 'import finann'], cwd=ROOT, capture_output=True, text=True).stderr
    rows = []  # (depth, name, cumulative s) in import order; children come before their parent in -X importtime
    for line in err.splitlines():  # "import time: self [us] | cumulative | imported package", indented 2 spaces a level
        parts = line.split('|')
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            rows.append(((len(name) - len(name.lstrip()) - 1) // 2, name.strip(), int(parts[1]) / 1e6))
    # the tree from the top, parents first: finann's own imports and the largest below them (>= 10 ms, at most 3 levels deep)
    top = [('&nbsp;&nbsp;' * depth + f'`{name}`', sec) for depth, name, sec in reversed(rows) if depth <= 3 and sec >= 0.01]
    return {'seconds': statistics.median(times), 'loaded': loaded, 'top': top}


def main(argv=None):
    if argv is None and len(sys.argv) > 2 and sys.argv[1] == '--child':
        return child(sys.argv[2], sys.argv[4:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeats', type=int, default=3, help='warm runs (median) and import timings')
    ap.add_argument('--options', nargs='*', default=[], help='extra finann-train overrides')
    ap.add_argument('--out', default=str(ROOT/'bench'/'results'/'default_job.md'))
    a = ap.parse_args(argv)
    import torch, transformers
    cache = tempfile.mkdtemp(prefix='finann-bench-cache-')
    cold = check(run_job(cache, a.options))
    print(f"cold: {cold['wall']:.1f} s  {json.dumps({k: round(v, 2) for k, v in cold['phases'].items() if not isinstance(v, dict)})}", flush=True)
    warm = []
    for i in range(a.repeats):
        warm.append(check(run_job(cache, a.options)))
        print(f"warm {i + 1}: {warm[-1]['wall']:.1f} s  {json.dumps({k: round(v, 2) for k, v in warm[-1]['phases'].items() if not isinstance(v, dict)})}", flush=True)
    binary = check(run_job(cache, a.options, binary=True))
    print(f"plain finann-train, warm: {binary['wall']:.1f} s", flush=True)
    imp = import_profile(a.repeats)
    med = lambda runs, k: statistics.median(r['phases'].get(k, 0.0) for r in runs)
    wall_w = statistics.median(r['wall'] for r in warm)
    lines = ['# The default job (`bench/default_job.py`)', '',
             f"`finann-train --cfg-path configs/default.yml`{' ' + ' '.join(a.options) if a.options else ''} (8,000 synthetic events, HashingEmbedding 1024, 5 epochs, "
             f"wandb offline); cold: a fresh FINANN_CACHE, warm: median of {a.repeats} runs on that cache. {platform.machine()}, {os.cpu_count()} CPU cores, "
             f"torch {torch.__version__} ({torch.get_num_threads()} threads), transformers {transformers.__version__}, CPython {platform.python_version()}; "
             f"{datetime.date.today()}, 1-minute load {os.getloadavg()[0]:.2f} at the end.", '',
             '| phase | cold (s) | warm (s) |', '|---|---:|---:|']
    for key, _ in PHASES:
        k = key.strip()
        lines.append(f"| {key.replace('  ', '&nbsp;&nbsp;')} | {cold['phases'].get(k, 0.0):.2f} | {med(warm, k):.2f} |")
    top = [k for k, _ in PHASES if not k.startswith(' ')]
    other = lambda r: r['phases']['total (in process)'] - sum(r['phases'].get(k, 0.0) for k in top)
    lines += [f"| other (config, model, trainer set-up, final save) | {other(cold):.2f} | {statistics.median(other(r) for r in warm):.2f} |",
              f"| in process, total | {cold['phases']['total (in process)']:.2f} | {med(warm, 'total (in process)'):.2f} |",
              f"| **wall, subprocess** | **{cold['wall']:.2f}** | **{wall_w:.2f}** |",
              f"| plain `finann-train` binary, warm (one run) | | {binary['wall']:.2f} |", '',
              f"Goal: under 30 s warm on 2 CPU cores: **{'met' if wall_w < 30 else 'missed'}** ({wall_w:.1f} s). "
              f"metrics.json `seconds` (warm, last run): {warm[-1]['metrics_seconds']}. Embedding cold: {cold['embedding'].get('encoded')} texts encoded; "
              f"warm: {warm[-1]['embedding'].get('cached')} from the cache.", '',
              f"`python -c \"import finann\"`: {imp['seconds']:.2f} s (median of {a.repeats}); of {', '.join(HEAVY)}, it loads "
              f"{', '.join(imp['loaded']) or 'none'}. (The phase `import finann` above is what `finann-train` imports before it starts: `finann.cli` and `finann.task`, "
              "which bring torch, transformers and datasets.)", '',
              '| import (cumulative, `-X importtime`; ≥ 10 ms, 3 levels) | s |', '|---|---:|'] + [f"| {n} | {s:.2f} |" for n, s in imp['top']]
    return write_result(a.out, lines)


if __name__ == '__main__':
    sys.exit(main())
