"The kernel activation layer: never NaN, leave-one-out, chunking, errors, anchors; the K-AF-tron."
import numpy as np, pytest, torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from activations_repro.kernel import nw_estimate, KernelOutput, KAFNet, draw_anchors, kaf_tron, link_curve

@pytest.mark.parametrize('kernel', ['gaussian', 'epanechnikov'])
@settings(max_examples=60, deadline=None)
@given(shift=st.floats(-1e6, 1e6), h=st.floats(1e-4, 1e3))
def test_never_nan_even_when_every_weight_underflows(kernel, shift, h):
    torch.manual_seed(0)
    au, ay = torch.randn(30, 2), torch.rand(30, 2)
    u = (torch.randn(5, 2) + shift).requires_grad_(); lh = torch.tensor(float(np.log(h)), requires_grad=True)
    out = nw_estimate(u, au, ay, lh.exp(), torch.tensor([0, 1, -1, -1, -1]), kernel)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(u.grad).all() and torch.isfinite(lh.grad)
    assert (out >= ay.min(0).values - 1e-6).all() and (out <= ay.max(0).values + 1e-6).all()   # a convex combination

def test_leave_one_out_excludes_the_point():
    au = torch.tensor([[0.], [0.], [5.]]); ay = torch.tensor([[1.], [0.], [7.]])
    assert torch.allclose(nw_estimate(au[:1], au, ay, 0.01, torch.tensor([0])), torch.tensor([[0.]]))   # only anchor 1 is near
    assert torch.allclose(nw_estimate(au[:1], au, ay, 0.01), torch.tensor([[0.5]]))

def test_chunking_is_exact_and_bounded():
    torch.manual_seed(0); u, au, ay = torch.randn(300, 3, dtype=torch.float64), torch.randn(200, 3, dtype=torch.float64), torch.rand(200, 3, dtype=torch.float64)
    u.requires_grad_(); si = torch.cat([torch.arange(100), -torch.ones(200, dtype=torch.long)])
    a = nw_estimate(u, au, ay, 0.3, si, max_elems=3*200*7); ga, = torch.autograd.grad(a.sum(), u)
    b = nw_estimate(u, au, ay, 0.3, si); gb, = torch.autograd.grad(b.sum(), u)
    assert torch.allclose(a, b, atol=1e-12) and torch.allclose(ga, gb, atol=1e-12)

def test_bad_input_errors():
    u, au, ay = torch.zeros(2, 1), torch.zeros(4, 1), torch.zeros(4, 1)
    with pytest.raises(ValueError, match='at least two anchors'): nw_estimate(u, au[:1], ay[:1], 1.)
    with pytest.raises(ValueError, match='columns but the output has 2'): nw_estimate(torch.zeros(2, 2), au, ay, 1.)
    with pytest.raises(ValueError, match='NaN or inf'): nw_estimate(u, au, torch.tensor([[0.], [float('inf')], [0.], [0.]]), 1.)
    with pytest.raises(ValueError, match='bandwidth must be a positive finite number'): nw_estimate(u, au, ay, 0.)
    with pytest.raises(ValueError, match='must be > 0'): KernelOutput(h=-1.)
    with pytest.raises(ValueError, match='unknown kernel'): KernelOutput(kernel='triangular')
    with pytest.raises(ValueError, match='needs anchors_x'): KAFNet(3, 2)

def test_stratified_anchors_keep_class_proportions():
    y = torch.tensor([0]*70 + [1]*20 + [2]*10)
    ai = draw_anchors(y, 20, 'stratified'); counts = torch.bincount(y[ai], minlength=3).tolist()
    assert counts == [14, 4, 2] and len(set(ai.tolist())) == 20

def test_refresh_per_epoch_uses_cached_anchor_indices():
    torch.manual_seed(0); X = torch.randn(40, 3); Y = F.one_hot((X[:, 0] > 0).long(), 2).float(); ai = torch.arange(0, 40, 2)
    net = KAFNet(3, 2, anchors_x=X[ai], anchors_y=Y[ai], anchor_idx=ai, refresh='epoch')
    net.refresh_anchors()
    with torch.no_grad(): net.index[2].weight.mul_(2)                # the cache is stale until the next refresh
    assert torch.allclose(net.anchor_index(), net._au) and not torch.allclose(net._au, net.index(net.anchors_x))
    net.refresh_anchors(); assert torch.allclose(net._au, net.index(net.anchors_x))
    lc = link_curve(net); assert len(lc['G']) == 2 and np.isfinite(lc['G']).all()

def test_kaf_tron_recovers_direction():
    rng = np.random.default_rng(1); w = rng.normal(size=5); w /= np.linalg.norm(w)
    X = rng.normal(size=(400, 5)); y = np.tanh(2*X @ w)
    for link in ('kernel', 'isotonic'):
        wf, g = kaf_tron(X, y, steps=40, link=link)
        assert wf @ w/np.linalg.norm(wf) > 0.98 and np.sqrt(np.mean((g(X) - y)**2)) < 0.2
    with pytest.raises(ValueError, match="'kernel' or 'isotonic'"): kaf_tron(X, y, link='spline')

def test_bandwidth_nan_or_underflow_is_an_error():
    u, au, ay = torch.zeros(2, 1), torch.randn(4, 1), torch.rand(4, 1)
    with pytest.raises(ValueError, match='bandwidth must be a positive finite number'): nw_estimate(u, au, ay, float('nan'))
    k = KernelOutput(); k.log_h.data.fill_(-50.)                       # driven to underflow by training
    with pytest.raises(ValueError, match='every kernel weight underflowed'): k(u + 3., au, ay)
