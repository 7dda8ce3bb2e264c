"""Supervised training: fine-tune a teacher (or train a student on labels alone).

``finetune_teacher()`` is what notebook 02 calls: it fine-tunes the offline MiniLM on SST-2 and
caches the result, so the second call loads it in a second instead of training again.
``train_classifier()`` is the loop underneath: AdamW, linear warmup then decay, gradient
clipping, gradient accumulation, length-bucketed batches, a tqdm progress bar, and a loss
history the notebooks plot.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import torch

from . import data as data_lib
from .errors import TinyBertLabError, reject_unknown_keys
from .models import check_fits_positions, check_tokenizer_matches, load_teacher, load_tokenizer
from .settings import cache_dir


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a supervised run; validated when built.

    ``steps`` counts optimizer updates; each update sees ``batch_size * grad_accumulation``
    examples. ``warmup_ratio`` of the steps warm the learning rate up linearly from 0, the rest
    decay it linearly to 0. ``eval_every=0`` evaluates only at the end (when eval data is given).
    """

    steps: int = 400
    batch_size: int = 32
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    grad_accumulation: int = 1
    max_length: int = 64
    seed: int = 0
    eval_every: int = 0
    log_every: int = 10
    bucket: bool = True

    def __post_init__(self):
        positive = ("steps", "batch_size", "grad_accumulation", "max_length", "log_every")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise TinyBertLabError(f"TrainConfig.{name} must be a positive integer, got {value!r}.")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise TinyBertLabError(f"TrainConfig.learning_rate must be positive, got {self.learning_rate!r}.")
        if not 0 <= self.warmup_ratio < 1:
            raise TinyBertLabError(f"TrainConfig.warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}.")
        if self.weight_decay < 0 or self.max_grad_norm <= 0:
            raise TinyBertLabError("TrainConfig.weight_decay must be >= 0 and max_grad_norm > 0.")
        if self.eval_every < 0:
            raise TinyBertLabError(f"TrainConfig.eval_every must be >= 0, got {self.eval_every!r}.")

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """Build from plain data; unknown keys are an error, never silently ignored."""
        reject_unknown_keys(values, {f.name for f in fields(cls)}, "TrainConfig")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class History:
    """What happened during training, ready to plot.

    ``step``/``loss``/``lr``: one entry per logged optimizer step (loss averaged over the
    micro-batches since the previous log); ``eval``: ``(step, accuracy)`` pairs; ``seconds``:
    wall time of the training loop.
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "History":
        values = dict(values)
        values["eval"] = [tuple(x) for x in values.get("eval", [])]
        return cls(**values)


def linear_warmup_decay(optimizer, total_steps: int, warmup_ratio: float):
    """LambdaLR: 0 → peak over ``warmup_ratio·total_steps`` steps, then linearly back to 0."""
    warmup = int(round(total_steps * warmup_ratio))

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def make_optimizer(model, learning_rate: float, weight_decay: float):
    """AdamW with no weight decay on biases and LayerNorm weights (the BERT recipe)."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if parameter.ndim < 2 else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=learning_rate)


def _check_labels(encoded, model) -> None:
    labels = [x for x in list(encoded["label"]) if x != -1]
    if not labels:
        raise TinyBertLabError("The training data has no labels (all -1, e.g. SST-2's test split).")
    bad = sorted({x for x in labels if not 0 <= x < model.config.num_labels})
    if bad:
        raise TinyBertLabError(
            f"Labels {bad[:5]} are outside the model's label set 0..{model.config.num_labels - 1}. "
            f"Build the model with num_labels={max(labels) + 1} or fix the data."
        )


