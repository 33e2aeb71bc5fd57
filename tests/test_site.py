"The offline site: every notebook has a page, with its figures embedded and its math as MathML; navigation links resolve."
import json, re, shutil
from pathlib import Path
import pytest
from activations_repro.site import build_site, cell_options, prepare_nb

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "Build from a private copy of the project: parallel test workers must not share one `_proc/`."
    proj = tmp_path_factory.mktemp('proj')
    shutil.copytree(ROOT/'nbs', proj/'nbs'); shutil.copy(ROOT/'pyproject.toml', proj)
    return build_site(proj, proj/'_docs')

def _images(nb):
    return sum('image/png' in o.get('data', {}) for c in nb['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', []))

def _has_math(nb):
    return any(re.search(r'\$[^$\s][^$]*\$', ''.join(c['source'])) for c in nb['cells'] if c['cell_type'] == 'markdown')

@pytest.mark.parametrize('nb_path', sorted((ROOT/'nbs').glob('[!_]*.ipynb')), ids=lambda p: p.stem)
def test_every_notebook_has_a_page(site, nb_path):
    nb = json.loads(nb_path.read_text())
    proc = json.loads((site.parent/'_proc'/nb_path.name).read_text())
    meta, _ = prepare_nb(proc)
    page = site/(meta.get('output-file') or nb_path.stem + '.html')
    assert page.exists(), f'no page for {nb_path.name}'
    text = page.read_text()
    assert text.count('src="data:image/png;base64,') >= _images(nb), f'{page.name}: figures missing'
    if _has_math(nb): assert '<math' in text, f'{page.name}: math not rendered as MathML'
    assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', text), f'{page.name} loads something from the network'
    for href in re.findall(r'<nav class="site">(.*?)</nav>', text)[0].split('href="')[1:]:
        assert (site/href.split('"')[0]).exists()

def test_markdown_outputs_render_as_markdown(site):
    "Computed sentences (display(Markdown(...))) appear as text, never as '<IPython.core.display.Markdown object>'."
    for page in site.glob('*.html'): assert 'IPython.core.display.Markdown object' not in page.read_text(), page.name

def test_math_is_mathml_not_tex(site):
    text = (site/'derivation.html').read_text()
    assert text.count('<math') > 20 and 'mathjax' not in text.lower() and 'katex' not in text.lower()

def test_cell_options():
    assert cell_options('#| echo: false\nx') == ({'echo': False}, 'x')
