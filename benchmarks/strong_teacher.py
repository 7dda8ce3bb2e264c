"""The strong SST-2 teacher: its learning rate and epochs chosen on the validation slice, never dev.

Each candidate of ``strong_teacher.GRID`` fine-tunes the offline MiniLM on every SST-2 training
phrase except the 1,000 of the validation slice (``selection``'s, the one the studies choose
settings on) and the phrases sharing text with it (``data.without_overlap``), is cached by ``training.fine_tune_teacher`` (a checkpoint every 100 steps: a crash
resumes) and is scored on the validation slice and on dev. Each finished run is appended to
``benchmarks/results/strong_teacher.json`` with its command, machine, commit, date, steps,
seconds and the reference step measured in the same process, so a rerun skips what is there.
``strong_teacher.choose`` picks by validation accuracy only; dev is printed for the chosen one.

    .venv/bin/python benchmarks/strong_teacher.py             # the grid, about 70 minutes on 1 thread
    .venv/bin/python benchmarks/strong_teacher.py --report    # the table from the record, trains nothing
    TINYBERT_LAB_CACHE=/tmp/smoke .venv/bin/python benchmarks/strong_teacher.py --train-size 64 --record /tmp/smoke.json
"""

import argparse
import time
from pathlib import Path

import torch

from tinybert_lab import data, evaluation, models, strong_teacher, tutorial
from tinybert_lab.core.records import RunRecord, invoked_command, machine, refuse_smoke_run_into

TARGET = 0.90


def identity(option, train_size):
    return {"name": option.name, "learning_rate": option.learning_rate, "epochs": option.epochs,
            "steps": option.steps(train_size), "batch_size": strong_teacher.BATCH_SIZE, "seed": strong_teacher.SEED,
            "train_size": train_size, "split": strong_teacher.SPLIT}


def train_and_score(option, train, validation, dev, tokenizer, command):
    """Train (or load) one candidate and measure it; returns the run to record."""
    reference = tutorial.reference_step_seconds()
    started = time.perf_counter()
    result = strong_teacher.train_candidate(option, train_data=train, tokenizer=tokenizer, progress=False)
    call_seconds = time.perf_counter() - started
    return {**identity(option, len(train)),
            "validation_accuracy": round(evaluation.evaluate(result.model, validation, tokenizer).accuracy, 6),
            "dev_accuracy": round(evaluation.evaluate(result.model, dev, tokenizer).accuracy, 6),
            "seconds": round(result.history.seconds, 1), "call_seconds": round(call_seconds, 1),
            "from_cache": result.from_cache, "cache": result.path.name if result.path else None,
            "validation_size": len(validation), "dev_size": len(dev),
            "reference_step_seconds": round(reference, 3), "threads": torch.get_num_threads(),
            "command": command, "machine": machine()}


