"""Paper B's training step per activation through the project's own path (fastai Learner, `train.make_learner`), as a ratio
to ReLU's; and one fastai epoch against a plain PyTorch loop over the same tensors, model and augmentation.

Not a test: ratios measured side by side, interleaved rounds in a shuffled order, medians; the epoch ratio both in wall-clock and in
this thread's CPU time (less disturbed by other processes). Each run is appended, with the CPU's model, to a committed result file
(`--record`, default results/bench/training.json) from which the README's figures are computed. Run it by hand on a quiet machine, twice:
    MALLOC_MMAP_THRESHOLD_=1000000000 MALLOC_TRIM_THRESHOLD_=1000000000 python scripts/bench_training.py [--images 5000] [--rounds 3] [--threads 1] [--data ../shared/data]
Paper A's step times (for chapter 20's equal-wall-clock view), written to a result file the chapter reads:
    python scripts/bench_training.py --model paper_a --images 1000 --rounds 2 --out results/bench/paper_a_steps.json
Paper A reports 1.43x ReLU's step time for its Exponential type and 1.24x for PReLU (on a GPU).
"""
import argparse, json, os, platform, random, statistics, time, warnings
from pathlib import Path
import torch
from torch import nn
from fastai.callback.progress import ProgressCallback
from activations_repro.results import machine, append_runs

