"""When distillation pays: accuracy vs number of gold labels, three label sources, two starts, seeds.

For each task, number of gold labels, seed, start (random weights / teacher-projected) and label
source (gold only / teacher's hard pseudo-labels + gold / teacher's soft targets + gold), the
TinyBERT-4 student is trained for the same steps with the same batch size and learning rate,
then scored on the task's evaluation split (SST-2 dev, TREC 10). See ``tinybert_lab.label_sources``.

Every finished run is appended to ``benchmarks/results/when_kd_pays.json`` (committed: notebook
10 plots it); a rerun skips the runs already there, so a sweep longer than a session continues
where it stopped. Then it prints, from the record, the table of mean ± std over seeds and the
targets: soft targets vs gold only at 500 gold labels (≥ 5 points from both starts), soft vs hard
(paired over seeds, with a verdict), and TREC's KD vs labels.

    .venv/bin/python benchmarks/when_kd_pays.py                          # the whole sweep (hours)
    .venv/bin/python benchmarks/when_kd_pays.py --task trec --n-gold 300  # one slice
    .venv/bin/python benchmarks/when_kd_pays.py --report                  # print the tables only
"""

import argparse
import time
from dataclasses import asdict
from pathlib import Path

import torch

from tinybert_lab import label_sources as ls
from tinybert_lab.core.comparison import binomial_halfwidth, paired_difference, verdict
from tinybert_lab.core.records import invoked_command
from tinybert_lab.core.errors import TinyBertLabError

RECORD = Path(__file__).resolve().parent / "results" / "when_kd_pays.json"
DEFAULT_N_GOLD = {"sst2": [500, 100, 20000, 2000], "trec": [300, 5452]}  # run order: the target point first


def ints(text):
    return [int(x) for x in text.split(",")]


def specs_for(task, n_golds, seeds, starts, sources, steps, temperature):
    return [ls.RunSpec(task, start, source, n_gold=n, seed=seed, steps=steps, temperature=temperature)
            for n in n_golds for seed in seeds for start in starts for source in sources]


def report(runs, steps=600, temperature=1.0) -> str:
    out = []
    """The tables (markdown) of the record's runs: what --report prints and the README shows."""
    cells = ls.summarise(runs, steps=steps, temperature=temperature)
    by = {(c.task, c.start, c.source, c.n_gold): c for c in cells}
    for task in sorted({c.task for c in cells}):
        teacher = [r["teacher_accuracy"] for r in runs if r["task"] == task and "teacher_accuracy" in r]
        eval_size = max((r.get("eval_size", 0) for r in runs if r["task"] == task), default=0)
        noise = f"; dev noise (95 % binomial) ±{100 * binomial_halfwidth(teacher[0], eval_size):.1f} points" if teacher and eval_size else ""
        out.append(f"\n**{task}**: {steps} steps, T={temperature:g}, teacher {100 * teacher[0]:.2f} %{noise}\n"
                   if teacher else f"\n**{task}**\n")
        out.append("| start | gold labels | " + " | ".join(ls.SOURCE_NAMES[s] for s in ls.SOURCES) + " | soft − gold | soft − hard |")
        out.append("|---" * 7 + "|")
        for start in ls.STARTS:
            for n in sorted({c.n_gold for c in cells if c.task == task and c.start == start}):
                row = [by.get((task, start, s, n)) for s in ls.SOURCES]
                text = [f"{100 * c.mean:.2f} ± {100 * c.std:.2f} ({len(c.seeds)})" if c else "" for c in row]
                diffs = []
                for a, b in ((row[2], row[0]), (row[2], row[1])):
                    if a and b:
                        mean, std, count = paired_difference(a, b)
                        diffs.append(f"{100 * mean:+.1f} ± {100 * std:.1f}: {verdict(mean, std, count)}")
                    else:
                        diffs.append("")
                out.append(f"| {ls.START_NAMES[start]} | {n} | " + " | ".join(text + diffs) + " |")
    target = [(start, by.get(("sst2", start, "soft", 500)), by.get(("sst2", start, "gold", 500))) for start in ls.STARTS]
    lines = [f"{ls.START_NAMES[s]}: soft − gold = {100 * (a.mean - b.mean):+.1f} points ({'met' if a.mean - b.mean >= 0.05 else 'missed'})"
             for s, a, b in target if a and b]
    if lines:
        out.append("\nTarget, SST-2 at 500 gold labels, soft targets beat gold only by >= 5 points (mean of seeds):\n")
        out.append("\n".join("- " + line for line in lines))
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=["sst2", "trec", "both"], default="both")
    parser.add_argument("--n-gold", type=ints, default=None, help="numbers of gold labels (default per task)")
    parser.add_argument("--seeds", type=ints, default=[0, 1, 2])
    parser.add_argument("--starts", default="teacher,random")
    parser.add_argument("--sources", default="gold,hard,soft")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--record", type=Path, default=RECORD)
    parser.add_argument("--report", action="store_true", help="print the tables from the record, train nothing")
    args = parser.parse_args()
    torch.set_num_threads(2)
    record = ls.RunRecord(args.record, command=invoked_command())
    starts, sources = args.starts.split(","), args.sources.split(",")
    if not args.report:
        tasks = ["sst2", "trec"] if args.task == "both" else [args.task]
        for task in tasks:
            specs = specs_for(task, args.n_gold or DEFAULT_N_GOLD[task], args.seeds, starts, sources,
                              args.steps, args.temperature)
            todo = [s for s in specs if not record.has(asdict(s))]
            print(f"{task}: {len(specs)} runs, {len(todo)} to train", flush=True)
            if not todo:
                continue
            started = time.perf_counter()
            setup = ls.make_setup(task, progress=False)
            print(f"{task}: teacher {setup.teacher_accuracy:.2%} on {len(setup.eval_data)} evaluation examples; "
                  f"transfer set {len(setup.encoded)}; setup {time.perf_counter() - started:.0f} s", flush=True)
            ls.run_grid(setup, specs, record, log=lambda line: print(line, flush=True))
    if not record.runs:
        raise TinyBertLabError(f"The record {args.record} has no runs yet.")
    print(f"\nrecord: {args.record} ({len(record.runs)} runs); machine: {record.meta.get('machine')}")
    print(report(record.runs, args.steps, args.temperature))


if __name__ == "__main__":
    main()
