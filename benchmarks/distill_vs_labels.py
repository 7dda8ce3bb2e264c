"""KD vs labels-only on SST-2 dev, and the step-time ratios, measured side by side in one run.

For each budget (total optimizer steps) and seed, the same TinyBERT-4 student (same random
init, same data, same batch order) is trained two ways:
- labels only (cross-entropy), with the learning rate picked by a small sweep at the tutorial's
  budget (best mean over the sweep seeds), so the baseline is not handicapped;
- TinyBERT two-step task distillation from the fine-tuned MiniLM teacher: half the budget on
  intermediate layers (embeddings, attention scores, hidden states), half on the prediction
  layer with cached teacher logits.
Prints mean ± std over seeds, the gain, and the fraction of the teacher's accuracy kept; then
the step-time ratios (prediction KD with cached logits vs labels only; the two-step average vs
labels only), timed in this process on the same batches.

    TINYBERT_LAB_DATA=../shared/data .venv/bin/python benchmarks/distill_vs_labels.py
    ... --budgets 600 --seeds 0 --baseline-lrs 3e-4   # a quick single run
"""

import argparse
import statistics
import time

import torch

from tinybert_lab import data, distill, evaluation, models, training
from tinybert_lab.settings import FULL_PLAN
from tinybert_lab.tutorial import teacher_config

TEACHER_CONFIG = teacher_config(FULL_PLAN)

TUTORIAL_BUDGET = 600


def floats(text):
    return [float(x) for x in text.split(",")]


def ints(text):
    return [int(x) for x in text.split(",")]


def student(tokenizer, seed):
    return models.build_student("tinybert4", tokenizer=tokenizer, seed=seed)


_LABEL_RUNS = {}


def labels_only(tokenizer, train, dev, steps, lr, seed, batch_size):
    """Dev accuracy of the student trained on labels alone (memoised: the sweep's runs are reused)."""
    key = (steps, lr, seed, batch_size)
    if key not in _LABEL_RUNS:
        _LABEL_RUNS[key] = _train_labels_only(tokenizer, train, dev, steps, lr, seed, batch_size)
    return _LABEL_RUNS[key]


def _train_labels_only(tokenizer, train, dev, steps, lr, seed, batch_size):
    model = student(tokenizer, seed)
    config = training.TrainConfig(steps=steps, learning_rate=lr, seed=seed, batch_size=batch_size)
    training.train_classifier(model, train, tokenizer, config, progress=False)
    return evaluation.evaluate(model, dev, tokenizer).accuracy


def two_step(teacher, tokenizer, train, dev, steps, args, seed):
    model = student(tokenizer, seed)
    stages = distill.two_step_stages(
        steps // 2, steps - steps // 2, seed=seed, batch_size=args.batch_size, temperature=args.temperature,
        intermediate_lr=args.intermediate_lr, prediction_lr=args.prediction_lr)
    distill.run_stages(distill.Distiller(model, teacher), stages, train, tokenizer, progress=False)
    return evaluation.evaluate(model, dev, tokenizer).accuracy


def mean_std(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def step_times(teacher, tokenizer, train, steps=40, batch_size=32, rounds=3):
    """Seconds per optimizer step of each objective on the same batches: the loop's own clock
    (``History.seconds``), best of ``rounds`` interleaved runs to damp noise from other load."""
    encoded = data.encode(train, tokenizer)
    cache = distill.TeacherLogitCache.build(teacher, encoded, tokenizer)

    def objective(weights):
        if weights is None:
            return training.LabelObjective(student(tokenizer, 0))
        distiller = distill.Distiller(student(tokenizer, 0), teacher, logit_cache=cache)
        distiller.configure(distill.DistillConfig(weights=weights))
        return distiller

    kinds = {"labels only": None, "prediction KD (cached logits)": distill.PREDICTION,
             "intermediate KD (teacher forward)": distill.INTERMEDIATE}
    config = training.TrainConfig(steps=steps, batch_size=batch_size)
    timings = {name: float("inf") for name in kinds}
    for _ in range(rounds):
        for name, weights in kinds.items():
            history = training.fit(objective(weights), encoded, tokenizer, config, progress=False)
            timings[name] = min(timings[name], history.seconds / steps)
    return timings


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--budgets", type=ints, default=[300, 600, 1200])
    parser.add_argument("--seeds", type=ints, default=[0, 1, 2])
    parser.add_argument("--baseline-lrs", type=floats, default=[1e-4, 3e-4, 1e-3])
    parser.add_argument("--sweep-seeds", type=ints, default=[0])
    parser.add_argument("--intermediate-lr", type=float, default=1e-3)
    parser.add_argument("--prediction-lr", type=float, default=5e-4)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--train-size", type=int, default=0, help="0: all of SST-2 train")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--timing-only", action="store_true", help="only the step-time ratios")
    args = parser.parse_args()
    torch.set_num_threads(2)

    splits = data.load_sst2()
    tokenizer = models.load_tokenizer()
    train = data.subsample(splits["train"], args.train_size or None, seed=0)
    dev = splits["validation"]
    teacher = training.finetune_teacher(tokenizer=tokenizer, eval_data=dev, config=TEACHER_CONFIG).model
    teacher_accuracy = evaluation.evaluate(teacher, dev, tokenizer).accuracy
    print(f"teacher (MiniLM-L6, fine-tuned): {teacher_accuracy:.2%} on SST-2 dev")

    if args.timing_only:
        args.budgets = []
    sweep_budget = TUTORIAL_BUDGET if TUTORIAL_BUDGET in args.budgets or not args.budgets else args.budgets[0]
    if len(args.baseline_lrs) > 1 and args.budgets:
        scores = {lr: statistics.mean(labels_only(tokenizer, train, dev, sweep_budget, lr, s, args.batch_size)
                                      for s in args.sweep_seeds) for lr in args.baseline_lrs}
        print(f"baseline LR sweep at {sweep_budget} steps: " + ", ".join(f"{lr:g}: {a:.2%}" for lr, a in scores.items()))
        best_lr = max(scores, key=scores.get)
    else:
        best_lr = args.baseline_lrs[0]
    print(f"baseline learning rate: {best_lr:g}; KD: intermediate lr {args.intermediate_lr:g}, "
          f"prediction lr {args.prediction_lr:g}, T={args.temperature:g}; seeds {args.seeds}")

    print("\n| budget (steps) | labels only | TinyBERT two-step KD | gain (points) | KD / teacher |")
    print("|---|---|---|---|---|")
    for budget in args.budgets:
        base = [labels_only(tokenizer, train, dev, budget, best_lr, s, args.batch_size) for s in args.seeds]
        kd = [two_step(teacher, tokenizer, train, dev, budget, args, s) for s in args.seeds]
        (bm, bs), (km, ks) = mean_std(base), mean_std(kd)
        print(f"| {budget}{' (tutorial)' if budget == TUTORIAL_BUDGET else ''} | {bm:.2%} ± {bs:.2%} | "
              f"{km:.2%} ± {ks:.2%} | {100 * (km - bm):+.1f} | {km / teacher_accuracy:.1%} |", flush=True)

    if not args.skip_timing:
        timings = step_times(teacher, tokenizer, train)
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
