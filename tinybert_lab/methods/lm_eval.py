"""Measuring a distilled language model against its teacher.

- ``validation_loss`` / ``language_scores``: nats per token on held-out text, perplexity, bits per
  character (comparable across tokenizers: total bits over the text's characters)
- ``agreement``: how often student and teacher pick the same next token (top-1), and the mean
  per-token ``KL(p_T ‖ q_S)`` on the same text
- ``generation_speed``: tokens per second of ``generate`` with the KV cache, same prompts, same
  length, model only (tokenising excluded), median of repeats, at several batch sizes
- ``next_token_table`` / ``samples``: one position's most likely tokens, and continuations of the
  same prompts with the same seed, side by side
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..core.errors import TinyBertLabError
from ..core.models import quiet_transformers, size_on_disk


def _windows(ids: torch.Tensor, block: int) -> torch.Tensor:
    """Non-overlapping windows of ``block`` tokens from the start of ``ids``; the tail shorter
    than a window is left out (every scored token scored once)."""
    if ids.numel() < 2:
        raise TinyBertLabError("The text has fewer than 2 tokens: nothing to predict.")
    block = min(block, ids.numel())
    return ids[: ids.numel() // block * block].view(-1, block)


def _text_ids(tokenizer, text: str) -> torch.Tensor:
    from .causal_lm import encode_text

    return encode_text(tokenizer, text)


def _model(model):
    """The model itself, also when given ``causal_lm.lm_teacher()``'s result (its ``.model``)."""
    from .causal_lm import as_model

    return as_model(model)


@torch.no_grad()
def validation_loss(model, tokenizer, text: str, *, block: int | None = None, batch_size: int = 32,
                    limit: int | None = None) -> float:
    """Mean next-token cross-entropy (nats per token) of ``model`` on ``text``, cut into windows
    of ``block`` tokens (default: the model's positions); ``limit`` scores only the first that many
    windows (a quick estimate)."""
    return language_scores(model, tokenizer, text, block=block, batch_size=batch_size, limit=limit).loss


@dataclass(frozen=True)
class LanguageScores:
    """``loss``: nats per predicted token; ``perplexity`` = exp(loss); ``bits_per_character``:
    total bits over the characters scored; ``tokens`` / ``characters`` scored."""

    loss: float
    perplexity: float
    bits_per_character: float
    tokens: int
    characters: int


@torch.no_grad()
def language_scores(model, tokenizer, text: str, *, block: int | None = None, batch_size: int = 32,
                    limit: int | None = None) -> LanguageScores:
    """Perplexity and bits per character of ``model`` on ``text`` (see ``LanguageScores``)."""
    model = _model(model)
    block = block or model.config.n_positions
    windows = _windows(_text_ids(tokenizer, text), block)
    if limit is not None:
        windows = windows[:limit]
    was_training = model.training
    model.eval()
    total, count, characters = 0.0, 0, 0
    for first in range(0, len(windows), batch_size):
        ids = windows[first:first + batch_size]
        logits = model(input_ids=ids).logits[:, :-1].float()
        total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="sum"))
        count += ids[:, 1:].numel()
        characters += sum(len(tokenizer.decode(row[1:])) for row in ids.tolist())
    model.train(was_training)
    loss = total / count
    return LanguageScores(loss, math.exp(loss), total / math.log(2) / max(characters, 1), count, characters)


@dataclass(frozen=True)
class Agreement:
    """``top1``: share of positions where student and teacher rank the same token first;
    ``kl``: mean ``KL(p_T ‖ q_S)`` per position (nats); ``positions`` compared."""

    top1: float
    kl: float
    positions: int


