"""MobileBERT's way (Sun et al. 2020): a student as deep as the teacher, narrow inside.

TinyBERT makes a student *shallower and narrower* and needs learned projections to compare its
hidden states with the teacher's. MobileBERT keeps the teacher's depth and the teacher's width
*between* layers, and makes each layer narrow *inside*: a linear bottleneck takes the layer's
input down to ``inner`` dimensions, attention and the feed-forward block run there, and a second
linear maps back up to the teacher's width. So every layer's output (its *feature map*) has the
teacher's shape and compares with it directly, with no projection:

    x (B, L, W) ─ Linear W→I ─ self-attention (h heads, in I) ─ FFN (I→F→I) ─ Linear I→W ─ + x ─ LayerNorm ─ (B, L, W)

Knowledge moves layer by layer (``progressive_stages``): in stage ``l`` only layer ``l`` learns,
with the layers below it frozen, from two losses on layer ``l``: feature-map transfer (MSE
between the student's and the teacher's layer outputs, each token vector normalised to zero
mean and unit variance first, ``feature_map_mse``) and attention transfer (``KL(p_T ‖ p_S)`` per
head, ``losses.attention_loss(kind="kl")``; the student has the teacher's head count). Then
prediction-layer distillation trains everything on the teacher's soft targets. The same student
can learn all layers at once (``all_at_once_stages``), or from labels alone, for comparison.

Deep and narrow is a latency choice: the layer count, which sets the sequential work, stays the
teacher's. Measure it (``evaluation.benchmark_inference``) next to TinyBERT-4's.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..core import losses
from ..core.attention import forward_features
from ..core.config import Settings, Weights
from ..core.errors import TinyBertLabError
from ..core.training import TrainConfig, fit


@dataclass
class MobileConfig(Settings):
    """The student's sizes, in the Hugging Face config's names (``evaluate``, ``fit`` and
    ``parameter_counts`` read them): ``hidden_size`` W is the teacher's width between layers,
    ``inner_size`` I the width inside each layer, ``intermediate_size`` F the feed-forward width,
    ``num_attention_heads`` the teacher's head count (attention transfer pairs head i with head i)."""

    vocab_size: int
    hidden_size: int
    inner_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_labels: int = 2
    max_position_embeddings: int = 512
    dropout: float = 0.1
    model_type: str = "mobilebert-lite"
    name_or_path: str = "mobilebert-lite"

    def check(self):
        self.require_int("vocab_size", "hidden_size", "inner_size", "intermediate_size", "num_hidden_layers",
                         "num_attention_heads", "max_position_embeddings")
        self.require_int("num_labels", minimum=2)
        self.require_number("dropout", 0, 1)
        self.require("inner_size", self.inner_size % self.num_attention_heads == 0,
                     f"a multiple of the heads ({self.num_attention_heads})",
                     fix="Each head gets inner_size / heads dimensions.")


