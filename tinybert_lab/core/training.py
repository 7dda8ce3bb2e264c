"""The training loop, shared by teacher fine-tuning, label-only students and distillation.

``fit(objective, encoded, tokenizer, config)`` trains any *objective*: an ``nn.Module`` with a
``student`` (the model that learns and gets evaluated), a ``weights`` dict and a
``loss_terms(batch) -> {name: unweighted scalar}`` method. The total loss is
``Σ weights[name] · term``. ``LabelObjective`` (cross-entropy on labels) is the simplest one;
``tinybert.Distiller`` is the TinyBERT one. The loop gives every objective the same machinery:
AdamW over every trainable parameter the objective holds, linear warmup then decay, gradient
clipping and accumulation, length-bucketed batches, tqdm progress, per-term loss history,
callbacks, periodic evaluation, CUDA autocast when a GPU is present, NaN guards naming the term,
and checkpoints that an interrupted run resumes from, ending with the same weights.

``fine_tune_teacher()`` (notebook 02) fine-tunes the offline MiniLM on SST-2 and caches the
result, so a second call loads it in a second.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import random
import shutil
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from . import data as data_lib
from . import parallel
from .streaming import TextStream
from .config import Settings
from .errors import TinyBertLabError
from .models import check_fits_positions, check_tokenizer_matches, fitting_max_length, load_teacher, load_tokenizer, offline_teacher_identity, quiet_transformers
from .settings import cache_dir


@dataclass(frozen=True)
class TrainConfig(Settings):
    """Settings of a training run; validated when built.

    ``steps`` counts optimizer updates; each sees ``batch_size * grad_accumulation`` examples.
    ``warmup_ratio`` of the steps warm the learning rate up linearly from 0, the rest decay it
    linearly to 0. ``eval_every=0``: evaluate only at the end (when eval data is given).
    ``checkpoint_every=0``: no checkpoints. ``mask_probability > 0`` applies BERT's dynamic
    masking to every batch (general distillation). ``amp``: bfloat16 autocast on CUDA (ignored
    on CPU). ``gradient_checkpointing``: recompute activations in backward to save memory.
    """

    steps: int = 400
    batch_size: int = 32
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    grad_accumulation: int = 1
    max_length: int | None = None
    seed: int = 0
    eval_every: int = 0
    log_every: int = 10
    checkpoint_every: int = 0
    bucket: bool = True
    mask_probability: float = 0.0
    amp: bool = True
    gradient_checkpointing: bool = False

    def check(self):
        # max_length None: chosen from the data (data.choose_max_length)
        self.require_int("steps", "batch_size", "grad_accumulation", "max_length", "log_every")
        self.require_int("eval_every", "checkpoint_every", "seed", minimum=0)
        self.require_number("learning_rate", low_open=True)
        self.require_number("warmup_ratio", 0, 1)
        self.require_number("weight_decay", high_open=False)
        self.require_number("max_grad_norm", low_open=True, high_open=False)  # inf: measure the norm, never clip
        self.require_number("mask_probability", 0, 1)


@dataclass
class History:
    """What happened during training, ready to plot.

    Per logged step: ``step``, ``loss`` (the weighted total), ``lr`` and ``terms[name]`` (each
    term *unweighted*), all averaged over the micro-batches since the previous log. ``weights``
    gives each term's weight, so ``weighted(name)`` is its contribution to ``loss``. ``eval``:
    ``(step, accuracy)`` pairs; ``seconds``: wall time of the loop. ``records``: what callbacks
    measured along the way (e.g. ``headsim.AttentionRecorder``), plain lists saved with each
    checkpoint, so a resumed run keeps them.
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    terms: dict[str, list[float]] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    eval: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0
    records: dict[str, list] = field(default_factory=dict)

    def weighted(self, name: str) -> list[float]:
        """A term's weighted contribution to the total loss, per logged step."""
        return [self.weights[name] * value for value in self.terms[name]]

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


