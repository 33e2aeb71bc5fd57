"""Forward+backward time of the learnable activations against ReLU, ELU and PReLU on the same tensors, as a user calls them.

Prints, for 1 and 2 threads, the median time of each module's forward + backward as a ratio to eager `nn.ReLU` measured
in the same run (interleaved rounds, in a shuffled order each round), eager and inside `torch.compile`; the memory each keeps for its backward (bytes of
saved tensors) against ReLU's; and the first-call overhead (compiling the fused kernel once per machine, loading it).
Not a test: run it by hand on a quiet machine, twice, and compare the two runs:

    MALLOC_MMAP_THRESHOLD_=1000000000 MALLOC_TRIM_THRESHOLD_=1000000000 python scripts/bench_activations.py [--shape 100x32x32x32] [--reps 15]
"""
import argparse, os, random, statistics, subprocess, sys, tempfile, time, warnings
import torch
from torch import nn
from activations_repro.learnable import Exponential, Rational

def fwd_bwd(m, x, g):
    xi = x.detach().requires_grad_(); t0 = time.perf_counter(); m(xi).backward(g); return time.perf_counter() - t0

def saved_bytes(m, x):
    "Bytes of the tensors autograd keeps for the backward of one call (the activation's memory cost in training)."
    seen = {}
    def pack(t): seen[(t.data_ptr(), t.numel())] = t.numel()*t.element_size(); return t
    xi = x.detach().requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t): m(xi)
    return sum(v for (ptr, _), v in seen.items() if ptr != xi.data_ptr()) + (xi.numel()*xi.element_size() if any(p == xi.data_ptr() for p, _ in seen) else 0)

def first_call():
    "Seconds to compile the fused kernel into an empty cache (once per machine) and of a first call in a fresh process."
    with tempfile.TemporaryDirectory() as d:
        code = ("import time; t0 = time.perf_counter(); import torch; from activations_repro.learnable import fused_library, Exponential;"
                "t1 = time.perf_counter(); fused_library(); t2 = time.perf_counter(); x = torch.randn(8, 4, 8, 8, requires_grad=True);"
                "Exponential(4)(x).sum().backward(); t3 = time.perf_counter(); print(t2 - t1, t3 - t2)")
        out = [subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env={**os.environ, 'ACTIVATIONS_REPRO_CACHE': d}).stdout.split()
               for _ in range(2)]
    return float(out[0][0]), float(out[1][0]), float(out[1][1])

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--shape', default='100x32x32x32'); p.add_argument('--reps', type=int, default=15)
    args = p.parse_args(); warnings.filterwarnings('ignore')
    shape = tuple(int(s) for s in args.shape.split('x')); C = shape[1]
    comp, load, call = first_call()
    print(f'torch {torch.__version__}, CPU, shape {args.shape}, float32; medians of {args.reps} interleaved rounds')
    print(f'first call: compiling the fused kernel once per machine {comp:.2f} s; later processes: loading {load*1e3:.1f} ms, first forward+backward {call*1e3:.1f} ms')
    mods = {'ReLU': nn.ReLU(), 'ELU': nn.ELU(), 'PReLU per channel': nn.PReLU(C, 0.25),
            'Exponential per layer': Exponential(1), 'Exponential per channel': Exponential(C),
            'Rational per layer': Rational(1), 'Rational per channel': Rational(C)}
    x = torch.randn(shape); base_mem = saved_bytes(mods['ReLU'], x)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for fmt in ('contiguous', 'channels_last'):
            xf = x.contiguous(memory_format=torch.channels_last) if fmt == 'channels_last' else x.contiguous(); g = torch.ones_like(xf)
            models = {k: (m, torch.compile(nn.Sequential(m))) for k, m in mods.items()}
            ts = {k: ([], []) for k in models}
            order = list(models)
            for r in range(args.reps + 3):                                # interleaved rounds in a new order each; the first 3 warm up
                random.Random(r).shuffle(order)
                for k in order:
                    m, cm = models[k]
                    e, c = fwd_bwd(m, xf, g), fwd_bwd(cm, xf, g)
                    if r >= 3: ts[k][0].append(e); ts[k][1].append(c)
            relu = statistics.median(ts['ReLU'][0])
            print(f'\n{threads} thread(s), {fmt}: eager ReLU {relu*1e3:.2f} ms per forward+backward')
            print(f'{"":26s}{"eager":>8s}{"compiled":>10s}{"saved memory":>14s}   (ratios to eager ReLU)')
            for k, (e, c) in ts.items():
                print(f'{k:26s}{statistics.median(e)/relu:8.2f}{statistics.median(c)/relu:10.2f}{saved_bytes(mods[k], xf)/base_mem:14.2f}')

if __name__ == '__main__': main()
