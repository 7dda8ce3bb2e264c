"""Notebook 11's compression table with more repeats, and the ratios issue 13 asks about, measured
side by side in one run (2 threads, model only, the same length-sorted batches of 32, one warm-up
batch, the median of 5 passes over all 872 SST-2 dev sentences):

- the distilled TinyBERT-4 with int8 linear layers against the fp32 teacher (target: >= 4x the
  sentences/s) and against the fp32 student (target: <= 1 point of dev accuracy lost);
- the same student in ONNX Runtime fp32 against PyTorch fp32 (target: >= 1.2x).

It needs notebook 06's distilled student of the full tutorial (``bash scripts/tutorial.sh``, or
notebook 06 in full mode) in the cache; the reference printed beside the times is one teacher
training step measured in the same run.

    .venv/bin/python benchmarks/compression.py
"""

import argparse
import copy
import tempfile
from pathlib import Path

import torch

from tinybert_lab import compression, data, evaluation, models, tutorial
from tinybert_lab.core.records import RunRecord, invoked_command
from tinybert_lab.core.settings import FULL_PLAN

RECORD = Path(__file__).parent / "results" / "compression.json"


def report(runs) -> str:
    """The latest run's table and target lines (markdown): what the script prints and the README shows."""
    run = runs[-1]
    rows = {r["model"]: r for r in run["rows"]}
    int8_vs_teacher = rows["student int8"]["sentences_per_s"] / rows["teacher fp32"]["sentences_per_s"]
    int8_loss = 100 * (rows["student fp32"]["accuracy"] - rows["student int8"]["accuracy"])
    onnx_vs_torch = rows["student ONNX Runtime fp32"]["sentences_per_s"] / rows["student fp32"]["sentences_per_s"]
    return "\n".join([
        f"Reference: one teacher training step (32 x 32 tokens) took {run['reference_step_seconds']:.2f} s in this run "
        f"({run['date']}, {run['threads']} threads, median of {run['repeats']} passes).", "",
        evaluation.ResultsTable(run["rows"]).to_markdown(), "",
        f"- student int8 vs teacher fp32: {int8_vs_teacher:.2f}x the sentences/s (target >= 4: "
        f"{'met' if int8_vs_teacher >= 4 else 'missed'})",
        f"- student int8 vs student fp32: {int8_loss:+.1f} points lost on dev (target <= 1: "
        f"{'met' if int8_loss <= 1 else 'missed'}; one student, 872 sentences)",
        f"- ONNX Runtime fp32 vs PyTorch fp32, same student: {onnx_vs_torch:.2f}x (target >= 1.2: "
        f"{'met' if onnx_vs_torch >= 1.2 else 'missed'})"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", action="store_true", help="print the table from the record, measure nothing")
    if parser.parse_args().report:
        print(report(RunRecord(RECORD, key=lambda run: run["table"]).runs))
        return
    torch.set_num_threads(2)
    tokenizer = models.load_tokenizer()
    teacher = tutorial.fine_tuned_teacher(FULL_PLAN, progress=False).model
    student = tutorial.load_student("kd_student", FULL_PLAN)
    dev = data.load_sst2()["validation"]
    reference = tutorial.reference_step_seconds()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        sample = list(dev.select(range(4))["sentence"])
        onnx_path = compression.export_onnx(student, tokenizer, folder / "student.onnx", sample)
        importance = compression.head_importance(student, dev, tokenizer, n=256)
        pruned = compression.prune_heads(copy.deepcopy(student), compression.least_important(importance, 12))
        variants = {
            "teacher fp32": (teacher, teacher),
            "teacher int8": (compression.quantize(teacher), teacher),
            "student fp32": (student, student),
            "student int8": (compression.quantize(student), student),
            "student ONNX Runtime fp32": (compression.onnx_session(onnx_path, student.config), student),
            "student ONNX Runtime int8": (compression.onnx_session(
                compression.quantize_onnx(onnx_path, folder / "student_int8.onnx"), student.config), student),
            "student, 12 of 48 heads pruned": (pruned, pruned),
            "student, 12 of 48 heads pruned, int8": (compression.quantize(pruned), pruned),
        }
        table = compression.compare_variants(variants, dev, tokenizer, threads=2, repeats=5)
    record = RunRecord(RECORD, key=lambda run: run["table"], command=invoked_command())
    record.add({"table": "compression", "rows": table.rows, "reference_step_seconds": round(reference, 3),
                "threads": 2, "repeats": 5})
    print(report(record.runs))


if __name__ == "__main__":
    main()
