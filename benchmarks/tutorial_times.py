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
    .venv/bin/python benchmarks/tutorial_times.py --first-run        # a learner's first run (below)
    .venv/bin/python benchmarks/tutorial_times.py --report           # the tables from the record

``--first-run`` measures what a laptop without ``--prepare`` goes through: an empty scratch
cache (only notebook 13's language-model teacher copied in, which counts separately), so the
notebooks fine-tune the classifier teachers and build their logits as they go. Such runs are
marked ``"teachers": "trained in the run"`` and never feed the per-cell estimates.
"""

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from tinybert_lab.core.errors import TinyBertLabError
from tinybert_lab.core.records import RunRecord, invoked_command
from tinybert_lab.core.settings import CACHE_ENV, OUT_ENV, cache_dir, out_dir
from tinybert_lab.teaching import tutorial


FIRST_RUN = "trained in the run"
FIRST_RUN_BUDGET = 3_000  # reference steps: 30 minutes where a reference step takes 0.6 s


def report(runs) -> str:
    """The latest run of each mode with the teachers cached, as ``run_times.md`` shows it, and the
    latest first run (teachers trained in the run) of each mode in one line."""
    latest, first = {}, {}
    for run in runs:
        (first if run.get("teachers") == FIRST_RUN else latest)[run["mode"]] = run
    parts = []
    for mode in ("live", "full", "fast"):
        if mode in latest:
            run = latest[mode]
            table = tutorial.times_table(run).split("\n", 2)[2]  # without the title line
            parts.append(f"**{mode} mode**, teachers cached, {run['date']}, commit {run['commit']}:\n\n{table.strip()}")
        if mode in first:
            run = first[mode]
            seconds = sum(nb["seconds"] for nb in run["notebooks"])
            steps = seconds / run["reference_step_seconds"]
            parts.append(f"**{mode} mode, first run** (no `--prepare`: the classifier teachers and their logits "
                         f"trained in the run; notebook 13's teacher cached), {run['date']}, commit {run['commit']}: "
                         f"{seconds:,.0f} s, {steps:,.0f} reference steps of {run['reference_step_seconds']:.2f} s "
                         f"(budget {FIRST_RUN_BUDGET:,}: {'within' if steps <= FIRST_RUN_BUDGET else 'OVER'}).")
    return "\n\n".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="store_true", help="print the tables from the record, run nothing")
    parser.add_argument("--record", type=Path, default=tutorial.TIMES_RECORD)
    parser.add_argument("--out", type=Path, default=None, help="where the executed notebooks go (default: outputs/)")
    parser.add_argument("--first-run", action="store_true",
                        help="start from an empty scratch cache (notebook 13's teacher copied in): a learner's first run")
    args = parser.parse_args()
    command = invoked_command()
    record = RunRecord(args.record, key=lambda r: (r["mode"], r["date"]), command=command)
    if args.report:
        print(report(record.runs))
        return
    out = (args.out or out_dir()).resolve()
    os.environ[OUT_ENV] = str(out)  # the kernels write their figures and tables there too
    saved = tutorial.plan().artifacts
    if not args.first_run and any(saved.iterdir()):
        raise TinyBertLabError(f"{saved} holds students from an earlier run: the notebooks would load them instead of "
                               "training, and the times would be too short. Move that folder aside and run again.")
    scratch = None
    if args.first_run:
        scratch = Path(tempfile.mkdtemp(prefix="tinybert-first-run-"))
        if (cache_dir() / "lm_teachers").is_dir():
            shutil.copytree(cache_dir() / "lm_teachers", scratch / "lm_teachers")
        os.environ[CACHE_ENV] = str(scratch)
        print(f"first run: scratch cache {scratch} (only notebook 13's teacher copied in)", flush=True)
    run = tutorial.run_all(tutorial.notebook_paths(), out)
    run["teachers"] = FIRST_RUN if args.first_run else "cached"
    record.add(run)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
    print(report(record.runs))


if __name__ == "__main__":
    main()
