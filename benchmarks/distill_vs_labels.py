"""KD vs labels-only on SST-2 dev, and the step-time ratios, measured side by side in one run.

For each budget (total optimizer steps) and seed, the TinyBERT-4 student is trained on the
tutorial's data (the 20,000-sentence SST-2 subsample, same batch order per seed) several ways:
- labels only, random init, with the learning rate picked by a small sweep at the tutorial's
  budget (best over the sweep seeds), so the baseline is not handicapped;
- labels only, started from the teacher by ``teacher_init.project_teacher`` ("teacher init"): what
  the initialisation alone buys;
- TinyBERT two-step task distillation (half the budget on embeddings + attention scores +
  hidden states, half on the prediction layer with cached teacher logits), random init;
- the same distillation from the teacher init (projections start at the basis);
- prediction-layer KD alone (cached teacher logits, the whole budget) from the teacher init;
- optionally (``projected-kd-short``) the two steps from the teacher init with a short
  intermediate stage (a sixth of the budget), the schedule notebook 06 uses.
``--layer-map uniform`` distils the two-step recipes along the uniform map instead of the
library's default (each student layer toward the teacher layer it was initialised from); run
both to see whether matching the init layers matters.
Prints mean ± std over seeds, the best KD recipe's gain over labels only from the same random
init and over labels only from the same teacher init (so the initialisation's share and KD's
share of the gain can be told apart), and the fraction of the teacher's accuracy kept; then the step-time ratios (prediction KD with cached logits vs
labels only; the two-step average vs labels only), timed in this process on the same batches.

Every finished run is stored in ``$TINYBERT_LAB_CACHE/benchmarks/distill_vs_labels.json``, so an
interrupted benchmark continues where it stopped and a rerun prints the table at once.

    TINYBERT_LAB_DATA=../shared/data .venv/bin/python benchmarks/distill_vs_labels.py
    ... --budgets 600 --seeds 0 --recipes labels,projected-kd       # a quick single run
"""

import argparse
import json
import statistics

import torch

from tinybert_lab import data, tinybert, evaluation, logit_cache, models, recipe, training
from tinybert_lab.core.mapping import LayerMap
from tinybert_lab.core.settings import FULL_PLAN, cache_dir
from tinybert_lab.teaching.tutorial import teacher_config

TEACHER_CONFIG = teacher_config(FULL_PLAN)
TUTORIAL_BUDGET = FULL_PLAN.intermediate_steps + FULL_PLAN.prediction_steps
TWO_STEP = ("kd", "projected-kd", "projected-kd-short")  # the recipes with an intermediate (layer-map) stage
RECIPES = {
    "labels": "labels only",
    "projected-labels": "labels only, teacher init",
    "kd": "two-step KD",
    "projected-kd": "two-step KD, teacher init",
    "projected-kd-short": "two-step KD (1/6 intermediate), teacher init",
    "projected-pred": "prediction-layer KD, teacher init",
}


def floats(text):
    return [float(x) for x in text.split(",")]


def ints(text):
    return [int(x) for x in text.split(",")]


class Runs:
    """Dev accuracies of finished runs, keyed by recipe/budget/seed/lr, kept in a JSON file."""

    def __init__(self):
        self.path = cache_dir() / "benchmarks" / "distill_vs_labels.json"
        self.values = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def get(self, key, compute):
        if key not in self.values:
            self.values[key] = compute()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.values, indent=1, sort_keys=True))
        return self.values[key]


