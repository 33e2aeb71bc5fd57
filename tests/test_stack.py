"The activations in a user's own stack: timm's act_layer, lazy sizing, both channel axes, swapping, custom-op conformance, pictures."
import pickle, subprocess, sys, threading
from functools import partial
import numpy as np, pytest, torch
from torch import nn
from activations_repro.learnable import (Exponential, Rational, LazyExponential, swap_activations,
                                         plot_activations, scaled_negative, scaled_negative_backward, ReferenceActivation)
from activations_repro.kernels import _along

timm = pytest.importorskip('timm')
LEARNABLE = (Exponential, Rational)

def learnables(m): return [x for x in m.modules() if isinstance(x, LEARNABLE)]

@pytest.mark.parametrize('name,size,lazy_dim', [('resnet18', 64, 1),             # act_layer(inplace=True)
                                                ('mobilenetv3_small_100', 64, 1), # create_act_layer, squeeze-excitation
                                                ('efficientnet_b0', 64, 1),
                                                ('regnety_002', 64, 1),
                                                ('convnext_atto', 64, -1),        # act_layer() in an Mlp on [B, H, W, C]
                                                ('vit_tiny_patch16_224', 224, -1),  # act_layer() in an Mlp on [B, L, C]
                                                ('levit_128s', 224, -1)])
@pytest.mark.parametrize('cls', LEARNABLE)
def test_timm_act_layer(name, size, lazy_dim, cls):
    "timm builds the model with our activation per layer, and per channel with the lazy form; every `a` gets a gradient."
    for act in (cls, partial(cls, num_parameters=None, channel_dim=lazy_dim)):
        torch.manual_seed(0)
        m = timm.create_model(name, pretrained=False, num_classes=5, act_layer=act)
        y = m(torch.randn(2, 3, size, size)); y.sum().backward()
        acts = learnables(m)
        assert acts and y.shape == (2, 5) and all(a.a.grad is not None and torch.isfinite(a.a.grad).all() for a in acts), name
        if act is not cls: assert all(a.num_parameters > 1 and a.who.endswith("(sized by its first input)") for a in acts)

def test_inplace_is_accepted_and_changes_nothing():
    x = torch.randn(2, 4, 5)
    assert torch.equal(Exponential(4, inplace=True)(x), Exponential(4)(x)) and torch.equal(Rational(inplace=True)(x), Rational()(x))
    assert torch.equal(x, x.clone())                                     # the input is never modified

def test_lazy_sizing_and_its_refusals():
    m = Exponential(num_parameters=None, init=-0.5)
    assert type(m) is LazyExponential and 'num_parameters=None' in repr(m)
    with pytest.raises(ValueError, match='does not have'): Exponential(None, channel_dim=3)(torch.randn(2, 3))
    m(torch.randn(4, 6, 3, 3))
    assert type(m) is Exponential and m.a.shape == (6,) and torch.equal(m.a.detach(), torch.full((6,), -0.5))
    with pytest.raises(ValueError, match=r'sized by its first input\) has 6 parameters .* shape \(4, 8, 3, 3\) has 8 there'):
        m(torch.randn(4, 8, 3, 3))
    with pytest.raises(ValueError, match=r'channel_dim=2 is out of range for the input of shape \(4, 6\) \(rank 2\)'):
        Exponential(6, channel_dim=2)(torch.randn(4, 6))
    lazy = Rational(None); lazy.load_state_dict(Rational(5, init=0.3).state_dict())    # a lazy module takes a saved state
    assert lazy.a.shape == (5,) and type(pickle.loads(pickle.dumps(Rational(None)))).__name__ == 'LazyRational'

