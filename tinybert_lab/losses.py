"""Distillation losses: small pure functions, each returning a scalar tensor.

Prediction-layer losses (logits ``z`` of shape (B, C), temperature ``T``, labels ``y`` (B,)):

- ``soft_kl``: ``T² · KL(softmax(z_T/T) ‖ softmax(z_S/T))``, summed over classes, mean over batch
- ``hard_ce``: ``CE(z_S, y)``, mean over batch
- ``hinton_kd``: ``α · soft_kl + (1 − α) · hard_ce`` (Hinton et al. 2015)
- ``soft_cross_entropy``: ``−Σ_c softmax(z_T/T)_c · log softmax(z_S/T)_c``, mean over batch (TinyBERT)
- ``logit_mse``: ``mean((z_S − z_T)²)`` over all elements (Tang et al. 2019, BiLSTM student)

Intermediate-layer losses (all ignore padding, given the (B, L) 0/1 ``attention_mask``):

- ``attention_loss``: ``(1/h) Σ_i MSE(A_i^S, A_i^T)`` on pre-softmax scores (TinyBERT), or on
  probabilities, or ``KL(p_T ‖ p_S)`` per query row
- ``hidden_mse``: ``MSE(H_S W_h, H_T)`` over real tokens (TinyBERT hidden-state loss)
- ``embedding_mse``: the same function, for the embedding loss ``MSE(E_S W_e, E_T)``
- ``cosine_loss``: ``mean(1 − cos(h_S, h_T))`` over real tokens (DistilBERT)

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

from .errors import TinyBertLabError

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
) -> torch.Tensor:
    """Hinton et al.'s knowledge distillation: ``α · T²·KL(p_T ‖ p_S) + (1 − α) · CE(z_S, y)``.

    Logits: (B, C); labels: (B,). ``alpha`` in [0, 1] weighs the soft targets against the hard
    labels (``alpha=1``: soft targets only; ``alpha=0``: plain supervised training). Returns a scalar.
    """
    if not 0 <= alpha <= 1:
        raise TinyBertLabError(
            f"alpha must be in [0, 1], got {alpha!r}: it is the weight of the soft-target loss, "
            "and 1 - alpha the weight of the hard-label loss."
        )
    return alpha * soft_kl(student_logits, teacher_logits, temperature) + (1 - alpha) * hard_ce(
        student_logits, labels
    )


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