def train_classifier(
    model,
    train_data,
    tokenizer,
    config: TrainConfig = TrainConfig(),
    *,
    eval_data=None,
    callbacks: list[Callable[[int, History], None]] | None = None,
    progress: bool = True,
    description: str = "training",
) -> History:
    """Train ``model`` on labelled ``train_data`` (a raw dataset with text and labels).

    Cross-entropy on the labels; unlabeled rows (-1) are refused. ``eval_data`` (raw) is scored
    with ``evaluation.evaluate`` every ``config.eval_every`` steps and at the end. Each
    ``callback(step, history)`` runs after every logged step (a live plot, say). Returns the
    ``History``; the model is trained in place and left in eval mode.
    """
    from tqdm.auto import tqdm

    from .evaluation import evaluate

    check_tokenizer_matches(model, tokenizer)
    check_fits_positions(model, config.max_length)
    encoded = data_lib.encode(train_data, tokenizer, max_length=config.max_length)
    _check_labels(encoded, model)
    torch.manual_seed(config.seed)
    loader = data_lib.make_loader(encoded, tokenizer, batch_size=config.batch_size, shuffle=True,
                                  seed=config.seed, bucket=config.bucket)
    optimizer = make_optimizer(model, config.learning_rate, config.weight_decay)
    scheduler = linear_warmup_decay(optimizer, config.steps, config.warmup_ratio)
    history = History()
    device = next(model.parameters()).device
    model.train()
    start = time.perf_counter()
    batches = _endless(loader)
    running, micro = 0.0, 0
    bar = tqdm(total=config.steps, desc=description, disable=not progress)
    for step in range(1, config.steps + 1):
        for _ in range(config.grad_accumulation):
            batch = {k: v.to(device) for k, v in next(batches).items()}
            logits = model(**data_lib.model_inputs(batch)).logits
            loss = torch.nn.functional.cross_entropy(logits, batch["labels"])
            if not torch.isfinite(loss):
                raise TinyBertLabError(
                    f"The loss became {loss.item()} at step {step}. Lower the learning rate "
                    f"(now {config.learning_rate}) or check the data."
                )
            (loss / config.grad_accumulation).backward()
            running, micro = running + loss.item(), micro + 1
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        bar.update(1)
        if step % config.log_every == 0 or step == config.steps:
            history.step.append(step)
            history.loss.append(running / micro)
            history.lr.append(scheduler.get_last_lr()[0])
            bar.set_postfix(loss=f"{running / micro:.3f}")
            running, micro = 0.0, 0
            for callback in callbacks or []:
                callback(step, history)
        if eval_data is not None and (
            (config.eval_every and step % config.eval_every == 0) or step == config.steps
        ):
            accuracy = evaluate(model, eval_data, tokenizer, max_length=config.max_length).accuracy
            history.eval.append((step, accuracy))
            model.train()
    bar.close()
    history.seconds = time.perf_counter() - start
    model.eval()
    return history


def _endless(loader):
    """Cycle through a loader epoch after epoch, reshuffling (reproducibly) each time."""
    epoch = 0
    while True:
        if hasattr(loader.batch_sampler, "set_epoch"):
            loader.batch_sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


# --------------------------------------------------------------------------------------------
# Teacher fine-tuning with a cache
# --------------------------------------------------------------------------------------------
@dataclass
class FinetuneResult:
    """``model``: the fine-tuned teacher (eval mode); ``history``: its training history (the
    original one when loaded from the cache); ``from_cache``: whether training was skipped;
    ``path``: the cache folder (None when caching is off)."""

    model: object
    history: History
    from_cache: bool
    path: Path | None


def _fingerprint(model, encoded, config: TrainConfig) -> str:
    """Cache key: the starting weights, the tokenised data and labels, and the settings."""
    digest = hashlib.sha256()
    digest.update(json.dumps(config.to_dict(), sort_keys=True).encode())
    digest.update(json.dumps(model.config.to_diff_dict(), sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    digest.update(json.dumps([list(encoded["input_ids"]), list(encoded["label"])]).encode())
    return digest.hexdigest()[:16]


def finetune_teacher(
    teacher=None,
    *,
    tokenizer=None,
    train_data=None,
    eval_data=None,
    config: TrainConfig = TrainConfig(),
    cache: bool = True,
    progress: bool = True,
) -> FinetuneResult:
    """Fine-tune a teacher on a classification task, or load the cached result.

    Defaults: the offline MiniLM teacher, its tokenizer, SST-2 train (all 67,349 phrases are
    available; ``config.steps × batch_size`` of them are seen). With ``cache=True`` the result
    is saved (safetensors) under ``$TINYBERT_LAB_CACHE/teachers/<key>``, where the key hashes the
    starting weights, the data and the config: change any of them and it trains again.
    """
    from transformers import BertForSequenceClassification

    from .attention import SCORES_ATTENTION

    tokenizer = tokenizer if tokenizer is not None else load_tokenizer()
    if train_data is None:
        train_data = data_lib.load_sst2()["train"]
    teacher = teacher if teacher is not None else load_teacher(num_labels=data_lib.num_labels(train_data))
    encoded = data_lib.encode(train_data, tokenizer, max_length=config.max_length)
    folder = cache_dir() / "teachers" / _fingerprint(teacher, encoded, config) if cache else None
    if folder is not None and (folder / "history.json").is_file():
        model = BertForSequenceClassification.from_pretrained(folder, attn_implementation=SCORES_ATTENTION)
        model.eval()
        history = History.from_dict(json.loads((folder / "history.json").read_text()))
        return FinetuneResult(model, history, True, folder)
    history = train_classifier(teacher, train_data, tokenizer, config, eval_data=eval_data,
                               progress=progress, description="fine-tuning teacher")
    if folder is not None:
        # Write to a temporary folder and rename, so a crash never leaves a half-written cache.
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        teacher.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        (partial / "history.json").write_text(json.dumps(history.to_dict()))
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    return FinetuneResult(teacher, history, False, folder)
