"""TinyBERT distillation: the ``Distiller`` objective and its stages.

TinyBERT (Jiao et al. 2020) trains a student in two places and two steps:

- **general distillation**: intermediate layers only (embeddings, attention, hidden states),
  from the *pre-trained* teacher, on unlabeled text with BERT's dynamic masking;
- **task distillation**, step 1: the same intermediate losses from the *fine-tuned* teacher
  on the task's sentences; step 2: the prediction layer (soft cross-entropy on the logits).

Everything runs through ``training.fit``, so each stage gets checkpoints, resume, per-term loss
history, callbacks and evaluation. Loss weights are a validated dataclass (``LossWeights``);
per-layer weights live on the layer map (``mapping.LayerMap.with_depth_decay``).

    distiller = Distiller(student, teacher)                     # uniform layer map, projections
    histories = run_stages(distiller, two_step_stages(300, 300), splits["train"], tokenizer)
    baseline = training.train_classifier(other_student, splits["train"], tokenizer, same_config)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from ..core import data as data_lib
from ..core import losses
from ..core.attention import forward_features
from ..core.config import Weights
from ..core.errors import TinyBertLabError
from ..core.logit_cache import TeacherLogitCache
from ..core.mapping import LayerMap, default_map
from ..core.streaming import TextStream
from ..core.training import History, TrainConfig, fingerprint, fit

@dataclass(frozen=True)
class LossWeights(Weights):
    """Weight of each loss term; 0 switches a term off (and skips its computation).

    ``embedding``: MSE(E_S W_e, E_T); ``attention``: attention-score MSE summed over mapped
    layers; ``hidden``: MSE(H_S W_h, H_T) summed over mapped layers; ``prediction``: soft
    cross-entropy with the teacher's logits; ``hard_label``: cross-entropy with the labels.
    """

    embedding: float = 0.0
    attention: float = 0.0
    hidden: float = 0.0
    prediction: float = 0.0
    hard_label: float = 0.0

    @property
    def intermediate(self) -> bool:
        """Whether any embedding/attention/hidden term is on (then the teacher runs every step)."""
        return self.embedding > 0 or self.attention > 0 or self.hidden > 0


INTERMEDIATE = LossWeights(embedding=1.0, attention=1.0, hidden=1.0)
PREDICTION = LossWeights(prediction=1.0)


@dataclass(frozen=True)
class DistillConfig(TrainConfig):
    """A ``TrainConfig`` plus what distillation needs: ``weights`` (a ``LossWeights`` or a dict),
    ``temperature`` for the prediction loss, ``attention_kind`` (``"scores"``: TinyBERT's MSE
    on pre-softmax scores; ``"probs"``; ``"kl"``), ``head_average`` (compare head-averaged
    attention when the head counts differ)."""

    weights: LossWeights = PREDICTION
    temperature: float = 1.0
    attention_kind: str = "scores"
    head_average: bool = False

    def check(self):
        super().check()
        self.require("weights", isinstance(self.weights, (LossWeights, dict)), "a LossWeights or a dict of its terms")
        object.__setattr__(self, "weights", LossWeights.coerce(self.weights))
        self.require_number("temperature", low_open=True, fix="1 means no softening.")
        self.require_choice("attention_kind", losses.ATTENTION_KINDS)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "weights": self.weights.to_dict()}


# --------------------------------------------------------------------------------------------
# The Distiller
# --------------------------------------------------------------------------------------------
class Distiller(nn.Module):
    """Teacher, student and the projections between them, in one module, so an optimizer built
    from ``distiller.parameters()`` sees every trainable parameter (the teacher is frozen).

    ``layer_map`` defaults to ``mapping.default_map``: the teacher layers the student was
    initialised from when it records them (a teacher-projected or DistilBERT student), else
    ``LayerMap.uniform(M, N)``. One learnable ``nn.Linear(d_S, d_T)``
    per mapped layer (``projections["0"]`` for the embeddings, ``["m"]`` for layer m) exists
    from the start when the widths differ, initialised from ``seed``. ``configure(config)`` sets the loss weights,
    temperature and attention options of the current stage. ``teacher=None`` is allowed for
    weights that need no teacher (hard labels only).
    """

    def __init__(self, student, teacher=None, *, layer_map: LayerMap | None = None,
                 logit_cache: TeacherLogitCache | None = None, seed: int = 0):
        super().__init__()
        self.student, self.teacher, self.logit_cache = student, teacher, logit_cache
        self.weights = {"hard_label": 1.0}
        self.temperature, self.attention_kind, self.head_average = 1.0, "scores", False
        self.projections = nn.ModuleDict()
        self.transformer_student = _has_layers(student)
        self.masked_inputs = False
        if teacher is not None:
            s, t = student.config, teacher.config
            if s.vocab_size != t.vocab_size:
                raise TinyBertLabError(
                    f"The student's vocabulary ({s.vocab_size} tokens) differs from the teacher's ({t.vocab_size}): "
                    "they must read the same token ids. Build the student with the teacher's tokenizer."
                )
        if teacher is None or not self.transformer_student:
            self.layer_map = layer_map
            return
        self.layer_map = layer_map or default_map(s, t)
        self.layer_map.check_models(s, t, attention=False)
        teacher.requires_grad_(False)
        teacher.eval()
        if s.hidden_size != t.hidden_size:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)  # reproducible projections, whatever ran before
                for match in self.layer_map.matches:
                    self.projections[str(match.student)] = nn.Linear(s.hidden_size, t.hidden_size)

    def configure(self, config: DistillConfig) -> None:
        """Use ``config``'s weights, temperature and attention options; refuse what cannot work."""
        weights = config.weights
        if weights.intermediate and not self.transformer_student:
            kind = getattr(self.student.config, "model_type", type(self.student).__name__)
            raise TinyBertLabError(
                f"The student ({kind}) has no Transformer layers, so it has no attention maps, hidden states or "
                f"BERT embeddings to match, but the weights ask for {sorted(n for n in ('embedding', 'attention', 'hidden') if getattr(weights, n))}. "
                "Use prediction-layer weights only (prediction / hard_label), or bilstm.LogitMatching for a BiLSTM.")
        if (weights.intermediate or weights.prediction) and self.teacher is None:
            raise TinyBertLabError(
                f"Loss weights {weights.active()} need a teacher; this Distiller has none. Pass teacher=...")
        if weights.attention and self.teacher is not None:
            self.layer_map.check_models(self.student.config, self.teacher.config, head_average=config.head_average)
        if weights.prediction and self.student.config.num_labels != self.teacher.config.num_labels:
            raise TinyBertLabError(
                f"The student has {self.student.config.num_labels} labels and the teacher "
                f"{self.teacher.config.num_labels}: prediction-layer distillation needs the same label set.")
        self.weights = weights.active()
        self.temperature, self.attention_kind, self.head_average = (
            config.temperature, config.attention_kind, config.head_average)
        self.masked_inputs = config.mask_probability > 0

    @torch.no_grad()
    def init_projections(self, basis: torch.Tensor) -> None:
        """Start every projection at ``h_S ↦ h_S Pᵀ`` for a student built by
        ``teacher_init.project_teacher`` with basis ``P`` (d_T, d_S): its hidden states already live in
        that basis, so the hidden and embedding losses start near their minimum instead of at a
        random projection's."""
        for projection in self.projections.values():
            if tuple(projection.weight.shape) != tuple(basis.shape):
                raise TinyBertLabError(
                    f"basis has shape {tuple(basis.shape)} but the projections map {projection.in_features} → "
                    f"{projection.out_features}: pass the basis that project_teacher returned for this student.")
            projection.weight.copy_(basis)
            projection.bias.zero_()

    def _project(self, layer: int):
        return self.projections[str(layer)] if str(layer) in self.projections else None

    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Unweighted loss terms for one batch (only those with a positive weight).

        ``embedding``/``hidden``/``attention`` are sums over the mapped layers, each layer's loss
        multiplied by its layer-map weight; a many-to-one entry compares with the mean of its
        teacher layers' features.
        """
        w = self.weights
        intermediate = any(w.get(name, 0) for name in ("embedding", "attention", "hidden"))
        mask = batch["attention_mask"]
        if intermediate:
            student = forward_features(self.student, batch)
            with torch.no_grad():
                teacher = forward_features(self.teacher, batch)
            student_logits, teacher_logits = student.logits, teacher.logits
        else:
            student_logits = self.student(**data_lib.model_inputs(batch)).logits
            teacher_logits = None
        terms = {}
        if w.get("embedding"):
            terms["embedding"] = sum(
                m.weight * losses.embedding_mse(student.hidden_states[0], teacher.hidden_states[0], mask, self._project(0))
                for m in self.layer_map.matches if m.student == 0)
        if w.get("hidden"):
            terms["hidden"] = sum(
                m.weight * losses.hidden_mse(student.hidden_states[m.student],
                                             _mean(teacher.hidden_states, m.teacher), mask, self._project(m.student))
                for m in self.layer_map.attention_matches)
        if w.get("attention"):
            terms["attention"] = sum(
                m.weight * losses.attention_loss(student.attention_scores[m.student - 1],
                                                 _mean(teacher.attention_scores, [t - 1 for t in m.teacher]), mask,
                                                 kind=self.attention_kind, head_average=self.head_average)
                for m in self.layer_map.attention_matches)
        if w.get("prediction"):
            if teacher_logits is None:
                teacher_logits = self._teacher_logits(batch)
            terms["prediction"] = losses.soft_cross_entropy(student_logits, teacher_logits.to(student_logits.dtype),
                                                            self.temperature)
        if w.get("hard_label"):
            terms["hard_label"] = losses.hard_ce(student_logits, batch["labels"])
        for name in ("embedding", "hidden", "attention"):
            if name in terms and not torch.is_tensor(terms[name]):  # no layer mapped for this term
                raise TinyBertLabError(f"The {name!r} loss has a weight but the layer map has no entry for it.")
        return terms

    def _teacher_logits(self, batch) -> torch.Tensor:
        """Teacher logits (B, C) for ``batch``: looked up in the cache by example id, unless the
        inputs are masked (then the cached logits, computed on clean inputs, would be wrong)."""
        if self.logit_cache is not None and not self.masked_inputs:
            return self.logit_cache.lookup(batch["idx"]).to(batch["input_ids"].device)
        with torch.no_grad():
            return self.teacher(**data_lib.model_inputs(batch)).logits


def _has_layers(model) -> bool:
    """True for a BERT-style model whose layers the intermediate losses can read."""
    return hasattr(getattr(model, "base_model", None), "encoder") and hasattr(model.config, "num_hidden_layers")


def _mean(features: tuple[torch.Tensor, ...], indices) -> torch.Tensor:
    """Mean of the features at ``indices`` (one index: that feature itself)."""
    if len(indices) == 1:
        return features[indices[0]]
    return torch.stack([features[i] for i in indices]).mean(0)


# --------------------------------------------------------------------------------------------
# Running stages
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    """One distillation stage: a name (used for its checkpoint folder) and its config."""

    name: str
    config: DistillConfig


def two_step_stages(intermediate_steps: int, prediction_steps: int, **settings) -> list[Stage]:
    """TinyBERT's task distillation: intermediate layers first, then the prediction layer.

    ``settings`` go to both stages' ``DistillConfig`` (batch size, learning rate, seed...);
    per-stage values: ``intermediate_lr`` / ``prediction_lr`` override ``learning_rate``.
    """
    intermediate_lr = settings.pop("intermediate_lr", None)
    prediction_lr = settings.pop("prediction_lr", None)
    base = DistillConfig.from_dict(settings) if settings else DistillConfig()
    first = replace(base, steps=intermediate_steps, weights=INTERMEDIATE,
                    learning_rate=intermediate_lr or base.learning_rate)
    second = replace(base, steps=prediction_steps, weights=PREDICTION, learning_rate=prediction_lr or base.learning_rate)
    return [Stage("intermediate", first), Stage("prediction", second)]


def run_stages(distiller: Distiller, stages: list[Stage], train_data, tokenizer, *, eval_data=None,
               callbacks=None, progress: bool = True, checkpoint_dir: str | Path | None = None,
               resume: bool = False, cache_teacher_logits: bool = True) -> dict[str, History]:
    """Run the stages in order on raw ``train_data``; return ``{stage name: History}``.

    Each stage gets a fresh optimizer and schedule over the same student and projections.
    Prediction-only stages use a ``TeacherLogitCache`` (built once) when
    ``cache_teacher_logits``. With ``checkpoint_dir``, each stage checkpoints into its own
    subfolder, and ``resume=True`` skips finished stages and continues the interrupted one.
    """
    if not stages:
        raise TinyBertLabError("No stages to run: pass e.g. two_step_stages(300, 300).")
    names = [stage.name for stage in stages]
    if len(set(names)) != len(names):
        raise TinyBertLabError(f"Stage names must be unique (they name checkpoint folders), got {names}.")
    encoded_by_length = {}
    histories = {}
    for stage in stages:
        config = stage.config
        distiller.configure(config)
        length = config.max_length
        if isinstance(train_data, TextStream):  # streamed text: tokenised as it is read
            encoded_by_length[length] = train_data
        elif length not in encoded_by_length:
            encoded_by_length[length] = data_lib.encode(train_data, tokenizer, max_length=length)
        encoded = encoded_by_length[length]
        weights = config.weights
        if weights.prediction and isinstance(encoded, TextStream):
            raise TinyBertLabError("A TextStream is unlabelled text for the intermediate layers (general "
                                   "distillation); the prediction layer needs an encoded dataset.")
        if weights.prediction and not weights.intermediate and cache_teacher_logits and config.mask_probability == 0:
            key = fingerprint(distiller.teacher, encoded)
            if distiller.logit_cache is None or distiller.logit_cache.key != key:
                distiller.logit_cache = TeacherLogitCache.build(distiller.teacher, encoded, tokenizer, key=key)
        elif weights.prediction:
            distiller.logit_cache = None  # a cache from an earlier stage may be for other data: run the teacher
        folder = Path(checkpoint_dir) / stage.name if checkpoint_dir is not None else None
        histories[stage.name] = fit(distiller, encoded, tokenizer, config, eval_data=eval_data, callbacks=callbacks,
                                    progress=progress, description=stage.name, checkpoint_dir=folder, resume=resume)
    return histories


def general_distillation(student, text_data, tokenizer, *, teacher=None, layer_map: LayerMap | None = None,
                         config: DistillConfig | None = None, **fit_options) -> tuple[Distiller, History]:
    """TinyBERT's general distillation: intermediate layers from the *pre-trained* teacher on
    unlabeled text (labels are ignored), with 15 % dynamic masking by default.

    ``text_data``: any dataset with a ``text`` or ``sentence`` column (``data.load_text_file``,
    or SST-2 sentences), or a ``streaming.TextStream`` for a corpus larger than memory.
    ``teacher`` defaults to the offline MiniLM as pre-trained.
    """
    from ..core.models import load_teacher

    teacher = teacher if teacher is not None else load_teacher(num_labels=student.config.num_labels)
    config = config or DistillConfig(weights=INTERMEDIATE, mask_probability=0.15)
    if config.weights.prediction or config.weights.hard_label:
        raise TinyBertLabError(
            "General distillation matches intermediate layers only (the pre-trained teacher has no task "
            "head worth copying): set prediction and hard_label weights to 0.")
    distiller = Distiller(student, teacher, layer_map=layer_map)
    histories = run_stages(distiller, [Stage("general", config)], text_data, tokenizer, **fit_options)
    return distiller, histories["general"]
