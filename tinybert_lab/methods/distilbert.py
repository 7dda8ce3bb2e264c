"""DistilBERT (Sanh et al. 2019): a student cut from the teacher's own layers, and its loss.

Two ideas, each one function or class here:

- **Initialisation from the teacher.** The student keeps the teacher's width, heads and FFN
  size and drops layers; its embeddings and each of its layers start as copies of the teacher's
  (``student_from_teacher``, or ``copy_teacher_layers`` for a student you built yourself).
  Because every weight is copied, the widths must match; for a narrower student use
  ``models.init_embeddings_from_teacher`` (PCA) instead.
- **The triple loss** ``α_ce·T²·KL(p_T ‖ p_S) + α_mlm·MLM + α_cos·(1 − cos(h_S, h_T))``
  (``DistilBertObjective``), with weights in a validated ``DistilBertWeights``. It is a
  ``training.fit`` objective, in one of two modes:

  - ``mode="general"``: unlabeled text with BERT's dynamic masking
    (``TrainConfig(mask_probability=0.15)``). ``mlm`` is the student's own masked-LM loss,
    ``cos`` aligns its last hidden states with the teacher's, and ``ce`` distils the teacher's
    masked-LM distribution, which needs a teacher *with* an MLM head (``BertForMaskedLM``).
    The offline MiniLM teacher has none, so with it ``ce`` is unavailable (an error says so).
  - ``mode="task"``: a fine-tuned teacher and labelled sentences. ``ce`` is ``T²·KL`` on the
    task logits, ``cos`` as above, ``hard_label`` the optional cross-entropy with the labels;
    ``mlm`` must be 0.

::

    student = student_from_teacher(fine_tuned_teacher)          # layers [0, 2, 4] of 6
    objective = DistilBertObjective(student, fine_tuned_teacher, mode="task")
    history = training.fit(objective, data.encode(train, tokenizer), tokenizer, TrainConfig(steps=300))
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from ..core import data as data_lib
from ..core import losses
from ..core.attention import SCORES_ATTENTION
from ..core.config import Weights
from ..core.errors import TinyBertLabError
from ..core.mapping import record_init_layers

MODES = ("general", "task")
IGNORE_INDEX = -100  # Hugging Face's "no target here" label for masked-LM targets


# --------------------------------------------------------------------------------------------
# Initialisation: a student made of the teacher's own layers
# --------------------------------------------------------------------------------------------
def every_other_layer(num_teacher_layers: int) -> list[int]:
    """DistilBERT's default layer choice, zero-based: ``[0, 2, 4, ...]`` (6 teacher layers → [0, 2, 4]).

    The paper initialises the student "by taking one layer out of two". We keep the even
    layers, so the first layer (closest to the embeddings the student also copies) is always
    kept. (The released ``extract_distilbert.py`` used ``[0, 2, 4, 7, 9, 11]`` for BERT-base,
    keeping the last layer instead; pass ``layers=`` to choose your own.)
    """
    return list(range(0, num_teacher_layers, 2))


def _check_layers(layers, num_teacher_layers: int) -> list[int]:
    """Teacher layer indices: a non-empty, strictly increasing list in ``0..N-1``."""
    layers = list(layers)
    if not layers:
        raise TinyBertLabError(
            "layers is empty: the student needs at least one teacher layer, e.g. layers=[0, 2, 4] "
            "(or layers=None for every other layer).")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in layers):
        raise TinyBertLabError(f"layers must be integer teacher-layer indices (zero-based), got {layers!r}.")
    outside = [i for i in layers if not 0 <= i < num_teacher_layers]
    if outside:
        raise TinyBertLabError(
            f"Teacher layer(s) {outside} do not exist: the teacher has {num_teacher_layers} layers, "
            f"numbered 0..{num_teacher_layers - 1} (zero-based). Pick indices in that range.")
    if any(b <= a for a, b in zip(layers, layers[1:])):
        raise TinyBertLabError(
            f"layers={layers} is not strictly increasing. Student layer i copies teacher layer layers[i], "
            "so keep the teacher's order and use each layer once, e.g. [0, 2, 4].")
    return layers


def _check_same_shape(student, teacher) -> None:
    """Refuse a student whose weights cannot hold copies of the teacher's."""
    s, t = student.config, teacher.config
    if s.vocab_size != t.vocab_size:
        raise TinyBertLabError(
            f"The student has a {s.vocab_size}-token vocabulary and the teacher {t.vocab_size}: the word "
            "embeddings cannot be copied, and the two models would read different token ids. Build the "
            "student with the teacher's tokenizer (build_student(tokenizer=...)).")
    widths = ("hidden_size", "num_attention_heads", "intermediate_size")
    differ = [f"{k} {getattr(s, k)} vs {getattr(t, k)}" for k in widths if getattr(s, k) != getattr(t, k)]
    if differ:
        raise TinyBertLabError(
            f"Student and teacher differ in {', '.join(differ)} (student vs teacher). DistilBERT init copies "
            "weights, so widths must match; use models.init_embeddings_from_teacher (PCA) for a narrower "
            f"student, or build the student with hidden_size={t.hidden_size}, num_attention_heads="
            f"{t.num_attention_heads}, intermediate_size={t.intermediate_size}.")
    tables = ("max_position_embeddings", "type_vocab_size")
    differ = [f"{k} {getattr(s, k)} vs {getattr(t, k)}" for k in tables if getattr(s, k) != getattr(t, k)]
    if differ:
        raise TinyBertLabError(
            f"Student and teacher embedding tables differ ({', '.join(differ)}): they cannot be copied. "
            "Build the student with the teacher's values (student_from_teacher does).")


