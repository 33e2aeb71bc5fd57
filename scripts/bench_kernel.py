"""The vectorised kernel output layer against a faithful re-implementation of the source's loop, forward + backward.

The source computes, for each query, the index of every anchor by running the network once per anchor, in Python.
Both versions use the same network, anchors and queries; they must agree to 1e-6. Not a test; run it by hand:
    python scripts/bench_kernel.py [--m 1000] [--batch 64] [--d 64]
Prints the speed ratio (target: at least 100x at m = 1,000) and each one's peak memory.
"""
import argparse, json, resource, subprocess, sys, time, warnings
import torch
from torch import nn
from activations_repro.kernel import KAFNet

def loop_forward(net, x, idx):
    "The source's way: per query, per anchor, one network pass for the anchor's index; Gaussian weights; leave-one-out."
    h = net.kout.h; out = []
    for i in range(x.shape[0]):
        u = net.index(x[i:i+1])[0]
        num = torch.zeros_like(u); den = torch.zeros_like(u)
        for j in range(net.anchors_x.shape[0]):
            if int(net.anchor_pos[idx[i]]) == j: continue                 # leave the point itself out
            uj = net.index(net.anchors_x[j:j+1])[0]
            k = torch.exp(-0.5*((uj - u)/h)**2)
            num = num + k*net.anchors_y[j]; den = den + k
        out.append(num/den)
    return torch.stack(out)

def rss_mib(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024

def setup(a):
    torch.manual_seed(0)
    X = torch.randn(4*a.m, a.d, dtype=torch.float64); y = torch.randint(0, 10, (4*a.m,))
    ai = torch.randperm(len(y))[:a.m].sort().values
    net = KAFNet(a.d, 10, anchors_x=X[ai], anchors_y=nn.functional.one_hot(y[ai], 10).double(), anchor_idx=ai).double()
    idx = torch.cat([ai[:a.batch//2], torch.arange(a.batch - a.batch//2)])   # half the queries are anchors themselves
    return net, X[idx], idx

def run_variant(a):
    "In its own process: time forward+backward of one variant, and its peak resident memory above the set-up's."
    net, xq, idx = setup(a); fn = {'vectorised': lambda: net(xq, idx), 'loop': lambda: loop_forward(net, xq, idx)}[a.variant]
    if a.variant == 'vectorised': fn().sum().backward(); net.zero_grad()      # warm-up (the loop warms itself)
    base = rss_mib(); t0 = time.perf_counter(); y = fn(); y.sum().backward(); dt = time.perf_counter() - t0
    print(json.dumps(dict(seconds=dt, peak_mib=rss_mib() - base, y=y.detach().flatten().tolist(), g=net.index[0].weight.grad.flatten().tolist())))

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--m', type=int, default=1000); p.add_argument('--batch', type=int, default=64); p.add_argument('--d', type=int, default=64)
    p.add_argument('--threads', type=int, default=1, help='torch threads (1: oversubscribed OpenMP threads spin and distort small timings)')
    p.add_argument('--variant', default=None, help=argparse.SUPPRESS)
    a = p.parse_args(); warnings.filterwarnings('ignore'); torch.set_num_threads(a.threads)
    if a.variant: return run_variant(a)
    res = {}
    for v in ('vectorised', 'loop'):
        out = subprocess.run([sys.executable, __file__, '--m', str(a.m), '--batch', str(a.batch), '--d', str(a.d), '--threads', str(a.threads), '--variant', v],
                             capture_output=True, text=True, check=True).stdout
        res[v] = json.loads(out.strip().splitlines()[-1])
    dy = max(abs(p - q) for p, q in zip(res['vectorised']['y'], res['loop']['y']))
    dg = max(abs(p - q) for p, q in zip(res['vectorised']['g'], res['loop']['g']))
    print(f'm = {a.m} anchors, {a.batch} queries ({a.batch//2} of them anchors), {a.d} features, float64, forward + backward, {torch.get_num_threads()} threads')
    for v in ('vectorised', 'loop'):
        print(f'  {v:11s}: {res[v]["seconds"]*1e3:10.1f} ms   peak memory +{res[v]["peak_mib"]:7.1f} MiB')
    print(f'  speed ratio: {res["loop"]["seconds"]/res["vectorised"]["seconds"]:.0f}x   max |output difference| {dy:.2e}   max |gradient difference| {dg:.2e}')
    assert dy < 1e-6 and dg < 1e-6, 'the two implementations disagree'

if __name__ == '__main__': main()
