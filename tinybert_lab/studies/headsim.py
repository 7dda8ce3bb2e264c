"""Attention heads compared over a dataset: which teacher head each student head resembles, and
what each head looks at (Clark et al. 2019, "What does BERT look at?").

- ``js_divergence(p, q, mask)``: Jensen–Shannon divergence between every head of ``p`` and every
  head of ``q`` (attention probabilities of the same sentences), averaged over the real query
  rows: ``(heads_p, heads_q)``; 0 for identical rows, at most ln 2.
- ``head_similarity(teacher, student, sentences, tokenizer)``: that divergence for every student
  head against every teacher head, over N sentences: a ``HeadSimilarity``.
- ``HeadSimilarity.mapped_divergence(layer_map)``: per mapped layer pair, the mean divergence of
  head i with head i (TinyBERT's attention loss pairs heads by index); ``mapped_divergences``
  computes only that, for several students at once (distilled, label-only, untrained).
- ``head_behaviour(model, sentences, tokenizer)``: per head, the row entropy and the share of
  attention on [CLS], on [SEP], on punctuation, on the previous and on the next token.

Attention probabilities come from HF's ``output_attentions`` (padded keys hold 0); padded query
rows are left out of every mean.
"""

from __future__ import annotations

import json
import string
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..core import data as data_lib
from ..core.errors import TinyBertLabError

BEHAVIOURS = ("entropy", "[CLS]", "[SEP]", "punctuation", "previous token", "next token")