def make_optimizer(module: nn.Module, learning_rate: float, weight_decay: float):
    """AdamW over every trainable parameter of ``module``, with no weight decay on biases and
    LayerNorm weights (the BERT recipe). Frozen parameters (a teacher's) are left out. The fused
    implementation updates all tensors in one kernel: on CPU it is 2-5x faster than the default
    per-tensor loop, which matters because a small student's embedding table is most of its
    parameters."""
    decay, no_decay = [], []
    for parameter in module.parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim < 2 else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=learning_rate, fused=True)


class LabelObjective(nn.Module):
    """Plain supervised training: cross-entropy between ``student``'s logits and the labels."""

    def __init__(self, student):
        super().__init__()
        self.student = student
        self.weights = {"hard_label": 1.0}

    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = self.student(**data_lib.model_inputs(batch)).logits
        return {"hard_label": nn.functional.cross_entropy(logits, batch["labels"])}


def check_labels(encoded, model) -> None:
    """Refuse unlabeled data or labels outside ``0..num_labels-1`` before any training step."""
    labels = [x for x in list(encoded["label"]) if x != -1]
    if not labels:
        raise TinyBertLabError("The training data has no labels (all -1, e.g. SST-2's test split).")
    bad = sorted({x for x in labels if not 0 <= x < model.config.num_labels})
    if bad:
        raise TinyBertLabError(
            f"Labels {bad[:5]} are outside the model's label set 0..{model.config.num_labels - 1}. "
            f"Build the model with num_labels={max(labels) + 1} or fix the data."
        )


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------
CHECKPOINT_FILE = "checkpoint.pt"
RUN_FILE = "run.json"  # the run key of the checkpoint beside it


def _run_key(objective, config, encoded) -> str:
    """What identifies a run: the starting trainable weights, the config and the data's ids.
    A checkpoint written under another key is not resumed (see ``fit``)."""
    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True, default=str).encode())
    digest.update(encoded.key().encode() if isinstance(encoded, TextStream) else json.dumps(list(encoded["idx"])).encode())
    for name, tensor in sorted(objective.state_dict().items()):
        if not name.startswith("teacher."):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _same_run(folder: Path, run_key: str) -> bool:
    path = folder / RUN_FILE
    return path.is_file() and json.loads(path.read_text()).get("run") == run_key


def _save_checkpoint(folder: Path, objective, optimizer, scheduler, run_key: str, state: dict,
                     world: parallel.World = parallel.World()) -> None:
    """Everything needed to continue exactly: trainable weights, optimizer, scheduler, RNGs
    (every process's), data position, history. Written by the main process to temporary files
    and renamed, so a crash mid-write leaves the previous checkpoint intact. Tensors and plain
    data only: ``torch.load(weights_only=True)`` reads it back."""
    from safetensors.torch import save_file

    generators = world.gather(torch.get_rng_state())  # every process calls this: a collective
    if not world.is_main:
        return
    folder.mkdir(parents=True, exist_ok=True)
    save_file(_trainable_state(objective), str(folder / "trainable.safetensors.tmp"))
    payload = {**state, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
               "torch_rng": torch.get_rng_state(), "torch_rngs": generators, "world_size": world.size,
               "python_rng": random.getstate(),
               "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
    torch.save(payload, folder / (CHECKPOINT_FILE + ".tmp"))
    (folder / "trainable.safetensors.tmp").replace(folder / "trainable.safetensors")
    (folder / (CHECKPOINT_FILE + ".tmp")).replace(folder / CHECKPOINT_FILE)
    (folder / RUN_FILE).write_text(json.dumps({"run": run_key}))


def _trainable_state(objective) -> dict[str, torch.Tensor]:
    """The objective's weights without the teacher's, each tensor once: tied weights (a GPT-2's
    ``lm_head`` is its token embedding) are stored under their first name only."""
    state, seen = {}, set()
    for name, tensor in objective.state_dict().items():
        if not name.startswith("teacher.") and tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            state[name] = tensor.detach().contiguous()
    return state


def _load_checkpoint(folder: Path, objective, optimizer, scheduler, world: parallel.World = parallel.World()) -> dict:
    from safetensors.torch import load_file

    try:
        payload = torch.load(folder / CHECKPOINT_FILE, weights_only=True)  # tensors and plain data only: never runs code
        weights = load_file(str(folder / "trainable.safetensors"))
    except Exception as error:  # truncated, overwritten, or not a checkpoint at all
        raise TinyBertLabError(
            f"The checkpoint in {folder} cannot be read ({type(error).__name__}: {str(error).splitlines()[0][:120]}): "
            "it is damaged or was not written by tinybert_lab. Delete that folder to start this run over, or pass "
            "resume=False."
        ) from None
    missing, unexpected = objective.load_state_dict(weights, strict=False)
    stored = _trainable_state(objective)  # a tied weight's second name is never stored
    missing = [k for k in missing if k in stored]
    if missing or unexpected:
        raise TinyBertLabError(
            f"The checkpoint in {folder} does not fit this model (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}). Use another checkpoint_dir, or resume=False to start over."
        )
    optimizer.load_state_dict(payload.pop("optimizer"))
    scheduler.load_state_dict(payload.pop("scheduler"))
    generators, written_by = payload.pop("torch_rngs", None), payload.pop("world_size", 1)
    main_generator = payload.pop("torch_rng")
    if generators is not None and written_by == world.size:
        torch.set_rng_state(generators[world.rank])  # same processes: each continues its own draws
    elif world.is_main:
        torch.set_rng_state(main_generator)
    else:  # written by another number of processes: a fresh, seeded generator for this one (dropout draws differ)
        torch.manual_seed(1_000_003 * world.rank + payload["step"])
    random.setstate(payload.pop("python_rng"))
    cuda_rng = payload.pop("cuda_rng", None)  # dropout on a GPU draws from the CUDA generators
    if cuda_rng is not None and torch.cuda.is_available() and len(cuda_rng) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_rng)
    return payload


