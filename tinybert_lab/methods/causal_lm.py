"""Distilling a generative (causal) language model: DistilGPT-2's recipe and the choices of LLM distillation.

The pieces, in the order notebook 13 uses them:

- ``build_tokenizer``: characters, or a small byte-level BPE trained in place (``tokenizers``),
  wrapped as a ``PreTrainedTokenizerFast`` so ``save_pretrained`` and ``decode`` work as usual.
- ``token_blocks``: a text cut into fixed-length windows, in the encoded-dataset form ``fit`` trains on.
- ``LMTeacherSpec`` + ``lm_teacher``: the offline teacher, a GPT-2-shaped model
  (``GPT2LMHeadModel``: ``generate`` with the KV cache, ``save_pretrained``) trained on Tiny
  Shakespeare's training part and cached under ``$TINYBERT_LAB_CACHE/lm_teachers/<key>``;
  ``lm_teacher("gpt2")`` loads GPT-2 from the hub instead (online users).
- ``half_depth_student``: half the teacher's layers, started from every other teacher layer
  (DistilBERT's and DistilGPT-2's initialisation) or from random weights (the control).
- ``LMObjective``: the objectives ``fit`` trains (weights by name, one dict):
  ``next_token`` (text only), ``forward_kl`` (token-level KD at temperature T, with T²),
  ``reverse_kl`` (mode-seeking, token-level MiniLLM), ``hidden_cosine`` (DistilGPT-2's cosine
  on the last hidden states) and, with ``on_policy``, GKD: the student's own samples scored by
  the teacher (generalised JSD).
- ``teacher_generations``: sequence-level KD's data (Kim & Rush 2016): continuations the teacher
  wrote, cached on disk, trained on with plain next-token cross-entropy.
- ``fit_one_peak``: forward vs reverse KL on a two-peaked distribution, in miniature.

Measures (perplexity, agreement, generation speed, samples) live in ``lm_eval``.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..core import losses
from ..core.data import TextCorpus, load_shakespeare
from ..core.config import Settings, Weights
from ..core.errors import TinyBertLabError
from ..core.models import quiet_transformers
from ..core.settings import cache_dir, fast_mode
from ..core.training import History, TrainConfig, fit

END_OF_TEXT = "<|endoftext|>"
TOKENIZER_KINDS = ("char", "bpe")
GPT2_PARAMETERS = 124_439_808  # GPT-2 small: 12 layers, width 768, 12 heads, 50,257 tokens (tied embeddings)


# --------------------------------------------------------------------------------------------
# Tokenizers
# --------------------------------------------------------------------------------------------
def build_tokenizer(kind: str, text: str, *, vocab_size: int = 512):
    """A tokenizer for ``text``: ``"char"`` (one token per character seen in ``text``) or ``"bpe"``
    (byte-level BPE with ``vocab_size`` tokens, trained on ``text`` in seconds). Both carry one
    special token, ``<|endoftext|>``, used for padding. Returns a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    if kind not in TOKENIZER_KINDS:
        raise TinyBertLabError(f"Unknown tokenizer kind {kind!r}: use 'char' or 'bpe'.")
    if not text:
        raise TinyBertLabError("The text to build a tokenizer from is empty.")
    if kind == "char":
        vocab = {c: i for i, c in enumerate(sorted(set(text)))}
        vocab[END_OF_TEXT] = len(vocab)
        backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))  # no merges: every character is a token
        backend.decoder = decoders.Fuse()
    else:
        from tokenizers import ByteLevelBPETokenizer

        if not 256 < vocab_size <= 50_000:
            raise TinyBertLabError(f"A byte-level BPE needs 256 < vocab_size <= 50000, got {vocab_size}.")
        trainer = ByteLevelBPETokenizer()
        lines = text.splitlines(keepends=True)
        trainer.train_from_iterator(lines, vocab_size=vocab_size, min_frequency=2, special_tokens=[END_OF_TEXT],
                                    show_progress=False)
        backend = trainer._tokenizer
    with quiet_transformers():
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=END_OF_TEXT, pad_token=END_OF_TEXT,
                                            bos_token=END_OF_TEXT)
    tokenizer.kind = kind
    return tokenizer


