"""Pre-softmax attention scores out of an unmodified Hugging Face BERT.

TinyBERT distils the attention *scores* ``S = Q Kᵀ / √d`` (before the mask and the softmax);
``outputs.attentions`` only gives the probabilities ``softmax(S + mask)``. Rather than fork
``BertModel``, we register an attention function with transformers' ``AttentionInterface``
under the name ``SCORES_ATTENTION``. It is eager attention, line for line, plus one thing: when
the caller passes a list as ``attention_scores_sink``, it appends each layer's scores to it.
Models built by tinybert_lab use it; their outputs are identical to ``"eager"`` (a test checks).

Two facts about the mechanism (both checked on transformers 5.23):
- a newly registered name gets no padding mask unless a mask function is registered for it
  too, so we register eager's mask function under the same name;
- the scores we hand out are *unmasked*: masked positions hold real numbers, not ``-3.4e38``,
  and the caller excludes them with ``attention_mask`` before any arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

from .errors import TinyBertLabError

SCORES_ATTENTION = "tinybert_lab_eager"


def eager_attention_with_scores(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    attention_scores_sink: list | None = None,
    **kwargs,
):
    """BERT's eager attention that also reports the raw scores.

    query, key, value: (B, h, L, d). attention_mask: additive (B, 1, L, L) or None.
    Returns the attention output (B, L, h, d) and the probabilities (B, h, L, L), exactly as
    ``eager_attention_forward`` does; appends the scores ``Q Kᵀ·scaling`` (B, h, L, L) to
    ``attention_scores_sink`` when it is a list.
    """
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling  # (B, h, L, L)
    if attention_scores_sink is not None:
        attention_scores_sink.append(scores)
    masked = scores if attention_mask is None else scores + attention_mask
    probs = nn.functional.softmax(masked, dim=-1)
    dropped = nn.functional.dropout(probs, p=dropout, training=module.training)
    output = torch.matmul(dropped, value).transpose(1, 2).contiguous()  # (B, L, h, d)
    return output, probs


AttentionInterface.register(SCORES_ATTENTION, eager_attention_with_scores)
AttentionMaskInterface.register(SCORES_ATTENTION, ALL_MASK_ATTENTION_FUNCTIONS["eager"])


def use_scores_attention(model) -> None:
    """Switch a loaded HF model (e.g. one loaded with ``"eager"``) to ``SCORES_ATTENTION``."""
    if model.config._attn_implementation != SCORES_ATTENTION:
        model.set_attn_implementation(SCORES_ATTENTION)


@dataclass
class ModelFeatures:
    """Everything distillation compares, for one batch.

    - ``logits``: (B, C)
    - ``hidden_states``: tuple of num_layers + 1 tensors (B, L, H); index 0 is the embedding
      output, index m the output of layer m (the same indexing as a layer map)
    - ``attention_scores``: tuple of num_layers tensors (B, h, L, L), pre-softmax ``Q Kᵀ / √d``
      *without* the padding mask; ``attention_scores[m-1]`` belongs to layer m
    - ``attention_probs``: tuple of num_layers tensors (B, h, L, L), what HF returns as
      ``outputs.attentions``: ``softmax(scores + additive_mask)``
    - ``attention_mask``: (B, L), 1 for real tokens, 0 for padding
    """

    logits: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...]
    attention_scores: tuple[torch.Tensor, ...]
    attention_probs: tuple[torch.Tensor, ...]
    attention_mask: torch.Tensor

    @property
    def embeddings(self) -> torch.Tensor:
        """The embedding layer's output (B, L, H), i.e. ``hidden_states[0]``."""
        return self.hidden_states[0]


def additive_mask(attention_mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, L) 0/1 mask → (B, 1, 1, L) additive mask (0 keeps, finfo.min drops), as eager BERT uses."""
    inverted = 1.0 - attention_mask[:, None, None, :].to(dtype)
    return inverted * torch.finfo(dtype).min


def forward_features(model, batch: dict[str, torch.Tensor]) -> ModelFeatures:
    """Run ``model`` on a batch and collect logits, hidden states, scores and probabilities.

    ``batch`` holds ``input_ids``, ``attention_mask`` and optionally ``token_type_ids`` (B, L);
    other keys (``labels``, ``idx``) are ignored. Gradients flow as usual (wrap the call in
    ``torch.no_grad()`` for a teacher).
    """
    if getattr(model.config, "_attn_implementation", None) != SCORES_ATTENTION:
        raise TinyBertLabError(
            f"This model uses attention implementation {model.config._attn_implementation!r}, which "
            "does not expose attention scores. Load it with tinybert_lab.models.load_teacher / "
            "build_student, or call tinybert_lab.attention.use_scores_attention(model) first."
        )
    if "attention_mask" not in batch:
        raise TinyBertLabError("The batch has no attention_mask: build it with tinybert_lab.data.make_loader.")
    sink: list[torch.Tensor] = []
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
    outputs = model(**inputs, output_hidden_states=True, output_attentions=True, attention_scores_sink=sink)
    return ModelFeatures(
        logits=outputs.logits,
        hidden_states=tuple(outputs.hidden_states),
        attention_scores=tuple(sink),
        attention_probs=tuple(outputs.attentions),
        attention_mask=batch["attention_mask"],
    )
