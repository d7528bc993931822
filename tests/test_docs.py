"The docs site builds offline with scripts/docs.sh: every module page carries its API docs, every local link resolves, and the index renders in chromium."
import re, subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse
import pytest
from conftest import ROOT, run_env

MODULES = {'00_config': 'load_config', '01_registry': 'Registry', '02a_data_schema': 'clean_events', '02b_data_splits': 'check_leakage',
           '02c_data_prices': 'align_events', '02d_data_builders': 'EventStudyBuilder', '02e_data_synthetic': 'SyntheticEarningsCallBuilder',
           '03a_embedding_cache': 'EmbeddingCache', '03b_embedding_text': 'TextColumn', '03c_embedding_encoders': 'HashingEmbedding',
           '03d_embedding_openai': 'OpenAIEmbedding', '03f_embedding_masking': 'mask_text',
           '04_collator': 'CollatorForBinaryClassification', '05_model': 'MLPModelForTokenClassification', '06_trainer': 'SequentialTrainer',
           '06a_progress': 'ProgressLog', '07_task': 'TrainTask', '07a_predictions': 'write_predictions', '07b_runs': 'load_run',
           '08a_evaluate_metrics': 'direction_accuracy', '08b_evaluate_baselines': 'LogisticBaseline', '08h_evaluate_risk_baselines': 'GarchBaseline', '08c_evaluate_backtest': 'long_short_backtest',
           '08d_evaluate_report': 'results_table', '09_plots': 'plot_equity_curve', '10_widgets': 'Launcher', '10a_launch': 'TrainingProcess', '00a_io': 'write_atomic',
           '11_cli': 'train_main', '02f_data_calendar': 'trading_sessions', '02g_data_stream': 'TextStreamBuilder', '02h_data_folds': 'walk_forward_folds',
           '03e_embedding_pooling': 'pool_texts', '04a_collator_tokens': 'TokenCollator', '05a_model_encoder': 'EncoderMLPForTokenClassification',
           '08e_evaluate_verdict': 'model_verdict', '08f_evaluate_sharpe': 'sharpe_uncertainty', '13_init': 'inspect_files',
           '00b_errors': 'redact', '07c_task_study': 'fit_predict_units', '07d_task_guards': 'check_output_dir', '07e_task_tracking': 'tracking_env', '07f_task_outputs': 'TaskOutputs', '08k_evaluate_markdown': 'report_markdown',
           '08g_evaluate_explain': 'write_explain', '15_search': 'run_search', '15b_search_space': 'read_space', '08i_evaluate_explain_text': 'words_probe', '08j_evaluate_explain_market': 'fit_health',
           '00c_config_checks': 'check_config', '03g_embedding_base': 'BaseEmbedding', '03h_embedding_transformer': 'HFEmbedding',
           '03i_embedding_onnx': 'onnx_model_path', '10b_widgets_form': 'LaunchForm', '10c_widgets_monitor': 'RunMonitor'}


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    p = subprocess.run(['bash', 'scripts/docs.sh'], cwd=ROOT, env=run_env(tmp_path_factory.mktemp('docs')), capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    return ROOT / '_docs'


def page(site, nb): return next(site.rglob(f'{nb}.html'), None) or next(iter(sorted(site.rglob(f'*{nb.split("_", 1)[1]}*.html'))), None)


@pytest.mark.parametrize('nb', list(MODULES))
def test_module_page_has_api_docs(site, nb):
    html = page(site, nb)
    assert html is not None, f'no page for {nb}'
    text = html.read_text()
    # show_doc renders each exported symbol as a heading of its own: the name alone, not a mention in prose
    headings = [re.sub(r'<[^>]+>', '', h).strip() for h in re.findall(r'<h[2-4][^>]*>(.*?)</h[2-4]>', text, flags=re.S)]
    assert MODULES[nb] in headings, (nb, headings[:20])


def test_index_links_resolve(site):
    index = site / 'index.html'
    assert index.exists()
    links = re.findall(r'href="([^"#]+)"', index.read_text())
    local = [l for l in links if not urlparse(l).scheme and not l.startswith('//')]
    assert len(local) >= 15
    for l in local: assert (index.parent / unquote(l)).resolve().exists(), l


@pytest.mark.skipif(not Path('/usr/bin/chromium').exists(), reason='/usr/bin/chromium is missing')
def test_index_screenshot_in_chromium(site, tmp_path):
    from playwright.sync_api import sync_playwright
    shot = tmp_path / 'docs-index.png'
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path='/usr/bin/chromium', args=['--no-sandbox', '--disable-gpu', '--disable-background-networking',
                                                                               '--disable-component-update', '--disable-sync', '--no-first-run'])
        pg = browser.new_page(viewport={'width': 1280, 'height': 900})
        pg.goto((site / 'index.html').as_uri())
        assert pg.locator('main h1').first.inner_text().strip() == 'finann'  # the index page itself, not any page naming the package
        assert "predicts the market's reaction" in pg.locator('main').inner_text()
        assert pg.locator('a').count() >= 15
        pg.screenshot(path=str(shot), full_page=False)
        browser.close()
    assert shot.stat().st_size > 10_000  # kept in the test's own folder: a test writes nothing into the repository