def _restore_scaler(scaler, saved: dict) -> None:
    """Continue float16 loss scaling where the checkpoint left it (its scale and growth count).
    Nothing to do when either side trained without it (bfloat16, CPU): ``saved`` is then ``{}``
    or the scaler is disabled, and a fresh scale adapts within a few steps."""
    if saved and scaler.is_enabled():
        scaler.load_state_dict(saved)


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------
def _batch_stream(loader, epoch: int, position: int):
    """Yield ``(epoch, position, build)`` forever, starting mid-epoch when resuming; ``build()``
    makes the batch. Skipped batches cost nothing: the sampler's order is computed, no batch is
    built."""
    sampler = loader.batch_sampler
    while True:
        sampler.set_epoch(epoch)
        for index, rows in enumerate(sampler.batches()):
            if index >= position:
                yield epoch, index, functools.partial(loader.collate_fn, rows)
        epoch, position = epoch + 1, 0


def _teacher_to_eval(objective) -> None:
    """A teacher inside an objective always runs in eval mode (no dropout)."""
    if getattr(objective, "teacher", None) is not None:
        objective.teacher.eval()


def fit(
    objective: nn.Module,
    encoded,
    tokenizer,
    config: TrainConfig = TrainConfig(),
    *,
    eval_data=None,
    callbacks: list[Callable[[int, History], None]] | None = None,
    progress: bool = True,
    description: str = "training",
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
) -> History:
    """Train ``objective`` on an ``encode``-d dataset for ``config.steps`` optimizer steps.

    ``eval_data`` (a raw labelled dataset) is scored with ``evaluation.evaluate`` every
    ``config.eval_every`` steps and at the end. Each ``callback(step, history)`` runs after
    every logged step (a live plot, say). With ``checkpoint_dir`` set and
    ``config.checkpoint_every > 0``, a checkpoint is written every that many steps and at the
    end; ``resume=True`` continues from the checkpoint there (same seed, same data → the same
    final weights as an uninterrupted run). Returns the ``History``; the student is left in
    eval mode.

    The loop, step by step: ``_check_inputs`` → ``_Precision`` → ``_start_or_resume`` (data
    order, optimizer, schedule, or all of them from a checkpoint) → for each step
    ``_accumulate_gradients`` (forward and backward over the micro-batches; under several
    processes ``DistributedDataParallel`` averages the gradients during the last backward) →
    ``_optimizer_step`` (clip, step, schedule) → ``_log`` → ``_evaluate`` → ``_checkpoint``.
    """
    world = parallel.world()
    _check_inputs(objective, encoded, tokenizer, config, checkpoint_dir, resume)
    device = next(objective.student.parameters()).device
    precision = _Precision.for_run(config, device)
    if config.gradient_checkpointing:
        objective.student.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    run = _start_or_resume(objective, encoded, tokenizer, config, world, precision, checkpoint_dir, resume)
    forward = _data_parallel(objective, world)
    objective.train()
    _teacher_to_eval(objective)
    start = time.perf_counter() - run.history.seconds
    bar, shown = _progress_bar(config.steps, run.state["step"], description, progress and world.is_main)
    for step in range(run.state["step"] + 1, config.steps + 1):
        _accumulate_gradients(run, forward, objective, tokenizer, config, world, precision, device, step)
        _optimizer_step(run, config, precision)
        bar.update(1)
        if step % config.log_every == 0 or step == config.steps:
            _log(run, step, world, bar, callbacks)
        if world.is_main and eval_data is not None and (
                (config.eval_every and step % config.eval_every == 0) or step == config.steps):
            _evaluate(run, objective, eval_data, tokenizer, config, step)
        if run.folder is not None and config.checkpoint_every and (
                step % config.checkpoint_every == 0 or step == config.steps):
            run.history.seconds = time.perf_counter() - start
            _checkpoint(run, objective, world, step, precision)
    run.history.seconds = time.perf_counter() - start
    _end_progress(bar, shown, run.history, config.steps, description)
    objective.eval()
    return run.history


