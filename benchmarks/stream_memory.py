"""Peak memory of general distillation's data as the corpus grows: streamed vs read whole.

Corpora of 1×, 10× and 100× the text of SST-2's 67,349 training phrases (the phrases repeated, each
copy shuffled with its own seed) are written to a temporary folder. In a fresh process per
measurement, each is either

- streamed (``streaming.TextStream``): every line of the corpus read, the way ``fit`` resumes
  (whole pools skipped by counting lines), the last 200 batches tokenised and built, then 10 steps
  of general distillation on the stream, or
- read whole (``data.load_text_file`` + ``data.encode``), the in-memory path, at 1× and 10× only,

and the process's peak resident memory (``ru_maxrss``) is printed. Target: the streamed 100× run
peaks at no more than 1.2× the streamed 1× run. (Linux keeps a parent's peak across fork and exec,
so this script's own process imports nothing heavy: corpora and the reference step are made in
child processes too.)

    .venv/bin/python benchmarks/stream_memory.py           # a few minutes on 2 cores
"""

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
RECORD = HERE.parent / "results" / "stream_memory.json"


def write_corpus(folder: Path, times: int) -> Path:
    from tinybert_lab import data

    phrases = list(data.load_sst2()["train"]["sentence"])
    path = folder / f"sst2_x{times}.txt"
    with open(path, "w", encoding="utf-8") as handle:
        for copy in range(times):
            order = list(range(len(phrases)))
            random.Random(copy).shuffle(order)
            handle.write("\n".join(phrases[i] for i in order) + "\n")
    return path


def measure(mode: str, path: str) -> dict:
    """Runs in its own process: one measurement, then its peak memory."""
    from tinybert_lab import data, tinybert, models, streaming

    tokenizer = models.load_tokenizer()
    started = time.perf_counter()
    if mode == "stream":
        stream = streaming.TextStream(path, tokenizer, max_length=64)
        lines = sum(1 for _ in stream.lines())
        pool = stream.pool_batches * 32
        total = (lines // pool) * stream.pool_batches + -(-(lines % pool) // 32)  # batches in one epoch
        examples = 0
        for epoch, _, build in stream.batches(batch_size=32, seed=0, position=max(0, total - 200)):
            if epoch:
                break
            examples += len(build()["idx"])
        examples = f"{lines:,} lines read, {examples:,} tokenised"
        student = models.build_student("tinybert4", tokenizer=tokenizer, seed=0)
        config = tinybert.DistillConfig(steps=10, batch_size=32, weights=tinybert.INTERMEDIATE, mask_probability=0.15)
        tinybert.general_distillation(student, stream, tokenizer, config=config, progress=False)
    else:
        encoded = data.encode(data.load_text_file(path), tokenizer, max_length=64)
        examples = len(encoded)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "examples": examples, "peak_mb": round(peak_mb), "seconds": round(time.perf_counter() - started)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measure", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--write", nargs=2, metavar=("FOLDER", "TIMES"), help=argparse.SUPPRESS)
    parser.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="1,10,100")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    if args.write:
        print(write_corpus(Path(args.write[0]), int(args.write[1])))
        return
    if args.reference:
        from tinybert_lab import tutorial

        print(f"reference: one teacher training step (32 sentences x 32 tokens) took "
              f"{tutorial.reference_step_seconds():.2f} s in this run")
        return

    def child(*options):
        return subprocess.run([sys.executable, str(HERE), *options], capture_output=True, text=True,
                              check=True).stdout.strip().splitlines()[-1]

    reference = child("--reference")
    print(reference, flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for times in [int(x) for x in args.sizes.split(",")]:
            path = Path(child("--write", folder, str(times)))
            for mode in ("stream", "whole") if times <= 10 else ("stream",):
                result = json.loads(child("--measure", mode, str(path)))
                rows.append({"times": times, "size_mb": round(path.stat().st_size / 1e6, 1), **result})
                print(rows[-1], flush=True)

    from tinybert_lab.core.records import RunRecord, invoked_command  # here, not at the top: the measured children stay light

    record = RunRecord(RECORD, key=lambda run: run["table"], command=invoked_command())
    record.add({"table": "stream_memory", "rows": rows, "reference": reference})
    print(report(record.runs))


def report(runs) -> str:
    """The latest run's table and ratios (markdown): what the script prints and the README shows."""
    run = runs[-1]
    out = [f"{run['reference'][0].upper()}{run['reference'][1:]} ({run['date']}).", "",
           "| corpus | file (MB) | path | examples | peak memory (MB) | seconds |", "|---|---|---|---|---|---|"]
    for r in run["rows"]:
        path = "streamed: every line read, the last 200 batches built, 10 steps of general distillation" \
            if r["mode"] == "stream" else "read whole + encoded"
        examples = r["examples"] if isinstance(r["examples"], str) else f"{r['examples']:,}"
        out.append(f"| {r['times']}x SST-2 | {r['size_mb']} | {path} | {examples} | {r['peak_mb']:,} | {r['seconds']} |")
    streamed = {r["times"]: r["peak_mb"] for r in run["rows"] if r["mode"] == "stream"}
    whole = {r["times"]: r["peak_mb"] for r in run["rows"] if r["mode"] == "whole"}
    out.append("")
    if 1 in streamed:
        out += [f"- streamed peak, {times}x / 1x: {peak / streamed[1]:.2f} (target <= 1.2)"
                for times, peak in streamed.items() if times > 1]
    if 1 in whole:
        out += [f"- read whole, {times}x / 1x: {peak / whole[1]:.2f}" for times, peak in whole.items() if times > 1]
    return "\n".join(out)


if __name__ == "__main__":
    main()
