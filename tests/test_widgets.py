"The launcher widget driven from Python as a user would: set fields, click Launch or Stop, read what it shows."
import json, os, time
import pytest
from conftest import ROOT
from finann.progress import PHASES, read_progress
from finann.runs import latest_checkpoint
from finann.widgets import Launcher

SMALL = 'dataset.config.n_tickers=100\nevaluator.n_boot=200'  # 4,000 events instead of 8,000; fewer bootstrap resamples


@pytest.fixture(scope='module')
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp('cache')


@pytest.fixture
def launcher(tmp_path, cache):
    "A launcher on the project's configs whose runs go to tmp_path, offline, with a private embedding cache."
    env = {'FINANN_CACHE': str(cache), 'WANDB_MODE': 'offline', 'HF_HUB_OFFLINE': '1', 'OMP_NUM_THREADS': '1'}
    la = Launcher(ROOT, output_root=tmp_path / 'outputs', env=env)
    yield la
    la.stop(timeout=5)


def one_line_error(la, *expected):
    assert la.error and '\n' not in la.error, la.error
    for e in expected: assert e in la.error, la.error
    assert la.error.replace("'", '&#x27;') in la.message.value  # shown in the widget, escaped


def test_launch_shows_results_table_and_plots(launcher):
    la = launcher.set(epochs=3, device='CPU', layers=2, extra=SMALL)
    t0 = time.time()
    la.launch_button.click()
    assert time.time() - t0 < 15 and la.status == 'running'  # the click returns while the run goes on
    assert la.command_line.value.startswith('<code') and 'finann-train --cfg-path configs/default.yml' in la.command_line.value
    assert la.monitor.progress_label.value.startswith('starting') and la.monitor.log_tail.value  # something from the first second
    assert la.monitor.box.layout.display is None  # shown once a run starts (hidden while idle)
    seen = set()
    while la.status == 'running' and time.time() - t0 < 240:
        seen.add(la.monitor.progress.description); time.sleep(0.1)
    assert la.wait(240) == 'done', la.error
    # followed through its progress log: every phase, the bar at max_steps, the end
    st = la.process.state
    assert st['status'] == 'done' and st['max_steps'] and st['step'] == st['max_steps'], st
    assert [e['phase'] for e in read_progress(la.output_dir) if e['event'] == 'phase'] == list(PHASES)
    assert {'training'} <= seen, seen
    assert la.monitor.progress.value == la.monitor.progress.max == st['max_steps']
    assert la.monitor.progress_label.value.startswith(f"done · step {st['max_steps']}/{st['max_steps']}")
    assert any('eval_loss' in h for h in st['history'])
    # the table: the model beside the majority class on val and test
    df = la.results_frame  # finann.evaluate's results table, as the console and report.md show it
    assert {('val', 'model'), ('val', 'majority'), ('test', 'model'), ('test', 'majority')} <= set(zip(df['split'], df['predictor']))
    acc = lambda split, who: float(df[(df['split'] == split) & (df['predictor'] == who)]['accuracy'].iloc[0])
    assert acc('val', 'model') > acc('val', 'majority') + 0.1
    html = la.monitor.results.value
    assert '<table' in html and 'majority' in html and 'accuracy' in html
    # the plots: live during the run, then the results
    assert la.monitor.results_plot.value[:4] == b'\x89PNG' and la.monitor.results_plot.layout.display is None
    assert la.monitor.live_plot.value[:4] == b'\x89PNG'
    assert len(la.monitor.saved_plots.children) == len([p for p in (la.output_dir / 'plots').glob('*.png') if p.stem not in ('training_curves', 'explain_fit')])  # both are the training curves, drawn live
    assert la.monitor.progress.bar_style == 'success' and la.error is None
    # its own run folder, with the overrides applied and wandb offline
    out = la.output_dir
    assert out.parent == la.output_root and out.name.startswith('default-')
    assert json.loads((out / 'metrics.json').read_text()) == la.metrics
    cfg = (out / 'config.yaml').read_text()
    assert 'num_mlp_layers: 2' in cfg and 'n_tickers: 100' in cfg
    assert list((out / 'wandb').glob('offline-run-*'))
    assert la.launch_button.disabled is False and la.stop_button.disabled is True


