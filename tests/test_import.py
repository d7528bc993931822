"`import finann` stays light: no heavy library is loaded until a component that needs it is used."
import json, subprocess, sys
import pytest
from conftest import ROOT

HEAVY = ['torch', 'transformers', 'datasets', 'sentence_transformers', 'pandas', 'sklearn', 'scipy', 'pyarrow', 'accelerate', 'matplotlib', 'wandb']


def py(code:str) -> str:
    "Run `code` in a fresh interpreter from the repository root; the last line of its stdout (libraries may print before it)."
    p = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return (p.stdout.strip().splitlines() or [""])[-1]


def test_import_finann_loads_no_heavy_module():
    out = py(f"import sys, json, finann; from finann import registry, load_config, TrainConfig, RegistryError; "
             f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert json.loads(out) == []


@pytest.mark.parametrize('kind, name, module', [
    ('builder', 'SyntheticEarningsCallBuilder', 'finann.data.synthetic'), ('builder', 'EventStudyBuilder', 'finann.data.builders'),
    ('embedding', 'HashingEmbedding', 'finann.embedding.encoders'), ('embedding', 'OpenAIEmbedding', 'finann.embedding.openai'),
    ('collator', 'CollatorForBinaryClassification', 'finann.collator'), ('model', 'MLPModelForTokenClassification', 'finann.model'),
    ('model_config', 'MLPModelConfig', 'finann.model'), ('trainer', 'SequentialTrainer', 'finann.trainer'), ('task', 'TrainTask', 'finann.task')])
def test_lookup_imports_the_registering_module(kind, name, module):
    out = py(f"import sys, json, finann\nbefore = {module!r} in sys.modules\ncls = finann.registry.get({kind!r}, {name!r})\n"
             f"print(json.dumps([before, cls.__name__, cls.__module__, {module!r} in sys.modules]))")
    assert json.loads(out) == [False, name, module, True]


def test_builtins_match_what_the_modules_register():
    "BUILTINS (name -> module) is exactly what importing every module registers."
    out = py("import json, finann.data, finann.embedding, finann.collator, finann.model, finann.model_encoder, finann.trainer, finann.task, finann.evaluate.baselines, finann.evaluate.risk_baselines\n"
             "from finann.registry import registry, BUILTINS\n"
             "print(json.dumps([{k: {n: c.__module__ for n, c in v.items()} for k, v in registry.mapping.items()}, BUILTINS]))")
    registered, builtins = json.loads(out)
    assert registered == builtins


def test_lists_and_errors_name_every_builtin_without_importing():
    out = py("import sys, json, finann\nfrom finann.registry import registry, RegistryError\n"
             "try: registry.get_builder_class('SyntheticEarningsCallBuildr')\nexcept RegistryError as e: err = str(e)\n"
             "print(json.dumps([registry.list_embeddings(), err, 'finann.data' in sys.modules, 'finann.embedding' in sys.modules]))")
    embeddings, err, data_loaded, embedding_loaded = json.loads(out)
    assert embeddings == ['HFEmbedding', 'HashingEmbedding', 'OpenAIEmbedding', 'SentenceTransformerEmbedding']
    assert "did you mean 'SyntheticEarningsCallBuilder'?" in err
    assert 'EventStudyBuilder, FinancialTranscriptBuilder, LocalTranscriptBuilder, StockNetBuilder, SyntheticEarningsCallBuilder' in err
    assert not embedding_loaded


def test_heavy_names_come_on_first_use():
    out = py("import sys, json, finann\nfrom finann import TrainTask, setup_task\n"
             "print(json.dumps([TrainTask.__module__, finann.model.__name__, 'finann.task' in sys.modules]))")
    assert json.loads(out) == ['finann.task', 'finann.model', True]


def test_from_pretrained_after_import_finann(tmp_path):
    "A saved run folder loads with the Auto classes after a plain `import finann`."
    py(f"import finann.model as m\nm.MLPModelForTokenClassification(m.MLPModelConfig(hidden_size=8, num_labels=2)).save_pretrained({str(tmp_path)!r})")
    out = py(f"import finann\nfrom transformers import AutoModelForTokenClassification\n"
             f"print(type(AutoModelForTokenClassification.from_pretrained({str(tmp_path)!r})).__name__)")
    assert out.strip() == 'MLPModelForTokenClassification'


def test_config_validation_finds_builtin_classes():
    import yaml
    out = py("import finann\nc = finann.load_config('configs/default.yml')\nprint(c.embedding.cls_name)")
    assert out == yaml.safe_load((ROOT / 'configs/default.yml').read_text())['embedding']['cls_name']


def test_the_public_face_after_import_finann_alone():
    "What a notebook user types is in finann.__all__ and reachable after `import finann` (the README's finann.runs.load_run too)."
    out = py("import sys, json, finann\n"
             "print(json.dumps([finann.__all__, 'finann.runs' in sys.modules, finann.runs.load_run is finann.load_run, "
             "finann.results_table.__module__, finann.setup_task.__module__, 'torch' in sys.modules, "
             "'finann.search' in sys.modules, finann.run_search.__module__]))")
    names, runs_before, same, table_mod, task_mod, torch, search_before, search_mod = json.loads(out)
    assert {'load_config', 'setup_task', 'load_run', 'evaluate_run', 'compare_runs', 'results_table', 'Launcher',
            'run_search'} <= set(names)
    assert (runs_before, same, table_mod, task_mod) == (False, True, 'finann.evaluate.report', 'finann.task')
    assert (search_before, search_mod) == (False, 'finann.search')  # lazy: imported on first use
