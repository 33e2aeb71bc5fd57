"Reports only read: the chapters build from whatever result files exist, and never train."
import os
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

@pytest.mark.parametrize('name', ['20_paper_a', '21_paper_b', '22_kernel_af', 'index'])
def test_a_report_with_no_result_files_draws_empty_tables(name, tmp_path, monkeypatch):
    "Executed against an empty results folder (and no data), a chapter runs to its end and writes no result file: it never trains."
    from fastcore.nbio import read_nb
    from execnb.shell import CaptureShell
    empty = tmp_path/'results'; empty.mkdir()
    monkeypatch.setenv('AR_RESULTS', str(empty)); monkeypatch.delenv('IN_TEST', raising=False)
    monkeypatch.delenv('ACTIVATIONS_REPRO_DATA', raising=False)
    monkeypatch.setenv('ACTIVATIONS_REPRO_CACHE', str(tmp_path/'cache'))
    nb = read_nb(ROOT/'nbs'/f'{name}.ipynb'); cwd = os.getcwd()
    try: os.chdir(ROOT/'nbs'); CaptureShell(path=ROOT/'nbs').run_all(nb, exc_stop=True)
    finally: os.chdir(cwd)
    assert list(empty.rglob('*')) == []

@pytest.mark.parametrize('name', ['20_paper_a', '21_paper_b', '22_kernel_af', 'index'])
def test_a_report_imports_neither_the_runner_nor_the_trainer(name):
    "Reports only read, by structure: no report notebook imports `experiments` or `train`."
    import json, re
    src = '\n'.join(''.join(c['source']) for c in json.loads((ROOT/'nbs'/f'{name}.ipynb').read_text())['cells'] if c['cell_type'] == 'code')
    assert not re.search(r'activations_repro(\.| import )(experiments|train)\b', src), name

def test_every_committed_cifar_result_was_evaluated_on_every_class():
    "A result file that saw only some test classes (the old `valid_limit` bug) cannot enter a table: none is committed."
    from activations_repro.results import read_results
    n_classes = dict(cifar10=10, cifar100=100)
    cifar = [r for r in read_results(ROOT/'results') if r['config'].get('dataset') in n_classes]
    assert cifar, 'no committed CIFAR result files found'
    for r in cifar:
        counts = r.get('eval_class_counts') or {}
        seen = [k for k, v in counts.items() if v > 0]
        assert len(seen) == n_classes[r['config']['dataset']], f"{r['name']}: evaluated on {len(seen)} classes"
