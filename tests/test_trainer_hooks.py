"finann's Trainers use transformers' documented extension points only, change no process-wide setting, and log their progress."
import inspect, json, subprocess, sys, tempfile
import numpy as np
import pytest
import torch
import transformers
from datasets import Dataset
from transformers import TrainerCallback, TrainingArguments
from transformers.trainer_callback import CallbackHandler, PrinterCallback, ProgressCallback as HFProgressCallback
import finann.trainer as T
from finann.collator import CollatorForBinaryClassification, CollatorForRegression
from finann.model import MLPModelConfig, MLPModelForMSELoss, MLPModelForTokenClassification
from finann.progress import ProgressLog, read_progress
from conftest import ROOT

SAMPLER_HOOKS = {'_get_train_sampler', '_get_eval_sampler'}  # the only `_`-methods finann may override
PUBLIC_HOOKS = {'compute_loss', 'log', 'get_train_dataloader', 'get_eval_dataloader', 'get_test_dataloader', 'create_optimizer'}


def trainer_classes():
    return [c for _, c in inspect.getmembers(T, inspect.isclass) if issubclass(c, transformers.Trainer) and c is not transformers.Trainer]


def overridden(cls):
    "Names defined by `cls` or its finann bases (not transformers.Trainer or its bases)."
    return {n for k in cls.__mro__ if issubclass(k, transformers.Trainer) and k not in transformers.Trainer.__mro__ for n in vars(k)}


def test_the_registered_trainers_are_covered():
    assert {T.SequentialTrainer, T.RandomSamplerTrainer} <= set(trainer_classes())


@pytest.mark.parametrize('cls', trainer_classes(), ids=lambda c: c.__name__)
def test_no_private_method_of_trainer_is_overridden(cls):
    private = {n for n in overridden(cls) if n.startswith('_') and not (n.startswith('__') and n.endswith('__')) and hasattr(transformers.Trainer, n)}
    assert private <= SAMPLER_HOOKS, f"{cls.__name__} overrides private Trainer methods {sorted(private - SAMPLER_HOOKS)}"
    # nor anything else of HF's loop (training_step, _inner_training_loop, evaluation_loop, ...): only the documented hooks
    public = {n for n in overridden(cls) if not n.startswith('_') and hasattr(transformers.Trainer, n)}
    assert public <= PUBLIC_HOOKS, f"{cls.__name__} overrides {sorted(public - PUBLIC_HOOKS)}"


PROBE = r'''
import json, sys, torch, transformers, accelerate.optimizer, accelerate.utils
from transformers import Trainer
from transformers.trainer_callback import CallbackHandler
def flushes(): return torch.tensor([1e-39]).mul(1.0).item() == 0.0
def snap():
    return {'flush': flushes(), 'threads': torch.get_num_threads(), 'dtype': str(torch.get_default_dtype()), 'grad': torch.is_grad_enabled(),
            'deterministic': torch.are_deterministic_algorithms_enabled(), 'tf32': torch.backends.cuda.matmul.allow_tf32, 'cudnn': torch.backends.cudnn.allow_tf32, 'mkldnn': torch.backends.mkldnn.enabled,
            'matmul_precision': torch.get_float32_matmul_precision(), 'anomaly': torch.is_anomaly_enabled(),
            'lomo': repr(accelerate.optimizer.is_lomo_available), 'lomo_utils': repr(accelerate.utils.is_lomo_available),
            'trainer': {k: repr(v) for k, v in vars(Trainer).items()}, 'handler': {k: repr(v) for k, v in vars(CallbackHandler).items()},
            'set_flush_denormal': repr(torch.set_flush_denormal)}
before = snap()
import finann.trainer, finann.task  # noqa: F401  (the task registers everything, as finann-train does)
after = snap()
print(json.dumps({k: [before[k], after[k]] for k in before if before[k] != after[k]}))
'''


