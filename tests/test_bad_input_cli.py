"""The commands' error boundary and the run folder's safety, through the real `finann-train` and `finann-eval`.

A bug raised inside a user's registered class is one line naming the phase and the traceback's file (--debug shows it);
an interrupted run is never overwritten; a saved model is never continued or evaluated with a config that differs from its own."""
import json, shutil, subprocess, sys
import pytest
import yaml
from conftest import BIN, ROOT, run_cmd, run_env
from test_bad_input import assert_one_clear_line, base_config, earlier_output

# a user's own builder, registered through the public registry, with a bug in it
PLUGIN = """
import sys
from finann.registry import registry
from finann.data import SyntheticEarningsCallBuilder
@registry.register_builder('BuggyBuilder')
class BuggyBuilder(SyntheticEarningsCallBuilder):
    def build_datasets(self): return {}['train']  # KeyError: the user's bug
from finann.cli import train_main
sys.exit(train_main(sys.argv[1:]))
"""


def small(tmp_path, **trainer):
    cfg = base_config(tmp_path, {'cls_name': 'SyntheticEarningsCallBuilder', 'config': {'n_tickers': 3, 'val_years': [2017], 'test_years': [2018, 2019]}})
    cfg['trainer'].update(trainer)
    return cfg


def write_cfg(path, cfg):
    path.write_text(yaml.safe_dump(cfg)); return path


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    "One tiny finished run (synthetic, hashing, 1 epoch) that the eval and resume cases start from."
    tmp = tmp_path_factory.mktemp('finished')
    cfg = write_cfg(tmp / 'cfg.yml', small(tmp))
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(cfg)], tmp)
    assert p.returncode == 0, p.stderr[-3000:]
    return tmp


def test_a_bug_in_a_registered_class_names_the_phase_and_the_traceback(tmp_path):
    cfg = small(tmp_path); cfg['dataset']['cls_name'] = 'BuggyBuilder'
    write_cfg(tmp_path / 'cfg.yml', cfg)
    p = subprocess.run([sys.executable, '-c', PLUGIN, '--cfg-path', str(tmp_path / 'cfg.yml')], cwd=ROOT, env=run_env(tmp_path),
                       capture_output=True, text=True, timeout=600)
    log = tmp_path / 'run' / 'traceback.log'
    assert_one_clear_line(p, ["finann-train: unexpected error during data: KeyError: 'train' (full traceback in ", str(log), '--debug shows it here'],
                          tmp_path, {}, code=1)
    assert "KeyError: 'train'" in log.read_text() and 'build_datasets' in log.read_text()
    assert json.loads((tmp_path / 'run' / 'progress.jsonl').read_text().splitlines()[-1])['event'] == 'failed'


def test_debug_shows_the_traceback_in_place(tmp_path):
    cfg = small(tmp_path); cfg['dataset']['cls_name'] = 'BuggyBuilder'
    write_cfg(tmp_path / 'cfg.yml', cfg)
    p = subprocess.run([sys.executable, '-c', PLUGIN, '--cfg-path', str(tmp_path / 'cfg.yml'), '--debug'], cwd=ROOT, env=run_env(tmp_path),
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 1 and 'Traceback (most recent call last)' in p.stderr and p.stderr.strip().splitlines()[-1] == "KeyError: 'train'", p.stderr[-2000:]


def test_an_unfinished_run_is_not_overwritten(tmp_path, finished):
    "A run stopped after checkpoint-N (no metrics.json): running again without --resume-from-checkpoint is refused, nothing changes."
    shutil.copytree(finished / 'run', tmp_path / 'run'); (tmp_path / 'run' / 'metrics.json').unlink()
    before = {p: p.read_bytes() for p in (tmp_path / 'run').rglob('*') if p.is_file()}
    cfg = write_cfg(tmp_path / 'cfg.yml', small(tmp_path))
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(cfg)], tmp_path)
    ckpt = next((finished / 'run').glob('checkpoint-*')).name
    assert_one_clear_line(p, [f"trainer.output_dir: {tmp_path / 'run'} holds an unfinished run ({ckpt}, no metrics.json); "
                              "continue it with --resume-from-checkpoint latest, or pick another trainer.run_name"], tmp_path, before)
    assert {q for q in (tmp_path / 'run').rglob('*') if q.is_file()} == set(before)  # not one file added or removed