def learner(model, act, images, net='base'):
    from activations_repro.train import make_learner
    test = 100 if model == 'paper_a' else max(100, images//5)   # Paper A: time the steps; Paper B: CIFAR-10's 5:1 train:test ratio
    cfg = dict(model=model, act=act, epochs=1, limit=images, eval_size=test) | ({} if net == 'base' else dict(net=net))
    learn = make_learner(cfg); learn.remove_cb(ProgressCallback); return learn

def clocks(): return time.perf_counter(), time.thread_time()    # wall and this thread's CPU seconds (torch runs on it with one thread)

def fastai_epoch(learn):
    "(wall s, CPU s) of one fastai epoch (train + test pass), and the mean ms of its training steps (the project's StepTimer)."
    n0 = len(learn.hist['epochs']); t0 = clocks()
    with learn.no_logging(): learn.fit(1)
    return tuple(b - a for a, b in zip(t0, clocks())), learn.hist['epochs'][n0]['ms_per_step']

def plain_epoch(learn):
    "(wall s, CPU s) of the same epoch as a plain PyTorch loop: the learner's tensors, model, augmentation maths and Adam settings."
    dls, model = learn.dls, learn.model
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8); lf = nn.CrossEntropyLoss()
    from fastai.torch_core import TensorImage
    trn, val = dls.train, dls.valid; cl = lambda t: t.as_subclass(torch.Tensor).contiguous(memory_format=torch.channels_last)
    t0 = clocks(); model.train(); perm = torch.randperm(len(trn.y))
    for i in range(0, len(perm) - trn.bs + 1, trn.bs):                       # drop_last, as the fastai loader
        j = perm[i:i + trn.bs]; xb = cl(trn.after_batch(TensorImage(trn.x[j]))); yb = trn.y[j]
        loss = lf(model(xb), yb); opt.zero_grad(); loss.backward(); opt.step(); loss.item()
    model.eval(); n = c = 0; tot = 0.
    with torch.no_grad():
        for i in range(0, len(val.y), val.bs):
            xb = cl(val.after_batch(TensorImage(val.x[i:i + val.bs]))); yb = val.y[i:i + val.bs]
            p = model(xb); tot += lf(p, yb).item()*len(yb); c += (p.argmax(1) == yb).sum().item(); n += len(yb)
    return tuple(b - a for a, b in zip(t0, clocks()))

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--images', type=int, default=5000); p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--threads', type=int, default=1); p.add_argument('--model', default='paper_b', choices=('paper_b', 'paper_a'))
    p.add_argument('--net', default='base', help="Paper B's network variant (configs.PAPER_B_NETS)")
    p.add_argument('--acts', default='paper', choices=('paper', 'all'), help="the paper's activations, or those and the peers")
    p.add_argument('--out', help='also write the step times to this JSON file (a result file the chapters read)')
    p.add_argument('--record', default='results/bench/training.json', help='result file the run is appended to ("" for none)')
    p.add_argument('--data', default=os.environ.get('ACTIVATIONS_REPRO_DATA', '../shared/data')); args = p.parse_args()
    os.environ['ACTIVATIONS_REPRO_DATA'] = args.data; warnings.filterwarnings('ignore'); torch.set_num_threads(args.threads)
    from activations_repro.configs import PAPER_A_ACTS, PAPER_B_ACTS, PEER_ACTS
    ACTS, paper_b = (PAPER_B_ACTS, True) if args.model == 'paper_b' else (PAPER_A_ACTS, False)
    if args.acts == 'all': ACTS = ACTS + PEER_ACTS
    print(f'{machine()["cpu"]}; torch {torch.__version__}, {torch.get_num_threads()} thread(s); {args.model} (net {args.net}), batch 100, {args.images} CIFAR-10 images; '
          f'medians of {args.rounds} interleaved rounds after one warm-up epoch')
    learns = {a: learner(args.model, a, args.images, args.net) for a in ACTS}
    for l in learns.values(): fastai_epoch(l)                                # warm-up (and the fused kernel loaded)
    steps = {a: [] for a in ACTS}; fa, pl = [], []
    for r in range(args.rounds):                                             # interleaved, in a new order each round
        jobs = [('step', a) for a in ACTS] + ([('fastai', 'relu'), ('plain', 'relu')] if paper_b else []); random.Random(r).shuffle(jobs)
        for kind, a in jobs:
            if kind == 'step': steps[a].append(fastai_epoch(learns[a])[1])
            elif kind == 'fastai': fa.append(fastai_epoch(learns[a])[0])
            else: pl.append(plain_epoch(learns[a]))
    relu = statistics.median(steps['relu'])
    print('\nms per training step through the project path (StepTimer), and ratio to ReLU')
    for a in ACTS:
        m = statistics.median(steps[a]); print(f'  {a:12s} {m:7.2f} ms   {m/relu:5.2f}x   (rounds: {", ".join(f"{s:.1f}" for s in steps[a])})')
    if args.out:
        out = dict(model=args.model, threads=args.threads, images=args.images, rounds=args.rounds, torch=torch.__version__,
                   machine=f'{platform.machine()}, {os.cpu_count()} cores', date=time.strftime('%Y-%m-%d'),
                   ms_per_step={a: statistics.median(steps[a]) for a in ACTS}, samples=steps)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True); Path(args.out).write_text(json.dumps(out, indent=1)); print(f'wrote {args.out}')
    if args.record:
        run = dict(machine(), date=time.strftime('%Y-%m-%d %H:%M'), torch=torch.__version__, model=args.model, net=args.net, threads=args.threads,
                   images=args.images, rounds=args.rounds, ms_per_step={a: statistics.median(steps[a]) for a in ACTS}, samples=steps)
        print(f'appended to {args.record} ({append_runs(args.record, [run], __doc__.splitlines()[0])} runs)')
    if not paper_b: return
    print(f'\nOne epoch of paper_b/relu ({args.images} training images, {len(learns["relu"].dls.valid.y)} test images): fastai / plain PyTorch loop')
    for i, clock in enumerate(('wall clock', 'CPU time')):
        f, q = statistics.median(x[i] for x in fa), statistics.median(x[i] for x in pl)
        print(f'  {clock:10s}  fastai {f:.3f} s, plain {q:.3f} s, ratio {f/q:.2f}x (rounds: {", ".join(f"{x[i]/y[i]:.2f}" for x, y in zip(fa, pl))})')

if __name__ == '__main__': main()