def test_importing_changes_no_torch_or_library_global():
    p = subprocess.run([sys.executable, '-c', PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert json.loads(p.stdout.strip().splitlines()[-1]) == {}


def events(n=48, seed=0):
    rng = np.random.default_rng(seed)
    opens = np.full(n, 10.0)
    closes = opens * (1 + 0.05 * rng.standard_normal(n)); closes[:4] = opens[:4]  # a few zero moves: "not up"
    return Dataset.from_dict({'text_id': rng.integers(0, 20, n), 'd+1_open': opens, 'd+3_close': closes}), rng.standard_normal((20, 8)).astype(np.float32)


def trainer(out, col, ds, cls=T.RandomSamplerTrainer, model_cls=MLPModelForTokenClassification, callbacks=None, **kw):
    torch.manual_seed(0)
    model = model_cls(MLPModelConfig(hidden_size=8, intermediate_size=16, num_labels=col.num_labels))
    args = TrainingArguments(out, **{'num_train_epochs': 2, 'per_device_train_batch_size': 8, 'logging_steps': 2, 'eval_strategy': 'epoch',
                                     'save_strategy': 'no', 'report_to': [], 'use_cpu': True, 'remove_unused_columns': False,
                                     'disable_tqdm': True, 'seed': 0, **kw})
    return cls(model=model, args=args, train_dataset=col.preload(ds), eval_dataset=col.preload(ds), data_collator=col,
               compute_metrics=T.compute_metrics, callbacks=callbacks)


class FlushSeen(TrainerCallback):
    def __init__(self): self.seen = []
    def on_step_end(self, args, state, control, **kw): self.seen.append(T.flushes_subnormals())


def test_subnormals_flushed_while_training_only(tmp_path):
    ds, vecs = events()
    assert not T.flushes_subnormals()
    seen = FlushSeen()
    t = trainer(str(tmp_path), CollatorForBinaryClassification().attach(vecs), ds, callbacks=[seen])
    assert not T.flushes_subnormals()  # __init__ changes nothing
    t.train()
    if torch.set_flush_denormal(False): assert seen.seen and all(seen.seen)  # on CPUs that support it (x86 with SSE3, arm64)
    assert not T.flushes_subnormals()  # restored at the end
    assert type(t.callback_handler) is CallbackHandler


def test_progress_callback_writes_train_and_eval_events(tmp_path):
    ds, vecs = events()
    t = trainer(str(tmp_path), CollatorForBinaryClassification().attach(vecs), ds, callbacks=[T.ProgressCallback(ProgressLog(tmp_path))])
    t.train()
    ev = read_progress(tmp_path)
    train, evals = [e for e in ev if e['event'] == 'train' and 'loss' in e], [e for e in ev if e['event'] == 'eval']
    assert [e['step'] for e in train] == [2, 4, 6, 8, 10, 12] and all(e['max_steps'] == 12 for e in train)
    end = [e for e in ev if e['event'] == 'train' and 'loss' not in e]  # the end-of-training summary: the last step and the mean loss
    assert len(end) == 1 and end[0]['step'] == end[0]['max_steps'] == 12 and end[0]['train_loss'] > 0
    for e in train: assert {'epoch', 'loss', 'train_accuracy', 'learning_rate', 'grad_norm'} <= e.keys() and 0 <= e['train_accuracy'] <= 1
    assert [e['step'] for e in evals] == [6, 12] and [e['epoch'] for e in evals] == [1.0, 2.0]
    assert {'eval_loss', 'eval_accuracy', 'eval_f1_macro'} <= evals[-1]['metrics'].keys() and 'epoch' not in evals[-1]['metrics']
    assert evals[-1]['metrics']['eval_accuracy'] == t.evaluate()['eval_accuracy']


def test_progress_callback_without_a_log_writes_nothing(tmp_path):
    ds, vecs = events()
    trainer(str(tmp_path), CollatorForBinaryClassification().attach(vecs), ds, callbacks=[T.ProgressCallback(None)]).train()
    assert read_progress(tmp_path) == []


@pytest.mark.parametrize('col, model_cls, key', [(CollatorForBinaryClassification(), MLPModelForTokenClassification, 'eval_accuracy'),
                                                 (CollatorForRegression(), MLPModelForMSELoss, 'eval_direction_accuracy')], ids=['classes', 'regression'])
def test_train_accuracy_is_the_eval_metric(tmp_path, col, model_cls, key):
    "With the weights fixed (lr 0), one epoch's train_accuracy is the evaluation's accuracy on the same events: one definition."
    ds, vecs = events()
    t = trainer(str(tmp_path), col.attach(vecs), ds, cls=T.SequentialTrainer, model_cls=model_cls, learning_rate=0.0, logging_steps=6, num_train_epochs=1)
    t.train()
    acc = [l['train_accuracy'] for l in t.state.log_history if 'loss' in l]
    assert acc == [round(t.evaluate()[key], 4)]


def test_console_is_a_bar_and_one_table_per_evaluation(tmp_path, capsys):
    ds, vecs = events()
    col = CollatorForBinaryClassification().attach(vecs)
    quiet = trainer(str(tmp_path), col, ds)
    assert not any(isinstance(c, (PrinterCallback, HFProgressCallback, T.ConsoleCallback)) for c in quiet.callback_handler.callbacks)
    t = trainer(str(tmp_path), col, ds, disable_tqdm=False)
    assert not any(isinstance(c, (PrinterCallback, HFProgressCallback)) for c in t.callback_handler.callbacks)
    assert sum(isinstance(c, T.ConsoleCallback) for c in t.callback_handler.callbacks) == 1
    capsys.readouterr(); t.train(); out = capsys.readouterr()
    assert "{'" not in out.out + out.err  # no raw dicts
    tables = [l for l in out.out.splitlines() if l.startswith('eval · epoch')]
    assert len(tables) == 2 and 'loss=' in out.err and 'acc=' in out.err  # the bar's postfix (tqdm writes to stderr)
    head, vals = out.out.splitlines()[out.out.splitlines().index(tables[-1]) + 1:][:2]
    assert head.split()[:2] == ['loss', 'accuracy'] and len(head) == len(vals) and all(len(v.split('.')[-1]) == 3 for v in vals.split())


def test_finann_collator_needs_its_columns(tmp_path):
    ds, vecs = events()
    with pytest.raises(ValueError, match='remove_unused_columns=False'):
        trainer(str(tmp_path), CollatorForBinaryClassification().attach(vecs), ds, remove_unused_columns=True)
