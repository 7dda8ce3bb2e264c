"""Evaluation and the results table: accuracy, F1, error analysis, sentences per second.

``evaluate(model, dataset, tokenizer)`` scores a model and lists what it got wrong;
``benchmark_inference({"teacher": t, "student": s}, dataset, tokenizer)`` times every model on
the same sentences, batch size and thread count and reports them side by side, with the
speed-up over the first model, parameter counts and size on disk.
"""

from __future__ import annotations

import warnings

import statistics
import time
from dataclasses import dataclass, field

import torch

from . import data as data_lib
from .errors import TinyBertLabError
from .models import check_tokenizer_matches, fitting_max_length, parameter_counts, size_on_disk


def device_of(model) -> torch.device:
    """Where a model's weights live; the CPU for a model without torch parameters (an ONNX
    Runtime session, ``compression.OnnxModel``)."""
    parameters = getattr(model, "parameters", None)
    first = next(parameters(), None) if parameters is not None else None
    return first.device if first is not None else torch.device("cpu")


@torch.no_grad()
def predict(model, encoded, tokenizer, *, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits for every example of an ``encode``-d dataset.

    Returns ``logits`` (N, C) and ``idx`` (N,), both in dataset order (batches are length-sorted
    internally for speed and put back in order here).
    """
    model.eval()
    device = device_of(model)
    loader = data_lib.make_loader(encoded, tokenizer, batch_size=batch_size, shuffle=False)
    rows, chunks = [], []
    position = {idx: row for row, idx in enumerate(list(encoded["idx"]))}
    for batch in loader:
        inputs = {k: v.to(device) for k, v in data_lib.model_inputs(batch).items()}
        chunks.append(model(**inputs).logits.float().cpu())
        rows.extend(position[i] for i in batch["idx"].tolist())
    logits = torch.cat(chunks)
    order = torch.empty(len(rows), dtype=torch.long)
    order[torch.tensor(rows)] = torch.arange(len(rows))
    return logits[order], torch.tensor(list(encoded["idx"]))


@dataclass
class EvalResult:
    """``accuracy`` in [0, 1]; ``f1`` of class 1 for two-class tasks (None otherwise); ``n``
    examples; ``misclassified``: one dict per error with ``idx``, ``text``, ``label``,
    ``predicted`` and ``probabilities`` (list over classes), most confident mistakes first;
    ``macro_f1``: the unweighted mean of every class's F1 (for any number of classes);
    ``confusion``: ``confusion[gold][predicted]`` counts (see ``confusion_matrix``)."""

    accuracy: float
    f1: float | None
    n: int
    misclassified: list[dict] = field(default_factory=list)
    macro_f1: float | None = None
    confusion: list[list[int]] | None = None

    def __repr__(self) -> str:
        f1 = f", f1={self.f1:.4f}" if self.f1 is not None else ""
        macro = f", macro_f1={self.macro_f1:.4f}" if self.macro_f1 is not None and self.f1 is None else ""
        return f"EvalResult(accuracy={self.accuracy:.4f}{f1}{macro}, n={self.n}, errors={len(self.misclassified)})"


def confusion_matrix(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, C) counts: row = gold class, column = predicted class. predicted, labels: (N,) ids in 0..C-1."""
    predicted, labels = torch.as_tensor(predicted).long().flatten(), torch.as_tensor(labels).long().flatten()
    if predicted.shape != labels.shape:
        raise TinyBertLabError(f"{predicted.numel()} predictions for {labels.numel()} labels.")
    if len(labels) and (min(int(predicted.min()), int(labels.min())) < 0
                        or max(int(predicted.max()), int(labels.max())) >= num_classes):
        raise TinyBertLabError(f"Class ids must be in 0..{num_classes - 1}.")
    return torch.bincount(labels * num_classes + predicted, minlength=num_classes * num_classes).view(num_classes, num_classes)


def macro_f1(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """Mean over classes of F1 = 2·TP / (2·TP + FP + FN); a class never gold and never predicted is
    left out (its F1 is undefined), one predicted but never gold counts as 0."""
    matrix = confusion_matrix(predicted, labels, num_classes).double()
    tp = matrix.diagonal()
    fp, fn = matrix.sum(0) - tp, matrix.sum(1) - tp
    present = (tp + fp + fn) > 0
    if not present.any():
        return 0.0
    return float((2 * tp / (2 * tp + fp + fn).clamp_min(1))[present].mean())


def binary_f1(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    """F1 of the positive class (label 1): 2·TP / (2·TP + FP + FN); 0.0 when there is no TP."""
    tp = int(((predicted == 1) & (labels == 1)).sum())
    fp = int(((predicted == 1) & (labels != 1)).sum())
    fn = int(((predicted != 1) & (labels == 1)).sum())
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def evaluate(model, dataset, tokenizer, *, max_length: int | None = None, batch_size: int = 64) -> EvalResult:
    """Accuracy (and F1 for two-class tasks) of ``model`` on a labelled raw dataset, plus the
    misclassified examples with their predicted probabilities, for error analysis.
    ``max_length`` (default: chosen from the data, ``data.choose_max_length``) cuts longer examples."""
    check_tokenizer_matches(model, tokenizer)
    max_length = fitting_max_length(model, dataset, tokenizer, max_length)
    encoded = data_lib.encode(dataset, tokenizer, max_length=max_length)
    labels = torch.tensor(list(encoded["label"]))
    if (labels < 0).any():
        raise TinyBertLabError(
            "The evaluation data has unlabeled rows (label -1, e.g. SST-2's test split). Evaluate on "
            "a labelled split such as splits['validation']."
        )
    if int(labels.max()) >= model.config.num_labels:
        raise TinyBertLabError(
            f"Label {int(labels.max())} is outside the model's label set 0..{model.config.num_labels - 1}: this model "
            "was trained for another task (fewer classes). Evaluate it on its own task's data."
        )
    if getattr(dataset.features.get("label"), "num_classes", model.config.num_labels) != model.config.num_labels:
        warnings.warn(
            f"The model predicts {model.config.num_labels} classes but the data has "
            f"{dataset.features['label'].num_classes}: it was trained for another task. Evaluate it on its own "
            "task's data.", stacklevel=2)
    logits, _ = predict(model, encoded, tokenizer, batch_size=batch_size)
    probabilities = logits.softmax(-1)
    predicted = probabilities.argmax(-1)
    wrong = (predicted != labels).nonzero().flatten().tolist()
    text_column, pair_column = data_lib.text_columns(dataset)
    texts = list(dataset[text_column])
    pairs = list(dataset[pair_column]) if pair_column else None
    errors = [
        {
            "idx": int(encoded["idx"][i]),
            "text": texts[i] if pair_column is None else (texts[i], pairs[i]),
            "label": int(labels[i]),
            "predicted": int(predicted[i]),
            "probabilities": [round(p, 4) for p in probabilities[i].tolist()],
        }
        for i in wrong
    ]
    errors.sort(key=lambda e: -max(e["probabilities"]))
    classes = model.config.num_labels
    f1 = binary_f1(predicted, labels) if classes == 2 else None
    return EvalResult(accuracy=(predicted == labels).float().mean().item(), f1=f1, n=len(labels), misclassified=errors,
                      macro_f1=macro_f1(predicted, labels, classes),
                      confusion=confusion_matrix(predicted, labels, classes).tolist())


def mean_soft_targets(logits: torch.Tensor, labels: torch.Tensor, num_classes: int,
                      temperature: float = 1.0) -> torch.Tensor:
    """The class-similarity matrix a teacher's soft targets imply: row ``c`` is the mean of
    ``softmax(z / T)`` over the examples whose gold class is ``c``.

    logits: (N, C); labels: (N,) gold ids in ``0..C-1``. Returns (C, C); each row sums to 1
    (a class without examples gets a row of NaN). Large off-diagonal entries name the classes
    the teacher finds alike: the "dark knowledge" a one-hot label does not carry.
    """
    if logits.dim() != 2 or logits.shape[1] != num_classes or tuple(labels.shape) != (logits.shape[0],):
        raise TinyBertLabError(
            f"mean_soft_targets needs logits (N, {num_classes}) and labels (N,); got {tuple(logits.shape)} and "
            f"{tuple(labels.shape)}.")
    if not temperature > 0:
        raise TinyBertLabError(f"temperature must be positive, got {temperature!r}.")
    probabilities = torch.softmax(logits.float() / temperature, dim=-1)
    matrix = torch.full((num_classes, num_classes), float("nan"))
    for c in range(num_classes):
        rows = labels == c
        if rows.any():
            matrix[c] = probabilities[rows].mean(0)
    return matrix


@dataclass
class ResultsTable:
    """Rows of the tutorial's results table, one dict per model, and a Markdown rendering."""

    rows: list[dict]

    COLUMNS = (
        ("model", "model", "{}"),
        ("accuracy", "accuracy", "{:.1%}"),
        ("macro_f1", "macro-F1", "{:.3f}"),
        ("params_m", "params (M)", "{:.1f}"),
        ("non_embedding_params_m", "non-emb. params (M)", "{:.1f}"),
        ("size_mb", "size (MB)", "{:.1f}"),
        ("sentences_per_s", "sentences/s", "{:.0f}"),
        ("speedup", "speed-up", "{:.1f}×"),
    )

    def to_markdown(self) -> str:
        columns = [c for c in self.COLUMNS if any(row.get(c[0]) is not None for row in self.rows)]
        lines = ["| " + " | ".join(title for _, title, _ in columns) + " |",
                 "|" + "|".join("---" for _ in columns) + "|"]
        for row in self.rows:
            cells = [fmt.format(row[key]) if row.get(key) is not None else "" for key, _, fmt in columns]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __str__(self) -> str:
        return self.to_markdown()


def _encoded_batches(dataset, tokenizer, batch_size: int, max_length: int | None):
    encoded = data_lib.encode(dataset, tokenizer, max_length=max_length)
    loader = data_lib.make_loader(encoded, tokenizer, batch_size=batch_size, shuffle=False)  # length-sorted
    return encoded, [data_lib.model_inputs(batch) for batch in loader]


@torch.no_grad()
def time_models(models: dict, dataset, tokenizer, *, batch_size: int = 32, max_length: int | None = None,
                threads: int | None = 2, repeats: int = 5) -> dict[str, float]:
    """Sentences per second of each model, model only: the one timer of the package (notebooks 07
    and 11, the results tables, the benchmarks). The sentences are tokenised and batched once
    (length-sorted, ``batch_size``); every model gets the same batches and ``threads`` threads
    (None: torch's current setting), one untimed warm-up batch, then ``repeats`` timed passes;
    the **median** pass counts. Works for PyTorch models and anything called like one
    (``compression.OnnxModel``, whose session must use the same thread count).
    Returns ``{name: sentences/s}``."""
    if not models:
        raise TinyBertLabError("time_models needs at least one model: {'name': model, ...}.")
    if len(dataset) == 0:
        raise TinyBertLabError("time_models got an empty dataset.")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise TinyBertLabError(f"repeats must be a positive number of timed passes, got {repeats!r}.")
    previous = torch.get_num_threads()
    threads = threads or previous
    encoded, batches = _encoded_batches(dataset, tokenizer, batch_size, max_length)
    torch.set_num_threads(threads)
    speeds = {}
    try:
        for name, model in models.items():
            own = getattr(model, "threads", None)  # an ONNX session has its own thread count
            if own is not None and own != threads:
                raise TinyBertLabError(f"{name}: its ONNX session uses {own} threads, the others {threads}; "
                                       f"open it with onnx_session(..., threads={threads}).")
            model.eval()
            parameters = list(model.parameters()) if hasattr(model, "parameters") else []
            device = parameters[0].device if parameters else torch.device("cpu")
            on_device = [{k: v.to(device) for k, v in batch.items()} for batch in batches]
            model(**on_device[0])  # warm-up
            passes = []
            for _ in range(repeats):
                started = time.perf_counter()
                for batch in on_device:
                    model(**batch)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                passes.append(time.perf_counter() - started)
            speeds[name] = len(encoded) / statistics.median(passes)
    finally:
        torch.set_num_threads(previous)
    return speeds


def benchmark_inference(models: dict, dataset, tokenizer, *, batch_size: int = 32, max_length: int | None = None,
                        threads: int | None = None, repeats: int = 1, accuracy: dict | None = None) -> ResultsTable:
    """The results table: size and speed of each model on the same data, batch size and threads.

    ``models``: ``{"name": model}``; the first is the reference for the speed-up column. Speed
    comes from ``time_models`` (median of ``repeats`` passes after a warm-up, one by default so a
    long table stays quick; notebooks 07 and 11 both pass 3 in full mode; ``threads`` default:
    torch's current setting); size from ``models.size_on_disk``. ``accuracy``:
    optional ``{"name": value}`` to put in the table.
    """
    if not models:
        raise TinyBertLabError("benchmark_inference needs at least one model: {'name': model, ...}.")
    if len(dataset) == 0:
        raise TinyBertLabError("benchmark_inference got an empty dataset.")
    for model in models.values():
        check_tokenizer_matches(model, tokenizer)
    max_length = fitting_max_length(list(models.values()), dataset, tokenizer, max_length)
    threads = threads or torch.get_num_threads()
    speeds = time_models(models, dataset, tokenizer, batch_size=batch_size, max_length=max_length, threads=threads,
                         repeats=repeats)
    rows = []
    for name, model in models.items():
        counts = parameter_counts(model)
        rows.append({
            "model": name,
            "accuracy": (accuracy or {}).get(name),
            "params_m": counts["total"] / 1e6,
            "non_embedding_params_m": counts["non_embedding"] / 1e6,
            "size_mb": size_on_disk(model) / 1e6,
            "sentences_per_s": speeds[name],
            "threads": threads,
            "batch_size": batch_size,
        })
    for row in rows:
        row["speedup"] = row["sentences_per_s"] / rows[0]["sentences_per_s"]
    return ResultsTable(rows)


def scored_table(models: dict, dataset, tokenizer, *, max_length: int | None = None) -> ResultsTable:
    """``evaluate`` each model and ``benchmark_inference`` them all on ``dataset``: accuracy,
    macro-F1, size and speed in one table."""
    scores = {name: evaluate(model, dataset, tokenizer, max_length=max_length) for name, model in models.items()}
    table = benchmark_inference(models, dataset, tokenizer, max_length=max_length,
                                accuracy={name: s.accuracy for name, s in scores.items()})
    for row in table.rows:
        row["macro_f1"] = scores[row["model"]].macro_f1
    return table
