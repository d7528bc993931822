"The verdict against the best baseline, end to end: console, metrics.json, report.md, and `finann-eval --run` from the table alone."
import json, re, sys
from conftest import BIN, run_cmd


def test_run_prints_and_writes_the_verdict_against_the_best_val_baseline(small_run, tmp_path):
    p, out = small_run
    assert p.returncode == 0, p.stderr[-3000:]
    m = json.loads((out / 'metrics.json').read_text())
    val_best = max(m['val']['baselines'], key=lambda b: m['val']['baselines'][b]['accuracy'])
    md = (out / 'report.md').read_text()
    for split in ('val', 'test'):
        v = m[split]['verdict']
        assert next(iter(m[split])) == 'verdict' and v['baseline'] == val_best and v['chosen_on'] == 'val'
        assert abs(v['diff'] - (m[split]['model']['accuracy'] - m[split]['baselines'][val_best]['accuracy'])) < 1e-9
        assert v['lo'] <= v['diff'] <= v['hi'] and v['outcome'] in ('better', 'worse', 'not distinguishable')
        line = re.escape(f"accuracy: model {m[split]['model']['accuracy']:.3f} vs {val_best} ")
        assert re.search(rf"^{split}: {line}.*(better|worse|not distinguishable) \(p [=<] ", p.stdout, re.M), p.stdout[-2000:]
        # the first line under the split's heading is the verdict
        after = md.split(f"## {split} (")[1].splitlines()
        assert after[2] == f"**Verdict**: {v['line']}", after[:3]
    e = run_cmd([str(BIN / 'finann-eval'), '--run', str(out), '--output-dir', str(tmp_path / 'again')], tmp_path)
    assert e.returncode == 0, e.stderr[-3000:]
    again = json.loads((tmp_path / 'again' / 'report.json').read_text())
    assert [again[s]['verdict'] for s in ('val', 'test')] == [m[s]['verdict'] for s in ('val', 'test')]
    assert f"test: {m['test']['verdict']['line']}" in e.stdout


def test_the_model_is_better_than_every_linear_baseline_where_the_signal_is_an_interaction(tmp_path):
    "On synthetic calls whose direction is an XOR of results and outlook (signal_form 'interaction'), no linear baseline reads the text and the MLP must: the verdict says better."
    from conftest import SMALL
    out = tmp_path / 'run'
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', 'configs/default.yml', '--options', f'trainer.output_dir={out}', *SMALL,
                 'dataset.config.signal_form=interaction', 'dataset.config.signal_strength=0.9', 'trainer.learning_rate=3e-3',
                 'trainer.per_device_train_batch_size=32'], tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    m = json.loads((out / 'metrics.json').read_text())
    assert max(b['accuracy'] for b in m['test']['baselines'].values()) < 0.56, m['test']['baselines']
    v = m['test']['verdict']
    assert v['outcome'] == 'better' and v['p'] < 0.01, v['line']
