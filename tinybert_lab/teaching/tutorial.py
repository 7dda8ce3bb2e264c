"""The tutorial: the steps notebooks share, and the headless main job that runs them all.

Notebooks call ``plan()``, ``load_data()``, ``fine_tuned_teacher()``, ``save_student()`` and
``load_student()`` so that every notebook uses the same data sizes, the same (cached) teacher and
the students the previous notebook trained; ``expect()`` announces a long cell's time. ``python -m
tinybert_lab.teaching.tutorial`` executes every notebook in ``notebooks/`` in order (live mode;
``TINYBERT_LAB_FULL_SIZE=1``: full size; ``TINYBERT_LAB_FAST=1``: fast) and leaves in
``outputs/`` (``TINYBERT_LAB_OUT``): the executed notebooks, ``figures/``, ``results.md`` (the
results table, written by notebook 07) and ``run_times.md`` (each notebook's time and peak
memory).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from ..core import data, models, training
from ..core.errors import TinyBertLabError
from ..core.settings import OUT_ENV, TutorialPlan, out_dir, tutorial_plan

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def plan() -> TutorialPlan:
    """This run's sizes and steps (``settings.LIVE_PLAN``; ``FULL_PLAN`` or ``FAST_PLAN`` by environment)."""
    return tutorial_plan()


def load_data(p: TutorialPlan | None = None):
    """``(train, dev)``: SST-2 train (the plan's subset, seeded) and dev (all 872, or a subset)."""
    p = p or plan()
    splits = data.load_sst2()
    return data.subsample(splits["train"], p.train_size, seed=0), data.subsample(splits["validation"], p.dev_size)


