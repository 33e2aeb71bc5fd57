"The C kernels: vectorised and branch-free on every target, the same bits on every CPU and thread count, never loaded on another CPU."
import os, platform, re, shutil, subprocess
from pathlib import Path
import pytest, torch
from activations_repro import kernels as L
from activations_repro.learnable import Exponential, Rational

X86 = platform.machine() in ('x86_64', 'AMD64')
TARGETS = [('cc', f'x86-64-{v}') for v in ('v2', 'v3', 'v4') if X86] + [('aarch64-linux-gnu-gcc', 'armv8-a')]

HEADERS = ('scaled_negative.h', 'nadaraya_watson.h', 'pau.h', 'swish.h')

def marked_loops() -> list:
    "(header, line number) of the loops the sources mark as vectorised."
    src = {h: (L.KERNEL_SOURCE.parent/h).read_text().splitlines() for h in HEADERS}
    return [(h, i) for h in HEADERS for i, l in enumerate(src[h], 1) if '/* vectorised */' in l]

def is_gcc(cc) -> bool: return 'gcc version' in subprocess.run([cc, '-v'], capture_output=True, text=True).stderr

def vector_report(cc, march, tmp) -> str:
    "gcc's vectorisation report (-fopt-info-vec-all) of the kernel source built with the library's flags for `march`."
    rep = Path(tmp)/f'{march}.txt'
    L.compile_kernels(Path(tmp)/f'{march}.so', march=march, cc=cc, extra=(f'-fopt-info-vec-all={rep}',))
    return rep.read_text()

@pytest.mark.parametrize('cc,march', TARGETS)
def test_every_hot_loop_is_vectorised(cc, march, tmp_path):
    "Built for SSE4 (x86-64-v2), AVX2 (v3), AVX-512 (v4) and NEON (aarch64), the compiler vectorises every loop marked so."
    if shutil.which(cc) is None:
        if os.environ.get('AR_REQUIRE_CROSS') and cc != 'cc': pytest.fail(f'{cc} is required here (AR_REQUIRE_CROSS) but not installed')
        pytest.skip(f'{cc} not installed (Debian: apt-get install gcc-aarch64-linux-gnu)')
    if not is_gcc(cc): pytest.skip('the vectorisation report read here is gcc\'s')
    rep, lines = vector_report(cc, march, tmp_path), marked_loops()
    assert [sum(h == x for x, _ in lines) for h in HEADERS] == [4, 3, 8, 4]
    for h, n in lines:
        done = re.findall(rf'{re.escape(h)}:{n}:\d+: optimized: loop vectorized using (\d+) byte vectors', rep)
        missed = re.findall(rf'{re.escape(h)}:{n}:\d+: missed: couldn.t vectorize loop', rep)
        assert done and not missed, f'{march}: the loop on line {n} of {h} is not vectorised'
        assert max(map(int, done)) == {'x86-64-v2': 16, 'x86-64-v3': 32, 'x86-64-v4': 64, 'armv8-a': 16}[march]

def data_jumps(march, tmp) -> dict:
    """{function: number of conditional jumps right after a floating-point compare} in the assembly gcc writes for the
    activations' kernels and the peers' (ar_fwd_*, ar_bwd_*, ar_pau_*, ar_swish_* and their OpenMP bodies), built with the
    library's flags for `march`."""
    asm = L.compile_kernels(Path(tmp)/f'{march}.s', march=march, extra=('-S',)).read_text().splitlines()
    out, fn, prev = {}, None, ''
    for line in asm:
        if m := re.match(r'^([A-Za-z_][\w.]*):', line): fn = m[1] if m[1].startswith(('ar_fwd', 'ar_bwd', 'ar_pau', 'ar_swish')) else None
        ins = line.split()
        if fn and ins and not ins[0].endswith(':'):
            if re.match(r'v?u?comis[sd]$', prev) and re.match(r'j(?!mp)[a-z]+$', ins[0]): out[fn] = out.get(fn, 0) + 1
            prev = ins[0]
    return out

@pytest.mark.parametrize('march', [m for _, m in TARGETS if m.startswith('x86')])
def test_no_jump_on_the_data(march, tmp_path):
    """Built for SSE4, AVX2 or AVX-512, the activations' kernels never jump on a compare of the data, in their vector loops
    nor in their scalar remainders (which run whole where a per-channel vector is shorter than the CPU's vectors)."""
    if not is_gcc('cc'): pytest.skip('the assembly read here is gcc\'s')
    assert data_jumps(march, tmp_path) == {}