def test_stop_ends_the_run_and_keeps_the_checkpoint(launcher):
    la = launcher.set(epochs=300, device='CPU', extra=SMALL)
    assert la.launch()
    deadline = time.time() + 120
    while latest_checkpoint(la.output_dir) is None and time.time() < deadline and la.status == 'running': time.sleep(0.2)
    assert la.status == 'running' and latest_checkpoint(la.output_dir) is not None, la.process and list(la.process.lines)[-5:]
    la.stop_button.click()  # as the user does: returns at once, the stop goes on in a thread
    assert la.wait(60) == 'stopped'
    pid = la.process.proc.pid
    assert la.process.proc.poll() is not None
    with pytest.raises(ProcessLookupError): os.killpg(pid, 0)  # nothing of its process group is left
    cp = latest_checkpoint(la.output_dir)
    assert cp is not None and (cp / 'model.safetensors').is_file()
    assert 'last checkpoint kept' in la.message.value and cp.name in la.message.value
    assert any(l.startswith('finann-train: stopped: stopped by SIGINT') for l in la.process.lines)  # checkpointed at the stop
    assert not (la.output_dir / 'metrics.json').exists() and la.metrics is None
    assert la.monitor.results_plot.value[:4] == b'\x89PNG'  # the curves so far
    assert la.process.state['status'] == 'stopped'  # the run said so in its progress log
    # Resume continues from that checkpoint, in the same folder
    cp_epoch = json.loads((cp / 'trainer_state.json').read_text())['epoch']
    assert la.resume_button.disabled is False
    la.resume_button.click()
    assert la.status == 'running' and '--resume-from-checkpoint' in la.command_line.value and la.output_dir == cp.parent
    resumed = lambda: [e for e in read_progress(la.output_dir) if e['event'] == 'train' and e['t'] >= la.process.started_at]
    deadline = time.time() + 60
    while not resumed() and time.time() < deadline and la.status == 'running': time.sleep(0.2)
    assert resumed() and resumed()[0]['epoch'] > cp_epoch, list(la.process.lines)[-5:]
    assert la.stop() == 'stopped'


@pytest.mark.parametrize('values, expected', [
    (dict(learning_rate='-1'), ['configs/default.yml: trainer.learning_rate: must be positive, got -1']),
    (dict(learning_rate='fast'), ["trainer.learning_rate: expected float, got 'fast'"]),
    (dict(extra='embedding.cls_name=HashingEmbeding'), ["embedding.cls_name: unknown embedding 'HashingEmbeding'; did you mean 'HashingEmbedding'?"]),
    (dict(extra='model.config.num_mlp_layer=2'), ["model.config.num_mlp_layer: unknown key; did you mean 'num_mlp_layers'?"]),
    (dict(extra='trainer.num_train_epoch'), ["override 'trainer.num_train_epoch' must look like key.path=value"]),
])
def test_bad_value_is_one_line_and_launches_nothing(launcher, values, expected):
    la = launcher.set(**values)
    la.launch_button.click()
    assert la.status == 'idle' and la.process is None
    one_line_error(la, *expected)
    assert not la.output_root.exists() or not any(la.output_root.iterdir())  # no run folder left behind


def test_cuda_without_a_gpu_is_one_line(launcher):
    import torch
    if torch.cuda.is_available(): pytest.skip('this machine has a GPU')
    la = launcher.set(device='CUDA')
    assert la.launch() is False and la.process is None
    one_line_error(la, 'no CUDA GPU is visible')