@pytest.mark.parametrize('cls', LEARNABLE)
def test_channels_last_axis_everywhere(cls, tmp_path):
    "Parameters along dim -1 ([B, L, C]): eager (no copy), torch.compile, torch.export (run without the package), ONNX."
    torch.manual_seed(0)
    m = cls(5, channel_dim=-1); nn.init.uniform_(m.a, -1, 1)
    x = torch.randn(3, 7, 5, requires_grad=True)
    y = m(x); gx, ga = torch.autograd.grad(y.sum(), (x, m.a))
    yr = ReferenceActivation.apply(x, _along(m.a, x, -1), cls.__name__.lower()); gxr, gar = torch.autograd.grad(yr.sum(), (x, m.a))
    assert torch.equal(y, yr); torch.testing.assert_close(gx, gxr); torch.testing.assert_close(ga, gar)
    torch.testing.assert_close(torch.compile(m)(x), y)
    torch.export.save(torch.export.export(m, (x.detach(),)), tmp_path/'m.pt2')
    torch.save(x.detach(), tmp_path/'x.pt')
    code = (f"import torch, sys; ep = torch.export.load({str(tmp_path/'m.pt2')!r}); y = ep.module()(torch.load({str(tmp_path/'x.pt')!r}));"
            "assert 'activations_repro' not in sys.modules; print(repr(y.flatten().tolist()))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert np.allclose(eval(r.stdout), y.detach().flatten().tolist(), atol=1e-6)
    import warnings, onnxruntime as ort
    with warnings.catch_warnings():
        warnings.simplefilter('ignore'); torch.onnx.export(m, (x.detach(),), dynamo=True, verbose=False).save(str(tmp_path/'m.onnx'))
    s = ort.InferenceSession(str(tmp_path/'m.onnx'), providers=['CPUExecutionProvider'])
    assert np.allclose(s.run(None, {s.get_inputs()[0].name: x.detach().numpy()})[0], y.detach().numpy(), atol=1e-5)

@pytest.mark.parametrize('make,size', [('convnext_tiny', (64, 96)), ('swin_t', (64, 96)), ('vit_b_16', (224, 224))])
def test_swap_sizes_transformer_style_models_along_their_channels(make, size):
    "GELUs that see [B, H, W, C] or [B, L, C] tensors get one parameter per feature of the linear layer before them, along dim -1."
    import torchvision.models as tvm
    torch.manual_seed(0); net = getattr(tvm, make)(num_classes=4)
    seen = []                                                          # the last dim of what reaches each GELU, before the swap
    with torch.no_grad():
        hs = [m.register_forward_pre_hook(lambda mod, i: seen.append(i[0].shape[-1])) for m in net.modules() if isinstance(m, nn.GELU)]
        net.eval()(torch.zeros(1, 3, size[0], size[0])); [h.remove() for h in hs]
    swap_activations(net.train(), 'exponential', old=nn.GELU, per_channel=True, example=torch.zeros(1, 3, size[0], size[0]))
    acts = learnables(net)
    assert acts and all(a.channel_dim == -1 for a in acts) and sorted(a.num_parameters for a in acts) == sorted(seen)
    y = net(torch.randn(2, 3, size[1], size[1])); y.sum().backward()          # another input size, or batch size
    assert y.shape == (2, 4) and all(a.a.grad is not None for a in acts)

def test_swap_refuses_a_model_that_calls_its_activations_as_functions():
    import torchvision.models as tvm
    with pytest.raises(ValueError, match=r'GoogLeNet: no ReLU modules to replace; .* called as functions \(such as F.relu\)'):
        swap_activations(tvm.googlenet(num_classes=4, aux_logits=False, init_weights=False))

@pytest.mark.parametrize('op', ['forward', 'backward'])
@pytest.mark.parametrize('act', ['exponential', 'rational'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('n,cl', [(1, False), (4, False), (4, True)])
def test_the_custom_ops_pass_opcheck(op, act, dtype, n, cl):
    "torch.library.opcheck: schema, autograd registration, fake tensors, AOT dispatch (static and dynamic shapes)."
    torch.manual_seed(0)
    x = torch.randn(2, 4, 3, 3, dtype=dtype)
    if cl: x = x.contiguous(memory_format=torch.channels_last)
    a = (torch.randn(n, dtype=dtype)*0.5).requires_grad_()
    if op == 'forward': torch.library.opcheck(scaled_negative, (x.requires_grad_(), a, act, 1))
    else: torch.library.opcheck(scaled_negative_backward, (torch.randn_like(x).requires_grad_(), x.requires_grad_(), a, act, 1))

def test_calling_the_op_directly_has_a_gradient():
    x = torch.randn(3, 4, requires_grad=True); a = torch.tensor([0.2, -0.1, 0.4, 1.], requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, a: scaled_negative(x, a, 'exponential', 1), (x.double(), a.double()))
    assert torch.autograd.gradgradcheck(lambda x, a: scaled_negative(x, a, 'rational', 1), (x.double(), a.double()))

def test_what_already_worked_still_works(tmp_path):
    "Half precision, autocast, inference mode, the meta device, gradient checkpointing, threads, pickling, jit.trace."
    m = nn.Sequential(nn.Conv2d(3, 4, 3), Exponential(4, 0.3), nn.Flatten(), nn.Linear(4*6*6, 2)); x = torch.randn(2, 3, 8, 8)
    ref = m(x)
    import copy
    for dt in (torch.bfloat16, torch.float16): assert copy.deepcopy(m).to(dt)(x.to(dt)).dtype == dt
    with torch.autocast('cpu', dtype=torch.bfloat16): assert torch.isfinite(m(x)).all()
    with torch.inference_mode(): assert torch.equal(m(x), ref)
    assert Exponential(4).to('meta')(torch.randn(2, 4, 3, device='meta')).shape == (2, 4, 3)
    from torch.utils.checkpoint import checkpoint
    xr = x.clone().requires_grad_(); checkpoint(m, xr, use_reentrant=False).sum().backward(); assert xr.grad.shape == x.shape
    outs = [None]*8
    def work(i): outs[i] = m(x).detach()
    ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]; [t.start() for t in ts]; [t.join() for t in ts]
    assert all(torch.equal(o, ref.detach()) for o in outs)
    torch.save(m, tmp_path/'m.pt'); assert torch.equal(torch.load(tmp_path/'m.pt', weights_only=False)(x), ref)
    assert torch.equal(pickle.loads(pickle.dumps(m))(x), ref)
    tr = torch.jit.trace(m, (x,))
    assert torch.allclose(tr(x), ref) and all(n.kind().startswith(('aten::', 'prim::')) for n in tr.inlined_graph.nodes())  # portable

def test_fastai_learner_export_and_load(tmp_path):
    "A fastai vision Learner whose model has learnable activations (lazy, per channel) exports, loads and predicts the same."
    import tarfile
    from fastai.vision.all import ImageDataLoaders, Learner, load_learner
    from activations_repro.data import make_fake_archive
    with tarfile.open(make_fake_archive(tmp_path/'imgs.tgz', 'imgs', n_classes=2, per_class=4)) as tf: tf.extractall(tmp_path, filter='data')
    dls = ImageDataLoaders.from_folder(tmp_path/'imgs', train='train', valid='test', bs=4)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), Rational(None), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    learn = Learner(dls, model); learn.fit(1)
    learn.export(tmp_path/'l.pkl')
    back, x = load_learner(tmp_path/'l.pkl'), torch.randn(2, 3, 32, 32)
    assert isinstance(back.model[1], Rational) and torch.equal(back.model.eval()(x), learn.model.eval()(x))

def test_plot_activations_draws_each_learned_shape():
    import matplotlib; matplotlib.use('Agg')
    m = nn.Sequential(Exponential(init=-1.), nn.PReLU(), Rational(8))
    fig = plot_activations(m, cols=2)
    assert len([a for a in fig.axes if a.has_data()]) == 3
    assert 'a = -1.00' in fig.axes[0].get_title() and '8 ch.' in fig.axes[2].get_title()
    with pytest.raises(ValueError, match='no learnable activation'): plot_activations(nn.Linear(2, 2))

@pytest.mark.parametrize('device', ['meta'] + (['cuda'] if torch.cuda.is_available() else []))
def test_swap_follows_the_models_device_and_dtype(device):
    "swap_activations sizes with an example of the model's dtype and device, and its new parameters live there too."
    from torchvision.models import resnet18
    net = swap_activations(resnet18(num_classes=3).to(device=device, dtype=torch.float64), 'rational', per_channel=True)
    kinds = {(m.a.dtype, m.a.device.type) for m in learnables(net)}
    assert kinds == {(torch.float64, device)}, kinds
