"""Notebook 08's question over three seeds: how much of the student's resemblance to its teacher's
attention did distillation put there, and does a layer map suggested by that resemblance help?

For seeds 0, 1 and 2, notebook 06's TinyBERT-4 starts from the teacher (``teacher_init.projected_student``
with that seed) and is trained for the tutorial's budget (600 steps, 20,000 SST-2 phrases) two
ways, each with its setting chosen on the held-out slice (``benchmarks/choose_recipe.py``'s
record): on the labels alone, and by two-step task distillation along the library's default map
(each student layer toward the teacher layer it was built from). For the untrained start and both
students, ``headsim.mapped_divergences`` measures the mean Jensen–Shannon divergence of each mapped
layer pair (head i with head i) over 200 SST-2 dev sentences; dev accuracy is stored beside it.

Suggested map (issue 18, part 5): the same start trained on the labels for a short warm-up
(100 steps), then ``headsim.head_similarity(...).suggested_map()`` pairs each student layer with
the teacher layer its heads resemble most. Where that differs from the default map, two-step KD is
also trained along it (same start, same budget; the warm-up only chooses the map). Two-step KD
along the uniform map g(m) = floor(m·N/M) is always trained too (notebook 06 asks whether the map
matters); the report says, seed by seed, which map the similarity suggested.

Each finished run is appended to ``benchmarks/results/attention_seeds.json``; a rerun skips what is there.

    .venv/bin/python benchmarks/attention_seeds.py            # about 6 runs of ~2 min on 2 cores, more if a map differs
    .venv/bin/python benchmarks/attention_seeds.py --report   # print the tables from the record
"""

import argparse
import statistics
import time

import torch

from tinybert_lab import data, evaluation, headsim, mapping, models, recipe, tutorial
from tinybert_lab.core.records import RunRecord, invoked_command
from tinybert_lab.core.settings import FULL_PLAN

PLAN = FULL_PLAN
SEEDS = (0, 1, 2)
SENTENCES = 200
WARMUP_STEPS = 100
RECORD = headsim.SEED_RECORD


def run_key(run):
    return run["student"], run["seed"], run.get("layer_map", "default")


class Bench:
    def __init__(self, choices):
        splits = data.load_sst2()
        self.tokenizer = models.load_tokenizer()
        self.train = data.subsample(splits["train"], PLAN.train_size, seed=0)  # the tutorial's training phrases
        self.dev = splits["validation"]
        self.teacher = tutorial.fine_tuned_teacher(PLAN, progress=False).model
        self.choices = choices

    def start(self, seed):
        return recipe.start("teacher", self.teacher, self.tokenizer, self.train, seed=seed)

    def labels(self, student, seed, steps=None):
        recipe.labels_only(student, self.train, self.tokenizer, steps=steps or PLAN.budget,
                           setting=self.choices["labels-teacher"], seed=seed, batch_size=PLAN.batch_size,
                           progress=False)
        return student

    def distil(self, begin, seed, layer_map=None):
        recipe.distil(recipe.distiller(begin, self.teacher, seed=seed, layer_map=layer_map), self.train,
                      self.tokenizer, steps=PLAN.budget, setting=self.choices["kd-teacher"], seed=seed,
                      batch_size=PLAN.batch_size, progress=False)
        return begin.student

    def measure(self, student, layer_map):
        divergence = headsim.mapped_divergences(self.teacher, {"s": student}, self.dev, self.tokenizer, layer_map,
                                                n=SENTENCES)["s"]
        return {"divergence": {str(k): round(v, 6) for k, v in divergence.items()},
                "dev_accuracy": round(evaluation.evaluate(student, self.dev, self.tokenizer).accuracy, 6)}

    def suggestion(self, student, seed):
        """The map the head similarity suggests after ``WARMUP_STEPS`` on labels from ``student``."""
        self.labels(student, seed, steps=WARMUP_STEPS)
        similarity = headsim.head_similarity(self.teacher, student, self.dev, self.tokenizer, n=SENTENCES)
        return similarity.suggested_map()


def as_list(layer_map):
    return [match.teacher[0] for match in layer_map.matches]


def todo(record):
    """(student, seed, map name) still to run; maps beyond the default only where a suggestion differs."""
    wanted = [(s, seed, "default") for seed in SEEDS for s in headsim.SEED_STUDENTS]
    wanted += [("suggestion", seed, "default") for seed in SEEDS]
    wanted += [("kd-teacher", seed, "uniform") for seed in SEEDS]  # does the map matter? (notebook 06 asks)
    for seed in SEEDS:
        found = record.find({"student": "suggestion", "seed": seed})
        if found and found["suggested"] != found["default"]:
            wanted += [("kd-teacher", seed, "suggested")]
    return [w for w in wanted if not record.has({"student": w[0], "seed": w[1], "layer_map": w[2]})]


