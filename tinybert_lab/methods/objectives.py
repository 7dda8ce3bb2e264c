"""More ways to distil, as objectives ``training.fit`` can train: two students teaching each
other, several teachers at once, and the relations between examples.

Each objective is an ``nn.Module`` with a ``student`` (the model ``fit`` checks and
evaluates), a ``weights`` dict ``{term: weight}`` (only the terms that are on) and
``loss_terms(batch) -> {term: unweighted scalar}``, like ``training.LabelObjective`` and
``tinybert.Distiller``.

- ``MutualLearning(student_a, student_b)``: deep mutual learning (Zhang et al. 2018). No
  teacher: each student learns from the labels and from the other's predictions,
  ``CE(z_a, y) + KL(p_b ‖ p_a)`` and ``CE(z_b, y) + KL(p_a ‖ p_b)``.
- ``MultiTeacherObjective(student, teachers)``: the student matches the weighted average of
  several teachers' softened distributions, ``T² · KL(Σ_k w_k p_k ‖ p_S)``.
- ``RelationalObjective(student, teacher)``: relational KD (Park et al. 2019). The student's
  sentence vectors reproduce the *distances and angles* between the teacher's, whatever the
  two widths.

Loss weights are each objective's ``core.config.Weights`` dataclass (``MutualWeights``,
``MultiTeacherWeights``, ``RelationalWeights``), whose defaults are the papers'; pass one, or a
dict whose keys override the defaults. 0 switches a term off; unknown keys, negative numbers
and all-zero weights are errors.

    objective = RelationalObjective(student, teacher, weights={"hard_label": 1.0})
    history = training.fit(objective, data.encode(train, tokenizer), tokenizer, TrainConfig(steps=300))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..core import data as data_lib
from ..core import losses
from ..core.logit_cache import TeacherLogitCache
from ..core.config import Weights
from ..core.errors import TinyBertLabError


# --------------------------------------------------------------------------------------------
# Loss weights (defaults: the papers') and shared checks
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MutualWeights(Weights):
    """``MutualLearning``'s terms, all 1 as in the paper."""

    hard_label_a: float = 1.0
    mutual_a: float = 1.0
    hard_label_b: float = 1.0
    mutual_b: float = 1.0

    _what = "MutualLearning weight"


@dataclass(frozen=True)
class MultiTeacherWeights(Weights):
    """``MultiTeacherObjective``'s terms: the teachers' averaged soft targets; the labels off by default."""

    prediction: float = 1.0
    hard_label: float = 0.0

    _what = "MultiTeacherObjective weight"


@dataclass(frozen=True)
class RelationalWeights(Weights):
    """``RelationalObjective``'s terms: Park et al.'s 25 (distance) and 50 (angle), the labels at 1."""

    rkd_distance: float = 25.0
    rkd_angle: float = 50.0
    hard_label: float = 1.0
    prediction: float = 0.0

    _what = "RelationalObjective weight"


def _check_same_vocabulary(student, other, who: str) -> None:
    if student.config.vocab_size != other.config.vocab_size:
        raise TinyBertLabError(
            f"The student's vocabulary ({student.config.vocab_size} tokens) differs from {who}'s "
            f"({other.config.vocab_size}): they must read the same token ids. Build every model with one tokenizer."
        )


def check_teacher_and_student(student, teacher, weights: dict) -> None:
    """One vocabulary, and (when the ``prediction`` term is on) one label set."""
    _check_same_vocabulary(student, teacher, "the teacher")
    if weights.get("prediction") and student.config.num_labels != teacher.config.num_labels:
        raise TinyBertLabError(
            f"The student has {student.config.num_labels} labels and the teacher {teacher.config.num_labels}: "
            "the prediction term needs the same label set (or set its weight to 0).")


def output_terms(weights: dict, student_logits, teacher_logits, batch, temperature: float) -> dict:
    """The prediction-layer terms an objective has on: ``prediction`` = ``T² · KL(p_T ‖ p_S)``
    (``losses.soft_kl``) and ``hard_label`` = ``CE(z_S, y)``."""
    terms = {}
    if weights.get("prediction"):
        terms["prediction"] = losses.soft_kl(student_logits.float(), teacher_logits.float(), temperature)
    if weights.get("hard_label"):
        terms["hard_label"] = losses.hard_ce(student_logits, _checked_labels(batch, student_logits.shape[-1]))
    return terms


def _freeze(teacher) -> None:
    """Teachers never learn: no gradients, no dropout."""
    teacher.requires_grad_(False)
    teacher.eval()