def _check_inputs(objective, encoded, tokenizer, config: TrainConfig, checkpoint_dir, resume: bool) -> None:
    """Refuse, with the fix, what would fail deep inside torch: a tokenizer the student cannot
    read, empty or unlabelled data, sequences longer than the student's positions, resume without
    a folder."""
    student = objective.student
    check_tokenizer_matches(student, tokenizer)
    if isinstance(encoded, TextStream):
        if objective.weights.get("hard_label", 0) > 0:
            raise TinyBertLabError("A TextStream is unlabelled text: train on it without a hard-label term "
                                   "(general distillation), or encode a labelled dataset.")
        check_fits_positions(student, encoded.max_length)
    else:
        if len(encoded) == 0:
            raise TinyBertLabError("The training data is empty: nothing to train on.")
        check_fits_positions(student, config.max_length or max(len(ids) for ids in encoded["input_ids"]))
        if objective.weights.get("hard_label", 0) > 0:
            check_labels(encoded, student)
    if resume and checkpoint_dir is None:
        raise TinyBertLabError("resume=True needs checkpoint_dir=... (where the checkpoint was written).")


@dataclass
class _Precision:
    """Mixed precision on a GPU: bfloat16 autocast where the GPU has it, else float16 with a loss
    scaler (float16's small range needs the loss scaled); on a CPU, float32 and a disabled scaler."""

    enabled: bool
    dtype: torch.dtype
    scaler: torch.amp.GradScaler

    @classmethod
    def for_run(cls, config: TrainConfig, device: torch.device) -> "_Precision":
        enabled = config.amp and device.type == "cuda"
        dtype = torch.bfloat16 if not enabled or torch.cuda.is_bf16_supported() else torch.float16
        return cls(enabled, dtype, torch.amp.GradScaler("cuda", enabled=enabled and dtype == torch.float16))


@dataclass
class _Run:
    """What the loop carries from step to step (and what a checkpoint saves)."""

    optimizer: torch.optim.Optimizer
    scheduler: object
    history: History
    state: dict
    folder: Path | None
    run_key: str | None
    stream: object
    mask_generator: torch.Generator
    running: dict
    micro: int
    trainable: list
    position: tuple = (0, 0)  # (epoch, batch) of the last micro-batch drawn


