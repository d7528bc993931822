"Token-budget batches on the packaged MiniLM: the vectors of the fixed-size path and of sentence-transformers, whatever the budget; progress as texts finish."
import numpy as np
import pytest
from finann.embedding import SentenceTransformerEmbedding, packaged_minilm_path
from finann.progress import ProgressLog, read_progress

TWEETS = [f"$ACME {'beats' if i % 2 else 'misses'} — {i} bps {'up' if i % 3 else 'down'} #earnings" + ' more' * (i % 9) for i in range(60)]
CALL = ' '.join(f"In segment {i} revenue grew {i % 13} percent while costs in unit {i} fell on lower freight." for i in range(40))  # ~850 tokens


@pytest.fixture(scope='module')
def encoders(tmp_path_factory):
    d = str(tmp_path_factory.mktemp('cache'))
    make = lambda **kw: SentenceTransformerEmbedding(cache_dir=d, show_progress_bar=False, **kw)
    return make


def test_packed_batches_give_the_fixed_path_vectors(encoders):
    texts = TWEETS[:30] + [CALL, CALL[:900]] + TWEETS[30:]
    fixed = encoders(max_batch_tokens=None, batch_size=32).encode(texts)
    for budget in (64, 1024):  # 64: every 256-token window of the call is over budget, a batch of its own
        np.testing.assert_allclose(encoders(max_batch_tokens=budget).encode(texts), fixed, atol=2e-5)
    assert encoders(max_batch_tokens=1024)._windows([CALL])[1].size > 1  # the call really was read in several windows


def test_truncated_vectors_equal_sentence_transformers_encode(encoders):
    from sentence_transformers import SentenceTransformer
    texts = TWEETS + [CALL]
    ref = SentenceTransformer(packaged_minilm_path(), device='cpu').encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(encoders(long_text='truncate', max_batch_tokens=2048).encode(texts), ref, atol=2e-5)


def test_progress_events_follow_the_texts(encoders, tmp_path):
    emb = encoders(max_batch_tokens=512)
    emb.cache_dir = str(tmp_path / 'fresh')
    texts = TWEETS + [CALL]
    emb.embed_unique(texts, progress=ProgressLog(tmp_path))
    ev = [e for e in read_progress(tmp_path) if e['event'] == 'embed']
    tokens = int(emb.count_tokens(texts).sum())
    assert ev[0]['done'] == 0 and ev[-1]['done'] == len(texts) and ev[-1]['tokens'] == ev[-1]['tokens_total'] == tokens
    assert all(a['done'] <= b['done'] for a, b in zip(ev, ev[1:])) and ev[-1]['eta_s'] == 0
