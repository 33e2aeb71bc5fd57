"""The kernel output's training step on MNIST against softmax's, for m anchors re-indexed every step or once per epoch.

Not a test: each setting is a fastai Learner built by the project's own path (`train.make_learner`, the configuration of
grid `kaf_cost`); its training steps are timed by the project's StepTimer over `--steps` batches, in interleaved rounds in a
shuffled order, medians. The Gaussian estimate's closed-form gradient (`kernel.GaussianNW`) is timed against autograd on
the reference (`kernel._nw_reference`) at the same settings, to show what it saves. Each run is appended, with the CPU's
model, to a committed result file (`--record`, default results/bench/kernel_output.json) from which chapter 22 and the
README compute the "practical cost" claim. Run it by hand on a quiet machine, twice:
    MALLOC_MMAP_THRESHOLD_=1000000000 MALLOC_TRIM_THRESHOLD_=1000000000 python scripts/bench_kernel_output.py [--steps 30] [--rounds 3]
"""
import argparse, os, random, statistics, time, warnings
import torch
from fastai.callback.core import Callback, CancelEpochException
from fastai.callback.progress import ProgressCallback
from activations_repro import kernel
from activations_repro.configs import GRIDS
from activations_repro.results import machine, append_runs

class StopAfter(Callback):
    "End the epoch (training and validation) after `n` training steps."
    order = 99
    def __init__(self, n): self.n = n
    def after_batch(self):
        if self.training and self.learn.epoch_steps >= self.n: raise CancelEpochException()

def learner(output, anchors=None, refresh=None):
    from activations_repro.train import make_learner
    g = GRIDS['kaf_cost']
    cfg = dict(model='kaf', dataset='mnist', output=output, bias=g['bias'], epochs=1)
    if output == 'kernel': cfg.update(anchors=anchors, refresh=refresh)
    learn = make_learner(cfg)
    learn.remove_cb(ProgressCallback)
    return learn

def ms_per_step(learn, steps, autograd=False):
    "Median-ready ms per training step over `steps` batches; `autograd`: the reference's gradient instead of the closed form."
    fast = kernel._nw_chunk
    if autograd: kernel._nw_chunk = lambda u, au, ay, h, excl, k: kernel._nw_reference(u, au, ay, h, excl, k)
    try:
        with learn.no_logging(): learn.fit(1, cbs=StopAfter(steps))
    finally: kernel._nw_chunk = fast
    return 1e3*learn.epoch_s/learn.epoch_steps

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--steps', type=int, default=30)
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--record', default='results/bench/kernel_output.json', help='result file the run is appended to ("" for none)')
    p.add_argument('--data', default=os.environ.get('ACTIVATIONS_REPRO_DATA', '../shared/data'))
    args = p.parse_args()
    os.environ['ACTIVATIONS_REPRO_DATA'] = args.data
    warnings.filterwarnings('ignore')
    torch.set_num_threads(args.threads)
    g = GRIDS['kaf_cost']
    settings = [('softmax', None, None, False)] + [('kernel', m, r, False) for m in g['anchors'] for r in g['refresh']]
    settings += [('kernel', m, 'step', True) for m in g['anchors'] if m <= 3000]          # the autograd reference, to compare
    print(f'{machine()["cpu"]}; torch {torch.__version__}, {torch.get_num_threads()} thread(s); MNIST, batch 128, {args.steps} steps '
          f'per timing; medians of {args.rounds} interleaved rounds after one warm-up')
    learns = {s: learner(*s[:3]) for s in settings}
    for s, l in learns.items(): ms_per_step(l, 3, s[3])                                  # warm-up
    times = {s: [] for s in settings}
    for r in range(args.rounds):
        order = list(settings)
        random.Random(r).shuffle(order)
        for s in order: times[s].append(ms_per_step(learns[s], args.steps, s[3]))
    soft = statistics.median(times[settings[0]])
    key = lambda s: s[0] if s[0] == 'softmax' else f'kernel m={s[1]} refresh={s[2]}' + (' autograd' if s[3] else '')
    for s in settings:
        m = statistics.median(times[s])
        print(f'  {key(s):36s} {m:8.2f} ms  {m/soft:6.2f}x softmax  (rounds: {", ".join(f"{t:.1f}" for t in times[s])})')
    if args.record:
        run = dict(machine(), date=time.strftime('%Y-%m-%d %H:%M'), torch=torch.__version__, threads=args.threads, steps=args.steps,
                   rounds=args.rounds, ms_per_step={key(s): statistics.median(times[s]) for s in settings},
                   samples={key(s): times[s] for s in settings})
        print(f'appended to {args.record} ({append_runs(args.record, [run], __doc__.splitlines()[0])} runs)')

if __name__ == '__main__': main()
