"""The notebooks: paired with py:percent files, committed without outputs, short code cells, and
every one executed end to end in fast mode (the README's main job, with TINYBERT_LAB_FAST=1)."""

import json
import os
import subprocess
import sys

import jupytext
import pytest

from conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_numbered_sequence_is_there():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, 11)]


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
    run = subprocess.run([sys.executable, "-m", "tinybert_lab.tutorial", "--out", str(out)], env=env,
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for path in NOTEBOOKS:
        executed = json.loads((out / "notebooks" / path.name).read_text())
        outputs = [o for c in executed["cells"] for o in c.get("outputs", [])]
        assert not [o for o in outputs if o["output_type"] == "error"], path.name
        assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} shows no figure"
    results = (out / "results.md").read_text()
    assert "TinyBERT-4, distilled" in results and "speed-up" in results
    assert "labels only (teacher init)" in results and "labels only (random init)" in results  # the fair row
    assert (out / "figures" / "10_when_distillation_pays.png").is_file()
    assert (out / "figures" / "08_attention_comparison.svg").is_file()
    beyond = (out / "results_beyond.md").read_text()  # notebook 09: every method's rows in one table
    assert all(row in beyond for row in ("DistilBERT-3, KD + cosine", "BiLSTM, logit MSE (Tang)", "RKD + labels",
                                         "mutual learning (a)", "KD from 2 teachers", "augmentation"))
    assert "| **total** |" in (out / "run_times.md").read_text()


def test_a_hanging_cell_is_retried_once_then_reported(tmp_path, capsys):
    import nbformat
    from nbclient.exceptions import CellTimeoutError

    from tinybert_lab import tutorial

    path = tmp_path / "99_hang.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time; time.sleep(30)")]), path)
    with pytest.raises(CellTimeoutError):
        tutorial.run_notebook(path, tmp_path / "out", timeout=2, attempts=2)
    assert "running the notebook again" in capsys.readouterr().out
    assert (tmp_path / "out" / "99_hang.ipynb").is_file()  # what ran is saved for inspection
