"Bad and unusual input to every local encoder: defined behaviour and one clear line, never a crash."
import numpy as np
import pytest
from finann.config import FinannError
from finann.embedding import HashingEmbedding, HFEmbedding, SentenceTransformerEmbedding

ODD = ['', '   \n\t', '📈📉🚀', 'profit\ud800loss', 'nul\x00byte', '利益が増加した', 'x' * 3]
LONG = ' '.join(f"Paragraph {i}: revenue in segment {i % 7} rose {i % 13} percent on pricing." for i in range(1200))  # ~17k tokens


@pytest.fixture(scope='module')
def hf(tmp_path_factory):
    return HFEmbedding(cache_dir=str(tmp_path_factory.mktemp('c')), show_progress_bar=False)


@pytest.mark.parametrize('make', [lambda d: HashingEmbedding(n_features=64, cache_dir=d, show_progress_bar=False),
                                  lambda d: HFEmbedding(cache_dir=d, show_progress_bar=False),
                                  lambda d: SentenceTransformerEmbedding(cache_dir=d, show_progress_bar=False)])
def test_odd_texts(make, tmp_path):
    emb = make(str(tmp_path))
    v = emb(ODD + [LONG])
    assert v.shape == (len(ODD) + 1, emb.dim) and v.dtype == np.float32 and np.isfinite(v).all()
    assert np.abs(v[:2]).sum() == 0 and emb.last_stats['empty'] == 2           # empty: zero vectors, not encoded
    norms = np.linalg.norm(v[2:], axis=1)
    if isinstance(emb, HashingEmbedding): assert norms[0] == 0 and norms[1:].min() > 0.99  # emoji only: no words, no n-grams
    else: np.testing.assert_allclose(norms, 1, atol=1e-5)                   # everything else: a real vector
    for bad, what in [(None, 'NoneType'), (float('nan'), 'NaN'), (3, 'int'), (b'x', 'bytes')]:
        with pytest.raises(FinannError, match=f'text at position 1 is {what}'): emb(['ok', bad])


def test_long_text_chunk_differs_from_truncate(hf, tmp_path):
    tr = HFEmbedding(long_text='truncate', cache_dir=str(tmp_path), show_progress_bar=False)
    head = LONG[:6000]  # still longer than the 512-token window
    chunk, trunc = hf.encode([LONG])[0], tr.encode([LONG])[0]
    assert np.isclose(np.linalg.norm(chunk), 1, atol=1e-5) and not np.allclose(chunk, trunc, atol=1e-3)
    np.testing.assert_allclose(trunc, tr.encode([head])[0], atol=1e-5)       # only the first window counts
    assert float(chunk @ hf.encode([LONG[len(LONG) // 2:]])[0]) > float(trunc @ hf.encode([LONG[len(LONG) // 2:]])[0])


def test_clear_errors_for_bad_settings(tmp_path):
    with pytest.raises(FinannError, match=r"HFEmbedding: could not load '/no/such/model'"):
        HFEmbedding(model_name_or_path='/no/such/model', cache_dir=str(tmp_path)).encode(['x'])
    with pytest.raises(FinannError, match=r"SentenceTransformerEmbedding: could not load '/no/such/model'"):
        SentenceTransformerEmbedding(model_name_or_path='/no/such/model', cache_dir=str(tmp_path)).encode(['x'])
    with pytest.raises(FinannError, match=r'max_length: 4096 is more than .* can read \(512 tokens\)'):
        HFEmbedding(max_length=4096, cache_dir=str(tmp_path)).encode(['x'])
    with pytest.raises(FinannError, match='leaves no room for text'):
        HFEmbedding(max_length=8, prefix='a very long instruction prefix: ', cache_dir=str(tmp_path)).encode(['x'])


def test_building_is_instant_and_loads_nothing():
    emb = HFEmbedding(pooling='last', torch_dtype='bfloat16')
    assert emb._model is None and emb.identity()['dtype'] == 'bfloat16'
    assert HFEmbedding(name_or_path='/some/where').path == '/some/where'  # the original's key


def test_sentence_transformer_without_a_transformer_module(tmp_path):
    "A static-embedding model has no windows to build: it runs through the model's own `encode`."
    from tokenizers import Tokenizer
    from sentence_transformers import SentenceTransformer
    try: from sentence_transformers.models import StaticEmbedding
    except ImportError: from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from finann.embedding import packaged_minilm_path
    tok = Tokenizer.from_file(packaged_minilm_path() + '/tokenizer.json')
    SentenceTransformer(modules=[StaticEmbedding(tok, embedding_dim=16)], device='cpu').save(str(tmp_path / 'static'))
    emb = SentenceTransformerEmbedding(model_name_or_path=str(tmp_path / 'static'), cache_dir=str(tmp_path / 'c'), show_progress_bar=False)
    v = emb(['revenue beat', '', 'x' * 5000])
    assert v.shape == (3, 16) and emb.dim == 16 and emb._tok is None
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), [1, 0, 1], atol=1e-5)
