"""Forward+backward time of the learnable activations against ReLU, ELU and PReLU on the same tensors, eager and compiled.

Prints the ratio of each to eager `nn.ReLU` (measured in the same run). Not a test: run it by hand,
    python scripts/bench_activations.py [--sizes 100x32x32x32,100x64x32x32] [--reps 20] [--threads 1] [--no-compile]
Set MALLOC_MMAP_THRESHOLD_=1000000000 MALLOC_TRIM_THRESHOLD_=1000000000 (as the Makefile does) to measure without page-fault noise.
"""
import argparse, statistics, time, warnings
import torch
from torch import nn
from activations_repro.learnable import Exponential, Rational, naive_exponential

class NaiveExponential(Exponential):
    "The textbook torch.where form, per channel (NaN-prone gradients; for comparison only)."
    def forward(self, x): return naive_exponential(x, self.a.view(1, -1, *([1]*(x.dim() - 2))))

def bench(m, x, reps):
    "Median seconds of forward + backward of `m` on `x` (gradient of ones)."
    g = torch.ones_like(x); ts = []
    for i in range(reps + 8):
        xi = x.detach().requires_grad_(); t0 = time.perf_counter()
        m(xi).backward(g); ts.append(time.perf_counter() - t0)
    return statistics.median(ts[8:])           # 8 warm-up calls: compiled graphs settle after a few

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sizes', default='100x32x32x32,100x64x32x32'); p.add_argument('--reps', type=int, default=20)
    p.add_argument('--no-compile', action='store_true')
    p.add_argument('--threads', type=int, default=None, help='torch threads (on a busy machine, 1 avoids OpenMP spin-waits)'); args = p.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    warnings.filterwarnings('ignore')
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu')
    for size in args.sizes.split(','):
        shape = tuple(int(s) for s in size.split('x')); C = shape[1]
        x = torch.randn(shape)
        mods = {'ReLU': nn.ReLU(), 'ELU': nn.ELU(), 'PReLU (per channel)': nn.PReLU(C, 0.25),
                'naive where Exponential': NaiveExponential(C), 'Exponential': Exponential(C), 'Rational': Rational(C)}
        base = bench(mods['ReLU'], x, args.reps)
        print(f'\n{size}: eager ReLU {base*1e3:.2f} ms per forward+backward')
        print(f'{"":28s}{"eager":>10s}{"compiled":>10s}   (ratio to eager ReLU)')
        for name, m in mods.items():
            e = bench(m, x, args.reps) / base
            c = float('nan') if args.no_compile else bench(torch.compile(m), x, args.reps) / base
            print(f'{name:28s}{e:10.2f}{c:10.2f}')

if __name__ == '__main__': main()