def test_bench_page_shows_every_measured_table(site):
    "The Benchmarks page (written by bench/make_page.py from bench/results/*.md) carries each result's table and goal line."
    html = page(site, 'bench')
    assert html is not None, 'no Benchmarks page'
    text = html.read_text()
    results = sorted((ROOT / 'bench' / 'results').glob('*.md'))
    assert results
    for md in results:
        title = md.read_text().splitlines()[0].lstrip('# ').split(' (')[0]
        assert html_escape_free(title) in html_escape_free(text), (md.name, title)
    goals = [l for md in results for l in md.read_text().splitlines() if l.startswith('Goal')]
    assert goals and text.count('<tr') >= len(goals)


def html_escape_free(s): return re.sub(r'<[^>]+>', '', s).replace('&amp;', '&').replace('&#39;', "'").replace('&quot;', '"')


@pytest.fixture(scope='module')
def served(site):
    "The built site over http on a free port of 127.0.0.1 (the search index is fetched, which browsers refuse from file://)."
    import functools, http.server, threading
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown(); server.server_close()


@pytest.fixture(scope='module')
def browser_page():
    if not Path('/usr/bin/chromium').exists(): pytest.skip('/usr/bin/chromium is missing')
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path='/usr/bin/chromium', args=['--no-sandbox', '--disable-gpu', '--disable-background-networking',
                                                                               '--disable-component-update', '--disable-sync', '--no-first-run'])
        page = browser.new_page(viewport={'width': 1280, 'height': 900})
        page.set_default_timeout(30_000)
        yield page
        browser.close()


def test_quickstart_shows_its_results_table_and_plots_in_a_browser(served, browser_page):
    from playwright.sync_api import expect
    pg = browser_page
    pg.goto(f'{served}/tutorials/quickstart.html')
    table = pg.locator('main table', has_text='majority').first
    expect(table).to_be_visible(); expect(table).to_contain_text('logistic'); expect(table).to_contain_text('accuracy')
    images = pg.locator('main img')
    assert images.count() >= 4  # training curves, confusion matrix, equity, deciles
    images.first.scroll_into_view_if_needed()
    expect(images.first).to_be_visible()
    assert pg.evaluate("img => img.complete && img.naturalWidth > 200", images.first.element_handle())
    body = pg.locator('main').inner_text()
    assert 'Running in WANDB offline mode' not in body and 'Loading weights' not in body  # no stray stderr or banners


def test_data_page_shows_event_study_builders_parameters_in_a_browser(served, browser_page):
    from playwright.sync_api import expect
    pg = browser_page
    pg.goto(f'{served}/data_builders.html')
    sig = pg.locator('main .highlight', has_text='def EventStudyBuilder(').first
    expect(sig).to_be_visible()
    for shown in ('events:str, # ', 'prices:str, # ', 'embargo_days:int=0, # ', 'price_columns:'):  # each field, its type, default and comment
        expect(sig).to_contain_text(shown)
    assert '**data' not in sig.inner_text()


def test_search_for_embargo_finds_the_data_page_offline(served, browser_page):
    from playwright.sync_api import expect
    pg = browser_page
    pg.goto(f'{served}/index.html')
    box = pg.locator('#search input.pagefind-ui__search-input')
    expect(box).to_be_visible()
    box.fill('embargo')
    links = pg.locator('#search .pagefind-ui__result-link')
    expect(links.first).to_be_visible()
    hrefs = [links.nth(i).get_attribute('href') for i in range(links.count())]
    assert any('data_builders' in h or 'data_splits' in h for h in hrefs), hrefs


def test_readme_says_how_to_reach_the_commands_after_lab_sh():
    "scripts/lab.sh installs into .venv: before its first finann-* command the README says to activate it (or calls .venv/bin/...)."
    text = (ROOT / 'README.md').read_text()
    first = min(m.start() for m in re.finditer(r'(?m)^(?:\$ )?finann-\w+ ', text))
    assert 'source .venv/bin/activate' in text[:first], 'the README runs finann-* before saying how to reach it'


def test_tutorials_need_only_the_default_install():
    "Every package a tutorial or a documented notebook imports is in settings.ini's requirements, not only a dev extra (bokeh_sampledata was)."
    import configparser
    reqs = configparser.ConfigParser(); reqs.read(ROOT / 'settings.ini')
    names = {re.split(r'[<>=\[ ]', r)[0].replace('-', '_').lower() for r in reqs['DEFAULT']['requirements'].split()}
    for nb in (ROOT / 'nbs').rglob('*.ipynb'):
        for mod in set(re.findall(r'(?:from|import) (bokeh_sampledata)\b', nb.read_text())): assert mod in names, (nb.name, mod)
