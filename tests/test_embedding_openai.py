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

    def __init__(self, max_input_tokens: int = 8191):
        self.requests, self.fail_next, self.max_input_tokens = [], [], max_input_tokens
        self.enc = openai_tokenizer('text-embedding-3-large')
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a): pass

            def reply(self, status, body, headers=()):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                for k, v in headers: self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
                server.requests.append({'path': self.path, 'auth': self.headers.get('Authorization'), 'body': body})
                if self.path != '/v1/embeddings': return self.reply(404, {'error': {'message': 'not found'}})
                if server.fail_next:
                    status = server.fail_next.pop(0)
                    return self.reply(status, {'error': {'message': f'scripted {status}', 'type': 'test'}}, [('retry-after-ms', '20')])
                inputs = body['input'] if isinstance(body['input'], list) else [body['input']]
                for t in inputs:
                    if not t: return self.reply(400, {'error': {'message': "'$.input' is invalid: empty string"}})
                    n = len(server.enc.encode_ordinary(t))
                    if n > server.max_input_tokens:
                        return self.reply(400, {'error': {'message': f"This model's maximum context length is {server.max_input_tokens} tokens, however you requested {n} tokens"}})
                dim = body.get('dimensions') or DIM
                vecs = [fake_vector(t, dim) for t in inputs]
                as_b64 = body.get('encoding_format') == 'base64'
                data = [{'object': 'embedding', 'index': i, 'embedding': base64.b64encode(v.tobytes()).decode() if as_b64 else v.tolist()}
                        for i, v in enumerate(vecs)]
                data.reverse()  # the client must order by `index`, not by position
                self.reply(200, {'object': 'list', 'data': data, 'model': body['model'], 'usage': {'prompt_tokens': 0, 'total_tokens': 0}})

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
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
    server.fail_next = [429] * 5
    with pytest.raises(FinannError, match=r'answered 429 .*scripted 429'):
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
