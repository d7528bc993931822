#!/usr/bin/env bash
# Build the documentation site into _docs/.
#   With Quarto on PATH: nbdev_docs, the nbdev way (nbs/_quarto.yml, nbs/nbdev.yml, nbs/sidebar.yml).
#   Without it: the same processed notebooks (nbdev's processors write _proc/), rendered to static HTML with nbconvert,
#   one page per notebook, an index page and a sidebar in the order of nbs/sidebar.yml; then every local link is checked.
# Either way, Pagefind (a pip package with its own binary) indexes the pages for a search box that works offline
# (serve _docs over http: browsers refuse the index's fetches from file://).
# Usage: bash scripts/docs.sh            (open _docs/index.html, or: python -m http.server -d _docs)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/nbdev_export ] || FINANN_DEV=1 bash scripts/install.sh
export WANDB_MODE=offline HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
.venv/bin/nbdev_export
if command -v quarto >/dev/null 2>&1; then
  .venv/bin/nbdev_docs
  .venv/bin/python -m pagefind --site _docs --quiet
  exit 0
fi
# nbdev_proc_nbs itself is not used here: without Quarto it tries to install Quarto and pip-install the package
# into whatever `pip` is on PATH. The processing it does is the same as below (nbdev.serve_drv with FilterDefaults).
.venv/bin/python - <<'PY'
import html, json, re, shutil, sys, time, warnings as warnings_
from pathlib import Path
import yaml
from nbdev.config import get_config
from nbdev.processors import FilterDefaults
import nbdev.serve_drv
import nbformat
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from pygments.formatters import HtmlFormatter

cfg = get_config()
root, nbs = cfg.config_path, cfg.nbs_path
proc, out = root/'_proc', root/cfg.doc_path.name
site_url = f"{cfg.doc_host.rstrip('/')}{cfg.doc_baseurl.rstrip('/')}/"  # nbdev's links to symbols point at the published site
t0 = time.time()

class WithoutExec(FilterDefaults):
    "nbdev's processors except `exec_show_docs`: for a notebook whose cells can't run out of order."
    def base_procs(self): return [p for p in super().base_procs() if p.__name__ != 'exec_show_docs']

# 1. process: _proc/ mirrors nbs/ (notebooks processed, other files copied), as nbdev_proc_nbs does
shutil.rmtree(proc, ignore_errors=True); shutil.rmtree(out, ignore_errors=True)
notebooks, warnings = [], []
for src in sorted(nbs.rglob('*')):
    rel = src.relative_to(nbs)
    if not src.is_file() or any(p.startswith(('.', '_')) for p in rel.parts[:-1]) or rel.name.startswith('.') or '.ipynb_checkpoints' in rel.parts: continue
    dst = proc/rel; dst.parent.mkdir(parents=True, exist_ok=True)
    if src.suffix != '.ipynb': shutil.copy2(src, dst); continue
    try:
        with warnings_.catch_warnings(record=True) as caught:
            warnings_.simplefilter('always')
            nbdev.serve_drv.main((src, dst, FilterDefaults))
        mixed = sum('Found cells containing imports and other code' in str(w.message) for w in caught)
        if mixed: warnings.append(f"{rel}: {mixed} cell(s) mix imports with other code, which nbdev runs for show_doc (see nbdev's FAQ)")
    except Exception as e:  # show_doc cells could not run: render without their output rather than not at all
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        warnings.append(f"{rel}: {first} (rendered without show_doc output)")
        nbdev.serve_drv.main((src, dst, WithoutExec))
    notebooks.append(rel)

# 2. pages: where each notebook's page goes (nbdev's output-file, e.g. 00_config -> config.html)
def front(nb):
    "The YAML front matter nbdev puts in the first raw cell."
    c = nb.cells[0] if nb.cells else None
    if c is not None and c.cell_type == 'raw' and c.source.lstrip().startswith('---'):
        return yaml.safe_load(c.source.strip().strip('-')) or {}
    return {}
pages = {}
for rel in notebooks:
    nb = nbformat.read(proc/rel, as_version=4)
    fm = front(nb)
    pages[rel.as_posix()] = dict(rel=rel, nb=nb, fm=fm, href=(rel.parent/(fm.get('output-file') or rel.with_suffix('.html').name)).as_posix(),
                                 title=fm.get('title') or rel.stem)

# 3. navigation from sidebar.yml; pages it leaves out go last, with a warning
side = yaml.safe_load((nbs/'sidebar.yml').read_text())['website']['sidebar']['contents']
order = []
def walk(items, depth=0):
    "[(depth, label or None, page key or None)] in sidebar order."
    rows = []
    for it in items:
        if isinstance(it, str): key = it
        elif 'section' in it: rows.append((depth, it['section'], None)); rows += walk(it.get('contents', []), depth + 1); continue
        else: key = it.get('href') or it.get('file')
        if key not in pages: warnings.append(f"sidebar.yml: {key}: no such notebook"); continue
        rows.append((depth, None, key)); order.append(key)
    return rows