def encode_text(tokenizer, text: str) -> torch.Tensor:
    """All of ``text`` as one (N,) long tensor of token ids (no special tokens added). Characters
    the tokenizer cannot represent (a character tokenizer knows only its training text's) are an
    error naming them, not silently dropped."""
    ids = tokenizer(text, add_special_tokens=False, return_attention_mask=False)["input_ids"]
    if len(tokenizer.decode(ids)) != len(text):
        unknown = sorted(set(text) - set(tokenizer.decode(ids)))
        raise TinyBertLabError(f"The characters {''.join(unknown)!r} are not in the tokenizer's vocabulary (a character "
                               "tokenizer knows only the characters of its training text): leave them out.")
    return torch.tensor(ids, dtype=torch.long)


def token_blocks(ids: torch.Tensor, block: int, *, stride: int | None = None, limit: int | None = None):
    """Windows of ``block`` tokens from a (N,) id tensor, every ``stride`` tokens (default:
    ``block``, no overlap), as an encoded dataset ``fit`` can train on (``input_ids``,
    ``token_type_ids``, ``label`` = -1, ``idx``). Each window trains ``block - 1`` next-token
    predictions. ``limit`` keeps the first that many windows."""
    import datasets

    stride = stride or block
    if block < 2 or stride < 1:
        raise TinyBertLabError(f"block must be >= 2 and stride >= 1, got block={block}, stride={stride}.")
    if ids.numel() < block:
        raise TinyBertLabError(f"The text has {ids.numel()} tokens, fewer than one block of {block}: use more text "
                               "or a shorter block.")
    windows = ids.unfold(0, block, stride)  # (n, block)
    if limit is not None:
        windows = windows[:limit]
    rows = windows.tolist()
    return datasets.Dataset.from_dict({"input_ids": rows, "token_type_ids": [[0] * block] * len(rows),
                                       "label": [-1] * len(rows), "idx": list(range(len(rows)))})


# --------------------------------------------------------------------------------------------
# The teacher
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LMTeacherSpec(Settings):
    """What the offline teacher is: tokenizer, shape, training. Validated when built; the cache
    key hashes all of it and the corpus, so changing any field trains a new teacher.

    ``block``: tokens per training window (and the model's positions); ``stride``: tokens between
    window starts (``block // 2``: windows overlap by half, so more of them). Training settings
    are ``TrainConfig``'s (``steps``, ``batch_size``, ``learning_rate``).
    """

    tokenizer: str = "bpe"
    bpe_vocab: int = 512
    layers: int = 6
    width: int = 256
    heads: int = 8
    block: int = 64
    stride: int = 32
    dropout: float = 0.1
    steps: int = 2500
    batch_size: int = 16
    learning_rate: float = 2e-3
    warmup_ratio: float = 0.05
    seed: int = 0

    def check(self):
        self.require_choice("tokenizer", TOKENIZER_KINDS)
        self.require_int("bpe_vocab", "width", "heads", "block", "stride", "steps", "batch_size")
        self.require_int("layers", minimum=2, fix="The student keeps half of them.")
        self.require_int("seed", minimum=0)
        self.require("width", self.width % self.heads == 0, f"a multiple of heads ({self.heads})")
        self.require_number("dropout", 0, 1)
        self.require_number("learning_rate", low_open=True)
        self.require_number("warmup_ratio", 0, 1)

    def train_config(self) -> TrainConfig:
        return TrainConfig(steps=self.steps, batch_size=self.batch_size, learning_rate=self.learning_rate,
                           warmup_ratio=self.warmup_ratio, weight_decay=0.1, seed=self.seed, log_every=50,
                           checkpoint_every=100)


# A byte-level BPE of 512 tokens: at equal steps it matched characters in bits per character and
# spread its next-token distribution over about 7x as many plausible tokens (benchmarks/lm_tokenizer.py,
# benchmarks/results/lm_tokenizer.json), so a soft target carries more than the right answer.
TEACHER = LMTeacherSpec()
FAST_TEACHER = LMTeacherSpec(tokenizer="char", layers=2, width=64, heads=4, block=64, stride=64, steps=30, batch_size=8)


def teacher_spec() -> LMTeacherSpec:
    """``FAST_TEACHER`` when ``TINYBERT_LAB_FAST=1`` (CI, seconds), else ``TEACHER``."""
    return FAST_TEACHER if fast_mode() else TEACHER


