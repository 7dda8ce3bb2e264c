"""Distillation losses: hand-computed values, invariants, padding and gradient safety, errors.

Expected numbers are computed with plain Python ``math`` from the formulas, never by calling
the same torch expression the module uses.
"""

import math

import pytest
import torch
from torch import nn

from tinybert_lab import losses
from tinybert_lab.core.errors import TinyBertLabError

GARBAGE = [1e30, -3.4e38, float("nan"), float("inf")]


# ---------------------------------------------------------------- plain-Python references
def softmax(row, t=1.0):
    exps = [math.exp(x / t) for x in row]
    return [e / sum(exps) for e in exps]


def kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q) if pi > 0)


def entropy(p):
    return -sum(pi * math.log(pi) for pi in p if pi > 0)


def close(tensor, expected, tol=1e-6):
    assert tensor.dim() == 0, "losses must return a scalar"
    assert tensor.item() == pytest.approx(expected, rel=tol, abs=tol)


S_LOGITS = [[1.0, 2.0], [0.0, 0.0]]
T_LOGITS = [[2.0, 0.0], [1.0, -1.0]]
LABELS = [1, 0]


def logits():
    return torch.tensor(S_LOGITS), torch.tensor(T_LOGITS)


# ---------------------------------------------------------------- golden values: prediction layer
def test_soft_kl_by_hand():
    s, t = logits()
    T = 2.0
    per_example = [kl(softmax(tr, T), softmax(sr, T)) for sr, tr in zip(S_LOGITS, T_LOGITS)]
    expected = T**2 * sum(per_example) / 2  # summed over classes, mean over the batch
    assert expected > 0.1
    close(losses.soft_kl(s, t, T), expected)
    # and the same as torch's own batchmean KL, times T²
    ref = T**2 * nn.functional.kl_div(torch.log_softmax(s / T, -1), torch.softmax(t / T, -1), reduction="batchmean")
    close(losses.soft_kl(s, t, T), ref.item())


def test_hard_ce_by_hand():
    s, _ = logits()
    expected = sum(-math.log(softmax(row)[y]) for row, y in zip(S_LOGITS, LABELS)) / 2
    close(losses.hard_ce(s, torch.tensor(LABELS)), expected)


def test_hinton_kd_by_hand():
    s, t = logits()
    T, alpha = 3.0, 0.3
    soft = T**2 * sum(kl(softmax(tr, T), softmax(sr, T)) for sr, tr in zip(S_LOGITS, T_LOGITS)) / 2
    hard = sum(-math.log(softmax(row)[y]) for row, y in zip(S_LOGITS, LABELS)) / 2
    close(losses.hinton_kd(s, t, torch.tensor(LABELS), T, alpha), alpha * soft + (1 - alpha) * hard)
    # an explicit beta: the two weights are independent (alpha + beta need not be 1)
    close(losses.hinton_kd(s, t, torch.tensor(LABELS), T, 0.7, beta=2.0), 0.7 * soft + 2.0 * hard)


def test_soft_cross_entropy_by_hand_sums_over_classes():
    s, t = logits()
    T = 2.0
    per_example = [
        -sum(p * math.log(q) for p, q in zip(softmax(tr, T), softmax(sr, T))) for sr, tr in zip(S_LOGITS, T_LOGITS)
    ]
    expected = sum(per_example) / 2
    close(losses.soft_cross_entropy(s, t, T), expected)
    # not the official code's mean over classes (TinyBERT issue #176), which is C = 2 times smaller
    assert losses.soft_cross_entropy(s, t, T).item() != pytest.approx(expected / 2)


def test_logit_mse_by_hand():
    s, t = logits()
    diffs = [a - b for sr, tr in zip(S_LOGITS, T_LOGITS) for a, b in zip(sr, tr)]  # -1, 2, -1, 1
    close(losses.logit_mse(s, t), sum(d * d for d in diffs) / 4)  # mean over all B·C elements = 7/4


# ---------------------------------------------------------------- golden values: attention
A_S = [[1.0, 2.0], [0.0, 1.0]]  # one head, L = 2: rows are queries, columns keys
A_T = [[0.0, 0.0], [3.0, 1.0]]


def one_head(rows):
    return torch.tensor(rows)[None, None]  # (1, 1, L, L)


def test_attention_scores_mse_by_hand():
    expected = sum((a - b) ** 2 for ra, rb in zip(A_S, A_T) for a, b in zip(ra, rb)) / 4  # (1+4+9+0)/4
    close(losses.attention_loss(one_head(A_S), one_head(A_T), torch.ones(1, 2)), expected)