rows = walk(side)
missing = [k for k in pages if k not in order]
if missing:
    warnings.append(f"sidebar.yml leaves out {', '.join(missing)}: listed under 'More'")
    rows.append((0, 'More', None)); rows += [(1, None, k) for k in missing]; order += missing

def rel_to(href, here):
    "`href` (relative to the site root) as seen from the page `here`."
    up = '../' * here.count('/')
    return up + href

def sidebar(here):
    lis = []
    for depth, section, key in rows:
        pad = f' style="padding-left:{0.9 * depth:.1f}em"'
        if section: lis.append(f'<li class="section"{pad}>{html.escape(section)}</li>')
        else:
            p = pages[key]; cur = ' class="active"' if p['href'] == here else ''
            lis.append(f'<li{pad}><a{cur} href="{rel_to(p["href"], here)}">{html.escape(p["title"])}</a></li>')
    return '<ul>' + ''.join(lis) + '</ul>'

# 4. render: nbconvert's basic template (body only), with Quarto's cell options honoured where they matter
from nbconvert.preprocessors import TagRemovePreprocessor
exporter = HTMLExporter(template_name='basic', exclude_anchor_links=True, exclude_input_prompt=True, exclude_output_prompt=True)
exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags={'remove_input'}), enabled=True)
BANNER = '[INFO] Running in WANDB offline mode\n'  # printed by transformers' wandb integration at import when WANDB_MODE=offline
def quiet(o):
    "An output as the docs show it: stderr (warnings, 'Loading weights'), progress bars and the wandb banner are not part of an example."
    if o.output_type == 'stream':
        if o.name == 'stderr': return None
        o.text = o.text.replace(BANNER, '')
        return o if o.text.strip() else None
    data = o.get('data', {})
    if 'application/vnd.jupyter.widget-view+json' in data and not ({'image/png', 'text/html'} & set(data)): return None  # a tqdm bar, without its widget state
    return o

def prepare(nb):
    cells = []
    for c in nb.cells[1:] if front(nb) else nb.cells:
        if c.cell_type == 'raw': continue
        if c.cell_type == 'code':
            opts = dict(re.findall(r'^#\|\s*([\w-]+)\s*:\s*(.*?)\s*$', c.source, re.M))
            if opts.get('include') == 'false': continue
            c.source = '\n'.join(l for l in c.source.splitlines() if not l.startswith('#|')).strip()
            if opts.get('echo') == 'false': c.metadata.setdefault('tags', []).append('remove_input')
            if opts.get('output') == 'false': c.outputs = []
            c.outputs = [o for o in map(quiet, c.outputs) if o is not None]
            if not c.source and not c.outputs: continue
        if c.cell_type == 'markdown' and c.source.strip().startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'): continue
        cells.append(c)
    nb.cells = cells
    return nb

def fix_links(body, here):
    # Quarto's link attributes, as nbdev's show_doc writes them: [source](url){target="_blank" style="..."}
    body = re.sub(r'<a href="([^"]+)">([^<]*)</a>\{([^}]*)\}', lambda m: f'<a href="{m[1]}" {html.unescape(m[3])}>{m[2]}</a>', body)
    body = body.replace(f'href="{site_url}', 'href="' + '../' * here.count('/'))  # symbol links: into this site
    def local(m):
        url = m[1]
        if re.match(r'^[a-z]+:|^#|^/', url): return m[0]
        path, _, anchor = url.partition('#')
        base = (Path(here).parent/path).as_posix()
        base = re.sub(r'[^/]+/\.\./', '', base)
        key = next((k for k, p in pages.items() if k == base or k == re.sub(r'\.html$', '.ipynb', base)), None)
        if key is None: return m[0]
        return f'href="{rel_to(pages[key]["href"], here)}' + (f'#{anchor}' if anchor else '') + '"'
    return re.sub(r'href="([^"]+)"', local, body)

