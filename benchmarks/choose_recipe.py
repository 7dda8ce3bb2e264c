"""Notebook 06's settings, chosen on a validation slice held out from SST-2's training split.

For each recipe of ``tinybert_lab.selection`` (labels only from random weights; labels only from
the teacher-projected start; two-step task distillation from that start; two-step task
distillation from a generally distilled student, notebook 05's recipe with that seed) and each
setting of its grid (learning rate; share of the budget for the intermediate stage), the
TinyBERT-4 student trains for the tutorial's budget (600 steps) on the tutorial's 20,000 SST-2
phrases, seeds 0 and 1, and is scored on 1,000 other training phrases of at least 5 words
(``data.held_out``: never trained on by a student; the teacher was fine-tuned on the whole
training split, which flatters the teacher-started recipes on this slice alike). The setting
with the best mean validation accuracy is each recipe's choice; it then trains for seed 2, and
the dev accuracy of the chosen settings (3 seeds) is printed with paired differences: what the
initialisation buys, what distillation adds, and whether the general → task chain beats the
teacher-projected start at this budget. Dev is stored for every run but read for the chosen ones only.

Each finished run is appended to ``benchmarks/results/choose_recipe.json`` (committed: notebook 06
reads its choices and prints its table), so a rerun skips what is there.

    .venv/bin/python benchmarks/choose_recipe.py            # the sweep (about 34 runs of ~100 s on 2 cores)
    .venv/bin/python benchmarks/choose_recipe.py --report   # print the tables from the record
"""

import argparse
import time

import torch

from tinybert_lab import data, tinybert, evaluation, models, recipe, selection, tutorial
from tinybert_lab.core.records import RunRecord, invoked_command
from tinybert_lab.core.settings import FULL_PLAN, cache_dir

PLAN = FULL_PLAN
ORDER = ["kd-teacher", "labels-teacher", "labels", "kd-general"]  # the fair comparison first


class Bench:
    def __init__(self):
        splits = data.load_sst2()
        self.tokenizer = models.load_tokenizer()
        self.train = data.subsample(splits["train"], PLAN.train_size, seed=0)  # the tutorial's training phrases
        self.validation = data.held_out(splits["train"], selection.VALIDATION_SIZE, after=PLAN.train_size, seed=0,
                                        min_words=selection.VALIDATION_MIN_WORDS)
        self.dev = splits["validation"]
        self.unlabeled = splits["test"]  # notebook 05's general-distillation text
        self.teacher = tutorial.fine_tuned_teacher(PLAN, progress=False).model

    def general_student(self, seed):
        """Notebook 05's recipe with ``seed``, trained once per seed and kept in the cache."""
        path = cache_dir() / "benchmarks" / "choose_recipe" / f"general_seed{seed}.pt"
        student = models.build_student("tinybert4", tokenizer=self.tokenizer, seed=seed)
        if path.is_file():
            student.load_state_dict(torch.load(path, weights_only=True))
            return student
        config = tinybert.DistillConfig(steps=PLAN.general_steps, batch_size=PLAN.batch_size, learning_rate=1e-3,
                                       weights=tinybert.INTERMEDIATE, mask_probability=0.15, seed=seed)
        tinybert.general_distillation(student, self.unlabeled, self.tokenizer, config=config, progress=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(student.state_dict(), path)
        return student

    def train_setting(self, setting, seed):
        budget = PLAN.budget
        if setting.recipe in ("labels-teacher", "kd-teacher"):
            begin = recipe.start("teacher", self.teacher, self.tokenizer, self.train, seed=seed)
        elif setting.recipe == "kd-general":
            begin = recipe.Start(self.general_student(seed), kind="general")
        else:
            begin = recipe.start("random", self.teacher, self.tokenizer, seed=seed)
        if setting.recipe.startswith("labels"):
            recipe.labels_only(begin.student, self.train, self.tokenizer, steps=budget, setting=setting, seed=seed,
                               batch_size=PLAN.batch_size, progress=False)
        else:
            recipe.distil(recipe.distiller(begin, self.teacher, seed=seed), self.train, self.tokenizer, steps=budget,
                          setting=setting, seed=seed, batch_size=PLAN.batch_size, progress=False)
        return (evaluation.evaluate(begin.student, self.validation, self.tokenizer).accuracy,
                evaluation.evaluate(begin.student, self.dev, self.tokenizer).accuracy)


def identity(setting, seed):
    return {"recipe": setting.recipe, "learning_rate": setting.learning_rate,
            "intermediate_share": setting.intermediate_share, "seed": seed, "steps": PLAN.budget}


def todo(record):
    """(setting, seed) pairs still to train: the whole grid for the selection seeds, one recipe
    after the other (so an interrupted sweep leaves whole recipes chosen), then each recipe's
    chosen setting for the other report seeds."""
    pairs = [(s, seed) for name in ORDER for seed in selection.SELECTION_SEEDS for s in selection.GRID[name]]
    pairs = [(s, seed) for s, seed in pairs if not record.has(identity(s, seed))]
    if pairs:
        return pairs
    choices = selection.chosen(record.runs)
    extra = [(choices[r].setting, seed) for r in ORDER for seed in selection.REPORT_SEEDS]
    return [(s, seed) for s, seed in extra if not record.has(identity(s, seed))]


def report(runs) -> str:
    """The tables (markdown) of the record's runs: what --report prints and the README shows."""
    out = []
    out.append(f"\n**Selection on {selection.VALIDATION_SIZE} held-out training phrases ({PLAN.budget} steps)**\n")
    out.append(selection.selection_table(runs, ORDER))
    dev = selection.dev_table(runs)
    if dev:
        out.append(f"\n**SST-2 dev (872 sentences): the chosen settings, seeds {', '.join(map(str, selection.REPORT_SEEDS))}**\n")
        out.append(dev)
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="store_true", help="print the tables from the record, train nothing")
    args = parser.parse_args()
    torch.set_num_threads(2)
    record = RunRecord(selection.RECORD, key=selection.run_key,
                       command=invoked_command())
    if not args.report and todo(record):
        started = time.perf_counter()
        bench = Bench()
        record.meta.update(validation_size=len(bench.validation), dev_size=len(bench.dev))
        print(f"setup {time.perf_counter() - started:.0f} s; {len(todo(record))} runs to train", flush=True)
        while pairs := todo(record):
            setting, seed = pairs[0]
            started = time.perf_counter()
            validation, dev = bench.train_setting(setting, seed)
            seconds = round(time.perf_counter() - started, 1)
            record.add({**identity(setting, seed), "validation_accuracy": round(validation, 6),
                        "dev_accuracy": round(dev, 6), "seconds": seconds})
            print(f"  {setting.recipe} {setting.describe()} seed {seed}: validation {validation:.2%} ({seconds:.0f} s)",
                  flush=True)
    print(f"record: {selection.RECORD}; machine: {record.meta['machine']}")
    print(report(record.runs))


if __name__ == "__main__":
    main()
