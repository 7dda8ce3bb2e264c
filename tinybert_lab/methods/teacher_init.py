"""Start a narrower, shallower student from its teacher's weights ("teacher-projected init").

A randomly initialised TinyBERT-4 has to learn everything from a few hundred steps; most of its
14.4 M parameters (the 30,522 × 312 word embeddings) are barely touched. DistilBERT avoids this
by *copying* every other teacher layer, which needs the student to be exactly as wide as the
teacher. ``project_teacher`` does the same for a narrower student (312 wide for a 384-wide
teacher) by writing every weight in a d_S-dimensional basis of the teacher's residual stream:

- ``P`` (d_T, d_S): the top d_S principal directions of the teacher's hidden states (all layers,
  real tokens of a few sentences), so a teacher hidden state ``x`` (d_T,) is summarised by the
  student's ``y = x P`` (d_S,) and ``x ≈ y Pᵀ``.
- Embeddings, biases, FFN input/output, pooler and classifier: ``W`` acting on ``x`` becomes
  ``W`` acting on ``y Pᵀ`` (i.e. multiply by ``P`` on the right, or ``Pᵀ`` on the left). The FFN
  keeps the d_ff_S neurons with the largest ``‖w_in‖·‖w_out‖``.
- Attention, per head: the score bilinear form ``(P Wqᵀ)(Wk Pᵀ)`` (d_S, d_S, rank ≤ d_head_T) and
  the value-output map ``P Wvᵀ Woᵀ Pᵀ`` are cut to rank d_head_S by SVD (of their small factors) and split into the
  student's query/key (value/output) weights; the √d scaling of the scores is carried over.
- LayerNorm: a d_S-wide LayerNorm cannot rotate, so its gain is the diagonal of ``Pᵀ diag(γ) P``
  (rescaled for the width) and its bias ``β P``: the one approximation that is not a projection.
- Teacher layer ``layers[m]`` initialises student layer m (default: first and last kept, evenly spread).

With d_S = d_T, the same head count and all layers kept this reproduces the teacher exactly
(a test checks the logits); narrower it is an approximation that a short distillation refines.
The student then starts from what the teacher knows, which is distillation too: the benchmark
reports "labels only" and "KD" both with and without it, so its share of the gain is visible.
"""

from __future__ import annotations

import math

import torch

from ..core.errors import TinyBertLabError
from ..core.mapping import record_init_layers