class Bench:
    def __init__(self, args):
        self.args = args
        splits = data.load_sst2()
        self.tokenizer = models.load_tokenizer()
        self.train = data.subsample(splits["train"], args.train_size, seed=0)
        self.dev = splits["validation"]
        self.teacher = training.fine_tune_teacher(tokenizer=self.tokenizer, eval_data=self.dev,
                                                 config=TEACHER_CONFIG).model
        self.runs = Runs()
        self.teacher_accuracy = self.runs.get(
            f"teacher/{training.fingerprint(self.teacher)}",
            lambda: evaluation.evaluate(self.teacher, self.dev, self.tokenizer).accuracy)

    def start(self, name, seed):
        kind = "teacher" if name.startswith("projected") else "random"
        return recipe.start(kind, self.teacher, self.tokenizer, self.train, seed=seed)

    def accuracy(self, name, budget, seed, lr=None):
        a = self.args
        lr = lr or {"projected-labels": a.projected_lr, "kd": a.kd_lrs, "projected-kd": a.projected_kd_lr,
                    "projected-pred": a.projected_kd_lr, "projected-kd-short": a.projected_kd_lr}[name]
        lr_text = "/".join(f"{x:g}" for x in lr) if isinstance(lr, list) else f"{lr:g}"
        key = f"{name}/{budget}/{seed}/{lr_text}/{a.train_size}/T{a.temperature:g}"
        if name in TWO_STEP:  # the intermediate stage depends on the layer map
            key += f"/map-{a.layer_map}"
        return self.runs.get(key, lambda: self._train(name, budget, seed, lr))

    def _train(self, name, budget, seed, lr):
        begin = self.start(name, seed)
        options = dict(seed=seed, batch_size=self.args.batch_size, progress=False)
        if name == "projected-pred":
            recipe.distil(recipe.distiller(begin, self.teacher, seed=seed), self.train, self.tokenizer, steps=budget,
                          intermediate_steps=0, learning_rate=lr, temperature=self.args.temperature, **options)
        elif name.endswith("labels"):
            recipe.labels_only(begin.student, self.train, self.tokenizer, steps=budget, learning_rate=lr, **options)
        else:
            layer_map = LayerMap.uniform(4, self.teacher.config.num_hidden_layers) if self.args.layer_map == "uniform" else None
            first, second = lr if isinstance(lr, list) else (lr, lr)
            share = FULL_PLAN.intermediate_steps / TUTORIAL_BUDGET if name == "projected-kd-short" else 0.5
            recipe.distil(recipe.distiller(begin, self.teacher, seed=seed, layer_map=layer_map), self.train,
                          self.tokenizer, steps=budget, intermediate_steps=int(budget * share), learning_rate=first,
                          intermediate_lr=first, prediction_lr=second, temperature=self.args.temperature, **options)
        accuracy = evaluation.evaluate(begin.student, self.dev, self.tokenizer).accuracy
        print(f"  {name:17s} {budget:5d} steps  seed {seed}  lr {lr}: {accuracy:.2%}", flush=True)
        return accuracy


