"The embedding cache under stress: writers killed with SIGKILL, several ranks under real torchrun, changed encoders."
import json, signal, subprocess, sys
import numpy as np
import pytest
from conftest import BIN, ROOT, run_env
from finann.embedding import EmbeddingCache, HashingEmbedding

ROWS, DIM = 2_000, 16

# writes shards start, start+1, ... start+4; FINANN_FAULT=<point>@4 kills it at <point> while it writes the fourth
WRITER = f"""
import sys, numpy as np
from finann.embedding import EmbeddingCache
c = EmbeddingCache(sys.argv[1], {{'cls': 'KillTest'}})
for i in range(int(sys.argv[2]), int(sys.argv[2]) + 5):
    keys = np.frombuffer(np.random.default_rng(i).bytes(16 * {ROWS}), dtype='S16')
    vecs = np.full(({ROWS}, {DIM}), i, dtype=np.float32)
    vecs[:, 1] = np.arange({ROWS})  # row j of shard i holds i everywhere but column 1, which holds j
    c.put(keys, vecs, compact=False)
    print('DONE', i, flush=True)
"""
COMPACT = "import sys; from finann.embedding import EmbeddingCache; EmbeddingCache(sys.argv[1], {'cls': 'KillTest'}).compact()"


def shard_keys(i): return np.frombuffer(np.random.default_rng(i).bytes(16 * ROWS), dtype='S16')


def run_py(tmp_path, code, *args, fault=''):
    return subprocess.run([sys.executable, '-c', code, *map(str, args)], capture_output=True, text=True, timeout=120,
                          env=run_env(tmp_path, FINANN_FAULT=fault))


def check_shards(c, whole, absent=()):
    "Every shard in `whole` is found complete with the right values; none of `absent` is found at all."
    for i in whole:
        found, v = c.get(shard_keys(i)[::97])
        assert found.all(), i
        np.testing.assert_array_equal(v[:, 1], np.arange(0, ROWS, 97))  # no torn rows: every value is right
        assert (np.delete(v, 1, axis=1) == i).all()
    for i in absent: assert not c.get(shard_keys(i))[0].any(), i


@pytest.mark.parametrize('point, left', [('cache.in_vectors', '.tmp'), ('cache.after_vectors', '.vecs.npy'), ('cache.after_keys', None)])
def test_writer_killed_mid_write_leaves_a_readable_cache(tmp_path, point, left):
    "SIGKILL at each step of writing the fourth shard: the three before it are whole, the fourth is all there or not there at all."
    folder = tmp_path / 'cache'
    p = run_py(tmp_path, WRITER, folder, 0, fault=f'{point}@4')
    assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
    assert p.stdout.split() == ['DONE', '0', 'DONE', '1', 'DONE', '2']  # killed while writing shard 3, every time
    c = EmbeddingCache(folder, {'cls': 'KillTest'})
    visible = left is None
    assert len(c.shard_names()) == (4 if visible else 3) and len(c) == ROWS * len(c.shard_names())
    for k in c.shard_names():  # every visible shard is whole
        assert np.load(k).shape == (ROWS,) and np.load(str(k).replace('.keys.npy', '.vecs.npy')).shape == (ROWS, DIM)
    check_shards(c, [0, 1, 2, 3] if visible else [0, 1, 2], [] if visible else [3])
    orphans = [f for f in c.folder.iterdir() if left and f.name.endswith(left) and not f.name.replace('.vecs.npy', '.keys.npy') in
               {k.name for k in c.shard_names()}]
    assert len(orphans) == (0 if visible else 1)  # exactly what the point leaves behind
    # the next writer adds to the same cache; compaction merges everything and sweeps what the kill left
    assert run_py(tmp_path, WRITER, folder, 10).returncode == 0
    c.compact(orphan_age_s=0)
    assert len(c.shard_names()) == 1 and sorted(f.name for f in c.folder.iterdir() if not f.name.endswith('.npy')) == ['identity.json']
    assert len(list(c.folder.glob('*.vecs.npy'))) == 1
    whole = [0, 1, 2] + ([3] if visible else []) + list(range(10, 15))
    check_shards(c, whole, [] if visible else [3])
    assert len(c) == ROWS * len(whole)


@pytest.mark.parametrize('point, shards', [('cache.in_compaction', 5), ('cache.after_compaction', 6)])
def test_compaction_killed_midway_loses_nothing(tmp_path, point, shards):
    "SIGKILL while the merged shard is written, or after it is in place but before the old shards go: every vector is still read right."
    folder = tmp_path / 'cache'
    assert run_py(tmp_path, WRITER, folder, 0).returncode == 0
    p = run_py(tmp_path, COMPACT, folder, fault=point)
    assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
    c = EmbeddingCache(folder, {'cls': 'KillTest'})
    assert len(c.shard_names()) == shards  # 5 old ones, plus the merged one once its keys landed
    assert any(f.name.endswith('.tmp') for f in c.folder.iterdir()) == (point == 'cache.in_compaction')
    check_shards(c, range(5))
    c.compact(orphan_age_s=0)
    assert len(c.shard_names()) == 1 and len(c) == 5 * ROWS and not [f for f in c.folder.iterdir() if f.name.endswith('.tmp')]
    check_shards(c, range(5))


def test_lookups_do_not_need_every_key_in_memory(tmp_path):
    "Lookups binary-search the memory-mapped keys: what they allocate depends on the queries, not on the 400,000 keys (6.4 MB)."
    import tracemalloc
    c = EmbeddingCache(tmp_path, {'cls': 'Big'})
    n = 400_000
    keys = np.random.default_rng(0).bytes(16 * n)
    keys = np.frombuffer(keys, dtype='S16')
    c.put(keys, np.broadcast_to(np.arange(n, dtype=np.float32)[:, None], (n, 4)), compact=False)
    q = np.concatenate([keys[::1000], np.frombuffer(np.random.default_rng(1).bytes(16 * 10), dtype='S16')])
    tracemalloc.start()
    try:
        found, v = c.get(q)
        peak = tracemalloc.get_traced_memory()[1]
    finally: tracemalloc.stop()
    assert peak < 1_000_000, peak
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
