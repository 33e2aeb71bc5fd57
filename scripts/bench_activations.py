"""Forward+backward time of the learnable activations against ReLU on the same tensors, as a user calls the modules.

Each kernel the package can run is timed: the C kernel built for this CPU (`-march=native`), the same source built for
x86-64-v3 (AVX2, the CPUs most users have; on other architectures the compiler's default target), and the
tensor-operation kernels that run where no C compiler is found. Each on random-sign input and on all-negative and
all-positive input (a kernel that branches on the data is fast on one sign and slow on random signs), with 1 and 2 threads,
in interleaved rounds in a shuffled order, medians. Two shapes by default: a convolution's output, and a dense layer's with
ten features, where a per-channel parameter vector is shorter than the CPU's vectors and the kernels' remainder code runs
(the code a compiler is likeliest to branch in).

Then, per shape from a small model's 4x8 and 256x64 to a convolution's 100x32x32x32 (`--modules`), every activation a user
would weigh in the same rounds, as they call it on one thread: ReLU, PReLU (per layer and per channel), ELU, SiLU, GELU, the
package's Exponential and Rational (per layer, per channel), its learnable peers Swish (per layer, per channel) and PAU, and
PAU from its authors' package (rational-activations, where it is installed); forward + backward and inference
(`torch.no_grad`). A small tensor's call is timed as the mean of a batch of calls within a round.

Each run is appended to a committed result file (default results/bench/activations.json) with the CPU's model and the path
eager calls took (the C++ operator; `ACTIVATIONS_REPRO_CPP=0` times the Python autograd function instead); the README's
speed figures are computed from that file. Not a test: run it by hand on a quiet machine, twice, and compare the runs:

    MALLOC_MMAP_THRESHOLD_=1000000000 MALLOC_TRIM_THRESHOLD_=1000000000 python scripts/bench_activations.py [--shape 100x32x32x32,8192x10] [--modules 4x8,...]
"""
import argparse, platform, random, statistics, tempfile, time, warnings
from pathlib import Path
import torch
from torch import nn
from activations_repro import learnable as L, kernels as K
from activations_repro.results import machine, append_runs

def eager_path() -> str:
    "How eager calls reach the C kernels in this run: the C++ operator, or (ACTIVATIONS_REPRO_CPP=0, no C++ compiler) Python."
    return 'C++ operator' if K.cpp_op() is not None else 'Python autograd function'

def fwd_bwd(m, x, g):
    "Seconds of one forward and backward of module `m` on `x`."
    xi = x.detach().requires_grad_()
    t0 = time.perf_counter()
    m(xi).backward(g)
    return time.perf_counter() - t0

def one_pass(x):
    """Seconds of one elementwise pass over `x` in the tensor-operation kernels' pieces (a product into a reused buffer):
    the unit the tensor-operation kernels are made of (five such passes forward, ten backward)."""
    d, pieces = K._pieces(x, None)
    buf = torch.empty_like(x.narrow(d, 0, pieces[0][1]))
    t0 = time.perf_counter()
    for i, k in pieces: torch.mul(x.narrow(d, i, k), 0.5, out=buf[:k])
    return time.perf_counter() - t0

def kernels(tmp):
    "{name: the C library to use, or None for the tensor-operation kernels}."
    v3 = 'x86-64-v3' if platform.machine() in ('x86_64', 'AMD64') else None
    built = K.compile_kernels(Path(tmp)/'v3.so', march=v3)
    return {'C, -march=native': K.c_kernels(), f'C, {"-march=x86-64-v3" if v3 else "default target"}': K.load_kernels(built),
            'tensor operations': None}

def inputs(shape):
    x = torch.randn(shape)
    return {'random sign': x, 'all negative': -x.abs() - 1e-3, 'all positive': x.abs() + 1e-3}

def measure(shape, threads, rounds, tmp):
    "{kernel: {module: {input: median seconds}}} and ReLU's {input: median seconds}, on `threads` threads."
    torch.set_num_threads(threads)
    C = shape[1]
    mods = {'Exponential per layer': L.Exponential(1), 'Exponential per channel': L.Exponential(C),
            'Rational per layer': L.Rational(1), 'Rational per channel': L.Rational(C)}
    xs, ks = inputs(shape), kernels(tmp)
    g = torch.ones(shape)
    jobs = [('ReLU', 'ReLU', i) for i in xs] + [('pass', 'pass', 'random sign')] + [(k, m, i) for k in ks for m in mods for i in xs]
    times = {j: [] for j in jobs}
    for r in range(rounds + 2):                                   # the first two rounds warm up
        random.Random(r).shuffle(jobs)
        for k, m, i in jobs:
            if k in ks: K._KERNELS['c'] = ks[k]
            t = one_pass(xs[i]) if k == 'pass' else fwd_bwd(nn.ReLU() if k == 'ReLU' else mods[m], xs[i], g)
            if r >= 2: times[(k, m, i)].append(t)
    K._KERNELS['c'] = ks['C, -march=native']
    med = {j: statistics.median(v) for j, v in times.items()}
    out = {k: {m: {i: med[(k, m, i)] for i in xs} for m in mods} for k in ks}
    return out, {i: med[('ReLU', 'ReLU', i)] for i in xs}, med[('pass', 'pass', 'random sign')]