@torch.no_grad()
def agreement(teacher, student, tokenizer, text: str, *, block: int | None = None, batch_size: int = 32,
              limit: int | None = None) -> Agreement:
    """Teacher–student top-1 agreement and mean per-token KL on ``text`` (see ``Agreement``)."""
    teacher, student = _model(teacher), _model(student)
    block = block or min(teacher.config.n_positions, student.config.n_positions)
    windows = _windows(_text_ids(tokenizer, text), block)
    if limit is not None:
        windows = windows[:limit]
    states = teacher.training, student.training
    teacher.eval()
    student.eval()
    same, kl, count = 0, 0.0, 0
    for first in range(0, len(windows), batch_size):
        ids = windows[first:first + batch_size]
        log_p = F.log_softmax(teacher(input_ids=ids).logits.float(), dim=-1)
        log_q = F.log_softmax(student(input_ids=ids).logits.float(), dim=-1)
        same += int((log_p.argmax(-1) == log_q.argmax(-1)).sum())
        kl += float((log_p.exp() * (log_p - log_q)).sum())
        count += ids.numel()
    teacher.train(states[0])
    student.train(states[1])
    return Agreement(same / count, kl / count, count)


def generation_speed(models: dict, prompts: torch.Tensor, *, new_tokens: int = 64, batch_sizes=(1, 8),
                     repeats: int = 3, threads: int | None = None) -> list[dict]:
    """Tokens per second of ``generate`` (greedy, KV cache on, exactly ``new_tokens`` per row)
    for each model and batch size: the first ``batch`` rows of ``prompts`` (n, P), one warm-up
    call, then the median of ``repeats`` timed calls. Model only: prompts are token ids already.
    Returns rows ``{"model", "batch", "tokens_per_second", "size_mb", "speed_up"}`` (speed-up
    against the first model at the same batch size)."""
    if prompts.dim() != 2 or prompts.shape[0] < max(batch_sizes):
        raise TinyBertLabError(f"prompts must be (n, P) with n >= the largest batch size {max(batch_sizes)}; "
                               f"got {tuple(prompts.shape)}.")
    models = {name: _model(model) for name, model in models.items()}
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    rows = []
    try:
        for batch in batch_sizes:
            ids = prompts[:batch]
            first = None
            for name, model in models.items():
                if ids.shape[1] + new_tokens > model.config.n_positions:
                    raise TinyBertLabError(f"{ids.shape[1]} + {new_tokens} tokens exceed {name}'s "
                                           f"{model.config.n_positions} positions: use fewer new tokens.")
                model.eval()
                times = []
                for attempt in range(repeats + 1):
                    started = time.perf_counter()
                    with torch.no_grad(), quiet_transformers():
                        model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                                       min_new_tokens=new_tokens, do_sample=False, use_cache=True)
                    if attempt:  # the first call warms up
                        times.append(time.perf_counter() - started)
                speed = batch * new_tokens / statistics.median(times)
                first = first or speed
                rows.append({"model": name, "batch": batch, "tokens_per_second": speed,
                             "size_mb": size_on_disk(model) / 1e6, "speed_up": speed / first})
    finally:
        torch.set_num_threads(previous)
    return rows


def speed_table(rows: list[dict]) -> str:
    """Markdown table of ``generation_speed`` rows."""
    lines = ["| model | batch | tokens/s | speed-up | size on disk (MB) |", "|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['batch']} | {r['tokens_per_second']:,.0f} | {r['speed_up']:.2f}× | "
              f"{r['size_mb']:.1f} |" for r in rows]
    return "\n".join(lines)


@torch.no_grad()
def next_token_distribution(model, tokenizer, prompt: str, *, temperature: float = 1.0) -> torch.Tensor:
    """The (V,) next-token distribution after ``prompt``, softened at ``temperature``."""
    if not prompt:
        raise TinyBertLabError("The prompt is empty: give at least one character.")
    if temperature <= 0:
        raise TinyBertLabError(f"temperature must be positive, got {temperature!r}.")
    model = _model(model)
    ids = _text_ids(tokenizer, prompt)[-model.config.n_positions:][None]
    was_training = model.training
    model.eval()
    logits = model(input_ids=ids).logits[0, -1].float()
    model.train(was_training)
    return torch.softmax(logits / temperature, dim=-1)