def run_one(bench, student_name, seed, map_name, record):
    begin = bench.start(seed)
    start = begin.student
    default = mapping.default_map(start.config, bench.teacher.config)
    if student_name == "suggestion":
        suggested = bench.suggestion(start, seed)
        return {"suggested": as_list(suggested), "default": as_list(default),
                "uniform": as_list(mapping.LayerMap.uniform(start.config.num_hidden_layers,
                                                            bench.teacher.config.num_hidden_layers))}
    if student_name == "labels-teacher":
        bench.labels(start, seed)
    elif student_name == "kd-teacher":
        layer_map = None
        if map_name == "suggested":
            found = record.find({"student": "suggestion", "seed": seed})
            layer_map = mapping.LayerMap.from_list(found["suggested"], bench.teacher.config.num_hidden_layers)
        elif map_name == "uniform":
            layer_map = mapping.LayerMap.uniform(start.config.num_hidden_layers, bench.teacher.config.num_hidden_layers)
        bench.distil(begin, seed, layer_map)
    return bench.measure(start, default)  # always measured against the default (init) map's pairs


def mean_std(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def report(runs) -> str:
    out = []
    """The tables (markdown) of the record's runs: what --report prints and the README shows."""
    summary = headsim.divergence_over_seeds(runs)
    if not summary:
        out.append("nothing measured yet")
        return "\n".join(out)
    layers = sorted({m for by_layer in summary.values() for m in by_layer})
    out.append(f"\n**Mean JS divergence to the mapped teacher layer ({SENTENCES} SST-2 dev sentences; "
          "mean ± std over seeds, lower = closer)**\n")
    out.append("| student | seeds | " + " | ".join(f"layer {m}" for m in layers) + " | dev accuracy |")
    out.append("|---|---|" + "---|" * (len(layers) + 1))
    for student, label in headsim.SEED_STUDENTS.items():
        rows = [r for r in runs if r["student"] == student and r.get("layer_map", "default") == "default"]
        if rows:
            dev = mean_std([100 * r["dev_accuracy"] for r in rows])
            out.append(f"| {label} | {len(rows)} | " + " | ".join(f"{m:.3f} ± {s:.3f}" for m, s in summary[label].values())
                  + f" | {dev[0]:.2f} ± {dev[1]:.2f} |")
    out.append("\n**Paired differences in the divergence averaged over layers, seed by seed (negative = closer)**\n")
    for a, b in (("labels-teacher", "untrained"), ("kd-teacher", "untrained"), ("kd-teacher", "labels-teacher")):
        found = headsim.compare_divergence(runs, a, b)
        if found:
            mean, std, count, words = found
            out.append(f"- {headsim.SEED_STUDENTS[a]} − {headsim.SEED_STUDENTS[b]}: {mean:+.3f} ± {std:.3f} over {count} seeds "
                  f"({words})")
    suggestions = sorted((r for r in runs if r["student"] == "suggestion"), key=lambda r: r["seed"])
    if suggestions:
        out.append(f"\n**Layer map suggested by the head similarity after {WARMUP_STEPS} warm-up steps on labels**\n")
        for r in suggestions:
            same = "the default (init) map" if r["suggested"] == r["default"] else \
                ("the uniform map" if r["suggested"] == r["uniform"] else "neither the default nor the uniform map")
            out.append(f"- seed {r['seed']}: suggested {r['suggested']} (default {r['default']}, uniform {r['uniform']}): {same}")
    other = [r for r in runs if r.get("layer_map", "default") != "default"]
    if other:
        out.append("\n**Two-step KD along other maps (dev accuracy)**\n")
        for name in ("suggested", "uniform"):
            rows = [r for r in other if r["layer_map"] == name]
            if rows:
                mean, std = mean_std([100 * r["dev_accuracy"] for r in rows])
                out.append(f"- {name} map: {mean:.2f} ± {std:.2f} % over {len(rows)} seeds")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="store_true", help="print the tables from the record, train nothing")
    args = parser.parse_args()
    torch.set_num_threads(2)
    record = RunRecord(RECORD, key=run_key, command=invoked_command())
    if not args.report and todo(record):
        choices = recipe.CHOSEN  # chosen on the held-out slice by benchmarks/choose_recipe.py
        started = time.perf_counter()
        bench = Bench(choices)
        record.meta.update(sentences=SENTENCES, warmup_steps=WARMUP_STEPS,
                           settings={r: choices[r].describe() for r in ("labels-teacher", "kd-teacher")})
        print(f"setup {time.perf_counter() - started:.0f} s; {len(todo(record))} runs to go", flush=True)
        while pending := todo(record):
            student_name, seed, map_name = pending[0]
            started = time.perf_counter()
            result = run_one(bench, student_name, seed, map_name, record)
            seconds = round(time.perf_counter() - started, 1)
            record.add({"student": student_name, "seed": seed, "layer_map": map_name, **result, "seconds": seconds})
            print(f"  {student_name} seed {seed} ({map_name} map): {seconds:.0f} s", flush=True)
    print(f"record: {RECORD}; machine: {record.meta['machine']}")
    print(report(record.runs))


if __name__ == "__main__":
    main()
