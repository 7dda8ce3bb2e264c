"""beyond.run trains a method's rows once, saves them, and loads them on the next call; the full
set of methods runs in notebook 09 (executed in fast mode by test_notebooks)."""

import pytest
import torch

from tinybert_lab import beyond, data, models
from tinybert_lab.core.errors import TinyBertLabError
from tinybert_lab.core.settings import FAST_PLAN


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


def test_mobilebert_rows_train_save_and_load(small_setup, tokenizer):
    teacher = small_setup.teacher  # mini2: 2 layers, the package's scores attention
    first = beyond.run("mobilebert", small_setup)
    assert list(first) == ["MobileBERT-6 narrow, labels only", "MobileBERT-6 narrow, progressive transfer + KD",
                           "MobileBERT-6 narrow, all layers at once + KD"]
    assert all(len(model.layers) == teacher.config.num_hidden_layers for model in first.values())
    assert all(beyond.baseline_of(row) == "MobileBERT-6 narrow, labels only" for row in list(first)[1:])
    again = beyond.run("mobilebert", small_setup)  # loaded from disk
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


def test_seeded_rows_pair_each_method_with_its_own_baseline():
    runs = [{"method": "reference", "row": "TinyBERT-4, labels only", "seed": s, "steps": 150, "accuracy": a}
            for s, a in [(0, 0.80), (1, 0.82), (2, 0.81)]]
    runs += [{"method": "reference", "row": "TinyBERT-4, prediction KD", "seed": s, "steps": 150, "accuracy": a}
             for s, a in [(0, 0.84), (1, 0.85), (2, 0.86)]]
    runs += [{"method": "augmentation", "row": "TinyBERT-4, KD on 2000 sentences × augmentation (9000 rows)",
              "seed": 0, "steps": 150, "accuracy": 0.5}]
    runs += [{"method": "bilstm", "row": "BiLSTM, logit MSE (Tang)", "seed": 0, "steps": 150, "accuracy": 0.7}]
    rows = {r.row: r for r in beyond.seeded_rows(runs)}
    kd = rows["TinyBERT-4, prediction KD"]
    assert kd.baseline == "TinyBERT-4, labels only" and kd.seeds == (0, 1, 2)
    assert kd.difference == pytest.approx(0.04) and kd.difference_std == pytest.approx(0.01) and kd.verdict == "clear gain"
    assert rows["TinyBERT-4, labels only"].baseline is None and rows["TinyBERT-4, labels only"].std == pytest.approx(0.01)
    augmented = rows["TinyBERT-4, KD on 2000 sentences × augmentation (9000 rows)"]
    assert augmented.difference == pytest.approx(-0.30) and augmented.verdict == "too few seeds to tell"
    assert rows["BiLSTM, logit MSE (Tang)"].difference is None  # its baseline is not in the record
    assert beyond.seeded_rows(runs, steps=600) == []


def test_seeded_rows_plot_starts_at_zero_and_names_the_noise():
    import matplotlib

    from tinybert_lab import viz

    matplotlib.use("Agg")
    runs = [{"method": "reference", "row": row, "seed": s, "steps": 150, "accuracy": 0.8 + 0.01 * s}
            for row in ("TinyBERT-4, labels only", "TinyBERT-4, prediction KD") for s in range(3)]
    fig = viz.plot_seeded_rows(beyond.seeded_rows(runs), teacher_accuracy=0.876, eval_size=872)
    ax = fig.axes[0]
    assert ax.get_xlim() == (0, 100)
    assert "dev noise (95 %): ±2.2" in [t.get_text() for t in ax.get_legend().get_texts()]
    texts = [t.get_text() for t in ax.texts]
    # the KD row's difference from its baseline sits in the column right of the axes, under its header
    assert "+0.0 ± 0.0: within noise" in texts and "vs its labels-only baseline" in texts
    beside = [t for t in ax.texts if t.get_text().endswith("within noise")]
    assert beside[0].get_position()[0] > 1 and not beside[0].get_clip_on()  # x in axes fractions: past the right edge
    assert fig.get_size_inches()[0] >= 11  # room for that column
    assert min(t.get_fontsize() for t in ax.texts + ax.get_yticklabels()) >= 8
