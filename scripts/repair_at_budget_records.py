"""One-off repair of result files written before the fix of 2026-11-28 to `train_run`'s evaluation at a wall-clock budget.

`Learner.validate` fires the epoch events, so `TrackRun` (which now ignores a pass without training steps) appended
a spurious epoch (no training steps; its `valid_loss` was the accuracy) and a repeated `a` entry to every run stopped
by its budget, and `final` came from that entry.
This drops exactly those two entries and recomputes `final` as `train_run` now does; `at_budget` (evaluated correctly)
and everything else are left alone. Idempotent: files without the spurious epoch are not touched.

    python scripts/repair_at_budget_records.py results/paper_a-*.json
"""
import json, sys
from pathlib import Path
from activations_repro.results import write_json_atomic
from activations_repro.train import final_metrics

def repair(rec:dict) -> bool:
    "Drop the spurious last epoch of a budget-stopped record in place; True if anything changed."
    eps = rec['epochs']
    if not (rec.get('at_budget') or {}).get('stopped') or not eps or eps[-1]['steps'] != 0: return False
    assert len(rec['a']) == len(eps) + 1, rec['name']
    rec['epochs'], rec['a'] = eps[:-1], rec['a'][:-1]
    rec['final'] = final_metrics(rec['epochs'])
    return True

if __name__ == '__main__':
    for p in map(Path, sys.argv[1:]):
        rec = json.loads(p.read_text())
        if repair(rec): write_json_atomic(rec, p); print('repaired', p.name)
        else: print('unchanged', p.name)
