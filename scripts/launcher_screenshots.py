"""Screenshots of the Launcher for the docs, from a real run in JupyterLab driven by chromium (Playwright):
nbs/images/launcher_embedding.png while it embeds with the packaged MiniLM into an empty cache (its bar moving, with texts, tokens and
an ETA), nbs/images/launcher_done.png when it is done.
   .venv/bin/python scripts/launcher_screenshots.py        (needs /usr/bin/chromium; 8 min on 2 CPU cores shared with other jobs, 2026-12-02)"""
import json, os, signal, socket, subprocess, sys, tempfile, time, urllib.request, uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']


def small_png(path:Path):
    "Rewrite a screenshot as a 256-colour PNG: the same look for flat widgets and plots, a third of the bytes for the docs."
    from PIL import Image
    Image.open(path).convert('RGB').quantize(colors=256).save(path, optimize=True)


def main():
    from playwright.sync_api import sync_playwright, expect
    work = Path(tempfile.mkdtemp(prefix='finann-shots-'))
    nb = {'cells': [{'cell_type': 'code', 'metadata': {}, 'outputs': [], 'execution_count': None, 'source':
                     f"from finann.widgets import Launcher\nla = Launcher({str(ROOT)!r}, output_root={str(work / 'outputs')!r})\n"
                     "la.set(embedding='SentenceTransformerEmbedding', epochs=2, extra='dataset.config.n_tickers=40\\ntrainer.report_to=[]')\nla"}],
          'metadata': {'kernelspec': {'name': 'python3', 'display_name': 'python3', 'language': 'python'}}, 'nbformat': 4, 'nbformat_minor': 5}
    (work / 'launcher.ipynb').write_text(json.dumps(nb))
    settings = work / 'settings'
    for rel, data in (('@jupyterlab/notebook-extension/tracker.jupyterlab-settings', {'autoStartDefaultKernel': True}),
                      ('@jupyterlab/apputils-extension/notification.jupyterlab-settings', {'checkForUpdates': False, 'fetchNews': 'false'})):
        (settings / rel).parent.mkdir(parents=True, exist_ok=True); (settings / rel).write_text(json.dumps(data))
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    token = uuid.uuid4().hex
    env = {**os.environ, 'JUPYTERLAB_SETTINGS_DIR': str(settings), 'JUPYTER_CONFIG_DIR': str(work / 'cfg'), 'JUPYTER_RUNTIME_DIR': str(work / 'rt'),
           'JUPYTERLAB_WORKSPACES_DIR': str(work / 'ws'),
           'FINANN_CACHE': str(work / 'cache'),  # empty: every text is encoded, so the embedding bar moves
           'WANDB_MODE': 'offline', 'HF_HUB_OFFLINE': '1', 'TRANSFORMERS_OFFLINE': '1'}
    server = subprocess.Popen([sys.executable, '-m', 'jupyterlab', '--no-browser', '--allow-root', '--ip=127.0.0.1', f'--port={port}',
                               f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={work}', '--LabApp.expose_app_in_browser=True'],
                              cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f'http://127.0.0.1:{port}'
    try:
        for _ in range(200):
            try: urllib.request.urlopen(f'{base}/api/status?token={token}', timeout=2); break
            except OSError: time.sleep(0.3)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path='/usr/bin/chromium', headless=True, args=ARGS)
            page = browser.new_page(viewport={'width': 1300, 'height': 1700})  # as tests/test_browser.py: the results table fits its width
            page.set_default_timeout(120_000)
            page.goto(f'{base}/lab/tree/launcher.ipynb?token={token}&reset')
            page.wait_for_function("window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'")
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            widget = page.locator('.jp-OutputArea-output:has(.finann-status)').first
            expect(widget.locator('.finann-status')).to_have_text('idle', timeout=180_000)
            widget.locator('button.finann-launch').click()
            expect(widget.locator('.finann-phase')).to_contain_text('embedding', timeout=300_000)
            # the shot is taken while the bar moves: some texts done, not all, with the tokens and an ETA from the `embed` events
            page.wait_for_function(r"""() => { const m = document.querySelector('.finann-embed')?.textContent.match(/([\d,]+)\/([\d,]+) texts .*tokens.*left/);
                                              return m && +m[1].replace(/,/g, '') > 0 && m[1] !== m[2]; }""", timeout=300_000, polling=200)
            widget.screenshot(path=str(ROOT / 'nbs' / 'images' / 'launcher_embedding.png'))
            small_png(ROOT / 'nbs' / 'images' / 'launcher_embedding.png')
            expect(widget.locator('.finann-status')).to_have_text('done', timeout=900_000)
            # the done widget (table, curves, the run's plots) is taller than the window: JupyterLab's panel would clip it, grey
            page.set_viewport_size({'width': 1300, 'height': 3400})
            widget.locator('img.finann-results-plot').scroll_into_view_if_needed()
            widget.screenshot(path=str(ROOT / 'nbs' / 'images' / 'launcher_done.png'))
            small_png(ROOT / 'nbs' / 'images' / 'launcher_done.png')
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)
    print('wrote nbs/images/launcher_embedding.png and nbs/images/launcher_done.png')


if __name__ == '__main__': main()