def test_attention_scores_mse_is_mean_of_per_head_mse_over_real_pairs():
    # 2 heads, L = 2, only token 0 is real: the only valid pair is (query 0, key 0).
    nan = float("nan")
    student = torch.tensor([[[1.0, nan], [nan, nan]], [[3.0, nan], [nan, nan]]])[None]
    teacher = torch.zeros(1, 2, 2, 2)
    close(losses.attention_loss(student, teacher, torch.tensor([[1, 0]])), (1**2 + 3**2) / 2)


def test_attention_probs_by_hand_no_padding():
    p_s = [softmax(r) for r in A_S]
    p_t = [softmax(r) for r in A_T]
    expected = sum((a - b) ** 2 for ra, rb in zip(p_s, p_t) for a, b in zip(ra, rb)) / 4
    close(losses.attention_loss(one_head(A_S), one_head(A_T), torch.ones(1, 2), kind="probs"), expected)


def test_attention_kl_by_hand_no_padding():
    expected = sum(kl(softmax(rt), softmax(rs)) for rs, rt in zip(A_S, A_T)) / 2  # mean over query rows
    close(losses.attention_loss(one_head(A_S), one_head(A_T), torch.ones(1, 2), kind="kl"), expected)


def test_attention_probs_and_kl_by_hand_with_a_padded_key():
    # L = 3, token 2 is padding: its row and column hold garbage and must be ignored entirely.
    g = -3.4e38
    s = one_head([A_S[0] + [g], A_S[1] + [5.0], [g, 7.0, g]])
    t = one_head([A_T[0] + [9.0], A_T[1] + [g], [1.0, g, 2.0]])
    mask = torch.tensor([[1, 1, 0]])
    p_s, p_t = [softmax(r) for r in A_S], [softmax(r) for r in A_T]
    probs = sum((a - b) ** 2 for ra, rb in zip(p_s, p_t) for a, b in zip(ra, rb)) / 4
    close(losses.attention_loss(s, t, mask, kind="probs"), probs)
    close(losses.attention_loss(s, t, mask, kind="kl"), sum(kl(b, a) for a, b in zip(p_s, p_t)) / 2)


def test_attention_probs_match_hf_softmax_plus_additive_mask():
    from tinybert_lab.core.attention import additive_mask

    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    add = additive_mask(mask)
    p_s, p_t = torch.softmax(s + add, -1), torch.softmax(t + add, -1)
    valid = (mask[:, None, :, None] * mask[:, None, None, :]).bool().expand_as(s)
    expected = ((p_s - p_t)[valid] ** 2).mean()
    close(losses.attention_loss(s, t, mask, kind="probs"), expected.item())


# ---------------------------------------------------------------- golden values: hidden states
H_S = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [float("nan"), -3.4e38]]])  # (1, 3, 2), token 2 padded
H_T = torch.tensor([[[0.0, 2.0], [2.0, 4.0], [1e30, float("nan")]]])
H_MASK = torch.tensor([[1, 1, 0]])


def test_hidden_mse_by_hand():
    close(losses.hidden_mse(H_S, H_T, H_MASK), (1 + 0 + 1 + 0) / 4)  # mean over real tokens and dims


def test_hidden_mse_with_projection_by_hand():
    close(losses.hidden_mse(H_S, H_T, H_MASK, projection=lambda x: 2 * x), (4 + 4 + 16 + 16) / 4)
    proj = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        proj.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))  # x -> (x1, x2, x1 + x2)
    teacher = torch.tensor([[[0.0, 2.0, 3.0], [3.0, 4.0, 5.0], [0.0, 0.0, 0.0]]])
    # token 0: (1,2,3) vs (0,2,3) -> 1; token 1: (3,4,7) vs (3,4,5) -> 4
    close(losses.hidden_mse(H_S, teacher, H_MASK, projection=proj), (1 + 4) / 6)


def test_embedding_mse_is_hidden_mse():
    assert losses.embedding_mse is losses.hidden_mse


def test_cosine_loss_by_hand():
    s = torch.tensor([[[1.0, 0.0], [0.0, 3.0], [float("nan"), 1.0]]])
    t = torch.tensor([[[1.0, 1.0], [0.0, 2.0], [-3.4e38, 1e30]]])
    close(losses.cosine_loss(s, t, H_MASK), ((1 - 1 / math.sqrt(2)) + 0) / 2)