def _start_or_resume(objective, encoded, tokenizer, config: TrainConfig, world, precision: _Precision,
                     checkpoint_dir, resume: bool) -> _Run:
    """Seed, build the data order, the optimizer and the schedule; from a checkpoint of the same
    run (same starting weights, settings, data and global batch) restore them all, so the run
    ends with the weights an uninterrupted one would have."""
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    streamed = isinstance(encoded, TextStream)
    loader = None if streamed else data_lib.make_loader(encoded, tokenizer, batch_size=config.batch_size,
                                                         shuffle=True, seed=config.seed, bucket=config.bucket)
    optimizer = make_optimizer(objective, config.learning_rate, config.weight_decay)
    scheduler = linear_warmup_decay(optimizer, config.steps, config.warmup_ratio)
    history = History(weights=dict(objective.weights))
    state = {"step": 0, "epoch": 0, "position": 0, "running": {}, "micro": 0, "mask_rng": None}
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    # keyed on the global schedule: 2 processes x accumulation 1 is the same run as 1 x 2
    run_key = _run_key(objective, replace(config, grad_accumulation=config.grad_accumulation * world.size),
                       encoded) if folder is not None else None
    if resume and (folder / CHECKPOINT_FILE).is_file() and not _same_run(folder, run_key):
        warnings.warn(
            f"The checkpoint in {folder} belongs to a different run (other starting weights, settings or data, "
            f"or another global batch: batch_size x grad_accumulation x processes): this run starts from step 0 "
            "and replaces it.", stacklevel=3)
        world.barrier()  # every process has read the old run key before the main one deletes it
        if world.is_main:
            for name in (CHECKPOINT_FILE, "trainable.safetensors", RUN_FILE):
                (folder / name).unlink(missing_ok=True)
        resume = False
    if resume and (folder / CHECKPOINT_FILE).is_file():
        state = _load_checkpoint(folder, objective, optimizer, scheduler, world)
        history = History.from_dict(state.pop("history"))
        _restore_scaler(precision.scaler, state.pop("grad_scaler", {}))
    stream = encoded.batches(config.batch_size, config.seed, state["epoch"], state["position"]) if streamed \
        else _batch_stream(loader, state["epoch"], state["position"])
    mask_generator = torch.Generator().manual_seed(config.seed + 1)
    if state["mask_rng"] is not None:
        mask_generator.set_state(state["mask_rng"])
    running = {name: torch.tensor(value, dtype=torch.float64) for name, value in state["running"].items()}
    trainable = [p for p in objective.parameters() if p.requires_grad]
    return _Run(optimizer, scheduler, history, state, folder, run_key, stream, mask_generator, running,
                state["micro"], trainable)


class _LossTerms(nn.Module):
    """What ``DistributedDataParallel`` wraps: a call of the objective's ``loss_terms``."""

    def __init__(self, objective):
        super().__init__()
        self.objective = objective

    def forward(self, batch):
        return self.objective.loss_terms(batch)


def _data_parallel(objective, world):
    """One process: ``objective.loss_terms`` itself. Several: the objective inside PyTorch's
    ``DistributedDataParallel``, which averages the gradients over the processes in buckets while
    the backward pass runs; the frozen teacher's weights are left out of it (never broadcast,
    never reduced), and parameters a stage does not use (a classifier during the intermediate
    stage) are allowed."""
    if not world.parallel:
        return objective.loss_terms
    from torch.nn.parallel import DistributedDataParallel

    wrapper = _LossTerms(objective)
    frozen = [f"objective.{name}" for name, p in objective.named_parameters() if not p.requires_grad]
    frozen += [f"objective.{name}" for name, _ in objective.named_buffers() if name.startswith("teacher.")]
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(wrapper, frozen)
    device = next(objective.student.parameters()).device
    return DistributedDataParallel(wrapper, device_ids=[device.index] if device.type == "cuda" else None,
                                   find_unused_parameters=True, broadcast_buffers=False)


