"The embedding cache under stress: writers killed with SIGKILL, several ranks under real torchrun, changed encoders."
import json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest
from conftest import BIN, ROOT, run_env
from finann.embedding import EmbeddingCache, HashingEmbedding

ROWS, DIM = 20_000, 256  # 20 MB a shard: a kill right after 'WRITING' lands inside the write

WRITER = f"""
import sys, numpy as np
from finann.embedding import EmbeddingCache
c = EmbeddingCache(sys.argv[1], {{'cls': 'KillTest'}})
i = int(sys.argv[2])
while True:
    keys = np.frombuffer(np.random.default_rng(i).bytes(16 * {ROWS}), dtype='S16')
    vecs = np.full(({ROWS}, {DIM}), i, dtype=np.float32)
    vecs[:, 1] = np.arange({ROWS})  # row j of shard i holds i everywhere but column 1, which holds j
    print('WRITING', i, flush=True)
    c.put(keys, vecs, compact=False)
    print('DONE', i, flush=True)
    i += 1
"""


def shard_keys(i): return np.frombuffer(np.random.default_rng(i).bytes(16 * ROWS), dtype='S16')


def test_writer_killed_mid_write_leaves_a_readable_cache(tmp_path):
    folder, done, started, torn = tmp_path / 'cache', [], [], 0
    for attempt, delay in enumerate([0.0, 0.002, 0.005, 0.01]):
        p = subprocess.Popen([sys.executable, '-c', WRITER, str(folder), str(1000 * attempt)], stdout=subprocess.PIPE, text=True,
                             env=run_env(tmp_path))
        while True:  # let three shards complete, then kill the process while it writes the fourth
            line = p.stdout.readline()
            assert line, 'the writer died'
            if line.startswith('WRITING') and int(line.split()[1]) == 1000 * attempt + 3: break
        time.sleep(delay)
        os.kill(p.pid, signal.SIGKILL)
        lines = p.communicate()[0].splitlines() + [line]
        done += [int(x.split()[1]) for x in lines if x.startswith('DONE')] + list(range(1000 * attempt, 1000 * attempt + 3))
        started.append(1000 * attempt + 3)
        sub = next(folder.iterdir())
        torn += any(f.name.endswith('.tmp') for f in sub.iterdir())
    assert torn, 'no kill landed inside a write'
    c = EmbeddingCache(folder, {'cls': 'KillTest'})
    for k in c.shard_names():  # every visible shard is whole
        keys, vecs = np.load(k), np.load(str(k).replace('.keys.npy', '.vecs.npy'))
        assert keys.shape == (ROWS,) and vecs.shape == (ROWS, DIM)
    assert len(c) == ROWS * len(c.shard_names())
    for i in sorted(set(done) | set(started)):
        found, v = c.get(shard_keys(i)[::97])
        assert found.all() if i in done else (found.all() or not found.any())  # whole shards only
        if found.any():
            np.testing.assert_array_equal(v[:, 1], np.arange(0, ROWS, 97))  # no torn rows: every value is right
            assert (np.delete(v, 1, axis=1) == i).all()
    c.compact(orphan_age_s=0)  # merges, and sweeps what the kills left
    assert len(c.shard_names()) == 1 and not [f for f in c.folder.iterdir() if f.name.endswith('.tmp')]
    assert len(c) == ROWS * len(set(done) | {i for i in started if c.get(shard_keys(i)[:1])[0].all()})


def test_lookups_do_not_need_every_key_in_memory(tmp_path):
    c = EmbeddingCache(tmp_path, {'cls': 'Big'})
    n = 400_000
    keys = np.random.default_rng(0).bytes(16 * n)
    keys = np.frombuffer(keys, dtype='S16')
    c.put(keys, np.broadcast_to(np.arange(n, dtype=np.float32)[:, None], (n, 4)), compact=False)
    q = np.concatenate([keys[::1000], np.frombuffer(np.random.default_rng(1).bytes(16 * 10), dtype='S16')])
    t = time.time()
    found, v = c.get(q)
    assert time.time() - t < 2
    assert found[:400].all() and not found[400:].any()
    np.testing.assert_array_equal(v[:, 0], np.arange(0, n, 1000))


def torchrun(tmp_path, cache, out, mode):
    out.mkdir(parents=True, exist_ok=True)
    p = subprocess.run([str(BIN / 'torchrun'), '--standalone', '--nproc_per_node=2', str(ROOT / 'tests' / 'embedding_ddp_worker.py'),
                        str(cache), str(out), mode], cwd=ROOT, env=run_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return [json.loads((out / f'rank{r}.json').read_text()) for r in (0, 1)], [np.load(out / f'rank{r}.npy') for r in (0, 1)]


def test_torchrun_ranks_split_the_work_and_share_the_vectors(tmp_path):
    stats, vecs = torchrun(tmp_path, tmp_path / 'c', tmp_path / 'run1', 'together')
    single = HashingEmbedding(n_features=128, cache_dir=str(tmp_path / 'single'), show_progress_bar=False)
    texts = [f"call {i}: revenue {'beat' if i % 3 else 'missed'} by {i % 17} cents" for i in range(301)]
    texts += texts[:40]
    ref = single(texts)
    assert single.last_stats['encoded'] == 301
    assert sorted(s['encoded'] for s in stats) == [150, 151]  # each rank about half, together all of them
    for v in vecs: np.testing.assert_allclose(v, ref, atol=1e-7)
    stats, vecs = torchrun(tmp_path, tmp_path / 'c', tmp_path / 'run2', 'together')
    assert [s['encoded'] for s in stats] == [0, 0] and all(s['cached'] == 301 for s in stats)
    for v in vecs: np.testing.assert_allclose(v, ref, atol=1e-7)


def test_torchrun_with_main_process_first_neither_hangs_nor_loses_texts(tmp_path):
    "Rank 0 embeds while rank 1 waits at a barrier (the Trainer's `main_process_first`): slower, but complete."
    stats, vecs = torchrun(tmp_path, tmp_path / 'c', tmp_path / 'run', 'main_first')
    assert sum(s['encoded'] for s in stats) >= 301
    np.testing.assert_allclose(vecs[0], vecs[1], atol=1e-7)
    assert np.abs(np.linalg.norm(vecs[0], axis=1) - 1).max() < 1e-5


def test_changed_encoder_never_reads_old_vectors(tmp_path):
    a = HashingEmbedding(n_features=32, cache_dir=str(tmp_path), show_progress_bar=False)
    b = HashingEmbedding(n_features=32, ngram_max=1, cache_dir=str(tmp_path), show_progress_bar=False)
    a(['revenue beat expectations'])
    b(['revenue beat expectations'])
    assert b.last_stats['encoded'] == 1 and a.cache().folder != b.cache().folder
    assert json.loads((b.cache().folder / 'identity.json').read_text())['ngram_max'] == 1