def module_set(C):
    "{name: module} of every activation the module timings compare, for tensors of C channels (dim 1)."
    mods = {'ReLU': nn.ReLU(), 'PReLU per layer': nn.PReLU(), 'PReLU per channel': nn.PReLU(C), 'ELU': nn.ELU(), 'SiLU': nn.SiLU(),
            'GELU': nn.GELU(), 'Exponential per layer': L.Exponential(), 'Exponential per channel': L.Exponential(C),
            'Rational per layer': L.Rational(), 'Rational per channel': L.Rational(C), 'Swish per layer': L.Swish(),
            'Swish per channel': L.Swish(C), 'PAU': L.PAU()}
    try:
        from rational.torch import Rational as Authors
        mods["PAU, authors' package"] = Authors(approx_func='leaky_relu', degrees=(5, 4), cuda=False, version='A')
    except ImportError: pass
    return mods

def per_call(m, x, g, grad:bool, n:int) -> float:
    "Mean seconds of `n` calls of module `m` on `x`: forward + backward with `g` (grad) or a forward under torch.no_grad."
    if grad:
        t0 = time.perf_counter()
        for _ in range(n): m(x).backward(g)
    else:
        with torch.no_grad():
            t0 = time.perf_counter()
            for _ in range(n): m(x)
    return (time.perf_counter() - t0)/n

def measure_modules(shape, rounds) -> dict:
    "{module: {'fwd_bwd': median s, 'no_grad': median s}} on one thread, random-sign input, interleaved shuffled rounds."
    torch.set_num_threads(1)
    mods, x = module_set(shape[1]), torch.randn(shape).requires_grad_()
    g, n = torch.ones(shape), max(1, 20_000//x.numel())                  # small tensors: a batch of calls per round
    jobs = [(m, grad) for m in mods for grad in (True, False)]
    times = {j: [] for j in jobs}
    for r in range(rounds + 2):                                   # the first two rounds warm up
        random.Random(r).shuffle(jobs)
        for m, grad in jobs:
            slow = m.endswith("authors' package")
            t = per_call(mods[m], x, g, grad, 1 if slow else n)
            if r >= 2: times[(m, grad)].append(t)
    return {m: {'fwd_bwd': statistics.median(times[(m, True)]), 'no_grad': statistics.median(times[(m, False)])} for m in mods}

def report_modules(run):
    print(f"{run['cpu']}; torch {run['torch']}; shape {run['shape']}, float32, 1 thread; eager calls: {run['eager']}; "
          f"medians of {run['rounds']} interleaved rounds")
    t = run['modules']
    print(f"{'':30s}{'fwd+bwd us':>11s}{'÷ ReLU':>8s}{'÷ PReLU':>9s}{'no_grad ÷ PReLU':>17s}")
    for m, v in t.items():
        pr = t['PReLU per channel' if m.endswith('per channel') else 'PReLU per layer']
        print(f"{m:30s}{v['fwd_bwd']*1e6:11.1f}{v['fwd_bwd']/t['ReLU']['fwd_bwd']:8.2f}{v['fwd_bwd']/pr['fwd_bwd']:9.2f}"
              f"{v['no_grad']/pr['no_grad']:17.2f}")

def report(run):
    print(f"{run['cpu']}; torch {run['torch']}; shape {run['shape']}, float32; medians of {run['rounds']} interleaved rounds")
    for th, res in run['threads'].items():
        relu = res['relu']['random sign']
        print(f"\n{th} thread(s): ReLU forward+backward {relu*1e3:.2f} ms (random sign)")
        if 'one_pass' in res: print(f"one elementwise pass of the tensor-operation kernels: {res['one_pass']/relu:.2f} x ReLU")
        print(f"{'':28s}{'÷ ReLU':>8s}{'random ÷ one sign':>19s}")
        for k, mods in res['kernels'].items():
            print(k)
            for m, t in mods.items():
                print(f"  {m:26s}{t['random sign']/relu:8.2f}{t['random sign']/min(t['all negative'], t['all positive']):19.2f}")

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--shape', default='100x32x32x32,8192x10', help='comma-separated shapes of the kernel tables, a run each ("" for none)')
    p.add_argument('--modules', default='4x8,256x64,8192x10,64x32x16x16,100x32x32x32',
                   help='comma-separated shapes of the module timings, a run each ("" for none)')
    p.add_argument('--rounds', type=int, default=15)
    p.add_argument('--out', default='results/bench/activations.json', help='result file the run is appended to ("" for none)')
    args = p.parse_args(); warnings.filterwarnings('ignore')
    runs = []
    for sh in filter(None, args.modules.split(',')):
        run = dict(machine(), kind='modules', date=time.strftime('%Y-%m-%d %H:%M'), torch=torch.__version__, shape=sh,
                   eager=eager_path(), rounds=args.rounds, modules=measure_modules(tuple(int(s) for s in sh.split('x')), args.rounds))
        report_modules(run); print()
        runs.append(run)
    for sh in filter(None, args.shape.split(',')):
        run = dict(machine(), kind='kernels', date=time.strftime('%Y-%m-%d %H:%M'), torch=torch.__version__, shape=sh,
                   eager=eager_path(), rounds=args.rounds, threads={})
        with tempfile.TemporaryDirectory() as tmp:
            for th in (1, 2):
                ks, relu, one = measure(tuple(int(s) for s in sh.split('x')), th, args.rounds, tmp)
                run['threads'][str(th)] = dict(relu=relu, kernels=ks, one_pass=one)
        report(run); print()
        runs.append(run)
    if args.out:
        print(f'appended to {args.out} ({append_runs(args.out, runs, __doc__.splitlines()[0])} runs)')

if __name__ == '__main__': main()
