"""Comparing results fairly: the noise of one measurement, paired differences over seeds, plain
verdicts, and the Pareto front of accuracy against speed. Every study, benchmark and plot takes
these from here.

- ``binomial_halfwidth``: the 95 % noise band of an accuracy measured on ``n`` examples
- ``paired_difference``: ``a − b`` seed by seed (same seed: same data, start and batch order)
- ``verdict``: "clear gain" / "clear loss" beyond two standard errors over ≥ 3 seeds, else "within noise"
- ``pareto_front``: the rows no other row beats on both speed and accuracy
- ``MAX_JS``: the largest Jensen–Shannon divergence (natural log), ln 2
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping

from .errors import TinyBertLabError

MAX_JS = math.log(2)


def binomial_halfwidth(accuracy: float, n: int, z: float = 1.96) -> float:
    """Half-width of the normal-approximation 95 % interval of an accuracy measured on ``n``
    examples: ``z·√(p(1−p)/n)`` (about 0.024 at 85 % on SST-2's 872 dev sentences)."""
    if not 0 <= accuracy <= 1 or n <= 0:
        raise TinyBertLabError(f"accuracy must be in [0, 1] and n positive, got {accuracy!r}, {n!r}.")
    return z * math.sqrt(accuracy * (1 - accuracy) / n)


def _by_seed(values) -> dict:
    """``{seed: value}`` from a mapping, or from a study's row with ``seeds`` and ``accuracies``."""
    if isinstance(values, Mapping):
        return dict(values)
    return dict(zip(values.seeds, values.accuracies))


def paired_difference(a, b) -> tuple[float, float, int]:
    """``a − b`` over the seeds both have: ``(mean, std, count)``, std the sample standard deviation
    of the per-seed differences (0 for one seed). ``a``, ``b``: ``{seed: value}``, or rows with
    ``seeds`` and ``accuracies`` (a study's summary cells)."""
    first, second = _by_seed(a), _by_seed(b)
    common = [s for s in first if s in second]
    if not common:
        raise TinyBertLabError("The two settings share no seed: a paired difference needs the same seeds.")
    diffs = [first[s] - second[s] for s in common]
    return statistics.mean(diffs), (statistics.stdev(diffs) if len(diffs) > 1 else 0.0), len(diffs)


def seeds_phrase(count: int) -> str:
    """``"1 seed"``, ``"3 seeds"``: how many seeds a number rests on, in words."""
    return f"{count} seed{'s' if count != 1 else ''}"


def verdict(mean: float, std: float, count: int) -> str:
    """Plain words for a paired difference over seeds: ``"clear gain"`` / ``"clear loss"`` when
    its mean is more than two standard errors from 0 (and there are ≥ 3 seeds), else ``"within
    noise"``."""
    if count < 3:
        return "too few seeds to tell"
    margin = 2 * std / math.sqrt(count)
    if mean - margin > 0:
        return "clear gain"
    if mean + margin < 0:
        return "clear loss"
    return "within noise"


def pareto_front(rows: list[dict]) -> list[dict]:
    """The rows no other row beats on both ``sentences_per_s`` and ``accuracy`` (ties kept),
    sorted by speed: the choices worth making."""
    front = [r for r in rows
             if not any(o["sentences_per_s"] >= r["sentences_per_s"] and o["accuracy"] >= r["accuracy"]
                        and (o["sentences_per_s"] > r["sentences_per_s"] or o["accuracy"] > r["accuracy"])
                        for o in rows)]
    return sorted(front, key=lambda r: r["sentences_per_s"])
