"""The tutorial's computing time per notebook, in seconds and reference steps, as a committed record.

Runs every notebook headlessly (``tinybert_lab.teaching.tutorial.run_all``, the runner behind
``bash scripts/tutorial.sh``) in the mode the environment sets (the workshop's ``live`` mode by
default; ``TINYBERT_LAB_FULL_SIZE=1``: full size; ``TINYBERT_LAB_FAST=1``: fast) and appends the
run to ``benchmarks/results/tutorial_times.json``: the reference step measured first in the same
process, each notebook's seconds and peak memory, and every cell over 20 s with its ``wait:`` tag.
The doctor's estimate, each long cell's announcement (``tutorial.expect``) and the workshop
guide's table are read from this record. Measure with the teachers cached (``python -m
tinybert_lab.doctor --prepare``) and the tutorial's students not yet trained (their folder
``<cache>/tutorial/<mode>`` removed), on a quiet machine.

    .venv/bin/python benchmarks/tutorial_times.py                    # run and record (minutes)
    .venv/bin/python benchmarks/tutorial_times.py --report           # the tables from the record
"""

import argparse
import os
import shlex
import sys
from pathlib import Path

from tinybert_lab.core.records import RunRecord
from tinybert_lab.core.settings import OUT_ENV, out_dir
from tinybert_lab.teaching import tutorial


def report(runs) -> str:
    """The latest run of each mode, as ``run_times.md`` shows it, newest mode first."""
    latest = {}
    for run in runs:
        latest[run["mode"]] = run
    parts = []
    for mode in ("live", "full", "fast"):
        if mode in latest:
            run = latest[mode]
            table = tutorial.times_table(run).split("\n", 2)[2]  # without the title line
            parts.append(f"**{mode} mode**, {run['date']}, commit {run['commit']}:\n\n{table.strip()}")
    return "\n\n".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="store_true", help="print the tables from the record, run nothing")
    parser.add_argument("--record", type=Path, default=tutorial.TIMES_RECORD)
    parser.add_argument("--out", type=Path, default=None, help="where the executed notebooks go (default: outputs/)")
    args = parser.parse_args()
    command = " ".join(["python", *map(shlex.quote, sys.argv)])
    record = RunRecord(args.record, key=lambda r: (r["mode"], r["date"]), command=command)
    if args.report:
        print(report(record.runs))
        return
    out = (args.out or out_dir()).resolve()
    os.environ[OUT_ENV] = str(out)  # the kernels write their figures and tables there too
    run = tutorial.run_all(tutorial.notebook_paths(), out)
    record.add(run)
    print(report(record.runs))


if __name__ == "__main__":
    main()
