"""`bash scripts/lab.sh` starts JupyterLab on the tutorials: the server answers on 127.0.0.1, its default page is the quickstart,
and the tutorials are in its file browser. FINANN_SKIP_INSTALL=1 skips the install step (the test must never reinstall)."""
import json, os, signal, socket, subprocess, time, urllib.request, uuid
import pytest
from conftest import ROOT, run_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def test_lab_sh_starts_jupyterlab_on_the_tutorials(tmp_path):
    port, token = free_port(), uuid.uuid4().hex
    env = run_env(tmp_path, FINANN_SKIP_INSTALL='1', JUPYTER_CONFIG_DIR=str(tmp_path/'cfg'), JUPYTER_RUNTIME_DIR=str(tmp_path/'rt'),
                  JUPYTERLAB_WORKSPACES_DIR=str(tmp_path/'ws'))
    cmd = ['bash', 'scripts/lab.sh', '--no-browser', '--ip=127.0.0.1', f'--port={port}', '--ServerApp.port_retries=0',
           f'--IdentityProvider.token={token}']
    log = open(tmp_path/'lab.log', 'w')
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f'http://127.0.0.1:{port}'
    try:
        deadline = time.time() + 60
        while True:
            try: urllib.request.urlopen(f'{base}/api/status?token={token}', timeout=2); break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    pytest.fail('scripts/lab.sh did not start JupyterLab:\n' + (tmp_path/'lab.log').read_text()[-3000:])
                time.sleep(0.3)
        # the landing page is the quickstart tutorial (urllib follows the redirect)
        landing = urllib.request.urlopen(f'{base}/?token={token}', timeout=10)
        assert landing.url.split('?')[0] == f'{base}/lab/tree/nbs/tutorials/quickstart.ipynb', landing.url
        listing = json.load(urllib.request.urlopen(f'{base}/api/contents/nbs/tutorials?token={token}', timeout=10))
        names = {f['name'] for f in listing['content']}
        assert {'quickstart.ipynb', 'launcher.ipynb', 'your_own_data.ipynb'} <= names, names
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try: server.wait(15)
        except subprocess.TimeoutExpired: os.killpg(server.pid, signal.SIGKILL); server.wait(5)
        log.close()
    assert 'starting JupyterLab on nbs/tutorials' in (tmp_path/'lab.log').read_text()