def can_run(march) -> bool:
    flags = L.cpu_flags().split()
    return {'x86-64-v2': 'sse4_2' in flags, 'x86-64-v3': 'avx2' in flags and 'fma' in flags,
            'x86-64-v4': 'avx512f' in flags and 'avx512bw' in flags}.get(march, False)

def isa_builds(tmp_path) -> dict:
    "{instruction set: the C library built for it}, for those of SSE4, AVX2 and AVX-512 this CPU can run (at least two)."
    if not X86: pytest.skip('x86 targets')
    libs = {m: L.load_kernels(L.compile_kernels(tmp_path/f'{m}.so', march=m)) for m in ('x86-64-v2', 'x86-64-v3', 'x86-64-v4') if can_run(m)}
    assert len(libs) >= 2
    return libs

def each_build(libs:dict, threads=(1, 2)):
    "Run the loop body with each library of `libs` loaded and each thread count; this process's library and threads restored after."
    old, n = L.c_kernels(), torch.get_num_threads()
    try:
        for (m, lib), th in ((m, t) for m in libs.items() for t in threads):
            L._KERNELS['c'] = lib; torch.set_num_threads(th)
            yield m, th
    finally:
        L._KERNELS['c'] = old; torch.set_num_threads(n)

def test_the_same_bits_on_every_instruction_set_and_thread_count(tmp_path):
    "The builds for SSE4, AVX2 and AVX-512 (those this CPU can run) and 1 or 2 threads give the same bits (no FMA, fixed sums)."
    libs, outs = isa_builds(tmp_path), {}
    torch.manual_seed(0)
    for dt in (torch.float32, torch.float64):
        x = torch.randn(4, 8, 64, 64, dtype=dt)*3; g = torch.randn_like(x); a = torch.randn(8, dtype=dt)
        for m, th in each_build(libs):
            for cl in (False, True):
                xs = x.contiguous(memory_format=torch.channels_last) if cl else x
                outs[(dt, m, th, cl)] = (L.c_forward(xs, a, 'rational', 1).contiguous(), *L.c_backward(g, xs, a, 'exponential', 1))
        ref = outs[(dt, 'x86-64-v2', 1, False)]
        for k, v in outs.items():
            if k[0] == dt: assert all(torch.equal(u.contiguous(), w.contiguous()) for u, w in zip(v[:2], ref[:2])), k
        for cl in (False, True):                                   # dL/da: the same bits wherever the layout is the same
            same = [v[2] for k, v in outs.items() if k[0] == dt and k[3] == cl]
            assert all(torch.equal(s, same[0]) for s in same), (dt, cl)

def test_the_peers_have_the_same_bits_on_every_instruction_set_and_thread_count(tmp_path):
    "PAU (float32 and float64) and Swish (float32, per layer and per channel): the same bits for SSE4, AVX2, AVX-512, 1 or 2 threads."
    libs, outs = isa_builds(tmp_path), {}
    torch.manual_seed(0)
    x = torch.randn(4, 8, 64, 64)*3; g = torch.randn_like(x); num, den, a = torch.randn(6), torch.randn(4), torch.randn(8)
    for m, th in each_build(libs):
        outs[(m, th)] = (*[L.pau_c_forward(x.to(dt), num.to(dt), den.to(dt)) for dt in (torch.float32, torch.float64)],
                         *L.pau_c_backward(g, x, num, den), *L.pau_c_backward(g.double(), x.double(), num.double(), den.double()),
                         L.swish_c_forward(x, a, 1), *L.swish_c_backward(g, x, a, 1), *L.swish_c_backward(g, x, a[:1], 1))
    ref = outs[('x86-64-v2', 1)]
    for k, v in outs.items(): assert all(torch.equal(p, q) for p, q in zip(v, ref)), k

def test_a_kernel_built_for_another_cpu_is_never_loaded(tmp_path, monkeypatch):
    "The cache name holds the CPU's instruction-set flags: a machine with other flags builds and loads its own kernel."
    monkeypatch.setenv('ACTIVATIONS_REPRO_CACHE', str(tmp_path))
    mine = L.kernel_path()
    monkeypatch.setattr(L, 'cpu_flags', lambda: 'fpu sse2 some_other_cpu')
    other = L.kernel_path()
    assert mine != other and mine.parent == other.parent
    L.c_kernels(); monkeypatch.delitem(L._KERNELS, 'c')                        # this process's kernel: put back afterwards
    assert L.c_kernels() is not None and other.exists() and not mine.exists()

