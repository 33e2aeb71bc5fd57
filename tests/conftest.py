import warnings
import pytest

warnings.filterwarnings('ignore', category=FutureWarning)

@pytest.fixture
def fake_cifar(tmp_path):
    "Point the loaders at a small fake CIFAR-10 archive (and a private cache) for one test."
    from activations_repro.data import fake_data_env, restore_env
    old = fake_data_env(tmp_path/'data')
    yield tmp_path
    restore_env(old)
