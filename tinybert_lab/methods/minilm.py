"""MiniLMv2 (Wang et al. 2021): distil the *relations* inside one self-attention layer.

For one teacher layer and one student layer, the queries, keys and values (each ``(B, L, W)``,
before the split into the model's attention heads) are split into ``relation_heads`` heads of
their own, and the student matches the teacher's ``softmax(X_h X_hᵀ / √d_r)`` for X ∈ {Q, K, V}
(``losses.minilm_relation_loss``). No projection is learned, and the two models may differ in
width *and* in head count: only the number of relation heads must divide both widths.

    objective = MiniLMObjective(student, teacher)        # last layer of each, relation heads chosen
    training.fit(objective, data.encode(train, tokenizer), tokenizer, TrainConfig(steps=300))

The paper distils the teacher's last layer for base-size teachers and an upper-middle layer for
large ones; ``teacher_layer`` / ``student_layer`` (1-based) choose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from contextlib import contextmanager

import torch

from ..core import data as data_lib
from ..core import losses
from ..core.config import Weights
from ..core.errors import TinyBertLabError
from ..core.models import encoder_layers
from .objectives import _freeze, _TeachersStayInEval, check_teacher_and_student, output_terms


def default_relation_heads(student_width: int, teacher_width: int, cap: int = 48) -> int:
    """The largest number of relation heads ≤ ``cap`` that divides both widths (MiniLMv2 used 48
    for base-size models, 64 for large ones). 384 and 312 give 24."""
    common = math.gcd(student_width, teacher_width)
    return max(d for d in range(1, min(common, cap) + 1) if common % d == 0)


def qkv_modules(model, layer: int):
    """The query, key and value ``nn.Linear`` of Transformer layer ``layer`` (1-based) of a BERT model."""
    count = model.config.num_hidden_layers
    if isinstance(layer, bool) or not isinstance(layer, int) or not 1 <= layer <= count:
        raise TinyBertLabError(f"Layer {layer!r} is out of range: this model has layers 1..{count}.")
    attention = encoder_layers(model, "MiniLM needs a BERT-style model")[layer - 1].attention.self
    return attention.query, attention.key, attention.value


@contextmanager
def recording_qkv(model, layer: int):
    """Within the block, every forward pass of ``model`` stores layer ``layer``'s queries, keys and
    values in the yielded list (as three (B, L, W) tensors); the hooks are removed afterwards."""
    captured: list[torch.Tensor] = []
    handles = [module.register_forward_hook(lambda _m, _i, output: captured.append(output))
               for module in qkv_modules(model, layer)]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


@dataclass(frozen=True)
class MiniLMWeights(Weights):
    """``MiniLMObjective``'s terms: relations and hard labels at 1 (for general distillation on
    unlabeled text set ``hard_label`` to 0: MiniLM itself is task-agnostic)."""

    relations: float = 1.0
    hard_label: float = 1.0
    prediction: float = 0.0

    _what = "MiniLMObjective weight"


class MiniLMObjective(_TeachersStayInEval):
    """Terms (unweighted): ``relations`` = ``losses.minilm_relation_loss`` between the chosen
    layers' Q/K/V relations; ``hard_label`` = ``CE(z_S, y)``; ``prediction`` = ``T² · KL(p_T ‖ p_S)``.
    ``weights``: a ``MiniLMWeights`` or a dict of overrides."""

    def __init__(self, student, teacher, *, student_layer: int | None = None, teacher_layer: int | None = None,
                 relation_heads: int | None = None, weights: MiniLMWeights | dict | None = None, temperature: float = 1.0):
        super().__init__()
        losses._check_temperature(temperature)
        self.weights = MiniLMWeights.coerce(weights).active()
        check_teacher_and_student(student, teacher, self.weights)
        self.student_layer = student_layer or student.config.num_hidden_layers
        self.teacher_layer = teacher_layer or teacher.config.num_hidden_layers
        qkv_modules(student, self.student_layer), qkv_modules(teacher, self.teacher_layer)  # range checks
        widths = student.config.hidden_size, teacher.config.hidden_size
        self.relation_heads = relation_heads or default_relation_heads(*widths)
        if any(width % self.relation_heads for width in widths):
            common = math.gcd(*widths)
            raise TinyBertLabError(
                f"relation_heads={self.relation_heads} must divide both widths {widths}; choose a divisor of {common} "
                f"(e.g. {default_relation_heads(*widths)}).")
        _freeze(teacher)
        self.student, self.teacher, self.temperature = student, teacher, temperature

    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        inputs = data_lib.model_inputs(batch)
        with recording_qkv(self.student, self.student_layer) as student_qkv:
            student = self.student(**inputs)
        with torch.no_grad(), recording_qkv(self.teacher, self.teacher_layer) as teacher_qkv:
            teacher = self.teacher(**inputs)
        w, terms = self.weights, {}
        if w.get("relations"):
            terms["relations"] = losses.minilm_relation_loss([x.float() for x in student_qkv],
                                                             [x.float() for x in teacher_qkv],
                                                             batch["attention_mask"], self.relation_heads)
        terms.update(output_terms(w, student.logits, teacher.logits, batch, self.temperature))
        return terms