# ---------------------------------------------------------------- invariants
def test_zero_when_student_equals_teacher():
    torch.manual_seed(0)
    z = torch.randn(4, 3)
    assert losses.soft_kl(z, z.clone(), 2.0).abs().item() < 1e-6
    assert losses.logit_mse(z, z.clone()).item() == 0
    scores = torch.randn(2, 3, 4, 4)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    scores[1, :, 2:, :] = float("nan")
    scores[1, :, :, 2:] = float("nan")
    for kind in losses.ATTENTION_KINDS:
        for head_average in (False, True):
            loss = losses.attention_loss(scores, scores.clone(), mask, kind=kind, head_average=head_average)
            assert loss.abs().item() < 1e-6, (kind, head_average)
    h = torch.randn(2, 4, 5)
    h[1, 2:] = float("nan")
    assert losses.hidden_mse(h, h.clone(), mask).item() == 0
    assert losses.cosine_loss(h, h.clone(), mask).abs().item() < 1e-6


def test_soft_cross_entropy_minimum_is_teacher_entropy():
    torch.manual_seed(0)
    z = torch.randn(3, 4)
    t = 2.0
    expected = sum(entropy(softmax(row, t)) for row in z.tolist()) / 3
    close(losses.soft_cross_entropy(z, z.clone(), t), expected, tol=1e-5)
    # any other student is worse (Gibbs' inequality)
    assert losses.soft_cross_entropy(z + torch.randn(3, 4), z, t).item() > expected + 1e-3


def test_hinton_kd_alpha_extremes():
    torch.manual_seed(0)
    s, t, y = torch.randn(5, 3), torch.randn(5, 3), torch.tensor([0, 1, 2, 0, 1])
    torch.testing.assert_close(losses.hinton_kd(s, t, y, 4.0, 1.0), losses.soft_kl(s, t, 4.0))
    torch.testing.assert_close(losses.hinton_kd(s, t, y, 4.0, 0.0), losses.hard_ce(s, y))


def test_temperature_squared_keeps_gradient_scale():
    torch.manual_seed(0)
    s, t = torch.randn(16, 5), 2 * torch.randn(16, 5)

    def grad_norm(temperature, squared):
        student = s.clone().requires_grad_()
        loss = losses.soft_kl(student, t, temperature)
        (loss if squared else loss / temperature**2).backward()
        return student.grad.norm().item()

    with_t2 = grad_norm(4.0, True), grad_norm(8.0, True)
    without = grad_norm(4.0, False), grad_norm(8.0, False)
    assert abs(with_t2[0] - with_t2[1]) <= 0.2 * max(with_t2)
    assert 3.0 < without[0] / without[1] < 5.0  # ~ (8/4)² without the T² factor


def test_attention_kl_positive_when_different():
    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    assert losses.attention_loss(s, t, mask, kind="kl").item() > 1e-3
    assert losses.attention_loss(s, t, mask, kind="kl", head_average=True).item() > 1e-4


def test_head_average_when_head_counts_differ():
    torch.manual_seed(0)
    s, t = torch.randn(2, 2, 4, 4), torch.randn(2, 12, 4, 4)
    mask = torch.ones(2, 4)
    with pytest.raises(TinyBertLabError, match=r"student has 2 attention heads and the teacher 12.*head_average=True"):
        losses.attention_loss(s, t, mask)
    # scores: average the scores over heads, then a single-head MSE
    averaged = losses.attention_loss(s, t, mask, head_average=True)
    close(averaged, ((s.mean(1) - t.mean(1)) ** 2).mean().item(), tol=1e-5)
    # probs: average the probabilities (not the scores) over heads
    probs = losses.attention_loss(s, t, mask, kind="probs", head_average=True)
    expected = ((s.softmax(-1).mean(1) - t.softmax(-1).mean(1)) ** 2).mean()
    close(probs, expected.item(), tol=1e-5)
    # kl: KL between the head-averaged distributions, mean over query rows
    p_s, p_t = s.softmax(-1).mean(1), t.softmax(-1).mean(1)
    expected = (p_t * (p_t.log() - p_s.log())).sum(-1).mean()
    close(losses.attention_loss(s, t, mask, kind="kl", head_average=True), expected.item(), tol=1e-5)


# ---------------------------------------------------------------- padding: garbage cannot matter
LENGTHS = [5, 3, 1]
L_MAX = 5


