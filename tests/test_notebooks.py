"""The notebooks: paired with py:percent files, committed without outputs, short code cells, and
every one executed end to end in fast mode (the README's main job, with TINYBERT_LAB_FAST=1)."""

import json
import os
import subprocess
import sys

import jupytext
import pytest

from conftest import REPO
from tinybert_lab import recipe
from tinybert_lab.core.errors import TinyBertLabError
from tinybert_lab.core.settings import FAST_PLAN

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_numbered_sequence_is_there():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, 14)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_pair_in_sync_no_outputs_short_cells(path):
    notebook = json.loads(path.read_text())
    paired = jupytext.read(path.with_suffix(".py"))
    ours = [(c["cell_type"], "".join(c["source"]).strip()) for c in notebook["cells"]]
    theirs = [(c.cell_type, c.source.strip()) for c in paired.cells]
    assert ours == theirs, f"{path.name} and its .py differ: run `jupytext --sync {path}`"
    assert not any(c.get("outputs") or c.get("execution_count") for c in notebook["cells"] if c["cell_type"] == "code")
    longest = max(len(c.source.splitlines()) for c in paired.cells if c.cell_type == "code")
    assert longest <= 15
    assert "What you saw" in paired.cells[-1].source


def test_every_notebook_runs_in_fast_mode(tmp_path):
    env = {**os.environ, "TINYBERT_LAB_FAST": "1", "TINYBERT_LAB_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "tinybert_lab.teaching.tutorial", "--out", str(out)], env=env,
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for path in NOTEBOOKS:
        executed = json.loads((out / "notebooks" / path.name).read_text())
        outputs = [o for c in executed["cells"] for o in c.get("outputs", [])]
        assert not [o for o in outputs if o["output_type"] == "error"], path.name
        stderr = [o["text"] for o in outputs if o.get("name") == "stderr"]  # warnings, load reports, tracebacks
        assert not stderr, f"{path.name} writes to stderr: {''.join(stderr)[:500]}"
        text = "".join("".join(o.get("text", "")) for o in outputs)  # every exercise's solution passes its check
        solved = sum("solution" in c.get("metadata", {}).get("tags", []) for c in executed["cells"])
        assert "✗" not in text and text.count("✓") >= solved, path.name
        assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} shows no figure"
    results = (out / "results.md").read_text()
    assert "TinyBERT-4, distilled" in results and "speed-up" in results
    assert "labels only (teacher init)" in results and "labels only (random init)" in results  # the fair row
    assert (out / "figures" / "10_when_distillation_pays.png").is_file()
    assert (out / "figures" / "08_attention_comparison.svg").is_file()
    beyond = (out / "results_beyond.md").read_text()  # notebook 09: every method's rows in one table
    assert all(row in beyond for row in ("DistilBERT-3, KD + cosine", "BiLSTM, logit MSE (Tang)", "RKD + labels",
                                         "mutual learning (a)", "KD from 2 teachers", "augmentation",
                                         "MiniLMv2 relations + labels", "6 heads random init, labels only",
                                         "PKD-skip", "PKD-last", "KD via a TinyBERT-4 assistant",
                                         "MobileBERT-6 narrow, progressive transfer + KD",
                                         "MobileBERT-6 narrow, all layers at once + KD", "MobileBERT-6 narrow, labels only"))
    compression = (out / "results_compression.md").read_text()  # notebook 11: every variant measured
    assert all(row in compression for row in ("teacher int8", "student ONNX Runtime fp32", "student ONNX Runtime int8",
                                              "heads pruned, int8", "FLOP-ratio bound"))
    assert (out / "figures" / "11_compression.png").is_file() and (out / "figures" / "11_pruning_curve.png").is_file()
    nb11 = _text(out / "notebooks" / "11_after_distillation.ipynb")
    assert "reloaded with the same logits: True" in nb11
    gap = float(nb11.split("ONNX Runtime vs PyTorch, on ")[1].split(": ")[1].split()[0])
    assert gap < 1e-4  # the ONNX model computes the same logits
    own = (out / "results_own_task.md").read_text()  # notebook 12: the learner's task, teacher and both students
    assert all(row in own for row in ("teacher (MiniLM-L6, fine-tuned)", "TinyBERT-4, distilled",
                                      "TinyBERT-4, labels only (same start)", "macro-F1"))
    assert (out / "figures" / "12_confusion.png").is_file()
    times = (out / "run_times.md").read_text()
    assert "| **total** |" in times and "Reference measured in the same run: one teacher training step" in times
    # Computed claims that must hold whatever the numbers: the map printed is the map used.
    nb06, nb08 = _text(out / "notebooks" / "06_task_distillation.ipynb"), _text(out / "notebooks" / "08_attention_comparison.ipynb")
    init_map = [f"student layer {m}    ← teacher layer {t}   (weight 1)" for m, t in zip(range(1, 5), [1, 2, 4, 6])]
    assert all(line in nb06 and line in nb08 for line in init_map)  # built from layers 1, 2, 4, 6, distilled toward them
    assert "initialisation" in nb06 and "distillation" in nb06  # the split of the gain, computed
    assert (out / "figures" / "06_two_scales.png").is_file()  # the same questions at both scales, from the records
    kd = recipe.CHOSEN["kd-teacher"]  # 06 trains with the settings chosen on the validation slice (shipped)
    steps = kd.stage_steps(FAST_PLAN.budget)
    assert f"intermediate stage {steps[0]} steps, prediction stage {steps[1]} steps, lr {kd.learning_rate:g}" in nb06
    nb10 = _text(out / "notebooks" / "10_when_distillation_pays.ipynb")
    assert "runs in the record" in nb10 and "gold labels only" in nb10
    nb13 = _text(out / "notebooks" / "13_distilling_a_generative_model.ipynb")  # the generative model
    assert "fewer than GPT-2 small's 124 M" in nb13 and "runs in the record" in nb13
    assert "reverse KL: peak at token 10" in nb13 or "reverse KL: peak at token 30" in nb13  # it chose one mode
    assert "forward KL: peak at token 20" in nb13  # between the modes
    markdown = "".join("".join(o.get("data", {}).get("text/markdown", "")) for c in json.loads(
        (out / "notebooks" / "13_distilling_a_generative_model.ipynb").read_text())["cells"] for o in c.get("outputs", []))
    assert "| teacher | 1 |" in markdown and "| student | 8 |" in markdown  # the generation speed table
    assert (out / "figures" / "13_next_token.png").is_file() and (out / "figures" / "13_attention.png").is_file()