def _check_probs(p: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if p.dim() != 4 or p.shape[-1] != p.shape[-2]:
        raise TinyBertLabError(f"Attention probabilities must be (batch, heads, length, length); got {tuple(p.shape)}.")
    if tuple(mask.shape) != (p.shape[0], p.shape[-1]):
        raise TinyBertLabError(f"attention_mask {tuple(mask.shape)} does not match attention {tuple(p.shape)}: "
                               "pass the batch's own (batch, length) mask.")
    mask = mask.bool()
    if not mask.any():
        raise TinyBertLabError("attention_mask is all zeros: no real token to compare.")
    return mask


def _xlogy(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.special.xlogy(x, y)  # 0 · log 0 = 0


def js_divergence(p: torch.Tensor, q: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Jensen–Shannon divergence (natural log) between the attention rows of every head of ``p``
    and every head of ``q``, averaged over the real query rows of the batch.

    p: (B, h_p, L, L), q: (B, h_q, L, L) attention probabilities of the same batch (rows sum to
    1 over the real keys); attention_mask: (B, L), 1 = real token. Returns (h_p, h_q).
    ``JS(P, Q) = ½ KL(P ‖ M) + ½ KL(Q ‖ M)`` with ``M = (P + Q) / 2``; symmetric, 0 for equal
    rows, ≤ ln 2.
    """
    mask = _check_probs(p, attention_mask)
    _check_probs(q, attention_mask)
    if p.shape[0] != q.shape[0] or p.shape[-1] != q.shape[-1]:
        raise TinyBertLabError(f"p {tuple(p.shape)} and q {tuple(q.shape)} must come from the same batch.")
    keys = mask[:, None, None, :]
    a = torch.where(keys, p.float(), 0.0)  # (B, h_p, L, L); padded keys dropped
    b = torch.where(keys, q.float(), 0.0)  # (B, h_q, L, L)
    # JS = ½ Σ a log a + ½ Σ b log b − Σ m log m (the cross terms a log m + b log m sum to 2 m log m),
    # so only m = (a + b) / 2 needs every head pair: (B, h_p, h_q, L, L)
    m = (a[:, :, None] + b[:, None]) / 2
    per_row = (0.5 * _xlogy(a, a).sum(-1)[:, :, None] + 0.5 * _xlogy(b, b).sum(-1)[:, None]
               - _xlogy(m, m).sum(-1))  # (B, h_p, h_q, L)
    per_row = torch.where(mask[:, None, None, :], per_row, 0.0)  # real query rows only
    return per_row.sum(dim=(0, 3)) / mask.sum()


def paired_heads(block: torch.Tensor) -> torch.Tensor:
    """The mean divergence of a (h_S, h_T) block as TinyBERT's attention loss pairs heads: head i
    with head i when the counts match, else every pair."""
    return block.diagonal().mean() if block.shape[0] == block.shape[1] else block.mean()


@dataclass
class HeadSimilarity:
    """Mean JS divergence of every student head (rows) with every teacher head (columns).

    ``matrix``: (M·h_S, N·h_T), rows ordered layer by layer (student layer 1's heads first),
    columns likewise; ``student_heads`` / ``teacher_heads`` per layer; ``sentences`` counted."""

    matrix: torch.Tensor
    student_layers: int
    teacher_layers: int
    student_heads: int
    teacher_heads: int
    sentences: int

    def block(self, student_layer: int, teacher_layer: int) -> torch.Tensor:
        """(h_S, h_T) divergences between student layer ``student_layer`` and teacher layer
        ``teacher_layer`` (both 1-based)."""
        if not 1 <= student_layer <= self.student_layers or not 1 <= teacher_layer <= self.teacher_layers:
            raise TinyBertLabError(f"Layers are 1..{self.student_layers} (student) and 1..{self.teacher_layers} (teacher).")
        hs, ht = self.student_heads, self.teacher_heads
        return self.matrix[(student_layer - 1) * hs:student_layer * hs, (teacher_layer - 1) * ht:teacher_layer * ht]

    def mapped_divergence(self, layer_map) -> dict[int, float]:
        """``{student layer: mean JS of head i with head i}`` over the layer map's attention pairs
        (all head pairs averaged when the head counts differ; many-to-one entries averaged)."""
        result = {}
        for match in layer_map.attention_matches:
            values = []
            for t in match.teacher:
                block = self.block(match.student, t)
                values.append(paired_heads(block))
            result[match.student] = float(torch.stack(values).mean())
        return result

    def closest_teacher_layer(self) -> dict[int, int]:
        """``{student layer: teacher layer whose heads it resembles most}`` (lowest mean of each
        student head's best match in that teacher layer)."""
        best = {}
        for m in range(1, self.student_layers + 1):
            scores = [self.block(m, n).min(dim=1).values.mean() for n in range(1, self.teacher_layers + 1)]
            best[m] = int(torch.stack(scores).argmin()) + 1
        return best

    def suggested_map(self):
        """A ``LayerMap`` pairing each student layer with ``closest_teacher_layer`` (embeddings
        0 ← 0): the map the similarity suggests, to distil along instead of the uniform one."""
        from ..core.mapping import LayerMap

        closest = self.closest_teacher_layer()
        return LayerMap.from_list([0] + [closest[m] for m in range(1, self.student_layers + 1)], self.teacher_layers)


def _attention_batches(models, sentences, tokenizer, n: int, batch_size: int):
    """Yield ``(batch, [attention tuple per model])`` over the first ``n`` sentences (no grad, eval)."""
    if n < 1:
        raise TinyBertLabError(f"n must be at least 1 sentence, got {n}.")
    subset = sentences.select(range(min(n, len(sentences))))
    encoded = data_lib.encode(subset, tokenizer)
    states = [model.training for model in models]
    for model in models:
        model.eval()
    try:
        with torch.no_grad():
            for batch in data_lib.make_loader(encoded, tokenizer, batch_size=batch_size, shuffle=False):
                inputs = data_lib.model_inputs(batch)
                yield batch, [model(**inputs, output_attentions=True).attentions for model in models]
    finally:
        for model, state in zip(models, states):
            model.train(state)


def head_similarity(teacher, student, sentences, tokenizer, *, n: int = 200, batch_size: int = 32) -> HeadSimilarity:
    """JS divergence of every student head with every teacher head, averaged over the real query
    rows of the first ``n`` sentences of ``sentences`` (a dataset with a text column)."""
    M, N = student.config.num_hidden_layers, teacher.config.num_hidden_layers
    hs, ht = student.config.num_attention_heads, teacher.config.num_attention_heads
    total = torch.zeros(M * hs, N * ht)
    rows = 0
    count = 0
    for batch, (t_att, s_att) in _attention_batches([teacher, student], sentences, tokenizer, n, batch_size):
        mask = batch["attention_mask"]
        real = int(mask.sum())
        for m in range(M):
            for t in range(N):
                total[m * hs:(m + 1) * hs, t * ht:(t + 1) * ht] += js_divergence(s_att[m], t_att[t], mask) * real
        rows += real
        count += mask.shape[0]
    return HeadSimilarity(total / rows, M, N, hs, ht, count)


def causal_head_similarity(teacher, student, input_ids: torch.Tensor) -> HeadSimilarity:
    """``head_similarity`` for causal language models (GPT-2's classes) on token ids already cut
    into windows, (B, L): no padding, and only ``input_ids`` reach the models (a GPT-2 would read
    ``token_type_ids`` as extra token embeddings). A query row of causal attention spreads over the
    keys up to itself only, so the divergence compares what each head does with the past."""
    if input_ids.dim() != 2 or input_ids.numel() == 0:
        raise TinyBertLabError(f"input_ids must be a non-empty (windows, tokens) tensor, got {tuple(input_ids.shape)}.")
    M, N = student.config.n_layer, teacher.config.n_layer
    hs, ht = student.config.n_head, teacher.config.n_head
    states = teacher.training, student.training
    teacher.eval()
    student.eval()
    with torch.no_grad():
        t_att = teacher(input_ids=input_ids, output_attentions=True).attentions
        s_att = student(input_ids=input_ids, output_attentions=True).attentions
    teacher.train(states[0])
    student.train(states[1])
    if not t_att or not s_att:
        raise TinyBertLabError("The models returned no attention maps: load them with attn_implementation='eager' "
                               "(model.set_attn_implementation('eager')).")
    mask = torch.ones_like(input_ids)
    matrix = torch.zeros(M * hs, N * ht)
    for m in range(M):
        for t in range(N):
            matrix[m * hs:(m + 1) * hs, t * ht:(t + 1) * ht] = js_divergence(s_att[m], t_att[t], mask)
    return HeadSimilarity(matrix, M, N, hs, ht, input_ids.shape[0])


def mapped_divergences(teacher, students: dict, sentences, tokenizer, layer_map, *, n: int = 200,
                       batch_size: int = 32) -> dict[str, dict[int, float]]:
    """``{student name: {student layer: mean JS of head i with head i}}`` over the layer map's
    attention pairs, for several students of the same shape against one teacher (its attention
    computed once per batch; only the mapped layer pairs are compared)."""
    if not students:
        raise TinyBertLabError("Give at least one student: {'distilled': model, ...}.")
    names, models = list(students), list(students.values())
    pairs = [(m.student, m.teacher) for m in layer_map.attention_matches]
    sums = {name: dict.fromkeys((s for s, _ in pairs), 0.0) for name in names}
    rows = 0
    for batch, (t_att, *s_atts) in _attention_batches([teacher, *models], sentences, tokenizer, n, batch_size):
        mask = batch["attention_mask"]
        real = int(mask.sum())
        for name, s_att in zip(names, s_atts):
            for s, teachers in pairs:
                values = []
                for t in teachers:
                    block = js_divergence(s_att[s - 1], t_att[t - 1], mask)
                    values.append(paired_heads(block))
                sums[name][s] += float(torch.stack(values).mean()) * real
        rows += real
    return {name: {s: value / rows for s, value in by_layer.items()} for name, by_layer in sums.items()}


def _punctuation_ids(tokenizer) -> torch.Tensor:
    ids = {tokenizer.convert_tokens_to_ids(c) for c in string.punctuation}
    return torch.tensor(sorted(i for i in ids if i is not None and i != tokenizer.unk_token_id))


def behaviour_of(probs: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor, *, cls_id: int,
                 sep_id: int, punctuation_ids: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Sums over the real query rows of one layer's attention (B, h, L, L): ``(h, 6)`` in the order
    of ``BEHAVIOURS`` (entropy in nats; attention mass on [CLS], [SEP], punctuation, the previous
    and the next token), and the number of real rows. Divide by the rows for the means."""
    mask = _check_probs(probs, attention_mask)
    p = torch.where(mask[:, None, None, :], probs.float(), 0.0)
    rows = mask[:, None, :].expand(-1, p.shape[1], -1)  # (B, h, L)
    entropy = -_xlogy(p, p).sum(-1)
    on = [input_ids == cls_id, input_ids == sep_id, torch.isin(input_ids, punctuation_ids)]
    shares = [(p * key[:, None, None, :].float()).sum(-1) for key in on]
    previous = torch.diagonal(p, offset=-1, dim1=-2, dim2=-1)  # row i, key i − 1
    following = torch.diagonal(p, offset=1, dim1=-2, dim2=-1)  # row i, key i + 1
    shares.append(torch.nn.functional.pad(previous, (1, 0)))
    shares.append(torch.nn.functional.pad(following, (0, 1)))
    values = torch.stack([entropy] + shares, dim=-1)  # (B, h, L, 6)
    values = torch.where(rows[..., None], values, 0.0)
    return values.sum(dim=(0, 2)), int(mask.sum())


def head_behaviour(model, sentences, tokenizer, *, n: int = 200, batch_size: int = 32) -> torch.Tensor:
    """(layers, heads, 6) means over the real query rows of the first ``n`` sentences, in the
    order of ``BEHAVIOURS``: row entropy (nats; ln L for uniform attention over L tokens) and the
    share of attention on [CLS], [SEP], punctuation, the previous and the next token."""
    punctuation = _punctuation_ids(tokenizer)
    layers, heads = model.config.num_hidden_layers, model.config.num_attention_heads
    total, rows = torch.zeros(layers, heads, len(BEHAVIOURS)), 0
    for batch, (attentions,) in _attention_batches([model], sentences, tokenizer, n, batch_size):
        for layer, probs in enumerate(attentions):
            sums, real = behaviour_of(probs, batch["input_ids"], batch["attention_mask"], cls_id=tokenizer.cls_token_id,
                                      sep_id=tokenizer.sep_token_id, punctuation_ids=punctuation)
            total[layer] += sums
        rows += real
    return total / rows




class AttentionRecorder:
    """A ``fit`` callback that watches the student's attention become the teacher's.

    At every logged step that is a multiple of ``every``, the student runs (eval mode, no
    gradients: training is unchanged) on a fixed probe batch (the first ``probe_size`` of
    ``sentences``), and ``history.records`` gains:

    - ``"attention_js"``: ``[step, [mean JS divergence of each mapped layer pair]]`` (head i with
      head i, as in ``HeadSimilarity.mapped_divergence``), in the order of ``pairs``;
    - ``"attention_map"``: ``[step, (layers, heads, L, L) nested lists]``, the student's
      attention on the probe's first sentence (for a slider over steps).

    The student as it is when the recorder is built is measured then and written as step 0 of
    the first history it records into. The records are saved with the run's checkpoints, so a
    resumed run keeps them; ``track(histories)`` gathers a run's stages into an
    ``AttentionTrack`` to save and plot. ``every`` should be a multiple of the run's
    ``log_every`` (callbacks run at logged steps).
    """

    def __init__(self, student, teacher, sentences, tokenizer, *, layer_map=None, every: int = 50, probe_size: int = 32):
        from ..core.mapping import default_map

        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise TinyBertLabError(f"every must be a positive number of steps, got {every!r}.")
        self.student, self.every = student, every
        self.layer_map = layer_map or default_map(student.config, teacher.config)
        self.pairs = [(m.student, m.teacher[0]) for m in self.layer_map.attention_matches]
        encoded = data_lib.encode(sentences.select(range(min(probe_size, len(sentences)))), tokenizer)
        self.batch = next(iter(data_lib.make_loader(encoded, tokenizer, batch_size=len(encoded), shuffle=False,
                                                    bucket=False)))
        self.inputs = data_lib.model_inputs(self.batch)
        self.first_length = int(self.batch["attention_mask"][0].sum())
        self.tokens = tokenizer.convert_ids_to_tokens(self.batch["input_ids"][0][:self.first_length].tolist())
        with torch.no_grad():
            state = teacher.training
            teacher.eval()
            self.teacher_attention = teacher(**self.inputs, output_attentions=True).attentions
            teacher.train(state)
        self.start = self.measure()  # the student before training: step 0 of the first run it records
        self._wrote_start = False

    def __call__(self, step: int, history) -> None:
        if step % self.every:
            return
        if not self._wrote_start and not history.records.get("attention_js"):
            values, first = self.start
            history.records["attention_js"] = [[0, values]]
            history.records["attention_map"] = [[0, first]]
        self._wrote_start = True
        values, first = self.measure()
        history.records.setdefault("attention_js", []).append([step, values])
        history.records.setdefault("attention_map", []).append([step, first])

    def measure(self) -> tuple[list[float], list]:
        """The student's attention now: (mean JS divergence per mapped pair, the first probe
        sentence's attention as (layers, heads, L, L) nested lists)."""
        state = self.student.training
        self.student.eval()
        try:
            with torch.no_grad():
                device = next(self.student.parameters()).device
                attention = self.student(**{k: v.to(device) for k, v in self.inputs.items()}, output_attentions=True).attentions
        finally:
            self.student.train(state)
        mask = self.batch["attention_mask"]
        values = []
        for s, t in self.pairs:
            block = js_divergence(attention[s - 1].cpu(), self.teacher_attention[t - 1], mask)
            values.append(float(paired_heads(block)))
        n = self.first_length
        first = torch.stack([layer[0, :, :n, :n].float().cpu() for layer in attention])
        return values, first.tolist()

    def track(self, histories) -> "AttentionTrack":
        """The recordings of one run as an ``AttentionTrack``: ``histories`` is its ``History``,
        or ``{stage name: History}`` in order (``tinybert.run_stages``' result), a later stage's
        steps counted after the earlier stages' last step."""
        if not isinstance(histories, dict):
            histories = {"run": histories}
        steps, divergence, maps, offset, boundaries, previous = [], [], [], 0, {}, None
        for name, history in histories.items():
            if previous is not None:
                boundaries[f"{previous} → {name}"] = offset
            previous = name
            for (step, values), (_, first) in zip(history.records.get("attention_js", []),
                                                  history.records.get("attention_map", [])):
                if steps and offset + step <= steps[-1]:
                    continue
                steps.append(offset + step)
                divergence.append(values)
                maps.append(first)
            offset += history.step[-1] if history.step else 0
        n = self.first_length
        teacher_first = torch.stack([layer[0, :, :n, :n].float() for layer in self.teacher_attention])
        return AttentionTrack(pairs=[list(p) for p in self.pairs], tokens=list(self.tokens), steps=steps,
                              divergence=divergence, maps=maps, teacher_map=teacher_first.tolist(),
                              boundaries=boundaries)


@dataclass
class AttentionTrack:
    """One run's attention, recorded over training by an ``AttentionRecorder``.

    ``pairs``: the mapped (student layer, teacher layer) pairs, 1-based; ``steps``: the recorded
    steps (0 = before training); ``divergence[k][j]``: mean JS divergence of pair j at
    ``steps[k]`` over the probe batch; ``maps[k]``: the student's attention on the first probe
    sentence at ``steps[k]``, (student layers, heads, L, L); ``teacher_map``: the teacher's on that
    sentence, (teacher layers, heads, L, L); ``tokens``: its L tokens; ``boundaries``:
    ``{"stage a → stage b": step}`` where a multi-stage run changed stage. Saved as JSON.
    """

    pairs: list
    tokens: list
    steps: list
    divergence: list
    maps: list
    teacher_map: list
    boundaries: dict = field(default_factory=dict)

    def mean_divergence(self) -> list[float]:
        """Per recorded step, the divergence averaged over the layer pairs."""
        return [sum(values) / len(values) for values in self.divergence]

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def load(cls, path) -> "AttentionTrack":
        path = Path(path)
        if not path.is_file():
            raise TinyBertLabError(f"No attention recording at {path}. Run notebook 06 first: its distillation and "
                                   "its label-only run from the same start record the student's attention.")
        track = cls(**json.loads(path.read_text()))
        if not track.steps:
            raise TinyBertLabError(
                f"{path.name} holds no recorded steps: notebook 06 resumed a run that had finished before attention "
                f"was recorded. Delete that run's checkpoint folder in {path.parent} and run notebook 06 again.")
        return track


# --------------------------------------------------------------------------------------------
# Over seeds: benchmarks/attention_seeds.py's record
# --------------------------------------------------------------------------------------------
SEED_RECORD = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "attention_seeds.json"
SEED_STUDENTS = {"untrained": "untrained start", "labels-teacher": "labels only, same start",
                 "kd-teacher": "two-step KD (06's map)"}


def _default_map_runs(runs, student: str) -> dict[int, dict]:
    return {r["seed"]: r for r in runs if r["student"] == student and r.get("layer_map", "default") == "default"}


def divergence_over_seeds(runs) -> dict[str, dict[int, tuple[float, float]]]:
    """``{student label: {student layer: (mean, std)}}`` of the mapped-layer divergence over the
    seeds of ``benchmarks/attention_seeds.py``'s record (``runs``), for the students of
    ``SEED_STUDENTS`` that it holds; ready for ``viz.plot_mapped_divergence``."""
    import statistics

    result = {}
    for student, label in SEED_STUDENTS.items():
        rows = list(_default_map_runs(runs, student).values())
        if rows:
            layers = sorted({int(k) for r in rows for k in r["divergence"]})
            values = {m: [r["divergence"][str(m)] for r in rows] for m in layers}
            result[label] = {m: (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0)
                             for m, v in values.items()}
    return result


def compare_divergence(runs, a: str, b: str) -> tuple[float, float, int, str] | None:
    """Student ``a`` − student ``b`` (keys of ``SEED_STUDENTS``) in divergence averaged over the
    mapped layers, paired seed by seed: ``(mean, std, seeds, words)`` with words "closer to the
    teacher" / "farther from the teacher" when the mean is more than two standard errors from 0
    over ≥ 3 seeds, else "within seed noise" (or "too few seeds to tell"); None without shared seeds."""
    import statistics

    from ..core.comparison import verdict

    first, second = _default_map_runs(runs, a), _default_map_runs(runs, b)
    seeds = sorted(set(first) & set(second))
    if not seeds:
        return None
    diffs = [statistics.mean(first[s]["divergence"].values()) - statistics.mean(second[s]["divergence"].values())
             for s in seeds]
    mean, std = statistics.mean(diffs), (statistics.stdev(diffs) if len(diffs) > 1 else 0.0)
    words = {"clear gain": "farther from the teacher", "clear loss": "closer to the teacher",
             "within noise": "within seed noise"}.get(verdict(mean, std, len(diffs)), "too few seeds to tell")
    return mean, std, len(diffs), words


def map_comparison(runs) -> tuple[float, float, float, float, int, str] | None:
    """Does the layer map matter? Two-step KD along the uniform map minus along notebook 06's map
    (each student layer toward the teacher layer it was built from), dev accuracy paired seed by
    seed in ``benchmarks/attention_seeds.py``'s record: ``(default mean, uniform mean, difference
    mean, std, seeds, verdict)``, both means over the seeds both maps ran; None until the record
    holds uniform-map runs."""
    import statistics

    from ..core.comparison import paired_difference, verdict

    default = {s: r["dev_accuracy"] for s, r in _default_map_runs(runs, "kd-teacher").items()}
    uniform = {r["seed"]: r["dev_accuracy"] for r in runs
               if r["student"] == "kd-teacher" and r.get("layer_map") == "uniform"}
    shared = sorted(set(default) & set(uniform))
    if not shared:
        return None
    mean, std, count = paired_difference(uniform, default)
    return (statistics.mean(default[s] for s in shared), statistics.mean(uniform[s] for s in shared), mean, std, count,
            verdict(mean, std, count))