def _accumulate_gradients(run: _Run, forward, objective, tokenizer, config: TrainConfig, world, precision: _Precision,
                          device: torch.device, step: int) -> None:
    """Forward and backward over ``grad_accumulation`` micro-batches. All processes walk the same
    global stream of micro-batches and each keeps every ``world.size``-th one; under
    ``DistributedDataParallel`` the gradients are exchanged during the last micro-batch's
    backward only (``no_sync`` before it)."""
    for index in range(config.grad_accumulation):
        for rank in range(world.size):
            epoch, position, build = next(run.stream)
            if config.mask_probability > 0 or rank == world.rank:
                batch = build()
                if config.mask_probability > 0:  # every process draws every mask: one generator state
                    batch = data_lib.mask_tokens(batch, tokenizer, config.mask_probability, run.mask_generator)
                if rank == world.rank:
                    own = batch
        run.position = (epoch, position)
        pin = device.type == "cuda"  # page-locked memory: the copy to the GPU overlaps the work
        batch = {k: (v.pin_memory() if pin else v).to(device, non_blocking=True) for k, v in own.items()}
        last = index == config.grad_accumulation - 1
        exchange = contextlib.nullcontext() if last or not hasattr(forward, "no_sync") else forward.no_sync()
        with exchange:
            with torch.autocast(device.type, dtype=precision.dtype, enabled=precision.enabled):
                terms = forward(batch)
            total = _weighted_total(terms, objective.weights, step)
            precision.scaler.scale(total / config.grad_accumulation).backward()
        for name, value in {**terms, "total": total}.items():  # no .item() here: no wait on the device
            run.running[name] = run.running.get(name, 0.0) + value.detach().double()
        run.micro += 1


def _optimizer_step(run: _Run, config: TrainConfig, precision: _Precision) -> None:
    """Clip the gradients' norm, step the optimizer (float16: skipped when a gradient overflowed)
    and the schedule, clear the gradients."""
    precision.scaler.unscale_(run.optimizer)  # float16 only: clip the true gradients
    torch.nn.utils.clip_grad_norm_(run.trainable, config.max_grad_norm)
    precision.scaler.step(run.optimizer)
    precision.scaler.update()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)


def _log(run: _Run, step: int, world, bar, callbacks) -> None:
    """Average each loss term over the micro-batches since the last log (and over the
    processes), append it to the history, and call the callbacks (main process)."""
    names = list(run.running)
    means = (world.average(torch.stack([run.running[n].cpu() for n in names])) / run.micro).tolist()
    logged = dict(zip(names, means))
    history = run.history
    history.step.append(step)
    history.loss.append(logged.pop("total"))
    history.lr.append(run.scheduler.get_last_lr()[0])
    for name, value in logged.items():
        history.terms.setdefault(name, []).append(value)
    bar.set_postfix(loss=f"{history.loss[-1]:.3f}")
    run.running, run.micro = {}, 0
    if world.is_main:
        for callback in callbacks or []:
            callback(step, history)


def _evaluate(run: _Run, objective, eval_data, tokenizer, config: TrainConfig, step: int) -> None:
    """Dev accuracy now, into the history; the objective goes back to training mode."""
    from .evaluation import evaluate

    run.history.eval.append((step, evaluate(objective.student, eval_data, tokenizer,
                                            max_length=config.max_length).accuracy))
    objective.train()
    _teacher_to_eval(objective)


def _checkpoint(run: _Run, objective, world, step: int, precision: _Precision) -> None:
    """Everything needed to continue from ``step`` exactly (see ``_save_checkpoint``)."""
    epoch, position = run.position
    _save_checkpoint(run.folder, objective, run.optimizer, run.scheduler, run.run_key, {
        "step": step, "epoch": epoch, "position": position + 1,
        "running": {name: float(value) for name, value in run.running.items()}, "micro": run.micro,
        "mask_rng": run.mask_generator.get_state(), "history": run.history.to_dict(),
        "grad_scaler": precision.scaler.state_dict()}, world)


