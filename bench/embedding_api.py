"""OpenAIEmbedding against a real HTTP server on 127.0.0.1 with 200 ms of latency per request (the test suite's server):
throughput at concurrency 16 against one request at a time, and the most tokens the server saw in any 60 s window under a
tokens-per-minute limit. Writes bench/results/embedding_api.md.
Usage: python bench/embedding_api.py [--texts 1024] [--batch-size 8] [--repeats 3] [--tpm 20000] [--tpm-tokens 24000]"""
import argparse, datetime, json, os, statistics, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path
import numpy as np

TESTS = Path(__file__).resolve().parent.parent / 'tests'


class ServerProcess:
    "`tests/test_embedding_openai.py`'s `FakeServer` in a process of its own, as a remote API is: its threads never hold this process's GIL."
    def __init__(self, latency: float):
        code = (f"import sys, threading; sys.path.insert(0, {str(TESTS)!r}); from test_embedding_openai import FakeServer; "
                f"s = FakeServer(latency={latency}); print(s.url, flush=True); threading.Event().wait()")
        self.proc = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        self.root = self.url.rsplit('/v1', 1)[0]

    def get(self, path: str): return json.loads(urllib.request.urlopen(self.root + path, timeout=30).read())
    def close(self): self.proc.kill(); self.proc.wait()


def run(server, texts, **kw) -> float:
    "Seconds to embed `texts` with a fresh cache; the server's log is cleared first."
    from finann.embedding import OpenAIEmbedding
    server.get('/reset')
    emb = OpenAIEmbedding(model='bench-embed', base_url=server.url, cache_dir=tempfile.mkdtemp(prefix='finann-bench-'), show_progress_bar=False, **kw)
    t = time.perf_counter(); emb(texts); secs = time.perf_counter() - t
    assert emb.last_stats['encoded'] == len(texts)
    return secs


def max_window_tokens(log, window: float = 60.) -> int:
    "The most tokens the server received in any `window` seconds (windows start at each request's arrival)."
    t = np.array([r['t'] for r in log]); n = np.array([r['tokens'] for r in log])
    return int(max(n[(t >= s) & (t < s + window)].sum() for s in t))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--texts', type=int, default=1024)
    ap.add_argument('--batch-size', type=int, default=8, help='inputs per request')
    ap.add_argument('--latency', type=float, default=0.2, help="the server's seconds per request")
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--tpm', type=float, default=20_000, help='tokens-per-minute limit of the paced run')
    ap.add_argument('--tpm-tokens', type=int, default=24_000, help='tokens sent in the paced run (more than the limit: it lasts over a minute)')
    ap.add_argument('--out', default=str(Path(__file__).parent / 'results' / 'embedding_api.md'))
    a = ap.parse_args(argv)
    os.environ.setdefault('OPENAI_API_KEY', 'sk-bench')
    texts = [f"Call {i}: revenue {'rose' if i % 3 else 'fell'} {i % 40} percent on {'strong' if i % 2 else 'weak'} demand." for i in range(a.texts)]
    server = ServerProcess(a.latency)
    load = os.getloadavg()[0]
    try:
        nolimit = dict(batch_size=a.batch_size, requests_per_minute=None, tokens_per_minute=None)
        run(server, texts[:32], concurrency=16, **nolimit)  # warm up: imports, tokenizer
        seq, par = [], []
        for _ in range(a.repeats):  # take turns, so that load from elsewhere hits both
            seq.append(run(server, texts, concurrency=1, **nolimit))
            par.append(run(server, texts, concurrency=16, **nolimit))
        s, p = statistics.median(seq), statistics.median(par)
        # the paced run: more tokens than the limit allows in a minute
        per_text = np.mean([r['tokens'] / r['inputs'] for r in server.get('/log')])
        paced_texts = [f"{t} Paced run, text {i}." for i, t in enumerate(texts * (1 + int(a.tpm_tokens / per_text / len(texts))))][:int(a.tpm_tokens / per_text)]
        secs = run(server, paced_texts, concurrency=16, batch_size=a.batch_size, tokens_per_minute=a.tpm, requests_per_minute=None, max_length=500)
        log = server.get('/log')
        sent, worst = sum(r['tokens'] for r in log), max_window_tokens(log)
    finally: server.close()
    n_req = -(-a.texts // a.batch_size)
    lines = ['| requests in flight | wall time (median) | texts/s | × sequential |', '|---|---:|---:|---:|',
             f'| 1 (sequential) | {s:.2f} s | {a.texts / s:,.0f} | 1.00× |',
             f'| 16 | {p:.2f} s | {a.texts / p:,.0f} | **{s / p:.1f}×** |', '',
             f'Paced run under `tokens_per_minute={a.tpm:,.0f}`: {sent:,} tokens in {secs:.0f} s; the most the server received in any 60 s window: '
             f'**{worst:,} tokens** ({worst / a.tpm:.0%} of the limit).', '',
             f"Goal (concurrency): at least 8× the sequential throughput at 16 requests in flight: {s / p:.1f}× — {'met' if s / p >= 8 else 'NOT met'}",
             f"Goal (rate limit): never more than the tokens-per-minute limit in any 60 s: {worst:,} ≤ {a.tpm:,.0f} — {'met' if worst <= a.tpm else 'NOT met'}"]
    head = (f"{a.texts} short texts, {a.batch_size} per request ({n_req} requests), a server on 127.0.0.1 that takes {a.latency * 1000:.0f} ms per request "
            f"(`tests/test_embedding_openai.py`'s `FakeServer`, in a process of its own); median of {a.repeats} runs each, the two taking turns (the machine is shared); "
            f"{os.cpu_count()} CPU cores, load average {load:.1f} at the start; {datetime.date.today().isoformat()}.")
    text = head + '\n\n' + '\n'.join(lines) + '\n'
    print(text)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text('# OpenAI-compatible API benchmark (`bench/embedding_api.py`)\n\n' + text)


if __name__ == '__main__':
    main()
