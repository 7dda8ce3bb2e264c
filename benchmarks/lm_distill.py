"""Distilling the language-model teacher: which objective helps, over seeds (issue 26).

Rows (``studies.lm_study.ROWS``): text only, token-level KD (forward KL at T=2 with T²), reverse
KL, sequence-level KD (the teacher's text), on-policy GKD (``--rows ... on_policy``), each from
the every-other-layer start, and text only / token-level KD from random weights. Same student
shape, same steps, same seeds, in two regimes: all the training text, and 5 % of it plus text
the teacher writes. Each finished run is appended to the record at once; a rerun skips what is
there, so the sweep resumes across sessions. Prints the table (mean ± std over seeds, paired
differences against text only from the same start, verdicts, share of the gap to the teacher
closed) and, with ``--speed``, generation tokens/s of teacher and student with the KV cache.

    .venv/bin/python benchmarks/lm_distill.py [--seeds 0 1 2] [--regimes full low] [--threads 2]
    .venv/bin/python benchmarks/lm_distill.py --report        # the table from the record only
    .venv/bin/python benchmarks/lm_distill.py --speed         # generation speed and size on disk
"""

import argparse
import sys
from pathlib import Path

import torch

from tinybert_lab import data, records
from tinybert_lab.methods import causal_lm as lm, lm_eval
from tinybert_lab.studies import lm_study
from tinybert_lab.teaching.tutorial import reference_step_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(lm_study.SEEDS))
    parser.add_argument("--regimes", nargs="+", default=list(lm_study.REGIMES), choices=lm_study.REGIMES)
    parser.add_argument("--rows", nargs="+", default=list(lm_study.DEFAULT_ROWS), choices=list(lm_study.ROWS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--record", type=Path, default=lm_study.RECORD)
    parser.add_argument("--report", action="store_true", help="print the table from the record and stop")
    parser.add_argument("--speed", action="store_true", help="measure generation speed and size, then stop")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    command = "python " + " ".join(sys.argv)
    corpus = data.load_shakespeare()
    reference = reference_step_seconds()
    print(f"reference: one teacher training step (32 sentences x 32 tokens) takes {reference:.2f} s here", flush=True)
    teacher = lm.lm_teacher(corpus=corpus)
    key = teacher.path.name  # the teacher's cache key: a run stands for the teacher that scored it

    def teacher_of(run: dict):  # runs written before the key was stored: theirs if the teacher's loss is exactly it
        return run.get("teacher") or (key if run.get("teacher_loss") == teacher.validation_loss else None)

    record = records.RunRecord(args.record, key=lambda r: (teacher_of(r), r["regime"], r["row"], r["seed"], r["steps"]),
                               command=command)
    how = "loaded from the cache" if teacher.from_cache else f"trained now, at a {reference:.2f} s reference step"
    print(f"teacher ({how}): {teacher.spec}\nteacher validation loss {teacher.validation_loss:.3f} nats per token, "
          f"trained in {teacher.train_seconds:.0f} s", flush=True)
    if args.speed:
        speed(teacher, corpus, args.threads)
        return
    for run in record.runs:
        run.setdefault("teacher", teacher_of(run))
    if not args.report:
        setup = lm_study.Setup(teacher, corpus)
        plan = [(regime, seed, row) for regime in args.regimes for seed in args.seeds for row in args.rows]
        todo = [p for p in plan if not record.has({"teacher": key, "regime": p[0], "row": p[2], "seed": p[1],
                                                   "steps": setup.plan.steps})]
        print(f"{len(plan) - len(todo)} of {len(plan)} runs in the record; {len(todo)} to go", flush=True)
        for regime, seed, row in todo:
            run = lm_study.timed(setup, regime, row, seed)
            run.pop("model")
            record.add({**run, "teacher": key, "teacher_loss": teacher.validation_loss, "reference_step_seconds": reference,
                        "command": command, "machine": records.machine()})
            print(f"{regime} {row} seed {seed}: validation loss {run['validation_loss']:.3f}, "
                  f"{run['wall_seconds']:.0f} s", flush=True)
    print(lm_study.report([run for run in record.runs if teacher_of(run) == key], teacher.validation_loss))


def speed(teacher, corpus, threads: int) -> None:
    """Tokens/s with the KV cache at batch 1 and 8 (16-token prompts continued to the model's full
    length, same prompts, median of 5), sizes on disk; then each objective's training step time."""
    student = lm.half_depth_student(teacher.model)
    prompts = lm.prompts_from(lm.encode_text(teacher.tokenizer, corpus.validation), count=8, length=16, seed=0)
    rows = lm_eval.generation_speed({f"teacher ({teacher.model.config.n_layer} layers)": teacher.model,
                                     f"student ({student.config.n_layer} layers)": student},
                                    prompts, new_tokens=teacher.spec.block - 16, batch_sizes=(1, 8), repeats=5,
                                    threads=threads)
    print(lm_eval.speed_table(rows))
    print("\nTraining step cost of each objective (20 steps after 2 warm-up steps, same batches):")
    setup = lm_study.Setup(teacher, corpus, progress=False)
    costs = {}
    for row in ("text", "forward_kl", "reverse_kl", "on_policy"):
        lm_study.train_row(setup, "full", row, 0, steps=2)  # warm-up
        costs[row] = lm_study.train_row(setup, "full", row, 0, steps=20)["seconds"] / 20
    for row, seconds in costs.items():
        print(f"| {lm_study.ROWS[row].label} | {seconds:.3f} s/step | {seconds / costs['text']:.2f}x text only |")


if __name__ == "__main__":
    main()
