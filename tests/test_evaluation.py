import pytest
import torch

from tinybert_lab import data, evaluation, models
from tinybert_lab.core.errors import TinyBertLabError


def test_binary_f1_by_hand():
    predicted = torch.tensor([1, 1, 0, 0, 1])
    labels = torch.tensor([1, 0, 1, 0, 1])
    # TP=2, FP=1, FN=1 -> 2*2 / (4 + 1 + 1)
    assert evaluation.binary_f1(predicted, labels) == pytest.approx(4 / 6)
    assert evaluation.binary_f1(torch.tensor([0, 0]), torch.tensor([1, 0])) == 0.0


def test_predict_returns_dataset_order_despite_length_sorting(tokenizer, sst2):
    student = models.build_student("mini2", tokenizer=tokenizer, seed=0).eval()
    subset = sst2["validation"].select(range(40))
    enc = data.encode(subset, tokenizer)
    logits, idx = evaluation.predict(student, enc, tokenizer, batch_size=7)
    assert idx.tolist() == list(range(40))
    with torch.no_grad():
        for i in (0, 13, 39):
            one = tokenizer(subset[i]["sentence"], return_tensors="pt")
            torch.testing.assert_close(logits[i], student(**one).logits[0], rtol=1e-4, atol=1e-5)


def test_evaluate_accuracy_agrees_with_its_error_list(tokenizer, sst2):
    student = models.build_student("mini2", tokenizer=tokenizer, seed=0)
    result = evaluation.evaluate(student, sst2["validation"], tokenizer)
    assert result.n == 872
    assert result.accuracy == pytest.approx(1 - len(result.misclassified) / 872)
    worst = result.misclassified[0]
    assert set(worst) == {"idx", "text", "label", "predicted", "probabilities"}
    assert worst["text"] == sst2["validation"][worst["idx"]]["sentence"]
    assert worst["predicted"] != worst["label"] == sst2["validation"][worst["idx"]]["label"]
    confidences = [max(e["probabilities"]) for e in result.misclassified]
    assert confidences == sorted(confidences, reverse=True)
    assert 0.0 <= result.f1 <= 1.0
    confusion = torch.tensor(result.confusion)
    assert confusion.sum() == 872 and confusion.trace() == 872 - len(result.misclassified)
    assert confusion.sum(1).tolist() == [sum(1 for x in sst2["validation"]["label"] if x == c) for c in (0, 1)]


def test_confusion_matrix_and_macro_f1_by_hand():
    gold = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    predicted = torch.tensor([0, 0, 1, 1, 2, 2, 2, 0])
    assert evaluation.confusion_matrix(predicted, gold, 3).tolist() == [[2, 1, 0], [0, 1, 1], [1, 0, 2]]
    # class 0: TP 2, FP 1, FN 1 -> 2/3; class 1: TP 1, FP 1, FN 1 -> 1/2; class 2: TP 2, FP 1, FN 1 -> 2/3
    assert evaluation.macro_f1(predicted, gold, 3) == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)
    # class 3 never gold and never predicted: left out; binary F1 is macro's class-1 term
    assert evaluation.macro_f1(predicted, gold, 4) == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)
    assert evaluation.binary_f1(torch.tensor([1, 0, 1]), torch.tensor([1, 1, 0])) == pytest.approx(0.5)
    with pytest.raises(evaluation.TinyBertLabError, match="Class ids must be in 0..2"):
        evaluation.confusion_matrix(torch.tensor([3]), torch.tensor([0]), 3)
    with pytest.raises(evaluation.TinyBertLabError, match="2 predictions for 1 labels"):
        evaluation.confusion_matrix(torch.tensor([0, 1]), torch.tensor([0]), 3)


def test_benchmark_table_side_by_side(tokenizer, sst2):
    small = {"a": models.build_student("mini2", tokenizer=tokenizer), "b": models.build_student("bert_tiny", tokenizer=tokenizer)}
    table = evaluation.benchmark_inference(small, sst2["validation"].select(range(64)), tokenizer,
                                           threads=1, accuracy={"a": 0.5})
    assert [r["model"] for r in table.rows] == ["a", "b"]
    assert table.rows[0]["speedup"] == 1.0 and table.rows[1]["speedup"] > 0
    assert all(r["threads"] == 1 and r["batch_size"] == 32 for r in table.rows)
    assert table.rows[1]["params_m"] < table.rows[0]["params_m"]
    md = table.to_markdown().splitlines()
    assert md[0].startswith("| model | accuracy | params (M)") and md[2].startswith("| a | 50.0% |")
    assert md[3].startswith("| b |  |")
    assert torch.get_num_threads() == 2  # restored
    with pytest.raises(TinyBertLabError, match="at least one model"):
        evaluation.benchmark_inference({}, sst2["validation"], tokenizer)


def test_results_table_takes_its_speeds_from_the_one_timer_and_its_sizes_from_the_one_measure(
        tokenizer, sst2, monkeypatch, tmp_path):
    rows = data.subsample(sst2["validation"], 8, seed=0)
    student = models.build_student("bert_tiny", tokenizer=tokenizer)
    seen = {}

    def fake_timer(models_, dataset, tokenizer_, **options):
        seen.update(options)
        return {name: 100.0 * (i + 1) for i, name in enumerate(models_)}

    monkeypatch.setattr(evaluation, "time_models", fake_timer)
    table = evaluation.benchmark_inference({"a": student, "b": student}, rows, tokenizer, threads=1, repeats=4)
    assert [r["sentences_per_s"] for r in table.rows] == [100.0, 200.0] and table.rows[1]["speedup"] == 2.0
    assert seen["repeats"] == 4 and seen["threads"] == 1
    student.save_pretrained(tmp_path)  # the size is what save_pretrained writes (safetensors), within its header
    assert abs(table.rows[0]["size_mb"] * 1e6 - (tmp_path / "model.safetensors").stat().st_size) < 2_000


def test_time_models_takes_the_median_pass(tokenizer, sst2, monkeypatch):
    rows = data.subsample(sst2["validation"], 4, seed=0)
    clock = iter([0.0, 1.0, 10.0, 12.0, 20.0, 30.0])  # passes of 1, 2 and 10 s: median 2 s, best 1 s, mean 4.3 s
    monkeypatch.setattr(evaluation.time, "perf_counter", lambda: next(clock))
    speeds = evaluation.time_models({"m": models.build_student("bert_tiny", tokenizer=tokenizer)}, rows, tokenizer,
                                    repeats=3, threads=1)
    assert speeds == {"m": pytest.approx(4 / 2.0)}
    with pytest.raises(TinyBertLabError, match="repeats must be"):
        evaluation.time_models({"m": object()}, rows, tokenizer, repeats=0)
