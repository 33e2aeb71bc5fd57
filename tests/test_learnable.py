"Properties of the learnable activations: values, gradients, numerical safety, compile/export, errors, swapping."
import math
import numpy as np, pytest, torch, sympy as sp
from torch import nn
from hypothesis import given, settings, assume, example, strategies as st
from activations_repro.learnable import (Exponential, Rational, exponential, rational, naive_exponential, swap_activations,
                                         make_activation, activation_params, finite_sweep, ACTIVATIONS, ReferenceActivation,
                                         use_op, c_kernels, kernels_for, scaled_negative)
from activations_repro.kernels import _along, cpp_op
from activations_repro import derivation as D

FNS = [exponential, rational]
finite32 = st.floats(allow_nan=False, allow_infinity=False, width=32)
a_range = st.floats(-50, 50, allow_nan=False)

def scale(fn, a): return math.exp(a) if fn is exponential else abs(a)

@pytest.mark.parametrize('fn', FNS)
@settings(max_examples=200, deadline=None)
@given(x=st.lists(finite32, min_size=1, max_size=20), a=a_range)
def test_finite_outputs_and_grads(fn, x, a):
    x = torch.tensor(x, dtype=torch.float32, requires_grad=True); at = torch.tensor([a], requires_grad=True)
    y = fn(x, at); y.backward(torch.ones_like(y))
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all() and torch.isfinite(at.grad).all()

@pytest.mark.parametrize('fn', FNS)
@settings(max_examples=200, deadline=None)
@given(x1=st.floats(-1e6, 1e6), x2=st.floats(-1e6, 1e6), a=st.floats(-10, 10))
@example(x1=-15.0, x2=-25.0, a=9.172096771472539e-45)       # found by hypothesis: neighbours inverted by one ulp
@example(x1=-1.0, x2=-1e-12, a=1.764890458627229e-234)
def test_monotonic(fn, x1, x2, a):
    "Monotone up to one rounding: v/(1 + p|v|) in one division (the fused kernels' price of speed) can invert neighbours by one ulp."
    lo, hi = sorted([x1, x2]); at = torch.tensor([a], dtype=torch.float64)
    flo, fhi = fn(torch.tensor([lo], dtype=torch.float64), at), fn(torch.tensor([hi], dtype=torch.float64), at)
    assert flo <= torch.nextafter(fhi, torch.tensor(math.inf, dtype=torch.float64))

@pytest.mark.parametrize('fn', FNS)
@settings(max_examples=100, deadline=None)
@given(a=st.floats(-5, 5), eps=st.floats(1e-12, 1e-6))
def test_continuous_with_slope_one_at_zero(fn, a, eps):
    assume(scale(fn, a) > 1e-3)                                    # c = 0 (Rational a = 0) is ReLU: slope 0 on the left
    at = torch.tensor([a], dtype=torch.float64); x = torch.tensor([-eps, 0., eps], dtype=torch.float64)
    y = fn(x, at)
    assert y[1] == 0 and abs(y[0] + eps) <= eps*(2*eps/scale(fn, a) + 1e-9) and y[2] == eps

@settings(max_examples=100, deadline=None)
@given(x=st.floats(-100, 100))
def test_limits_relu_and_identity(x):
    t = torch.tensor([x], dtype=torch.float64)
    assert torch.allclose(exponential(t, torch.tensor([-45.])), torch.relu(t), atol=1e-15)
    assert torch.allclose(exponential(t, torch.tensor([45.], dtype=torch.float64)), t, rtol=1e-15, atol=0)

@pytest.mark.parametrize('fn', FNS)
@settings(max_examples=50, deadline=None)
@given(a=st.floats(-3, 3))
def test_saturation(fn, a):
    y = fn(torch.tensor([-1e300], dtype=torch.float64), torch.tensor([a], dtype=torch.float64))
    assert math.isclose(y.item(), -scale(fn, a), rel_tol=1e-9, abs_tol=1e-300)

@pytest.mark.parametrize('fn,f,dv,da', [(exponential, D.f_exponential_neg, D.dfE_dv, D.dfE_da),
                                          (rational, D.f_rational_neg, D.dfR_dv, D.dfR_da)])
