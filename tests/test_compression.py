"""compression: int8 quantisation, ONNX export with ONNX Runtime parity, Michel et al.'s head
importance checked against finite differences, pruning equal to gating and round-tripping, errors."""

import pytest
import torch

from tinybert_lab import compression, data, evaluation, models
from tinybert_lab.core.errors import TinyBertLabError

SENTENCES = ["a gorgeous , witty , seductive movie .", "dull .", "it 's a charming and often affecting journey .",
             "the plot is predictable , but the performances are wonderful and the ending lands ."]


def tiny(tokenizer, seed=0, layers=2, heads=4):
    return models.build_student("bert_tiny", tokenizer=tokenizer, seed=seed, hidden_size=32, num_attention_heads=heads,
                                intermediate_size=64, num_hidden_layers=layers).eval()


def batch(tokenizer, sentences=SENTENCES):
    return dict(tokenizer(sentences, padding=True, return_tensors="pt"))


def test_quantize_keeps_the_predictions_and_leaves_the_original(tokenizer):
    model = tiny(tokenizer)
    before = model.classifier.weight.detach().clone()
    int8 = compression.quantize(model)
    assert type(int8.classifier).__module__.startswith("torch.ao.nn.quantized")  # int8 Linear
    assert type(model.classifier) is torch.nn.Linear and torch.equal(model.classifier.weight, before)
    with torch.no_grad():
        a, b = model(**batch(tokenizer)).logits, int8(**batch(tokenizer)).logits
    assert torch.allclose(a, b, atol=0.05) and (a.argmax(-1) == b.argmax(-1)).all()
    with pytest.raises(TinyBertLabError, match="no int8 kernels for engine 'tpu'"):
        compression.quantize(model, engine="tpu")


def test_onnx_logits_equal_pytorch_on_padded_batches(tokenizer, sst2, tmp_path):
    model = tiny(tokenizer, seed=1)
    path = compression.export_onnx(model, tokenizer, tmp_path / "m.onnx", SENTENCES[:2])
    session = compression.onnx_session(path, model.config)
    for sentences in (SENTENCES, SENTENCES[2:3], SENTENCES[1:] * 3):  # other batch sizes and lengths than traced
        inputs = batch(tokenizer, sentences)
        with torch.no_grad():
            expected = model(**inputs).logits
        assert torch.allclose(session(**inputs).logits, expected, atol=1e-4)
    from tinybert_lab import evaluation

    dev = data.subsample(sst2["validation"], 16, seed=1)
    assert evaluation.evaluate(session, dev, tokenizer).accuracy == evaluation.evaluate(model, dev, tokenizer).accuracy
    int8 = compression.onnx_session(compression.quantize_onnx(path, tmp_path / "m8.onnx"), model.config)
    assert int8.size_on_disk() < session.size_on_disk()
    assert torch.allclose(int8(**batch(tokenizer)).logits, model(**batch(tokenizer)).logits, atol=0.05)


def test_export_and_session_errors(tokenizer, tmp_path):
    model = tiny(tokenizer)
    with pytest.raises(TinyBertLabError, match="needs the model's tokenizer"):
        compression.export_onnx(model, None, tmp_path / "m.onnx", SENTENCES)
    with pytest.raises(TinyBertLabError, match="at least 2 non-empty sentences"):
        compression.export_onnx(model, tokenizer, tmp_path / "m.onnx", ["one sentence"])
    with pytest.raises(TinyBertLabError, match="No ONNX file"):
        compression.onnx_session(tmp_path / "missing.onnx", model.config)


def test_head_importance_is_the_gradient_of_the_loss_wrt_each_gate(tokenizer, sst2):
    model = tiny(tokenizer, seed=2)
    rows = data.subsample(sst2["validation"], 8, seed=0)
    importance = compression.head_importance(model, rows, tokenizer, n=8, batch_size=8, normalize=False)
    assert importance.shape == (2, 4)
    encoded = data.encode(rows, tokenizer)
    inputs = next(iter(data.make_loader(encoded, tokenizer, batch_size=8, shuffle=False)))

    def loss(gates):
        with torch.no_grad(), compression.gated_heads(model, gates):
            logits = model(**data.model_inputs(inputs)).logits
        return torch.nn.functional.cross_entropy(logits, inputs["labels"])

    eps = 1e-3
    for layer, head in [(0, 0), (1, 3)]:
        up, down = torch.ones(2, 4), torch.ones(2, 4)
        up[layer, head] += eps
        down[layer, head] -= eps
        by_hand = abs(float(loss(up) - loss(down)) / (2 * eps))
        assert importance[layer, head] == pytest.approx(by_hand, rel=1e-2, abs=1e-5)
    normalized = compression.head_importance(model, rows, tokenizer, n=8, batch_size=8)
    assert torch.allclose(normalized.norm(dim=1), torch.ones(2))


