"Preloaded splits (`collator.preload(ds)`, what the task hands the Trainer) change nothing but speed: same batches, weights, logs and metrics as rows."
import tempfile
import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import TrainingArguments
from finann.collator import (CollatorForBinaryClassification, CollatorForClassificationWithNeutral, CollatorForRegression,
                             PreloadedEvents, column_array)
from finann.model import MLPModelConfig, MLPModelForTokenClassification, MLPModelForMSELoss
from finann.trainer import RandomSamplerTrainer, SequentialTrainer, compute_metrics


def events(n=300, n_texts=40, seed=0, market=False):
    rng = np.random.default_rng(seed)
    cols = {'text_id': rng.integers(0, n_texts, n), 'd+1_open': rng.uniform(10, 20, n)}
    cols['d+3_close'] = cols['d+1_open'] * (1 + 0.05 * rng.standard_normal(n))
    if market:
        cols['market_d+1_open'] = np.full(n, 100.0); cols['market_d+3_close'] = 100 * (1 + 0.01 * rng.standard_normal(n))
    return Dataset.from_dict(cols), rng.standard_normal((n_texts, 16)).astype(np.float32)


def train(trainer_cls, collator, ds, model_cls=MLPModelForTokenClassification, preload=True, **kw):
    "Train on `collator.preload(ds)`, or (`preload=False`) on the `datasets` rows, which the collator batches row by row."
    torch.manual_seed(0)
    model = model_cls(MLPModelConfig(hidden_size=16, intermediate_size=32, num_labels=collator.num_labels))
    args = TrainingArguments(tempfile.mkdtemp(), max_steps=12, per_device_train_batch_size=32, per_device_eval_batch_size=64, logging_steps=4,
                             save_strategy='no', report_to=[], use_cpu=True, remove_unused_columns=False, disable_tqdm=True, seed=0, **kw)
    split = collator.preload(ds) if preload else ds
    t = trainer_cls(model=model, args=args, train_dataset=split, eval_dataset=split, data_collator=collator, compute_metrics=compute_metrics)
    t.train()
    return t, torch.cat([p.detach().flatten() for p in t.model.parameters()])


@pytest.mark.parametrize('trainer_cls', [SequentialTrainer, RandomSamplerTrainer])
def test_preloaded_batches_train_exactly_like_rows(trainer_cls):
    ds, vecs = events()
    col = CollatorForBinaryClassification().attach(vecs)
    fast, w_fast = train(trainer_cls, col, ds)
    slow, w_slow = train(trainer_cls, col, ds, preload=False)
    assert isinstance(fast.get_train_dataloader().dataset, PreloadedEvents)
    assert isinstance(slow.get_train_dataloader().dataset, Dataset)
    assert torch.equal(w_fast, w_slow)  # bit for bit: same batches, same order
    logs = lambda t: [{k: v for k, v in l.items() if k not in ('train_runtime', 'train_samples_per_second', 'train_steps_per_second', 'eval_runtime',
                                                              'eval_samples_per_second', 'eval_steps_per_second')} for l in t.state.log_history]
    assert logs(fast) == logs(slow)  # loss, grad norm, train accuracy
    assert fast.evaluate()['eval_accuracy'] == slow.evaluate()['eval_accuracy']
    np.testing.assert_array_equal(fast.predict(col.preload(ds)).predictions, slow.predict(ds).predictions)
    np.testing.assert_array_equal(fast.predict(col.preload(ds)).label_ids, col.dataset_labels(ds))


def test_three_classes_and_regression_preload_their_labels():
    ds, vecs = events(market=True)
    three = CollatorForClassificationWithNeutral(band=0.02).attach(vecs)
    np.testing.assert_array_equal(three.preload(ds).labels.numpy(), three.dataset_labels(ds))
    ab = CollatorForRegression(target='abnormal').attach(vecs)
    pre = ab.preload(ds)
    assert pre.labels.dtype == torch.float32
    rows = [ds[i] for i in range(5)]
    torch.testing.assert_close(ab(pre.__getitems__(list(range(5))))['labels'], ab(rows)['labels'])
    t, _ = train(SequentialTrainer, ab, ds, model_cls=MLPModelForMSELoss)
    assert 'eval_direction_accuracy' in t.evaluate()


def test_column_array_matches_python_access():
    ds, _ = events(n=50)
    for d in (ds, ds.select(np.arange(49, -1, -3)), ds.filter(lambda r: r['text_id'] % 2 == 0), ds.shuffle(seed=1)):
        for c in ('text_id', 'd+1_open'):
            np.testing.assert_array_equal(column_array(d, c), np.asarray(list(d[c])))
    assert np.isnan(column_array(Dataset.from_dict({'p': [1.0, None]}), 'p')[1])


def test_preload_rejects_bad_prices_for_the_whole_split():
    ds = Dataset.from_dict({'text_id': [0, 1], 'd+1_open': [10.0, -1.0], 'd+3_close': [11.0, 9.0]})
    with pytest.raises(Exception, match='non-positive price'): CollatorForBinaryClassification().attach(np.eye(2)).preload(ds)