def gpt2_config(spec: LMTeacherSpec, vocab_size: int, *, layers: int | None = None, pad_token_id: int = 0):
    from transformers import GPT2Config

    return GPT2Config(vocab_size=vocab_size, n_positions=spec.block, n_embd=spec.width, n_layer=layers or spec.layers,
                      n_head=spec.heads, resid_pdrop=spec.dropout, embd_pdrop=spec.dropout, attn_pdrop=spec.dropout,
                      bos_token_id=pad_token_id, eos_token_id=pad_token_id, pad_token_id=pad_token_id)


def build_lm(config, *, seed: int = 0):
    """A randomly initialised ``GPT2LMHeadModel`` from ``config`` (seeded), with generation set to
    pad with the config's pad token."""
    from transformers import GPT2LMHeadModel

    torch.manual_seed(seed)
    with quiet_transformers():
        model = GPT2LMHeadModel(config)
    model.generation_config.pad_token_id = config.pad_token_id
    return model


class NextTokenObjective(nn.Module):
    """Text only: next-token cross-entropy of ``student`` (what the teacher trains on, and the baseline)."""

    def __init__(self, student):
        super().__init__()
        self.student = student
        self.weights = {"next_token": 1.0}

    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = self.student(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        targets, keep = shifted(batch)
        return {"next_token": losses.next_token_ce(logits[:, :-1], targets, keep)}


def shifted(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets and mask of next-token prediction: position t predicts token t+1; a position counts
    when both it and the next token are real. Returns ``targets`` (B, L-1), ``keep`` (B, L-1) bool."""
    mask = batch["attention_mask"].bool()
    return batch["input_ids"][:, 1:], mask[:, 1:] & mask[:, :-1]


@dataclass
class LMTeacher:
    """``model``: the teacher (eval mode); ``tokenizer``; ``spec``; ``history`` of its training;
    ``validation_loss``: nats per token on the validation text; ``from_cache``; ``path``;
    ``train_seconds``: how long its training took when it was trained."""

    model: object
    tokenizer: object
    spec: LMTeacherSpec | None
    history: History | None
    validation_loss: float | None
    from_cache: bool
    path: Path | None
    train_seconds: float | None = None


def as_model(model):
    """``model``, or the model inside ``lm_teacher()``'s result; anything else is refused clearly."""
    if isinstance(model, LMTeacher):
        return model.model
    if not hasattr(model, "config") or not callable(model):
        raise TinyBertLabError(f"Expected a language model (a GPT2LMHeadModel, or lm_teacher()'s result), got "
                               f"{type(model).__name__} {str(model)[:60]!r}.")
    return model


def corpus_key(corpus: TextCorpus) -> str:
    return hashlib.sha256((corpus.train + "\0" + corpus.validation).encode()).hexdigest()[:16]


def teacher_key(spec: LMTeacherSpec, corpus: TextCorpus) -> str:
    """The cache folder name of the teacher ``spec`` trains on ``corpus``."""
    payload = json.dumps({"spec": asdict(spec), "corpus": corpus_key(corpus)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def teacher_path(spec: LMTeacherSpec | None = None, corpus: TextCorpus | None = None) -> Path:
    spec = spec or teacher_spec()
    corpus = corpus or load_shakespeare()
    return cache_dir() / "lm_teachers" / teacher_key(spec, corpus)


def lm_teacher(name: str | LMTeacherSpec | None = None, *, corpus: TextCorpus | None = None, train: bool = True,
               progress: bool = True) -> LMTeacher:
    """The causal-LM teacher.

    ``None`` or an ``LMTeacherSpec``: the offline teacher trained on ``corpus`` (default: Tiny
    Shakespeare's training part), loaded from the cache in seconds, else trained now
    (``train=False``: an error instead) and cached; an interrupted training resumes from its
    last checkpoint (every 100 steps). A string: a hub model (``"gpt2"``) or a local folder, loaded
    with ``GPT2LMHeadModel.from_pretrained`` and its tokenizer (online users; DistilGPT-2's teacher).
    """
    if isinstance(name, str):
        return _pretrained_teacher(name)
    spec = name or teacher_spec()
    corpus = corpus or load_shakespeare()
    folder = teacher_path(spec, corpus)
    if (folder / "teacher.json").is_file():
        return _load_cached(folder, spec)
    if not train:
        raise TinyBertLabError(f"The language-model teacher is not in the cache ({folder}). Build it once with "
                               "`python -m tinybert_lab.doctor --prepare`, or call lm_teacher() with train=True.")
    return _train_teacher(spec, corpus, folder, progress)


def _pretrained_teacher(name: str) -> LMTeacher:
    from transformers import AutoTokenizer, GPT2LMHeadModel

    try:
        with quiet_transformers():
            model = GPT2LMHeadModel.from_pretrained(name)
            tokenizer = AutoTokenizer.from_pretrained(name)
    except OSError as error:
        raise TinyBertLabError(
            f"Could not load the language model {name!r}: {str(error)[:200]}. A hub name (e.g. 'gpt2') needs "
            "internet once; offline, call lm_teacher() for the teacher trained on Tiny Shakespeare.") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    return LMTeacher(model, tokenizer, None, None, None, True, Path(name) if Path(name).is_dir() else None)


def _load_cached(folder: Path, spec: LMTeacherSpec) -> LMTeacher:
    from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast

    info = json.loads((folder / "teacher.json").read_text())
    with quiet_transformers():
        model = GPT2LMHeadModel.from_pretrained(folder)
        tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    tokenizer.kind = spec.tokenizer
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    return LMTeacher(model, tokenizer, spec, History.from_dict(info["history"]), info["validation_loss"], True, folder,
                     info.get("train_seconds"))


def _train_teacher(spec: LMTeacherSpec, corpus: TextCorpus, folder: Path, progress: bool) -> LMTeacher:
    from .lm_eval import validation_loss

    if progress:
        print(f"Training the language-model teacher once ({spec.steps:,} steps of {spec.batch_size} windows: the "
              "tutorial's longest wait; `python -m tinybert_lab.doctor --prepare` does it before class). It is then "
              "cached and loads in seconds; an interrupted run resumes from its last checkpoint.", flush=True)
    tokenizer = build_tokenizer(spec.tokenizer, corpus.train, vocab_size=spec.bpe_vocab)
    train = token_blocks(encode_text(tokenizer, corpus.train), spec.block, stride=spec.stride)
    model = build_lm(gpt2_config(spec, len(tokenizer), pad_token_id=tokenizer.pad_token_id), seed=spec.seed)
    checkpoints = folder.with_name(folder.name + ".checkpoint")
    history = fit(NextTokenObjective(model), train, tokenizer, spec.train_config(), progress=progress,
                  description="training the language-model teacher", checkpoint_dir=checkpoints, resume=True)
    model.eval()
    loss = validation_loss(model, tokenizer, corpus.validation, block=spec.block)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with quiet_transformers():
        model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    (partial / "teacher.json").write_text(json.dumps({"spec": asdict(spec), "validation_loss": loss,
                                                       "train_seconds": history.seconds, "history": history.to_dict()}))
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    shutil.rmtree(checkpoints, ignore_errors=True)
    return LMTeacher(model, tokenizer, spec, history, loss, False, folder, history.seconds)


# --------------------------------------------------------------------------------------------
# The student
# --------------------------------------------------------------------------------------------
STUDENT_STARTS = ("teacher_layers", "random")


def every_other_layer(teacher_layers: int, student_layers: int) -> list[int]:
    """Which teacher layers a shallower student copies: evenly spaced, first and last kept. For
    GPT-2's 12 layers and 6 this is ``[0, 2, 4, 7, 9, 11]``, the list Hugging Face's DistilGPT-2
    and DistilBERT extraction scripts use; for 6 → 3, ``[0, 2, 5]``."""
    if not 1 <= student_layers <= teacher_layers:
        raise TinyBertLabError(f"A student needs 1..{teacher_layers} layers, got {student_layers}.")
    if student_layers == 1:
        return [teacher_layers - 1]
    return [math.floor(i * (teacher_layers - 1) / (student_layers - 1) + 0.5 - 1e-9) for i in range(student_layers)]


def half_depth_student(teacher, start: str = "teacher_layers", *, layers: int | None = None, seed: int = 0):
    """A student with half the teacher's layers (or ``layers``), the teacher's width, heads and
    vocabulary. ``start="teacher_layers"``: token and position embeddings, final LayerNorm and
    layers ``every_other_layer(...)`` copied from the teacher (DistilGPT-2); ``"random"``: the
    same shape from random weights (the control)."""
    if start not in STUDENT_STARTS:
        raise TinyBertLabError(f"Unknown student start {start!r}: use 'teacher_layers' or 'random'.")
    if not hasattr(teacher, "transformer"):
        raise TinyBertLabError(f"The teacher must be a GPT2LMHeadModel (it has .transformer); got {type(teacher).__name__}.")
    config = teacher.config.__class__.from_dict(teacher.config.to_dict())
    config.n_layer = layers or max(1, teacher.config.n_layer // 2)
    student = build_lm(config, seed=seed)
    if start == "teacher_layers":
        copied = every_other_layer(teacher.config.n_layer, config.n_layer)
        source, target = teacher.transformer, student.transformer
        target.wte.load_state_dict(source.wte.state_dict())
        target.wpe.load_state_dict(source.wpe.state_dict())
        target.ln_f.load_state_dict(source.ln_f.state_dict())
        for i, j in enumerate(copied):
            target.h[i].load_state_dict(source.h[j].state_dict())
        student.copied_layers = copied
    student.tie_weights()
    return student


# --------------------------------------------------------------------------------------------
# Objectives
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LMWeights(Weights):
    """Weights of ``LMObjective``'s terms, all 0 by default: say which are on,
    e.g. ``{"next_token": 0.5, "forward_kl": 0.5}``."""

    next_token: float = 0.0
    forward_kl: float = 0.0
    reverse_kl: float = 0.0
    hidden_cosine: float = 0.0
    on_policy_jsd: float = 0.0

    _what, _hint = "LMObjective weight", "e.g. {'next_token': 0.5, 'forward_kl': 0.5}"


@dataclass(frozen=True)
class OnPolicy(Settings):
    """GKD's on-policy part: on a ``fraction`` of the batches the student continues the first
    ``prompt`` tokens of each window by sampling (temperature 1, the whole vocabulary), and the
    ``on_policy_jsd`` term compares teacher and student on those sampled tokens (JSD with ``beta``)."""

    fraction: float = 0.5
    prompt: int = 32
    beta: float = 0.5

    def check(self):
        self.require_number("fraction", 0, 1, low_open=True, high_open=False)
        self.require_int("prompt", fix="It counts tokens.")
        self.require_number("beta", 0, 1, low_open=True)


class LMObjective(nn.Module):
    """A causal-LM student trained by ``fit`` on any mix of ``LMWeights``' terms (weights by name):

    - ``next_token``: cross-entropy with the text (alone: the text-only baseline; on text the
      teacher wrote: sequence-level KD)
    - ``forward_kl``: ``T² · KL(p_T ‖ q_S)`` per position at ``temperature`` (DistilGPT-2, Hinton)
    - ``reverse_kl``: ``KL(q_S ‖ p_T)`` per position at T = 1 (token-level MiniLLM)
    - ``hidden_cosine``: ``1 − cos`` of the last hidden states (DistilGPT-2's third loss)
    - ``on_policy_jsd``: needs ``on_policy``; JSD between teacher and student on continuations the
      student sampled itself (GKD)

    The teacher runs under ``torch.no_grad()`` in eval mode and is never trained.
    """

    def __init__(self, student, teacher=None, *, weights: LMWeights | dict, temperature: float = 2.0,
                 on_policy: OnPolicy | None = None, seed: int = 0):
        super().__init__()
        student, teacher = as_model(student), (None if teacher is None else as_model(teacher))
        self.weights = LMWeights.coerce(weights).active()
        needs_teacher = set(self.weights) - {"next_token"}
        if needs_teacher and teacher is None:
            raise TinyBertLabError(f"The terms {sorted(needs_teacher)} compare with a teacher: pass teacher=...")
        if "on_policy_jsd" in self.weights and on_policy is None:
            raise TinyBertLabError("The 'on_policy_jsd' term needs on_policy=OnPolicy(...) (how often and how long "
                                   "the student samples).")
        if teacher is not None and teacher.config.vocab_size != student.config.vocab_size:
            raise TinyBertLabError(f"Teacher ({teacher.config.vocab_size} tokens) and student "
                                   f"({student.config.vocab_size}) must share one vocabulary to compare next-token "
                                   "distributions.")
        losses._check_temperature(temperature)
        self.student, self.teacher = student, teacher
        if teacher is not None:
            teacher.requires_grad_(False)
        self.temperature, self.on_policy = temperature, on_policy
        self._draws = torch.Generator().manual_seed(seed + 7)

    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        w = self.weights
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        hidden = "hidden_cosine" in w
        terms = {}
        if set(w) == {"on_policy_jsd"}:  # the batch's own text is only the prompts' source
            return {"on_policy_jsd": self._on_policy_term(batch)}
        out = self.student(**inputs, output_hidden_states=hidden)
        logits = out.logits[:, :-1]
        targets, keep = shifted(batch)
        if "next_token" in w:
            terms["next_token"] = losses.next_token_ce(logits, targets, keep)
        if {"forward_kl", "reverse_kl", "hidden_cosine"} & set(w):
            with torch.no_grad():
                t_out = self.teacher(**inputs, output_hidden_states=hidden)
            t_logits = t_out.logits[:, :-1]
            if "forward_kl" in w:
                terms["forward_kl"] = losses.token_forward_kl(logits, t_logits, keep, self.temperature)
            if "reverse_kl" in w:
                terms["reverse_kl"] = losses.token_reverse_kl(logits, t_logits, keep, 1.0)
            if hidden:
                terms["hidden_cosine"] = losses.cosine_loss(out.hidden_states[-1], t_out.hidden_states[-1],
                                                            batch["attention_mask"])
        if "on_policy_jsd" in w:
            terms["on_policy_jsd"] = self._on_policy_term(batch)
        return terms

    def _on_policy_term(self, batch) -> torch.Tensor:
        """GKD: with probability ``fraction``, the student continues each window's prompt by
        sampling; else the window's own text is used. Teacher and student are then compared
        (generalised JSD) on the continuation's positions only."""
        p = self.on_policy
        ids = batch["input_ids"]
        prompt = min(p.prompt, ids.shape[1] - 1)
        if float(torch.rand((), generator=self._draws)) < p.fraction:
            was_training = self.student.training
            self.student.eval()
            with torch.no_grad(), quiet_transformers():
                ids = self.student.generate(ids[:, :prompt], attention_mask=torch.ones_like(ids[:, :prompt]),
                                            max_new_tokens=batch["input_ids"].shape[1] - prompt,
                                            min_new_tokens=batch["input_ids"].shape[1] - prompt,
                                            do_sample=True, top_k=0, temperature=1.0)
            self.student.train(was_training)
        mask = torch.ones_like(ids)
        logits = self.student(input_ids=ids, attention_mask=mask).logits[:, :-1]
        with torch.no_grad():
            t_logits = self.teacher(input_ids=ids, attention_mask=mask).logits[:, :-1]
        keep = torch.zeros_like(ids[:, 1:], dtype=torch.bool)
        keep[:, prompt - 1:] = True  # the positions that predict the continuation
        return losses.token_jsd(logits, t_logits, keep, p.beta)


# --------------------------------------------------------------------------------------------
# Sequence-level KD: text the teacher wrote
# --------------------------------------------------------------------------------------------
def teacher_generations(teacher: LMTeacher, prompts: torch.Tensor, *, new_tokens: int, batch_size: int = 64,
                        temperature: float = 1.0, seed: int = 0, cache: bool = True, progress: bool = True):
    """Continuations the teacher samples for each prompt (rows of ``prompts``, (n, P) ids), as an
    encoded dataset of ``P + new_tokens`` tokens per row (Kim & Rush's sequence-level KD data;
    GKD calls it supervised KD on teacher outputs). Sampled at ``temperature`` over the whole
    vocabulary, seeded. Cached under ``$TINYBERT_LAB_CACHE/lm_generations/`` by teacher, prompts
    and settings, so the benchmark's seeds and rows share one set."""
    import numpy as np

    if prompts.dim() != 2 or prompts.shape[0] == 0:
        raise TinyBertLabError(f"prompts must be a non-empty (n, P) tensor of token ids, got {tuple(prompts.shape)}.")
    model = teacher.model
    if prompts.shape[1] + new_tokens > model.config.n_positions:
        raise TinyBertLabError(f"{prompts.shape[1]} prompt + {new_tokens} new tokens exceed the teacher's "
                               f"{model.config.n_positions} positions.")
    from ..core.training import fingerprint

    digest = hashlib.sha256(prompts.numpy().tobytes())  # the prompts, their shape, the teacher's weights
    digest.update(json.dumps([list(prompts.shape), fingerprint(model), new_tokens, temperature, seed]).encode())
    path = cache_dir() / "lm_generations" / f"{digest.hexdigest()[:16]}.npy"
    if cache and path.is_file():
        rows = torch.from_numpy(np.load(path))
    else:
        started, parts = time.perf_counter(), []
        torch.manual_seed(seed)
        for first in range(0, len(prompts), batch_size):
            chunk = prompts[first:first + batch_size]
            with torch.no_grad(), quiet_transformers():
                parts.append(model.generate(chunk, attention_mask=torch.ones_like(chunk), max_new_tokens=new_tokens,
                                            min_new_tokens=new_tokens, do_sample=True, top_k=0,
                                            temperature=temperature))
            if progress and (first // batch_size) % 20 == 0:
                done = first + len(chunk)
                print(f"\rteacher writing: {done:,}/{len(prompts):,} continuations, "
                      f"{time.perf_counter() - started:.0f} s", end="", flush=True)
        rows = torch.cat(parts)
        if progress:
            print(f"\rteacher wrote {len(rows):,} continuations of {new_tokens} tokens in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
        if cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path.with_suffix(".tmp.npy"), rows.numpy())
            path.with_suffix(".tmp.npy").replace(path)
    return token_blocks(rows.reshape(-1), rows.shape[1])


def prompts_from(ids: torch.Tensor, *, count: int, length: int, seed: int = 0) -> torch.Tensor:
    """``count`` prompts of ``length`` tokens cut from a (N,) id tensor at seeded random places."""
    if ids.numel() <= length:
        raise TinyBertLabError(f"The text has {ids.numel()} tokens: too short for prompts of {length}.")
    starts = torch.randint(0, ids.numel() - length, (count,), generator=torch.Generator().manual_seed(seed))
    return torch.stack([ids[s:s + length] for s in starts.tolist()])


# --------------------------------------------------------------------------------------------
# Forward vs reverse KL, in miniature
# --------------------------------------------------------------------------------------------
def one_peak(centre: torch.Tensor, log_width: torch.Tensor, size: int) -> torch.Tensor:
    """A one-peaked distribution over ``size`` tokens: softmax of ``−(v − centre)² / (2 width²)``."""
    positions = torch.arange(size, dtype=torch.float32)
    return torch.softmax(-(positions - centre) ** 2 / (2 * torch.exp(log_width) ** 2), dim=0)


def fit_one_peak(target: torch.Tensor, direction: str, *, widths=None, centres=None) -> torch.Tensor:
    """The member of the one-peaked family ``one_peak`` closest to ``target`` (a (V,) distribution)
    under forward ``KL(target ‖ q)`` or reverse ``KL(q ‖ target)``: the exact best over a grid of
    ``centres`` (default every quarter token) and ``widths`` (default 0.5 to V/2 tokens), so no
    optimiser can stop early. Returns the (V,) distribution. Forward KL must cover every token the
    target gives mass, so a two-peaked target pulls q between the peaks, wide; reverse KL only
    punishes q's mass where the target has little, so q sits on one peak."""
    if direction not in ("forward", "reverse"):
        raise TinyBertLabError(f"direction must be 'forward' or 'reverse', got {direction!r}.")
    target = torch.as_tensor(target, dtype=torch.float32)
    if target.dim() != 1 or not torch.isclose(target.sum(), torch.tensor(1.0), atol=1e-4) or (target < 0).any():
        raise TinyBertLabError("target must be one probability distribution: a 1-D tensor >= 0 summing to 1.")
    size = target.numel()
    centres = torch.arange(0, size - 0.99, 0.25) if centres is None else torch.as_tensor(centres, dtype=torch.float32)
    widths = torch.logspace(math.log10(0.5), math.log10(size / 2), 60) if widths is None else torch.as_tensor(widths)
    positions = torch.arange(size, dtype=torch.float32)
    # every (centre, width) pair at once: (C, W, V)
    logits = -(positions - centres[:, None, None]) ** 2 / (2 * widths[None, :, None] ** 2)
    log_q = torch.log_softmax(logits, dim=-1)
    log_target = torch.log(target.clamp_min(1e-12))
    if direction == "forward":
        divergence = (target * (log_target - log_q)).sum(-1)
    else:
        divergence = (log_q.exp() * (log_q - log_target)).sum(-1)
    best = int(divergence.argmin())
    return log_q.reshape(-1, size)[best].exp()