def _progress_bar(total: int, initial: int, description: str, enabled: bool):
    """tqdm's bar (a widget in a notebook, text in a terminal) and, in a notebook, the display
    handle the widget is shown through. A saved notebook keeps the text a widget had when it was
    displayed ("0%"); ``_end_progress`` replaces it through the handle with the final state."""
    import sys

    from tqdm.auto import tqdm
    from tqdm.notebook import tqdm_notebook

    if enabled and not issubclass(tqdm, tqdm_notebook) and not sys.stderr.isatty():
        return _LogProgress(total, initial, description), None  # a log file: a few plain lines, no \r updates
    if not enabled or not issubclass(tqdm, tqdm_notebook):
        return tqdm(total=total, initial=initial, desc=description, disable=not enabled), None
    from IPython.display import display

    bar = tqdm(total=total, initial=initial, desc=description, display=False)
    return bar, display(bar.container, display_id=True)


class _LogProgress:
    """Progress for output that goes to a file (a script or the CLI with ``> log``): one line at
    each tenth of the steps, ``description: 250/2500 steps (10 %), loss 3.1, 60 s``, instead of a
    bar redrawn hundreds of times with carriage returns."""

    def __init__(self, total: int, initial: int, description: str):
        self.total, self.n, self.description = total, initial, description
        self.disable, self.postfix, self.started = False, "", time.perf_counter()
        self.every = max(1, total // 10)

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n % self.every == 0 and self.n < self.total:
            print(f"{self.description}: {self.n}/{self.total} steps ({self.n / self.total:.0%}){self.postfix}, "
                  f"{time.perf_counter() - self.started:.0f} s", file=sys.stderr, flush=True)

    def set_postfix(self, **values) -> None:
        self.postfix = "".join(f", {k} {v}" for k, v in values.items())

    def close(self) -> None:
        self.disable = True


def _end_progress(bar, shown, history: History, total: int, description: str) -> None:
    """Close the bar at 100 % and print one line that any saved output keeps, e.g.
    ``fine-tuning teacher: 400/400 steps, loss 0.31, 85 s``."""
    enabled = not bar.disable  # close() disables the bar
    bar.close()
    if not enabled:
        return
    if shown is not None:
        shown.update(bar.container)
    loss = f", loss {history.loss[-1]:.3g}" if history.loss else ""
    print(f"{description}: {total}/{total} steps{loss}, {history.seconds:.0f} s", flush=True)


def _weighted_total(terms: dict[str, torch.Tensor], weights: dict[str, float], step: int) -> torch.Tensor:
    """``Σ weights[name] · term``; a NaN/inf term stops training with its name in the message."""
    for name, value in terms.items():
        if not torch.isfinite(value):
            raise TinyBertLabError(
                f"The {name!r} loss became {value.item()} at step {step}. Lower the learning rate, check "
                "the data, or lower that term's weight; training stopped so no bad update was applied."
            )
    return sum(weights[name] * value for name, value in terms.items())


def train_classifier(model, train_data, tokenizer, config: TrainConfig = TrainConfig(), *, eval_data=None,
                     callbacks=None, progress: bool = True, description: str = "training",
                     checkpoint_dir=None, resume: bool = False) -> History:
    """Train ``model`` on labelled raw ``train_data`` with cross-entropy (see ``fit``)."""
    encoded = data_lib.encode(train_data, tokenizer,
                              max_length=fitting_max_length(model, train_data, tokenizer, config.max_length))
    return fit(LabelObjective(model), encoded, tokenizer, config, eval_data=eval_data, callbacks=callbacks,
               progress=progress, description=description, checkpoint_dir=checkpoint_dir, resume=resume)


# --------------------------------------------------------------------------------------------
# Teacher fine-tuning with a cache
# --------------------------------------------------------------------------------------------
@dataclass
class FineTuneResult:
    """``model``: the fine-tuned teacher (eval mode); ``history``: its training history (the
    original one when loaded from the cache); ``from_cache``: whether training was skipped;
    ``path``: the cache folder (None when caching is off)."""

    model: object
    history: History
    from_cache: bool
    path: Path | None


def fingerprint(*parts) -> str:
    """A short stable hash of models (their config and weights), encoded datasets and plain data."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, nn.Module):
            digest.update(json.dumps(part.config.to_diff_dict(), sort_keys=True, default=str).encode())
            for name, tensor in sorted(part.state_dict().items()):
                digest.update(name.encode())
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        elif hasattr(part, "column_names"):  # a dataset: token ids once encoded, else every column
            columns = ("input_ids", "label", "idx") if "input_ids" in part.column_names else sorted(part.column_names)
            rows = part[:]  # one batch read: far faster than iterating a column row by row
            digest.update(json.dumps([list(rows[c]) for c in columns]).encode())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def teacher_cache_key(train_data, config: TrainConfig, tokenizer, teacher=None) -> str:
    """The cache folder name of a teacher fine-tuned on ``train_data`` with ``config``: a hash of
    the starting teacher (its weights, or for ``None`` the offline teacher's identity, so the
    untrained model is not even loaded), the raw text and labels, the vocabulary and the config.
    Nothing is tokenised, so a cached teacher loads in about a second."""
    start = teacher if teacher is not None else offline_teacher_identity(data_lib.num_labels(train_data))
    return fingerprint(start, train_data, {"vocabulary": tokenizer.get_vocab(), "config": config.to_dict()})


def fine_tune_teacher(
    teacher=None,
    *,
    tokenizer=None,
    train_data=None,
    eval_data=None,
    config: TrainConfig = TrainConfig(),
    cache: bool = True,
    progress: bool = True,
) -> FineTuneResult:
    """Fine-tune a teacher on a classification task, or load the cached result.

    Defaults: the offline MiniLM teacher, its tokenizer, SST-2 train (all 67,349 phrases are
    available; ``config.steps × batch_size`` of them are seen). With ``cache=True`` the result
    is saved (safetensors) under ``$TINYBERT_LAB_CACHE/teachers/<key>``, where the key hashes the
    starting weights, the data and the config: change any of them and it trains again. While
    training, a checkpoint is kept beside it every 100 steps, so an interrupted fine-tune
    (a crash, a kernel restart) resumes where it stopped.
    """
    from transformers import BertForSequenceClassification

    from .attention import SCORES_ATTENTION

    tokenizer = tokenizer if tokenizer is not None else load_tokenizer()
    if train_data is None:
        train_data = data_lib.load_sst2()["train"]
    folder = cache_dir() / "teachers" / teacher_cache_key(train_data, config, tokenizer, teacher) if cache else None
    if folder is not None and (folder / "history.json").is_file():
        with quiet_transformers():
            model = BertForSequenceClassification.from_pretrained(folder, attn_implementation=SCORES_ATTENTION)
        model.eval()
        history = History.from_dict(json.loads((folder / "history.json").read_text()))
        return FineTuneResult(model, history, True, folder)
    teacher = teacher if teacher is not None else load_teacher(num_labels=data_lib.num_labels(train_data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encoded = data_lib.encode(train_data, tokenizer, max_length=config.max_length)
    for notice in caught:  # e.g. a few sentences truncated: one plain line in a notebook, not a warning box
        if progress:
            print(f"Note: {notice.message}")
        else:
            warnings.warn_explicit(notice.message, notice.category, notice.filename, notice.lineno)
    checkpoints = folder.with_name(folder.name + ".checkpoint") if folder is not None else None
    if checkpoints is not None and config.checkpoint_every == 0:
        config = TrainConfig.from_dict({**config.to_dict(), "checkpoint_every": 100})
    history = fit(LabelObjective(teacher), encoded, tokenizer, config, eval_data=eval_data, progress=progress,
                  description="fine-tuning teacher", checkpoint_dir=checkpoints, resume=checkpoints is not None)
    world = parallel.world()
    if folder is not None and world.is_main:
        # Write to a temporary folder and rename, so a crash never leaves a half-written cache.
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        with quiet_transformers():
            teacher.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        (partial / "history.json").write_text(json.dumps(history.to_dict()))
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
        shutil.rmtree(checkpoints, ignore_errors=True)
    world.barrier()  # the other processes return once the cache is complete
    return FineTuneResult(teacher, history, False, folder)
