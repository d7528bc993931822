"Every shipped config loads and validates; the offline ones also build their model."
from pathlib import Path
import pytest
from conftest import ROOT

import yaml

# a search space (finann.search: config dot paths as keys, e.g. configs/search.yml) is not a config: checked on its own below
SPACES = sorted(p for p in (ROOT / 'configs').glob('*.yml') if any('.' in str(k) for k in (yaml.safe_load(p.read_text()) or {})))
CONFIGS = sorted(set((ROOT / 'configs').glob('*.yml')) - set(SPACES))


@pytest.mark.parametrize('path', CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_loads(path):
    from finann.config import load_config
    from finann.task import setup_task
    from finann.config import ConfigError
    from finann.registry import registry
    import yaml
    cfg = load_config(path)
    task = setup_task(cfg)
    trainer = yaml.safe_load(path.read_text()).get('trainer') or {}
    assert task.run_name == (trainer.get('run_name') or path.stem)  # the name the file gives, else the file's own
    given = trainer.get('output_dir') if trainer.get('output_dir') not in (None, 'TBD') else None  # 'TBD': the original's unset
    assert task.output_dir == (Path(given).expanduser() if given else Path('outputs') / task.run_name)
    assert type(task).__name__ == cfg.run.task and cfg.source == str(path)
    model_cls = registry.get_model_class(cfg.model.model_cls_name)
    if getattr(model_cls, 'takes_tokens', False):  # an encoder + MLP: it builds where its base encoder is on disk
        base = cfg.model.config.get('base_model_name_or_path')
        if base is not None and not Path(base).is_dir():
            with pytest.raises(ConfigError, match=f"model.config.base_model_name_or_path: '{base}' is not a model folder"): task.build_model()
            return
        model = task.build_model()
        assert model.config.hidden_size == model.encoder.base_model.model.config.hidden_size
        assert all('lora_' in n or n.startswith('head.') for n, p in model.named_parameters() if p.requires_grad)
    elif cfg.embedding.cls_name in ('HashingEmbedding', 'SentenceTransformerEmbedding', 'HFEmbedding'):
        model = task.build_model()  # hidden_size: auto resolves from the real embedding
        assert model.config.hidden_size == task.build_embedding().dim


def test_the_openai_config_mirrors_the_original():
    from finann.config import load_config
    cfg = load_config(ROOT / 'configs/openai_text-embedding-3-large.yml')
    assert cfg.embedding.cls_name == 'OpenAIEmbedding' and cfg.embedding.config['model_name_or_path'] == 'text-embedding-3-large'
    assert cfg.model.config['num_mlp_layers'] == 2 and cfg.model.config['intermediate_size'] == 6144
    assert cfg.dataset.cls_name == 'FinancialTranscriptBuilder'


@pytest.mark.parametrize('path', SPACES, ids=[p.name for p in SPACES])
def test_search_space_loads_against_the_default_config(path):
    "Every shipped search space names keys the default config has, with values it accepts (each choice and each end of each range)."
    from finann.search import read_space, check_space
    params, metric, source = read_space(path)
    assert params and source == str(path)
    check_space(ROOT / 'configs' / 'default.yml', [], params, source)  # one line and a failure on an unknown key or a bad value