def mean_std(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def step_times(bench, steps=40, rounds=3):
    """Seconds per optimizer step of each objective on the same batches: the loop's own clock
    (``History.seconds``), best of ``rounds`` interleaved runs to damp noise from other load."""
    tokenizer, teacher = bench.tokenizer, bench.teacher
    encoded = data.encode(bench.train, tokenizer)
    cache = logit_cache.TeacherLogitCache.build(teacher, encoded, tokenizer)

    def student():
        return models.build_student("tinybert4", tokenizer=tokenizer, seed=0)

    def objective(weights):
        if weights is None:
            return training.LabelObjective(student())
        distiller = tinybert.Distiller(student(), teacher, logit_cache=cache)
        distiller.configure(tinybert.DistillConfig(weights=weights))
        return distiller

    kinds = {"labels only": None, "prediction KD (cached logits)": tinybert.PREDICTION,
             "intermediate KD (teacher forward)": tinybert.INTERMEDIATE}
    config = training.TrainConfig(steps=steps, batch_size=bench.args.batch_size)
    timings = {name: float("inf") for name in kinds}
    for _ in range(rounds):
        for name, weights in kinds.items():
            history = training.fit(objective(weights), encoded, tokenizer, config, progress=False)
            timings[name] = min(timings[name], history.seconds / steps)
    return timings


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", type=ints, default=[300, 600, 1200])
    parser.add_argument("--seeds", type=ints, default=[0, 1, 2])
    parser.add_argument("--recipes", default="labels,projected-labels,kd,projected-kd,projected-pred",
                        help=f"any of {', '.join(RECIPES)}")
    parser.add_argument("--baseline-lrs", type=floats, default=[1e-4, 3e-4, 1e-3])
    parser.add_argument("--sweep-seeds", type=ints, default=[0])
    parser.add_argument("--projected-lr", type=float, default=1e-4, help="labels only from the teacher init")
    parser.add_argument("--kd-lrs", type=floats, default=[1e-3, 5e-4],
                        help="intermediate,prediction stage learning rates from random init (best of a sweep)")
    parser.add_argument("--projected-kd-lr", type=float, default=1e-4, help="both KD stages from the teacher init")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--layer-map", choices=["init", "uniform"], default="init",
                        help="two-step KD: distil each student layer toward the teacher layer it was initialised "
                             "from (the library's default) or along the uniform map g(m) = floor(m·N/M)")
    parser.add_argument("--batch-size", type=int, default=FULL_PLAN.batch_size)
    parser.add_argument("--train-size", type=int, default=FULL_PLAN.train_size)
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--timing-only", action="store_true", help="only the step-time ratios")
    args = parser.parse_args()
    torch.set_num_threads(2)
    recipes = args.recipes.split(",")
    unknown = set(recipes) - set(RECIPES)
    if unknown:
        parser.error(f"unknown recipe(s) {sorted(unknown)}; choose from {', '.join(RECIPES)}")
    bench = Bench(args)
    print(f"teacher (MiniLM-L6, fine-tuned): {bench.teacher_accuracy:.2%} on SST-2 dev; "
          f"training data: {len(bench.train)} sentences")
    if args.timing_only:
        args.budgets = []

    if "labels" in recipes and args.budgets and len(args.baseline_lrs) > 1:
        sweep_budget = TUTORIAL_BUDGET if TUTORIAL_BUDGET in args.budgets else args.budgets[0]
        scores = {lr: statistics.mean(bench.accuracy("labels", sweep_budget, s, lr) for s in args.sweep_seeds)
                  for lr in args.baseline_lrs}
        print(f"baseline LR sweep at {sweep_budget} steps: " + ", ".join(f"{lr:g}: {a:.2%}" for lr, a in scores.items()))
        best_lr = max(scores, key=scores.get)
    else:
        best_lr = args.baseline_lrs[0]
    print(f"learning rates: labels {best_lr:g}; labels from the teacher init {args.projected_lr:g}; KD "
          f"{args.kd_lrs[0]:g} then {args.kd_lrs[1]:g}; KD from the teacher init {args.projected_kd_lr:g} (both stages); "
          f"T={args.temperature:g}; seeds {args.seeds}\n")

    header = [RECIPES[r] for r in recipes]
    print("| budget (steps) | " + " | ".join(header)
          + " | best KD recipe | its gain vs labels (points) | vs labels, teacher init | best KD / teacher |")
    print("|---" * (len(header) + 5) + "|")
    for budget in args.budgets:
        cells, means = [], {}
        for name in recipes:
            lr = best_lr if name == "labels" else None
            mean, std = mean_std([bench.accuracy(name, budget, s, lr) for s in args.seeds])
            means[name] = mean
            cells.append(f"{mean:.2%} ± {std:.2%}")
        kd_recipes = [r for r in recipes if r in TWO_STEP or r == "projected-pred"]
        best = max(kd_recipes, key=means.get) if kd_recipes else None

        def gain(baseline):
            return f"{100 * (means[best] - means[baseline]):+.1f}" if best and baseline in means else ""

        kept = f"{means[best] / bench.teacher_accuracy:.1%}" if best else ""
        label = f"{budget} (tutorial)" if budget == TUTORIAL_BUDGET else str(budget)
        print(f"| {label} | " + " | ".join(cells)
              + f" | {RECIPES.get(best, '')} | {gain('labels')} | {gain('projected-labels')} | {kept} |", flush=True)

    if not args.skip_timing:
        timings = step_times(bench)
        base = timings["labels only"]
        print("\n| objective | s/step | × labels only |")
        print("|---|---|---|")
        for name, seconds in timings.items():
            print(f"| {name} | {seconds:.3f} | {seconds / base:.2f} |")
        two = (timings["prediction KD (cached logits)"] + timings["intermediate KD (teacher forward)"]) / 2
        print(f"| two-step KD (half each) | {two:.3f} | {two / base:.2f} |")
        print(f"targets: prediction KD <= 1.15x: {timings['prediction KD (cached logits)'] / base:.2f}x; "
              f"two-step <= 1.6x: {two / base:.2f}x")


if __name__ == "__main__":
    main()