def teacher_config(p: TutorialPlan) -> training.TrainConfig:
    """The fine-tuning settings of the tutorial's teacher (full mode: 400 steps, lr 1e-4)."""
    return training.TrainConfig(steps=p.teacher_steps, batch_size=p.batch_size, eval_every=max(p.teacher_steps // 4, 1))


def fine_tuned_teacher(p: TutorialPlan | None = None, *, progress: bool = True) -> training.FineTuneResult:
    """The offline MiniLM fine-tuned on SST-2: trained on the first call (about 2.5 minutes on
    2 cores in full mode), loaded from the cache after that."""
    p = p or plan()
    splits = data.load_sst2()
    train = data.subsample(splits["train"], p.teacher_train_size, seed=0)
    dev = data.subsample(splits["validation"], p.dev_size)
    return training.fine_tune_teacher(train_data=train, eval_data=dev, config=teacher_config(p), progress=progress)


def save_student(model, name: str, p: TutorialPlan | None = None) -> Path:
    """Keep a trained student for later notebooks (safetensors, ``save_pretrained``)."""
    folder = (p or plan()).artifacts / name
    with models.quiet_transformers():
        model.save_pretrained(folder)
    return folder


def load_student(name: str, p: TutorialPlan | None = None):
    """A student saved by an earlier notebook; a clear error says which notebook to run first."""
    folder = (p or plan()).artifacts / name
    if not (folder / "config.json").is_file():
        raise TinyBertLabError(
            f"No saved student {name!r} in {folder}. Run notebook 06 (task distillation) first: it trains "
            "and saves the students that notebooks 07 and 08 compare.")
    return models.load_classifier(folder, num_labels=2)


# --------------------------------------------------------------------------------------------
# The main job: run every notebook headlessly
# --------------------------------------------------------------------------------------------
def notebook_paths(folder: Path = NOTEBOOKS) -> list[Path]:
    """The numbered notebooks (``01_…ipynb`` …), in order."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def _in_slices(get_msg, slice_seconds: float = 1.0):
    """Wrap a kernel channel's ``get_msg(timeout)`` so it polls in short slices up to the same
    deadline. Seen here under load: the kernel's reply had arrived, but the socket poll missed the
    wake-up and returned only at its timeout (a cell, often a widget cell, then "took" exactly the
    per-cell timeout, 180-900 s, and finished normally). A fresh poll every second sees the waiting
    message, so a missed wake-up costs at most ``slice_seconds``."""
    from queue import Empty

    async def get_msg_in_slices(timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = slice_seconds if deadline is None else min(slice_seconds, max(0.0, deadline - time.monotonic()))
            try:
                return await get_msg(timeout=left)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    return get_msg_in_slices


def _notebook_client(notebook, socket_dir: str, **options):
    """An ``nbclient.NotebookClient`` whose shell and iopub channels poll in slices (``_in_slices``).

    The kernel talks over local sockets in ``socket_dir`` (IPC transport) rather than TCP, so it
    prints no "running over TCP without encryption" warning and nothing leaves the machine."""
    from nbclient import NotebookClient
    from traitlets.config import Config

    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(Path(socket_dir) / "kernel")

    class SlicedPollingClient(NotebookClient):
        async def async_start_new_kernel_client(self):
            client = await super().async_start_new_kernel_client()
            for channel in (client.shell_channel, client.iopub_channel):
                channel.get_msg = _in_slices(channel.get_msg)
            return client

    return SlicedPollingClient(notebook, config=config, **options)


def execute_notebook(notebook, *, timeout: int, folder: Path | None = None) -> None:
    """Run every cell of ``notebook`` (an ``nbformat`` notebook, filled in place with its outputs)
    in a fresh kernel whose working folder is ``folder``, each cell bounded by ``timeout`` seconds.

    Its kernel channels poll in slices (``_in_slices``) over local sockets: a plain
    ``NotebookClient`` hung here once for ten minutes on a missed wake-up with both sides idle,
    so tests and the tutorial runner all execute notebooks through this function."""
    options = {"resources": {"metadata": {"path": str(folder)}}} if folder else {}
    with tempfile.TemporaryDirectory(prefix="tinybert-kernel-") as sockets:
        _notebook_client(notebook, sockets, timeout=timeout, kernel_name="python3", shutdown_kernel="immediate",
                         **options).execute()


LONG_CELL_SECONDS = 20  # a cell computing longer than this says first how long it will take (``expect``)
WAIT_TAG = "wait:"  # a long cell's tag, ``wait:<notebook number>-<name>``: the key ``expect`` looks up


def cell_times(notebook) -> list[dict]:
    """Each code cell's seconds, from the timing nbclient writes into the executed notebook's
    metadata: ``[{"cell": index, "wait": its wait: tag or None, "seconds": s}, ...]``."""
    import datetime

    def moment(text):
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))

    times = []
    for index, cell in enumerate(notebook.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        if cell.cell_type != "code" or "iopub.execute_input" not in timing or "shell.execute_reply" not in timing:
            continue
        seconds = (moment(timing["shell.execute_reply"]) - moment(timing["iopub.execute_input"])).total_seconds()
        wait = next((tag[len(WAIT_TAG):] for tag in cell.get("metadata", {}).get("tags", []) if tag.startswith(WAIT_TAG)),
                    None)
        times.append({"cell": index, "wait": wait, "seconds": round(seconds, 1)})
    return times


class NotebookRun(NamedTuple):
    """What ``run_notebook`` measured: wall ``seconds`` (every attempt), the kernel's peak resident
    memory in GB, ``cell_times`` of the last attempt, and the ``attempts`` it took (a second
    attempt's cells are short where training resumed from checkpoints)."""

    seconds: float
    peak_gb: float
    cells: list
    attempts: int


def run_notebook(path: Path, out: Path, timeout: int | None = None, max_attempts: int = 2) -> NotebookRun:
    """Execute one notebook in a fresh kernel (cwd: the notebooks folder) and save the executed
    copy to ``out``.

    ``timeout`` bounds each cell (default: 180 s in fast mode, 900 s in full mode). A cell that
    times out is almost always a lost kernel message under heavy load (seen once in CI-like
    conditions, not reproducible), so the notebook is run once more in a new kernel; training
    cells resume from their checkpoints, so no finished work is redone.
    """
    import nbformat
    from nbclient.exceptions import CellTimeoutError

    if max_attempts < 1:
        raise TinyBertLabError(f"max_attempts must be at least 1, got {max_attempts}.")
    timeout = timeout or (180 if plan().fast else 900)
    start = time.perf_counter()
    for attempt in range(1, max_attempts + 1):
        notebook = nbformat.read(path, as_version=4)
        try:
            execute_notebook(notebook, timeout=timeout, folder=path.parent)
            break
        except CellTimeoutError:
            if attempt == max_attempts:
                raise
            print(f"  a cell of {path.name} got no answer within {timeout} s; running the notebook again", flush=True)
        finally:
            out.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, out / path.name)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest kernel so far
    return NotebookRun(time.perf_counter() - start, peak_kb / 1024 / 1024, cell_times(notebook), attempt)


def reference_step_seconds(steps: int = 5, batch_size: int = 32, length: int = 32) -> float:
    """Median seconds of one training step of the offline teacher (a batch of ``batch_size``
    random sentences of ``length`` tokens, forward, backward, AdamW): printed beside the run's
    times, because machines differ up to 2x in speed and a time alone says little."""
    import statistics

    import torch

    teacher = models.load_teacher(num_labels=2).train()
    optimizer = torch.optim.AdamW(teacher.parameters(), lr=1e-5)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 5000, (batch_size, length), generator=generator)
    labels = torch.randint(0, 2, (batch_size,), generator=generator)
    times = []
    for _ in range(steps + 1):  # the first step warms up and is not counted
        started = time.perf_counter()
        teacher(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


TIMES_RECORD = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "tutorial_times.json"
NOTEBOOK_BUDGET = 300  # reference steps of live computing per notebook (3 minutes at a 0.6 s reference step)
TUTORIAL_BUDGET = 1_500  # reference steps for the whole tutorial, teachers cached (15 minutes at 0.6 s)


def times_table(run: dict) -> str:
    """``run_times.md``: each notebook's seconds and reference steps (its seconds divided by the
    reference step measured in the same run), peak memory and longest cell, against the budgets."""
    reference = run["reference_step_seconds"]
    lines = [f"# Tutorial run ({run['mode']} mode)", "",
             "| notebook | seconds | reference steps | peak memory (GB) | longest cell (s) |", "|---|---|---|---|---|"]
    budgeted = run["mode"] == "live"  # the budgets are the workshop's (live mode's)
    for nb in run["notebooks"]:
        steps = nb["seconds"] / reference
        flag = " (over the 3-minute budget)" if steps > NOTEBOOK_BUDGET and budgeted else ""
        longest = max((c["seconds"] for c in nb["cells"]), default=0)
        again = (f" ({nb['attempts']} attempts: a cell got no answer; its cells resumed)"
                 if nb.get("attempts", 1) > 1 else "")
        lines.append(f"| {nb['notebook']}{again} | {nb['seconds']:.0f} | {steps:,.0f}{flag} | {nb['peak_gb']:.2f} | {longest:.0f} |")
    total = sum(nb["seconds"] for nb in run["notebooks"])
    over = " (over the 15-minute budget)" if total / reference > TUTORIAL_BUDGET and budgeted else ""
    lines += [f"| **total** | **{total:.0f}** | **{total / reference:,.0f}{over}** | | |", "",
              f"Reference measured in the same run: one teacher training step (32 sentences x 32 tokens) took "
              f"{reference:.2f} s. Budgets: {NOTEBOOK_BUDGET} reference steps per notebook, {TUTORIAL_BUDGET:,} for "
              f"the whole tutorial (3 and 15 minutes where a reference step takes 0.6 s).", ""]
    silent = [f"{nb['notebook']} cell {c['cell']} ({c['seconds']:.0f} s)" for nb in run["notebooks"] for c in nb["cells"]
              if c["seconds"] > LONG_CELL_SECONDS and not c["wait"]]
    if silent and run["mode"] != "fast":
        lines += [f"Cells over {LONG_CELL_SECONDS} s that announce nothing (tag them wait:<key> and call "
                  f"tutorial.expect): {', '.join(silent)}.", ""]
    return "\n".join(lines)


def this_machine_reference() -> float:
    """This machine's reference step in seconds: measured once (a few seconds) and kept in the
    cache for a day, so every notebook does not measure it again."""
    import json
    import platform

    from ..core.settings import cache_dir

    path = cache_dir() / "reference_step.json"
    try:
        stored = json.loads(path.read_text())
        if stored["machine"] == platform.node() and time.time() - stored["when"] < 24 * 3600:
            return float(stored["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not measured yet, or unreadable: measure again
    seconds = reference_step_seconds(steps=3)
    try:
        path.write_text(json.dumps({"machine": platform.node(), "when": time.time(), "seconds": seconds}))
    except OSError:
        pass  # a read-only cache: measure again next time
    return seconds


def recorded_cell(key: str, mode: str, record: Path | None = None) -> float | None:
    """Reference steps the latest recorded run of ``mode`` measured for the cell tagged ``wait:<key>``
    (a notebook that needed a second attempt is passed over: its cells resumed from checkpoints)."""
    import json

    record = record or TIMES_RECORD
    try:
        runs = json.loads(record.read_text())["runs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no record (or an unreadable one): no estimate
    for run in reversed(runs):
        if run["mode"] != mode or run.get("teachers") == "trained in the run":
            continue
        for nb in run["notebooks"]:
            if nb.get("attempts", 1) > 1:
                continue
            for cell in nb["cells"]:
                if cell["wait"] == key:
                    return cell["seconds"] / run["reference_step_seconds"]
    return None


def expect(key: str, what: str = "this cell") -> None:
    """Say, before a long cell computes, how long it will take here: the reference steps the
    tutorial runner measured for the cell tagged ``wait:<key>`` (``benchmarks/results/tutorial_times.json``,
    this mode) times this machine's reference step. A finished, saved result loads in seconds."""
    mode = plan().name
    steps = recorded_cell(key, mode)
    if steps is None:
        print(f"{what}: computes for a while (not yet timed in {mode} mode; progress below).", flush=True)
        return
    reference = this_machine_reference()
    seconds = steps * reference
    shown = f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} minutes"
    print(f"{what}: about {shown} here ({steps:,.0f} reference steps of {reference:.2f} s; measured by the "
          "tutorial runner; seconds if it already ran and was saved)", flush=True)


def run_all(paths: list[Path], out: Path) -> dict:
    """Run ``paths`` in order, each in a fresh kernel, executed copies in ``out/notebooks``; the
    times as a record's run: mode, the reference step measured first, and per notebook its
    seconds, peak memory and cells over ``LONG_CELL_SECONDS`` or tagged ``wait:``."""
    mode = plan().name
    reference = reference_step_seconds()
    print(f"reference: one teacher training step (32 sentences x 32 tokens) takes {reference:.2f} s here", flush=True)
    run = {"mode": mode, "reference_step_seconds": round(reference, 3), "notebooks": []}
    for path in paths:
        print(f"running {path.name} ({mode} mode) ...", flush=True)
        seconds, peak_gb, cells, attempts = run_notebook(path.resolve(), out / "notebooks")
        run["notebooks"].append({"notebook": path.name, "seconds": round(seconds, 1), "peak_gb": round(peak_gb, 2),
                                 "cells": [c for c in cells if c["seconds"] > LONG_CELL_SECONDS or c["wait"]],
                                 "attempts": attempts})
        print(f"  done in {seconds:.0f} s, {seconds / reference:,.0f} reference steps (peak kernel memory so far "
              f"{peak_gb:.2f} GB)", flush=True)
    (out / "run_times.md").write_text(times_table(run))
    return run


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: $TINYBERT_LAB_OUT or outputs/)")
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: all, in order)")
    args = parser.parse_args(argv)
    if args.out is not None:
        os.environ[OUT_ENV] = str(args.out.resolve())
    out = out_dir().resolve()
    os.environ[OUT_ENV] = str(out)  # the kernels write their figures and tables here too
    paths = args.notebooks or notebook_paths()
    if not paths:
        raise TinyBertLabError(f"No notebooks found in {NOTEBOOKS}.")
    run = run_all(paths, out)
    print(times_table(run))
    results = out / "results.md"
    if results.is_file():
        print(results.read_text())
    print(f"Executed notebooks, figures and tables are in {out}/", file=sys.stderr)
    return run


if __name__ == "__main__":
    main()