def copy_teacher_layers(student, teacher, layers=None) -> list[str]:
    """Overwrite ``student``'s weights with copies of the teacher's, DistilBERT style.

    Copies the embeddings, then teacher layer ``layers[i]`` into student layer ``i`` (zero-based;
    default ``every_other_layer``), then the pooler and the classifier when both models have
    them with the same shapes (a ``BertForMaskedLM`` teacher has neither; a classifier for
    another label count is left as it was). ``len(layers)`` must equal the student's depth, and
    the student must have the teacher's vocabulary, width, heads and FFN size. The copies are
    independent tensors: training the student leaves the teacher unchanged.

    Returns what was copied, one line per part (``"layer 1 ← teacher layer 2"``).
    """
    num_teacher = teacher.config.num_hidden_layers
    layers = every_other_layer(num_teacher) if layers is None else _check_layers(layers, num_teacher)
    if len(layers) != student.config.num_hidden_layers:
        raise TinyBertLabError(
            f"The student has {student.config.num_hidden_layers} layers but layers={layers} names "
            f"{len(layers)}: give one teacher layer per student layer, or use student_from_teacher, "
            "which builds a student of the right depth.")
    _check_same_shape(student, teacher)
    s, t = student.base_model, teacher.base_model
    copied = []
    with torch.no_grad():
        s.embeddings.load_state_dict(t.embeddings.state_dict())
        copied.append("embeddings")
        for i, j in enumerate(layers):
            s.encoder.layer[i].load_state_dict(t.encoder.layer[j].state_dict())
            copied.append(f"layer {i} ← teacher layer {j}")
        if getattr(s, "pooler", None) is not None and getattr(t, "pooler", None) is not None:
            s.pooler.load_state_dict(t.pooler.state_dict())
            copied.append("pooler")
        s_head, t_head = getattr(student, "classifier", None), getattr(teacher, "classifier", None)
        if s_head is not None and t_head is not None and s_head.weight.shape == t_head.weight.shape:
            s_head.load_state_dict(t_head.state_dict())
            copied.append("classifier")
    return copied


def student_from_teacher(teacher, layers=None, *, num_labels: int | None = None, seed: int = 0):
    """A DistilBERT student: the teacher's width, heads and FFN, fewer layers, the teacher's weights.

    ``teacher``: any BERT (``BertForSequenceClassification``, ``BertForMaskedLM``, ``BertModel``).
    ``layers``: zero-based teacher layers to keep, one per student layer, strictly increasing;
    default ``every_other_layer`` (6 teacher layers → ``[0, 2, 4]``, a 3-layer student).
    ``num_labels``: default the teacher's. Embeddings, the chosen layers, and the pooler and
    classifier when the teacher has them (and, for the classifier, the same ``num_labels``) are
    copied (``copy_teacher_layers``); what is not copied is initialised from ``seed``.
    Returns a ``BertForSequenceClassification`` with scores-capable attention
    (``attention.SCORES_ATTENTION``), like every tinybert_lab model.
    """
    from transformers import BertForSequenceClassification

    layers = every_other_layer(teacher.config.num_hidden_layers) if layers is None else _check_layers(
        layers, teacher.config.num_hidden_layers)
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(layers)
    if num_labels is not None and num_labels != config.num_labels:
        config.num_labels = num_labels  # also resets id2label / label2id
    config.architectures = ["BertForSequenceClassification"]
    config._attn_implementation = SCORES_ATTENTION
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        student = BertForSequenceClassification(config)
    copy_teacher_layers(student, teacher, layers)
    record_init_layers(student.config, [layer + 1 for layer in layers])  # zero-based here, 1-based in maps
    student.config.name_or_path = f"distilbert-student-layers-{'-'.join(map(str, layers))}"
    return student


