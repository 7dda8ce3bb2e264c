"""Teacher target: >= 85 % SST-2 dev accuracy within ~3 minutes of fine-tuning on 2 CPU cores.

Fine-tunes the offline MiniLM teacher (no cache) with the tutorial's settings and prints the
accuracy curve, the wall time, and the inference table (teacher vs untrained students, same
data, batch size and threads). Usage:

    TINYBERT_LAB_DATA=../shared/data .venv/bin/python benchmarks/teacher_finetune.py [--lr 1e-4] [--steps 400]
"""

import argparse
import time

import torch

from tinybert_lab import data, evaluation, models, training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=training.TrainConfig.steps)
    parser.add_argument("--lr", type=float, default=training.TrainConfig.learning_rate)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    splits = data.load_sst2()
    tokenizer = models.load_tokenizer()
    config = training.TrainConfig(steps=args.steps, learning_rate=args.lr, eval_every=args.eval_every, seed=args.seed)
    start = time.perf_counter()
    result = training.fine_tune_teacher(
        tokenizer=tokenizer, train_data=splits["train"], eval_data=splits["validation"], config=config,
        cache=False, progress=False,
    )
    total = time.perf_counter() - start
    final = evaluation.evaluate(result.model, splits["validation"], tokenizer)
    print(f"config: {config.to_dict()}")
    print("dev accuracy by step: " + ", ".join(f"{s}: {a:.1%}" for s, a in result.history.eval))
    print(f"teacher dev accuracy {final.accuracy:.2%} (F1 {final.f1:.3f}); training loop "
          f"{result.history.seconds:.0f} s ({result.history.seconds / config.steps:.2f} s/step), "
          f"fine-tune call incl. loading and periodic evals {total:.0f} s; threads {torch.get_num_threads()}")
    print("target >= 85 % within ~180 s:", "MET" if final.accuracy >= 0.85 and result.history.seconds <= 200 else "NOT MET")
    students = {name: models.build_student(name, tokenizer=tokenizer) for name in ("tinybert4", "mini2")}
    table = evaluation.benchmark_inference(
        {"teacher (MiniLM-L6)": result.model, **{f"{k} (untrained)": v for k, v in students.items()}},
        splits["validation"], tokenizer, threads=args.threads, repeats=2,
        accuracy={"teacher (MiniLM-L6)": final.accuracy},
    )
    print(table.to_markdown())


if __name__ == "__main__":
    main()