def default_layers(student_layers: int, teacher_layers: int) -> list[int]:
    """Teacher layers (1-based) for each student layer: the first and the last kept, the rest
    evenly spread (rounded down). 4 of 6 → [1, 2, 4, 6]; 3 of 6 → [1, 3, 6]; equal depth → all.

    Measured on SST-2 dev for TinyBERT-4 from the fine-tuned MiniLM, before any training:
    [1, 2, 4, 6] 78.6 %, [1, 3, 5, 6] 77.5 %, [1, 2, 3, 6] 75.3 %, [3, 4, 5, 6] 75.1 %,
    [2, 3, 5, 6] 69.3 %: keeping the first layer matters most.
    """
    if student_layers == 1:
        return [teacher_layers]
    return [1 + m * (teacher_layers - 1) // (student_layers - 1) for m in range(student_layers)]


@torch.no_grad()
def residual_basis(teacher, encoded_batches, width: int) -> torch.Tensor:
    """``P`` (d_T, width): top principal directions (uncentred) of the teacher's hidden states.

    ``encoded_batches``: one batch or an iterable of batches (``input_ids`` / ``attention_mask``
    (B, T), and ``token_type_ids``) of a few sentences; every layer's hidden states at real tokens
    count, embeddings included. Length-sorted batches (``projected_student``) waste little compute
    on padding: one padded batch of 512 sentences took 15 s on 2 busy cores.
    """
    teacher.eval()
    batches = [encoded_batches] if isinstance(encoded_batches, dict) else encoded_batches
    device = next(teacher.parameters()).device
    second_moment, count = None, 0
    with torch.no_grad():
        for batch in batches:
            inputs = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
            states = teacher(**inputs, output_hidden_states=True).hidden_states  # L+1 × (B, T, d_T)
            real = inputs["attention_mask"].bool()
            rows = torch.cat([h[real] for h in states]).double()  # (n, d_T)
            moment = rows.T @ rows
            second_moment = moment if second_moment is None else second_moment + moment
            count += len(rows)
    if second_moment is None:
        raise TinyBertLabError("residual_basis got no batches: pass at least one batch of sentences.")
    _, vectors = torch.linalg.eigh((second_moment / count).cpu())  # ascending eigenvalues
    return vectors[:, -width:].flip(1).float().contiguous()


def _check_shapes(s, t, layers):
    if s.vocab_size != t.vocab_size:
        raise TinyBertLabError(
            f"Student vocabulary ({s.vocab_size}) differs from the teacher's ({t.vocab_size}): build the "
            "student with the teacher's tokenizer.")
    for name in ("hidden_size", "intermediate_size"):
        if getattr(s, name) > getattr(t, name):
            raise TinyBertLabError(
                f"The student's {name} ({getattr(s, name)}) exceeds the teacher's ({getattr(t, name)}): a "
                "projection can only shrink. Build a student no wider than the teacher.")
    if s.num_attention_heads != t.num_attention_heads:
        raise TinyBertLabError(
            f"The student has {s.num_attention_heads} attention heads and the teacher {t.num_attention_heads}: "
            "project_teacher maps head to head. Build the student with "
            f"num_attention_heads={t.num_attention_heads}.")
    if len(layers) != s.num_hidden_layers:
        raise TinyBertLabError(
            f"layers={layers} has {len(layers)} entries but the student has {s.num_hidden_layers} layers: give one "
            "teacher layer per student layer.")
    if any(not 1 <= layer <= t.num_hidden_layers for layer in layers):
        raise TinyBertLabError(
            f"layers={layers}: teacher layers are numbered 1..{t.num_hidden_layers}.")


def _layer_norm(target, source, basis, scale):
    """Diagonal of ``Pᵀ diag(γ) P`` (times the width correction) as gain; ``β P`` as bias."""
    target.weight.copy_(((basis * source.weight[:, None]) * basis).sum(0) * scale)
    target.bias.copy_(source.bias @ basis)


def _split_low_rank(left: torch.Tensor, right: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The best rank-``rank`` approximation of ``left @ right``, as ``(new_left, new_right)``.

    ``left`` (d, r), ``right`` (r, d) with r small (a head's width): QR of both factors reduces
    the SVD to an (r, r) matrix, so nothing (d, d) is ever decomposed. Returns ``new_left``
    (d, rank) and ``new_right`` (rank, d), the singular values split evenly between them.
    """
    q_left, r_left = torch.linalg.qr(left.double())  # (d, r), (r, r)
    q_right, r_right = torch.linalg.qr(right.double().T)  # (d, r), (r, r)
    u, s, vh = torch.linalg.svd(r_left @ r_right.T)  # left @ right = q_left (u s vh) q_rightᵀ
    root = s[:rank].sqrt()
    return (q_left @ u[:, :rank] * root).float(), (root[:, None] * (vh[:rank] @ q_right.T)).float()


def _solve_rows(right: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
    """The least-squares ``x`` (rank,) with ``x @ right ≈ wanted``, for a ``right`` (rank, d) from
    ``_split_low_rank``, whose rows are orthogonal: ``x_i = (wanted · right_i) / ‖right_i‖²`` (0
    for a zero row). Closed form in float64 instead of ``torch.linalg.lstsq``, whose CPU solver
    gave results differing by ~1e-7 from run to run, so a resumed run did not recognise its own
    starting weights."""
    right, wanted = right.double(), wanted.double()
    norms = (right * right).sum(1)
    projections = right @ wanted
    return torch.where(norms > 0, projections / norms.clamp_min(1e-300), torch.zeros_like(norms)).float()


def _attention(target, source, basis, heads):
    """One attention block: per-head rank-cut query·key and value·output maps (see module doc)."""
    d_t, d_s = basis.shape
    head_t, head_s = d_t // heads, d_s // heads
    q, k, v, o = source.self.query, source.self.key, source.self.value, source.output.dense
    sq, sk, sv, so = target.self.query, target.self.key, target.self.value, target.output.dense
    score_scale = math.sqrt(head_s / head_t)  # student divides by √head_s, teacher by √head_t
    out_bias = o.bias.clone()
    for h in range(heads):
        rows_t = slice(h * head_t, (h + 1) * head_t)
        rows_s = slice(h * head_s, (h + 1) * head_s)
        # scores: (y Pᵀ Wqᵀ + bq)(y' Pᵀ Wkᵀ + bk)ᵀ; the bilinear form in student coordinates:
        a, b = q.weight[rows_t] @ basis, k.weight[rows_t] @ basis  # (head_t, d_s) each
        left, right = _split_low_rank(a.T * score_scale, b, head_s)  # (d_s, head_s), (head_s, d_s)
        sq.weight[rows_s], sk.weight[rows_s] = left.T, right
        # query bias: its product with the keys varies per key, so keep it; key bias shifts
        # every score of a row equally (softmax ignores it), so drop it.
        wanted = (q.bias[rows_t] @ b) * score_scale  # (d_s,): bias_s @ right must equal this
        sq.bias[rows_s] = _solve_rows(right, wanted)
        sk.bias[rows_s] = 0.0
        # values then output: y Pᵀ Wvᵀ Woᵀ P, cut to rank head_s
        wo = o.weight[:, rows_t]  # (d_t, head_t)
        left, right = _split_low_rank(basis.T @ v.weight[rows_t].T, wo.T @ basis, head_s)
        sv.weight[rows_s], so.weight[:, rows_s] = left.T, right.T
        sv.bias[rows_s] = 0.0
        out_bias += wo @ v.bias[rows_t]  # attention rows sum to 1: a value bias is a constant output
    so.bias.copy_(out_bias @ basis)


def _feed_forward(target_in, target_out, source_in, source_out, basis):
    keep = target_in.weight.shape[0]
    importance = source_in.weight.norm(dim=1) * source_out.weight.norm(dim=0)
    chosen = importance.topk(keep).indices.sort().values
    target_in.weight.copy_(source_in.weight[chosen] @ basis)
    target_in.bias.copy_(source_in.bias[chosen])
    target_out.weight.copy_(basis.T @ source_out.weight[:, chosen])
    target_out.bias.copy_(source_out.bias @ basis)


@torch.no_grad()
def project_teacher(student, teacher, basis: torch.Tensor, *, layers: list[int] | None = None) -> torch.Tensor:
    """Overwrite ``student``'s weights with the teacher's, written in the basis ``P``.

    ``basis``: ``P`` (d_T, d_S) with orthonormal columns, e.g. ``residual_basis(teacher, batch,
    d_S)``. ``layers``: the teacher layer (1-based) for each student layer (default
    ``default_layers``). Both models are ``BertForSequenceClassification``; the student needs the
    teacher's vocabulary and head count and no larger widths. Returns ``P``, so hidden-state
    projections (student → teacher) can start at ``Pᵀ``.
    """
    s, t = student.config, teacher.config
    layers = list(layers) if layers is not None else default_layers(s.num_hidden_layers, t.num_hidden_layers)
    _check_shapes(s, t, layers)
    if tuple(basis.shape) != (t.hidden_size, s.hidden_size):
        raise TinyBertLabError(
            f"basis has shape {tuple(basis.shape)}; expected (teacher width, student width) = "
            f"({t.hidden_size}, {s.hidden_size}). Build it with residual_basis(teacher, batch, {s.hidden_size}).")
    basis = basis.to(next(teacher.parameters()).dtype)
    ln_scale = math.sqrt(t.hidden_size / s.hidden_size)
    se, te = student.base_model.embeddings, teacher.base_model.embeddings
    for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        target, source = getattr(se, name).weight, getattr(te, name).weight
        rows = min(len(target), len(source))
        target[:rows] = source[:rows] @ basis
    _layer_norm(se.LayerNorm, te.LayerNorm, basis, ln_scale)
    for target, layer in zip(student.base_model.encoder.layer, layers):
        source = teacher.base_model.encoder.layer[layer - 1]
        _attention(target.attention, source.attention, basis, t.num_attention_heads)
        _layer_norm(target.attention.output.LayerNorm, source.attention.output.LayerNorm, basis, ln_scale)
        _feed_forward(target.intermediate.dense, target.output.dense, source.intermediate.dense,
                      source.output.dense, basis)
        _layer_norm(target.output.LayerNorm, source.output.LayerNorm, basis, ln_scale)
    if student.base_model.pooler is not None and teacher.base_model.pooler is not None:
        sp, tp = student.base_model.pooler.dense, teacher.base_model.pooler.dense
        sp.weight.copy_(basis.T @ tp.weight @ basis)
        sp.bias.copy_(tp.bias @ basis)
    if s.num_labels == t.num_labels and hasattr(student, "classifier") and hasattr(teacher, "classifier"):
        student.classifier.weight.copy_(teacher.classifier.weight @ basis)
        student.classifier.bias.copy_(teacher.classifier.bias)
    record_init_layers(s, layers)  # Distiller's default map then pairs each layer with its source
    return basis


def projected_student(teacher, tokenizer, sample, preset: str = "tinybert4", *, layers: list[int] | None = None,
                      basis_size: int | None = None, seed: int = 0, **overrides):
    """A ``build_student(preset)`` student started from ``teacher`` by ``project_teacher``.

    ``sample``: raw sentences (a dataset with a text column, e.g. the training set); the first
    ``basis_size`` after a seeded shuffle give the hidden states for ``residual_basis`` (default:
    a quarter of the sample, at least 64 and at most 512 sentences).
    Returns ``(student, basis)``; pass ``basis`` to ``Distiller.init_projections``.
    """
    from ..core import data as data_lib
    from ..core.models import build_student

    student = build_student(preset, tokenizer=tokenizer, num_labels=teacher.config.num_labels, seed=seed,
                            **overrides)
    if basis_size is None:
        basis_size = min(512, max(64, len(sample) // 4))
    sentences = data_lib.subsample(sample, min(basis_size, len(sample)), seed=seed)
    encoded = data_lib.encode(sentences, tokenizer)
    batches = data_lib.make_loader(encoded, tokenizer, batch_size=64, shuffle=False)  # sorted by length
    device = next(teacher.parameters()).device
    basis = residual_basis(teacher, batches, student.config.hidden_size)
    project_teacher(student.to(device), teacher, basis, layers=layers)
    return student, basis