def _checked_labels(batch: dict[str, torch.Tensor], num_labels: int) -> torch.Tensor:
    """The batch's labels, refusing unlabeled (-1) or out-of-range ids before cross-entropy sees them."""
    labels = batch["labels"]
    if ((labels < 0) | (labels >= num_labels)).any():
        raise TinyBertLabError(
            f"The batch holds labels {sorted(set(labels.tolist()))} but the models have {num_labels} classes "
            "(-1 means unlabeled). Train hard-label terms on labelled data only, or set their weights to 0."
        )
    return labels


class _TeachersStayInEval(nn.Module):
    """``objective.train()`` puts every submodule in training mode; the teacher(s), kept in
    ``self.teacher``, go back to eval mode (no dropout), whoever calls it."""

    def train(self, mode: bool = True):
        super().train(mode)
        if getattr(self, "teacher", None) is not None:
            self.teacher.eval()
        return self


# --------------------------------------------------------------------------------------------
# Deep mutual learning
# --------------------------------------------------------------------------------------------
class MutualLearning(nn.Module):
    """Deep mutual learning (Zhang et al. 2018): two students, no teacher, each learning from the
    labels and from the other's predictions.

    Terms (unweighted; ``p = softmax(z / temperature)``):

    - ``hard_label_a`` = ``CE(z_a, y)``, ``mutual_a`` = ``T² · KL(p_b ‖ p_a)`` (``p_b`` detached)
    - ``hard_label_b`` = ``CE(z_b, y)``, ``mutual_b`` = ``T² · KL(p_a ‖ p_b)`` (``p_a`` detached)

    Because the peer is detached, the gradient of student a's terms reaches only student a, and
    likewise for b: the sum that ``fit`` minimises gives each student exactly the gradient of
    its own loss, and one optimizer step updates both (AdamW works parameter by parameter, so one
    optimizer over both students is two optimizers with the same settings).

    Simultaneous, not alternating: the paper's Algorithm 1 updates student a, recomputes its
    predictions, then updates student b against a's *new* predictions (3 forward passes per
    step). Here both use the same forward pass, so b sees a's predictions from one small
    optimizer step earlier. With learning rates of 1e-4 that lag is negligible, a step costs 2
    forwards instead of 3, and the objective fits ``fit``'s one-optimizer loop. One real
    difference: ``fit`` clips the gradient norm over both students together.

    ``student`` is ``student_a``: ``fit`` checks the tokenizer and labels against it, and
    ``eval_data`` in ``fit`` evaluates student a only; score student b yourself with
    ``evaluation.evaluate(objective.student_b, ...)``. ``weights``: a ``MutualWeights`` or a
    dict of overrides (default all 1, as in the paper).
    """

    def __init__(self, student_a, student_b, *, weights: MutualWeights | dict | None = None,
                 temperature: float = 1.0):
        super().__init__()
        if student_a is student_b:
            raise TinyBertLabError("student_a and student_b are the same model: mutual learning needs two models.")
        _check_same_vocabulary(student_a, student_b, "student_b")
        if student_a.config.num_labels != student_b.config.num_labels:
            raise TinyBertLabError(
                f"student_a has {student_a.config.num_labels} labels and student_b {student_b.config.num_labels}: "
                "mutual learning compares their predictions, so they need the same label set."
            )
        losses._check_temperature(temperature)
        self.student_a, self.student_b = student_a, student_b
        self.weights = MutualWeights.coerce(weights).active()
        self.temperature = temperature

    @property
    def student(self):
        """The student ``fit`` checks and evaluates: ``student_a``."""
        return self.student_a

    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The active terms for one batch (both students see the same batch)."""
        inputs = data_lib.model_inputs(batch)
        logits = {"a": self.student_a(**inputs).logits, "b": self.student_b(**inputs).logits}
        w = self.weights
        terms = {}
        if w.get("hard_label_a") or w.get("hard_label_b"):
            labels = _checked_labels(batch, logits["a"].shape[-1])
        for me, other in (("a", "b"), ("b", "a")):
            if w.get(f"hard_label_{me}"):
                terms[f"hard_label_{me}"] = losses.hard_ce(logits[me], labels)
            if w.get(f"mutual_{me}"):
                terms[f"mutual_{me}"] = losses.mutual_kl(logits[me], logits[other], self.temperature)
        return terms


# --------------------------------------------------------------------------------------------
# Several teachers
# --------------------------------------------------------------------------------------------
def _label_count(teacher) -> int:
    if isinstance(teacher, TeacherLogitCache):
        return int(teacher.logits.shape[-1])
    return int(teacher.config.num_labels)


class MultiTeacherObjective(_TeachersStayInEval):
    """Multi-teacher KD: the student matches the teachers' weighted average distribution.

    ``teachers``: a list whose entries are ``logit_cache.TeacherLogitCache`` objects (logits computed
    once, looked up by ``batch["idx"]``; build each with ``TeacherLogitCache.build(teacher,
    encoded, tokenizer)`` on the encoded data you train on) or teacher models (run every step,
    frozen and kept in eval mode; they live in ``self.teacher``, an ``nn.ModuleList``, so
    checkpoints skip them like a ``Distiller``'s teacher). Caches are the fast choice, except
    with ``mask_probability > 0``: cached logits belong to the unmasked sentences.

    Terms (unweighted), with ``q = ensemble_soft_targets(teacher logits, teacher_weights, T)``:

    - ``prediction`` = ``T² · KL(q ‖ softmax(z_S/T))`` (``losses.soft_kl_to_probs``: Hinton's
      convention, batchmean; with one teacher it is ``losses.soft_kl``)
    - ``hard_label`` = ``CE(z_S, y)`` (off by default)

    ``teacher_weights``: one number >= 0 per teacher (default equal), normalised to sum to 1.
    ``weights``: a ``MultiTeacherWeights`` or a dict of overrides. All teachers and the student
    need the same label count.
    """

    def __init__(self, student, teachers: list, *, teacher_weights=None,
                 weights: MultiTeacherWeights | dict | None = None,
                 temperature: float = 1.0):
        super().__init__()
        if isinstance(teachers, (nn.Module, TeacherLogitCache)) or not teachers:
            raise TinyBertLabError(
                "teachers must be a non-empty list of teacher models or logit_cache.TeacherLogitCache objects, "
                "e.g. [cache_1, cache_2]."
            )
        teachers = list(teachers)
        for position, teacher in enumerate(teachers):
            if not isinstance(teacher, TeacherLogitCache) and not hasattr(getattr(teacher, "config", None), "num_labels"):
                raise TinyBertLabError(
                    f"teachers[{position}] is a {type(teacher).__name__}: each teacher must be a classification "
                    "model (with config.num_labels) or a logit_cache.TeacherLogitCache."
                )
        counts = [_label_count(t) for t in teachers]
        if len(set(counts)) != 1:
            raise TinyBertLabError(
                f"The teachers have mismatched label sets: {counts} classes. Their distributions can only be "
                "averaged over one set of classes: use teachers fine-tuned on the same task."
            )
        if counts[0] != student.config.num_labels:
            raise TinyBertLabError(
                f"The teachers predict {counts[0]} classes but the student has {student.config.num_labels}: build "
                f"the student with num_labels={counts[0]}."
            )
        losses._check_temperature(temperature)
        self.teacher_weights = losses.normalised_teacher_weights(teacher_weights, len(teachers))
        self.student = student
        models = [t for t in teachers if not isinstance(t, TeacherLogitCache)]
        for model in models:
            _check_same_vocabulary(student, model, "a teacher")
            _freeze(model)
        self.teacher = nn.ModuleList(models) if models else None
        # each source: a cache, or the position of a model in self.teacher
        self._sources = []
        for teacher in teachers:
            if isinstance(teacher, TeacherLogitCache):
                self._sources.append(teacher)
            else:
                self._sources.append(next(i for i, m in enumerate(models) if m is teacher))
        self.weights = MultiTeacherWeights.coerce(weights).active()
        self.temperature = temperature

    def teacher_logits(self, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """Each teacher's logits (B, C) for the batch, in the order the teachers were given."""
        device = batch["input_ids"].device
        out = []
        for source in self._sources:
            if isinstance(source, TeacherLogitCache):
                out.append(source.lookup(batch["idx"]).to(device))
            else:
                with torch.no_grad():
                    out.append(self.teacher[source](**data_lib.model_inputs(batch)).logits.float())
        return out

    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = self.student(**data_lib.model_inputs(batch)).logits
        terms = {}
        if self.weights.get("prediction"):
            targets = losses.ensemble_soft_targets(self.teacher_logits(batch), self.teacher_weights, self.temperature)
            terms["prediction"] = losses.soft_kl_to_probs(logits.float(), targets, self.temperature)
        if self.weights.get("hard_label"):
            terms["hard_label"] = losses.hard_ce(logits, _checked_labels(batch, logits.shape[-1]))
        return terms


# --------------------------------------------------------------------------------------------
# Relations between examples
# --------------------------------------------------------------------------------------------
POOLINGS = ("cls", "mean")


def sentence_representation(last_hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str = "cls") -> torch.Tensor:
    """One vector per sentence from the last layer's token states (B, L, H) → (B, H).

    ``"cls"``: the [CLS] state (position 0), what BERT's pooler and classifier read.
    ``"mean"``: the mean over real tokens (``attention_mask`` (B, L), 1 = real), padding excluded.
    """
    if pooling not in POOLINGS:
        raise TinyBertLabError(f"Unknown pooling {pooling!r}. Valid: {', '.join(map(repr, POOLINGS))}.")
    if pooling == "cls":
        return last_hidden[:, 0]
    mask = attention_mask.to(last_hidden.dtype)[..., None]  # (B, L, 1)
    real = torch.where(mask.bool(), last_hidden, 0.0)  # padded states (whatever they hold) are dropped
    return real.sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)