def test_resume_with_another_width_is_refused(tmp_path, finished):
    shutil.copytree(finished / 'run', tmp_path / 'run'); (tmp_path / 'run' / 'metrics.json').unlink()
    before = {p: p.read_bytes() for p in (tmp_path / 'run').rglob('*') if p.is_file()}
    cfg = write_cfg(tmp_path / 'cfg.yml', small(tmp_path))
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(cfg), '--resume-from-checkpoint', 'latest', '--options', 'model.config.intermediate_size=8'], tmp_path)
    assert_one_clear_line(p, [f"--resume-from-checkpoint: {tmp_path / 'run'} was made with another config: model.config.intermediate_size (16 → 8)"], tmp_path, before)


EVAL = {
    'another_embedding': (['embedding.config.n_features=32'], ['embedding.config.n_features (64 → 32)']),
    'another_label_scheme': (['collator.cls_name=CollatorForClassificationWithNeutral'], ['collator.cls_name (CollatorForBinaryClassification → CollatorForClassificationWithNeutral)']),
    'another_width': (['model.config.intermediate_size=8', 'model.config.num_mlp_layers=2'], ['model.config.intermediate_size (16 → 8)', 'model.config.num_mlp_layers (unset → 2)']),
}


@pytest.mark.parametrize('name', list(EVAL))
def test_eval_with_an_edited_config_names_the_keys(tmp_path, finished, name):
    options, expected = EVAL[name]
    before = {p: p.read_bytes() for p in (finished / 'run').rglob('*') if p.is_file()}
    p = run_cmd([str(BIN / 'finann-eval'), '--checkpoint', str(finished / 'run'), '--cfg-path', str(finished / 'cfg.yml'), '--options', *options], tmp_path)
    assert p.returncode == 2 and 'Traceback' not in p.stderr, p.stderr[-2000:]
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith(f"finann-eval: error: --checkpoint: {finished / 'run'} was made with another config: "), last
    for e in expected: assert e in last, last
    assert {p: p.read_bytes() for p in (finished / 'run').rglob('*') if p.is_file()} == before


def test_eval_of_a_bare_checkpoint_compares_the_model_config(tmp_path, finished):
    "A checkpoint folder copied away from its run (no config.yaml to compare): the model's own config.json is compared."
    ckpt = next((finished / 'run').glob('checkpoint-*'))
    shutil.copytree(ckpt, tmp_path / 'bare')
    p = run_cmd([str(BIN / 'finann-eval'), '--checkpoint', str(tmp_path / 'bare'), '--cfg-path', str(finished / 'cfg.yml'),
                 '--options', 'model.config.intermediate_size=8'], tmp_path)
    assert p.returncode == 2 and 'Traceback' not in p.stderr, p.stderr[-2000:]
    last = p.stderr.strip().splitlines()[-1]
    assert f"--checkpoint: the model in {tmp_path / 'bare'} does not match this config's model.config: intermediate_size (16 → 8)" in last, last


def test_output_dir_with_tilde_and_variables_is_one_folder(tmp_path):
    "`~/runs/$RUN` is expanded once: the model, the checkpoints and the report all land in the same folder."
    cfg = small(tmp_path, output_dir='~/runs/$RUN_LABEL')
    write_cfg(tmp_path / 'cfg.yml', cfg)
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(tmp_path / 'cfg.yml')], tmp_path, HOME=str(tmp_path / 'home'), RUN_LABEL='tilde')
    assert p.returncode == 0, p.stderr[-3000:]
    out = tmp_path / 'home' / 'runs' / 'tilde'
    assert (out / 'metrics.json').is_file() and any(out.glob('checkpoint-*')) and (out / 'model.safetensors').is_file()
    assert not (ROOT / '~').exists() and not list(ROOT.glob('$RUN_LABEL'))


def test_eval_split_misspelled_is_refused_by_the_parser(tmp_path):
    p = run_cmd([str(BIN / 'finann-eval'), '--run', str(tmp_path), '--split', 'val', 'tset'], tmp_path)
    assert_one_clear_line(p, ["finann-eval: error: argument --split: invalid choice: 'tset' (choose from 'train', 'val', 'test')"], tmp_path, {})
