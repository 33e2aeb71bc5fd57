"Every option of ar-run and ar-grid refuses a bad value up front: exit status 2, one line that names the option, nothing written."
import math, os, subprocess, sys
from pathlib import Path
import pytest, torch
from activations_repro.cli import ar_run, ar_grid

NO_GPU = not torch.cuda.is_available()
OUT = '<out>'                      # replaced by a fresh folder per case

RUN = [  # (option values, what the one line must say)
    (dict(act='softmaxx'), "unknown act 'softmaxx'"),
    (dict(model='vgg'), "unknown model 'vgg'"),
    (dict(dataset='imagenet'), "unknown dataset 'imagenet'"),
    (dict(seed=10**20), 'seed must be an integer from 0 to 4294967295'),
    (dict(seed=-1), 'seed must be an integer from 0'),
    (dict(epochs=0), 'epochs must be a positive integer'),
    (dict(time_limit_s=-5.), 'time_limit_s must be a positive number of seconds'),
    (dict(time_limit_s=0.), 'time_limit_s must be a positive number'),
    (dict(time_limit_s=math.nan), 'time_limit_s must be a positive number'),
    (dict(per_channel='maybe'), '--per-channel must be yes or no'),
    (dict(limit=10**7), 'limit=10000000 is more than the 50,000 training images'),
    (dict(limit=50), 'fewer training images than one batch'),
    (dict(epoch_size=60_000), 'epoch_size=60000 is more than the 50,000 training images'),
    (dict(eval_size=5), 'eval_size=5 must be from 10 (one test image per class)'),
    (dict(limit=200, eval_size=10**7), 'to the 200 test images the run keeps (limit=200 keeps at most 200 test images too)'),
    (dict(bs=0), 'bs must be a positive integer'),
    (dict(lr=-1.), 'lr must be a positive number'),
    (dict(lr=math.inf), 'lr must be a positive number'),
    (dict(net='vgg'), "unknown net 'vgg'"),
    (dict(jpeg=100), 'JPEG quality from 1 to 95'),
    (dict(out='/dev/null'), 'out=/dev/null is a file, not a folder'),
    (dict(out='/etc/passwd'), 'out=/etc/passwd is a file, not a folder'),
    (dict(out=''), "out must name a folder for the result files, got ''"),
    (dict(device='foo'), "device 'foo' is not a torch device name"),
    (dict(device='meta'), "device 'meta' cannot train a run"),
    (dict(device='cuda:99'), "device 'cuda:99'"),
] + [(dict(device='cuda'), "device 'cuda': torch sees no CUDA GPU")]*NO_GPU
# quiet is a flag: it has no bad value

GRID = [
    (dict(grid='nope'), "unknown grid 'nope'"),
    (dict(budget='nonsense'), "unknown budget 'nonsense'"),
    (dict(out='/etc/passwd'), 'out=/etc/passwd is a file, not a folder'),
    (dict(shard='2/2'), 'shard must be "i/n" with 0 <= i < n'),
    (dict(shard='x'), 'shard must be "i/n"'),
    (dict(workers=0), 'workers must be a positive integer'),
    (dict(workers=-1), 'workers must be a positive integer'),
    (dict(device='foo'), "device 'foo' is not a torch device name"),
    (dict(engine='slurm'), "unknown engine 'slurm'"),
    (dict(engine='ray', address='127.0.0.1:9'), "cannot reach a Ray cluster at '127.0.0.1:9'"),
]

def refused(f, kw, tmp_path, capsys) -> str:
    "The one line `f(**kw)` prints on stderr before exiting with status 2; nothing may be left in its output folder."
    out = tmp_path/'out'
    kw = {'out': str(out), **kw}
    with pytest.raises(SystemExit) as e: f(**kw)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1 and err.startswith('error: '), (e.value.code, err)
    assert not out.exists(), list(out.rglob('*'))                          # no result file, no folder
    return err

@pytest.mark.parametrize('kw,says', RUN, ids=[str(k) for k, _ in RUN])
def test_ar_run_refuses_a_bad_value(kw, says, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv('ACTIVATIONS_REPRO_DATA', raising=False)
    assert says in refused(ar_run, kw, tmp_path, capsys)

@pytest.mark.parametrize('kw,says', GRID, ids=[str(k) for k, _ in GRID])
def test_ar_grid_refuses_a_bad_value(kw, says, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv('ACTIVATIONS_REPRO_DATA', raising=False)
    assert says in refused(ar_grid, kw, tmp_path, capsys)

def test_every_option_is_in_the_tables():
    "A new option of either command needs a bad value in its table."
    import inspect
    for f, table, flags in ((ar_run, RUN, {'quiet'}), (ar_grid, GRID, {'list_grids'})):
        assert set(inspect.signature(f).parameters) - flags == {k for kw, _ in table for k in kw}

@pytest.mark.parametrize('args,says', [(['ar-run', '--device', 'cuda:99'], "device 'cuda:99'"),
                                       (['ar-grid', '--workers', '0'], 'workers must be a positive integer'),
                                       (['ar-run', '--seed', '99999999999999999999'], 'seed must be an integer from 0')])
def test_the_console_scripts_exit_2_with_one_line(args, says, tmp_path):
    r = subprocess.run([Path(sys.executable).parent/args[0], *args[1:], '--out', str(tmp_path/'o')], capture_output=True, text=True,
                       env={k: v for k, v in os.environ.items() if k != 'ACTIVATIONS_REPRO_DATA'})
    assert r.returncode == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path/'o').exists()

def test_help_teaches_and_quiet_is_quiet_and_a_refusal_leaves_nothing(tmp_path):
    "--help shows the defaults and an example; --list-grids every grid with its budgets; with no data, --quiet prints one error line and no folder is made."
    exe = Path(sys.executable).parent
    h = subprocess.run([exe/'ar-run', '--help'], capture_output=True, text=True).stdout
    assert '(default: relu)' in h and '(default: 30)' in h and 'Example' in h and 'ACTIVATIONS_REPRO_DATA' in h
    g = subprocess.run([exe/'ar-grid', '--list-grids'], capture_output=True, text=True)
    assert g.returncode == 0 and 'paper_b_cifar10_tf_peers: full 12 runs × 200 epochs' in g.stdout
    env = {k: v for k, v in os.environ.items() if k != 'ACTIVATIONS_REPRO_DATA'} | {'ACTIVATIONS_REPRO_CACHE': str(tmp_path/'cache')}
    r = subprocess.run([exe/'ar-run', '--quiet', '--out', str(tmp_path/'out')], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and r.stdout == '' and len(r.stderr.strip().splitlines()) == 1 and 'ACTIVATIONS_REPRO_DATA' in r.stderr
    assert '../shared' not in r.stderr and not (tmp_path/'out').exists()
