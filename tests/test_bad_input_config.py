"""Config mistakes that pass a lax type check, refused by the real `finann-train` before any data is read.

Each case: one last line naming the file and the key, exit status 2, no traceback, the earlier run folder untouched."""
import pytest
import yaml
from conftest import BIN, ROOT, run_cmd
from test_bad_input import assert_one_clear_line, base_config, earlier_output, setk


def event_study(**kw):
    return setk(['dataset'], {'cls_name': 'EventStudyBuilder', 'config': {'events': 'events.csv', 'prices': 'prices', **kw}})


CASES = {
    'quoted_epochs': (setk(['trainer', 'num_train_epochs'], '1'), ["trainer.num_train_epochs: expected a number, got '1' (remove the quotes)"]),
    'quoted_seed': (setk(['run', 'seed'], '42'), ["run.seed: expected an integer, got '42' (remove the quotes)"]),
    'boolean_for_count': (setk(['evaluator', 'n_boot'], True), ['evaluator.n_boot: expected an integer, got True']),
    'quoted_builder_number': (setk(['dataset', 'config', 'n_tickers'], '5'), ["dataset.config.n_tickers: expected an integer, got '5'"]),
    'zero_batch_size': (setk(['trainer', 'per_device_train_batch_size'], 0), ['trainer.per_device_train_batch_size: must be at least 1, got 0']),
    'zero_epochs': (setk(['trainer', 'num_train_epochs'], 0), ['trainer.num_train_epochs: must be positive, got 0']),
    'zero_accumulation': (setk(['trainer', 'gradient_accumulation_steps'], 0), ['trainer.gradient_accumulation_steps: must be at least 1, got 0']),
    'negative_weight_decay': (setk(['trainer', 'weight_decay'], -0.1), ['trainer.weight_decay: must be zero or more, got -0.1']),
    'dropout_in_percent': (setk(['model', 'config', 'hidden_dropout'], 10), ['model.config.hidden_dropout: a probability in [0, 1), got 10']),
    'report_to_not_installed': (setk(['trainer', 'report_to'], ['tensorboard']), ["trainer.report_to: 'tensorboard' needs its package, which is not installed"]),
    'report_to_misspelled': (setk(['trainer', 'report_to'], ['wandbb']), ["trainer.report_to: unknown integration 'wandbb'; did you mean 'wandb'?"]),
    'eight_bit_optimizer_not_installed': (setk(['trainer', 'optim'], 'adamw_bnb_8bit'), ["trainer.optim: 'adamw_bnb_8bit' needs the package 'bitsandbytes'"]),
    'resume_in_trainer_section': (setk(['trainer', 'resume_from_checkpoint'], 'latest'), ['trainer.resume_from_checkpoint: not a config key here; use finann-train --resume-from-checkpoint']),
    'label_names_overridden': (setk(['trainer', 'label_names'], ['y']), ["trainer.label_names: not a config key here; finann sets it to ['labels']"]),
    'training_arguments_conflict': (lambda c: c['trainer'].update(load_best_model_at_end=True, eval_strategy='steps', eval_steps=10, save_strategy='epoch'),
                                    ['cfg.yml: trainer: ', 'load_best_model_at_end']),
    'evaluator_split_misspelled': (setk(['evaluator', 'splits'], ['val', 'tset']), ["evaluator.splits.1: Input should be 'train', 'val' or 'test' (got 'tset'); did you mean 'test'?"]),
    'run_name_escapes_outputs': (lambda c: (c['trainer'].pop('output_dir'), c['trainer'].update(run_name='../../escaped')),
                                 ["trainer.run_name: '../../escaped' must be a plain folder name under outputs/"]),
    'run_name_with_separator': (lambda c: (c['trainer'].pop('output_dir'), c['trainer'].update(run_name='a/b')), ["trainer.run_name: 'a/b' must be a plain folder name"]),
    'unknown_time_zone': (event_study(timezone='America/NewYork'), ["dataset.config.timezone: Value error, unknown time zone 'America/NewYork'; did you mean 'America/New_York'?"]),
    'unknown_calendar': (event_study(calendar='XNYSE'), ["dataset.config.calendar: Value error, unknown exchange calendar 'XNYSE'; did you mean 'XNYS'?"]),
}


@pytest.mark.parametrize('name', list(CASES))
def test_config_mistake_is_one_clear_line(tmp_path, name):
    breaker, expected = CASES[name]
    cfg = base_config(tmp_path); breaker(cfg)
    (tmp_path / 'cfg.yml').write_text(yaml.safe_dump(cfg))
    before = earlier_output(tmp_path)
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(tmp_path / 'cfg.yml')], tmp_path)
    assert_one_clear_line(p, ['finann-train: error: ', 'cfg.yml: ', *expected], tmp_path, before)
    assert not (tmp_path / 'run' / 'progress.jsonl').exists()  # refused with the config: no run was started
    assert not (ROOT.parent / 'escaped').exists() and not (ROOT / 'outputs' / 'a').exists()  # nothing written where the name pointed


def test_output_dir_inside_the_package_is_refused(tmp_path):
    import finann
    from pathlib import Path
    target = Path(finann.__file__).parent / 'runs'
    cfg = base_config(tmp_path); cfg['trainer']['output_dir'] = str(target)
    (tmp_path / 'cfg.yml').write_text(yaml.safe_dump(cfg))
    before = earlier_output(tmp_path)
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(tmp_path / 'cfg.yml')], tmp_path)
    assert_one_clear_line(p, ['trainer.output_dir: ', 'is inside the installed finann package'], tmp_path, before)
    assert not target.exists()


def test_a_section_given_twice_names_both_lines(tmp_path):
    text = yaml.safe_dump(base_config(tmp_path)) + 'trainer:\n  num_train_epochs: 3\n'
    (tmp_path / 'cfg.yml').write_text(text)
    before = earlier_output(tmp_path)
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(tmp_path / 'cfg.yml')], tmp_path)
    first = next(i for i, line in enumerate(text.splitlines()) if line.startswith('trainer:')) + 1
    assert_one_clear_line(p, ['cfg.yml: line ', f"invalid YAML: duplicate key 'trainer' (first at line {first})"], tmp_path, before)


def test_a_duplicate_key_inside_a_section_is_refused(tmp_path):
    (tmp_path / 'cfg.yml').write_text(yaml.safe_dump(base_config(tmp_path)).replace('trainer:\n', 'trainer:\n  learning_rate: 0.1\n  learning_rate: 0.2\n'))
    before = earlier_output(tmp_path)
    p = run_cmd([str(BIN / 'finann-train'), '--cfg-path', str(tmp_path / 'cfg.yml')], tmp_path)
    assert_one_clear_line(p, ["duplicate key 'learning_rate'"], tmp_path, before)
