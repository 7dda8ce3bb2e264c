"""MiniLMv2 relation loss and Patient KD's [CLS] loss: hand values, invariants, padding, errors."""

import math

import pytest
import torch

from tinybert_lab import losses
from tinybert_lab.core.errors import TinyBertLabError


def test_relation_scores_by_hand():
    x = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # (B=1, L=2, W=2)
    assert torch.allclose(losses.relation_scores(x, 1), torch.tensor([[[[1.0, 0.0], [0.0, 4.0]]]]) / math.sqrt(2))
    two = losses.relation_scores(x, 2)  # two heads of width 1: x_1 x_1ᵀ and x_2 x_2ᵀ
    assert two.shape == (1, 2, 2, 2)
    assert torch.allclose(two[0, 0], torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    assert torch.allclose(two[0, 1], torch.tensor([[0.0, 0.0], [0.0, 4.0]]))


def test_relation_kl_by_hand():
    teacher = torch.tensor([[[1.0], [0.0]]])  # scores [[1, 0], [0, 0]]
    student = torch.zeros(1, 2, 1)  # uniform rows
    p = math.e / (math.e + 1)
    row1 = p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5)
    value = losses.relation_kl(student, teacher, torch.ones(1, 2), relation_heads=1)
    assert value.item() == pytest.approx(row1 / 2, rel=1e-6)  # the second row is uniform on both sides


def test_relation_loss_is_zero_for_equal_relations_across_widths_and_rotations():
    torch.manual_seed(0)
    teacher = torch.randn(3, 5, 4)  # width 4, 2 relation heads of size 2
    mask = torch.ones(3, 5)
    assert losses.relation_kl(teacher, teacher, mask, 2).item() == pytest.approx(0.0, abs=1e-6)
    # a student 8 wide: each head's vectors padded with zeros to size 4, rescaled for √d_r = 2 instead of √2
    heads = teacher.view(3, 5, 2, 2)
    student = torch.cat([heads, torch.zeros(3, 5, 2, 2)], dim=-1).reshape(3, 5, 8) * 2 ** 0.25
    assert losses.relation_kl(student, teacher, mask, 2).item() == pytest.approx(0.0, abs=1e-5)
    # rotating each relation head's subspace changes no dot product
    angle = torch.tensor(0.7)
    rotation = torch.tensor([[angle.cos(), -angle.sin()], [angle.sin(), angle.cos()]])
    rotated = (heads @ rotation).reshape(3, 5, 4)
    assert losses.relation_kl(rotated, teacher, mask, 2).item() == pytest.approx(0.0, abs=1e-5)
    assert losses.relation_kl(torch.randn(3, 5, 8), teacher, mask, 2).item() > 0.01


def test_relation_loss_ignores_padding_garbage_and_sums_q_k_v():
    torch.manual_seed(1)
    s, t = torch.randn(2, 6, 8), torch.randn(2, 6, 12)
    mask = torch.ones(2, 6)
    mask[1, 4:] = 0
    garbage_s, garbage_t = s.clone(), t.clone()
    garbage_s[1, 4:], garbage_t[1, 4:] = 1e4, -3e3
    clean = losses.relation_kl(s, t, mask, 4)
    assert torch.allclose(clean, losses.relation_kl(garbage_s, garbage_t, mask, 4))
    qkv_s, qkv_t = (s, s * 2, s - 1), (t, t, t * 0.5)
    total = losses.minilm_relation_loss(qkv_s, qkv_t, mask, 4)
    assert torch.allclose(total, sum(losses.relation_kl(a, b, mask, 4) for a, b in zip(qkv_s, qkv_t)))


def test_relation_loss_lowers_under_gradient_steps():
    torch.manual_seed(2)
    teacher = torch.randn(2, 5, 12)
    student = torch.randn(2, 5, 8, requires_grad=True)
    optimizer = torch.optim.SGD([student], lr=1.0)
    first = losses.relation_kl(student, teacher, torch.ones(2, 5), 4)
    for _ in range(100):
        optimizer.zero_grad()
        losses.relation_kl(student, teacher, torch.ones(2, 5), 4).backward()
        optimizer.step()
    assert losses.relation_kl(student, teacher, torch.ones(2, 5), 4).item() < 0.5 * first.item()


def test_relation_errors_name_the_fix():
    x = torch.randn(2, 5, 12)
    with pytest.raises(TinyBertLabError, match=r"relation_heads=5 does not divide the width 12; choose one of \[1, 2, 3, 4, 6, 12\]"):
        losses.relation_scores(x, 5)
    with pytest.raises(TinyBertLabError, match="positive integer"):
        losses.relation_scores(x, 0)
    with pytest.raises(TinyBertLabError, match="same batch and length"):
        losses.relation_kl(x, torch.randn(2, 4, 12), torch.ones(2, 5), 4)
    with pytest.raises(TinyBertLabError, match=r"\(queries, keys, values\)"):
        losses.minilm_relation_loss((x, x), (x, x, x), torch.ones(2, 5), 4)


def test_pkd_loss_by_hand_and_scale_invariant():
    s, t = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    assert losses.pkd_loss([s], [t]).item() == pytest.approx(2.0)  # (1, −1) between the unit vectors
    assert losses.pkd_loss([s * 5, s], [t, t * 0.1]).item() == pytest.approx(4.0)  # two pairs, each 2
    torch.manual_seed(3)
    a, b = torch.randn(4, 6), torch.randn(4, 6)
    assert torch.allclose(losses.pkd_loss([a], [b]), losses.pkd_loss([a * 7.0], [b * 0.01]))
    assert losses.pkd_loss([a], [a * 3]).item() == pytest.approx(0.0, abs=1e-6)


def test_pkd_errors():
    a = torch.randn(4, 6)
    with pytest.raises(TinyBertLabError, match="one teacher \\[CLS\\] state per student layer"):
        losses.pkd_loss([a, a], [a])
    with pytest.raises(TinyBertLabError, match="Pair 0: .*equal width"):
        losses.pkd_loss([a], [torch.randn(4, 8)])