def test_pruning_equals_gating_and_round_trips(tokenizer, tmp_path):
    model = tiny(tokenizer, seed=3)
    inputs = batch(tokenizer)
    gates = torch.ones(2, 4)
    gates[0, 1] = gates[0, 3] = gates[1, 2] = 0
    with torch.no_grad(), compression.gated_heads(model, gates):
        gated = model(**inputs).logits
    compression.prune_heads(model, {0: [1, 3]})
    compression.prune_heads(model, {1: [2], 0: []})
    assert model.config.pruned_heads == {"0": [1, 3], "1": [2]}
    assert model.bert.encoder.layer[0].attention.self.query.out_features == 2 * 8
    with torch.no_grad():
        assert torch.allclose(model(**inputs).logits, gated, atol=1e-5)
    compression.prune_heads(model, {0: [0]})  # the current head 0 of layer 0 is original head 0
    assert model.config.pruned_heads == {"0": [0, 1, 3], "1": [2]}
    model.save_pretrained(tmp_path / "pruned")
    again = compression.load_pruned(tmp_path / "pruned")
    with torch.no_grad():
        assert torch.allclose(again(**inputs).logits, model(**inputs).logits, atol=1e-6)
    assert sum(p.numel() for p in again.parameters()) == sum(p.numel() for p in model.parameters())


def test_pruning_errors_and_choosing_the_least_important_heads(tokenizer):
    model = tiny(tokenizer)
    with pytest.raises(TinyBertLabError, match="would leave none"):
        compression.prune_heads(model, {0: [0, 1, 2, 3]})
    with pytest.raises(TinyBertLabError, match="out of range"):
        compression.prune_heads(model, {5: [0]})
    with pytest.raises(TinyBertLabError, match="has heads 0..3"):
        compression.prune_heads(model, {0: [4]})
    importance = torch.tensor([[0.1, 0.9, 0.2, 0.8], [0.05, 0.06, 0.07, 0.9]])
    assert compression.least_important(importance, 2) == {1: [0, 1]}
    assert compression.least_important(importance, 4) == {0: [0], 1: [0, 1, 2]}
    assert compression.least_important(importance, 6) == {0: [0, 2, 3], 1: [0, 1, 2]}  # one head stays per layer
    with pytest.raises(TinyBertLabError, match="Can prune 0..6 heads"):
        compression.least_important(importance, 7)


def test_timing_size_and_flops(tokenizer, sst2, tmp_path):
    model = tiny(tokenizer, seed=4)
    rows = data.subsample(sst2["validation"], 12, seed=0)
    session = compression.onnx_session(compression.export_onnx(model, tokenizer, tmp_path / "m.onnx", SENTENCES),
                                       model.config, threads=1)
    speeds = evaluation.time_models({"torch": model, "onnx": session}, rows, tokenizer, threads=1, repeats=2)
    assert set(speeds) == {"torch", "onnx"} and all(v > 0 for v in speeds.values())
    with pytest.raises(TinyBertLabError, match="threads=2"):
        evaluation.time_models({"onnx": session}, rows, tokenizer, threads=2)
    with pytest.raises(TinyBertLabError, match="repeats must be"):
        evaluation.time_models({"torch": model}, rows, tokenizer, repeats=0)
    fp32, int8 = models.size_on_disk(model), models.size_on_disk(compression.quantize(model))
    assert int8 < fp32 and models.size_on_disk(session) == (tmp_path / "m.onnx").stat().st_size
    # 2 layers, hidden 32, 4 heads of 8, FFN 64, 10 tokens, by hand:
    per_layer = 2 * 10 * (4 * 32 * 32) + 4 * 10 * 10 * 32 + 2 * 10 * 2 * 32 * 64
    assert compression.encoder_flops(model, length=10) == 2 * per_layer
    compression.prune_heads(model, {0: [0, 1]})  # layer 1 keeps 2 heads: 16 of 32 dimensions
    pruned = 2 * 10 * (4 * 32 * 16) + 4 * 10 * 10 * 16 + 2 * 10 * 2 * 32 * 64
    assert compression.encoder_flops(model, length=10) == per_layer + pruned


def test_compare_variants_and_the_pruning_curve(tokenizer, sst2):
    big, small = tiny(tokenizer, seed=5, layers=4), tiny(tokenizer, seed=6, layers=2)
    dev = data.subsample(sst2["validation"], 16, seed=2)
    table = compression.compare_variants({"big": (big, big), "small": (small, small),
                                          "small int8": (compression.quantize(small), small)},
                                         dev, tokenizer, threads=1, repeats=1)
    rows = {r["model"]: r for r in table.rows}
    assert rows["big"]["speedup"] == pytest.approx(1.0) and rows["big"]["flop_bound"] == pytest.approx(1.0)
    assert rows["small"]["flop_bound"] == pytest.approx(2.0)  # half the layers, same width
    assert rows["small int8"]["flop_bound"] == pytest.approx(2.0) and rows["small int8"]["size_mb"] < rows["small"]["size_mb"]
    assert "FLOP-ratio bound" in table.to_markdown()
    importance = compression.head_importance(small, dev, tokenizer, n=16)
    curve = compression.pruning_curve(small, importance, dev, tokenizer, [0, 2, 6])
    assert [c for c, _ in curve] == [0, 2, 6] and all(0 <= a <= 1 for _, a in curve)
    assert small.bert.encoder.layer[0].attention.self.num_attention_heads == 4  # the model itself unchanged
