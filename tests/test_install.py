"What a user installs: the library needs torch and numpy alone; the wheel and sdist hold what they should, built without warnings."
import os, subprocess, sys, zipfile, tarfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
LEAN = """
import sys, importlib.abc
BLOCK = ('fastai', 'fastcore', 'fastprogress', 'fasttransform', 'pandas', 'matplotlib', 'sklearn', 'scipy', 'yaml',
         'torchvision', 'sympy', 'nbdev', 'IPython', 'timm', 'ray')
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in BLOCK: raise ModuleNotFoundError(f'No module named {name!r} (blocked)', name=name)
sys.meta_path.insert(0, Block())
import torch
from torch import nn
from activations_repro.learnable import Exponential, Rational, Swish, PAU, swap_activations, activation_params
from activations_repro.kernel import KAFNet
from activations_repro import catalog
for M in (Exponential, Rational, Swish, PAU):
    x = torch.randn(4, 8, 5, 5, requires_grad=True); M()(x).sum().backward()
model = swap_activations(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(10)), 'exponential', per_channel=True,
                         example=torch.zeros(1, 3, 16, 16))
model(torch.randn(2, 3, 16, 16)).sum().backward()
net = KAFNet(4, 3, 8, 'kernel', anchors_x=torch.randn(20, 4), anchors_y=torch.eye(3)[torch.randint(0, 3, (20,))])
net(torch.randn(5, 4)).sum().backward()
print(len(activation_params(model)), len(catalog.__all__) > 0, [m for m in sys.modules if m.split('.')[0] in BLOCK])
"""

def test_the_activations_need_torch_and_numpy_alone():
    "learnable, kernel and catalog import and run (forward, backward, swapping, the kernel output) with the reproduction's stack blocked."
    r = subprocess.run([sys.executable, '-c', LEAN], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == '1 True []', (r.stdout, r.stderr[-1500:])

@pytest.fixture(scope='module')
def dists(tmp_path_factory):
    out = tmp_path_factory.mktemp('dist')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONDONTWRITEBYTECODE'}     # (which makes setuptools say it skips compiling)
    r = subprocess.run([sys.executable, '-m', 'build', '--sdist', '--wheel', '--outdir', str(out), str(ROOT)], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    return out, r.stdout + r.stderr

def test_the_wheel_declares_torch_and_numpy_and_holds_the_c_sources_and_license(dists):
    out, log = dists
    whl = next(out.glob('*.whl'))
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith('METADATA'))).decode()
    required = [l.split(':', 1)[1].strip() for l in meta.splitlines() if l.startswith('Requires-Dist:') and 'extra ==' not in l]
    assert sorted(r.split('>')[0].split('=')[0] for r in required) == ['numpy', 'torch'], required
    assert {'activations_repro/csrc/kernels.c', 'activations_repro/csrc/pau.h', 'activations_repro/csrc/swish.h',
            'activations_repro/csrc/activation_op.cpp'} <= set(names)
    assert any(n.endswith('licenses/LICENSE') for n in names) and 'License-Expression: Apache-2.0' in meta
    assert not any(n.startswith(('results/', 'nbs/', 'tests/')) for n in names)

def test_the_build_warns_of_nothing_and_the_sdist_ships_no_half_test_suite(dists):
    out, log = dists
    assert 'warning' not in log.lower(), [l for l in log.splitlines() if 'warning' in l.lower()][:5]
    with tarfile.open(next(out.glob('*.tar.gz'))) as t: names = t.getnames()
    assert any(n.endswith('/LICENSE') for n in names) and not any('/tests/' in n for n in names), [n for n in names if 'tests' in n][:5]
