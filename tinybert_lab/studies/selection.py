"""Choosing a recipe's settings on a validation slice, then reporting dev once.

Notebook 06 trains four recipes for the same budget: labels only from random weights, labels
only from the teacher-projected start, TinyBERT's two-step task distillation from that start,
and the same distillation from notebook 05's generally distilled student (TinyBERT's general →
task chain). Each recipe has a small grid of settings (learning rate; for distillation, the
share of the budget given to the intermediate stage). ``benchmarks/choose_recipe.py`` trains
every setting for ``SELECTION_SEEDS`` and scores it on a **validation slice held out from SST-2's
training split** (``data.held_out``: phrases the students never train on), then trains the
chosen setting of each recipe for the remaining ``REPORT_SEEDS``. ``choose`` reads only the
validation accuracies; dev accuracy is stored for every run so the chosen runs need no
retraining, and ``report`` prints it for the chosen settings only.

    record = load_record()
    choices = chosen(record["runs"])            # {recipe: Choice}; DEFAULTS where not swept yet
    choices["kd-teacher"].setting.learning_rate
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import TinyBertLabError
from ..methods.recipe import RECIPES, Setting

RECORD = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "choose_recipe.json"
SELECTION_SEEDS = (0, 1)
REPORT_SEEDS = (0, 1, 2)
VALIDATION_SIZE = 1_000
VALIDATION_MIN_WORDS = 5  # SST-2's training split holds many one- or two-word phrases; dev holds sentences

SHARES = (1 / 6, 1 / 2)
GRID = {
    "labels": [Setting("labels", lr) for lr in (1e-4, 3e-4, 1e-3)],
    "labels-teacher": [Setting("labels-teacher", lr) for lr in (3e-5, 1e-4, 3e-4)],
    "kd-teacher": [Setting("kd-teacher", lr, share) for share in SHARES for lr in (3e-5, 1e-4, 3e-4)],
    "kd-general": [Setting("kd-general", lr, 1 / 6) for lr in (1e-4, 3e-4, 1e-3)],
}
# Before the sweep: the settings notebook 06 used, picked on dev (kept only as a fallback)
DEFAULTS = {"labels": Setting("labels", 3e-4), "labels-teacher": Setting("labels-teacher", 1e-4),
            "kd-teacher": Setting("kd-teacher", 1e-4, 1 / 6), "kd-general": Setting("kd-general", 3e-4, 1 / 6)}


@dataclass(frozen=True)
class Choice:
    """A recipe's chosen ``setting``; ``validation`` is its mean validation accuracy over the
    selection seeds (None when the grid is not fully swept and ``setting`` is the default)."""

    setting: Setting
    validation: float | None

    @property
    def swept(self) -> bool:
        return self.validation is not None


def run_key(run: dict) -> tuple:
    return (run["recipe"], run["learning_rate"], run.get("intermediate_share", 0.0), run["seed"], run["steps"])


def load_record(path: str | Path = RECORD) -> dict:
    """The stored record (``{"runs": []}`` when the benchmark has not run)."""
    path = Path(path)
    if not path.is_file():
        return {"runs": []}
    return json.loads(path.read_text())


def validation_mean(runs: list[dict], setting: Setting, seeds=SELECTION_SEEDS) -> float | None:
    """Mean validation accuracy of ``setting`` over ``seeds``; None unless every seed has a run."""
    values = {r["seed"]: r["validation_accuracy"] for r in runs if setting.matches(r)}
    if not all(s in values for s in seeds):
        return None
    return statistics.mean(values[s] for s in seeds)


def choose(runs: list[dict], recipe: str, seeds=SELECTION_SEEDS) -> Choice:
    """The grid setting with the highest mean **validation** accuracy over ``seeds`` (ties: the
    earlier in ``GRID``); ``DEFAULTS[recipe]`` with ``validation=None`` until every setting of the
    grid has all those seeds. Dev accuracy is never read here."""
    if recipe not in GRID:
        raise TinyBertLabError(f"Unknown recipe {recipe!r}; choose from {', '.join(GRID)}.")
    scores = [(validation_mean(runs, s, seeds), s) for s in GRID[recipe]]
    if any(score is None for score, _ in scores):
        return Choice(DEFAULTS[recipe], None)
    best_score, best = max(scores, key=lambda pair: pair[0])  # max keeps the first of equal scores
    return Choice(best, best_score)


def chosen(runs: list[dict] | None = None) -> dict[str, Choice]:
    """``choose`` for every recipe, from ``runs`` (default: the committed record)."""
    runs = load_record()["runs"] if runs is None else runs
    return {recipe: choose(runs, recipe) for recipe in GRID}


@dataclass(frozen=True)
class Reported:
    """A chosen setting's dev accuracy: ``mean`` ± ``std`` over ``seeds`` and each seed's value."""

    recipe: str
    setting: Setting
    validation: float | None
    mean: float
    std: float
    accuracies: tuple[float, ...]
    seeds: tuple[int, ...]


def report(runs: list[dict], seeds=REPORT_SEEDS) -> list[Reported]:
    """Dev accuracy of each recipe's chosen setting over the ``seeds`` it has (recipes whose grid
    is not fully swept are left out)."""
    rows = []
    for recipe, choice in chosen(runs).items():
        if not choice.swept:
            continue
        by_seed = {r["seed"]: r["dev_accuracy"] for r in runs if choice.setting.matches(r) and r["seed"] in seeds}
        if not by_seed:
            continue
        order = tuple(sorted(by_seed))
        values = tuple(by_seed[s] for s in order)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        rows.append(Reported(recipe, choice.setting, choice.validation, statistics.mean(values), std, values, order))
    return rows


def compare(rows: list[Reported], better: str, worse: str) -> tuple[float, float, int, str] | None:
    """``better − worse`` dev accuracy over their shared seeds: ``(mean, std, count, verdict)``,
    or None when either recipe is missing or they share no seed."""
    from ..core.comparison import paired_difference, verdict

    by = {row.recipe: row for row in rows}
    if better not in by or worse not in by or not set(by[better].seeds) & set(by[worse].seeds):
        return None
    mean, std, count = paired_difference(by[better], by[worse])  # same seeds, seed by seed
    return mean, std, count, verdict(mean, std, count)


COMPARISONS = [  # (better, worse, what the difference measures)
    ("labels-teacher", "labels", "initialisation: teacher start vs random weights, labels only"),
    ("kd-teacher", "labels-teacher", "distillation: two-step KD vs labels only, both from the teacher start"),
    ("kd-general", "kd-teacher", "general → task chain vs the teacher-projected start, same task budget"),
]


def selection_table(runs: list[dict], order=tuple(RECIPES)) -> str:
    """Markdown table: every grid setting's mean validation accuracy over the selection seeds,
    the chosen one marked."""
    lines = [f"| recipe | setting | validation accuracy, mean of seeds {', '.join(map(str, SELECTION_SEEDS))} | chosen |",
             "|---|---|---|---|"]
    for recipe in order:
        choice = choose(runs, recipe)
        for setting in GRID[recipe]:
            score = validation_mean(runs, setting)
            text = f"{100 * score:.2f} %" if score is not None else "not run yet"
            mark = "✓" if choice.swept and setting == choice.setting else ""
            lines.append(f"| {RECIPES[recipe]} | {setting.describe()} | {text} | {mark} |")
    return "\n".join(lines)


def dev_table(runs: list[dict]) -> str:
    """Markdown tables: the chosen settings' dev accuracy (mean ± std over seeds), then the paired
    differences of ``COMPARISONS`` with their verdicts. Empty when nothing is chosen yet."""
    rows = report(runs)
    if not rows:
        return ""
    lines = ["| recipe | chosen setting | dev accuracy, mean ± std (seeds) |", "|---|---|---|"]
    lines += [f"| {RECIPES[r.recipe]} | {r.setting.describe()} | {100 * r.mean:.2f} ± {100 * r.std:.2f} % ({len(r.seeds)}) |"
              for r in rows]
    differences = []
    for better, worse, meaning in COMPARISONS:
        result = compare(rows, better, worse)
        if result:
            mean, std, count, verdict = result
            differences.append(f"| {meaning} | {100 * mean:+.1f} ± {100 * std:.1f} ({count} seeds) | {verdict} |")
    if differences:  # two recipes measured on shared seeds
        lines += ["", "| difference, paired over seeds | points | verdict |", "|---|---|---|", *differences]
    return "\n".join(lines)