def report(runs) -> str:
    """The table (markdown) of the record's runs: what --report prints and the README shows."""
    out = []
    grid = strong_teacher.GRID
    found = {option: [r for r in runs if option.matches(r)] for option in grid}
    out.append("**Strong SST-2 teacher: every candidate on the validation slice**\n")
    out.append("| candidate | learning rate | epochs | steps | validation accuracy | minutes |")
    out.append("|---|---|---|---|---|---|")
    for option, matching in found.items():
        if matching:
            run = matching[-1]
            out.append(f"| {option.name} | {option.learning_rate:g} | {option.epochs} | {run['steps']:,} | "
                  f"{run['validation_accuracy']:.2%} | {run['seconds'] / 60:.1f} |")
        else:
            out.append(f"| {option.name} | {option.learning_rate:g} | {option.epochs} | - | not run yet | - |")
    missing = [option.name for option, matching in found.items() if not matching]
    if missing:
        out.append(f"\nGrid incomplete ({len(grid) - len(missing)} of {len(grid)} runs); rerun the benchmark to finish.")
        return "\n".join(out)
    chosen = strong_teacher.choose(runs)
    run = found[chosen][-1]
    out.append(f"\nchosen on the validation slice ({run['validation_size']:,} held-out training phrases): {chosen.name}")
    out.append(f"its SST-2 dev accuracy ({run['dev_size']} sentences): {run['dev_accuracy']:.2%}; {run['steps']:,} steps "
          f"on {run['train_size']:,} phrases, {run['seconds'] / 60:.1f} minutes with {run['threads']} torch thread(s); "
          f"reference step {run['reference_step_seconds']:.2f} s (same process)")
    finals = [r for r in runs if r.get("split") == "all" and chosen.matches({**r, "split": strong_teacher.SPLIT})]
    if finals:
        final = finals[-1]
        out.append(f"the final teacher ({chosen.name} refitted on all {final['train_size']:,} training phrases, "
                   f"{final['steps']:,} steps, {final['seconds'] / 60:.1f} minutes, reference step "
                   f"{final['reference_step_seconds']:.2f} s): SST-2 dev {final['dev_accuracy']:.2%}")
        out.append(f"target >= {TARGET * 100:.0f} % dev: {'MET' if final['dev_accuracy'] >= TARGET else 'NOT MET'}")
    else:
        out.append("the final teacher (the chosen settings on all phrases) is not trained yet: rerun the benchmark")
    if chosen != strong_teacher.CHOSEN:
        out.append(f"NOTE: strong_teacher.CHOSEN is {strong_teacher.CHOSEN.name}; set it to {chosen.name} to match the record.")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="store_true", help="print the table from the record, train nothing")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the other core is in use)")
    parser.add_argument("--record", type=Path, default=strong_teacher.RECORD, help="where runs are recorded")
    parser.add_argument("--train-size", type=int, default=None,
                        help="a smoke test: train on this many phrases only (needs --record elsewhere)")
    args = parser.parse_args()
    refuse_smoke_run_into(args.record, strong_teacher.RECORD, smoke=args.train_size is not None)
    torch.set_num_threads(args.threads)
    command = invoked_command()
    record = RunRecord(args.record, key=strong_teacher.run_key, command=command)
    if not args.report:
        started = time.perf_counter()
        tokenizer = models.load_tokenizer()
        train, validation, dev = strong_teacher.splits()
        if args.train_size is not None:
            train = data.subsample(train, args.train_size, seed=0)
        todo = [option for option in strong_teacher.GRID if not record.has(identity(option, len(train)))]
        print(f"setup {time.perf_counter() - started:.0f} s; {len(todo)} of {len(strong_teacher.GRID)} candidates to "
              f"train on {len(train):,} phrases with {torch.get_num_threads()} torch thread(s)", flush=True)
        for option in todo:
            print(f"  {option.name}: {option.steps(len(train)):,} steps ...", flush=True)
            run = record.add(train_and_score(option, train, validation, dev, tokenizer, command))
            print(f"  {option.name}: validation {run['validation_accuracy']:.2%} ({run['seconds'] / 60:.1f} min, "
                  f"reference step {run['reference_step_seconds']:.2f} s)", flush=True)
        chosen = strong_teacher.choose(record.runs)
        everything = strong_teacher.all_phrases()
        if args.train_size is not None:
            everything = data.subsample(everything, args.train_size, seed=0)
        final = {**identity(chosen, len(everything)), "name": strong_teacher.FINAL, "split": "all"}
        if chosen != strong_teacher.CHOSEN:
            print(f"strong_teacher.CHOSEN is {strong_teacher.CHOSEN.name} but the record chooses {chosen.name}: "
                  "set CHOSEN first, then rerun to refit the final teacher.")
        elif not record.has(final):
            print(f"  final: {chosen.name} refitted on all {len(everything):,} phrases, "
                  f"{chosen.steps(len(everything)):,} steps ...", flush=True)
            reference = tutorial.reference_step_seconds()
            result = strong_teacher.train_candidate(chosen, train_data=everything, tokenizer=tokenizer, progress=False)
            run = record.add({**final, "validation_accuracy": None,  # the slice is in its training data
                              "dev_accuracy": round(evaluation.evaluate(result.model, dev, tokenizer).accuracy, 6),
                              "seconds": round(result.history.seconds, 1), "from_cache": result.from_cache,
                              "cache": result.path.name if result.path else None, "dev_size": len(dev),
                              "reference_step_seconds": round(reference, 3), "threads": torch.get_num_threads(),
                              "command": command, "machine": machine()})
            print(f"  final: dev {run['dev_accuracy']:.2%} ({run['seconds'] / 60:.1f} min)", flush=True)
    print(f"record: {args.record}")
    print(report(record.runs))


if __name__ == "__main__":
    main()