def test_a_compile_error_is_reported_with_the_compilers_message(tmp_path, monkeypatch):
    "A compiler that fails: one warning that carries its message, and the tensor-operation kernels run instead."
    bad = tmp_path/'cc'; bad.write_text('#!/bin/sh\necho "cc: error: this compiler is broken" >&2\nexit 1\n'); bad.chmod(0o755)
    monkeypatch.setenv('CC', str(bad)); monkeypatch.setenv('ACTIVATIONS_REPRO_CACHE', str(tmp_path/'cache'))
    L.c_kernels(); monkeypatch.delitem(L._KERNELS, 'c')
    with pytest.warns(UserWarning, match='this compiler is broken'): assert L.c_kernels() is None
    assert L.kernels_for(torch.zeros(3)).name == 'tensor operations'
    assert L.activation(torch.tensor([-1., 2.]), 0., 'exponential').tolist() == [-0.5, 2.]

def test_the_kernel_outputs_estimate_has_the_same_bits_on_every_instruction_set_and_thread_count(tmp_path):
    "The Gaussian Nadaraya-Watson kernel (value and gradients, with left-out rows) gives the same bits for SSE4, AVX2, AVX-512, 1 or 2 threads."
    from activations_repro.kernel import GaussianNW
    libs, outs = isa_builds(tmp_path), {}
    g = torch.Generator().manual_seed(0)
    u, a, y = torch.randn(50, 4, generator=g), torch.randn(333, 4, generator=g), torch.rand(333, 4, generator=g)
    si, dG = torch.randint(-1, 333, (50,), generator=g), torch.randn(50, 4, generator=g)
    for m, th in each_build(libs):
        leaves = [t.clone().requires_grad_() for t in (u, a, torch.tensor(0.7))]
        G = GaussianNW.apply(leaves[0], leaves[1], y, leaves[2], si)
        outs[(m, th)] = (G, *torch.autograd.grad(G, leaves, dG))
    ref = outs[('x86-64-v2', 1)]
    for k, v in outs.items(): assert all(torch.equal(p, q) for p, q in zip(v, ref)), k

PROBE = ("import warnings, torch\nwarnings.simplefilter('always')\nfrom activations_repro.learnable import Exponential, kernels_for\n"
         "with warnings.catch_warnings(record=True) as w:\n"
         "    x = torch.randn(2, 3, 4, requires_grad=True); Exponential(3)(x).sum().backward(); Exponential()(torch.randn(0, 3))\n"
         "print(kernels_for(x).name, *[str(i.message) for i in w if 'C kernels' in str(i.message)], sep='|')")

def probe(cache, **env):
    "(kernels used, [warnings about them]) of a fresh process that runs an activation forward and backward with `cache`."
    import subprocess, sys
    r = subprocess.run([sys.executable, '-c', PROBE], capture_output=True, text=True,     # the C library alone: no C++ operator
                       env={**os.environ, 'ACTIVATIONS_REPRO_CACHE': str(cache), 'ACTIVATIONS_REPRO_CPP': '0', **env})
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    name, *msgs = r.stdout.strip().splitlines()[-1].split('|')
    return name, msgs

def cached_library(cache) -> Path:
    return next((Path(cache)/'kernels').glob('kernels-*.so'))