class BottleneckLayer(nn.Module):
    """One narrow-inside layer: W → I (bottleneck in), attention and FFN at I, I → W (bottleneck
    out) with a residual connection at W. Returns the output (B, L, W) and the pre-softmax
    attention scores (B, h, L, L), without the padding mask (as ``attention.forward_features``)."""

    def __init__(self, config: MobileConfig):
        super().__init__()
        inner, self.heads = config.inner_size, config.num_attention_heads
        self.bottleneck_in = nn.Linear(config.hidden_size, inner)
        self.query, self.key, self.value = (nn.Linear(inner, inner) for _ in range(3))
        self.attention_out = nn.Linear(inner, inner)
        self.attention_norm = nn.LayerNorm(inner)
        self.ffn = nn.Sequential(nn.Linear(inner, config.intermediate_size), nn.GELU(),
                                 nn.Linear(config.intermediate_size, inner))
        self.ffn_norm = nn.LayerNorm(inner)
        self.bottleneck_out = nn.Linear(inner, config.hidden_size)
        self.output_norm = nn.LayerNorm(config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, L, _ = x.shape
        h = self.bottleneck_in(x)  # (B, L, I)

        def split(t):  # (B, L, I) -> (B, heads, L, I / heads)
            return t.view(B, L, self.heads, -1).transpose(1, 2)

        q, k, v = split(self.query(h)), split(self.key(h)), split(self.value(h))
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (B, heads, L, L)
        keep = attention_mask[:, None, None, :].bool()
        probs = torch.softmax(scores.masked_fill(~keep, torch.finfo(scores.dtype).min), dim=-1)
        context = (self.dropout(probs) @ v).transpose(1, 2).reshape(B, L, -1)  # (B, L, I)
        h = self.attention_norm(h + self.dropout(self.attention_out(context)))
        h = self.ffn_norm(h + self.dropout(self.ffn(h)))
        return self.output_norm(x + self.dropout(self.bottleneck_out(h))), scores


@dataclass
class MobileOutput:
    logits: torch.Tensor
    hidden_states: tuple | None = None
    attention_scores: tuple | None = None


class MobileStudent(nn.Module):
    """The teacher's embeddings (copied, W wide), ``num_hidden_layers`` bottleneck layers, and a
    BERT-style pooler + classifier on the first token. Speaks a Hugging Face classifier's
    interface (``forward(input_ids, attention_mask, token_type_ids)`` → ``.logits``; ``config``)."""

    def __init__(self, config: MobileConfig, embeddings: nn.Module):
        super().__init__()
        self.config = config
        self.embeddings = embeddings
        self.layers = nn.ModuleList(BottleneckLayer(config) for _ in range(config.num_hidden_layers))
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.dropout = nn.Dropout(config.dropout)

    def get_input_embeddings(self) -> nn.Module:
        return self.embeddings

    def architecture(self) -> str:
        """One line for ``models.describe``."""
        c = self.config
        return (f"MobileBERT-style: {c.num_hidden_layers} layers, {c.hidden_size} between layers, {c.inner_size} inside "
                f"({c.num_attention_heads} heads), FFN {c.intermediate_size}")

    def save_pretrained(self, folder) -> Path:
        """``config.json`` and ``model.safetensors`` in ``folder``; ``MobileStudent.from_pretrained`` reads them."""
        from ..core.models import save_config_and_weights

        return save_config_and_weights(self, folder)

    @classmethod
    def from_pretrained(cls, folder) -> "MobileStudent":
        """A student saved by ``save_pretrained``, in eval mode."""
        from transformers import BertConfig
        from transformers.models.bert.modeling_bert import BertEmbeddings

        from ..core.models import read_config_and_weights

        values, weights = read_config_and_weights(folder, "mobilebert-lite", "MobileBERT-style student")
        config = MobileConfig(**values)
        embeddings = BertEmbeddings(BertConfig(vocab_size=config.vocab_size, hidden_size=config.hidden_size,
                                               max_position_embeddings=config.max_position_embeddings))
        model = cls(config, embeddings)
        model.load_state_dict(weights)
        return model.eval()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, *, output_hidden_states: bool = False,
                output_attention_scores: bool = False, **_) -> MobileOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        x = self.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        hidden, scores = [x], []
        for layer in self.layers:
            x, layer_scores = layer(x, attention_mask)
            hidden.append(x)
            scores.append(layer_scores)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        logits = self.classifier(self.dropout(pooled))
        return MobileOutput(logits, tuple(hidden) if output_hidden_states else None,
                            tuple(scores) if output_attention_scores else None)


def build_mobile_student(teacher, *, inner_size: int = 96, intermediate_size: int = 384, seed: int = 0) -> MobileStudent:
    """A MobileBERT-style student for ``teacher`` (a BERT classifier): the teacher's depth, width
    between layers, head count, vocabulary and labels; ``inner_size`` inside each layer (default 96:
    a quarter of MiniLM's 384), embeddings copied from the teacher."""
    if not hasattr(teacher, "bert"):
        raise TinyBertLabError(f"The teacher must be a BERT classifier (with .bert); got {type(teacher).__name__}.")
    c = teacher.config
    config = MobileConfig(vocab_size=c.vocab_size, hidden_size=c.hidden_size, inner_size=inner_size,
                          intermediate_size=intermediate_size, num_hidden_layers=c.num_hidden_layers,
                          num_attention_heads=c.num_attention_heads, num_labels=c.num_labels,
                          max_position_embeddings=c.max_position_embeddings)
    torch.manual_seed(seed)
    return MobileStudent(config, copy.deepcopy(teacher.bert.embeddings))


# --------------------------------------------------------------------------------------------
# Losses and the transfer objective
# --------------------------------------------------------------------------------------------
def feature_map_mse(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor,
                    attention_mask: torch.Tensor) -> torch.Tensor:
    """MobileBERT's feature-map transfer for one layer: ``MSE(norm(h_S), norm(h_T))`` over the real
    tokens, where ``norm`` scales each token vector to zero mean and unit variance over its W
    dimensions (a LayerNorm without weights). (B, L, W) each, same W; mask (B, L). Returns a scalar."""
    if student_hidden.shape != teacher_hidden.shape:
        raise TinyBertLabError(f"Feature maps must have the same shape (the bottleneck keeps the teacher's width); "
                               f"got {tuple(student_hidden.shape)} and {tuple(teacher_hidden.shape)}.")
    s, t = losses._real_tokens(student_hidden, teacher_hidden, attention_mask)
    width = s.shape[-1]
    return F.mse_loss(F.layer_norm(s, (width,)), F.layer_norm(t, (width,)))



@dataclass(frozen=True)
class TransferWeights(Weights):
    """Weights of ``MobileTransfer``'s terms (all 0 by default: say which are on, e.g.
    ``{"feature_map": 1, "attention": 1}`` for a layer's transfer, ``{"prediction": 1}`` after)."""

    feature_map: float = 0.0
    attention: float = 0.0
    prediction: float = 0.0
    hard_label: float = 0.0

    _what, _hint = "MobileTransfer weight", "e.g. {'feature_map': 1, 'attention': 1}"


