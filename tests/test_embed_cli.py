"`finann-embed`: embed and cache a config's texts without training, its --dry-run, progress events, and bad input, run as a user would."
import json, subprocess, threading
from pathlib import Path
import pytest
from conftest import BIN, ROOT, run_cmd
from test_embedding_openai import FakeServer

TINY = ['dataset.config.n_tickers=3', 'dataset.config.start_year=2016', 'dataset.config.end_year=2019']  # 48 events: 3 × 4 years × 4


def embed(tmp_path, *options, dry=False, cfg='configs/default.yml', **env):
    cmd = [str(BIN / 'finann-embed'), '--cfg-path', cfg, '--options', f'trainer.output_dir={tmp_path / "run"}', *TINY, *options]
    return run_cmd(cmd + ['--dry-run'] * dry, tmp_path, timeout=300, **env)


def embed_here(tmp_path, monkeypatch, capsys, *options, dry=False, **env):
    "The same command in this process (its imports are paid once): (exit status, stdout, stderr)."
    from finann.cli import embed_main
    monkeypatch.setenv('FINANN_CACHE', str(tmp_path / 'cache'))
    for k, v in env.items(): monkeypatch.setenv(k, v)
    rc = embed_main(['--cfg-path', 'configs/default.yml', '--options', f'trainer.output_dir={tmp_path / "run"}', *TINY, *options] + ['--dry-run'] * dry)
    out, err = capsys.readouterr()
    return rc, out, err


def error_line(stderr: str) -> str:
    "The one error line (the log above it says what was built); never a traceback."
    assert 'Traceback' not in stderr, stderr[-2000:]
    lines = [l for l in stderr.strip().splitlines() if l.startswith('finann-embed:')]
    assert len(lines) == 1 and lines[0] == stderr.strip().splitlines()[-1], stderr[-2000:]
    return lines[0]


def counts(stdout: str) -> dict:
    "The dry run's lines as {label: text}."
    return {l[:24].strip(): l[24:].strip() for l in stdout.splitlines() if l.startswith('  ')}


def openai_options(server, **kw):
    opts = {'embedding.cls_name': 'OpenAIEmbedding', 'embedding.config': '{}', 'embedding.config.model': 'text-embedding-3-small',
            'embedding.config.base_url': server.url, 'embedding.config.dimensions': 16, 'embedding.config.batch_size': 8, **kw}
    return [f'{k}={v}' for k, v in opts.items()]


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


def test_dry_run_then_embed_then_nothing_left(tmp_path, monkeypatch, capsys):
    rc, out, err = embed_here(tmp_path, monkeypatch, capsys, dry=True)
    assert rc == 0, err[-2000:]
    c = counts(out)
    assert c['unique texts'] == '48' and c['already cached'] == '0' and c['to embed'] == '48' and int(c['tokens to embed'].replace(',', '')) > 48 * 50
    assert 'estimated cost' not in c  # a local encoder costs nothing
    p = embed(tmp_path)  # the installed command
    assert p.returncode == 0, p.stderr[-2000:]
    assert '48 unique: 0 were cached, 48 encoded' in p.stdout
    assert not (tmp_path / 'run' / 'model.safetensors').exists()  # no training
    c = counts(embed_here(tmp_path, monkeypatch, capsys, dry=True)[1])
    assert (c['already cached'], c['to embed'], c['tokens to embed']) == ('48', '0', '0')


def test_openai_dry_run_prices_the_tokens_and_embed_writes_progress(server, tmp_path, monkeypatch, capsys):
    env = {'OPENAI_API_KEY': 'sk-test'}
    rc, out, err = embed_here(tmp_path, monkeypatch, capsys, *openai_options(server), dry=True, **env)
    assert rc == 0, err[-2000:]
    c = counts(out)
    tokens = int(c['tokens to embed'].replace(',', ''))
    assert tokens > 48 * 100 and not server.requests  # counted here, nothing sent
    assert c['estimated cost'] == f"${tokens * 0.02 / 1e6:,.2f} at $0.02 per 1M tokens (OpenAI's price of 2024-01-25)"
    c = counts(embed_here(tmp_path, monkeypatch, capsys, *openai_options(server, **{'embedding.config.price_per_million_tokens': 1000}), dry=True, **env)[1])
    assert c['estimated cost'] == f"${tokens * 1000 / 1e6:,.2f} at $1000 per 1M tokens (embedding.config.price_per_million_tokens)"
    p = embed(tmp_path, *openai_options(server), **env)
    assert p.returncode == 0, p.stderr[-2000:]
    assert sum(r['tokens'] for r in server.requests) == tokens  # the dry run counted what was sent
    ev = [json.loads(l) for l in (tmp_path / 'run' / 'progress.jsonl').read_text().splitlines()]
    ev = [e for e in ev if e['event'] == 'embed']
    assert set(ev[-1]) == {'t', 'event', 'done', 'total', 'tokens', 'tokens_total', 'eta_s'}
    assert (ev[0]['done'], ev[-1]['done'], ev[-1]['total'], ev[-1]['tokens'], ev[-1]['tokens_total']) == (0, 48, 48, tokens, tokens)
    c = counts(embed_here(tmp_path, monkeypatch, capsys, *openai_options(server), dry=True, **env)[1])
    assert (c['already cached'], c['to embed'], c['estimated cost'][:5]) == ('48', '0', '$0.00')


