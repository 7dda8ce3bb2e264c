"""Time of the attention-similarity measures of notebook 08 over 200 SST-2 dev sentences (target:
the full student × teacher head matrix in ≤ 15 s on 2 cores), printed beside a reference measured
in the same run (one teacher training step of 32 × 32 tokens, ``tutorial.reference_step_seconds``).

    .venv/bin/python benchmarks/head_similarity.py
"""

import argparse
import time

import torch

from tinybert_lab import data, headsim, mapping, models, tutorial


def main():
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    torch.set_num_threads(2)
    tokenizer = models.load_tokenizer()
    teacher = models.load_teacher(num_labels=2)
    student = models.build_student("tinybert4", tokenizer=tokenizer, seed=0)
    dev = data.load_sst2()["validation"]
    layer_map = mapping.default_map(student.config, teacher.config)
    reference = tutorial.reference_step_seconds()
    timings = {}
    for name, work in {
        "full head matrix (48 × 72 heads), 200 sentences": lambda: headsim.head_similarity(teacher, student, dev, tokenizer, n=200),
        "mapped layer pairs, 3 students, 200 sentences": lambda: headsim.mapped_divergences(
            teacher, {"a": student, "b": student, "c": student}, dev, tokenizer, layer_map, n=200),
        "head behaviour, one model, 200 sentences": lambda: headsim.head_behaviour(student, dev, tokenizer, n=200),
    }.items():
        started = time.perf_counter()
        work()
        timings[name] = time.perf_counter() - started
    print(f"reference: one teacher training step (32 × 32 tokens) {reference:.2f} s, this run")
    print("| measure | seconds | × reference step |")
    print("|---|---|---|")
    for name, seconds in timings.items():
        print(f"| {name} | {seconds:.1f} | {seconds / reference:.1f} |")
    full = next(iter(timings.values()))
    print(f"target: full matrix <= 15 s on 2 cores: {full:.1f} s ({'met' if full <= 15 else 'missed'})")


if __name__ == "__main__":
    main()
