"The learnable peers: PAU against its authors' package (values, gradients, initial fit), Swish against SiLU, both by gradcheck, and the module conventions."
import os, warnings
from functools import partial
import pytest, torch
from torch import nn
from activations_repro.learnable import PAU, Swish, PAU_INIT, make_activation, swap_activations, activation_params, plot_activations
from activations_repro.kernels import pau_reference, PAUFunction

def authors():
    "The authors' package (rational-activations 0.2.0, installed by make without its torch==1.7.1 pin)."
    if os.environ.get('AR_REQUIRE_PEERS'):
        import rational.torch as rt
        return rt
    return pytest.importorskip('rational.torch', reason='pip install --no-deps rational-activations==0.2.0 (make install does)')

def theirs():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore'); return authors().Rational(approx_func='leaky_relu', degrees=(5, 4), cuda=False, version='A')

def points():
    g = torch.Generator().manual_seed(0)
    return torch.cat([torch.randn(2000, generator=g)*3, torch.linspace(-50, 50, 101), torch.tensor([0., -0., 1e-30, -1e-30])])

def test_pau_equals_the_authors_package_on_shared_points_and_coefficients():
    "Same coefficients (theirs, and random ones), same points: the same values and the same gradients of x and of both coefficient vectors."
    r = theirs()
    g = torch.Generator().manual_seed(1)
    for num, den in ((r.numerator.detach(), r.denominator.detach()), (torch.randn(6, generator=g), torch.randn(4, generator=g))):
        r.numerator.data, r.denominator.data = num.clone(), den.clone()
        m = PAU(init=(num.tolist(), den.tolist()))
        x1, x2 = points().requires_grad_(), points().requires_grad_()
        y1, y2 = m(x1), r(x2)
        torch.testing.assert_close(y1, y2, rtol=2e-6, atol=1e-6)
        w = torch.randn(y1.shape, generator=g)
        (y1*w).sum().backward(); (y2*w).sum().backward()
        torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-5, atol=1e-5)
        for ours, their in ((m.numerator.grad, r.numerator.grad), (m.denominator.grad, r.denominator.grad)):
            torch.testing.assert_close(ours, their, rtol=1e-4, atol=1e-3*their.abs().max().item())
        r.zero_grad()

def test_pau_starts_where_the_authors_package_starts():
    "Our least-squares fit to the leaky ReLU and the authors' initial coefficients: the same curve on [-3, 3], to 1e-4."
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    r = theirs()
    ours = pau_reference(x, torch.tensor(PAU_INIT[(5, 4)][0], dtype=torch.float64), torch.tensor(PAU_INIT[(5, 4)][1], dtype=torch.float64))
    their = pau_reference(x, r.numerator.detach().double(), r.denominator.detach().double())
    assert (ours - their).abs().max() < 1e-4
    assert (ours - torch.nn.functional.leaky_relu(x, 0.01)).abs().max() < 0.0299

@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_pau_c_kernel_is_the_same_on_one_and_two_threads(dtype):
    old = torch.get_num_threads()
    x = torch.randn(3, 300_000, dtype=dtype); g = torch.randn_like(x); num, den = torch.randn(6, dtype=dtype), torch.randn(4, dtype=dtype)
    outs = []
    try:
        for t in (1, 2):
            torch.set_num_threads(t)
            xi, ni, di = (v.clone().requires_grad_() for v in (x, num, den))
            y = PAUFunction.apply(xi, ni, di); y.backward(g)
            outs.append((y, xi.grad, ni.grad, di.grad))
    finally: torch.set_num_threads(old)
    assert all(torch.equal(u, v) for u, v in zip(*outs))

def test_gradcheck_of_both_peers():
    torch.manual_seed(0)
    x = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    for m in (Swish(4, init=0.7).double(), Swish().double(), PAU(dtype=torch.float64)):
        f = lambda x, *ps: torch.func.functional_call(m, dict(zip([n for n, _ in m.named_parameters()], ps)), (x,))
        ps = tuple(p.detach().clone().requires_grad_() for p in m.parameters())
        assert torch.autograd.gradcheck(f, (x, *ps)) and torch.autograd.gradgradcheck(f, (x, *ps)), m

def test_swish_is_silu_at_one_and_learns_per_channel():
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(Swish()(x), torch.nn.functional.silu(x))
    m = Swish(4, channel_dim=-1, init=2.); y = m(x); y.sum().backward()
    torch.testing.assert_close(y, x*torch.sigmoid(2*x)); assert m.a.grad.shape == (4,)

@pytest.mark.parametrize('name', ['swish', 'pau'])
def test_the_peers_follow_the_module_conventions(name):
    "inplace accepted, timm's act_layer, swap_activations, activation_params, plot_activations, an empty batch, bfloat16."
    timm = pytest.importorskip('timm')
    m = make_activation(name)
    assert type(m)(inplace=True) is not None
    net = timm.create_model('resnet18', num_classes=3, act_layer=partial(type(m), num_parameters=None if name == 'swish' else 1))
    net(torch.randn(2, 3, 32, 32)).sum().backward()
    n = swap_activations(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2)), name)
    assert len(activation_params(n)) == 1 and plot_activations(n) is not None
    e = torch.zeros(0, 4, requires_grad=True); m(e).sum().backward(); assert e.grad.shape == (0, 4)
    assert m(torch.randn(5, dtype=torch.bfloat16)).dtype == torch.bfloat16