# --------------------------------------------------------------------------------------------
# The loss
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DistilBertWeights(Weights):
    """Weights of DistilBERT's loss terms; 0 switches a term off. Defaults: the paper's 5/2/1.

    ``ce``: ``T²·KL(p_T ‖ p_S)`` (general: the masked-LM distribution over the vocabulary;
    task: the class distribution); ``mlm``: the student's own masked-LM cross-entropy (general
    only); ``cos``: ``1 − cos(h_S, h_T)`` on the last hidden states; ``hard_label``:
    cross-entropy with the labels (task only; not in the paper).
    """

    ce: float = 5.0
    mlm: float = 2.0
    cos: float = 1.0
    hard_label: float = 0.0

    _what, _hint = "DistilBERT loss weight", "the paper: ce=5, mlm=2, cos=1"


PAPER_WEIGHTS = DistilBertWeights()  # ce=5, mlm=2, cos=1: general distillation with an MLM teacher
GENERAL_WEIGHTS = DistilBertWeights(ce=0.0, mlm=2.0, cos=1.0)  # the paper's, minus ce: a teacher without MLM head
TASK_WEIGHTS = DistilBertWeights(ce=5.0, mlm=0.0, cos=1.0)  # the paper's ratio of ce to cos, on task logits


def _default_weights(mode: str, teacher) -> DistilBertWeights:
    if mode == "task":
        return TASK_WEIGHTS
    return PAPER_WEIGHTS if _has_mlm_head(teacher) else GENERAL_WEIGHTS


def _has_mlm_head(model) -> bool:
    from transformers import BertForMaskedLM

    return isinstance(model, BertForMaskedLM)


