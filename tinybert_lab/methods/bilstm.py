"""A BiLSTM student and prediction-layer distillation into it (Tang et al. 2019).

Tang et al., "Distilling task-specific knowledge from BERT into simple neural networks", show
that a one-layer BiLSTM, trained to reproduce a fine-tuned BERT's *logits*, closes much of the
gap to BERT at a fraction of its size and inference time. The student here:

    token ids (B, L) ─ embedding (V, E) ─ BiLSTM (hidden H per direction, real tokens only)
      ─ [h_fwd ; h_bwd] (B, 2H) ─ Linear + ReLU (B, M) ─ Linear (B, C) = logits

``BiLSTMStudent`` speaks the same interface as a Hugging Face classifier (``forward(input_ids,
attention_mask, token_type_ids)`` returning an object with ``.logits``, a ``config`` with
``vocab_size``, ``num_labels``, ``max_position_embeddings``), so ``training.fit``,
``evaluation.evaluate`` / ``predict`` / ``benchmark_inference`` and ``models.parameter_counts``
work on it unchanged. It reads the teacher's WordPiece ids, so the teacher's logits for a batch
are the targets for the same batch.

``LogitMatching`` is Tang et al.'s objective: ``MSE(z_S, z_T)`` on raw logits (no temperature,
no softmax), optionally mixed with cross-entropy on the labels:

    student = build_bilstm(tokenizer)
    encoded = data.encode(train, tokenizer)
    cache = TeacherLogitCache.build(teacher, encoded, tokenizer)    # one teacher pass (core.logit_cache)
    objective = LogitMatching(student, logit_cache=cache)                   # logit_mse only
    history = training.fit(objective, encoded, tokenizer, TrainConfig(steps=600, learning_rate=3e-3))

Measured on SST-2 (20k training sentences, 600 steps of 32, learning rate 3e-3, one busy CPU
thread; dev set of 872, where ±1.4 points is noise): labels alone 78.0 %, logit matching from
the fine-tuned teacher (87.6 %) 78.3 %; with the word embeddings started from the teacher's
(``build_bilstm(..., teacher=teacher, embedding_dim=384)``) 81.9 % and 81.8 %. The BiLSTM reads
~1,000 sentences/s against the teacher's 63 (16×) with 9.8 M parameters, 0.6 M of them outside
the embedding table. Tang et al.'s large gains came from a big augmented transfer set; at this
budget the teacher's embeddings are the lever that matters.

A BiLSTM has no attention maps, no per-layer hidden states and no BERT embedding block, so
TinyBERT's intermediate losses cannot apply: ``check_supports(student, "attention")`` says so
in words (for ``tinybert.Distiller`` to call before it asks a student for features).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..core import data as data_lib
from ..core import losses
from ..core.config import Settings, Weights
from ..core.errors import TinyBertLabError, reject_unknown_keys

# --------------------------------------------------------------------------------------------
# What each kind of student can be distilled with
# --------------------------------------------------------------------------------------------
#: Features (loss-term names, as in ``tinybert.LossWeights`` plus ``logit_mse``) a distillation
#: objective may ask a student for.
FEATURES = ("embedding", "attention", "hidden", "prediction", "hard_label", "logit_mse")
#: Those that need only the student's logits.
LOGIT_FEATURES = frozenset({"prediction", "hard_label", "logit_mse"})


def check_supports(model, *features: str) -> None:
    """Raise if ``model`` cannot provide what the named loss terms need.

    ``features``: names from ``FEATURES`` (``"attention"``, ``"hidden"``, ``"embedding"``,
    ``"prediction"``, ``"hard_label"``, ``"logit_mse"``), e.g. ``*weights.active()``. A model
    lists what it supports in a ``supported_features`` attribute; a model without one (a
    Hugging Face BERT) supports everything. Unknown feature names are refused.
    """
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise TinyBertLabError(f"Unknown distillation feature(s) {unknown}. Valid: {', '.join(FEATURES)}.")
    supported = getattr(model, "supported_features", None)
    if supported is None:
        return
    missing = [f for f in features if f not in supported]
    if missing:
        kind = getattr(getattr(model, "config", None), "model_type", type(model).__name__)
        raise TinyBertLabError(
            f"The {kind} student cannot be trained with the {', '.join(repr(f) for f in missing)} loss: "
            f"{_why_not(kind)} Use prediction-layer KD only (bilstm.LogitMatching, or Distiller weights "
            "with prediction/hard_label alone), or a BERT student (models.build_student) for "
            "attention, hidden-state and embedding losses."
        )


def _why_not(kind: str) -> str:
    if kind == "bilstm":
        return ("a BiLSTM has no attention maps, no per-layer hidden states of the teacher's shape and no "
                "BERT embedding block, only its logits can be matched to the teacher's.")
    return f"it supports only {sorted(LOGIT_FEATURES)}."


# --------------------------------------------------------------------------------------------
# The student
# --------------------------------------------------------------------------------------------
@dataclass
class BiLSTMConfig(Settings):
    """Sizes of a ``BiLSTMStudent``; validated when built.

    ``vocab_size``: the tokenizer's (the teacher's) vocabulary. ``embedding_dim`` E (300, the
    width of Tang et al.'s word2vec vectors). ``hidden_size`` H per direction (150, Tang et
    al.'s SST-2 size), so the sentence vector has 2H. ``mlp_size`` M: the ReLU layer before the
    classifier (200). ``dropout`` on the embeddings and the sentence vector.
    ``max_position_embeddings``: an LSTM has no position table; this is only the longest input
    ``check_fits_positions`` lets through (the tokenizer's limit). ``model_type`` and
    ``name_or_path`` mirror Hugging Face configs.
    """

    vocab_size: int
    num_labels: int = 2
    embedding_dim: int = 300
    hidden_size: int = 150
    mlp_size: int = 200
    dropout: float = 0.1
    max_position_embeddings: int = 512
    pad_token_id: int = 0
    model_type: str = "bilstm"
    name_or_path: str = "bilstm"

    def check(self):
        self.require_int("vocab_size", "embedding_dim", "hidden_size", "mlp_size", "max_position_embeddings")
        self.require_int("num_labels", minimum=2)
        self.require_number("dropout", 0, 1)

    def to_diff_dict(self) -> dict:
        """Same as ``to_dict``; named like Hugging Face's, so ``training.fingerprint`` hashes it."""
        return self.to_dict()


#: Size keys ``build_bilstm`` accepts.
SIZE_KEYS = ("embedding_dim", "hidden_size", "mlp_size", "dropout")


@dataclass
class BiLSTMOutput:
    """What ``BiLSTMStudent.forward`` returns: ``logits`` (B, C), ``loss`` (a scalar when
    labels were passed, else None), like a Hugging Face ``SequenceClassifierOutput``."""

    logits: torch.Tensor
    loss: torch.Tensor | None = None


class BiLSTMStudent(nn.Module):
    """Tang et al.'s single-sentence student: embedding, one BiLSTM layer, ReLU MLP, classifier.

    The sentence vector is the **concatenation of the last hidden states of both directions**
    (Tang et al.'s choice): the forward LSTM's state after the last *real* token and the
    backward LSTM's state after reading back to the first token. Padding never enters the
    LSTM: sequences are packed with ``pack_padded_sequence`` using the lengths from
    ``attention_mask``, so appending [PAD] tokens cannot change the logits. ``token_type_ids``
    and other BERT arguments are accepted and ignored (a single-sentence model).
    """

    supported_features = LOGIT_FEATURES

    def __init__(self, config: BiLSTMConfig):
        super().__init__()
        self.config = config
        c = config
        self.embeddings = nn.Embedding(c.vocab_size, c.embedding_dim)
        self.lstm = nn.LSTM(c.embedding_dim, c.hidden_size, num_layers=1, bidirectional=True, batch_first=True)
        self.dropout = nn.Dropout(c.dropout)
        self.mlp = nn.Linear(2 * c.hidden_size, c.mlp_size)
        self.classifier = nn.Linear(c.mlp_size, c.num_labels)

    def get_input_embeddings(self) -> nn.Embedding:
        """The word-embedding table (V, E); ``models.parameter_counts`` counts it as embedding."""
        return self.embeddings

    def save_pretrained(self, folder) -> Path:
        """Write ``config.json`` and ``model.safetensors`` to ``folder`` (like Hugging Face's);
        ``BiLSTMStudent.from_pretrained(folder)`` reads them back."""
        from ..core.models import save_config_and_weights

        return save_config_and_weights(self, folder)

    @classmethod
    def from_pretrained(cls, folder) -> "BiLSTMStudent":
        """A student saved by ``save_pretrained``, in eval mode."""
        from ..core.models import read_config_and_weights

        values, weights = read_config_and_weights(folder, "bilstm", "BiLSTM student")
        model = cls(BiLSTMConfig.from_dict(values))
        model.load_state_dict(weights)
        return model.eval()

    def architecture(self) -> str:
        """One line for ``models.describe``."""
        c = self.config
        return (f"BiLSTM: embedding {c.embedding_dim}, 1 layer, hidden {c.hidden_size}×2, "
                f"MLP {c.mlp_size}")

    def sentence_vector(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``[h_fwd ; h_bwd]`` (B, 2H) from token ids (B, L) and a right-padded 0/1 mask (B, L)."""
        lengths = sequence_lengths(input_ids, attention_mask)
        embedded = self.dropout(self.embeddings(input_ids))  # (B, L, E)
        packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (last, _) = self.lstm(packed)  # last: (2 directions, B, H), in the batch's own order
        return torch.cat([last[0], last[1]], dim=-1)  # (B, 2H)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool = False, output_hidden_states: bool = False, **ignored) -> BiLSTMOutput:
        """Logits (B, C) for token ids (B, L); ``attention_mask`` (B, L), 1 = real token, must be
        right-padded (ones then zeros, as ``data.collate`` makes it); None = no padding.
        ``labels`` (B,): also return the cross-entropy ``loss``. Asking for attentions or hidden
        states raises: a BiLSTM has none."""
        if output_attentions:
            check_supports(self, "attention")
        if output_hidden_states:
            check_supports(self, "hidden")
        sentence = self.dropout(self.sentence_vector(input_ids, attention_mask))
        logits = self.classifier(torch.relu(self.mlp(sentence)))  # (B, C)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return BiLSTMOutput(logits=logits, loss=loss)


def sequence_lengths(input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Real-token counts (B,) from a right-padded 0/1 ``attention_mask`` (B, L); all L when None.

    Refuses masks that are not ones-then-zeros (left padding, holes) and empty rows: packing
    would silently read the wrong tokens.
    """
    if input_ids.dim() != 2:
        raise TinyBertLabError(
            f"input_ids must be (batch, length), got shape {tuple(input_ids.shape)}. Add a batch "
            "dimension with input_ids[None] for one sentence."
        )
    batch, length = input_ids.shape
    if attention_mask is None:
        return torch.full((batch,), length, dtype=torch.long, device=input_ids.device)
    if tuple(attention_mask.shape) != (batch, length):
        raise TinyBertLabError(
            f"attention_mask has shape {tuple(attention_mask.shape)} but input_ids {tuple(input_ids.shape)}: "
            "pass the mask that came with the batch."
        )
    mask = attention_mask.bool()
    lengths = mask.sum(1)
    if (lengths == 0).any():
        raise TinyBertLabError(
            "A row of attention_mask is all zeros: that sentence has no tokens to read. Drop empty "
            "sentences (data.encode always keeps [CLS] and [SEP])."
        )
    right_padded = torch.arange(length, device=mask.device)[None, :] < lengths[:, None]
    if not torch.equal(mask, right_padded):
        raise TinyBertLabError(
            "attention_mask is not right-padded (real tokens first, then padding): the BiLSTM packs "
            "sequences by length. Pad on the right (tokenizer padding_side='right', as data.collate does)."
        )
    return lengths.long()


def build_bilstm(tokenizer, num_labels: int = 2, seed: int = 0, *, teacher=None, **sizes) -> BiLSTMStudent:
    """A randomly initialised ``BiLSTMStudent`` for ``tokenizer``'s vocabulary.

    ``sizes``: ``embedding_dim`` (300), ``hidden_size`` (150 per direction), ``mlp_size`` (200),
    ``dropout`` (0.1); unknown keys are refused. ``seed`` makes the initialisation reproducible
    whatever ran before. ``teacher``: start the word embeddings from the teacher's (copied when
    ``embedding_dim`` equals the teacher's hidden size, else projected onto their top
    ``embedding_dim`` principal directions, ``models.pca_projection``), a stand-in for the
    pre-trained word2vec vectors of Tang et al.
    """
    reject_unknown_keys(sizes, SIZE_KEYS, "BiLSTM size")
    limit = getattr(tokenizer, "model_max_length", None) or 512
    config = BiLSTMConfig(
        vocab_size=len(tokenizer), num_labels=num_labels, **sizes,
        max_position_embeddings=int(limit) if limit < 10**6 else 512,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BiLSTMStudent(config)
    if teacher is not None:
        init_word_embeddings_from_teacher(model, teacher)
    model.config.name_or_path = f"bilstm-{config.embedding_dim}-{config.hidden_size}x2-{config.mlp_size}"
    return model


def init_word_embeddings_from_teacher(student: BiLSTMStudent, teacher) -> torch.Tensor:
    """Set the student's word embeddings (V, E) to the teacher's (V, d_T) times ``P`` (d_T, E),
    the top-E PCA directions (``P = I`` when E = d_T). Returns ``P``. Only the word table is
    used: the teacher's position and type embeddings have no place in an LSTM."""
    from ..core.models import pca_projection

    words = teacher.get_input_embeddings().weight
    if words.shape[0] != student.config.vocab_size:
        raise TinyBertLabError(
            f"The teacher's vocabulary ({words.shape[0]} tokens) differs from the student's "
            f"({student.config.vocab_size}): build the student with the teacher's tokenizer."
        )
    projection = pca_projection(words, student.config.embedding_dim)
    with torch.no_grad():
        student.embeddings.weight.copy_(words.detach().float() @ projection)
    return projection


# --------------------------------------------------------------------------------------------
# Tang et al.'s objective
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LogitMatchingWeights(Weights):
    """Weights of ``LogitMatching``'s two terms; validated when built.

    ``logit_mse``: ``mean_{b,c} (z_S − z_T)²``; ``hard_label``: cross-entropy with the labels.
    Both finite and >= 0, at least one positive. ``from_alpha(α)`` gives ``logit_mse = α``,
    ``hard_label = 1 − α`` (α on the teacher term, as in ``losses.hinton_kd``; Tang et al. write
    the same mixture as ``α·CE + (1−α)·MSE``, so their α is our ``1 − α``).
    """

    logit_mse: float = 1.0
    hard_label: float = 0.0

    _what = "LogitMatching weight"
    _hint = "logit_mse learns from the teacher's logits, hard_label from the labels"

    @classmethod
    def from_alpha(cls, alpha: float) -> "LogitMatchingWeights":
        """``logit_mse = alpha``, ``hard_label = 1 − alpha``, for ``alpha`` in [0, 1]."""
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
            raise TinyBertLabError(f"alpha must be in [0, 1] (the weight of the logit MSE), got {alpha!r}.")
        return cls(logit_mse=float(alpha), hard_label=1.0 - float(alpha))



class LogitMatching(nn.Module):
    """Tang et al.'s (2019) distillation objective for ``training.fit``.

    ``loss_terms(batch)`` returns (only the terms with a positive weight):

    - ``logit_mse``: ``(1 / (B·C)) Σ_b Σ_c (z_S[b, c] − z_T[b, c])²``, the mean squared error
      between raw student and teacher logits (B, C), averaged over the batch *and* the classes
      (``losses.logit_mse``; no temperature, no softmax);
    - ``hard_label``: ``CE(z_S, y)``, averaged over the batch.

    Teacher logits come from ``logit_cache`` (a ``core.logit_cache.TeacherLogitCache``, looked up by each
    batch's ``idx``) when given, else from a forward pass of the frozen ``teacher``. ``weights``:
    a ``LogitMatchingWeights`` or a dict of it (default: ``logit_mse`` alone). Any student with
    ``.logits`` works (a BERT student too).
    """

    def __init__(self, student, teacher=None, *, logit_cache=None,
                 weights: LogitMatchingWeights | dict = LogitMatchingWeights()):
        super().__init__()
        if isinstance(weights, dict):
            weights = LogitMatchingWeights.from_dict(weights)
        if not isinstance(weights, LogitMatchingWeights):
            raise TinyBertLabError(f"weights must be LogitMatchingWeights or a dict, got {weights!r}.")
        if weights.logit_mse and teacher is None and logit_cache is None:
            raise TinyBertLabError(
                "The logit_mse term needs teacher logits: pass teacher=... or logit_cache="
                "TeacherLogitCache.build(teacher, encoded, tokenizer) (tinybert_lab.core.logit_cache), or train on labels alone "
                "with weights={'logit_mse': 0, 'hard_label': 1}.")
        self.student, self.teacher, self.logit_cache = student, teacher, logit_cache
        if teacher is not None:
            _check_same_task(student, teacher)
            teacher.requires_grad_(False)
            teacher.eval()
        self.weights = weights.active()

    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Unweighted terms for one batch; ``batch`` as ``data.collate`` makes it."""
        student_logits = self.student(**data_lib.model_inputs(batch)).logits.float()  # (B, C)
        terms = {}
        if self.weights.get("logit_mse"):
            teacher_logits = self.teacher_logits(batch).to(student_logits.device).float()  # (B, C)
            terms["logit_mse"] = losses.logit_mse(student_logits, teacher_logits)
        if self.weights.get("hard_label"):
            terms["hard_label"] = losses.hard_ce(student_logits, batch["labels"])
        return terms

    def teacher_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Teacher logits (B, C) for the batch: from the cache by ``batch["idx"]``, else computed."""
        if self.logit_cache is not None:
            return self.logit_cache.lookup(batch["idx"])
        with torch.no_grad():
            return self.teacher(**data_lib.model_inputs(batch)).logits


def _check_same_task(student, teacher) -> None:
    s, t = student.config, teacher.config
    if s.vocab_size != t.vocab_size:
        raise TinyBertLabError(
            f"The student's vocabulary ({s.vocab_size} tokens) differs from the teacher's ({t.vocab_size}): "
            "they must read the same token ids. Build the student with the teacher's tokenizer.")
    if s.num_labels != t.num_labels:
        raise TinyBertLabError(
            f"The student has {s.num_labels} labels and the teacher {t.num_labels}: logit matching needs "
            "the same label set. Build the student with num_labels=teacher.config.num_labels.")