def readable(token: str) -> str:
    """A token as a learner can read it: a space as ␣, a newline as ⏎ (byte-level BPE's Ġ and Ċ too)."""
    return token.replace("Ġ", " ").replace("Ċ", "\n").replace(" ", "␣").replace("\n", "⏎")


def top_tokens(probs: torch.Tensor, tokenizer, k: int = 10) -> list[tuple[str, float]]:
    """The ``k`` most likely tokens of a (V,) distribution as ``(readable token, probability)``."""
    values, ids = probs.topk(min(k, probs.numel()))
    return [(readable(tokenizer.convert_ids_to_tokens(i)), float(v)) for v, i in zip(values.tolist(), ids.tolist())]


@torch.no_grad()
def samples(models: dict, tokenizer, prompts: list[str], *, new_tokens: int = 120, temperature: float = 0.8,
            top_k: int | None = None, seed: int = 0) -> dict[str, list[str]]:
    """``{model name: [continuation per prompt]}``: every model continues the same prompts with the
    same seed (the sampler's random numbers start equal; the text differs where the models do)."""
    if temperature <= 0:
        raise TinyBertLabError(f"temperature must be positive, got {temperature!r}.")
    if top_k is not None and top_k < 1:
        raise TinyBertLabError(f"top_k must be at least 1 (or None for the whole vocabulary), got {top_k!r}.")
    result = {}
    for name, model in models.items():
        model = _model(model)
        if new_tokens >= model.config.n_positions:
            raise TinyBertLabError(f"{name} holds {model.config.n_positions} positions: ask for fewer than that many new "
                                   f"tokens (got {new_tokens}), so some of the prompt fits beside them.")
        model.eval()
        texts = []
        for prompt in prompts:
            ids = _text_ids(tokenizer, prompt)
            if ids.numel() == 0:
                raise TinyBertLabError("A prompt is empty: give at least one character.")
            ids = ids[-(model.config.n_positions - new_tokens):][None]  # the prompt's end, where it fits
            torch.manual_seed(seed)
            with quiet_transformers():
                out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                                     min_new_tokens=new_tokens, do_sample=True, temperature=temperature,
                                     top_k=top_k or 0)
            texts.append(tokenizer.decode(out[0, ids.shape[1]:]))
        result[name] = texts
    return result


@dataclass(frozen=True)
class Spread:
    """How widely a model's next-token distributions spread, averaged over positions of a text:
    ``entropy_bits`` per token; ``plausible``: 2^entropy, the number of equally likely tokens with
    the same entropy; ``tokens_for_90``: tokens needed to cover 90 % of the probability;
    ``top1``: the probability of the most likely token."""

    entropy_bits: float
    plausible: float
    tokens_for_90: float
    top1: float


@torch.no_grad()
def spread(model, tokenizer, text: str, *, block: int | None = None, batch_size: int = 32,
           limit: int | None = 64) -> Spread:
    """``Spread`` of ``model``'s next-token distributions over (the first ``limit`` windows of) ``text``."""
    model = _model(model)
    block = block or model.config.n_positions
    windows = _windows(_text_ids(tokenizer, text), block)[:limit]
    was_training = model.training
    model.eval()
    entropy, covering, top, count = 0.0, 0.0, 0.0, 0
    for first in range(0, len(windows), batch_size):
        probs = torch.softmax(model(input_ids=windows[first:first + batch_size]).logits.float(), dim=-1)
        probs = probs.reshape(-1, probs.shape[-1])
        entropy += float(-(torch.special.xlogy(probs, probs)).sum()) / math.log(2)
        ordered = probs.sort(dim=-1, descending=True).values.cumsum(dim=-1)
        covering += float(((ordered < 0.9).sum(dim=-1) + 1).sum())
        top += float(probs.max(dim=-1).values.sum())
        count += probs.shape[0]
    model.train(was_training)
    return Spread(entropy / count, 2 ** (entropy / count), covering / count, top / count)