class TiedMLMHead(nn.Module):
    """BERT's masked-LM head with its decoder tied to the word embeddings.

    ``logits = LayerNorm(gelu(h W + b)) Eᵀ + bias``: the transform and ``bias`` (vocab,) are this
    module's parameters; ``E`` (vocab, d), the student's word-embedding table, is passed in at
    each call rather than stored, so the tie cannot break and the weights are saved once (a
    second reference to ``E`` would make safetensors checkpoints refuse the shared tensor). This
    is ``BertLMPredictionHead`` with ``decoder.weight = E``.
    """

    def __init__(self, config):
        from transformers.models.bert.modeling_bert import BertPredictionHeadTransform

        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        nn.init.normal_(self.transform.dense.weight, std=config.initializer_range)
        nn.init.zeros_(self.transform.dense.bias)

    def forward(self, hidden: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        """hidden (..., d), word_embeddings (V, d) → logits (..., V)."""
        return self.transform(hidden) @ word_embeddings.T + self.bias


def mlm_targets(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The masked-LM targets (B, L): the original token id where a token was picked, -100 elsewhere.

    Read from ``batch["mlm_labels"]``, which ``training.fit`` puts there when it masks
    (``TrainConfig(mask_probability=0.15)``, through ``data.mask_tokens``).
    """
    if "mlm_labels" in batch:
        return batch["mlm_labels"]
    if "masked" in batch:
        raise TinyBertLabError(
            "The batch marks masked positions but not the tokens that were there, so there is no MLM target. "
            "data.mask_tokens must also return 'mlm_labels' (the original id at masked positions, -100 elsewhere).")
    raise TinyBertLabError(
        "The MLM term needs masked batches, and this one is not masked. Train with "
        "TrainConfig(mask_probability=0.15), or set the mlm weight to 0.")


class DistilBertObjective(nn.Module):
    """DistilBERT's loss as a ``training.fit`` objective: ``Σ weights[name] · term``.

    Terms (unweighted; ``fit`` applies ``weights``), with ``h`` the hidden states chosen by
    ``cosine_layers`` and ``T`` the temperature:

    - ``ce``: ``T²·KL(softmax(z_T/T) ‖ softmax(z_S/T))``, summed over classes, mean over rows.
      Task mode: rows are sentences, ``z`` the task logits (B, C); teacher logits come from
      ``logit_cache`` (looked up by ``batch["idx"]``) when no teacher forward runs anyway, i.e.
      when ``cos`` is 0. General mode: rows are the real tokens, ``z`` the masked-LM logits
      (N, V), as in DistilBERT's code (``restrict_ce_to_mask=False``); only a teacher with an
      MLM head has them.
    - ``mlm`` (general only): cross-entropy of the student's masked-LM head on the masked
      positions (``batch["mlm_labels"]``), mean over them. The head (``mlm_head``, a
      ``TiedMLMHead``) lives in this objective, so the optimizer trains it; the student itself
      stays a ``BertForSequenceClassification``.
    - ``cos``: ``mean over real tokens of 1 − cos(h_S, h_T)`` (``losses.cosine_loss``; the
      attention mask decides what is real). Default ``cosine_layers``: (student's last layer,
      teacher's last layer), as hidden-state indices where 0 is the embeddings.
    - ``hard_label`` (task only): ``CE(z_S, y)``.

    Honest note on general distillation here: DistilBERT's 5·ce is distillation of the
    teacher's masked-LM distribution. The offline MiniLM is a sentence encoder without an MLM
    head, so with it general distillation is ``mlm + cos`` only (``GENERAL_WEIGHTS``): the
    student learns the teacher's representations through ``cos`` and the language through its
    own ``mlm``; the teacher's soft token predictions are not available. ``ce > 0`` then is an
    error. An online ``BertForMaskedLM`` teacher (``bert-base-uncased``) gives the full loss.

    ``weights``: a ``DistilBertWeights`` or a dict; default ``TASK_WEIGHTS`` (ce=5, cos=1) in
    task mode, ``PAPER_WEIGHTS`` (5/2/1) in general mode with an MLM teacher, else
    ``GENERAL_WEIGHTS`` (mlm=2, cos=1). The teacher is frozen and kept in eval mode.
    """

    def __init__(self, student, teacher, *, mode: str, weights: DistilBertWeights | dict | None = None,
                 temperature: float = 2.0, cosine_layers: tuple[int, int] | None = None,
                 logit_cache=None, seed: int = 0):
        super().__init__()
        if mode not in MODES:
            raise TinyBertLabError(
                f"Unknown mode {mode!r}: use 'general' (pre-trained teacher, unlabeled masked text) or 'task' "
                "(fine-tuned teacher, labelled sentences).")
        if isinstance(weights, dict):
            weights = DistilBertWeights.from_dict(weights)
        weights = weights if weights is not None else _default_weights(mode, teacher)
        if not isinstance(weights, DistilBertWeights):
            raise TinyBertLabError(f"weights must be DistilBertWeights or a dict, got {weights!r}.")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 < temperature < math.inf:
            raise TinyBertLabError(
                f"temperature must be a positive number, got {temperature!r}. DistilBERT uses 2; 1 means no softening.")
        self.student, self.teacher, self.logit_cache = student, teacher, logit_cache
        self.mode, self.temperature = mode, float(temperature)
        self._check(weights)
        self.weights = weights.active()
        self.cosine_layers = self._check_cosine_layers(cosine_layers)
        teacher.requires_grad_(False)
        teacher.eval()
        self.mlm_head = None
        if mode == "general" and (weights.mlm or weights.ce):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)  # reproducible head, whatever ran before
                self.mlm_head = TiedMLMHead(student.config)

    def _check(self, weights: DistilBertWeights) -> None:
        """Refuse weight/mode/model combinations that cannot be computed."""
        s, t = self.student.config, self.teacher.config
        if s.vocab_size != t.vocab_size:
            raise TinyBertLabError(
                f"The student's vocabulary ({s.vocab_size} tokens) differs from the teacher's ({t.vocab_size}): "
                "they must read the same token ids. Build the student with the teacher's tokenizer.")
        if self.mode == "general":
            if weights.ce and not _has_mlm_head(self.teacher):
                raise TinyBertLabError(
                    f"ce={weights.ce} in general mode distils the teacher's masked-LM distribution, but this teacher "
                    f"({type(self.teacher).__name__}) has no MLM head (the offline MiniLM has none). Set ce=0 "
                    "(GENERAL_WEIGHTS: mlm + cos), or use a BertForMaskedLM teacher.")
            if weights.hard_label:
                raise TinyBertLabError(
                    "hard_label in general mode: general distillation runs on unlabeled text. Set hard_label=0, "
                    "or use mode='task' with labelled data.")
        else:
            if weights.mlm:
                raise TinyBertLabError(
                    f"mlm={weights.mlm} in task mode: the masked-LM term belongs to general distillation on "
                    "unlabeled text. Set mlm=0 (TASK_WEIGHTS), or use mode='general'.")
            if weights.ce and _has_mlm_head(self.teacher):
                raise TinyBertLabError(
                    "Task mode needs a fine-tuned classifier teacher (BertForSequenceClassification), not a "
                    "masked-LM model: its logits are over the vocabulary, not the classes.")
            if weights.ce and s.num_labels != t.num_labels:
                raise TinyBertLabError(
                    f"The student has {s.num_labels} labels and the teacher {t.num_labels}: distilling the task "
                    "logits needs the same label set. Build the student with num_labels=teacher.config.num_labels.")
        if weights.cos and s.hidden_size != t.hidden_size:
            raise TinyBertLabError(
                f"The cosine loss compares hidden states directly, but the student is {s.hidden_size} wide and the "
                f"teacher {t.hidden_size}. Use a student of the teacher's width (student_from_teacher), or set cos=0 "
                "and use tinybert.Distiller (hidden-state MSE through a learned projection).")

    def _check_cosine_layers(self, pair) -> tuple[int, int]:
        m, n = self.student.config.num_hidden_layers, self.teacher.config.num_hidden_layers
        if pair is None:
            return m, n
        if len(pair) != 2 or not all(isinstance(i, int) and not isinstance(i, bool) for i in pair):
            raise TinyBertLabError(f"cosine_layers must be a pair (student_layer, teacher_layer), got {pair!r}.")
        s, t = pair
        if not (0 <= s <= m and 0 <= t <= n):
            raise TinyBertLabError(
                f"cosine_layers={pair} is out of range: hidden-state indices run 0..{m} for the student and 0..{n} "
                "for the teacher (0 is the embeddings, the last is the final layer).")
        return s, t

    # ---------------------------------------------------------------- the terms
    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Unweighted loss terms for one batch (only those with a positive weight)."""
        w, mask = self.weights, batch["attention_mask"]
        inputs = data_lib.model_inputs(batch)
        student = self.student(**inputs, output_hidden_states=True)
        teacher = None
        if w.get("cos") or (self.mode == "general" and w.get("ce")) or (
                self.mode == "task" and w.get("ce") and self.logit_cache is None):
            with torch.no_grad():
                teacher = self.teacher(**inputs, output_hidden_states=True)
        terms = {}
        if self.mode == "general":
            terms.update(self._general_terms(batch, student.hidden_states[-1], teacher))
        else:
            if w.get("ce"):
                teacher_logits = teacher.logits if teacher is not None else self._cached_logits(batch)
                terms["ce"] = losses.soft_kl(student.logits, teacher_logits.to(student.logits.dtype), self.temperature)
            if w.get("hard_label"):
                terms["hard_label"] = losses.hard_ce(student.logits, batch["labels"])
        if w.get("cos"):
            s, t = self.cosine_layers
            terms["cos"] = losses.cosine_loss(student.hidden_states[s], teacher.hidden_states[t], mask)
        return terms

    def _general_terms(self, batch, last_hidden: torch.Tensor, teacher) -> dict[str, torch.Tensor]:
        """``mlm`` and ``ce`` over the student's masked-LM head. last_hidden: (B, L, d)."""
        w, terms = self.weights, {}
        embeddings = self.student.base_model.embeddings.word_embeddings.weight  # (V, d)
        if w.get("mlm"):
            targets = mlm_targets(batch)  # (B, L)
            picked = targets != IGNORE_INDEX
            if picked.any():  # the head runs on the picked tokens only: (N, V), not (B, L, V)
                logits = self.mlm_head(last_hidden[picked], embeddings)
                terms["mlm"] = nn.functional.cross_entropy(logits, targets[picked])
            else:  # a batch of short sentences can draw no token: no MLM signal, keep the graph
                terms["mlm"] = last_hidden.sum() * 0.0
        if w.get("ce"):
            real = batch["attention_mask"].bool()
            student_logits = self.mlm_head(last_hidden[real], embeddings)  # (N, V)
            terms["ce"] = losses.soft_kl(student_logits, teacher.logits[real].to(student_logits.dtype),
                                         self.temperature)
        return terms

    def _cached_logits(self, batch) -> torch.Tensor:
        if "masked" in batch:
            raise TinyBertLabError(
                "Cached teacher logits belong to the unmasked sentences, but this batch was masked. Train task "
                "distillation with mask_probability=0, or drop logit_cache so the teacher sees the masked batch.")
        return self.logit_cache.lookup(batch["idx"]).to(batch["input_ids"].device)