class RelationalObjective(_TeachersStayInEval):
    """Relational KD (Park et al. 2019) between sentence representations.

    The student does not copy the teacher's vectors (their widths may differ; no projection is
    learned): it copies how the examples of a batch sit relative to each other, their
    normalised pairwise distances and their triplet angles.

    Representation: by default the [CLS] state of the last layer (``pooling="cls"``) of each
    model, the vector BERT's classifier head reads, so shaping it shapes what the classifier
    sees; ``pooling="mean"`` averages the real tokens' last-layer states instead.

    Terms (unweighted): ``rkd_distance``, ``rkd_angle`` (``losses.rkd_distance`` /
    ``losses.rkd_angle`` on (student, teacher) representations); ``hard_label`` = ``CE(z_S, y)``;
    ``prediction`` = ``T² · KL(p_T ‖ p_S)`` (``losses.soft_kl``, Hinton's convention) on the
    teacher's logits from the same forward pass (the teacher runs every step for its
    representations anyway, so its logits cost nothing and need no cache). ``RelationalWeights``:
    Park et al.'s 25 (distance) and 50 (angle), plus the hard labels at 1 (RKD shapes the
    representation; without a label or prediction term the classifier head never learns).

    A batch too small for a relation (fewer than 2 examples for distances, 3 for angles, e.g.
    a short last batch) contributes 0 to that term instead of stopping training. (With 2
    examples the distance term is 0 anyway: one distance, normalised by itself.) Relations need
    several examples per batch: keep ``batch_size`` at 16-32 or more.
    """

    def __init__(self, student, teacher, *, weights: RelationalWeights | dict | None = None, pooling: str = "cls",
                 temperature: float = 1.0):
        super().__init__()
        if pooling not in POOLINGS:
            raise TinyBertLabError(f"Unknown pooling {pooling!r}. Valid: {', '.join(map(repr, POOLINGS))}.")
        losses._check_temperature(temperature)
        self.weights = RelationalWeights.coerce(weights).active()
        check_teacher_and_student(student, teacher, self.weights)
        _freeze(teacher)
        self.student, self.teacher = student, teacher
        self.pooling, self.temperature = pooling, temperature

    def representations(self, batch: dict[str, torch.Tensor]):
        """``(student_repr (B, d_S), teacher_repr (B, d_T), student_logits, teacher_logits)``;
        the teacher's under ``no_grad``, both representations in float32."""
        inputs = data_lib.model_inputs(batch)
        mask = batch["attention_mask"]
        student = self.student(**inputs, output_hidden_states=True)
        with torch.no_grad():
            teacher = self.teacher(**inputs, output_hidden_states=True)
        s = sentence_representation(student.hidden_states[-1], mask, self.pooling).float()
        t = sentence_representation(teacher.hidden_states[-1], mask, self.pooling).float()
        return s, t, student.logits, teacher.logits

    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        s, t, student_logits, teacher_logits = self.representations(batch)
        w, B = self.weights, s.shape[0]
        terms = {}
        if w.get("rkd_distance"):
            terms["rkd_distance"] = losses.rkd_distance(s, t) if B >= 2 else s.sum() * 0.0
        if w.get("rkd_angle"):
            terms["rkd_angle"] = losses.rkd_angle(s, t) if B >= 3 else s.sum() * 0.0
        terms.update(output_terms(w, student_logits, teacher_logits, batch, self.temperature))
        return terms
