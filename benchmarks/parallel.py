"""Data-parallel ``fit`` on CPU processes (gloo), measured against one process.

Parity: the same tiny teacher and student (dropout off), the same 96 sentences and the same global
batch, trained 20 steps by one process with ``grad_accumulation=2`` and by two processes under
``torchrun`` with ``grad_accumulation=1``; once on the labels alone, once by TinyBERT's two steps
(10 intermediate + 10 prediction, the teacher's logits cached on disk by the main process and
mapped by the other); the labels again with ``accelerate launch`` as the launcher (when Accelerate
is installed); and a run interrupted after step 12 (checkpoint at step 10) by one
process and resumed by two, and the other way round. Prints the largest weight difference
(target: <= 1e-4) and a control that must differ: one process without accumulation.

Scaling: a TinyBERT-4 student on 2,048 SST-2 training phrases, global batch 32, the labels alone:
one process with 2 threads against two processes with 1 thread each, sentences per second side by
side, with a teacher training step measured in the same run as the reference.

    .venv/bin/python benchmarks/parallel.py --parity            # about a minute
    .venv/bin/python benchmarks/parallel.py --scaling --steps 30
"""

import argparse
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve()


RECORD = Path(__file__).resolve().parent / "results" / "parallel.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args: list[str], processes: int, threads: int, crash: bool = False, launcher: str = "torchrun") -> None:
    """Run this script's worker in ``processes`` processes (``torchrun``, or ``accelerate launch``,
    when more than one)."""
    # a fresh cache per launch: under two processes the teacher's logits are computed and written
    # by the main process while the other waits and maps the file
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TINYBERT_LAB_CACHE": tempfile.mkdtemp(prefix="tbl-cache-")}
    env.pop("WORLD_SIZE", None)
    if processes == 1:
        command = [sys.executable, str(HERE), *args]
    elif launcher == "accelerate":  # Accelerate starts torchrun's agent for --multi_gpu, GPUs or not
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", f"--num_processes={processes}",
                   "--num_machines=1", "--mixed_precision=no", "--dynamo_backend=no",
                   f"--main_process_port={free_port()}", str(HERE), *args]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}",
                   f"--master_port={free_port()}", "--master_addr=127.0.0.1", str(HERE), *args]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True)
    finally:
        shutil.rmtree(env["TINYBERT_LAB_CACHE"], ignore_errors=True)
    if done.returncode != 0 and not (crash and processes > 1):
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


# ------------------------------------------------------------------------------------------
# Workers (run in the launched processes)
# ------------------------------------------------------------------------------------------
def tiny_task(tokenizer, n=96):
    import datasets

    words = "good bad film plot actor great dull funny long short music scene story ending".split()
    generator = torch.Generator().manual_seed(0)
    texts, labels = [], []
    for i in range(n):
        length = 4 + int(torch.randint(0, 9, (1,), generator=generator))
        picks = torch.randint(0, len(words), (length,), generator=generator).tolist()
        texts.append(" ".join(words[j] for j in picks))
        labels.append(int(sum(words[j] in ("good", "great", "funny") for j in picks) > 1))
    return datasets.Dataset.from_dict({"text": texts, "label": labels, "idx": list(range(n))})


class Interrupted(Exception):
    pass


def parity_worker(kind: str, accumulation: int, out: str, checkpoint: str | None = None, stop_at: int = 0) -> None:
    from safetensors.torch import save_file

    from tinybert_lab import tinybert, models, parallel, training

    tokenizer = models.load_tokenizer()
    quiet = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    student = models.build_student("bert_tiny", tokenizer=tokenizer, seed=2, num_hidden_layers=2, hidden_size=32,
                                   num_attention_heads=2, intermediate_size=64, **quiet)
    train = tiny_task(tokenizer)
    settings = dict(batch_size=4, grad_accumulation=accumulation, learning_rate=1e-3, seed=0, log_every=5)
    if kind == "labels":
        ran = []

        def crash(step, history):
            ran.append(step)
            if step == stop_at:
                raise Interrupted

        config = training.TrainConfig(steps=20, checkpoint_every=5 if checkpoint else 0, **{**settings, "log_every": 1})
        try:
            training.train_classifier(student, train, tokenizer, config, progress=False, checkpoint_dir=checkpoint,
                                      resume=checkpoint is not None, callbacks=[crash])
        except Interrupted:  # callbacks run on the main process: a crash there; the launcher stops the others
            os._exit(17 if parallel.world().parallel else 0)
        if checkpoint and parallel.world().is_main:
            Path(out).with_suffix(".steps.json").write_text(json.dumps(ran))
    else:
        teacher = models.build_student("bert_tiny", tokenizer=tokenizer, seed=1, num_hidden_layers=4, hidden_size=64,
                                       num_attention_heads=2, intermediate_size=128, **quiet)
        stages = tinybert.two_step_stages(10, 10, **settings)
        tinybert.run_stages(tinybert.Distiller(student, teacher, seed=0), stages, train, tokenizer, progress=False)
    if parallel.world().is_main:
        save_file({k: v.contiguous() for k, v in student.state_dict().items()}, out)


