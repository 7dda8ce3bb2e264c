"""The tutorial's main job, headless: ``python -m tinybert_lab.tutorial [--out outputs]``.

Fine-tunes the offline teacher on SST-2 (or loads it from the cache), evaluates it on the dev
set, and times it against the student presets. Writes into the output folder:
``results.md`` (accuracy, fine-tune time, the inference table), ``teacher_history.json`` and
``figures/teacher_loss.png``. ``TINYBERT_LAB_FAST=1`` shrinks the run to seconds (CI).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from . import data, evaluation, models, training, viz
from .settings import fast_mode

FULL = training.TrainConfig(steps=400, eval_every=100)
FAST = training.TrainConfig(steps=10, batch_size=16, log_every=2)


def run(out: Path, threads: int = 2) -> str:
    """Run the job and return the Markdown report (also written to ``out/results.md``)."""
    torch.set_num_threads(threads)
    fast = fast_mode()
    out.mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(exist_ok=True)
    splits = data.load_sst2()
    tokenizer = models.load_tokenizer()
    train = data.subsample(splits["train"], 2000, seed=0) if fast else splits["train"]
    dev = data.subsample(splits["validation"], 200, seed=0) if fast else splits["validation"]

    start = time.perf_counter()
    result = training.finetune_teacher(tokenizer=tokenizer, train_data=train, eval_data=dev,
                                       config=FAST if fast else FULL)
    wall = time.perf_counter() - start
    scores = evaluation.evaluate(result.model, dev, tokenizer)
    (out / "teacher_history.json").write_text(json.dumps(result.history.to_dict(), indent=1))
    viz.plot_history(result.history, "teacher fine-tuning on SST-2").savefig(out / "figures" / "teacher_loss.png", dpi=120)

    students = {f"{name} (untrained)": models.build_student(name, tokenizer=tokenizer) for name in ("tinybert4", "mini2")}
    table = evaluation.benchmark_inference({"teacher (MiniLM-L6)": result.model, **students}, dev, tokenizer,
                                           threads=threads, accuracy={"teacher (MiniLM-L6)": scores.accuracy})
    source = "loaded from the cache" if result.from_cache else f"fine-tuned in {wall:.0f} s"
    report = "\n".join([
        "# tinybert_lab results" + (" (FAST MODE: tiny data, not real numbers)" if fast else ""),
        "",
        f"Teacher: all-MiniLM-L6-v2, {source} ({result.history.step[-1]} steps, training loop "
        f"{result.history.seconds:.0f} s when it was trained).",
        f"SST-2 dev accuracy {scores.accuracy:.2%} (F1 {scores.f1:.3f}) on {scores.n} sentences; "
        f"{len(scores.misclassified)} misclassified.",
        "",
        f"Inference on SST-2 dev, batch 32, {threads} threads (students untrained: speed and size only):",
        "",
        table.to_markdown(),
        "",
        "Most confident mistakes:",
        "",
        *[f"- ({e['probabilities'][e['predicted']]:.0%} {['negative', 'positive'][e['predicted']]}, "
          f"label {['negative', 'positive'][e['label']]}) {e['text']}" for e in scores.misclassified[:5]],
        "",
    ])
    (out / "results.md").write_text(report)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="output folder (default: outputs/)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch (default: 2)")
    args = parser.parse_args()
    print(run(args.out, args.threads))
    print(f"Written to {args.out.resolve()}/")


if __name__ == "__main__":
    main()
