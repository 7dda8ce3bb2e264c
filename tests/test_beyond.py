"""beyond.run trains a method's rows once, saves them, and loads them on the next call; the full
set of methods runs in notebook 09 (executed in fast mode by test_notebooks)."""

import pytest
import torch

from tinybert_lab import beyond, data, models
from tinybert_lab.errors import TinyBertLabError
from tinybert_lab.settings import FAST_PLAN


@pytest.fixture
def small_setup(tmp_path, tmp_cache, tokenizer, sst2):
    teacher = models.build_student("mini2", tokenizer=tokenizer, seed=5).eval()  # a stand-in teacher
    return beyond.Setup(FAST_PLAN, tokenizer, teacher, data.subsample(sst2["train"], 48, seed=0),
                        data.subsample(sst2["validation"], 16), steps=3, folder=tmp_path / "beyond")


def test_every_method_is_described_and_runnable():
    assert set(beyond.METHODS) == set(beyond._RUNNERS)


def test_rows_are_saved_and_loaded_back(small_setup, tokenizer):
    first = beyond.run("bilstm", small_setup)
    assert list(first) == ["BiLSTM, labels only", "BiLSTM, logit MSE (Tang)"]
    accuracy = beyond.accuracies("bilstm", small_setup)
    assert set(accuracy) == set(first) and all(0 <= a <= 1 for a in accuracy.values())
    again = beyond.run("bilstm", small_setup)  # loaded, not retrained
    inputs = tokenizer(["a fine film"], return_tensors="pt")
    for row in first:
        with torch.no_grad():
            torch.testing.assert_close(again[row](**inputs).logits, first[row].eval()(**inputs).logits)


def test_an_interrupted_method_trains_again(small_setup):
    beyond.run("bilstm", small_setup)
    (small_setup.folder / "bilstm" / "rows.json").unlink()  # as if the process died before the end
    assert list(beyond.run("bilstm", small_setup)) == ["BiLSTM, labels only", "BiLSTM, logit MSE (Tang)"]


def test_results_table_marks_each_row_with_its_method(small_setup):
    trained = {"bilstm": beyond.run("bilstm", small_setup)}
    table = beyond.results_table(trained, small_setup)
    assert [row["method"] for row in table.rows] == ["teacher", "bilstm", "bilstm"]
    assert table.rows[0]["speedup"] == pytest.approx(1.0)


def test_unknown_method_and_missing_results_are_clear_errors(small_setup):
    with pytest.raises(TinyBertLabError, match="Unknown method 'rkdd'. Choose one of: reference, distilbert"):
        beyond.run("rkdd", small_setup)
    with pytest.raises(TinyBertLabError, match=r"call beyond.run\('mutual', setup\) first"):
        beyond.accuracies("mutual", small_setup)
