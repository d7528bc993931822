"""A real browser on the launcher: JupyterLab on 127.0.0.1, Debian's chromium driven by Playwright.

Opens nbs/tutorials/launcher.ipynb, runs every cell, types a smaller run into the first launcher, clicks Launch, follows its phases, waits for the results plot and saves a screenshot
(to the test's folder and to outputs/screenshots/launcher.png). Never downloads a browser: skipped when /usr/bin/chromium
is missing (`apt-get install chromium`; .ci/run installs it)."""
import json, os, shutil, sys
from pathlib import Path
import pytest
from conftest import ROOT, jupyterlab_server

CHROMIUM = Path('/usr/bin/chromium')
NOTEBOOK = 'nbs/tutorials/launcher.ipynb'
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run']
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason='/usr/bin/chromium is missing: apt-get install -y chromium')


def write_json(path: Path, data):
    path.parent.mkdir(parents=True, exist_ok=True); path.write_text(json.dumps(data))


@pytest.fixture
def jupyterlab(tmp_path):
    "JupyterLab serving the repository on a free port of 127.0.0.1 with a token; yields its base URL and token."
    settings = tmp_path / 'lab-settings'
    write_json(settings / '@jupyterlab/docmanager-extension/plugin.jupyterlab-settings', {'autosave': False})  # never write the notebook
    write_json(settings / '@jupyterlab/notebook-extension/tracker.jupyterlab-settings', {'autoStartDefaultKernel': True})  # no kernel dialog
    write_json(settings / '@jupyterlab/apputils-extension/notification.jupyterlab-settings', {'checkForUpdates': False, 'fetchNews': 'false'})
    env = {**os.environ, 'JUPYTER_CONFIG_DIR': str(tmp_path / 'jupyter-config'), 'JUPYTER_RUNTIME_DIR': str(tmp_path / 'jupyter-runtime'),
           'JUPYTERLAB_SETTINGS_DIR': str(settings), 'JUPYTERLAB_WORKSPACES_DIR': str(tmp_path / 'lab-workspaces'),
           'TMPDIR': str(tmp_path / 'tmp'),  # the notebook's run folders land in tmp_path
           'FINANN_CACHE': str(tmp_path / 'cache'), 'WANDB_MODE': 'offline', 'HF_HUB_OFFLINE': '1', 'OMP_NUM_THREADS': '1'}
    env.pop('WANDB_API_KEY', None)
    (tmp_path / 'tmp').mkdir()
    cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', '--allow-root', f'--ServerApp.root_dir={ROOT}', '--LabApp.expose_app_in_browser=True']
    with jupyterlab_server(cmd, env, tmp_path / 'jupyterlab.log') as (base, token):
        yield base, token


def test_launcher_in_jupyterlab(jupyterlab, tmp_path):
    from playwright.sync_api import sync_playwright, expect
    base, token = jupyterlab
    before = (ROOT / NOTEBOOK).read_bytes()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
            page = browser.new_page(viewport={'width': 1300, 'height': 1900})
            page.set_default_timeout(120_000)
            page.goto(f'{base}/lab/tree/{NOTEBOOK}?token={token}&reset')
            page.wait_for_function("window.jupyterapp && document.querySelector('.jp-NotebookPanel .jp-Cell')")
            # wait for the kernel, then Run > Run All Cells (not awaited: the promise ends with the last cell)
            page.wait_for_function("window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'")
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            # the notebook's own run, driven from code by a second launcher, ends; its bad-value cell leaves one red line there
            scripted = page.locator('.jp-OutputArea-output:has(.finann-status)').nth(1)
            expect(scripted.locator('.finann-status')).to_have_text('done', timeout=300_000)
            expect(scripted.locator('.finann-message')).to_contain_text('must be positive')
            # the first launcher is the user's: none of that leaked into it
            mine = page.locator('.jp-OutputArea-output:has(.finann-status)').first
            status, message, phase = mine.locator('.finann-status'), mine.locator('.finann-message'), mine.locator('.finann-phase')
            expect(status).to_have_text('idle')
            expect(mine.locator('.finann-progress')).to_be_hidden()  # idle: no empty 'starting' bar
            extra = mine.locator('textarea').first
            expect(extra).to_have_value('')
            # now as a user: a smaller run typed into "more options", then Launch, and watch it go through its phases
            extra.fill('dataset.config.n_tickers=100')
            extra.blur()
            mine.locator('button.finann-launch').click()
            expect(status).to_have_text('running', timeout=30_000)
            expect(phase).to_contain_text('starting', timeout=10_000)
            expect(mine.locator('.finann-progress')).to_be_visible()
            expect(phase).to_contain_text('training · step', timeout=120_000)  # from the progress log
            expect(status).to_have_text('done', timeout=300_000)
            expect(phase).to_contain_text('done · step')
            assert 'must be positive' not in message.inner_text() and message.locator('span[style*="d62728"]').count() == 0
            plot = mine.locator('img.finann-results-plot')
            expect(plot).to_be_visible()
            assert page.evaluate("img => img.complete && img.naturalWidth > 300", plot.element_handle())
            table = mine.locator('.finann-results table')
            expect(table).to_contain_text('majority'); expect(table).to_contain_text('accuracy')
            # the screenshot: the whole launcher widget
            mine.scroll_into_view_if_needed()
            shot = tmp_path / 'launcher.png'
            mine.screenshot(path=str(shot))
            browser.close()
    finally:
        if (ROOT / NOTEBOOK).read_bytes() != before: (ROOT / NOTEBOOK).write_bytes(before)  # autosave is off; be sure anyway
    assert shot.stat().st_size > 20_000
    dest = ROOT / 'outputs' / 'screenshots' / 'launcher.png'
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, dest)