def test_matches_sympy(fn, f, dv, da):
    lam = [sp.lambdify((D.v, D.a), e, 'numpy') for e in (f, dv, da)]
    x = torch.linspace(-50, -1e-3, 200, dtype=torch.float64, requires_grad=True)
    for av in ((-2., 0.1, 1.5) if fn is exponential else (0.1, 1.5, 3.)):   # rational: a > 0 (a <= 0 is test_rational_pole_is_handled)
        a = torch.tensor([av], dtype=torch.float64, requires_grad=True); y = fn(x, a)
        gx, ga = torch.autograd.grad(y.sum(), (x, a))
        ae = av; xn = x.detach().numpy()
        np.testing.assert_allclose(y.detach().numpy(), lam[0](xn, ae), rtol=1e-12)
        np.testing.assert_allclose(gx.numpy(), lam[1](xn, ae), rtol=1e-10)
        np.testing.assert_allclose(ga.item(), lam[2](xn, ae).sum(), rtol=1e-10)

@pytest.mark.parametrize('fn', FNS)
@pytest.mark.parametrize('shape', [(7,), (3, 4), (2, 4, 5), (2, 4, 3, 3), (1, 4, 2, 2, 2)])
def test_gradcheck_any_rank(fn, shape):
    torch.manual_seed(0)
    x = (torch.randn(shape, dtype=torch.float64)*5).requires_grad_()
    n = shape[1] if len(shape) > 1 else 1
    a = (torch.randn(n, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(fn, (x, a))

@pytest.mark.parametrize('fn', FNS)
def test_gradcheck_wide_points(fn):
    "gradcheck where central differences (step 1e-6) are trustworthy: |x| >> step, curvature scale c >> step."
    x = torch.tensor([-1e4, -30., -1e-3, 1e-3, 1e4], dtype=torch.float64, requires_grad=True)
    for av in (-3., 0., 3., 8.):
        assert torch.autograd.gradcheck(fn, (x, torch.tensor([av], dtype=torch.float64, requires_grad=True)))

@pytest.mark.parametrize('fn,f', [(exponential, D.f_exponential_neg), (rational, D.f_rational_neg)])
def test_gradients_exact_at_extreme_points(fn, f):
    "Where finite differences fail (|x| = 1e8, x within 1e-8 of the kink, c = e^±20), compare with sympy at 50 digits."
    dv, da = sp.diff(f, D.v), sp.diff(f, D.a)
    for av in (-20., -1e-3, 1e-3, 20.):
        if fn is rational and av < 0: continue                        # the pole side is test_rational_pole_is_handled
        ae = av
        for xv in (-1e8, -1e3, -1e-8):
            x = torch.tensor([xv], dtype=torch.float64, requires_grad=True); a = torch.tensor([av], dtype=torch.float64, requires_grad=True)
            gx, ga = torch.autograd.grad(fn(x, a).sum(), (x, a))
            sub = {D.v: sp.Float(xv, 50), D.a: sp.Float(ae, 50)}
            assert math.isclose(gx.item(), float(dv.evalf(50, subs=sub)), rel_tol=1e-12, abs_tol=1e-300)
            assert math.isclose(ga.item(), float(da.evalf(50, subs=sub)), rel_tol=1e-12, abs_tol=1e-300)   # no cancellation in 1 - w

def test_grad_of_a_is_summed_per_channel():
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64); a = torch.tensor([0., .5, -1.], dtype=torch.float64, requires_grad=True)
    exponential(x, a).sum().backward()
    for ch in range(3):
        ai = a[ch].detach().clone().reshape(1).requires_grad_()
        exponential(x[:, ch], ai).sum().backward()
        assert torch.allclose(a.grad[ch], ai.grad[0])

@pytest.mark.parametrize('fn', FNS)
@pytest.mark.parametrize('dtype,autocast', [(torch.float32, False), (torch.float64, False), (torch.bfloat16, False),
                                            (torch.float16, True), (torch.bfloat16, True)])
def test_finite_in_every_dtype(fn, dtype, autocast):
    assert finite_sweep(fn, dtype, a_vals=(-50., -20., -1., 0., 1., 20., 50.), autocast=autocast)

def test_low_precision_output_dtype_and_accuracy():
    x = torch.linspace(-5, 5, 101); a = torch.tensor([0.3])
    for dt in (torch.bfloat16, torch.float16):
        y = exponential(x.to(dt), a); assert y.dtype == dt
        assert torch.allclose(y.float(), exponential(x.to(dt).float(), a), atol=1e-2)

def test_naive_form_nans_where_safe_form_does_not():
    a = torch.zeros(1, requires_grad=True); naive_exponential(torch.tensor([1.]), a).sum().backward()
    assert torch.isnan(a.grad).all()
    a.grad = None; exponential(torch.tensor([1.]), a).sum().backward(); assert a.grad.item() == 0

def test_nan_input_like_builtins():
    x = torch.tensor([float('nan'), -1., 1.])
    for m in (Exponential(), Rational()):
        assert torch.equal(torch.isnan(m(x)), torch.isnan(torch.relu(x))) and torch.equal(torch.isnan(m(x)), torch.isnan(nn.functional.elu(x)))

@pytest.mark.parametrize('a', [-5., -1., -1e-9, 0.])
def test_rational_pole_is_handled(a):
    x = torch.linspace(-10, 10, 2001, dtype=torch.float64); x = torch.cat([x, torch.tensor([a], dtype=torch.float64)]).requires_grad_()
    at = torch.tensor([a], dtype=torch.float64, requires_grad=True); y = rational(x, at); y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all() and torch.isfinite(at.grad).all()
    assert torch.allclose(y, rational(x, -at))                      # the documented choice: c = |a|

def test_modules_api_and_paper_inits():
    assert Exponential().a.item() == 0 and Rational().a.item() == 1 and make_activation('prelu').weight.item() == 0.25
    m = Rational(8, init=0.3); assert m.a.shape == (8,) and 'num_parameters=8' in repr(m)
    m2 = Rational(8); m2.load_state_dict(m.state_dict()); assert torch.equal(m2.a, m.a)
    assert set(ACTIVATIONS) >= {'relu', 'elu', 'prelu', 'rational', 'exponential'}

def test_channels_last_equals_contiguous():
    m = Exponential(6, init=0.2); x = torch.randn(3, 6, 5, 5)
    xc = x.to(memory_format=torch.channels_last).requires_grad_(); x = x.requires_grad_()
    y1, y2 = m(x), m(xc); y1.sum().backward(); g1 = m.a.grad.clone(); m.a.grad = None; y2.sum().backward()
    assert torch.allclose(y1, y2) and torch.allclose(g1, m.a.grad) and torch.allclose(x.grad, xc.grad)

@pytest.mark.parametrize('cls', [Exponential, Rational])
def test_compile_equals_eager(cls):
    torch.manual_seed(0); m = cls(4, 0.4); x = torch.randn(3, 4, 6, 6)
    xe, xc = x.clone().requires_grad_(), x.clone().requires_grad_()
    ye = m(xe); ye.sum().backward(); ge = m.a.grad.clone(); m.a.grad = None
    yc = torch.compile(m)(xc); yc.sum().backward()
    assert torch.allclose(ye, yc, atol=1e-6) and torch.allclose(ge, m.a.grad, atol=1e-4) and torch.allclose(xe.grad, xc.grad, atol=1e-6)

def test_eager_runs_the_kernels_and_compile_sees_the_op():
    "Eager calls skip the custom op's dispatch (the C++ operator, or an autograd function on the same kernels); a compiled graph holds the op."
    m, x = Exponential(4, 0.4), torch.randn(3, 4, 6, 6, requires_grad=True)
    eager = 'torch::autograd::CppNode<Activation>' if cpp_op() is not None else 'EagerActivationBackward'
    assert m(x).grad_fn.name() == eager
    graphs = []
    def backend(gm, inputs):
        graphs.append(str(gm.graph)); return gm
    torch._dynamo.reset(); torch.compile(m, backend=backend, fullgraph=True)(x)
    assert len(graphs) == 1 and 'activations_repro.scaled_negative' in graphs[0], graphs

@pytest.mark.parametrize('cls', [Exponential, Rational])
def test_export(cls):
    m = cls(3, 0.7); x = torch.randn(2, 3, 4, 4)
    ep = torch.export.export(m, (x,)); assert torch.allclose(ep.module()(x), m(x))

def test_bad_input_errors():
    with pytest.raises(ValueError, match='has 4 parameters .* has 3 there'): Exponential(4)(torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match='no channel dim'): Exponential(4)(torch.randn(5))
    with pytest.raises(TypeError, match='floating-point tensor, got torch.int64'): Rational()(torch.arange(3))
    with pytest.raises(TypeError, match='torch.Tensor'): exponential([1., 2.], torch.zeros(1))
    with pytest.raises(ValueError, match='num_parameters must be a positive int'): Exponential(0)
    with pytest.raises(ValueError, match='valid names'): make_activation('swishh')

@pytest.mark.parametrize('make,old', [('resnet18', nn.ReLU), ('resnet50', nn.ReLU), ('mobilenet_v3_small', (nn.ReLU, nn.Hardswish)),
                                      ('efficientnet_b0', nn.SiLU)])
def test_swap_per_channel_sizes_from_the_data_flow(make, old):
    "Each new activation has as many parameters as the tensor reaching it has channels, at every call site; the model trains."
    import torchvision.models as tvm
    from activations_repro.learnable import PerCallSite
    torch.manual_seed(0); net = getattr(tvm, make)(num_classes=10)
    seen = {}                                                          # channels reaching each old module, per call, before the swap
    hs = [m.register_forward_pre_hook(lambda mod, i: seen.setdefault(id(mod), []).append(i[0].shape[1])) for m in net.modules() if isinstance(m, old)]
    net.eval(); net(torch.zeros(1, 3, 64, 64)); [h.remove() for h in hs]
    olds = {n: m for n, m in net.named_modules() if isinstance(m, old)}
    swap_activations(net, 'rational', old=old, per_channel=True).train()
    assert not any(isinstance(m, old) for m in net.modules())
    for n, m in olds.items():
        new = net.get_submodule(n)
        got = [a.num_parameters for a in new.acts] if isinstance(new, PerCallSite) else [new.num_parameters]
        assert got == seen[id(m)], n
    y = net(torch.randn(2, 3, 64, 64)); y.sum().backward(); y2 = net(torch.randn(2, 3, 64, 64))      # two forwards: call order kept
    assert y.shape == y2.shape == (2, 10) and all(m.a.grad is not None for m in net.modules() if isinstance(m, Rational))

class Unused(nn.Module):
    "A ReLU that is registered but that the forward never calls."
    def __init__(self): super().__init__(); self.fc, self.unused = nn.Linear(2, 2), nn.ReLU()
    def forward(self, x): return self.fc(x)

def test_swap_shared_module_stays_shared_and_errors():
    r = nn.ReLU(); net = nn.Sequential(nn.Linear(3, 3), r, nn.Linear(3, 3), r)
    swap_activations(net, 'exponential'); assert net[1] is net[3] and isinstance(net[1], Exponential)
    with pytest.raises(ValueError, match='none of its ReLU modules is called by the example forward'):
        swap_activations(Unused(), per_channel=True, example=torch.zeros(1, 2))
    assert activation_params(net) == {'1': [0.0]}

@pytest.mark.parametrize('fn,f', [(exponential, D.f_exponential_neg), (rational, D.f_rational_neg)])
def test_exact_to_1e10_over_the_whole_range(fn, f):
    "float64 against the closed forms at 60 digits: every v from -1e300 to -1e-300, Exponential a in [-40, 40], Rational a in [1e-4, 30]."
    dv, da = sp.diff(f, D.v), sp.diff(f, D.a)
    vs = -np.logspace(-300, 300, 41); avs = np.linspace(-40, 40, 9) if fn is exponential else np.geomspace(1e-4, 30, 7)
    for av in avs:
        x = torch.tensor(vs, dtype=torch.float64, requires_grad=True); a = torch.tensor([av], dtype=torch.float64, requires_grad=True)
        y = fn(x, a); gx, = torch.autograd.grad(y.sum(), x, retain_graph=True)
        for i, v in enumerate(vs):
            ga, = torch.autograd.grad(y[i], a, retain_graph=True); sub = {D.v: sp.Float(v, 60), D.a: sp.Float(float(av), 60)}
            for got, e in ((y[i].item(), f), (gx[i].item(), dv), (ga.item(), da)):
                want = float(e.evalf(60, subs=sub))
                assert got == want or math.isclose(got, want, rel_tol=1e-10, abs_tol=1e-300), (fn.__name__, av, v, got, want)

@pytest.mark.parametrize('fn', FNS)
@pytest.mark.parametrize('n', [1, 3])
def test_second_derivatives_and_torch_func(fn, n):
    "gradgradcheck, forward-mode AD, vmap, grad, jacrev, hessian — as nn.ELU and nn.PReLU pass them — per layer and per channel."
    from torch.func import grad, vmap, jacrev, jacfwd, hessian
    import torch.autograd.forward_ad as fwAD
    torch.manual_seed(0); x = (torch.randn(4, 3, 5, dtype=torch.float64)*3).requires_grad_()
    a = (torch.randn(n, dtype=torch.float64)*0.5 + 0.3).requires_grad_()
    assert torch.autograd.gradcheck(fn, (x, a)) and torch.autograd.gradgradcheck(fn, (x, a))
    assert torch.autograd.gradcheck(fn, (x, a), check_forward_ad=True, check_backward_ad=False, check_undefined_grad=False)
    with fwAD.dual_level():                                             # forward mode equals the reverse-mode Jacobian
        t = torch.randn_like(x); y = fwAD.unpack_dual(fn(fwAD.make_dual(x.detach(), t), a.detach())).tangent
    J = jacrev(fn)(x.detach(), a.detach())
    assert torch.allclose(y, (J.reshape(x.numel(), x.numel()) @ t.reshape(-1)).reshape(x.shape))
    pen = lambda a_: grad(lambda x_: fn(x_, a_).sum())(x.detach()).square().sum()
    g2, = torch.autograd.grad(torch.autograd.grad(fn(x, a).sum(), x, create_graph=True)[0].square().sum(), a)
    assert torch.allclose(grad(pen)(a.detach()), g2)
    e = torch.eye(n, dtype=torch.float64)*1e-6
    fd = torch.stack([(pen(a.detach() + d) - pen(a.detach() - d))/2e-6 for d in e])
    assert torch.allclose(g2, fd, rtol=1e-5)                            # the gradient penalty's d/da is right, not a third of it
    H = hessian(lambda a_: fn(x.detach(), a_).sum())(a.detach()); Hf = jacfwd(jacrev(lambda a_: fn(x.detach(), a_).sum()))(a.detach())
    assert H.shape == (n, n) and torch.allclose(H, Hf)
    xs = torch.stack([x.detach(), -x.detach()])
    assert torch.allclose(vmap(lambda xi: fn(xi, a.detach()))(xs), torch.stack([fn(x.detach(), a.detach()), fn(-x.detach(), a.detach())]))

def test_limits_are_values_not_nan():
    x = torch.tensor([-float('inf'), -3., 0., 2.])
    assert exponential(x, torch.tensor([1.]))[0].item() == pytest.approx(-math.e) and rational(x, torch.tensor([0.5]))[0].item() == -0.5
    for av in (-1e6, -105., -89., 89., 105., 1e6):
        a = torch.tensor([av], requires_grad=True); y = exponential(x[1:], a); y.sum().backward()
        assert torch.isfinite(y).all() and torch.isfinite(a.grad).all(), av

def test_module_arguments_are_checked():
    for bad in (2.7, True, 0, -1, '3'):
        with pytest.raises(ValueError, match='num_parameters must be a positive int'): Exponential(bad)
    for bad in (float('nan'), float('inf')):
        with pytest.raises(ValueError, match='init must be a finite number'): Rational(1, init=bad)
    with pytest.raises(ValueError, match='has 4 parameters .* has no channel dim'): Exponential(4)(torch.randn(5))

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])      # on a GPU machine the same tests run the CUDA path

