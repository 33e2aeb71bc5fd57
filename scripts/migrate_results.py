"""Migrate committed result files from schema 1 to schema 2 (the run identity of `configs.run_name`), without retraining.

Schema 2: `family`; config keys of the run's own family only (`budget_s` is now `time_limit_s`; defaults such as
`augment='paper_b'` for Paper B are stored as the default); `at_budget` is `at_time_limit` (None when no limit stopped
the run); `seconds` is `train_s`; `eval_class_counts` says how many evaluation images of each class the test metrics used
(recomputed from the data the run used: the whole CIFAR-10 test set, or its first `valid_limit` images in file order;
the tabular test split). Every file is renamed to the new name of its configuration. Idempotent.

    ACTIVATIONS_REPRO_DATA=../shared/data python scripts/migrate_results.py results
"""
import json, sys
from pathlib import Path
import torch
from activations_repro.configs import check_config, run_name, defaults, family
from activations_repro.results import SCHEMA
from activations_repro.files import write_json_atomic

_counts = {}
def eval_counts(cfg):
    "How many evaluation images (or points) of each class the run's test metrics used."
    fam = family(cfg)
    if fam == 'kaftron': return None
    if fam == 'kaf':
        from activations_repro.data import load_tabular
        if cfg['dataset'] == 'housing': return None
        if cfg['dataset'] not in _counts: _counts[cfg['dataset']] = load_tabular(cfg['dataset'])['y_test']
        y = _counts[cfg['dataset']]; return {str(i): int(n) for i, n in enumerate(torch.bincount(y).tolist())}
    from activations_repro.data import load_images
    if cfg['dataset'] not in _counts: _counts[cfg['dataset']] = load_images(cfg['dataset'])
    d = _counts[cfg['dataset']]; y = d['y_test'][:cfg['valid_limit']] if cfg.get('valid_limit') else d['y_test']
    return {c: int(n) for c, n in zip(d['classes'], torch.bincount(y, minlength=len(d['classes'])).tolist())}

def migrate(rec:dict) -> dict:
    if rec.get('schema') == SCHEMA: return rec
    c = dict(rec['config'])
    if 'budget_s' in c: c['time_limit_s'] = c.pop('budget_s')
    keep = defaults(c); c = check_config({k: v for k, v in c.items() if k in keep})
    out = dict(rec, schema=SCHEMA, name=run_name(c), family=family(c), config=c)
    b = out.pop('at_budget', None)
    out['at_time_limit'] = {k: v for k, v in b.items() if k != 'stopped'} if b and b.get('stopped') else None
    if 'seconds' in out: out['train_s'] = out.pop('seconds')
    out.setdefault('trace', []); out['eval_class_counts'] = eval_counts(c)
    return out

if __name__ == '__main__':
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else 'results')
    for f in sorted(folder.glob('*.json')):
        rec = json.loads(f.read_text()); new = migrate(rec)
        if new is rec: continue
        dest = folder/f"{new['name']}.json"
        if dest != f and dest.exists(): sys.exit(f'{dest} exists already: two old files map to one configuration ({f.name})')
        write_json_atomic(new, dest)
        if dest != f: f.unlink()
        print(f'{f.name} -> {dest.name}')