def ragged(shape_of, fill, seed):
    """Per-sequence tensors cut to their real length, and the same padded to L_MAX with ``fill``."""
    gen = torch.Generator().manual_seed(seed)
    pieces = [torch.randn(*shape_of(n), generator=gen) for n in LENGTHS]
    padded = torch.full((len(LENGTHS), *shape_of(L_MAX)), fill)
    for b, (piece, n) in enumerate(zip(pieces, LENGTHS)):
        padded[b][tuple(slice(0, size) for size in piece.shape)] = piece
    mask = torch.tensor([[1] * n + [0] * (L_MAX - n) for n in LENGTHS])
    return pieces, padded, mask


def weighted(per_sequence, weights):
    """A mean over all real entries of the batch, from the means over each sequence's entries."""
    return sum(w * x.item() for w, x in zip(weights, per_sequence)) / sum(weights)


@pytest.mark.parametrize("fill", GARBAGE)
@pytest.mark.parametrize("kind", losses.ATTENTION_KINDS)
@pytest.mark.parametrize("heads", [(3, 3), (4, 2)])
def test_attention_padding_is_ignored(fill, kind, heads):
    h_s, h_t = heads
    head_average = h_s != h_t
    s_pieces, s, mask = ragged(lambda n: (h_s, n, n), fill, seed=1)
    t_pieces, t, _ = ragged(lambda n: (h_t, n, n), -fill, seed=2)
    loss = losses.attention_loss(s, t, mask, kind=kind, head_average=head_average)
    per_sequence = [
        losses.attention_loss(a[None], b[None], torch.ones(1, n), kind=kind, head_average=head_average)
        for a, b, n in zip(s_pieces, t_pieces, LENGTHS)
    ]
    # MSE kinds average over (query, key) pairs; KL over query rows
    weights = [n if kind == "kl" else n * n for n in LENGTHS]
    assert torch.isfinite(loss)
    close(loss, weighted(per_sequence, weights), tol=1e-5)


@pytest.mark.parametrize("fill", GARBAGE)
def test_hidden_and_cosine_padding_is_ignored(fill):
    s_pieces, s, mask = ragged(lambda n: (n, 6), fill, seed=1)
    t_pieces, t, _ = ragged(lambda n: (n, 6), -fill, seed=2)
    for loss_fn in (losses.hidden_mse, losses.cosine_loss):
        per_sequence = [loss_fn(a[None], b[None], torch.ones(1, n)) for a, b, n in zip(s_pieces, t_pieces, LENGTHS)]
        close(loss_fn(s, t, mask), weighted(per_sequence, LENGTHS), tol=1e-5)
    proj = nn.Linear(6, 6)
    per_sequence = [
        losses.hidden_mse(a[None], b[None], torch.ones(1, n), projection=proj)
        for a, b, n in zip(s_pieces, t_pieces, LENGTHS)
    ]
    close(losses.hidden_mse(s, t, mask, projection=proj), weighted(per_sequence, LENGTHS), tol=1e-5)


@pytest.mark.parametrize("fill", [-3.4e38, float("nan"), float("inf")])
@pytest.mark.parametrize("kind", losses.ATTENTION_KINDS)
@pytest.mark.parametrize("head_average", [False, True])
def test_attention_gradients_finite_with_garbage_padding(fill, kind, head_average):
    _, s, mask = ragged(lambda n: (4, n, n), fill, seed=1)
    _, t, _ = ragged(lambda n: (4, n, n), fill, seed=2)
    s.requires_grad_()
    losses.attention_loss(s, t, mask, kind=kind, head_average=head_average).backward()
    assert torch.isfinite(s.grad).all()
    pairs = (mask[:, None, :, None] * mask[:, None, None, :]).bool().expand_as(s)
    assert (s.grad[~pairs] == 0).all()  # padded slots get no gradient
    assert s.grad[pairs].abs().sum() > 0


