"""Workshop exercises: solution cells become TODO stubs; checks say right or wrong; an exercise
notebook with its solutions put back runs end to end."""

import os

import nbformat
import pytest
import torch

from conftest import REPO
from tinybert_lab import checks, exercises

NB01 = REPO / "notebooks" / "01_soft_targets_and_temperature.ipynb"
NB04 = REPO / "notebooks" / "04_tinybert_losses.ipynb"


def test_solution_cells_become_stubs_that_keep_the_signature():
    original = nbformat.read(NB04, as_version=4)
    exercise, count = exercises.make_exercise(original)
    assert count == 1
    stub = next(c for c in exercise.cells if "exercise" in c.metadata.get("tags", []))
    assert stub.source.startswith("# TODO")
    assert "def attention_mse(student_scores, teacher_scores, attention_mask):" in stub.source
    assert "pow(2)" not in stub.source and "raise NotImplementedError" in stub.source
    assert not any("solution" in c.metadata.get("tags", []) for c in exercise.cells)
    # the check cell right after is kept
    position = exercise.cells.index(stub)
    assert "check" in exercise.cells[position + 1].metadata.get("tags", [])
    namespace = {}
    exec(stub.source, namespace)
    with pytest.raises(NotImplementedError):
        checks.check_attention_mse(namespace["attention_mse"])


def test_checks_accept_right_answers_and_explain_wrong_ones():
    assert checks.check_softmax_with_temperature(lambda z, t: torch.softmax(z / t, -1))
    with pytest.raises(AssertionError, match="divide the logits by T"):
        checks.check_softmax_with_temperature(lambda z, t: torch.softmax(z, -1))

    def ignores_mask(s, t, mask):
        return (s - t).pow(2).mean()

    with pytest.raises(AssertionError, match="both the query and the key are real tokens"):
        checks.check_attention_mse(ignores_mask)


def test_exercise_notebook_with_solutions_put_back_runs(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("TINYBERT_LAB_FAST", "1")
    monkeypatch.setenv("TINYBERT_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TINYBERT_LAB_OUT", str(tmp_path / "out"))
    original = nbformat.read(NB01, as_version=4)
    exercise, _ = exercises.make_exercise(original)
    restored = exercises.put_solutions_back(exercise, original)
    NotebookClient(restored, timeout=600, resources={"metadata": {"path": str(NB01.parent)}}).execute()
    outputs = [o for c in restored.cells for o in c.get("outputs", [])]
    assert any("✓ softmax_with_temperature: correct." in o.get("text", "") for o in outputs)


def test_command_writes_every_notebook(tmp_path):
    exercises.main(["--out", str(tmp_path)])
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == sorted(
        p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
