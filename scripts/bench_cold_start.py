"""A short job's cost as a user sees it: a fresh `ar-run` process per activation, one 30-step epoch, ms per step.

Each run is the project's own command (`ar-run --epochs 1 --limit 3000`, Paper B, one thread), started in a new process, so
its first steps pay whatever a first call costs (imports, kernels loaded from the cache, the autograd engine's start, the
switch to evaluation); the record's `ms_per_step` is what the run reports. The activations run in interleaved rounds in a
shuffled order; the medians and their ratio to ReLU's are printed and appended, with the CPU's model, to a committed result
file (default results/bench/cold_start.json). The one-time build of the C kernels and the C++ operator is not timed: a
first call before the rounds fills the cache. Needs the CIFAR-10 data (`ACTIVATIONS_REPRO_DATA`). Run it on a quiet
machine, twice, and compare the runs:

    python scripts/bench_cold_start.py [--acts relu,prelu,exponential,rational] [--rounds 5] [--net base]
"""
import argparse, json, os, random, statistics, subprocess, sys, tempfile, time
from pathlib import Path
from activations_repro.results import machine, append_runs

def one_run(act:str, net:str, out:Path) -> float:
    "ms per step that a fresh `ar-run` process records for one 30-step epoch of `act`."
    exe = Path(sys.executable).parent/'ar-run'
    cmd = [str(exe), '--act', act, '--net', net, '--epochs', '1', '--limit', '3000', '--out', str(out), '--quiet']
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'})
    if r.returncode: sys.exit(f'{" ".join(cmd)} failed: {r.stderr.strip()[-500:]}')
    rec = json.loads(next(out.glob('*.json')).read_text())
    return rec['ms_per_step']

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--acts', default='relu,prelu,exponential,rational')
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--net', default='base', help="Paper B's network variant")
    p.add_argument('--out', default='results/bench/cold_start.json', help='result file the run is appended to ("" for none)')
    args = p.parse_args()
    acts = args.acts.split(',')
    with tempfile.TemporaryDirectory() as tmp:
        one_run('exponential', args.net, Path(tempfile.mkdtemp(dir=tmp)))          # fills the kernels' cache: not timed
        times = {a: [] for a in acts}
        for r in range(args.rounds):
            order = acts[:]; random.Random(r).shuffle(order)
            for a in order: times[a].append(one_run(a, args.net, Path(tempfile.mkdtemp(dir=tmp))))
    med = {a: statistics.median(v) for a, v in times.items()}
    run = dict(machine(), date=time.strftime('%Y-%m-%d %H:%M'), net=args.net, rounds=args.rounds, steps=30, threads=1,
               ms_per_step=med, each=times)
    print(f"{run['cpu']}; Paper B `{args.net}`, a fresh ar-run process per run, 30 steps (--limit 3000), 1 thread; "
          f"medians of {args.rounds} interleaved rounds")
    print(f"{'':14s}{'ms/step':>9s}{'÷ ReLU':>8s}   each round")
    for a in acts: print(f"{a:14s}{med[a]:9.1f}{med[a]/med['relu']:8.2f}   {' '.join(f'{t:.1f}' for t in times[a])}")
    if args.out:
        print(f'appended to {args.out} ({append_runs(args.out, [run], __doc__.splitlines()[0])} runs)')

if __name__ == '__main__': main()
