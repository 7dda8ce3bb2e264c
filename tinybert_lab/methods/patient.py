"""Patient knowledge distillation (Sun et al. 2019): the student learns from the teacher's
intermediate layers *patiently*, one normalised [CLS] state per mapped layer, plus soft and hard
cross-entropy.

    objective = PatientObjective(student, teacher, strategy="skip")   # or "last", or a LayerMap
    training.fit(objective, data.encode(train, tokenizer), tokenizer, TrainConfig(steps=300))

Layers: the student's layers 1..M−1 (its last layer feeds the prediction terms), each paired
with one teacher layer by ``pkd_pairs``: **PKD-skip** takes every (N/M)-th teacher layer
(``LayerMap.uniform``, rounded down), **PKD-last** the teacher's last layers below its top one
(``LayerMap.last``). A student and teacher of the same width are needed (PKD's students are
shallower BERTs of the teacher's width, e.g. ``distilbert.student_from_teacher``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core import data as data_lib
from ..core import losses
from ..core.config import Weights
from ..core.errors import TinyBertLabError
from ..core.mapping import LayerMap
from .objectives import _freeze, _TeachersStayInEval, check_teacher_and_student, output_terms

STRATEGIES = ("skip", "last")


def pkd_pairs(student_layers: int, teacher_layers: int, strategy="skip") -> list[tuple[int, int]]:
    """``[(student layer, teacher layer)]`` for student layers 1..M−1 (1-based, as in ``LayerMap``).

    ``strategy``: ``"skip"`` (uniform), ``"last"``, or a ``LayerMap`` whose entries for those
    layers are used (a many-to-one entry uses its first teacher layer)."""
    if isinstance(strategy, LayerMap):
        layer_map = strategy
        if (layer_map.student_layers, layer_map.teacher_layers) != (student_layers, teacher_layers):
            raise TinyBertLabError(
                f"The layer map is for {layer_map.student_layers} → {layer_map.teacher_layers} layers, "
                f"the models have {student_layers} → {teacher_layers}.")
    elif strategy == "skip":
        layer_map = LayerMap.uniform(student_layers, teacher_layers)
    elif strategy == "last":
        layer_map = LayerMap.last(student_layers, teacher_layers)
    else:
        raise TinyBertLabError(f"Unknown PKD strategy {strategy!r}: use 'skip', 'last' or a LayerMap.")
    pairs = [(m.student, m.teacher[0]) for m in layer_map.matches if 1 <= m.student < student_layers]
    if not pairs:
        raise TinyBertLabError(
            f"A {student_layers}-layer student has no intermediate layer to match (PKD uses layers 1..M−1): "
            "use a student with at least 2 layers.")
    return pairs


@dataclass(frozen=True)
class PatientWeights(Weights):
    """``PatientObjective``'s terms, the paper's ``(1 − α)·CE + α·KD + β·PT`` with α = 0.5, β = 100."""

    pkd: float = 100.0
    prediction: float = 0.5
    hard_label: float = 0.5

    _what = "PatientObjective weight"


class PatientObjective(_TeachersStayInEval):
    """PKD's loss: ``pkd`` = ``losses.pkd_loss`` on the [CLS] states of ``pairs``; ``prediction``
    = ``T² · KL(p_T ‖ p_S)`` (``losses.soft_kl``, from the same teacher forward pass);
    ``hard_label`` = ``CE(z_S, y)``. ``weights`` (a ``PatientWeights`` or a dict of overrides)
    default to the paper's
    ``(1 − α)·CE + α·KD + β·PT`` with α = 0.5, β = 100 (the paper tunes α ∈ {0.2, 0.5, 0.7},
    β ∈ {10, 100, 500, 1000}, T ∈ {5, 10, 20})."""

    def __init__(self, student, teacher, *, strategy="skip", weights: PatientWeights | dict | None = None,
                 temperature: float = 5.0):
        super().__init__()
        losses._check_temperature(temperature)
        self.weights = PatientWeights.coerce(weights).active()
        if student.config.hidden_size != teacher.config.hidden_size:
            raise TinyBertLabError(
                f"PKD compares [CLS] states of equal width: the student is {student.config.hidden_size} wide, the "
                f"teacher {teacher.config.hidden_size}. Build the student from the teacher "
                "(distilbert.student_from_teacher) or use the TinyBERT Distiller, whose projections bridge widths.")
        check_teacher_and_student(student, teacher, self.weights)
        self.pairs = pkd_pairs(student.config.num_hidden_layers, teacher.config.num_hidden_layers, strategy)
        _freeze(teacher)
        self.student, self.teacher, self.temperature = student, teacher, temperature

    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        inputs = data_lib.model_inputs(batch)
        student = self.student(**inputs, output_hidden_states=True)
        with torch.no_grad():
            teacher = self.teacher(**inputs, output_hidden_states=True)
        w, terms = self.weights, {}
        if w.get("pkd"):
            terms["pkd"] = losses.pkd_loss([student.hidden_states[s][:, 0].float() for s, _ in self.pairs],
                                           [teacher.hidden_states[t][:, 0].float() for _, t in self.pairs])
        terms.update(output_terms(w, student.logits, teacher.logits, batch, self.temperature))
        return terms