def test_rate_limit_of_zero_is_one_line(server, tmp_path, monkeypatch, capsys):
    for key in ('tokens_per_minute', 'requests_per_minute'):
        rc, out, err = embed_here(tmp_path, monkeypatch, capsys, *openai_options(server, **{f'embedding.config.{key}': -1 if key[0] == 'r' else 0}), OPENAI_API_KEY='sk-test')
        assert rc == 2 and not server.requests
        line = error_line(err)
        assert line.startswith('finann-embed: error: configs/default.yml:') and f'embedding.config.{key}' in line and 'greater than 0' in line, line


def test_429_forever_gives_up_naming_the_limit_and_keeps_what_was_cached(server, tmp_path, monkeypatch, capsys):
    env = {'OPENAI_API_KEY': 'sk-test'}
    # the first 3 requests succeed, then the server answers 429 forever
    real = server.requests
    def throttle():
        while len(real) < 3: threading.Event().wait(0.01)
        server.always = (429, [('retry-after-ms', '100'), ('x-ratelimit-limit-tokens', '40000')])
    threading.Thread(target=throttle, daemon=True).start()
    rc, out, err = embed_here(tmp_path, monkeypatch, capsys, *openai_options(server, **{'embedding.config.rate_limit_timeout': 2, 'embedding.config.concurrency': 1}), **env)
    assert rc == 2, out[-2000:]
    line = error_line(err)
    assert 'kept answering 429 (rate limit)' in line and 'rate_limit_timeout=2 s' in line and 'tokens=40000' in line, line
    c = counts(embed_here(tmp_path, monkeypatch, capsys, *openai_options(server), dry=True, **env)[1])
    assert int(c['already cached']) >= 8 and int(c['already cached']) + int(c['to embed']) == 48  # the requests that succeeded are cached


def test_token_budget_smaller_than_a_text_is_not_an_error(tmp_path, monkeypatch, capsys):
    opts = ['embedding.cls_name=SentenceTransformerEmbedding', 'embedding.config={}', 'embedding.config.max_batch_tokens=16',
            'embedding.config.max_length=64', 'embedding.config.long_text=truncate']  # one window of up to 64 tokens a text, for speed
    rc, out, err = embed_here(tmp_path, monkeypatch, capsys, *opts)
    assert rc == 0, err[-2000:]
    assert '48 encoded' in out  # every window longer than the budget: a forward pass each
    assert '48 unique: 0 were cached' in out


def test_dry_run_of_a_missing_model_folder_is_one_line(tmp_path, monkeypatch, capsys):
    opts = ['embedding.cls_name=HFEmbedding', 'embedding.config={}', f'embedding.config.model_name_or_path={tmp_path / "no-such-model"}']
    rc, out, err = embed_here(tmp_path, monkeypatch, capsys, *opts, dry=True)
    assert rc == 2
    line = error_line(err)
    assert line == (f"finann-embed: error: configs/default.yml: HFEmbedding: could not load '{tmp_path / 'no-such-model'}': "
                    "model_name_or_path is not a folder, nor a model in the local Hugging Face cache")


def test_torchrun_ranks_split_the_texts(tmp_path, monkeypatch, capsys):
    cmd = [str(BIN / 'torchrun'), '--standalone', '--nproc_per_node=2', '-m', 'finann.cli', 'embed', '--cfg-path', 'configs/default.yml',
           '--options', f'trainer.output_dir={tmp_path / "run"}', *TINY]
    p = run_cmd(cmd, tmp_path, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.count('finann-embed:') == 1 and '48 unique: 0 were cached, 24 encoded' in p.stdout  # rank 0 encoded its half
    c = counts(embed_here(tmp_path, monkeypatch, capsys, dry=True)[1])
    assert (c['already cached'], c['to embed']) == ('48', '0')
