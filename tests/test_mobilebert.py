"""MobileBERT's way (issue 27, part 3): bottleneck shapes, the transfer losses against
hand-computed values, frozen layers bit-identical during their stage, the stage schedules."""

import math

import pytest
import torch

from tinybert_lab import data, evaluation, losses, models
from tinybert_lab.core.errors import TinyBertLabError
from tinybert_lab.core.training import TrainConfig
from tinybert_lab.methods import mobilebert as mb


@pytest.fixture(scope="module")
def tiny_teacher(tokenizer):
    """A 2-layer, 128-wide, 2-head BERT classifier stands in for the teacher (seconds, not minutes)."""
    return models.build_student("bert_tiny", tokenizer=tokenizer, seed=0).eval()


@pytest.fixture(scope="module")
def encoded(sst2, tokenizer):
    return data.encode(sst2["train"].select(range(48)), tokenizer)


def _batch(tokenizer, encoded):
    return next(iter(data.make_loader(encoded, tokenizer, batch_size=8, shuffle=False)))


def test_bottlenecks_keep_the_teachers_width_between_layers(tiny_teacher, tokenizer, encoded):
    student = mb.build_mobile_student(tiny_teacher, inner_size=32, intermediate_size=64)
    layer = student.layers[0]
    assert tuple(layer.bottleneck_in.weight.shape) == (32, 128) and tuple(layer.bottleneck_out.weight.shape) == (128, 32)
    assert len(student.layers) == tiny_teacher.config.num_hidden_layers
    batch = _batch(tokenizer, encoded)
    out = student(**data.model_inputs(batch), output_hidden_states=True, output_attention_scores=True)
    B, L = batch["input_ids"].shape
    assert [tuple(h.shape) for h in out.hidden_states] == [(B, L, 128)] * 3  # embeddings + 2 layers
    assert [tuple(s.shape) for s in out.attention_scores] == [(B, 2, L, L)] * 2  # the teacher's head count
    assert tuple(out.logits.shape) == (B, 2)
    assert models.parameter_counts(student)["non_embedding"] < models.parameter_counts(tiny_teacher)["non_embedding"]
    with pytest.raises(TinyBertLabError, match="multiple of the heads"):
        mb.build_mobile_student(tiny_teacher, inner_size=33)
    with pytest.raises(TinyBertLabError, match="BERT classifier"):
        mb.build_mobile_student(student)


def test_feature_map_mse_by_hand_padding_excluded():
    # one real token: s = [1, 2, 3] normalises to [-√1.5, 0, √1.5], t = [3, 2, 1] to its mirror,
    # so the squared differences are 6, 0, 6: mean 4 (up to LayerNorm's eps)
    student = torch.tensor([[[1.0, 2.0, 3.0], [float("nan")] * 3]])
    teacher = torch.tensor([[[3.0, 2.0, 1.0], [float("inf")] * 3]])
    value = mb.feature_map_mse(student, teacher, torch.tensor([[1, 0]]))
    assert value.item() == pytest.approx(4.0, abs=1e-3)
    same_shape_scaled = mb.feature_map_mse(10 * teacher[:, :1] + 5, teacher[:, :1], torch.ones(1, 1))
    assert same_shape_scaled.item() == pytest.approx(0.0, abs=1e-6)  # normalised: scale and shift do not count
    with pytest.raises(TinyBertLabError, match="same shape"):
        mb.feature_map_mse(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4), torch.ones(1, 2))


def test_attention_transfer_is_kl_per_head_by_hand():
    # one head, two real tokens: row 1 p_T = [1/4, 3/4] vs p_S = [1/2, 1/2]; row 2 equal (KL 0)
    student = torch.zeros(1, 1, 2, 2)
    teacher = torch.tensor([[[[0.0, math.log(3)], [0.0, 0.0]]]])
    expected = (0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)) / 2
    assert losses.attention_loss(student, teacher, torch.ones(1, 2), kind="kl").item() == pytest.approx(expected, abs=1e-6)


def test_transfer_terms_and_errors(tiny_teacher, tokenizer, encoded):
    student = mb.build_mobile_student(tiny_teacher, inner_size=32, intermediate_size=64)
    objective = mb.MobileTransfer(student, tiny_teacher, layers=(1, 2),
                                  weights={"feature_map": 1.0, "attention": 1.0, "prediction": 1.0, "hard_label": 1.0})
    terms = objective.loss_terms(_batch(tokenizer, encoded))
    assert set(terms) == {"feature_map", "attention", "prediction", "hard_label"}
    assert all(torch.isfinite(v) and v > 0 for v in terms.values())
    with pytest.raises(TinyBertLabError, match="do not exist"):
        mb.MobileTransfer(student, tiny_teacher, layers=(3,), weights={"feature_map": 1.0})
    with pytest.raises(TinyBertLabError, match="need layers"):
        mb.MobileTransfer(student, tiny_teacher, weights={"attention": 1.0})
    with pytest.raises(TinyBertLabError, match="Unknown"):
        mb.MobileTransfer(student, tiny_teacher, layers=(1,), weights={"feature_maps": 1.0})


def test_progressive_stage_leaves_the_layers_below_bit_identical(tiny_teacher, tokenizer, encoded):
    student = mb.build_mobile_student(tiny_teacher, inner_size=32, intermediate_size=64)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    teacher_before = {k: v.clone() for k, v in tiny_teacher.state_dict().items()}
    stage = mb.Stage("layer 2", (2,), 2, {"feature_map": 1.0, "attention": 1.0}, steps=3)
    mb.run_stages(student, tiny_teacher, [stage], encoded, tokenizer, TrainConfig(batch_size=8, learning_rate=1e-2))
    after = student.state_dict()
    frozen = [k for k in after if k.startswith(("embeddings.", "layers.0."))]
    trained = [k for k in after if k.startswith("layers.1.") and k.endswith("weight")]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert any(not torch.equal(before[k], after[k]) for k in trained)
    assert all(torch.equal(v, tiny_teacher.state_dict()[k]) for k, v in teacher_before.items())
    assert all(p.requires_grad for p in student.parameters())  # everything learns again afterwards


def test_schedules_and_a_student_that_evaluates(tiny_teacher, tokenizer, sst2):
    progressive = mb.progressive_stages(2, 5, 7)
    assert [(s.name, s.layers, s.train_from, s.steps) for s in progressive] == [
        ("layer 1", (1,), 1, 5), ("layer 2", (2,), 2, 5), ("prediction", (), 1, 7)]
    together = mb.all_at_once_stages(2, 10, 7)
    assert sum(s.steps for s in together) == sum(s.steps for s in progressive)
    student = mb.build_mobile_student(tiny_teacher, inner_size=32, intermediate_size=64)
    result = evaluation.evaluate(student, sst2["validation"].select(range(16)), tokenizer)
    assert 0 <= result.accuracy <= 1 and result.n == 16