@pytest.mark.parametrize("fill", [-3.4e38, float("nan"), float("inf")])
def test_hidden_and_cosine_gradients_finite_with_garbage_padding(fill):
    _, s, mask = ragged(lambda n: (n, 6), fill, seed=1)
    _, t, _ = ragged(lambda n: (n, 8), fill, seed=2)
    proj = nn.Linear(6, 8)
    s.requires_grad_()
    losses.hidden_mse(s, t, mask, projection=proj).backward()
    assert torch.isfinite(s.grad).all() and (s.grad[mask == 0] == 0).all()
    assert torch.isfinite(proj.weight.grad).all() and torch.isfinite(proj.bias.grad).all()
    s.grad = None
    losses.cosine_loss(s, t[..., :6], mask).backward()
    assert torch.isfinite(s.grad).all() and (s.grad[mask == 0] == 0).all()


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("temperature", [0, -1.0, float("nan")])
def test_temperature_must_be_positive(temperature):
    s, t = logits()
    y = torch.tensor(LABELS)
    with pytest.raises(TinyBertLabError, match="temperature must be positive"):
        losses.soft_kl(s, t, temperature)
    with pytest.raises(TinyBertLabError, match="temperature must be positive"):
        losses.soft_cross_entropy(s, t, temperature)
    with pytest.raises(TinyBertLabError, match="temperature must be positive"):
        losses.hinton_kd(s, t, y, temperature, 0.5)


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_alpha_out_of_range(alpha):
    s, t = logits()
    with pytest.raises(TinyBertLabError, match=r"alpha must be in \[0, 1\].*Pass beta="):
        losses.hinton_kd(s, t, torch.tensor(LABELS), 2.0, alpha)


@pytest.mark.parametrize(("alpha", "beta", "message"), [
    (0.5, -1.0, "beta must be a finite number >= 0, got -1.0"),
    (float("inf"), 1.0, "alpha must be a finite number >= 0, got inf"),
    (0.0, 0.0, "alpha and beta are both 0"),
])
def test_alpha_beta_weights_are_checked(alpha, beta, message):
    s, t = logits()
    with pytest.raises(TinyBertLabError, match=message):
        losses.hinton_kd(s, t, torch.tensor(LABELS), 2.0, alpha, beta=beta)


def test_logit_shape_mismatch():
    s = torch.zeros(2, 2)
    for fn in (lambda: losses.soft_kl(s, torch.zeros(2, 3), 1.0), lambda: losses.logit_mse(s, torch.zeros(3, 2))):
        with pytest.raises(TinyBertLabError, match=r"\(2, 2\) and \(2, 3\)|\(2, 2\) and \(3, 2\)"):
            fn()
    with pytest.raises(TinyBertLabError, match="labels"):
        losses.hard_ce(s, torch.tensor([0, 1, 1]))


def test_width_mismatch_needs_projection():
    s, t, mask = torch.zeros(1, 3, 4), torch.zeros(1, 3, 6), torch.ones(1, 3)
    with pytest.raises(TinyBertLabError, match=r"width 4 does not match teacher width 6.*projection"):
        losses.hidden_mse(s, t, mask)
    with pytest.raises(TinyBertLabError, match="projection must output the teacher's width"):
        losses.hidden_mse(s, t, mask, projection=nn.Linear(4, 5))
    with pytest.raises(TinyBertLabError, match="cosine_loss needs equal widths"):
        losses.cosine_loss(s, t, mask)


def test_unknown_attention_kind_lists_valid_kinds():
    x = torch.zeros(1, 1, 2, 2)
    with pytest.raises(TinyBertLabError, match=r"Unknown attention loss kind 'mse'.*'scores', 'probs', 'kl'"):
        losses.attention_loss(x, x, torch.ones(1, 2), kind="mse")


def test_attention_and_hidden_shape_mismatch():
    mask = torch.ones(1, 3)
    with pytest.raises(TinyBertLabError, match="batch size or sequence length"):
        losses.attention_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 4, 4), mask)
    with pytest.raises(TinyBertLabError, match="batch size or sequence length"):
        losses.attention_loss(torch.zeros(1, 2, 3, 3), torch.zeros(2, 2, 3, 3), mask)
    with pytest.raises(TinyBertLabError, match=r"\(batch, heads, length, length\)"):
        losses.attention_loss(torch.zeros(2, 3, 3), torch.zeros(2, 3, 3), mask)
    with pytest.raises(TinyBertLabError, match=r"attention_mask has shape \(1, 4\) but the features need \(1, 3\)"):
        losses.attention_loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3), torch.ones(1, 4))
    with pytest.raises(TinyBertLabError, match="same batch and length"):
        losses.hidden_mse(torch.zeros(1, 3, 4), torch.zeros(1, 2, 4), mask)
    with pytest.raises(TinyBertLabError, match="all zeros"):
        losses.hidden_mse(torch.zeros(1, 3, 4), torch.zeros(1, 3, 4), torch.zeros(1, 3))


# ================================================================ relational KD (Park et al. 2019)
def huber(x):
    return 0.5 * x * x if abs(x) < 1 else abs(x) - 0.5


def mean(values):
    values = list(values)
    return sum(values) / len(values)


def unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v] if n > 0 else [0.0 for _ in v]


def normalised_distances(X):
    d = [math.dist(X[i], X[j]) for i in range(len(X)) for j in range(len(X)) if i != j]
    mu = mean(x for x in d if x > 0)
    return [x / mu for x in d]


def triplet_cosines(X):
    n = len(X)
    out = []
    for i in range(n):
        for j in range(n):
            for k in range(n):
                if len({i, j, k}) == 3:
                    e_ij = unit([a - b for a, b in zip(X[i], X[j])])
                    e_kj = unit([a - b for a, b in zip(X[k], X[j])])
                    out.append(sum(a * b for a, b in zip(e_ij, e_kj)))
    return out


def rkd_distance_ref(S, T):
    return mean(huber(a - b) for a, b in zip(normalised_distances(S), normalised_distances(T)))


def rkd_angle_ref(S, T):
    return mean(huber(a - b) for a, b in zip(triplet_cosines(S), triplet_cosines(T)))


EQUILATERAL = [[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]]  # every angle 60°, every side 1
RIGHT_ISOSCELES = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]  # angles 90°, 45°, 45°; sides 1, 1, √2


def test_rkd_distance_by_hand_triangles():
    # Student: all 6 ordered distances are 1, their mean is 1 → normalised 1.
    # Teacher: 1, 1, √2 (each twice), mean (2 + √2)/3 → legs 3/(2+√2) ≈ 0.879, hypotenuse 3√2/(2+√2) ≈ 1.243.
    leg, hyp = 3 / (2 + math.sqrt(2)), 3 * math.sqrt(2) / (2 + math.sqrt(2))
    expected = (4 * 0.5 * (1 - leg) ** 2 + 2 * 0.5 * (1 - hyp) ** 2) / 6  # both |diff| < 1: quadratic Huber
    assert expected == pytest.approx(0.0147186, abs=1e-7)
    close(losses.rkd_distance(torch.tensor(EQUILATERAL), torch.tensor(RIGHT_ISOSCELES)), expected)


def test_rkd_angle_by_hand_triangles():
    # 3 points → 6 ordered triplets, 2 per vertex (i and k swapped). Student cosines all cos 60° = 0.5;
    # teacher: cos 90° = 0 at the right angle, cos 45° = √2/2 at the other two vertices.
    expected = (2 * 0.5 * (0.5 - 0) ** 2 + 4 * 0.5 * (0.5 - math.sqrt(2) / 2) ** 2) / 6
    assert expected == pytest.approx(0.0559644, abs=1e-7)
    close(losses.rkd_angle(torch.tensor(EQUILATERAL), torch.tensor(RIGHT_ISOSCELES)), expected)


# 4 points on a line in 2-D vs a far-off cluster in 3-D: widths differ, and both Huber branches occur.
LINE_2D = [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]
CLUSTER_3D = [[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.1, 0.0], [10.0, 10.0, 10.0]]


def test_rkd_matches_plain_python_with_different_widths_and_both_huber_branches():
    s, t = torch.tensor(LINE_2D), torch.tensor(CLUSTER_3D)
    distance_diffs = [a - b for a, b in zip(normalised_distances(LINE_2D), normalised_distances(CLUSTER_3D))]
    angle_diffs = [a - b for a, b in zip(triplet_cosines(LINE_2D), triplet_cosines(CLUSTER_3D))]
    for diffs in (distance_diffs, angle_diffs):  # the linear part of the Huber loss is exercised too
        assert max(map(abs, diffs)) > 1 and min(map(abs, diffs)) < 1
    close(losses.rkd_distance(s, t), rkd_distance_ref(LINE_2D, CLUSTER_3D), tol=1e-5)
    close(losses.rkd_angle(s, t), rkd_angle_ref(LINE_2D, CLUSTER_3D), tol=1e-5)
    # the symmetric role: student and teacher swapped gives the same value (Huber is symmetric)
    close(losses.rkd_distance(t, s), rkd_distance_ref(LINE_2D, CLUSTER_3D), tol=1e-5)


