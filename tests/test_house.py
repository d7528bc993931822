"The house rules that a reader of the code and the notebooks meets (issue 23's 'done when'), measured on the checkout."
import ast, json, re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT / 'nbs').rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts)


def code_cells(nb: Path) -> list[str]:
    return [''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']


def defines(src: str) -> bool:
    "An exported cell that defines something (a cell of imports only is not a function to show)."
    body = ast.parse(src).body
    return not all(isinstance(b, (ast.Import, ast.ImportFrom)) for b in body)


def examples_after_exports(nb: Path) -> tuple[int, int]:
    "(exported cells that define something and are followed by a visible example, all such exported cells)"
    cells, shown, total = code_cells(nb), 0, 0
    for i, src in enumerate(cells):
        if not re.match(r'\s*#\|\s*export\b', src) or not defines(src): continue
        total += 1
        nxt = cells[i + 1] if i + 1 < len(cells) else ''
        shown += bool(nxt.strip()) and not re.match(r'\s*#\|\s*(export|exporti|hide)\b', nxt)
    return shown, total


def test_example_counter_reads_cells(tmp_path):
    "The counter itself: an export followed by an example counts, one followed by another export or a hidden cell doesn't."
    cells = ['#| export\ndef f(): return 1', 'f()', '#| export\ndef g(): return 2', '#| hide\ng()',
             '#| export\nimport os', '#| export\ndef h(): return 3']
    p = tmp_path / 'probe.ipynb'
    p.write_text(json.dumps({'cells': [{'cell_type': 'code', 'source': c} for c in cells]}))
    assert examples_after_exports(p) == (1, 3)


def test_no_module_over_400_lines():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in (ROOT / 'finann').rglob('*.py')
             if p.name != '_modidx.py'}
    assert sizes, 'no modules found'
    big = {k: v for k, v in sizes.items() if v > 420}
    assert not big, f'modules over ~400 lines: {big}'


def test_three_quarters_of_exports_have_an_example():
    shown = total = 0
    for nb in NBS:
        s, t = examples_after_exports(nb)
        shown += s; total += t
    assert total > 300, total
    assert shown / total >= 0.75, f'{shown} of {total} exported cells are followed by an example ({shown / total:.1%})'


def test_lines_of_notebook_code_fit_120_characters():
    lines = [l for nb in NBS for src in code_cells(nb) for l in src.splitlines()]
    long = [l for l in lines if len(l) > 120]
    assert len(lines) > 5000, len(lines)
    assert len(long) / len(lines) <= 0.02, f'{len(long)} of {len(lines)} lines over 120 characters: {long[:3]}'


@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.stem)
def test_code_cells_stay_short(nb):
    "No code cell much longer than 40 lines: a longer function is split into named steps."
    big = [(i, len(src.splitlines())) for i, src in enumerate(code_cells(nb)) if len(src.splitlines()) > 50]
    assert not big, f'{nb.name}: code cells over 50 lines (cell index, lines): {big}'
