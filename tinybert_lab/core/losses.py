"""Distillation losses: small pure functions, each returning a scalar tensor.

Prediction-layer losses (logits ``z`` of shape (B, C), temperature ``T``, labels ``y`` (B,)):

- ``soft_kl``: ``T² · KL(softmax(z_T/T) ‖ softmax(z_S/T))``, summed over classes, mean over batch
- ``hard_ce``: ``CE(z_S, y)``, mean over batch
- ``hinton_kd``: ``α · soft_kl + (1 − α) · hard_ce`` (Hinton et al. 2015)
- ``soft_cross_entropy``: ``−Σ_c softmax(z_T/T)_c · log softmax(z_S/T)_c``, mean over batch (TinyBERT)
- ``logit_mse``: ``mean((z_S − z_T)²)`` over all elements (Tang et al. 2019, BiLSTM student)
- ``known_label_ce``: ``CE(z_S, y)`` over the examples whose label is known (``y ≥ 0``), divided
  by the whole batch size; ``pseudo_label_ce``: ``CE(z_S, argmax z_T)`` (the teacher's hard labels)

Intermediate-layer losses (all ignore padding, given the (B, L) 0/1 ``attention_mask``):

- ``attention_loss``: ``(1/h) Σ_i MSE(A_i^S, A_i^T)`` on pre-softmax scores (TinyBERT), or on
  probabilities, or ``KL(p_T ‖ p_S)`` per query row
- ``hidden_mse``: ``MSE(H_S W_h, H_T)`` over real tokens (TinyBERT hidden-state loss)
- ``embedding_mse``: the same function, for the embedding loss ``MSE(E_S W_e, E_T)``
- ``cosine_loss``: ``mean(1 − cos(h_S, h_T))`` over real tokens (DistilBERT)

Losses between examples and between models (representations ``r`` of shape (B, d), one per example):

- ``rkd_distance`` / ``rkd_angle``: Huber loss between the student's and the teacher's
  normalised pairwise distances / triplet angles (Park et al. 2019); d_S and d_T may differ
- ``ensemble_soft_targets``: weighted mean of several teachers' softened distributions, and
  ``soft_kl_to_probs``: ``T² · KL(q ‖ softmax(z_S/T))`` against such targets (multi-teacher KD)
- ``mutual_kl``: ``T² · KL(p_other ‖ p_self)`` with the peer detached (deep mutual learning)

Next-token distributions of causal language models (logits (B, L, V), a (B, L) mask of the
positions that count):

- ``next_token_ce``: next-token cross-entropy over kept positions (the text-only baseline)
- ``token_forward_kl``: ``T² · Σ_v p_v (log p_v − log q_v)`` (DistilGPT-2, Hinton: mass-covering)
- ``token_reverse_kl``: ``T² · Σ_v q_v (log q_v − log p_v)`` (token-level MiniLLM: mode-seeking)
- ``token_jsd``: generalised Jensen–Shannon ``β KL(p ‖ m) + (1 − β) KL(q ‖ m)`` (GKD)

Relations inside a layer, and [CLS] states of mapped layers:

- ``minilm_relation_loss``: ``Σ_X KL(R_X^T ‖ R_X^S)``, X ∈ {Q, K, V}, ``R_X = softmax(X_h X_hᵀ/√d_r)``
  over ``r`` relation heads chosen freely (MiniLMv2); widths and head counts may differ
- ``pkd_loss``: ``Σ_j ‖h_S,j/‖h_S,j‖ − h_T,I(j)/‖h_T,I(j)‖‖²`` on [CLS] states (Patient KD)

Padding is removed by *selecting* the real entries before any arithmetic, never by a value
heuristic (the official TinyBERT ``<= -1e2`` clamp): whatever sits in padded slots (``-3.4e38``,
``inf``, ``nan``) cannot change a loss or its gradients. The teacher side is not detached here:
compute teacher features under ``torch.no_grad()``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from .errors import TinyBertLabError, check_weight, is_weight

ATTENTION_KINDS = ("scores", "probs", "kl")


# ---------------------------------------------------------------- validation helpers
def _check_temperature(temperature) -> None:
    if not temperature > 0:  # also rejects nan
        raise TinyBertLabError(
            f"temperature must be positive, got {temperature!r}. Use 1.0 for no softening, "
            "or a value such as 2-8 to soften the teacher's distribution."
        )


def _check_logits(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> None:
    if student_logits.dim() != 2 or student_logits.shape != teacher_logits.shape:
        raise TinyBertLabError(
            f"Student and teacher logits must both have shape (batch, num_classes) and match; got "
            f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}. Check that both models "
            "have the same num_labels and see the same batch."
        )


def _check_mask(attention_mask: torch.Tensor, batch: int, length: int) -> torch.Tensor:
    """Return the (B, L) mask as bool, after checking its shape and that it keeps something."""
    if tuple(attention_mask.shape) != (batch, length):
        raise TinyBertLabError(
            f"attention_mask has shape {tuple(attention_mask.shape)} but the features need "
            f"({batch}, {length}): pass the batch's own attention_mask (B, L) of 0/1."
        )
    mask = attention_mask.bool()
    if not mask.any():
        raise TinyBertLabError("attention_mask is all zeros: the batch has no real tokens to compare.")
    return mask


def _pair_mask(mask: torch.Tensor) -> torch.Tensor:
    """(B, L) bool → (B, 1, L, L) bool: True where both the query and the key are real tokens."""
    return mask[:, None, :, None] & mask[:, None, None, :]


# ---------------------------------------------------------------- prediction layer
def soft_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton's soft-target loss ``T² · KL(p_T ‖ p_S)`` with ``p = softmax(z / T)``.

    Logits: (B, C). KL is summed over classes and averaged over the batch (``batchmean``).
    The ``T²`` keeps gradient magnitudes roughly independent of ``T`` (the gradient of the KL
    alone shrinks like ``1/T²``). Returns a scalar.
    """
    _check_temperature(temperature)
    _check_logits(student_logits, teacher_logits)
    log_p_s = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_t = F.log_softmax(teacher_logits / temperature, dim=-1)
    kl_per_example = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=-1)  # (B,)
    return temperature**2 * kl_per_example.mean()