style = HtmlFormatter(style='default').get_style_defs('.highlight') + '''
body{margin:0;font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#212529}
header{background:#2780e3;color:#fff;padding:.6em 1.2em;display:flex;gap:1em;align-items:baseline}
header a{color:#fff;text-decoration:none} #search{width:320px;--pagefind-ui-scale:.7} #search a{color:#1a5fb4} #search .pagefind-ui__drawer{background:#fff;color:#212529;position:absolute;z-index:10;width:560px;max-height:70vh;overflow:auto;box-shadow:0 4px 14px rgba(0,0,0,.2);padding:0 .8em;border-radius:4px} header .brand{font-weight:600;font-size:1.2em} header .desc{opacity:.85;flex:1}
.layout{display:flex;min-height:calc(100vh - 3em)}
nav.sidebar{width:250px;flex:none;border-right:1px solid #e5e5e5;padding:1em .6em;background:#fafafa}
nav.sidebar ul{list-style:none;margin:0;padding:0} nav.sidebar li{margin:.15em 0}
nav.sidebar li.section{font-weight:600;margin-top:.8em;color:#555}
nav.sidebar a{color:#333;text-decoration:none;display:block;padding:.1em .4em;border-radius:3px}
nav.sidebar a:hover{background:#eef4fb} nav.sidebar a.active{background:#2780e3;color:#fff}
main{flex:1;max-width:980px;padding:1em 2.2em 3em;overflow-x:auto}
h1.title{margin-bottom:.2em} p.subtitle{font-size:1.15em;color:#555;margin-top:0}
pre{background:#f7f7f7;padding:.7em;border-radius:4px;overflow-x:auto;font-size:13px}
code{font-size:.92em} table{border-collapse:collapse;margin:.6em 0} th,td{border-bottom:1px solid #ddd;padding:.25em .6em;text-align:left}
.cell{margin:.7em 0} .output_area pre{background:#fff;border:1px solid #eee} .output_stderr pre{background:#fff6f6}
.output_markdown hr{border:0;border-top:1px solid #ddd;margin:1.6em 0 .4em}
.jp-RenderedImage img,img{max-width:100%} .pager{display:flex;justify-content:space-between;margin-top:3em;border-top:1px solid #e5e5e5;padding-top:1em}
'''
out.mkdir(parents=True)
(out/'site.css').write_text(style)
for f in proc.rglob('*'):  # styles.css, images and other files beside the notebooks
    if f.is_file() and f.suffix not in ('.ipynb', '.yml', '.yaml'):
        (out/f.relative_to(proc)).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(f, out/f.relative_to(proc))
title = cfg.title
for i, key in enumerate(order):
    p, here = pages[key], pages[key]['href']
    body, _ = exporter.from_notebook_node(prepare(p['nb']))
    body = fix_links(body, here)
    prev = f'<a href="{rel_to(pages[order[i-1]]["href"], here)}">← {html.escape(pages[order[i-1]]["title"])}</a>' if i else '<span></span>'
    nxt = f'<a href="{rel_to(pages[order[i+1]]["href"], here)}">{html.escape(pages[order[i+1]]["title"])} →</a>' if i + 1 < len(order) else '<span></span>'
    desc = p['fm'].get('description', '')
    up = '../' * here.count('/')
    page = f'''<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(p["title"])} – {html.escape(title)}</title>
<link rel="stylesheet" href="{up}site.css"><link rel="stylesheet" href="{up}pagefind/pagefind-ui.css"><script src="{up}pagefind/pagefind-ui.js"></script>{f'<link rel="stylesheet" href="{up}styles.css">' if (out/'styles.css').exists() else ''}</head>
<body><header><a class="brand" href="{up}index.html">{html.escape(title)}</a><span class="desc">{html.escape(cfg.description)}</span><div id="search"></div><a href="{cfg.git_url}">GitHub</a></header>
<script>window.addEventListener('DOMContentLoaded', () => new PagefindUI({{element: '#search', showSubResults: true, showImages: false}}));</script>
<div class="layout"><nav class="sidebar">{sidebar(here)}</nav>
<main data-pagefind-body><h1 class="title">{html.escape(p["title"])}</h1>{f'<p class="subtitle">{fix_links(markdown2html_mistune(desc), here)}</p>' if desc else ''}
{body}
<div class="pager">{prev}{nxt}</div></main></div></body></html>
'''
    (out/here).parent.mkdir(parents=True, exist_ok=True)
    (out/here).write_text(page, encoding='utf-8')
if not (out/'index.html').exists(): sys.exit('docs: no index page: nbs/index.ipynb is missing')
import subprocess
t1 = time.time()
subprocess.run([sys.executable, '-m', 'pagefind', '--site', str(out), '--quiet'], check=True)  # the search index, in _docs/pagefind/
t_search = time.time() - t1

# 5. check: every local link and image of every page resolves
broken = []
for page in out.rglob('*.html'):
    for url in re.findall(r'(?:href|src)="([^"]+)"', page.read_text(encoding='utf-8')):
        if re.match(r'^[a-z]+:|^#|^data:', url): continue
        target = (page.parent/url.split('#')[0]).resolve()
        if not target.exists(): broken.append(f"{page.relative_to(out)} → {url}")
for w in warnings: print(f"docs: warning: {w}", file=sys.stderr)
if broken: sys.exit('docs: broken links:\n  ' + '\n  '.join(sorted(set(broken))))
print(f"docs: {len(order)} pages in {out} ({time.time() - t0:.0f} s, of which the search index {t_search:.1f} s); serve it: python -m http.server -d {out.name} 8000")
PY
