"The catalogue's NumPy references against PyTorch and autograd; the guidance table's measured properties."
import numpy as np, pytest, torch
from hypothesis import given, settings, strategies as st
from activations_repro.catalog import CATALOG, compare_with_torch, check_properties, claimed, softmax, softmax_jacobian, guidance_table, OUTPUT_GUIDE

@pytest.mark.parametrize('name', list(CATALOG))
def test_reference_matches_torch(name):
    rng = np.random.default_rng(0); x = rng.normal(0, 4, 2000); x = x[np.abs(x) > 1e-6]
    ev, ed = compare_with_torch(CATALOG[name], x)
    assert ev < 1e-9 and ed < 1e-9

@pytest.mark.parametrize('name', list(CATALOG))
def test_claimed_properties_hold(name):
    assert check_properties(CATALOG[name]) == claimed(CATALOG[name])

@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-500, 500), min_size=2, max_size=8))
def test_softmax_and_jacobian(v):
    t = torch.tensor(v, dtype=torch.float64)
    np.testing.assert_allclose(softmax(v), torch.softmax(t, -1).numpy(), atol=1e-12)
    np.testing.assert_allclose(softmax_jacobian(v), torch.autograd.functional.jacobian(lambda z: torch.softmax(z, -1), t).numpy(), atol=1e-12)

def test_guidance_is_data():
    gt = guidance_table(); assert set(gt.index) == set(CATALOG)
    assert {'output', 'loss', 'task'} <= set(OUTPUT_GUIDE[0])