def test_failure_in_the_run_is_one_line(launcher):
    "A mistake only the run can find (the model's width against the embedding's) ends as 'failed' with the CLI's line."
    la = launcher.set(extra='model.config.hidden_size=300')
    assert la.launch()
    assert la.wait(120) == 'failed'
    one_line_error(la, 'configs/default.yml: model.config.hidden_size: 300 does not match the 1024-d vectors')
    assert la.process.state['status'] == 'failed'  # the CLI wrote a `failed` event
    assert la.process.returncode == 2 and la.launch_button.disabled is False


def test_two_processes_run_under_torchrun_and_stop_cleanly(launcher):
    "torchrun's workers are reached through torchrun: each gets one SIGINT, saves a checkpoint and stops; nothing is left."
    la = launcher.set(epochs=300, device='CPU', nproc=2, extra=SMALL)
    la.launch_button.click()
    assert 'torchrun --standalone --nproc_per_node=2 -m finann.cli' in la.command_line.value
    deadline = time.time() + 120
    while latest_checkpoint(la.output_dir) is None and time.time() < deadline and la.status == 'running': time.sleep(0.2)
    assert latest_checkpoint(la.output_dir) is not None, list(la.process.lines)[-5:]
    while not (la.monitor.progress.value > 0 and any('eval_loss' in h for h in la.process.state['history'])) and time.time() < deadline:
        time.sleep(0.2)  # the monitor polls the log
    assert la.monitor.progress.value > 0 and any('eval_loss' in h for h in la.process.state['history'])  # rank 0's progress log
    assert la.stop() == 'stopped'
    with pytest.raises(ProcessLookupError): os.killpg(la.process.proc.pid, 0)
    assert any('stopped by SIGINT' in l for l in la.process.lines), list(la.process.lines)[-10:]  # a graceful stop, not a kill
    assert 'last checkpoint kept' in la.message.value


def test_new_launch_clears_an_old_error(launcher):
    "A rejected value leaves one red line; the next launch that starts clears it (and the one after a finished run too)."
    la = launcher.set(learning_rate='-1')
    assert la.launch() is False and 'must be positive' in la.error
    la.set(learning_rate='1e-3', extra='model.config.hidden_size=300')  # starts, then fails fast
    assert la.launch()
    assert la.error is None and 'd62728' not in la.message.value and la.monitor.results.value == ''
    assert la.wait(120) == 'failed'


def test_a_fresh_launcher_inherits_nothing(launcher, tmp_path):
    "What one launcher was set to (a tutorial cell's `more options`, a bad value) is not in the next one."
    launcher.set(epochs=2, learning_rate='-1', extra='dataset.config.n_tickers=100', run_name='other')
    launcher.launch()
    fresh = Launcher(ROOT, output_root=tmp_path / 'fresh')
    assert fresh.form.extra.value == '' and fresh.form.run_name.value == 'default' and fresh.form.epochs.value == 5.0
    assert fresh.form.learning_rate.value == '0.001' and fresh.error is None and fresh.message.value == '' and fresh.status == 'idle'
    assert fresh.form.overrides() == []
    assert fresh.monitor.box.layout.display == 'none'  # idle: no empty 'starting' bar, no empty log


def test_results_plot_legend_is_beside_the_bars():
    "The results plot's legend never covers a bar, even when every score is close to 1 (issue 29)."
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from finann.evaluate.report import results_frame
    from finann.widgets import plot_run
    acc = lambda a: {'accuracy': a, 'f1_macro': a}
    metrics = {s: {'task': 'classification', 'n': 800, 'model': acc(0.93),
                   'baselines': {b: acc(0.9) for b in ('majority', 'logistic', 'tfidf')}} for s in ('val', 'test')}
    fig = plot_run([], results_frame(metrics, numbers=True))
    r = FigureCanvasAgg(fig).get_renderer(); fig.draw(r)
    ax = next(a for a in fig.axes if a.get_title() == 'accuracy by split')
    legend = ax.get_legend().get_window_extent(r)
    assert len(ax.patches) == 8 and not any(legend.overlaps(b.get_window_extent(r)) for b in ax.patches)
    assert fig.bbox.x1 >= legend.x1