@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('fn', FNS)
def test_paths_on_every_device(fn, device):
    "gradcheck and gradgradcheck of the path each device takes (the fused CPU kernel, or the tensor-operation path elsewhere)."
    x = (torch.randn(3, 4, 5, dtype=torch.float64, device=device)*3).requires_grad_(); a = torch.tensor([0.2, -0.3, 0.5, 1.], dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(fn, (x, a)) and torch.autograd.gradgradcheck(fn, (x, a))

@pytest.mark.parametrize('act', ['exponential', 'rational'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('n,layout,threads', [(1, 'contiguous', 1), (1, 'channels_last', 2), (16, 'contiguous', 2), (16, 'channels_last', 1), (16, 'channels_last', 2)])
def test_c_kernel_equals_reference_path(act, dtype, n, layout, threads):
    "The C kernel (threads splitting a large tensor) gives the reference path's values to the bit, and its gradients within a few ulps."
    assert c_kernels() is not None
    old = torch.get_num_threads(); torch.set_num_threads(threads)
    try:
        torch.manual_seed(0); x = torch.randn(8, 16, 48, 48, dtype=dtype)*4
        x[0, 0, 0, :4] = torch.tensor([-float('inf'), -1e30, -1e-30, 0.])
        if layout == 'channels_last': x = x.to(memory_format=torch.channels_last)
        x.requires_grad_(); a = (torch.randn(n, dtype=dtype)*0.5 + 0.3).requires_grad_(); g = torch.randn_like(x)
        assert use_op(x) and kernels_for(x).name == 'C'
        y1 = scaled_negative(x, a, act, 1); gx1, ga1 = torch.autograd.grad(y1, (x, a), g)
        y2 = ReferenceActivation.apply(x, _along(a, x, 1), act); gx2, ga2 = torch.autograd.grad(y2, (x, a), g)
        assert torch.equal(y1, y2)
        torch.testing.assert_close(gx1, gx2, rtol=4*torch.finfo(dtype).eps, atol=0)
        torch.testing.assert_close(ga1, ga2, rtol=1e-4 if dtype == torch.float32 else 1e-10, atol=0)
        assert y1.stride() == x.stride() and gx1.stride() == x.stride()        # channels-last stays channels-last
    finally: torch.set_num_threads(old)

def test_without_a_compiler_it_falls_back_with_one_warning(tmp_path):
    "No compiler: one warning that names why, the tensor-operation kernels, the same values as with the C kernel."
    import subprocess, sys, os
    code = ("import warnings, torch\nwarnings.simplefilter('always')\nfrom activations_repro.learnable import Exponential, kernels_for\n"
            "torch.manual_seed(0); m = Exponential(3, 0.2); x = torch.randn(2, 3, 4, requires_grad=True)\n"
            "with warnings.catch_warnings(record=True) as w:\n    y = m(x); y.sum().backward(); m(x)\n"
            "msgs = [str(i.message) for i in w if 'C kernels' in str(i.message)]\n"
            "print(kernels_for(x).name, len(msgs), repr(y.detach().tolist()), repr(x.grad.tolist()), (msgs or [''])[0][:200], sep='|')")
    runs = [subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env={**os.environ, **env, 'ACTIVATIONS_REPRO_CACHE': str(tmp_path/name)})
            for name, env in (('none', {'CC': '/nonexistent/cc'}), ('c', {'ACTIVATIONS_REPRO_CPP': '0'}))]     # the C++ operator: chapter 02a
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    (name, n, y, gx, msg), c = runs[0].stdout.strip().split('|'), runs[1].stdout.strip().split('|')
    assert name == 'tensor operations' and n == '1' and 'cannot run the C compiler' in msg and c[0] == 'C'
    assert (y, gx) == tuple(c[2:4])                                           # the same formula, to the bit

@pytest.mark.parametrize('cls', [Exponential, Rational])
def test_onnx_export_runs_in_onnxruntime(cls, tmp_path):
    "The deployment client: torch.onnx.export (dynamo), then onnxruntime gives the module's values."
    import warnings, onnxruntime as ort
    m = nn.Sequential(nn.Conv2d(3, 4, 3), cls(4, 0.3), nn.Flatten(), nn.Linear(4*6*6, 2)).eval(); x = torch.randn(2, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore'); prog = torch.onnx.export(m, (x,), dynamo=True, verbose=False)
    prog.save(str(tmp_path/'m.onnx'))
    s = ort.InferenceSession(str(tmp_path/'m.onnx'), providers=['CPUExecutionProvider'])
    out = s.run(None, {s.get_inputs()[0].name: x.numpy()})[0]
    assert np.allclose(out, m(x).detach().numpy(), atol=1e-5)

@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('cls', [Exponential, Rational])
@pytest.mark.parametrize('n,cl', [(1, False), (4, False), (4, True)])
def test_op_path_on_every_device(device, cls, n, cl):
    "The op's kernels (C on the CPU, Triton on a GPU) against the reference path: forward, both gradients, gradcheck, torch.compile."
    act = cls.__name__.lower(); torch.manual_seed(0)
    m = cls(n).to(device).double(); nn.init.uniform_(m.a, -2, 2)
    x = 3*torch.randn(2, 4, 5, 5, dtype=torch.float64, device=device)
    if cl: x = x.contiguous(memory_format=torch.channels_last)
    assert use_op(x) and kernels_for(x).name == ('C' if device == 'cpu' else 'Triton')
    x.requires_grad_(); g = torch.randn_like(x)
    y = m(x); gx, ga = torch.autograd.grad(y, (x, m.a), g)
    yr = ReferenceActivation.apply(x, _along(m.a, x, 1), act); gxr, gar = torch.autograd.grad(yr, (x, m.a), g)
    for u, v in ((y, yr), (gx, gxr), (ga, gar)): torch.testing.assert_close(u, v, rtol=1e-9, atol=1e-12)
    assert torch.autograd.gradcheck(m, (x,))
    if not cl: torch.testing.assert_close(torch.compile(m)(x), y)

EMPTY = """
import itertools, torch
from activations_repro.learnable import Exponential, Rational
for M, n, dt, shape in itertools.product((Exponential, Rational), (1, 4, None), (torch.float32, torch.float64, torch.float16),
                                         [(0,), (0, 4), (2, 0, 4), (0, 3, 5, 4), (3, 0, 5, 4)]):
    if n != 1 and len(shape) < 2: continue
    m, x = M(n, channel_dim=-1), torch.randn(shape, dtype=dt, requires_grad=True)
    y = m(x); y.sum().backward()
    assert y.shape == x.grad.shape == shape and not m.a.grad.any(), (M, n, dt, shape)
print('ok')
"""

def test_an_empty_tensor_never_ends_the_process():
    "Every module form (per layer, per channel, lazy), dtype and empty shape, in a process of its own: empty output and gradients."
    import subprocess, sys
    r = subprocess.run([sys.executable, '-c', EMPTY], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == 'ok', (r.returncode, r.stderr[-1500:])

def test_the_first_call_imports_nothing():
    """A fresh process's first forward and backward import no module: `torch.onnx.is_in_onnx_export()`, once asked on every
    call, imported torch.onnx (27 modules) inside the first training step, the first epoch's extra ~0.3 s."""
    import subprocess, sys
    code = ("import sys, torch\nfrom activations_repro.learnable import Exponential, Rational, Swish, PAU\nbefore = set(sys.modules)\n"
            "for M in (Exponential, Rational, Swish, PAU):\n    x = torch.randn(4, 8, requires_grad=True); M()(x).sum().backward()\n"
            "    with torch.no_grad(): M()(x)\nprint(sorted(set(sys.modules) - before))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == '[]', (r.stdout, r.stderr[-800:])
