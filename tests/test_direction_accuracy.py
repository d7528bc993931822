"""One definition of direction accuracy: what wandb logs during training and what report.md says agree, on data with zero moves
(where `sign(y) == sign(p)` and `(y > 0) == (p > 0)` differ)."""
import json
import numpy as np
import pandas as pd
from conftest import BIN, ROOT, run_cmd


def wandb_history(path):
    "The history rows of an offline wandb run file, read with wandb's own protobuf `Record` (the file is a LevelDB-style log: 32 KiB blocks, 7-byte record headers)."
    import json, struct
    from wandb.proto import wandb_internal_pb2
    raw, rows, pos, buf = open(path, 'rb').read(), [], 7, b''  # 7: the ':W&B' magic, a 2-byte id and the version
    while pos + 7 <= len(raw):
        left = 32768 - pos % 32768
        if left < 7: pos += left; continue  # a block's tail too short for a header is padding
        _crc, n, kind = struct.unpack('<IHB', raw[pos:pos + 7])
        buf += raw[pos + 7:pos + 7 + n]; pos += 7 + n
        if kind in (1, 4):  # FULL or LAST: a whole record
            rec = wandb_internal_pb2.Record(); rec.ParseFromString(buf); buf = b''
            if rec.WhichOneof('record_type') == 'history':
                rows.append({(i.key or '/'.join(i.nested_key)): json.loads(i.value_json) for i in rec.history.item})
    return rows


def events_with_zero_moves(path, n=400, seed=0):
    "Events in the schema LocalTranscriptBuilder reads: the text says up or down, and a quarter of the moves are exactly 0."
    rng = np.random.default_rng(seed)
    days = pd.bdate_range('2015-01-01', periods=n, freq='B')
    move = rng.normal(0, 0.03, n)
    move[rng.random(n) < 0.25] = 0.0  # the price ends where it started
    words = np.where(move > 0, 'beat raised strong', 'miss cut weak')
    noisy = np.where(rng.random(n) < 0.3, 'guidance unchanged', words)
    df = pd.DataFrame({'text': [f"{w} quarter {i % 17}" for i, w in enumerate(noisy)], 'ticker': [f"T{i % 7}" for i in range(n)],
                       'event_start_at_et': days.strftime('%Y-%m-%d 16:30:00.000')})
    for k in (1, 2, 3):
        df[f'd+{k}_open'] = 100.0
        df[f'd+{k}_close'] = 100.0 * (1 + move) if k == 3 else 100.0
    df.to_parquet(path)
    return move


def test_wandb_and_report_agree_on_direction_accuracy(tmp_path):
    move = events_with_zero_moves(tmp_path / 'events.parquet')
    assert (move == 0).mean() > 0.2
    out = tmp_path / 'run'
    opts = ['dataset.cls_name=LocalTranscriptBuilder', f'dataset.config={{path: {tmp_path / "events.parquet"}, val_start: "2016-01-01", test_start: "2016-04-01"}}',
            'collator.cls_name=CollatorForRegression', 'model.model_cls_name=MLPModelForMSELoss', 'embedding.config.n_features=256',
            f'trainer.output_dir={out}', 'trainer.num_train_epochs=2', 'trainer.report_to=[wandb]', 'evaluator.n_boot=0',
            f'embedding.config.cache_dir={tmp_path / "cache"}']
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', '--options', *opts], tmp_path, WANDB_MODE='offline')
    assert p.returncode == 0, p.stderr[-3000:]
    report = json.loads((out / 'report.json').read_text())
    runs = list((out / 'wandb').glob('offline-run-*/*.wandb'))
    assert len(runs) == 1, runs
    logged = [r['eval/direction_accuracy'] for r in wandb_history(runs[0]) if 'eval/direction_accuracy' in r]
    assert len(logged) == 2  # one evaluation per epoch
    assert logged[-1] == report['val']['model']['direction_accuracy']  # the last evaluation is of the final model, on val
    md = (out / 'report.md').read_text()
    assert f"{logged[-1]:.3f}" in md.split('## val')[1].split('## test')[0]
    preds = pd.read_parquet(out / 'predictions.parquet').query("split == 'val'")
    y, p_ = preds['label'].to_numpy(), preds['y_hat'].to_numpy()
    assert (y == 0).any()  # the case where the two old definitions disagreed is present
    assert report['val']['model']['direction_accuracy'] == float(np.mean((y > 0) == (p_ > 0)))
    assert report['val']['model']['direction_accuracy'] != float(np.mean(np.sign(y) == np.sign(p_)))