def test_a_damaged_cached_library_is_rebuilt_not_loaded(tmp_path):
    "A truncated or byte-flipped library in the cache (an interrupted copy, a full disk) is rebuilt with a warning naming it."
    assert probe(tmp_path) == ('C', [])
    so = cached_library(tmp_path)
    for damage in (lambda b: b[:len(b)//2], lambda b: b[:64], lambda b: b'', lambda b: b[:1000] + bytes([b[1000] ^ 1]) + b[1001:]):
        so.write_bytes(damage(so.read_bytes()))
        name, msgs = probe(tmp_path)
        assert name == 'C' and len(msgs) == 1 and f'rebuilding the cached C kernels {so}' in msgs[0], msgs
        assert probe(tmp_path) == ('C', [])                          # rebuilt once, then loaded silently

def test_the_cache_is_private_and_a_foreign_one_is_never_loaded(tmp_path):
    "The cache folders are made 0700; a library others could have written is not loaded: built in a private folder instead."
    assert probe(tmp_path/'mine') == ('C', [])
    assert all((tmp_path/'mine'/p).stat().st_mode & 0o777 == 0o700 for p in ('', 'kernels'))
    shared = tmp_path/'shared'/'kernels'; shared.mkdir(parents=True); shared.chmod(0o777)
    planted = shared/cached_library(tmp_path/'mine').name
    planted.write_bytes(b'\x7fELF not the kernels'); planted.with_suffix('.sha256').write_text('0')
    name, msgs = probe(tmp_path/'shared')
    assert name == 'C' and len(msgs) == 1 and f'not loading the C kernels from {planted}' in msgs[0] and 'can be written by others' in msgs[0]

@pytest.mark.parametrize('cc,kernels,says', [('cc -O0', 'C', None), ('true', 'tensor operations', "'true' exited 0 but wrote nothing"),
                                             ('false', 'tensor operations', 'failed (exit code 1): no message'),
                                             ('/nonexistent/cc', 'tensor operations', "cannot run the C compiler '/nonexistent/cc'")])
def test_the_compiler_variable_is_read_as_build_systems_do(tmp_path, cc, kernels, says):
    "CC may carry flags; a CC that fails, or that is not a compiler, is named in the one warning, with its exit code."
    name, msgs = probe(tmp_path, CC=cc)
    assert name == kernels and (msgs == [] if says is None else len(msgs) == 1 and says in msgs[0]), msgs

@pytest.mark.skipif(shutil.which((os.environ.get('CXX') or 'c++').split()[0]) is None, reason='no C++ compiler (CI has one)')
def test_eager_calls_take_the_cpp_operator(monkeypatch):
    "A module's eager call on the CPU is the C++ operator (its backward is a C++ node), with EagerActivation's values and gradients; without the C kernels, neither."
    torch.manual_seed(0)
    x, g = torch.randn(4, 8, dtype=torch.float64, requires_grad=True), torch.randn(4, 8, dtype=torch.float64)
    for cls in (Exponential, Rational):
        m = cls(8, 0.3, dtype=torch.float64)
        y = m(x); assert y.grad_fn.name() == 'torch::autograd::CppNode<Activation>', y.grad_fn.name()
        y2 = L.EagerActivation.apply(x, m.a, m.act, 1)
        for t1, t2 in zip((y, *torch.autograd.grad(y, (x, m.a), g)), (y2, *torch.autograd.grad(y2, (x, m.a), g))): assert torch.equal(t1, t2)
    monkeypatch.setitem(L._KERNELS, 'c', None)
    assert L.cpp_op() is None and Exponential(8)(x).grad_fn.name() == 'EagerActivationBackward'

def test_the_operators_backward_reads_a_gradient_in_any_layout():
    "The gradient the C++ backward receives: one value broadcast (as `.sum()` hands it; small, and past the threading size), transposed, or dense: the bits of the dense one."
    torch.manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        for shape, g in (((4, 8), torch.tensor(0.7, dtype=dtype).expand(4, 8)), ((2, 8, 96, 96), torch.tensor(-1.3, dtype=dtype).expand(2, 8, 96, 96)),
                         ((4, 8), torch.randn(8, 4, dtype=dtype).t()), ((4, 8), torch.randn(4, 8, dtype=dtype))):
            for cls in (Exponential, Rational):
                m, x = cls(8, 0.3, dtype=dtype), torch.randn(*shape, dtype=dtype, requires_grad=True)
                y = m(x); assert y.grad_fn.name() == 'torch::autograd::CppNode<Activation>'
                got = torch.autograd.grad(y, (x, m.a), g)
                want = torch.autograd.grad(L.EagerActivation.apply(x, m.a, m.act, 1), (x, m.a), g.contiguous())
                assert all(torch.equal(t1, t2) for t1, t2 in zip(got, want)), (dtype, shape, g.stride())

def test_the_fast_lane_keeps_every_guarantee():
    "The module's straight call to the C++ operator: inference mode first then training, channels last, a non-contiguous or half input, a wrong shape."
    torch.manual_seed(0)
    m, x = Exponential(3, 0.2), torch.randn(2, 3, 4, 4)
    with torch.inference_mode(): y0 = m(x)
    xg = x.clone().requires_grad_(); y = m(xg); y.sum().backward()          # e^-a cached under inference mode is never saved
    assert torch.equal(y.detach(), y0) and m.a.grad is not None
    xl = x.to(memory_format=torch.channels_last).requires_grad_()
    assert torch.equal(m(xl), y0) and torch.equal(m(x.transpose(2, 3)).transpose(2, 3), y0)
    assert m(x.half()).dtype == torch.float16
    last = Rational(4, 0.5, channel_dim=-1); z = torch.randn(2, 3, 4)
    assert torch.equal(last(z), L.activation(z, last.a.detach().clone(), 'rational', -1))
    with pytest.raises(ValueError, match='has 3 parameters .* has 4 there'): Exponential(3)(torch.randn(2, 4))
