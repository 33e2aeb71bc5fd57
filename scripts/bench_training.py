"""Step time of each activation in each paper network relative to ReLU, and fastai's epoch time relative to a plain PyTorch loop.

Not a test: ratios measured side by side in one run. Run it by hand:
    python scripts/bench_training.py [--steps 20] [--images 5000] [--data ../shared/data]
Paper A reports 1.43x ReLU's step time for its Exponential type and 1.24x for PReLU (GPU).
"""
import argparse, os, statistics, time, warnings
import torch
from torch import nn
from fastai.callback.progress import ProgressCallback

def step_time(model, x, y, steps):
    "Median seconds of one training step (forward, backward, Adam) on a fixed batch."
    opt = torch.optim.Adam(model.parameters()); lf = nn.CrossEntropyLoss(); ts = []
    model = model.to(memory_format=torch.channels_last); x = x.to(memory_format=torch.channels_last)
    for i in range(steps + 3):
        t0 = time.perf_counter(); loss = lf(model(x), y); opt.zero_grad(); loss.backward(); opt.step(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts[3:])

def activation_ratios(steps):
    from activations_repro.models import get_model
    for net, size, acts in (('paper_b', 24, ('relu', 'elu', 'prelu', 'rational', 'exponential')),
                            ('paper_a', 32, ('relu', 'elu', 'prelu', 'exponential'))):
        x, y = torch.randn(100, 3, size, size), torch.randint(0, 10, (100,))
        times = {a: step_time(get_model(net, a), x, y, steps if net == 'paper_b' else max(3, steps//4)) for a in acts}
        print(f'\n{net} ({size}x{size}, batch 100): ms per training step, and ratio to ReLU')
        for a, t in times.items(): print(f'  {a:12s} {1e3*t:8.1f} ms   {t/times["relu"]:5.2f}x')

def fastai_vs_plain(images):
    "One epoch of paper_b/relu on `images` CIFAR-10 images: fastai Learner.fit vs a plain loop over the same batches and transforms."
    from activations_repro.train import make_learner
    learn = make_learner(dict(act='relu', epochs=1, limit=images)); learn.remove_cb(ProgressCallback)
    with learn.no_logging(): learn.fit(1)                                   # warm-up
    t0 = time.perf_counter()
    with learn.no_logging(): learn.fit(1)
    t_fastai = time.perf_counter() - t0
    dls, model = learn.dls, learn.model
    opt = torch.optim.Adam(model.parameters(), betas=(0.9, 0.999), eps=1e-8); lf = nn.CrossEntropyLoss()
    from fastai.torch_core import TensorImage
    plain = lambda t: t.as_subclass(torch.Tensor)
    trn, val = dls.train, dls.valid                      # only their tensors and the same augmentation maths are used
    t0 = time.perf_counter()
    model.train(); perm = torch.randperm(len(trn.y))
    for i in range(0, len(perm) - trn.bs + 1, trn.bs):   # drop_last, as the fastai loader
        j = perm[i:i + trn.bs]; xb = plain(trn.after_batch(TensorImage(trn.x[j]))); yb = trn.y[j]
        loss = lf(model(xb), yb); opt.zero_grad(); loss.backward(); opt.step()
    model.eval(); n = c = 0
    with torch.no_grad():
        for i in range(0, len(val.y), val.bs):
            xb = plain(val.after_batch(TensorImage(val.x[i:i + val.bs]))); yb = val.y[i:i + val.bs]
            p = model(xb); c += (p.argmax(1) == yb).sum().item(); n += len(yb)
    t_plain = time.perf_counter() - t0
    print(f'\nOne epoch, paper_b/relu, {images} images (train + test pass): fastai {t_fastai:.2f} s, plain PyTorch loop {t_plain:.2f} s, '
          f'ratio {t_fastai/t_plain:.2f}x')

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--steps', type=int, default=20); p.add_argument('--images', type=int, default=5000)
    p.add_argument('--data', default=os.environ.get('ACTIVATIONS_REPRO_DATA', '../shared/data')); args = p.parse_args()
    os.environ['ACTIVATIONS_REPRO_DATA'] = args.data; warnings.filterwarnings('ignore')
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, cpu')
    activation_ratios(args.steps); fastai_vs_plain(args.images)