def hard_ce(student_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with the gold labels: ``mean_b −log softmax(z_S)_{b, y_b}``.

    student_logits: (B, C); labels: (B,) integer class ids. Returns a scalar.
    """
    if student_logits.dim() != 2 or tuple(labels.shape) != (student_logits.shape[0],):
        raise TinyBertLabError(
            f"hard_ce needs logits (B, C) and labels (B,); got {tuple(student_logits.shape)} and "
            f"{tuple(labels.shape)}. Pass one integer class id per example."
        )
    return F.cross_entropy(student_logits, labels)


def hinton_kd(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    alpha: float,
    beta: float | None = None,
) -> torch.Tensor:
    """Hinton et al.'s knowledge distillation: ``α · T²·KL(p_T ‖ p_S) + β · CE(z_S, y)``.

    Logits: (B, C); labels: (B,). ``alpha`` weighs the soft targets and ``beta`` the hard
    labels; ``beta=None`` means ``1 − alpha`` (then ``alpha`` must lie in [0, 1]: ``alpha=1``
    is soft targets only, ``alpha=0`` plain supervised training). Returns a scalar.
    """
    if beta is None:
        if not 0 <= alpha <= 1:
            raise TinyBertLabError(
                f"alpha must be in [0, 1], got {alpha!r}: it is the weight of the soft-target loss, "
                "and 1 - alpha the weight of the hard-label loss. Pass beta=... to set the hard-label "
                "weight yourself."
            )
        beta = 1 - alpha
    check_weight(alpha, "alpha")
    check_weight(beta, "beta")
    if alpha == 0 and beta == 0:
        raise TinyBertLabError("alpha and beta are both 0: the loss would be 0. Give one of them a positive weight.")
    return alpha * soft_kl(student_logits, teacher_logits, temperature) + beta * hard_ce(student_logits, labels)


def soft_cross_entropy(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """TinyBERT's prediction-layer loss: ``−Σ_c softmax(z_T/t)_c · log softmax(z_S/t)_c``.

    Logits: (B, C). Summed over classes, averaged over the batch; no ``T²`` factor. (The official
    TinyBERT code takes ``.mean()`` over classes as well, which divides the loss by C: a known
    bug, TinyBERT issue #176.) Its minimum over the student, reached at ``z_S = z_T``, is the
    entropy of the teacher's distribution, not 0. Returns a scalar.
    """
    _check_temperature(temperature)
    _check_logits(student_logits, teacher_logits)
    p_t = F.softmax(teacher_logits / temperature, dim=-1)
    log_p_s = F.log_softmax(student_logits / temperature, dim=-1)
    return -(p_t * log_p_s).sum(dim=-1).mean()


def known_label_ce(student_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the examples whose gold label is known, for a batch that mixes labelled
    and unlabeled examples (label ``-1``): ``(1/B) Σ_{b: y_b ≥ 0} −log softmax(z_S)_{b, y_b}``.

    student_logits: (B, C); labels: (B,) class ids, ``-1`` for unknown. Dividing by the whole
    batch size B (not the number of labelled rows) makes this term and a term averaged over every
    example add up to one per-example mean. A batch without labelled rows gives 0 (with a
    gradient of 0). Returns a scalar.
    """
    if student_logits.dim() != 2 or tuple(labels.shape) != (student_logits.shape[0],):
        raise TinyBertLabError(
            f"known_label_ce needs logits (B, C) and labels (B,); got {tuple(student_logits.shape)} and "
            f"{tuple(labels.shape)}. Pass one class id per example, -1 where the label is unknown.")
    known = labels >= 0
    if bool((labels[known] >= student_logits.shape[1]).any()):
        raise TinyBertLabError(f"A label is >= the number of classes ({student_logits.shape[1]}).")
    if not known.any():
        return student_logits.sum() * 0.0
    per_example = F.cross_entropy(student_logits[known], labels[known], reduction="sum")
    return per_example / student_logits.shape[0]


def pseudo_label_ce(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with the teacher's *hard* labels: ``mean_b −log softmax(z_S)_{b, argmax z_T,b}``.

    Logits: (B, C). What self-training with pseudo-labels does: only the teacher's top class
    survives, its confidence and its second choices are thrown away (compare ``soft_kl``).
    Returns a scalar.
    """
    _check_logits(student_logits, teacher_logits)
    return F.cross_entropy(student_logits, teacher_logits.argmax(dim=-1))


def logit_mse(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Tang et al.'s (2019) BiLSTM-student loss: ``mean_{b,c} (z_S − z_T)²``.

    Logits: (B, C). The mean runs over all B·C elements (so the value does not grow with C).
    Returns a scalar.
    """
    _check_logits(student_logits, teacher_logits)
    return F.mse_loss(student_logits, teacher_logits)


# ---------------------------------------------------------------- attention
def _masked_log_softmax(scores: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """Log-probabilities over keys, as HF computes them: ``log softmax(scores + additive mask)``.

    Every entry outside ``pairs`` is replaced by ``finfo.min`` first (what the additive mask adds),
    so padded keys get probability 0 and garbage in padded slots never enters the softmax.
    """
    dropped = torch.finfo(scores.dtype).min
    return torch.log_softmax(torch.where(pairs, scores, dropped), dim=-1)


def _head_mean_log_probs(log_probs: torch.Tensor) -> torch.Tensor:
    """log of the head-averaged probabilities, ``log (1/h) Σ_i p_i``, computed in log space."""
    return torch.logsumexp(log_probs, dim=1, keepdim=True) - math.log(log_probs.shape[1])


def attention_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    kind: str = "scores",
    head_average: bool = False,
) -> torch.Tensor:
    """Attention-based loss for one layer pair.

    student, teacher: pre-softmax scores ``Q Kᵀ / √d`` (B, h, L, L), *without* the padding mask
    (as ``attention.forward_features`` returns them). attention_mask: (B, L), 1 = real token.
    Only entries whose query and key are both real tokens count.

    - ``kind="scores"``: TinyBERT's ``(1/h) Σ_i MSE(A_i^S, A_i^T)`` on the raw scores, i.e. the
      mean squared difference over all valid (b, head, query, key) entries.
    - ``kind="probs"``: the same MSE on ``softmax(scores + additive mask)``.
    - ``kind="kl"``: ``KL(p_T ‖ p_S)`` over the keys of each query row, averaged over the real
      query rows and the heads.

    Teacher and student must have the same number of heads h, unless ``head_average=True``:
    then both sides are averaged over their heads first (scores for ``"scores"``, probabilities
    for ``"probs"`` and ``"kl"``) and compared as a single head. Returns a scalar.
    """
    if kind not in ATTENTION_KINDS:
        raise TinyBertLabError(
            f"Unknown attention loss kind {kind!r}. Valid kinds: {', '.join(map(repr, ATTENTION_KINDS))}."
        )
    if student.dim() != 4 or teacher.dim() != 4:
        raise TinyBertLabError(
            f"Attention scores must be (batch, heads, length, length); got {tuple(student.shape)} "
            f"and {tuple(teacher.shape)}."
        )
    (B, h_s, L, L_keys), (B_t, h_t, L_t, L_t_keys) = student.shape, teacher.shape
    if (B, L, L_keys) != (B_t, L_t, L_t_keys) or L != L_keys:
        raise TinyBertLabError(
            f"Student scores {tuple(student.shape)} and teacher scores {tuple(teacher.shape)} do not "
            "match in batch size or sequence length: run both models on the same batch."
        )
    if h_s != h_t and not head_average:
        raise TinyBertLabError(
            f"The student has {h_s} attention heads and the teacher {h_t}: head-by-head MSE needs "
            "equal counts. Pass head_average=True to average over heads on both sides first."
        )
    mask = _check_mask(attention_mask, B, L)
    pairs = _pair_mask(mask)  # (B, 1, L, L)

    if kind == "scores":
        s, t = torch.where(pairs, student, 0.0), torch.where(pairs, teacher, 0.0)
        if head_average:
            s, t = s.mean(dim=1, keepdim=True), t.mean(dim=1, keepdim=True)
        valid = pairs.expand_as(s)
        return (s[valid] - t[valid]).pow(2).mean()

    log_p_s, log_p_t = _masked_log_softmax(student, pairs), _masked_log_softmax(teacher, pairs)
    if head_average:
        log_p_s, log_p_t = _head_mean_log_probs(log_p_s), _head_mean_log_probs(log_p_t)
    valid = pairs.expand_as(log_p_s)
    log_p_s, log_p_t = log_p_s[valid], log_p_t[valid]  # 1-D: the real (b, head, query, key) entries
    if kind == "probs":
        return (log_p_s.exp() - log_p_t.exp()).pow(2).mean()
    # kind == "kl": sum over keys, then mean over real query rows and heads
    num_rows = mask.sum() * valid.shape[1]
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum() / num_rows


# ---------------------------------------------------------------- hidden states
def _real_tokens(student_hidden, teacher_hidden, attention_mask) -> tuple[torch.Tensor, torch.Tensor]:
    """Check (B, L, d) shapes and return the real tokens of each side as (N, d_S) and (N, d_T)."""
    if student_hidden.dim() != 3 or teacher_hidden.dim() != 3 or student_hidden.shape[:2] != teacher_hidden.shape[:2]:
        raise TinyBertLabError(
            f"Hidden states must be (batch, length, width) with the same batch and length; got "
            f"{tuple(student_hidden.shape)} and {tuple(teacher_hidden.shape)}. Run both models on the same batch."
        )
    mask = _check_mask(attention_mask, *student_hidden.shape[:2])
    return student_hidden[mask], teacher_hidden[mask]


def hidden_mse(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    attention_mask: torch.Tensor,
    projection: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """TinyBERT's hidden-state loss ``MSE(H_S W_h, H_T)`` over real tokens.

    student_hidden: (B, L, d_S); teacher_hidden: (B, L, d_T); attention_mask: (B, L).
    ``projection`` (e.g. ``nn.Linear(d_S, d_T)``, one per mapped layer) maps the student's width
    to the teacher's; it is applied to the real tokens only, an (N, d_S) tensor. Without it the
    widths must match. The mean runs over real tokens and the d_T dimensions. Returns a scalar.

    ``embedding_mse`` is this same function, used for the embedding loss ``MSE(E_S W_e, E_T)``.
    """
    s, t = _real_tokens(student_hidden, teacher_hidden, attention_mask)
    if projection is not None:
        s = projection(s)
    if s.shape[-1] != t.shape[-1]:
        raise TinyBertLabError(
            f"Student width {s.shape[-1]} does not match teacher width {t.shape[-1]}"
            + (
                ": pass projection=nn.Linear(d_student, d_teacher) to map the student to the teacher's width."
                if projection is None
                else ": the projection must output the teacher's width."
            )
        )
    return (s - t).pow(2).mean()


embedding_mse = hidden_mse  # the embedding loss MSE(E_S W_e, E_T): same formula, on hidden_states[0]


def cosine_loss(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """DistilBERT's cosine loss: ``mean over real tokens of 1 − cos(h_S, h_T)``.

    student_hidden, teacher_hidden: (B, L, d) with the same width d; attention_mask: (B, L).
    Returns a scalar.
    """
    s, t = _real_tokens(student_hidden, teacher_hidden, attention_mask)
    if s.shape[-1] != t.shape[-1]:
        raise TinyBertLabError(
            f"cosine_loss needs equal widths, got student {s.shape[-1]} and teacher {t.shape[-1]}. "
            "Use a student with the teacher's hidden size (as DistilBERT does), or hidden_mse with a projection."
        )
    return (1 - F.cosine_similarity(s, t, dim=-1)).mean()


# ---------------------------------------------------------------- relations between examples (RKD)
def _check_relation_inputs(student_repr: torch.Tensor, teacher_repr: torch.Tensor, minimum: int, what: str) -> None:
    if student_repr.dim() != 2 or teacher_repr.dim() != 2 or student_repr.shape[0] != teacher_repr.shape[0]:
        raise TinyBertLabError(
            f"{what} needs one representation per example, (B, d_S) and (B, d_T) with the same B; got "
            f"{tuple(student_repr.shape)} and {tuple(teacher_repr.shape)}. Pool token states into one vector "
            "per sentence first (e.g. the [CLS] state), and run both models on the same batch."
        )
    if student_repr.shape[0] < minimum:
        raise TinyBertLabError(
            f"{what} compares {'pairs' if minimum == 2 else 'triplets'} of examples, so it needs a batch of at "
            f"least {minimum}; got {student_repr.shape[0]}. Use a larger batch_size."
        )


def _safe_norm(x: torch.Tensor) -> torch.Tensor:
    """Euclidean norm over the last dim with a finite gradient at 0 (where ``sqrt`` has none):
    zero vectors get norm exactly 0 and gradient 0."""
    squared = x.pow(2).sum(dim=-1)
    positive = squared > 0
    return torch.where(positive, torch.where(positive, squared, 1.0).sqrt(), 0.0)


def _normalised_distances(x: torch.Tensor) -> torch.Tensor:
    """(B, d) → the B·(B−1) off-diagonal distances ``‖x_i − x_j‖ / μ`` (ordered pairs i ≠ j),
    where μ is the mean of the non-zero ones (duplicates, at distance 0, do not count)."""
    B = x.shape[0]
    off_diagonal = ~torch.eye(B, dtype=torch.bool, device=x.device)
    distances = _safe_norm(x[:, None, :] - x[None, :, :])[off_diagonal]  # (B·(B−1),)
    non_zero = distances > 0
    if not non_zero.any():
        raise TinyBertLabError(
            "All representations in the batch are identical, so their distances cannot be normalised "
            "(the mean distance is 0). Check that the model's inputs differ between examples."
        )
    return distances / distances[non_zero].mean()


def rkd_distance(student_repr: torch.Tensor, teacher_repr: torch.Tensor) -> torch.Tensor:
    """Distance-wise relational KD (Park et al. 2019): match the *shape* of the batch, not the vectors.

    student_repr: (B, d_S); teacher_repr: (B, d_T), one vector per example; the widths may
    differ (no projection is needed: only distances between examples are compared). For every
    ordered pair i ≠ j, ``ψ(x_i, x_j) = ‖x_i − x_j‖ / μ`` with μ the mean of the batch's non-zero
    pairwise distances (so the loss ignores the overall scale of either side); the loss is the
    Huber loss (smooth L1, δ = 1) between the student's and the teacher's ψ, averaged over the
    B·(B−1) ordered pairs. It is invariant to scaling, rotating and translating either side.
    Needs B ≥ 2, and is informative only from B = 3 (two examples have one distance, normalised
    to 1 on both sides, so the loss is 0). (Park et al.'s code averages over all B² entries, zeros on the diagonal
    included: its value is ours times (B−1)/B.) Returns a scalar.
    """
    _check_relation_inputs(student_repr, teacher_repr, 2, "rkd_distance")
    return F.smooth_l1_loss(_normalised_distances(student_repr), _normalised_distances(teacher_repr), beta=1.0)


def _triplet_cosines(x: torch.Tensor) -> torch.Tensor:
    """(B, d) → for every triplet of distinct (i, j, k), ``cos ∠x_i x_j x_k = ⟨e_ij, e_kj⟩`` with
    ``e_ij = (x_i − x_j) / ‖x_i − x_j‖``: the B·(B−1)·(B−2) cosines of the angle at x_j."""
    B = x.shape[0]
    difference = x[:, None, :] - x[None, :, :]  # [i, j] = x_i − x_j, (B, B, d)
    unit = difference / _safe_norm(difference).clamp_min(1e-12)[..., None]  # zero vectors stay zero
    cosines = torch.einsum("ijd,kjd->ijk", unit, unit)  # [i, j, k] = ⟨e_ij, e_kj⟩
    eye = torch.eye(B, dtype=torch.bool, device=x.device)
    distinct = ~(eye[:, :, None] | eye[None, :, :] | eye[:, None, :])  # i ≠ j, j ≠ k, i ≠ k
    return cosines[distinct]


def rkd_angle(student_repr: torch.Tensor, teacher_repr: torch.Tensor) -> torch.Tensor:
    """Angle-wise relational KD (Park et al. 2019).

    student_repr: (B, d_S); teacher_repr: (B, d_T); the widths may differ. For every triplet of
    distinct examples (i, j, k), the cosine of the angle at x_j, ``⟨e_ij, e_kj⟩`` with
    ``e_ij = (x_i − x_j)/‖x_i − x_j‖``; the loss is the Huber loss (smooth L1, δ = 1) between
    the student's and the teacher's cosines, averaged over the B·(B−1)·(B−2) ordered triplets.
    Angles ignore scale, rotation and translation. A duplicate example (zero difference vector)
    gives cosine 0 for its triplets, with finite gradients. Needs B ≥ 3. (Park et al.'s code
    averages over all B³ entries, the degenerate ones (equal indices) contributing 0: its value is
    ours times (B−1)(B−2)/B².) Returns a scalar.
    """
    _check_relation_inputs(student_repr, teacher_repr, 3, "rkd_angle")
    return F.smooth_l1_loss(_triplet_cosines(student_repr), _triplet_cosines(teacher_repr), beta=1.0)


# ---------------------------------------------------------------- self-attention relations (MiniLMv2), PKD
def relation_scores(x: torch.Tensor, relation_heads: int) -> torch.Tensor:
    """MiniLMv2's relation scores of one of a layer's queries, keys or values.

    x: (B, L, W). Split the width into ``relation_heads`` heads of size ``d_r = W / relation_heads``
    (chosen freely, independently of the model's own attention heads) and return
    ``X_h X_hᵀ / √d_r`` for each head: (B, relation_heads, L, L), pre-softmax, without a mask.
    """
    if x.dim() != 3:
        raise TinyBertLabError(f"Queries/keys/values must be (batch, length, width); got {tuple(x.shape)}.")
    if isinstance(relation_heads, bool) or not isinstance(relation_heads, int) or relation_heads < 1:
        raise TinyBertLabError(f"relation_heads must be a positive integer, got {relation_heads!r}.")
    B, L, W = x.shape
    if W % relation_heads:
        divisors = [d for d in range(1, W + 1) if W % d == 0 and d <= 64]
        raise TinyBertLabError(
            f"relation_heads={relation_heads} does not divide the width {W}; choose one of {divisors} "
            "(the same number must divide the teacher's width too).")
    d_r = W // relation_heads
    heads = x.view(B, L, relation_heads, d_r).transpose(1, 2)  # (B, r, L, d_r)
    return heads @ heads.transpose(-1, -2) / math.sqrt(d_r)


def relation_kl(student_x: torch.Tensor, teacher_x: torch.Tensor, attention_mask: torch.Tensor,
                relation_heads: int) -> torch.Tensor:
    """``KL(R^T ‖ R^S)`` between the teacher's and the student's self-attention relations of one
    kind (queries, keys or values), with ``R = softmax(relation_scores(x))`` over the real keys.

    student_x: (B, L, W_S); teacher_x: (B, L, W_T); the widths may differ (each is split into
    ``relation_heads`` heads of its own size), so no projection is needed. attention_mask: (B, L).
    KL is summed over keys and averaged over the real query rows and the relation heads (padded
    keys get probability 0, padded queries are left out). Returns a scalar.
    """
    if student_x.dim() != 3 or teacher_x.dim() != 3 or student_x.shape[:2] != teacher_x.shape[:2]:
        raise TinyBertLabError(
            f"Student and teacher queries/keys/values must be (batch, length, width) with the same batch and length; "
            f"got {tuple(student_x.shape)} and {tuple(teacher_x.shape)}.")
    return attention_loss(relation_scores(student_x, relation_heads), relation_scores(teacher_x, relation_heads),
                          attention_mask, kind="kl")


def minilm_relation_loss(student_qkv, teacher_qkv, attention_mask: torch.Tensor, relation_heads: int) -> torch.Tensor:
    """MiniLMv2 (Wang et al. 2021): ``Σ_X KL(R_X^T ‖ R_X^S)`` over X ∈ (queries, keys, values) of
    one chosen teacher layer and one student layer.

    student_qkv / teacher_qkv: sequences of three (B, L, W) tensors (queries, keys, values, each
    before the split into the model's attention heads); W_S and W_T may differ, and so may the
    models' head counts. Returns a scalar.
    """
    if len(student_qkv) != 3 or len(teacher_qkv) != 3:
        raise TinyBertLabError(
            f"Pass (queries, keys, values) for each side: got {len(student_qkv)} and {len(teacher_qkv)} tensors.")
    return sum(relation_kl(s, t, attention_mask, relation_heads) for s, t in zip(student_qkv, teacher_qkv))


def pkd_loss(student_cls, teacher_cls) -> torch.Tensor:
    """Patient KD's intermediate loss (Sun et al. 2019): ``Σ_j mean_b ‖ĥ_S,j − ĥ_T,I(j)‖²`` with
    ``ĥ = h / ‖h‖``, over the mapped layer pairs j.

    student_cls / teacher_cls: equally long sequences of (B, d) [CLS] states, pair j being the
    student's layer j and the teacher layer it is mapped to (PKD-skip or PKD-last). The
    normalisation makes the loss blind to each state's scale; the widths must match (PKD's
    student is a shallower BERT of the same width). Returns a scalar.
    """
    if len(student_cls) != len(teacher_cls) or not student_cls:
        raise TinyBertLabError(
            f"Give one teacher [CLS] state per student layer: got {len(student_cls)} student and "
            f"{len(teacher_cls)} teacher states (at least one pair).")
    total = 0.0
    for j, (s, t) in enumerate(zip(student_cls, teacher_cls)):
        if s.dim() != 2 or s.shape != t.shape:
            raise TinyBertLabError(
                f"Pair {j}: [CLS] states must both be (batch, width) and match; got {tuple(s.shape)} and "
                f"{tuple(t.shape)}. PKD compares states of equal width (use a same-width student or a projection).")
        s_hat = s / _safe_norm(s).clamp_min(1e-12)[:, None]
        t_hat = t / _safe_norm(t).clamp_min(1e-12)[:, None]
        total = total + (s_hat - t_hat).pow(2).sum(dim=-1).mean()
    return total


# ---------------------------------------------------------------- several teachers, two students
def _check_probs(student_logits: torch.Tensor, target_probs: torch.Tensor) -> None:
    if student_logits.dim() != 2 or student_logits.shape != target_probs.shape:
        raise TinyBertLabError(
            f"Student logits and target probabilities must both be (batch, num_classes) and match; got "
            f"{tuple(student_logits.shape)} and {tuple(target_probs.shape)}."
        )


def soft_kl_to_probs(student_logits: torch.Tensor, target_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T² · KL(q ‖ softmax(z_S/T))`` against given target probabilities ``q`` (e.g. an ensemble's).

    student_logits: (B, C); target_probs: (B, C), rows summing to 1 (already softened with the
    same T, as ``ensemble_soft_targets`` returns them). Summed over classes, averaged over the
    batch; classes with ``q = 0`` contribute 0. With ``q = softmax(z_T/T)`` this is exactly
    ``soft_kl(z_S, z_T, T)``. Returns a scalar.
    """
    _check_temperature(temperature)
    _check_probs(student_logits, target_probs)
    log_p_s = F.log_softmax(student_logits / temperature, dim=-1)
    target = target_probs.to(log_p_s.dtype)
    kl_per_example = (torch.xlogy(target, target) - target * log_p_s).sum(dim=-1)  # (B,)
    return temperature**2 * kl_per_example.mean()


def ensemble_soft_targets(
    teacher_logits: list[torch.Tensor], weights=None, temperature: float = 1.0
) -> torch.Tensor:
    """Multi-teacher soft targets: ``q = Σ_k w_k · softmax(z_k / T)`` with ``Σ_k w_k = 1``.

    teacher_logits: a list of K tensors (B, C), one per teacher, over the same label set.
    weights: K numbers >= 0 (default: equal), normalised to sum to 1 here, so ``[2, 1]`` means
    two thirds and one third (``normalised_teacher_weights``). Averaging *probabilities* (not logits) keeps each teacher's
    distribution as it is: the average of distributions is a distribution. Returns (B, C).
    """
    _check_temperature(temperature)
    if isinstance(teacher_logits, torch.Tensor) or not teacher_logits:
        raise TinyBertLabError(
            "ensemble_soft_targets needs a non-empty list of teacher logits [(B, C), ...], one per teacher."
        )
    shapes = [tuple(z.shape) for z in teacher_logits]
    if any(len(s) != 2 for s in shapes) or len({s[0] for s in shapes}) != 1:
        raise TinyBertLabError(
            f"Every teacher's logits must be (batch, num_classes) for the same batch; got shapes {shapes}."
        )
    if len({s[1] for s in shapes}) != 1:
        raise TinyBertLabError(
            f"The teachers have mismatched label sets: class counts {[s[1] for s in shapes]}. An ensemble "
            "averages distributions over one set of classes: use teachers fine-tuned on the same task."
        )
    weights = normalised_teacher_weights(weights, len(teacher_logits))
    probs = [F.softmax(z.float() / temperature, dim=-1) for z in teacher_logits]
    return sum(w * p for w, p in zip(weights, probs))


def normalised_teacher_weights(weights, count: int) -> list[float]:
    """Check K = ``count`` teacher weights (None: equal) and scale them to sum to 1.

    Each must be a finite number >= 0 and at least one positive. Returns a list of K floats.
    """
    if weights is None:
        return [1.0 / count] * count
    if isinstance(weights, torch.Tensor):
        weights = weights.tolist()
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__"):
        raise TinyBertLabError(f"Teacher weights must be a list of numbers, one per teacher; got {weights!r}.")
    if len(weights) != count:
        raise TinyBertLabError(
            f"Got {len(weights)} weights for {count} teachers: give one weight per teacher (or none for equal weights)."
        )
    if not all(is_weight(w) for w in weights):
        raise TinyBertLabError(f"Teacher weights must be finite numbers >= 0, got {list(weights)}.")
    total = float(sum(weights))
    if not total > 0:
        raise TinyBertLabError(
            f"Teacher weights {list(weights)} sum to 0: they are normalised to sum to 1, so at least one must be positive."
        )
    return [float(w) / total for w in weights]


def mutual_kl(logits_self: torch.Tensor, logits_other: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Deep mutual learning (Zhang et al. 2018): ``T² · KL(p_other ‖ p_self)``, ``p = softmax(z/T)``.

    Logits: (B, C). The peer's distribution is a *target*: ``logits_other`` is detached, so the
    gradient reaches only the model that produced ``logits_self``. Summed over classes, averaged
    over the batch (``batchmean``), like ``soft_kl``; the paper uses T = 1, where the ``T²``
    factor is 1. Returns a scalar.
    """
    return soft_kl(logits_self, logits_other.detach(), temperature)


# ---------------------------------------------------------------- next-token distributions (causal LMs)
def _token_positions(student_logits: torch.Tensor, teacher_logits: torch.Tensor | None,
                     mask: torch.Tensor) -> torch.Tensor:
    """Check (B, L, V) logits and a (B, L) mask; return the mask as bool (at least one position kept)."""
    if student_logits.dim() != 3:
        raise TinyBertLabError(
            f"Next-token logits must be (batch, positions, vocabulary); got {tuple(student_logits.shape)}.")
    if teacher_logits is not None and teacher_logits.shape != student_logits.shape:
        raise TinyBertLabError(
            f"Student logits {tuple(student_logits.shape)} and teacher logits {tuple(teacher_logits.shape)} differ: "
            "both models must share one tokenizer (one vocabulary) and see the same batch.")
    if tuple(mask.shape) != tuple(student_logits.shape[:2]):
        raise TinyBertLabError(
            f"mask has shape {tuple(mask.shape)} but the logits have {tuple(student_logits.shape[:2])} positions: "
            "pass one 0/1 (or bool) entry per predicted position, 0 where the position is padding or ignored.")
    mask = mask.bool()
    if not mask.any():
        raise TinyBertLabError("mask is all zeros: no position left to compare.")
    return mask


def next_token_ce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy ``mean over kept positions of −log softmax(z)_{t, y_t}``.

    logits: (B, L, V), the prediction at each position; targets: (B, L) the token that follows;
    mask: (B, L) 0/1, 1 = a position that counts. Ignored positions are selected away before any
    arithmetic, so whatever their targets hold (padding, -100) cannot matter. Returns a scalar
    (nats per token; ``exp`` of it is the perplexity).
    """
    keep = _token_positions(logits, None, mask)
    if tuple(targets.shape) != tuple(logits.shape[:2]):
        raise TinyBertLabError(f"targets {tuple(targets.shape)} must match the logits' positions {tuple(logits.shape[:2])}.")
    return F.cross_entropy(logits[keep].float(), targets[keep])


def token_forward_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor,
                     temperature: float = 1.0) -> torch.Tensor:
    """Forward KL per position, the soft-target loss of DistilGPT-2 and Hinton:
    ``T² · Σ_v p_v (log p_v − log q_v)`` with ``p = softmax(z_T/T)``, ``q = softmax(z_S/T)``.

    Logits: (B, L, V); mask: (B, L), 1 = a position that counts. Summed over the vocabulary,
    averaged over kept positions. Mass-covering: q is punished wherever p has mass and q has
    none, so q spreads over every token p finds plausible. Returns a scalar.
    """
    _check_temperature(temperature)
    keep = _token_positions(student_logits, teacher_logits, mask)
    log_q = F.log_softmax(student_logits[keep].float() / temperature, dim=-1)  # (N, V)
    log_p = F.log_softmax(teacher_logits[keep].float() / temperature, dim=-1)
    return temperature**2 * (log_p.exp() * (log_p - log_q)).sum(dim=-1).mean()


def token_reverse_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor,
                     temperature: float = 1.0) -> torch.Tensor:
    """Reverse KL per position (token-level MiniLLM): ``T² · Σ_v q_v (log q_v − log p_v)``.

    Logits: (B, L, V); mask: (B, L). Summed over the vocabulary, averaged over kept positions.
    Mode-seeking: q pays nothing for ignoring tokens p finds plausible, only for putting mass
    where p has little, so q settles on p's largest mode. The gradient reaches the student
    through q in both factors. Returns a scalar.
    """
    _check_temperature(temperature)
    keep = _token_positions(student_logits, teacher_logits, mask)
    log_q = F.log_softmax(student_logits[keep].float() / temperature, dim=-1)
    log_p = F.log_softmax(teacher_logits[keep].float() / temperature, dim=-1)
    return temperature**2 * (log_q.exp() * (log_q - log_p)).sum(dim=-1).mean()


def token_jsd(student_logits: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor,
              beta: float = 0.5) -> torch.Tensor:
    """Generalised Jensen–Shannon divergence per position (GKD, Agarwal et al. 2024):
    ``β KL(p ‖ m) + (1 − β) KL(q ‖ m)`` with ``m = β p + (1 − β) q``.

    Logits: (B, L, V); mask: (B, L); ``0 < β < 1`` (near 0 it behaves like forward KL, near 1
    like reverse KL, each scaled by β resp. 1 − β). Summed over the vocabulary, averaged over kept
    positions. Returns a scalar.
    """
    if not 0 < beta < 1:
        raise TinyBertLabError(f"beta must be strictly between 0 and 1, got {beta!r} (GKD uses 0.1, 0.5, 0.9).")
    keep = _token_positions(student_logits, teacher_logits, mask)
    log_q = F.log_softmax(student_logits[keep].float(), dim=-1)
    log_p = F.log_softmax(teacher_logits[keep].float(), dim=-1)
    log_m = torch.logsumexp(torch.stack([log_p + math.log(beta), log_q + math.log(1 - beta)]), dim=0)
    kl_p = (log_p.exp() * (log_p - log_m)).sum(dim=-1)
    kl_q = (log_q.exp() * (log_q - log_m)).sum(dim=-1)
    return (beta * kl_p + (1 - beta) * kl_q).mean()