class MobileTransfer(nn.Module):
    """``fit``'s objective for a ``MobileStudent``: on ``layers`` (1-based), feature-map transfer
    and attention transfer against the same teacher layer; ``prediction``: TinyBERT's soft
    cross-entropy with the teacher's logits at ``temperature``; ``hard_label``: cross-entropy with
    the labels. ``weights``: a ``TransferWeights`` or a dict of its terms."""

    def __init__(self, student: MobileStudent, teacher, *, layers=(), weights: TransferWeights | dict,
                 temperature: float = 1.0):
        super().__init__()
        self.weights = TransferWeights.coerce(weights).active()
        bad = [l for l in layers if not 1 <= l <= student.config.num_hidden_layers]
        if bad:
            raise TinyBertLabError(f"Layers {bad} do not exist: the student has layers 1..{student.config.num_hidden_layers}.")
        if {"feature_map", "attention"} & set(self.weights) and not layers:
            raise TinyBertLabError("Feature-map and attention transfer need layers=[...] (1-based) to compare.")
        self.student, self.teacher, self.layers, self.temperature = student, teacher, tuple(layers), temperature
        teacher.requires_grad_(False)

    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        mask = batch["attention_mask"]
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
        needs_features = bool({"feature_map", "attention"} & set(self.weights))
        out = self.student(**inputs, output_hidden_states=needs_features, output_attention_scores=needs_features)
        terms = {}
        if needs_features or "prediction" in self.weights:
            with torch.no_grad():
                t = forward_features(self.teacher, batch)
        if needs_features:
            terms["feature_map"] = sum(feature_map_mse(out.hidden_states[l], t.hidden_states[l], mask)
                                       for l in self.layers) / len(self.layers)
            terms["attention"] = sum(losses.attention_loss(out.attention_scores[l - 1], t.attention_scores[l - 1],
                                                           mask, kind="kl") for l in self.layers) / len(self.layers)
            terms = {k: v for k, v in terms.items() if k in self.weights}
        if "prediction" in self.weights:
            terms["prediction"] = losses.soft_cross_entropy(out.logits, t.logits, self.temperature)
        if "hard_label" in self.weights:
            terms["hard_label"] = F.cross_entropy(out.logits, batch["labels"])
        return terms


TRANSFER = TransferWeights(feature_map=1.0, attention=1.0)  # one layer's (or all layers') transfer
PREDICTION = TransferWeights(prediction=1.0)  # then prediction-layer distillation


def freeze_below(student: MobileStudent, layer: int) -> None:
    """Layer ``layer`` (1-based) and above learn; the embeddings and the layers below it are frozen
    (``layer=1``: everything learns)."""
    student.embeddings.requires_grad_(layer <= 1)
    for i, block in enumerate(student.layers, start=1):
        block.requires_grad_(i >= layer)


@dataclass(frozen=True)
class Stage:
    """One stage: which layers the transfer compares, which layer and above learn
    (``train_from``), the loss weights, and the steps."""

    name: str
    layers: tuple
    train_from: int
    weights: TransferWeights
    steps: int


def progressive_stages(num_layers: int, steps_per_layer: int, prediction_steps: int) -> list[Stage]:
    """MobileBERT's schedule: stage ``l`` transfers layer ``l`` with the layers below frozen
    (layers above are not in the loss), then prediction distillation on everything."""
    return [Stage(f"layer {l}", (l,), l, TRANSFER, steps_per_layer)
            for l in range(1, num_layers + 1)] + [
        Stage("prediction", (), 1, PREDICTION, prediction_steps)]


def all_at_once_stages(num_layers: int, transfer_steps: int, prediction_steps: int) -> list[Stage]:
    """The same losses on every layer together, nothing frozen, for the same total steps."""
    return [Stage("all layers", tuple(range(1, num_layers + 1)), 1, TRANSFER, transfer_steps),
            Stage("prediction", (), 1, PREDICTION, prediction_steps)]


def run_stages(student: MobileStudent, teacher, stages: list[Stage], encoded, tokenizer, config: TrainConfig,
               *, progress: bool = False) -> dict:
    """Train ``stages`` in order with ``config`` (its ``steps`` replaced by each stage's); returns
    ``{stage name: History}``. Every parameter learns again at the end."""
    histories = {}
    for stage in stages:
        freeze_below(student, stage.train_from)
        objective = MobileTransfer(student, teacher, layers=stage.layers, weights=stage.weights)
        stage_config = TrainConfig.from_dict({**config.to_dict(), "steps": stage.steps})
        histories[stage.name] = fit(objective, encoded, tokenizer, stage_config, progress=progress,
                                    description=f"MobileBERT {stage.name}")
    freeze_below(student, 1)
    return histories
