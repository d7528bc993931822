"""A damaged cache heals through the real `finann-train`: the damaged entry is named in the run's log and rebuilt alone
(re-embed only its texts, re-build only that split); every other file of the cache is left byte for byte as it was."""
import json
import pytest
import yaml
from conftest import BIN, run_cmd
from test_bad_input import base_config

N_EVENTS = 120  # 3 tickers x 10 years x 4 quarters


def config(tmp_path, run):
    cfg = base_config(tmp_path, {'cls_name': 'SyntheticEarningsCallBuilder', 'config': {'n_tickers': 3, 'val_years': [2017], 'test_years': [2018, 2019]}})
    cfg['embedding']['config'].update(shard_rows=50, batch_size=25)  # 120 texts: three shards of 50, 50 and 20 vectors
    cfg['trainer']['output_dir'] = str(tmp_path / run)
    (tmp_path / f'{run}.yml').write_text(yaml.safe_dump(cfg))
    return tmp_path / f'{run}.yml'


def train(tmp_path, run):
    return run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(config(tmp_path, run))], tmp_path)


@pytest.fixture
def cached(tmp_path):
    "A cache filled by one run: its embedding shards and its dataset's split files."
    p = train(tmp_path, 'first')
    assert p.returncode == 0, p.stderr[-3000:]
    shards = sorted((tmp_path / 'cache' / 'embeddings').rglob('*.vecs.npy'))
    splits = sorted((tmp_path / 'cache' / 'datasets').rglob('*.arrow'))
    assert len(shards) == 3 and len(splits) == 3, (shards, splits)
    return tmp_path


def snapshot(root): return {p: p.read_bytes() for p in root.rglob('*') if p.is_file()}


def truncate(path): b = path.read_bytes(); path.write_bytes(b[:len(b) // 2])


def embedding_stats(tmp_path, run): return json.loads((tmp_path / run / 'metrics.json').read_text())['embedding']


DAMAGE = {'truncated vectors': lambda keys: truncate(keys.with_name(keys.name.replace('.keys.npy', '.vecs.npy'))),
          'keys overwritten': lambda keys: keys.write_bytes(b'not a numpy file')}


@pytest.mark.parametrize('how', list(DAMAGE))
def test_a_damaged_shard_is_named_and_only_its_texts_are_embedded_again(cached, how):
    shards = sorted((cached / 'cache' / 'embeddings').rglob('*.keys.npy'))
    rows = {k: len(__import__('numpy').load(k)) for k in shards}
    damaged = next(k for k in shards if rows[k] == 50)
    DAMAGE[how](damaged)
    before = {p: b for p, b in snapshot(cached / 'cache').items() if damaged.name.split('.')[0] not in p.name}
    p = train(cached, 'second')
    assert p.returncode == 0, p.stderr[-3000:]
    assert f'embedding cache: damaged shard {damaged}' in p.stderr and 'its texts will be embedded again' in p.stderr, p.stderr[-3000:]
    stats = embedding_stats(cached, 'second')
    assert (stats['encoded'], stats['cached']) == (50, N_EVENTS - 50), stats  # only the damaged shard's texts
    after = snapshot(cached / 'cache')
    assert {p: after.get(p) for p in before} == before  # every other file untouched
    assert not damaged.exists()


def test_a_damaged_split_file_is_rebuilt_alone(cached):
    train_file = next((cached / 'cache' / 'datasets').rglob('train.arrow'))
    truncate(train_file)
    before = {p: b for p, b in snapshot(cached / 'cache').items() if p != train_file}
    p = train(cached, 'second')
    assert p.returncode == 0, p.stderr[-3000:]
    assert f'dataset cache: damaged {train_file}' in p.stderr and 'rebuilding the train split only' in p.stderr, p.stderr[-3000:]
    after = snapshot(cached / 'cache')
    assert {p: after.get(p) for p in before} == before  # val, test, the report and the embeddings untouched
    assert embedding_stats(cached, 'second')['cached'] == N_EVENTS  # the rebuilt split holds the same texts
    first, second = (json.loads((cached / r / 'metrics.json').read_text())['train']['n'] for r in ('first', 'second'))
    assert first == second


def test_a_damaged_report_rebuilds_that_dataset_only(cached):
    report = next((cached / 'cache' / 'datasets').rglob('report.json'))
    report.write_text('{"source": ')
    before = {p: b for p, b in snapshot(cached / 'cache' / 'embeddings').items()}
    p = train(cached, 'second')
    assert p.returncode == 0, p.stderr[-3000:]
    assert f'dataset cache: {report} is damaged; rebuilding' in p.stderr, p.stderr[-3000:]
    assert json.loads(report.read_text())['splits'] == {'train': 84, 'val': 12, 'test': 24}
    assert snapshot(cached / 'cache' / 'embeddings') == before
