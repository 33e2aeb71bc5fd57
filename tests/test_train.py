"Training, result files, resuming, budgets, grids and the CLI, on a small fake CIFAR."
import json, subprocess, sys, tempfile
from pathlib import Path
import pytest, torch
from activations_repro.train import train_run, make_learner, num_threads
from activations_repro.models import load_trained
from activations_repro.configs import check_config, grid_configs, run_name
from activations_repro.experiments import run_grid, shard
from activations_repro.results import read_results, runs_frame, SCHEMA

def test_result_file_schema(fake_cifar):
    r = train_run(dict(act='prelu', epochs=2, bs=20), fake_cifar/'res', ckpt_dir=fake_cifar/'ck')
    saved = json.loads((fake_cifar/'res'/f"{r['name']}.json").read_text())
    for k in ('config', 'versions', 'device', 'data_variant', 'epochs', 'a', 'ms_per_step', 'final', 'seed' if False else 'name'):
        assert k in saved
    assert saved['config']['seed'] == 0 and saved['versions']['torch'] == torch.__version__
    assert [len(v) for v in saved['a'][0].values()] == [1, 1, 1] and saved['a'][0]['act1'] == [0.25]

def test_same_seed_same_numbers_on_cpu(fake_cifar):
    a = train_run(dict(act='exponential', epochs=2, bs=20, seed=3), fake_cifar/'r1', ckpt_dir=fake_cifar/'c1')
    b = train_run(dict(act='exponential', epochs=2, bs=20, seed=3), fake_cifar/'r2', ckpt_dir=fake_cifar/'c2')
    c = train_run(dict(act='exponential', epochs=2, bs=20, seed=4), fake_cifar/'r3', ckpt_dir=fake_cifar/'c3')
    key = lambda r: [(e['train_loss'], e['valid_loss']) for e in r['epochs']]
    assert key(a) == key(b) and a['a'] == b['a'] and key(a) != key(c)

def test_per_channel_paper_a_records_vectors(fake_cifar):
    r = train_run(dict(model='paper_a', act='exponential', epochs=1, bs=20, epoch_size=40), fake_cifar/'res', ckpt_dir=fake_cifar/'ck')
    assert len(r['a'][-1]['act5']) == 128 and len(r['a'][-1]['act_fc1']) == 256 and r['epochs'][0]['steps'] == 2

def test_validate_adds_no_epoch_and_no_checkpoint(fake_cifar):
    from fastai.callback.progress import ProgressCallback
    ck = fake_cifar/'ck'/'v.pth'
    learn = make_learner(dict(act='exponential', epochs=1, bs=20), ckpt=ck); learn.remove_cb(ProgressCallback)
    with learn.no_logging(): learn.fit(1, 1e-3)
    h, saved = learn.hist, ck.stat().st_mtime_ns
    with learn.no_logging(): learn.validate()                   # fastai fires before/after_epoch here too
    assert len(h['epochs']) == 1 and len(h['a']) == 2 and ck.stat().st_mtime_ns == saved

def test_grid_shards_partition_the_grid():
    cfgs = grid_configs('paper_b_cifar10', 'reduced')
    parts = [shard(cfgs, f'{i}/3') for i in range(3)]
    assert sorted(run_name(c) for p in parts for c in p) == sorted(run_name(c) for c in cfgs)

def test_grid_two_workers(fake_cifar):
    recs = run_grid('paper_b_cifar10', 'tiny', fake_cifar/'res', shard_spec='0/2', workers=2, ckpt_dir=fake_cifar/'ck', progress=False)
    assert sorted(r['config']['act'] for r in recs) == ['exponential', 'prelu', 'relu']
    assert len(runs_frame(read_results(fake_cifar/'res'))) == 3

def test_bad_config_errors():
    with pytest.raises(ValueError, match='unknown act'): check_config(dict(act='tanhh'))
    with pytest.raises(ValueError, match='valid names: cifar10, cifar100'): check_config(dict(dataset='mnist'))
    with pytest.raises(ValueError, match='unknown config keys'): check_config(dict(epoch=3))

