"The offline site: every notebook has a page, with its figures embedded and its math as MathML; navigation links resolve."
import json, os, re, shutil
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
    strip = lambda t: re.sub(r'```.*?```|`[^`]*`', '', t, flags=re.S)          # `$VAR` in code is not math
    return any(re.search(r'\$[^$\s][^$]*\$', strip(''.join(c['source']))) for c in nb['cells'] if c['cell_type'] == 'markdown')

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

def test_every_heading_is_in_its_pages_contents(site):
    "A page's table of contents lists every second-level heading on it (a heading after text in a notebook cell too)."
    for page in site.glob('*.html'):
        text = page.read_text()
        toc = re.search(r'<nav id="TOC"[^>]*>(.*?)</nav>', text, re.S)
        heads = re.findall(r'<h2[^>]*id="([^"]+)"', text)
        if not heads: continue
        assert toc, f'{page.name}: no table of contents'
        missing = [h for h in heads if f'href="#{h}"' not in toc.group(1)]
        assert not missing, f'{page.name}: {missing} not in its contents'

def test_entries_read_as_entries(site):
    "Classes are shown as classes, each source link follows its entry's heading, no link points at a private name."
    text = (site/'learnable.html').read_text()
    assert re.search(r'class</span> Rational\(|class Rational\(', text) and not re.search(r'def</span> Rational\(|def Rational\(', text)
    first = re.search(r'<h3[^>]*>Rational</h3>(.{0,400})', text, re.S)
    assert first and 'source</a>' in first.group(1), 'the source link does not follow its heading'
    for page in site.glob('*.html'):
        assert not re.search(r'href="[^"]*#_', page.read_text()), f'{page.name} links to a private name'

def test_math_is_mathml_not_tex(site):
    text = (site/'derivation.html').read_text()
    assert text.count('<math') > 20 and 'mathjax' not in text.lower() and 'katex' not in text.lower()

def test_cell_options():
    assert cell_options('#| echo: false\nx') == ({'echo': False}, 'x')

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
RAW = {'Quarto link attributes': re.compile(r'\{target='), 'raw LaTeX math': re.compile(r'\$[^$\s\d][^$\n]*\$|\\(frac|sigma|cdot|mathbb|left|right|hat|sum)\b'),   # $100,000 is money
       'Quarto div or cell option': re.compile(r'^:::|#\|', re.M), 'unrendered emphasis': re.compile(r'(^|\s)\*{1,2}[A-Za-z][^*\n]{2,}\*{1,2}(?=[\s.,;:)]|$)', re.M),
       'progress-bar residue': re.compile('█')}

@pytest.mark.skipif(not CHROMIUM and not os.environ.get('AR_REQUIRE_BROWSER'), reason='no Chromium (apt-get install chromium); CI installs it')
def test_every_page_in_a_real_browser(site):
    "Headless Chromium opens every page from disk: no network request, no raw markup, no broken link or image, a sidebar on each."
    from playwright.sync_api import sync_playwright
    pages = sorted(site.glob('*.html')); assert len(pages) >= 15
    flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
             '--disable-component-update', '--disable-sync']
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=flags)
        for f in pages:
            page = browser.new_page(); remote = []
            page.route('**/*', lambda route: (route.continue_() if route.request.url.startswith(('file:', 'data:'))
                                              else (remote.append(route.request.url), route.abort())))
            page.goto(f.as_uri()); page.wait_for_load_state('load')
            if remote: problems.append(f'{f.name}: network requests {remote[:3]}')
            if not page.locator('nav.site a').count(): problems.append(f'{f.name}: no sidebar')
            text = page.evaluate("""() => { const b = document.body.cloneNode(true);
                b.querySelectorAll('pre, code, script, style, math, nav').forEach(e => e.remove()); return b.innerText; }""")
            problems += [f'{f.name}: {what}: {m.group(0)[:60]!r}' for what, rx in RAW.items() for m in [rx.search(text)] if m]
            broken = page.evaluate("() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0).length")
            cut = page.evaluate("""() => [...document.querySelectorAll('pre')].filter(p => p.scrollWidth > p.clientWidth + 1 &&
                                   !['auto', 'scroll'].includes(getComputedStyle(p).overflowX)).length""")
            if cut: problems.append(f'{f.name}: {cut} code block(s) cut off instead of scrolling')
            if broken: problems.append(f'{f.name}: {broken} broken image(s)')
            for href in page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))"):
                if href.startswith(('http:', 'https:', 'mailto:', '#', 'data:')): continue
                if not (site/href.split('#')[0]).exists(): problems.append(f'{f.name}: broken link {href}')
            page.close()
        browser.close()
    assert not problems, '\n'.join(problems)