def test_rkd_relation_to_park_et_al_code_averaging():
    # Their code averages over all B² (distance) or B³ (angle) entries; the degenerate ones add 0.
    B = len(LINE_2D)
    s, t = torch.tensor(LINE_2D), torch.tensor(CLUSTER_3D)
    ours_d, ours_a = losses.rkd_distance(s, t).item(), losses.rkd_angle(s, t).item()
    diffs_d = [a - b for a, b in zip(normalised_distances(LINE_2D), normalised_distances(CLUSTER_3D))]
    diffs_a = [a - b for a, b in zip(triplet_cosines(LINE_2D), triplet_cosines(CLUSTER_3D))]
    assert ours_d * (B - 1) / B == pytest.approx(sum(map(huber, diffs_d)) / B**2, rel=1e-5)
    assert ours_a * (B - 1) * (B - 2) / B**2 == pytest.approx(sum(map(huber, diffs_a)) / B**3, rel=1e-5)


def random_rotation(d, seed):
    q, r = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


@pytest.mark.parametrize("loss", [losses.rkd_distance, losses.rkd_angle])
@pytest.mark.parametrize("side", ["student", "teacher"])
def test_rkd_invariant_to_scale_rotation_translation(loss, side):
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 4, generator=g, dtype=torch.float64)
    before = loss(s, t).item()
    assert before > 1e-3
    moved = lambda x: 3.7 * x @ random_rotation(x.shape[1], 1) + 5.0  # noqa: E731
    after = loss(moved(s), t) if side == "student" else loss(s, moved(t))
    assert after.item() == pytest.approx(before, rel=1e-9)


