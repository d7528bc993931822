"`OpenAIEmbedding` against a real HTTP server on 127.0.0.1 that speaks POST /v1/embeddings (no mocks of the client)."
import base64, hashlib, json, socket, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import numpy as np
import pytest
from finann.config import FinannError
from finann.embedding import OpenAIEmbedding, openai_tokenizer

DIM = 16


def fake_vector(text: str, dim: int = DIM) -> np.ndarray:
    "The server's deterministic unit vector for `text`."
    seed = int.from_bytes(hashlib.sha256(text.encode('utf-8')).digest()[:8], 'little')
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


class FakeServer:
    "An embeddings server: deterministic vectors, scripted failures, a token limit per input, a log of requests."

    def __init__(self, max_input_tokens: int = 8191, latency: float = 0.0):
        self.requests, self.fail_next, self.max_input_tokens, self.latency = [], [], max_input_tokens, latency
        self.headers = []           # sent with every answer, e.g. x-ratelimit-remaining-tokens
        self.always = None          # a status answered to every request (e.g. 429 forever)
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        self.enc = openai_tokenizer('text-embedding-3-large')
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'  # keep-alive, as real APIs: a connection per request would time TCP, not the client

            def log_message(self, *a): pass

            def reply(self, status, body, headers=()):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                for k, v in headers: self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # for a server in another process (bench/embedding_api.py): its log, and a reset
                if self.path == '/log': return self.reply(200, [{'t': r['t'], 'tokens': r['tokens'], 'inputs': len(r['body'].get('input') or [])} for r in server.requests])
                if self.path == '/reset':
                    server.requests.clear(); server.max_in_flight = 0
                    return self.reply(200, {})
                self.reply(404, {'error': {'message': 'not found'}})

            def do_POST(self):
                # A request is in flight from its arrival until its answer is ready, *before* the answer is sent: once the client
                # reads it, its thread may send the next request on another pooled connection, and that one must not overlap this.
                with server.lock:
                    server.in_flight += 1; server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try: answer = self.answer()
                finally:
                    with server.lock: server.in_flight -= 1
                self.reply(*answer)

            def answer(self):
                "(status, body, headers) of the answer to this POST."
                t = time.monotonic()
                body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
                inputs = body.get('input') or []
                tokens = sum(len(server.enc.encode_ordinary(x)) for x in (inputs if isinstance(inputs, list) else [inputs]))
                server.requests.append({'path': self.path, 'auth': self.headers.get('Authorization'), 'body': body, 't': t, 'tokens': tokens})
                if server.latency: time.sleep(server.latency)  # the model's time, as a remote API would take it
                if self.path != '/v1/embeddings': return (404, {'error': {'message': 'not found'}})
                if server.always or server.fail_next:
                    status = server.always or server.fail_next.pop(0)
                    status, headers = status if isinstance(status, tuple) else (status, [('retry-after-ms', '20')])
                    return (status, {'error': {'message': f'scripted {status}', 'type': 'test'}}, headers + server.headers)
                inputs = body['input'] if isinstance(body['input'], list) else [body['input']]
                for t in inputs:
                    if not t: return (400, {'error': {'message': "'$.input' is invalid: empty string"}})
                    n = len(server.enc.encode_ordinary(t))
                    if n > server.max_input_tokens:
                        return (400, {'error': {'message': f"This model's maximum context length is {server.max_input_tokens} tokens, however you requested {n} tokens"}})
                dim = body.get('dimensions') or DIM
                vecs = [fake_vector(t, dim) for t in inputs]
                as_b64 = body.get('encoding_format') == 'base64'
                data = [{'object': 'embedding', 'index': i, 'embedding': base64.b64encode(v.tobytes()).decode() if as_b64 else v.tolist()}
                        for i, v in enumerate(vecs)]
                data.reverse()  # the client must order by `index`, not by position
                return (200, {'object': 'list', 'data': data, 'model': body['model'], 'usage': {'prompt_tokens': tokens, 'total_tokens': tokens}},
                        server.headers)

        class Server(ThreadingHTTPServer):
            request_queue_size, daemon_threads = 128, True  # 16 clients at once must not overflow the listen backlog

        self.httpd = Server(('127.0.0.1', 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def inputs(self): return [t for r in self.requests if r['body'].get('input') for t in r['body']['input']]

    def close(self): self.httpd.shutdown(); self.httpd.server_close()


@pytest.fixture
def server():
    s = FakeServer(max_input_tokens=50)
    yield s
    s.close()


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv('OPENAI_API_KEY', 'sk-test-dummy')


def make(server, tmp_path, **kw):
    return OpenAIEmbedding(**{'model': 'test-embed', 'base_url': server.url, 'cache_dir': str(tmp_path / 'cache'), 'show_progress_bar': False,
                              'max_length': 50, 'max_retries': 2, **kw})


def test_vectors_come_back_in_order_and_batched(server, key, tmp_path):
    texts = [f"Quarter {i}: revenue {'rose' if i % 2 else 'fell'} by {i} percent." for i in range(10)]
    emb = make(server, tmp_path, batch_size=3, concurrency=2)
    v = emb(texts)
    np.testing.assert_allclose(v, np.stack([fake_vector(t) for t in texts]), atol=1e-6)
    sizes = [len(r['body']['input']) for r in server.requests]
    assert sorted(sizes) == [1, 3, 3, 3] and len(server.inputs()) == 10
    assert all(r['auth'] == 'Bearer sk-test-dummy' for r in server.requests)
    assert all(r['body']['model'] == 'test-embed' for r in server.requests)
    assert emb.last_stats['encoded'] == 10 and emb.dim == DIM


def test_cache_second_run_sends_nothing(server, key, tmp_path):
    texts = ['guidance raised', 'guidance cut', 'guidance raised']
    make(server, tmp_path)(texts)
    n = len(server.requests)
    emb = make(server, tmp_path)
    v = emb(texts)
    assert len(server.requests) == n and emb.last_stats['encoded'] == 0 and emb.last_stats['cached'] == 2
    np.testing.assert_allclose(v[0], fake_vector('guidance raised'), atol=1e-6)
    # another server, or other dimensions, is another encoder: nothing stale is served
    assert make(server, tmp_path, base_url=server.url.replace('127.0.0.1', 'localhost')).cache().folder != emb.cache().folder
    assert make(server, tmp_path, dimensions=8).cache().folder != emb.cache().folder


def test_dimensions_are_sent(server, key, tmp_path):
    v = make(server, tmp_path, dimensions=8)(['margins'])
    assert v.shape == (1, 8) and server.requests[-1]['body']['dimensions'] == 8


@pytest.mark.parametrize('status', [429, 500, 503])
def test_retry_after_a_failure(server, key, tmp_path, status):
    server.fail_next = [status]
    v = make(server, tmp_path)(['orders were uneven'])
    np.testing.assert_allclose(v[0], fake_vector('orders were uneven'), atol=1e-6)
    assert len(server.requests) == 2  # the failure, then the retry


def test_gives_up_after_max_retries(server, key, tmp_path):
    server.fail_next = [500] * 5
    with pytest.raises(FinannError, match=r'answered 500 .*2 times: .*scripted 500'):
        make(server, tmp_path, max_retries=1)(['x'])
    assert len(server.requests) == 2


def test_no_key_is_one_clear_line(server, monkeypatch, tmp_path):
    monkeypatch.delenv('OPENAI_API_KEY', raising=False)
    with pytest.raises(FinannError) as e: make(server, tmp_path)(['x'])
    assert 'no API key: set the environment variable OPENAI_API_KEY' in str(e.value) and '\n' not in str(e.value)
    assert not server.requests
    monkeypatch.setenv('MY_KEY', 'sk-other')
    make(server, tmp_path, api_key_env='MY_KEY')(['x'])
    assert server.requests[-1]['auth'] == 'Bearer sk-other'


def test_unreachable_server_is_one_clear_line(key, tmp_path):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    emb = OpenAIEmbedding(base_url=f'http://127.0.0.1:{port}/v1', cache_dir=str(tmp_path), max_retries=1, timeout=5, show_progress_bar=False)
    t = time.time()
    with pytest.raises(FinannError) as e: emb(['x'])
    msg = str(e.value)
    assert f'127.0.0.1:{port}' in msg and 'cannot reach the server after 2 tries' in msg and '\n' not in msg
    assert 'sk-test-dummy' not in msg and time.time() - t < 30


def test_long_text_is_chunked_and_averaged(server, key, tmp_path):
    enc = openai_tokenizer('text-embedding-3-large')
    doc = ' '.join(f"In segment {i} revenue grew {i} percent while costs fell." for i in range(30))
    ids = enc.encode_ordinary(doc)
    assert len(ids) > 200
    v = make(server, tmp_path)([doc, 'short one'])
    pieces = server.inputs()
    assert all(len(enc.encode_ordinary(p)) <= 50 for p in pieces)  # the server would have refused more
    chunks = [p for p in pieces if p != 'short one']
    assert len(chunks) == -(-len(ids) // 50)
    w = np.array([len(ids[s:s + 50]) for s in range(0, len(ids), 50)], dtype=float)
    expect = (np.stack([fake_vector(p) for p in chunks]) * w[:, None]).sum(0) / w.sum()
    np.testing.assert_allclose(v[0], expect / np.linalg.norm(expect), atol=1e-5)
    np.testing.assert_allclose(v[1], fake_vector('short one'), atol=1e-6)
    assert ''.join(chunks) == doc  # windows cut at token boundaries lose nothing


def test_truncate_keeps_the_first_window(server, key, tmp_path):
    doc = ' '.join(['revenue grew strongly'] * 100)
    v = make(server, tmp_path, long_text='truncate')([doc])
    (sent,) = server.inputs()
    assert doc.startswith(sent) and len(openai_tokenizer('x').encode_ordinary(sent)) == 50
    np.testing.assert_allclose(v[0], fake_vector(sent), atol=1e-6)


def test_request_token_cap_splits_requests(server, key, tmp_path):
    texts = [f"text number {i} " * 5 for i in range(6)]  # ~16 tokens each
    make(server, tmp_path, max_request_tokens=40)(texts)
    assert len(server.requests) >= 3
    assert all(sum(len(openai_tokenizer('x').encode_ordinary(t)) for t in r['body']['input']) <= 40 for r in server.requests)


def test_bad_inputs_have_defined_behaviour(server, key, tmp_path):
    emb = make(server, tmp_path)
    v = emb(['', '   ', 'profits 📈 利益 \ud800 end'])
    assert np.abs(v[:2]).sum() == 0 and emb.last_stats['empty'] == 2  # never sent: the API refuses empty input
    assert server.inputs() == ['profits 📈 利益 \ufffd end']             # a lone surrogate cannot be sent as UTF-8
    with pytest.raises(FinannError, match='text at position 1 is NoneType'): emb(['ok', None])
    with pytest.raises(FinannError, match='NaN'): emb([float('nan')])


def test_byte_budget_fallback(server, key, tmp_path):
    doc = 'é' * 60  # 120 UTF-8 bytes
    v = make(server, tmp_path, tokenizer='bytes')([doc])
    pieces = server.inputs()
    assert ''.join(pieces) == doc and all(len(p.encode()) <= 50 for p in pieces) and len(pieces) == 3
    assert make(server, tmp_path, tokenizer='bytes').identity()['tokenizer'] == 'utf8-bytes'
    assert v.shape == (1, DIM)


def windows_hold(log, per_minute: float, burst: float, jitter: float = 1.0) -> float:
    """The largest excess, over all windows [t_i, t_j] of the server's log, of tokens over burst + per_minute/60 × (t_j - t_i + jitter).
    `jitter`: a request leaves the client on time but may reach the server's handler later, which moves its tokens into a later
    window: the first burst opens 16 connections at once, and 16 client and 16 server threads share two busy cores (measured: up to
    0.5 s late for the first requests, a few ms for the paced ones)."""
    t = np.array([r['t'] for r in log]); n = np.array([r['tokens'] for r in log])
    order = np.argsort(t); t, c = t[order], np.concatenate([[0], np.cumsum(n[order])])
    worst = -np.inf
    for i in range(len(t)):
        for j in range(i, len(t)):
            worst = max(worst, (c[j + 1] - c[i]) - (burst + per_minute / 60 * (t[j] - t[i] + jitter)))
    return worst


def test_concurrent_requests_stay_under_the_tokens_per_minute(key, tmp_path):
    "16 requests in flight against a 200 ms server; the server's own log shows the tokens per minute held, and the order kept."
    srv = FakeServer(latency=0.2)
    try:
        texts = [f"Call {i}: revenue {'rose' if i % 3 else 'fell'} {i} percent on {'strong' if i % 2 else 'weak'} demand in segment {i % 7}." for i in range(200)]
        tpm = 30_000  # 500 tokens a second; the texts hold about 3,400: a burst of 1,500, then paced
        emb = make(srv, tmp_path, batch_size=8, concurrency=16, tokens_per_minute=tpm, requests_per_minute=None)
        v = emb(texts)
        np.testing.assert_allclose(v, np.stack([fake_vector(t) for t in texts]), atol=1e-6)  # in order
        log = srv.requests
        total = sum(r['tokens'] for r in log)
        assert total > 2 * emb.request_token_cap and sorted(srv.inputs()) == sorted(texts)
        assert all(r['tokens'] <= emb.request_token_cap for r in log)
        # no window of the server's log holds more than the burst plus the minute's allowance pro rata, so no minute holds more than tpm
        assert windows_hold(log, tpm, burst=tpm / 20) <= 0
        t = np.array(sorted(r['t'] for r in log))
        assert max(sum(r['tokens'] for r in log if s <= r['t'] < s + 60) for s in t) <= tpm
        assert srv.max_in_flight >= 8  # requests really were concurrent
    finally: srv.close()


def test_unlimited_concurrency_fills_the_pool(key, tmp_path):
    srv = FakeServer(latency=0.2)
    try:
        make(srv, tmp_path, batch_size=2, concurrency=16, tokens_per_minute=None, requests_per_minute=None)([f'text {i}' for i in range(64)])
        assert srv.max_in_flight == 16 and len(srv.requests) == 32
    finally: srv.close()


def test_retry_after_and_rate_limit_headers_hold_every_request(server, key, tmp_path):
    server.fail_next = [(429, [('retry-after-ms', '400')])]
    make(server, tmp_path, concurrency=1)(['one'])
    assert server.requests[1]['t'] - server.requests[0]['t'] >= 0.4
    server.requests.clear(); server.headers = [('x-ratelimit-remaining-tokens', '0'), ('x-ratelimit-reset-tokens', '300ms')]
    make(server, tmp_path, batch_size=1, concurrency=1)(['two', 'three'])
    assert server.requests[1]['t'] - server.requests[0]['t'] >= 0.3  # the server said its token budget was spent until the reset


def test_429_forever_gives_up_naming_the_limit_and_keeps_the_cache(server, key, tmp_path):
    texts = [f'guidance {i}' for i in range(6)]
    make(server, tmp_path)(texts[:3])  # cached
    server.always = (429, [('retry-after-ms', '200'), ('x-ratelimit-limit-tokens', '1000000')])
    t = time.monotonic()
    with pytest.raises(FinannError) as e: make(server, tmp_path, rate_limit_timeout=1)(texts)
    msg = str(e.value)
    assert time.monotonic() - t < 10 and '\n' not in msg
    assert 'kept answering 429 (rate limit)' in msg and 'rate_limit_timeout=1 s' in msg and 'tokens=1000000' in msg and 'tokens_per_minute=' in msg
    server.always = None; server.requests.clear()
    emb = make(server, tmp_path)
    emb(texts)
    assert sorted(server.inputs()) == texts[3:] and emb.last_stats['cached'] == 3


def test_killed_run_resumes_with_only_the_missing_texts(server, key, tmp_path):
    "The encoder is killed (SIGKILL) just after the third request's vectors are committed; the next run sends only the rest."
    import subprocess, sys
    texts = [f'quarter {i} margin {i % 5}' for i in range(40)]
    code = (f"from finann.embedding import OpenAIEmbedding\n"
            f"OpenAIEmbedding(model='test-embed', base_url={server.url!r}, cache_dir={str(tmp_path / 'cache')!r}, show_progress_bar=False,"
            f" max_length=50, batch_size=4, concurrency=2)({texts!r})")
    env = {**__import__('os').environ, 'FINANN_FAULT': 'cache.after_keys@3'}
    r = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == -9, r.stderr[-2000:]
    first = server.inputs(); server.requests.clear()
    emb = make(server, tmp_path, batch_size=4, concurrency=2)
    v = emb(texts)
    np.testing.assert_allclose(v, np.stack([fake_vector(t) for t in texts]), atol=1e-6)
    cached = emb.last_stats['cached']
    assert cached >= 12 and cached + len(server.inputs()) == 40  # three requests' texts survived; nothing cached was sent again
    assert not set(server.inputs()) & set(t for t in first if t not in server.inputs()) - set(texts)
