"Data loading: local archives, the CIFAR-100 path on a small archive in the real layout, bad input."
import tarfile
import pytest, torch
from activations_repro import data as D

@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv(D.CACHE_ENV, str(tmp_path/'cache'))
    return tmp_path

def test_cifar100_layout_end_to_end(env, monkeypatch):
    D.make_fake_archive(env/'cifar100.tgz', 'cifar100', n_classes=5, per_class=6)
    monkeypatch.setenv(D.DATA_ENV, str(env))
    d = D.load_images('cifar100')
    assert d['x_train'].shape == (30, 3, 32, 32) and d['y_test'].unique().tolist() == list(range(5))
    dls = D.cifar_dls('cifar100', bs=10)
    xb, yb = dls.train.one_batch(); assert xb.shape == (10, 3, 24, 24) and dls.c == 5
    assert (env/'cache').glob('cifar100-*.pt')                       # decoded once, cached

def test_extracted_folder_is_used_in_place(env, monkeypatch):
    D.make_fake_archive(env/'x.tgz', 'cifar10', n_classes=2, per_class=2)
    with tarfile.open(env/'x.tgz') as tf: tf.extractall(env/'data', filter='data')
    monkeypatch.setenv(D.DATA_ENV, str(env/'data'))
    assert D.locate('cifar10') == env/'data'/'cifar10'

def test_corrupt_archive_leaves_nothing(env, monkeypatch):
    D.make_fake_archive(env/'good.tgz', 'cifar10', n_classes=2, per_class=3)
    (env/'bad').mkdir(); (env/'bad'/'cifar10.tgz').write_bytes((env/'good.tgz').read_bytes()[:1500])
    monkeypatch.setenv(D.DATA_ENV, str(env/'bad'))
    with pytest.raises(ValueError, match='corrupt or incomplete'): D.load_images('cifar10')
    assert not [p for p in (env/'cache').iterdir() if p.name.startswith(('cifar10', '.partial'))]

def test_interrupted_extraction_is_redone(env):
    D.make_fake_archive(env/'cifar10.tgz', 'cifar10', n_classes=2, per_class=2)
    half = env/'cache'/'cifar10'; (half/'cifar10'/'train').mkdir(parents=True)   # no .complete marker
    out = D.extract_archive(env/'cifar10.tgz', env/'cache')
    assert (out/'.complete').exists() and len(list((out/'cifar10'/'train').rglob('*.png'))) == 4

def test_missing_data_error_says_where_to_look(env, monkeypatch):
    (env/'empty').mkdir(); monkeypatch.setenv(D.DATA_ENV, str(env/'empty'))
    monkeypatch.setattr(D, 'untar_data', lambda *a, **k: (_ for _ in ()).throw(ConnectionError('offline')))
    with pytest.raises(FileNotFoundError) as e: D.locate('cifar100')
    msg = str(e.value)
    assert 'cifar100.tgz' in msg and D.DATA_ENV in msg and str(env/'empty') in msg and 'download' in msg

def test_unknown_names():
    with pytest.raises(ValueError, match='valid names: cifar10, cifar100, mnist'): D.locate('imagenet')
    with pytest.raises(ValueError, match='valid: paper_a, paper_b'): D.cifar_dls('cifar10', augment='autoaugment')

def test_distortions_statistics():
    torch.manual_seed(0); x = D.TensorImage(torch.rand(512, 3, 32, 32))
    y = D.TFDistort(24)(x, split_idx=0); assert y.shape == (512, 3, 24, 24)
    s = D.Standardize()(y); assert torch.allclose(s.mean((1, 2, 3)), torch.zeros(512), atol=1e-5)
    v = D.CenterCrop(24)(x, split_idx=1); assert torch.equal(v, x[..., 4:28, 4:28])
    assert torch.equal(D.TFDistort(24)(x, split_idx=1), x)             # training-only transform

def test_overwritten_archive_is_refused_and_cache_rebuilt(env, monkeypatch):
    "Bytes overwritten in the middle (not truncated): the gzip CRC catches it; a replaced archive rebuilds the cache."
    D.make_fake_archive(env/'good.tgz', 'cifar10', n_classes=2, per_class=3)
    (env/'d').mkdir(); b = bytearray((env/'good.tgz').read_bytes()); b[len(b)//2:len(b)//2 + 64] = bytes(64)
    (env/'d'/'cifar10.tgz').write_bytes(bytes(b)); monkeypatch.setenv(D.DATA_ENV, str(env/'d'))
    with pytest.raises(ValueError, match='corrupt or incomplete'): D.load_images('cifar10')
    (env/'d'/'cifar10.tgz').write_bytes((env/'good.tgz').read_bytes()); assert len(D.load_images('cifar10')['y_train']) == 6
    D.make_fake_archive(env/'d'/'cifar10.tgz', 'cifar10', n_classes=2, per_class=5); assert len(D.load_images('cifar10')['y_train']) == 10

def test_activations_import_with_torch_alone():
    "learnable and catalog import where fastai, fastcore, pandas, sympy and scipy cannot; kernel needs fastcore (for @patch) and no more."
    import subprocess, sys
    code = ("import sys\nBLOCKED = {'fastai', 'pandas', 'sympy', 'scipy', 'fastcore'}\nclass Block:\n    def find_spec(self, name, *a):\n"
            "        if name.split('.')[0] in BLOCKED: raise ImportError('blocked ' + name)\n"
            "sys.meta_path.insert(0, Block())\nimport activations_repro.learnable, activations_repro.catalog\n"
            "BLOCKED.discard('fastcore')\nimport activations_repro.kernel\nprint('ok')")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == 'ok', r.stderr