def test_cli_run(fake_cifar):
    exe = Path(sys.executable).parent/'ar-run'
    r = subprocess.run([exe, '--act', 'rational', '--epochs', '1', '--limit', '60', '--bs', '20', '--out', str(fake_cifar/'cli'), '--quiet'],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(read_results(fake_cifar/'cli', act='rational')) == 1

def test_run_name_holds_every_result_key(fake_cifar):
    "Configurations that differ in bs, lr, eval subset or augmentation never share a result file or a checkpoint."
    base = dict(act='relu', epochs=1, bs=20)
    names = {run_name(dict(base, **kw)) for kw in ({}, dict(bs=40), dict(lr=0.01), dict(eval_size=100), dict(augment='paper_a'), dict(limit=100))}
    assert len(names) == 6
    assert run_name(dict(base, threads=2)) == run_name(base)                 # speed, not numbers

def test_two_concurrent_grids_train_each_run_once(fake_cifar):
    "Two ar-grid processes on one results folder: both exit 0, every run is trained once, no temporary file is left."
    exe = Path(sys.executable).parent/'ar-grid'; out = fake_cifar/'shared'
    ps = [subprocess.Popen([exe, '--grid', 'paper_b_cifar10', '--budget', 'tiny', '--out', str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in ps]
    assert [p.returncode for p in ps] == [0, 0], outs
    recs = read_results(out); assert sorted(r['config']['act'] for r in recs) == sorted(['relu', 'elu', 'prelu', 'rational', 'exponential'])
    started = [r['started'] for r in recs]; assert len(started) == 5
    assert not list(out.rglob(".*tmp*")) and not (out/"locks").exists()          # no lock and no empty folder left

def test_weights_load_and_mismatch_is_refused(fake_cifar):
    import torch
    r = train_run(dict(act='exponential', epochs=1, bs=20), fake_cifar/'res')
    net, rec = load_trained(r['name'], fake_cifar/'res')
    assert rec['name'] == r['name'] and torch.equal(net.act1.a.detach(), torch.tensor(r['a'][-1]['act1']))
    other = train_run(dict(act='exponential', epochs=1, bs=20, seed=1), fake_cifar/'res')
    w = fake_cifar/'res'/'weights'
    (w/f"{r['name']}.pt").write_bytes((w/f"{other['name']}.pt").read_bytes())
    with pytest.raises(ValueError, match='does not match'): load_trained(r['name'], fake_cifar/'res')

def test_foreign_files_are_skipped_with_a_warning(fake_cifar):
    train_run(dict(act='relu', epochs=1, bs=20), fake_cifar/'res')
    (fake_cifar/'res'/'notes.json').write_text('{"hello": 1}'); (fake_cifar/'res'/'broken.json').write_text('{')
    with pytest.warns(UserWarning, match='broken.json'): recs = run_grid('paper_b_cifar10', 'tiny', fake_cifar/'res', progress=False)
    assert len(recs) == 5

def test_every_committed_result_file_has_the_schema():
    "Every file in results/ is a schema-2 record named by its configuration."
    files = sorted((Path(__file__).parents[1]/'results').glob('*.json'))
    assert files
    for f in files:
        r = json.loads(f.read_text())
        assert r['schema'] == SCHEMA and r['name'] == f.stem == run_name(r['config']), f.name
        assert {'family', 'versions', 'device', 'data_variant', 'final', 'steps', 'train_s', 'eval_class_counts'} <= set(r), f.name

def _same_statistics(r, ref, tag):
    """Records that agree in what survives rounding: each epoch's losses to 1e-4 (relative), accuracies to two test images,
    each layer's mean learned `a` to 1e-4 and 90% of its channels to 5e-4. Measured on one machine (chapter 13, `golden_runs.json`),
    rounding perturbations of the same runs (two threads instead of one, the tensor-operation kernels instead of C) moved
    losses by at most 9e-6 (relative), accuracies by one image, layer means by 5e-6 and 90% of the channels by 4e-5:
    the tolerances are 10-20 times those, and far below what a changed result moves (a changed seed: losses by 1e-3)."""
    import numpy as np
    one = 1/sum(r['eval_class_counts'].values()); assert len(r['epochs']) == len(ref['epochs']), tag
    for e, ge in zip(r['epochs'], ref['epochs']):
        for k in ('train_loss', 'valid_loss'): assert e[k] == pytest.approx(ge[k], rel=1e-4), (tag, k)
        for k in ('train_acc', 'valid_acc'): assert abs(e[k] - ge[k]) <= 2*one + 1e-6, (tag, k)
    ga = ref['a'] if isinstance(ref['a'], dict) else ref['a'][-1]
    for l, v in ga.items():
        d = np.abs(np.array(r['a'][-1][l]) - np.array(v))
        assert abs(np.mean(r['a'][-1][l]) - np.mean(v)) <= 1e-4 and np.quantile(d, 0.9) <= 5e-4, (tag, l)

def test_one_step_is_the_same_on_both_kernels(fake_cifar, monkeypatch):
    "One training step from the same weights and batch: the C and the tensor-operation kernels give the same loss and gradients."
    from activations_repro import kernels as L
    def step():
        learn = make_learner(dict(act='rational', per_channel=True, epochs=1, bs=20, seed=2, threads=1))
        xb, yb = learn.dls.one_batch()
        loss = learn.loss_func(learn.model(xb.contiguous(memory_format=torch.channels_last)), yb); loss.backward()
        return loss.item(), {n: p.grad.clone() for n, p in learn.model.named_parameters()}
    (l1, g1), _ = step(), monkeypatch.setitem(L._KERNELS, 'c', None)
    l2, g2 = step()
    assert l1 == l2
    for n in g1:
        if n.endswith('.a'): torch.testing.assert_close(g1[n], g2[n], rtol=1e-5, atol=1e-7)   # the sums add in another order
        else: assert torch.equal(g1[n], g2[n]), n                                          # dL/dx is the same to the bit

def test_kernels_do_not_change_results(fake_cifar, monkeypatch):
    "The same seed trained with the C kernel and with the tensor-operation kernels gives the same record, in what survives rounding."
    from activations_repro import kernels as L
    cfg = dict(act='exponential', epochs=2, bs=20, seed=2)
    fast = train_run(cfg, fake_cifar/'fast')
    monkeypatch.setitem(L._KERNELS, 'c', None)
    _same_statistics(train_run(cfg, fake_cifar/'slow'), fast, 'tensor kernels')

def test_ray_engine_same_files_and_retries(fake_cifar, monkeypatch):
    "A tiny grid on a local Ray (2 CPUs) writes the same result files as the local engine; a trial whose worker is killed is retried."
    pytest.importorskip('ray')
    import ray
    run_grid('paper_b_cifar10', 'tiny', fake_cifar/'local', progress=False)
    (fake_cifar/'kill').mkdir(); monkeypatch.setenv('AR_RAY_KILL_ONCE', str(fake_cifar/'kill'))
    ray_stores = lambda: set(Path(tempfile.gettempdir()).glob('ar-ray-*'))
    try:
        before = ray_stores()
        recs = run_grid('paper_b_cifar10', 'tiny', fake_cifar/'ray', engine='ray')
        assert ray_stores() <= before                                    # Ray's own records of the trials are not left behind
        assert len(list((fake_cifar/'kill').iterdir())) == 5                 # every trial's first worker was killed
        local = {r['name']: r for r in read_results(fake_cifar/'local')}
        assert {r['name'] for r in recs} == set(local)
        for r in recs:
            for e1, e2 in zip(r['epochs'], local[r['name']]['epochs']):
                assert e1['valid_loss'] == pytest.approx(e2['valid_loss'], rel=1e-5), r['name']
        with pytest.raises(ValueError, match='cannot reach a Ray cluster'):
            ray.shutdown(); run_grid('paper_b_cifar10', 'tiny', fake_cifar/'ray2', engine='ray', address='127.0.0.1:1')
    finally: ray.shutdown()

def test_a_checkpoint_resumes_with_another_thread_count(fake_cifar):
    "A run checkpointed by a 1-thread worker resumes in a process with another thread count (another machine) to the same record."
    from fastai.callback.progress import ProgressCallback
    from fastai.callback.core import Callback
    class Kill(Callback):
        order = 99
        def after_epoch(self): raise KeyboardInterrupt
    cfg = dict(act='exponential', epochs=2, bs=20)
    ref = train_run(cfg, fake_cifar/'ref')
    ck = fake_cifar/'res'/'checkpoints'/f'{run_name(cfg)}.pth'
    learn = make_learner(dict(cfg, threads=1), ckpt=ck); learn.remove_cb(ProgressCallback)
    with pytest.raises(KeyboardInterrupt), learn.no_logging(): learn.fit(2, cbs=Kill())
    assert ck.exists()
    rec = train_run(cfg, fake_cifar/'res')
    assert [e['valid_loss'] for e in rec['epochs']] == [e['valid_loss'] for e in ref['epochs']]

def test_faster_path_keeps_the_results(fake_cifar):
    """Seeds recorded before the faster training path (plain-tensor augmentation, `RunLearner`) and the branch-free kernels
    still give the same records, on any CPU: compared in what survives rounding (`_same_statistics`)."""
    golden = json.loads((Path(__file__).parent/'fixtures'/'golden_runs.json').read_text())
    for i, g in enumerate(golden['runs']):
        r = train_run({**g['config'], 'threads': 1}, fake_cifar/f'r{i}', ckpt_dir=fake_cifar/f'c{i}')   # as recorded: one thread
        _same_statistics(r, g, r['name'])

def test_a_run_killed_inside_an_epoch_resumes_to_the_same_record(fake_cifar):
    "A checkpoint saved inside an epoch (Paper A's budget is one long epoch) resumes to the uninterrupted run's record, to the bit."
    from fastai.callback.progress import ProgressCallback
    from fastai.callback.core import Callback
    class Kill(Callback):
        order = 99
        def after_batch(self):
            if self.training and len(self.learn.hist['epochs']) == 1 and self.learn.epoch_steps == 4: raise KeyboardInterrupt
    cfg = dict(act='exponential', epochs=2, bs=20, threads=1)
    ref = train_run(cfg, fake_cifar/'ref')
    ck = fake_cifar/'res'/'checkpoints'/f'{run_name(cfg)}.pth'
    learn = make_learner(cfg, ckpt=ck); learn.remove_cb(ProgressCallback); learn.epoch_checkpoint.every_s = 0   # save after every step
    with pytest.raises(KeyboardInterrupt), learn.no_logging(), num_threads(cfg['threads']): learn.fit(2, cbs=Kill())   # as train_run does
    st = torch.load(ck, weights_only=False)
    assert len(st['hist']['epochs']) == 1 and st['within']['items'] == 80 and st['hist']['steps'] == 14
    rec = train_run(cfg, fake_cifar/'res')
    keys = ('train_loss', 'train_acc', 'valid_loss', 'valid_acc', 'steps')
    assert [[e[k] for k in keys] for e in rec['epochs']] == [[e[k] for k in keys] for e in ref['epochs']]
    assert rec['a'] == ref['a'] and [t['loss'] for t in rec['trace']] == [t['loss'] for t in ref['trace']] and not ck.exists()

def test_cpu_time_per_step_is_not_inflated_by_waiting(fake_cifar):
    "A step that waits (another process has the CPU, or the worker is paused) costs wall-clock ms but no CPU ms."
    import time
    from fastai.callback.core import Callback
    class Wait(Callback):
        def after_loss(self):
            if self.training: time.sleep(0.05)
    r = train_run(dict(act='relu', epochs=1, bs=20, threads=1), fake_cifar/'res', cbs=[Wait()])   # one thread: CPU time <= wall time
    e = r['epochs'][0]
    assert e['ms_per_step'] - e['cpu_ms_per_step'] > 40 and 0 < r['cpu_ms_per_step'] == pytest.approx(e['cpu_ms_per_step'])
