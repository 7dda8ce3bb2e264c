"""Notebook 12's recipe on a file, over seeds: what distillation did on that task, fairly compared.

For each seed, ``own_task.distil`` trains a TinyBERT-4 started from the fine-tuned teacher two ways
for the same steps on the same examples: by two-step distillation (notebook 06's chosen settings)
and on the labels alone. The seed changes the student's start (its projection sample) and the
batch order; the file's dev split and the teacher stay the same (the teacher is fine-tuned once and
cached). Each run's dev accuracy and macro-F1 are appended to the record; a rerun skips what is
there. The report gives mean ± std per student and the paired difference with its verdict.

    # notebook 12's example file (TREC questions, SentEval layout), its budget
    .venv/bin/python benchmarks/own_task.py --example --steps 80
    # a real public file as a learner has it: GLUE's SST-2 train.tsv (header: sentence, label)
    .venv/bin/python benchmarks/own_task.py --file ../shared/data/sst2/train.tsv --text-column sentence \\
        --label-column label --dev-fraction 0.05 --steps 300
    .venv/bin/python benchmarks/own_task.py --report
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tinybert_lab import own_task, tutorial
from tinybert_lab.core.comparison import verdict
from tinybert_lab.core.records import RunRecord, invoked_command

RECORD = Path(__file__).parent / "results" / "own_task.json"
STUDENTS = ("distilled", "labels only")


def run_key(run):
    return run["task"], run["steps"], run["student"], run["seed"]


def load(args):
    if args.example:
        path = own_task.write_example(Path(tempfile.mkdtemp()) / "example.tsv", size=args.example_size)
        columns = dict(text_column=1, label_column=0, header=False)
        name = f"notebook 12's example ({args.example_size} TREC questions, label<TAB>question)"
    else:
        columns = {"text_column": args.text_column, "label_column": args.label_column}
        if args.no_header:
            columns = {k: int(v) for k, v in columns.items()} | {"header": False}
        path, name = Path(args.file), Path(args.file).name
    return name, own_task.load_task(path, dev_fraction=args.dev_fraction, **columns)


def run(args, record):
    name, task = load(args)
    print(task, flush=True)
    reference = tutorial.reference_step_seconds()
    print(f"reference: one teacher training step (32 sentences x 32 tokens) takes {reference:.2f} s here", flush=True)
    started = time.perf_counter()
    teacher = own_task.fine_tune_teacher(task, steps=args.steps, progress=False).model
    teacher_result = own_task.evaluate(task, teacher)
    print(f"teacher: {teacher_result.accuracy:.1%} ({time.perf_counter() - started:.0f} s)", flush=True)
    for seed in args.seeds:
        if all(record.has({"task": name, "steps": args.steps, "student": s, "seed": seed}) for s in STUDENTS):
            continue
        started = time.perf_counter()
        runs = own_task.distil(task, teacher, steps=args.steps, seed=seed, progress=False)
        seconds = round(time.perf_counter() - started, 1)
        for student in STUDENTS:
            result = own_task.evaluate(task, runs[student])
            record.add({"task": name, "steps": args.steps, "student": student, "seed": seed,
                        "accuracy": result.accuracy, "macro_f1": result.macro_f1, "dev_size": len(task.dev),
                        "train_size": len(task.train), "classes": len(task.label_names), "max_length": task.max_length,
                        "teacher_accuracy": teacher_result.accuracy, "teacher_macro_f1": teacher_result.macro_f1,
                        "seconds_both_students": seconds, "reference_step_seconds": round(reference, 2)})
            print(f"seed {seed} {student}: {result.accuracy:.1%}, macro-F1 {result.macro_f1:.3f}", flush=True)


def mean_std(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def report(runs) -> str:
    """The table (markdown) of the record's runs: what --report prints and the README shows."""
    lines = ["| task | steps | teacher | student | dev accuracy, mean ± std (seeds) | macro-F1 |", "|---|---|---|---|---|---|"]
    notes = []
    for task, steps in dict.fromkeys((r["task"], r["steps"]) for r in runs):
        by_student = {s: sorted((r for r in runs if (r["task"], r["steps"], r["student"]) == (task, steps, s)),
                                key=lambda r: r["seed"]) for s in STUDENTS}
        first = next(iter(by_student.values()))[0]
        for student, rows in by_student.items():
            accuracy, spread = mean_std([100 * r["accuracy"] for r in rows])
            f1, f1_spread = mean_std([r["macro_f1"] for r in rows])
            lines.append(f"| {task} ({first['train_size']} train / {first['dev_size']} dev, {first['classes']} classes) | "
                         f"{steps} | {100 * first['teacher_accuracy']:.1f} % | {student} | "
                         f"{accuracy:.2f} ± {spread:.2f} % ({len(rows)}) | {f1:.3f} ± {f1_spread:.3f} |")
        seeds = {r["seed"]: r for r in by_student["labels only"]}
        diffs = [100 * (r["accuracy"] - seeds[r["seed"]]["accuracy"]) for r in by_student["distilled"] if r["seed"] in seeds]
        if diffs:
            mean, std = mean_std(diffs)
            notes.append(f"- {task}, {steps} steps: distilled − labels only (same start, paired by seed): "
                         f"{mean:+.1f} ± {std:.1f} points over {len(diffs)} seeds: {verdict(mean, std, len(diffs))}")
    return "\n".join(lines + [""] + notes)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--example", action="store_true", help="notebook 12's example file")
    where.add_argument("--file", help="a TSV/CSV/JSONL file the loader reads")
    parser.add_argument("--example-size", type=int, default=1_000)
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--no-header", action="store_true", help="columns are positions (0, 1, ...)")
    parser.add_argument("--dev-fraction", type=float, default=0.2)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--report", action="store_true", help="print the tables from the record and stop")
    args = parser.parse_args()
    record = RunRecord(RECORD, key=run_key, command=invoked_command())
    if not args.report:
        if not (args.example or args.file):
            parser.error("give --example or --file PATH (or --report)")
        run(args, record)
    print(report(record.runs))


if __name__ == "__main__":
    main()
