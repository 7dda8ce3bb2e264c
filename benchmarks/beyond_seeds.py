"""Notebook 09's methods over seeds: every row's dev accuracy for seeds 0, 1, 2 at the notebook's budget.

Each seed trains every method of ``tinybert_lab.beyond`` (the rows notebook 09 shows) with that
seed's batch order, dropout and random starts; rows of seed 0 are the notebook's own. Each
finished (method, seed) is appended to ``benchmarks/results/beyond_seeds.json`` (committed:
notebook 09 plots it), so a rerun skips what is there. Then it prints every row's mean ± std and
its paired difference from its own labels-only baseline, with a verdict.

    .venv/bin/python benchmarks/beyond_seeds.py                 # 3 seeds, full mode (about 20 min per seed)
    .venv/bin/python benchmarks/beyond_seeds.py --report        # print the table from the record
"""

import argparse
import time
from pathlib import Path

import torch

from tinybert_lab import beyond, evaluation
from tinybert_lab.core.records import RunRecord, invoked_command
from tinybert_lab.core.settings import FULL_PLAN


def ints(text):
    return [int(x) for x in text.split(",")]


def row_key(run):
    return run["method"], run["row"], run["seed"], run["steps"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=ints, default=[0, 1, 2])
    parser.add_argument("--methods", default=",".join(beyond.METHODS))
    parser.add_argument("--record", type=Path, default=beyond.SEED_RECORD)
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 when another heavy job runs)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    record = RunRecord(args.record, key=row_key, command=invoked_command())
    steps = FULL_PLAN.beyond_steps
    for seed in [] if args.report else args.seeds:
        todo = [m for m in args.methods.split(",") if not record.where(method=m, seed=seed, steps=steps)]
        if not todo:
            continue
        setup = beyond.setup(FULL_PLAN, seed=seed, progress=False)
        record.meta["teacher_accuracy"] = evaluation.evaluate(setup.teacher, setup.dev, setup.tokenizer).accuracy
        record.meta["eval_size"] = len(setup.dev)
        for method in todo:
            started = time.perf_counter()
            already_trained = (setup.folder / method / "rows.json").is_file()  # e.g. by notebook 09 (seed 0)
            beyond.run(method, setup)  # loads instead of training when already trained
            seconds = None if already_trained else round(time.perf_counter() - started, 1)
            for row, accuracy in beyond.accuracies(method, setup).items():
                record.add({"method": method, "row": row, "seed": seed, "steps": steps, "accuracy": round(accuracy, 6),
                            "seconds": seconds})
                took = "loaded, trained earlier" if seconds is None else f"{seconds:.0f} s"
                print(f"  seed {seed} {row}: {accuracy:.2%} ({method}: {took})", flush=True)
    print(f"record: {args.record}; machine: {record.meta['machine']}; teacher {record.meta.get('teacher_accuracy')}")
    print("| method | row | mean ± std (seeds) | vs its labels-only baseline (paired) | verdict |")
    print("|---|---|---|---|---|")
    for r in beyond.seeded_rows(record.runs, steps=steps):
        diff = f"{100 * r.difference:+.1f} ± {100 * r.difference_std:.1f} vs {r.baseline}" if r.difference is not None else ""
        print(f"| {r.method} | {r.row} | {100 * r.mean:.2f} ± {100 * r.std:.2f} ({len(r.seeds)}) | {diff} | {r.verdict or ''} |")


if __name__ == "__main__":
    main()
