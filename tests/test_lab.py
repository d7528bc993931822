"""`bash scripts/lab.sh` starts JupyterLab on the tutorials: the server answers on 127.0.0.1, its default page is the quickstart,
and the tutorials are in its file browser. FINANN_SKIP_INSTALL=1 skips the install step (the test must never reinstall)."""
import json, urllib.request
from conftest import jupyterlab_server, run_env


def test_lab_sh_starts_jupyterlab_on_the_tutorials(tmp_path):
    env = run_env(tmp_path, FINANN_SKIP_INSTALL='1', JUPYTER_CONFIG_DIR=str(tmp_path/'cfg'), JUPYTER_RUNTIME_DIR=str(tmp_path/'rt'),
                  JUPYTERLAB_WORKSPACES_DIR=str(tmp_path/'ws'))
    with jupyterlab_server(['bash', 'scripts/lab.sh', '--no-browser'], env, tmp_path/'lab.log') as (base, token):
        # the landing page is the quickstart tutorial (urllib follows the redirect)
        landing = urllib.request.urlopen(f'{base}/?token={token}', timeout=10)
        assert landing.url.split('?')[0] == f'{base}/lab/tree/nbs/tutorials/quickstart.ipynb', landing.url
        listing = json.load(urllib.request.urlopen(f'{base}/api/contents/nbs/tutorials?token={token}', timeout=10))
        names = {f['name'] for f in listing['content']}
        assert {'quickstart.ipynb', 'launcher.ipynb', 'your_own_data.ipynb'} <= names, names
    assert 'starting JupyterLab on nbs/tutorials' in (tmp_path/'lab.log').read_text()