def _text(path) -> str:
    """Every text output (streams and plain-text results) of an executed notebook."""
    cells = json.loads(path.read_text())["cells"]
    parts = []
    for output in (o for c in cells for o in c.get("outputs", [])):
        parts.append("".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def test_a_hanging_cell_is_retried_once_then_reported(tmp_path, capsys):
    import nbformat
    from nbclient.exceptions import CellTimeoutError

    from tinybert_lab import tutorial

    path = tmp_path / "99_hang.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time; time.sleep(30)")]), path)
    with pytest.raises(CellTimeoutError):
        tutorial.run_notebook(path, tmp_path / "out", timeout=2, max_attempts=2)
    assert "running the notebook again" in capsys.readouterr().out
    with pytest.raises(TinyBertLabError, match="max_attempts must be at least 1, got 0"):
        tutorial.run_notebook(path, tmp_path / "out", max_attempts=0)
    assert (tmp_path / "out" / "99_hang.ipynb").is_file()  # what ran is saved for inspection


def test_kernel_polls_come_back_within_a_slice_and_still_time_out():
    """The runner's polling wrapper (see tutorial._in_slices): a message that a first poll missed is
    picked up by the next one-second slice, and a poll that never sees one still ends at the deadline."""
    import asyncio
    import time
    from queue import Empty

    from tinybert_lab.teaching.tutorial import _in_slices

    calls = []

    async def missed_once(timeout=None):  # the message is there, but the first poll does not wake
        calls.append(timeout)
        if len(calls) == 1:
            await asyncio.sleep(timeout)
            raise Empty
        return {"msg_type": "execute_reply"}

    start = time.monotonic()
    assert asyncio.run(_in_slices(missed_once, slice_seconds=0.05)(timeout=30))["msg_type"] == "execute_reply"
    assert time.monotonic() - start < 5 and calls[0] == 0.05

    async def silent(timeout=None):
        await asyncio.sleep(timeout)
        raise Empty

    start = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(_in_slices(silent, slice_seconds=0.05)(timeout=0.3))
    assert 0.25 < time.monotonic() - start < 2


def test_the_runner_prints_no_kernel_warnings_and_leaves_no_sockets(tmp_path, capfd, monkeypatch):
    import nbformat

    from tinybert_lab import tutorial

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "98_quiet.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")]), path)
    assert tutorial.run_notebook(path, tmp_path / "out").attempts == 1
    captured = capfd.readouterr()
    assert "WARNING" not in captured.err and "TCP" not in captured.err, captured.err
    executed = nbformat.read(tmp_path / "out" / "98_quiet.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "42\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["98_quiet.ipynb", "out"]  # no kernel-ipc-* files