@pytest.mark.parametrize("loss", [losses.rkd_distance, losses.rkd_angle])
def test_rkd_zero_when_student_equals_teacher_up_to_scale(loss):
    s = torch.randn(6, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert loss(s, s).item() == 0
    assert loss(s, 0.01 * s).item() == pytest.approx(0, abs=1e-12)
    # the same geometry in a wider space: embed 3-D into 5-D (isometric) and rotate → still 0
    wide = torch.cat([s, torch.zeros(6, 2, dtype=torch.float64)], dim=1) @ random_rotation(5, 3)
    assert loss(s, 4.0 * wide).item() == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("loss", [losses.rkd_distance, losses.rkd_angle])
def test_rkd_gradients_finite_with_duplicate_examples(loss):
    # two identical examples: a zero distance and zero difference vectors, where sqrt and the
    # normalisation have no derivative
    base = torch.tensor([[0.0, 1.0], [0.0, 1.0], [2.0, 0.0], [1.0, 3.0]], requires_grad=True)
    value = loss(base, torch.tensor(CLUSTER_3D))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(base.grad).all() and base.grad.abs().sum() > 0


def test_rkd_duplicates_do_not_count_in_the_distance_normaliser():
    # teacher with a duplicate point: distances 0 (twice), 1, 1, 1, 1 (ordered pairs: ×2); mean of non-zero = 1
    teacher = [[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]]
    student = [[0.0, 0.0], [0.0, 0.0], [2.0, 0.0]]  # the same up to scale → 0
    assert losses.rkd_distance(torch.tensor(student), torch.tensor(teacher)).item() == 0
    close(losses.rkd_distance(torch.tensor(EQUILATERAL), torch.tensor(teacher)), rkd_distance_ref(EQUILATERAL, teacher))


def test_rkd_errors():
    with pytest.raises(TinyBertLabError, match="at least 2; got 1.*larger batch_size"):
        losses.rkd_distance(torch.zeros(1, 3), torch.zeros(1, 4))
    with pytest.raises(TinyBertLabError, match="triplets.*at least 3; got 2"):
        losses.rkd_angle(torch.randn(2, 3), torch.randn(2, 4))
    with pytest.raises(TinyBertLabError, match=r"same B; got \(3, 2\) and \(4, 2\)"):
        losses.rkd_distance(torch.randn(3, 2), torch.randn(4, 2))
    with pytest.raises(TinyBertLabError, match=r"\(B, d_S\).*Pool token states"):
        losses.rkd_angle(torch.randn(3, 5, 2), torch.randn(3, 5, 2))
    with pytest.raises(TinyBertLabError, match="All representations in the batch are identical"):
        losses.rkd_distance(torch.ones(4, 2), torch.randn(4, 2))


# ================================================================ mutual learning, several teachers
def test_mutual_kl_by_hand_and_only_self_gets_gradients():
    for T in (1.0, 2.0):
        me, other = torch.tensor(S_LOGITS, requires_grad=True), torch.tensor(T_LOGITS, requires_grad=True)
        expected = T**2 * mean(kl(softmax(o, T), softmax(m, T)) for m, o in zip(S_LOGITS, T_LOGITS))
        value = losses.mutual_kl(me, other, T)
        close(value, expected)
        value.backward()
        assert other.grad is None and me.grad.abs().sum() > 0  # the peer is a target, not a learner
    same = torch.tensor(S_LOGITS)
    assert losses.mutual_kl(same, same.clone()).item() == pytest.approx(0, abs=1e-7)
    # KL is not symmetric: each student's term is its own
    assert losses.mutual_kl(*logits()).item() != pytest.approx(losses.mutual_kl(*reversed(logits())).item())


Z1, Z2, Z3 = [[2.0, 0.0, -1.0]], [[0.0, 1.0, 0.0]], [[-3.0, 0.0, 3.0]]


def test_ensemble_soft_targets_by_hand():
    T = 2.0
    expected = [0.75 * a + 0.25 * b for a, b in zip(softmax(Z1[0], T), softmax(Z2[0], T))]
    got = losses.ensemble_soft_targets([torch.tensor(Z1), torch.tensor(Z2)], [3, 1], temperature=T)
    assert got.shape == (1, 3) and got[0].tolist() == pytest.approx(expected, rel=1e-6)
    equal = losses.ensemble_soft_targets([torch.tensor(Z1), torch.tensor(Z2), torch.tensor(Z3)])
    by_hand = [mean(ps) for ps in zip(softmax(Z1[0]), softmax(Z2[0]), softmax(Z3[0]))]
    assert equal[0].tolist() == pytest.approx(by_hand, rel=1e-6) and equal.sum().item() == pytest.approx(1)


def test_ensemble_weights_are_normalised_and_zero_weight_drops_a_teacher():
    z1, z2 = torch.tensor(Z1), torch.tensor(Z2)
    assert torch.allclose(losses.ensemble_soft_targets([z1, z2], [5, 5]), losses.ensemble_soft_targets([z1, z2]))
    assert torch.allclose(losses.ensemble_soft_targets([z1, z2], torch.tensor([2.0, 0.0]), 3.0),
                          torch.softmax(z1 / 3.0, -1))
    assert losses.normalised_teacher_weights([3, 1], 2) == [0.75, 0.25]
    assert losses.normalised_teacher_weights(None, 4) == [0.25] * 4


def test_soft_kl_to_probs_by_hand_and_equals_soft_kl_for_one_teacher():
    s, t = logits()
    T = 2.0
    close(losses.soft_kl_to_probs(s, torch.softmax(t / T, -1), T), losses.soft_kl(s, t, T).item())
    # a target with a zero: 0·log 0 counts as 0, so the loss is just −T²·log p_S(class 0), averaged
    q = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    expected = T**2 * mean(-math.log(softmax(row, T)[0]) for row in S_LOGITS)
    close(losses.soft_kl_to_probs(s, q, T), expected)
    assert losses.soft_kl_to_probs(s, torch.softmax(s / T, -1), T).item() == pytest.approx(0, abs=1e-7)


def test_ensemble_and_soft_target_errors():
    z = torch.zeros(2, 2)
    with pytest.raises(TinyBertLabError, match=r"mismatched label sets: class counts \[2, 3\]"):
        losses.ensemble_soft_targets([z, torch.zeros(2, 3)])
    with pytest.raises(TinyBertLabError, match="Got 3 weights for 2 teachers"):
        losses.ensemble_soft_targets([z, z], [1, 1, 1])
    with pytest.raises(TinyBertLabError, match=r"finite numbers >= 0, got \[1, -0.5\]"):
        losses.ensemble_soft_targets([z, z], [1, -0.5])
    with pytest.raises(TinyBertLabError, match="finite numbers >= 0"):
        losses.ensemble_soft_targets([z, z], [1, float("nan")])
    with pytest.raises(TinyBertLabError, match=r"sum to 0.*at least one must be positive"):
        losses.ensemble_soft_targets([z, z], [0, 0])
    with pytest.raises(TinyBertLabError, match="non-empty list"):
        losses.ensemble_soft_targets([])
    with pytest.raises(TinyBertLabError, match="non-empty list"):
        losses.ensemble_soft_targets(z)
    with pytest.raises(TinyBertLabError, match="same batch"):
        losses.ensemble_soft_targets([z, torch.zeros(3, 2)])
    with pytest.raises(TinyBertLabError, match="temperature must be positive"):
        losses.ensemble_soft_targets([z], temperature=0)
    with pytest.raises(TinyBertLabError, match=r"\(2, 2\) and \(2, 3\)"):
        losses.soft_kl_to_probs(z, torch.full((2, 3), 1 / 3), 1.0)