def scaling_worker(steps: int, out: str) -> None:
    from tinybert_lab import data, models, parallel, training

    world = parallel.world()
    tokenizer = models.load_tokenizer()
    train = data.subsample(data.load_sst2()["train"], 2_048, seed=0)
    student = models.build_student("tinybert4", tokenizer=tokenizer, seed=0)
    config = training.TrainConfig(steps=steps, batch_size=32 // world.size, learning_rate=3e-4, log_every=10)
    encoded = data.encode(train, tokenizer, max_length=64)
    warm = training.TrainConfig(steps=2, batch_size=32 // world.size, learning_rate=3e-4)
    training.fit(training.LabelObjective(student), encoded, tokenizer, warm, progress=False)  # warm-up, untimed
    world.barrier()
    started = time.perf_counter()
    training.fit(training.LabelObjective(student), encoded, tokenizer, config, progress=False)
    world.barrier()
    seconds = time.perf_counter() - started
    if world.is_main:
        Path(out).write_text(json.dumps({"seconds": seconds, "sentences": steps * 32, "threads": torch.get_num_threads()}))


# ------------------------------------------------------------------------------------------
# What a user runs
# ------------------------------------------------------------------------------------------
def largest_gap(a: Path, b: Path) -> float:
    from safetensors.torch import load_file

    a, b = load_file(str(a)), load_file(str(b))
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def parity(folder: Path) -> dict[str, float]:
    """Largest weight difference against one process with accumulation 2, for: two processes
    (labels; two-step), a run checkpointed by one process at step 10 and resumed by two, one by
    two resumed by one; and the control, one process without accumulation (another global batch,
    so it must differ)."""
    gaps = {}
    for kind in ("labels", "two-step"):
        one, two = folder / f"{kind}-1.safetensors", folder / f"{kind}-2.safetensors"
        launch(["--worker", "parity", "--kind", kind, "--accumulation", "2", "--out", str(one)], processes=1, threads=1)
        launch(["--worker", "parity", "--kind", kind, "--accumulation", "1", "--out", str(two)], processes=2, threads=1)
        gaps[kind] = largest_gap(one, two)
    reference = folder / "labels-1.safetensors"
    if importlib.util.find_spec("accelerate") is not None:
        launched = folder / "labels-2-accelerate.safetensors"
        launch(["--worker", "parity", "--kind", "labels", "--accumulation", "1", "--out", str(launched)],
               processes=2, threads=1, launcher="accelerate")
        gaps["labels, 2 processes under accelerate launch"] = largest_gap(reference, launched)
    for first, then in ((1, 2), (2, 1)):
        checkpoint, out = folder / f"resume-{first}-{then}", folder / f"resume-{first}-{then}.safetensors"
        for processes, stop in ((first, 12), (then, 0)):  # a crash after step 12 (checkpoint at 10), then resume
            launch(["--worker", "parity", "--accumulation", str(2 // processes), "--out", str(out),
                    "--checkpoint", str(checkpoint), "--stop-at", str(stop)], processes=processes, threads=1,
                   crash=stop > 0)
        resumed_at = json.loads(out.with_suffix(".steps.json").read_text())[0]
        gaps[f"{first} process{'es' if first > 1 else ''}, stopped after step 12, resumed by {then} at step "
             f"{resumed_at}"] = largest_gap(reference, out)
    control = folder / "control.safetensors"
    launch(["--worker", "parity", "--accumulation", "1", "--out", str(control)], processes=1, threads=1)
    gaps["control: 1 process, half the global batch"] = largest_gap(reference, control)
    return gaps


def scaling(folder: Path, steps: int) -> None:
    from tinybert_lab import tutorial
    from tinybert_lab.core.records import RunRecord, invoked_command

    reference = tutorial.reference_step_seconds()
    rows = []
    for processes, threads in ((1, 2), (2, 1)):
        out = folder / f"scaling-{processes}.json"
        launch(["--worker", "scaling", "--steps", str(steps), "--out", str(out)], processes=processes, threads=threads)
        result = json.loads(out.read_text())
        rows.append({"processes": processes, "threads": threads, "sentences_per_s": result["sentences"] / result["seconds"]})
    record = RunRecord(RECORD, key=lambda run: run["table"], command=invoked_command())
    record.add({"table": "scaling", "steps": steps, "rows": rows, "reference_step_seconds": round(reference, 3)})
    print(report(record.runs))


def report(runs) -> str:
    """The latest scaling run (markdown): what ``--scaling`` prints and the README shows."""
    run = runs[-1]
    speed = {(r["processes"], r["threads"]): r["sentences_per_s"] for r in run["rows"]}
    lines = [f"Reference: one teacher training step (32 sentences x 32 tokens) took {run['reference_step_seconds']:.2f} s "
             f"in this run ({run['date']}, {run['steps']} steps).", "",
             "| processes x threads | sentences/s (TinyBERT-4, labels, global batch 32) |", "|---|---|"]
    lines += [f"| {p} x {t} | {v:.1f} |" for (p, t), v in speed.items()]
    lines += ["", f"- ratio, 2 processes x 1 thread / 1 process x 2 threads: {speed[(2, 1)] / speed[(1, 2)]:.2f}"]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parity", action="store_true")
    parser.add_argument("--scaling", action="store_true")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--worker", choices=["parity", "scaling"], help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="labels", help=argparse.SUPPRESS)
    parser.add_argument("--accumulation", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    parser.add_argument("--stop-at", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "parity":
        return parity_worker(args.kind, args.accumulation, args.out, args.checkpoint, args.stop_at)
    if args.worker == "scaling":
        return scaling_worker(args.steps, args.out)
    if not (args.parity or args.scaling):
        parser.error("give --parity and/or --scaling")
    with tempfile.TemporaryDirectory() as folder:
        if args.parity:
            print("largest weight difference after 20 steps from 1 process with accumulation 2 (target <= 1e-4; "
                  "the control must differ):")
            for kind, gap in parity(Path(folder)).items():
                print(f"| {kind} | {gap:.2e} |")
        if args.scaling:
            scaling(Path(folder), args.steps)


if __name__ == "__main__":
    main()
