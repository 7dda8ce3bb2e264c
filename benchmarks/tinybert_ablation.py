"""TinyBERT's ablation at full strength (``tinybert_lab.studies.ablation``), resumable across sessions.

Six rows (full recipe; without augmentation; without the intermediate stage; without the
teacher-projected start; labels only from the teacher start; labels only from random weights),
seeds 0, 1, 2, every row the same TinyBERT-4 for the same steps: ``--passes`` over the transfer set
(all 67,349 SST-2 training phrases plus ``--copies`` augmented copies each), taught by the strong
teacher (``benchmarks/strong_teacher.py`` builds it first). Before training it measures each kind
of step here and prints the estimated time of what is left, with the reference step measured in
the same process. Runs go seed by seed (all rows of seed 0 first, so paired differences appear
early); each finished run is appended to ``benchmarks/results/tinybert_ablation.json`` (commit it
as it grows) and a rerun skips what is there; a run in progress checkpoints every 250 steps
under the cache and resumes.

    .venv/bin/python benchmarks/tinybert_ablation.py                 # the sweep (hours: see the estimate)
    .venv/bin/python benchmarks/tinybert_ablation.py --estimate      # measure, print the plan, train nothing
    .venv/bin/python benchmarks/tinybert_ablation.py --report        # the tables from the record
    TINYBERT_LAB_CACHE=/tmp/smoke .venv/bin/python benchmarks/tinybert_ablation.py --train-size 200 \\
        --record /tmp/smoke.json --seeds 0                           # a smoke test (needs the strong teacher)
"""

import argparse
import time
from pathlib import Path

import torch

from tinybert_lab import tutorial
from tinybert_lab.core.records import RunRecord, invoked_command, refuse_smoke_run_into
from tinybert_lab.studies import ablation

BUDGET_HOURS = 8.0


def ints(text):
    return tuple(int(x) for x in text.split(","))


def report(runs) -> str:
    """The tables (markdown) of the record's runs: what --report prints and the README shows."""
    return ablation.report(runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="store_true", help="print the tables from the record, train nothing")
    parser.add_argument("--estimate", action="store_true", help="measure step times, print the plan, train nothing")
    parser.add_argument("--copies", type=int, default=ablation.COPIES, help="augmented copies per phrase")
    parser.add_argument("--passes", type=int, default=ablation.PASSES, help="passes over the augmented transfer set")
    parser.add_argument("--seeds", type=ints, default=ablation.SEEDS)
    parser.add_argument("--rows", default=",".join(ablation.ROWS), help=f"any of {', '.join(ablation.ROWS)}")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 when another heavy job runs)")
    parser.add_argument("--record", type=Path, default=ablation.RECORD)
    parser.add_argument("--train-size", type=int, default=None, help="a smoke test: this many phrases only")
    args = parser.parse_args()
    rows = args.rows.split(",")
    unknown = set(rows) - set(ablation.ROWS)
    if unknown:
        parser.error(f"unknown row(s) {sorted(unknown)}; choose from {', '.join(ablation.ROWS)}")
    refuse_smoke_run_into(args.record, ablation.RECORD, smoke=args.train_size is not None)
    torch.set_num_threads(args.threads)
    command = invoked_command()
    record = RunRecord(args.record, key=ablation.run_key, command=command)
    if args.report:
        print(report(record.runs))
        return
    started = time.perf_counter()
    s = ablation.setup(args.copies, train_size=args.train_size)
    steps = ablation.steps_for(len(s.transfer), args.passes)
    reference = tutorial.reference_step_seconds()
    print(f"setup {time.perf_counter() - started:.0f} s: teacher {s.teacher_name} {s.teacher_accuracy:.2%} on dev; "
          f"{len(s.train):,} real phrases, transfer set {len(s.transfer):,} with {args.copies} augmented "
          f"cop{'y' if args.copies == 1 else 'ies'} each (duplicates dropped); {args.passes} passes = {steps:,} steps "
          f"of {ablation.BATCH_SIZE} for every row", flush=True)

    def identity(name, seed):
        return {"row": name, "seed": seed, "steps": steps, "copies": args.copies, "teacher": s.teacher_name}

    todo = [(name, seed) for seed in args.seeds for name in rows if not record.has(identity(name, seed))]
    per_step = ablation.step_seconds(s)
    total = sum(ablation.estimate_seconds(name, steps, per_step) for name, _ in todo)
    everything = len(args.seeds) * sum(ablation.estimate_seconds(name, steps, per_step) for name in rows)
    print(f"seconds per step with {torch.get_num_threads()} thread(s): "
          + ", ".join(f"{kind} {value:.3f}" for kind, value in per_step.items())
          + f"; reference step {reference:.2f} s (same process)")
    print(f"estimate: the whole sweep {everything / 3600:.1f} h (budget {BUDGET_HOURS:.0f} h: "
          f"{'fits' if everything <= BUDGET_HOURS * 3600 else 'OVER, lower --copies or --passes'}); "
          f"{len(todo)} runs left, {total / 3600:.1f} h", flush=True)
    if args.estimate:
        return
    for name, seed in todo:
        print(f"  {name} seed {seed}: about {ablation.estimate_seconds(name, steps, per_step) / 60:.0f} min ...",
              flush=True)
        result = ablation.train_row(s, name, seed, steps)
        run = record.add({**identity(name, seed), **result, "passes": args.passes,
                          "teacher_accuracy": round(s.teacher_accuracy, 6), "threads": torch.get_num_threads(),
                          "reference_step_seconds": round(reference, 3)})
        print(f"  {name} seed {seed}: dev {run['dev_accuracy']:.2%} ({run['seconds'] / 60:.1f} min)", flush=True)
    print(ablation.report(record.runs, s.teacher_accuracy))


if __name__ == "__main__":
    main()
