"""Checks for the workshop exercises: each compares a learner's function with the library's on
random inputs and says whether it is right, with a hint when it is not."""

from __future__ import annotations

import torch

from . import losses


def _report(ok: bool, what: str, hint: str) -> bool:
    if ok:
        print(f"✓ {what}: correct.")
        return True
    raise AssertionError(f"✗ {what} does not match the reference yet. Hint: {hint}")


def check_softmax_with_temperature(fn) -> bool:
    """``fn(logits (B, C), temperature) -> probabilities (B, C)``, i.e. softmax(logits / T)."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, generator=generator) * 3
    ok = all(torch.allclose(torch.as_tensor(fn(logits, t)).float(), torch.softmax(logits / t, -1), atol=1e-5)
             for t in (1.0, 2.0, 5.0))
    return _report(ok, "softmax_with_temperature", "divide the logits by T, then softmax over the last dimension.")


def check_attention_mse(fn) -> bool:
    """``fn(student_scores, teacher_scores, attention_mask) -> scalar``: TinyBERT's attention MSE
    over real (query, key) pairs, as ``losses.attention_loss(kind="scores")``."""
    generator = torch.Generator().manual_seed(1)
    student, teacher = torch.randn(2, 3, 5, 5, generator=generator), torch.randn(2, 3, 5, 5, generator=generator)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    expected = losses.attention_loss(student, teacher, mask)
    ok = torch.allclose(torch.as_tensor(fn(student, teacher, mask)).float(), expected, atol=1e-5)
    return _report(ok, "attention_mse", "keep only pairs where both the query and the key are real tokens "
                   "(mask[:, None, :, None] * mask[:, None, None, :]), then average the squared differences.")
