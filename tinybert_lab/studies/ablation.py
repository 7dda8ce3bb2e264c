"""TinyBERT's ablation at full strength: which parts of the recipe pay, over 3 seeds.

The tutorial's 600-step answer is that task distillation does not beat labels alone from the
same start. This study asks the question again at the largest budget two CPU cores allow across
sessions: the **strong teacher** (``strong_teacher``: all of SST-2's training phrases, whole
epochs), **all 67,349 training phrases** as the transfer set, **TinyBERT's augmentation** on
top (``augment``, ``copies`` per phrase, the teacher's logits cached on disk), and ``passes``
over the augmented transfer set. Every row trains the same TinyBERT-4 for the same number of
steps with ``recipe``'s calls and settings (``recipe.CHOSEN``); one factor changes per row:

==================  ===============  ====================  ===========  ==============
row                 start            stages                transfer     objective
==================  ===============  ====================  ===========  ==============
full                teacher weights  intermediate + pred.  augmented    teacher
no-augmentation     teacher weights  intermediate + pred.  real only    teacher
no-intermediate     teacher weights  prediction only       augmented    teacher
random-start        random weights   intermediate + pred.  augmented    teacher
labels-teacher      teacher weights  -                     real only    gold labels
labels-random       random weights   -                     real only    gold labels
==================  ===============  ====================  ===========  ==============

The teacher-projected start stands in for general distillation (the paper's days of it on
Wikipedia are out of reach). ``report`` prints each row's dev accuracy (mean ± std over seeds),
its retention (student / teacher), every KD row beside its same-start labels row as a paired
difference with ``comparison.verdict``, and what removing each part costs the full recipe.
``benchmarks/tinybert_ablation.py`` runs it, resumable, into ``RECORD``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..core import data, evaluation, models, training
from ..core.comparison import paired_difference, seeds_phrase, verdict
from ..core.errors import TinyBertLabError
from ..core.settings import cache_dir
from ..methods import augment, recipe

RECORD = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "tinybert_ablation.json"
BENCHMARK = "python benchmarks/tinybert_ablation.py"
SEEDS = (0, 1, 2)
BATCH_SIZE = 32
COPIES = 1
PASSES = 2
CHECKPOINT_EVERY = 250


@dataclass(frozen=True)
class Row:
    """One row of the ablation: where the student starts, whether it learns from the teacher
    (``kd``) or the gold labels, with or without the intermediate stage, on the augmented
    transfer set or the real phrases only."""

    start: str
    kd: bool
    intermediate: bool
    augmented: bool
    label: str

    @property
    def setting(self) -> recipe.Setting:
        if self.kd:
            return recipe.CHOSEN["kd-teacher"]  # every KD row uses the same chosen setting
        return recipe.CHOSEN["labels-teacher" if self.start == "teacher" else "labels"]


ROWS = {
    "full": Row("teacher", True, True, True, "full recipe (teacher start, both stages, augmentation)"),
    "no-augmentation": Row("teacher", True, True, False, "without augmentation"),
    "no-intermediate": Row("teacher", True, False, True, "without the intermediate stage"),
    "random-start": Row("random", True, True, True, "without the teacher-projected start (random weights)"),
    "labels-teacher": Row("teacher", False, False, False, "labels only, teacher start"),
    "labels-random": Row("random", False, False, False, "labels only, random weights"),
}
SAME_START = {"full": "labels-teacher", "no-augmentation": "labels-teacher", "no-intermediate": "labels-teacher",
              "random-start": "labels-random"}
ABLATIONS = {"no-augmentation": "augmentation", "no-intermediate": "the intermediate stage",
             "random-start": "the teacher-projected start"}


def steps_for(transfer_size: int, passes: int = PASSES, batch_size: int = BATCH_SIZE) -> int:
    """Optimizer steps for ``passes`` over ``transfer_size`` examples: every row trains this long."""
    if passes < 1 or transfer_size < 1:
        raise TinyBertLabError(f"passes and transfer_size must be >= 1, got {passes}, {transfer_size}.")
    return math.ceil(passes * transfer_size / batch_size)


def run_key(run: dict) -> tuple:
    return run["row"], run["seed"], run["steps"], run["copies"], run["teacher"]


@dataclass
class Setup:
    """The study's data and teacher: ``train`` (all SST-2 training phrases), ``transfer`` (them
    plus ``copies`` augmented copies each), ``dev``, the strong ``teacher`` and its dev accuracy."""

    tokenizer: object
    teacher: object
    teacher_name: str
    teacher_accuracy: float
    train: object
    transfer: object
    dev: object
    copies: int

    def row_data(self, row: Row):
        return self.transfer if row.augmented else self.train


def augmented_transfer_set(train, tokenizer, copies: int, *, progress: bool = True):
    """``train`` with ``copies`` TinyBERT-augmented copies per phrase (originals kept, duplicates
    dropped, seed 0). Candidate words are the nearest neighbours in the **pre-trained** offline
    MiniLM's word-embedding table (TinyBERT uses GloVe, a general-purpose table too), so the
    transfer set does not depend on which teacher is fine-tuned. Saved under the cache on first
    use (``augment`` on 67,349 phrases takes minutes) and read back after; the teacher's logits on
    it are cached by ``recipe.distil``."""
    import datasets

    config = augment.AugmentConfig(n_per_sentence=copies, seed=0)
    key = training.fingerprint(models.offline_teacher_identity(2), train, config.to_dict())
    folder = cache_dir() / "ablation" / f"transfer-{key}"
    if (folder / "dataset_info.json").is_file():
        return datasets.load_from_disk(str(folder))
    if progress:
        print(f"augmenting {len(train):,} phrases ({copies} {'copy' if copies == 1 else 'copies'} each, saved to the cache once) ...", flush=True)
    embeddings = models.load_teacher().get_input_embeddings().weight.detach()
    result = augment.augment(train, tokenizer, teacher_embeddings=embeddings, config=config)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    result.save_to_disk(str(partial))
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return datasets.load_from_disk(str(folder))


def setup(copies: int = COPIES, *, teacher_name: str | None = None, teacher=None, train_size: int | None = None,
          progress: bool = True) -> Setup:
    """The strong teacher (from the cache: ``benchmarks/strong_teacher.py`` builds it; or a model
    passed as ``teacher``, named ``teacher_name``), all SST-2 training phrases (``train_size``:
    fewer, for a smoke test) and the augmented transfer set."""
    from . import strong_teacher

    tokenizer = models.load_tokenizer()
    if teacher is None:
        teacher = strong_teacher.strong_teacher(teacher_name, train_if_missing=False, progress=progress).model
        teacher_name = teacher_name or strong_teacher.FINAL
    else:
        models.check_is_model(teacher, "teacher")
        teacher_name = teacher_name or "given"
    teacher = teacher.eval()
    sst2 = data.load_sst2()
    train = data.subsample(sst2["train"], train_size, seed=0) if train_size else sst2["train"]
    dev = sst2["validation"]
    accuracy = evaluation.evaluate(teacher, dev, tokenizer).accuracy
    transfer = augmented_transfer_set(train, tokenizer, copies, progress=progress)
    return Setup(tokenizer, teacher, teacher_name, accuracy, train, transfer, dev, copies)


def train_row(s: Setup, name: str, seed: int, steps: int, *, progress: bool = False) -> dict:
    """Train row ``name`` for ``steps`` with ``seed`` (checkpointed every ``CHECKPOINT_EVERY``
    steps under the cache, so an interrupted run resumes) and measure it on dev."""
    if name not in ROWS:
        raise TinyBertLabError(f"Unknown ablation row {name!r}; choose from {', '.join(ROWS)}.")
    row = ROWS[name]
    folder = cache_dir() / "ablation" / "checkpoints" / f"{name}-seed{seed}-{steps}-c{s.copies}-{s.teacher_name}"
    started = time.perf_counter()
    begin = recipe.start(row.start, s.teacher, s.tokenizer, s.train, seed=seed)
    options = dict(seed=seed, batch_size=BATCH_SIZE, progress=progress, checkpoint_dir=folder, resume=True,
                   checkpoint_every=CHECKPOINT_EVERY)
    if row.kd:
        recipe.distil(recipe.distiller(begin, s.teacher, seed=seed), s.row_data(row), s.tokenizer, steps=steps,
                      setting=row.setting, intermediate_steps=None if row.intermediate else 0, **options)
    else:
        recipe.labels_only(begin.student, s.train, s.tokenizer, steps=steps, setting=row.setting, **options)
    accuracy = evaluation.evaluate(begin.student, s.dev, s.tokenizer).accuracy
    shutil.rmtree(folder, ignore_errors=True)
    return {"dev_accuracy": round(accuracy, 6), "dev_size": len(s.dev), "seconds": round(time.perf_counter() - started, 1),
            "transfer_size": len(s.row_data(row)), "learning_rate": row.setting.learning_rate,
            "intermediate_steps": row.setting.stage_steps(steps)[0] if row.kd and row.intermediate else 0}


def step_seconds(s: Setup, steps: int = 16, warmup: int = 4) -> dict[str, float]:
    """Seconds per optimizer step of each kind of step, measured here on the study's data: labels
    only, the intermediate stage (teacher forward every step) and the prediction stage (cached
    teacher logits: the first call scores the whole transfer set once, which is not counted).
    Each kind first runs ``warmup`` steps that are not counted (first steps allocate memory and
    pick kernels, and made an earlier estimate twice too long)."""
    begin = recipe.start("teacher", s.teacher, s.tokenizer, s.train)

    def labels(n):
        return recipe.labels_only(recipe.same_start(begin), s.train, s.tokenizer, steps=n, batch_size=BATCH_SIZE,
                                  progress=False).seconds

    def both(n):
        stages = recipe.distil(recipe.distiller(dataclasses.replace(begin, student=recipe.same_start(begin)), s.teacher), s.transfer, s.tokenizer,
                               steps=2 * n, intermediate_steps=n, batch_size=BATCH_SIZE, progress=False)
        return stages["intermediate"].seconds, stages["prediction"].seconds

    labels(warmup), both(warmup)
    intermediate, prediction = both(steps)
    return {"labels": labels(steps) / steps, "intermediate": intermediate / steps, "prediction": prediction / steps}


def estimate_seconds(name: str, steps: int, per_step: dict[str, float]) -> float:
    """A run's training time from ``step_seconds``' measurements (evaluation not counted)."""
    row = ROWS[name]
    if not row.kd:
        return steps * per_step["labels"]
    intermediate = row.setting.stage_steps(steps)[0] if row.intermediate else 0
    return intermediate * per_step["intermediate"] + (steps - intermediate) * per_step["prediction"]


def load_record(path: str | Path = RECORD) -> dict:
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else {"runs": []}


@dataclass(frozen=True)
class Summary:
    """A row's dev accuracy over seeds (``seeds``, ``accuracies``: what ``paired_difference`` reads)."""

    row: str
    seeds: tuple[int, ...]
    accuracies: tuple[float, ...]

    @property
    def mean(self) -> float:
        return statistics.mean(self.accuracies)

    @property
    def std(self) -> float:
        return statistics.stdev(self.accuracies) if len(self.accuracies) > 1 else 0.0


def summarise(runs: list[dict]) -> dict[str, Summary]:
    """Each row's dev accuracies by seed (rows with no run left out)."""
    result = {}
    for name in ROWS:
        by_seed = {r["seed"]: r["dev_accuracy"] for r in runs if r["row"] == name}
        if by_seed:
            order = tuple(sorted(by_seed))
            result[name] = Summary(name, order, tuple(by_seed[s] for s in order))
    return result


def differences(summary: dict[str, Summary]) -> list[tuple[str, str, float, float, int, str]]:
    """``(better, worse, mean, std, count, verdict)`` of each KD row minus its same-start labels
    row, then of the full recipe minus each ablated row (what that part is worth)."""
    pairs = [(kd, labels) for kd, labels in SAME_START.items()] + [("full", ablated) for ablated in ABLATIONS]
    result = []
    for better, worse in pairs:
        if better in summary and worse in summary and set(summary[better].seeds) & set(summary[worse].seeds):
            mean, std, count = paired_difference(summary[better], summary[worse])
            result.append((better, worse, mean, std, count, verdict(mean, std, count)))
    return result


def report(runs: list[dict], teacher_accuracy: float | None = None) -> str:
    """Markdown: each row's dev accuracy and retention, then the paired differences with verdicts."""
    summary = summarise(runs)
    if not summary:
        return f"No ablation run recorded yet: run `{BENCHMARK}`."
    teacher_accuracy = teacher_accuracy or next((r["teacher_accuracy"] for r in runs if "teacher_accuracy" in r), None)
    # the median: with 3 seeds, one run slowed by other work on the machine (its wall time
    # counts the pauses) does not set it
    minutes = {name: statistics.median(r["seconds"] for r in runs if r["row"] == name) / 60 for name in summary}
    lines = ["| row | dev accuracy, mean ± std (seeds) | retention (student / teacher) | minutes per run (median) |",
             "|---|---|---|---|"]
    for name, cell in summary.items():
        kept = f"{cell.mean / teacher_accuracy:.3f}" if teacher_accuracy else "-"
        lines.append(f"| {ROWS[name].label} | {100 * cell.mean:.2f} ± {100 * cell.std:.2f} % ({len(cell.seeds)}) | "
                     f"{kept} | {minutes[name]:.0f} |")
    found = differences(summary)
    if found:
        lines += ["", "| difference, paired over seeds | points | verdict |", "|---|---|---|"]
        for better, worse, mean, std, count, word in found:
            what = (f"{ROWS[better].label} vs {ROWS[worse].label}" if better != "full"
                    or worse in SAME_START.values() else f"what {ABLATIONS[worse]} adds to the full recipe")
            lines.append(f"| {what} | {100 * mean:+.2f} ± {100 * std:.2f} ({seeds_phrase(count)}) | {word} |")
    sentences = findings(runs, teacher_accuracy)
    if sentences:
        lines += [""] + [f"- {sentence}" for sentence in sentences]
    return "\n".join(lines)


def seeded_rows(runs: list[dict]) -> list:
    """Each row over seeds as a ``beyond.SeededRow`` (mean, std, seeds, and for a KD row its paired
    difference from its same-start labels row with the verdict): what ``viz.plot_seeded_rows`` draws."""
    from .beyond import SeededRow

    summary = summarise(runs)
    found = {(b, w): (m, s, v) for b, w, m, s, _, v in differences(summary)}
    rows = []
    for name, cell in summary.items():
        baseline = SAME_START.get(name)
        diff = found.get((name, baseline))
        rows.append(SeededRow("ablation", ROWS[name].label, cell.mean, cell.std, cell.seeds,
                              ROWS[baseline].label if diff else None, diff[0] if diff else None,
                              diff[1] if diff else None, diff[2] if diff else None))
    return rows


def findings(runs: list[dict], teacher_accuracy: float | None = None) -> list[str]:
    """Sentences computed from the record: what each part of the recipe is worth at full strength,
    whether distillation beats labels alone from the same start, and the full recipe's retention
    against the 0.99 target. Empty before any run."""
    summary = summarise(runs)
    teacher_accuracy = teacher_accuracy or next((r["teacher_accuracy"] for r in runs if "teacher_accuracy" in r), None)
    sentences = []
    for better, worse, mean, std, count, word in differences(summary):
        if better == "full" and worse in ABLATIONS:
            sentences.append(_part_sentence(worse, mean, std, count, word))
        else:
            label = ROWS[better].label
            sentences.append(f"{label[0].upper()}{label[1:]} against {ROWS[worse].label}, same start and steps: "
                             f"{100 * mean:+.2f} ± {100 * std:.2f} points over {seeds_phrase(count)} ({word}).")
    if "full" in summary and teacher_accuracy:
        kept = summary["full"].mean / teacher_accuracy
        sentences.append(f"The full recipe keeps {kept:.3f} of the teacher's dev accuracy over "
                         f"{seeds_phrase(len(summary['full'].seeds))} "
                         f"(target 0.99, mean of 3 seeds: {'met' if kept >= 0.99 else 'not met'}).")
    return sentences


def _part_sentence(ablated: str, mean: float, std: float, count: int, word: str) -> str:
    """What the part that row ``ablated`` removes is worth: the full recipe minus that row."""
    pays = {"clear gain": "pays", "clear loss": "costs accuracy",
            "within noise": "makes no measurable difference"}.get(word, "cannot be judged yet")
    part = ABLATIONS[ablated]
    return (f"{part[0].upper()}{part[1:]} {pays} at full strength: the full recipe minus the row without it is "
            f"{100 * mean:+.2f} ± {100 * std:.2f} points over {seeds_phrase(count)} ({word}).")


def part_worth(runs: list[dict], part: str) -> str | None:
    """``findings``' sentence on what one part of the recipe is worth (``part``: an ``ABLATIONS``
    row, e.g. ``"no-augmentation"``), or None until the full recipe and that row share a seed."""
    if part not in ABLATIONS:
        raise TinyBertLabError(f"Unknown part {part!r}; choose from {', '.join(ABLATIONS)}.")
    found = [d for d in differences(summarise(runs)) if d[:2] == ("full", part)]
    return _part_sentence(part, *found[0][2:]) if found else None


# --------------------------------------------------------------------------------------------
# The same questions at the tutorial's budget and at full strength
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScaledDifference:
    """One paired difference (``mean`` ± ``std`` over ``count`` seeds, with its ``verdict``)
    answering ``question`` in one study: ``scale`` names it (the tutorial's budget or full strength)."""

    question: str
    scale: str
    mean: float
    std: float
    count: int
    verdict: str


class Question(NamedTuple):
    """A difference asked at both scales: ``tutorial`` names its (first, second) recipes in
    notebook 06's record (``selection``; None: not asked there), ``study`` its rows here."""

    text: str
    tutorial: tuple[str, str] | None
    study: tuple[str, str]


QUESTIONS = (
    Question("initialisation: teacher start − random weights (labels only)", ("labels-teacher", "labels"),
             ("labels-teacher", "labels-random")),
    Question("two-step KD − labels only (teacher start, real phrases)", ("kd-teacher", "labels-teacher"),
             ("no-augmentation", "labels-teacher")),
    Question("two-step KD with augmentation − labels only (teacher start)", None, ("full", "labels-teacher")),
)


def at_two_scales(ablation_runs: list[dict], tutorial_runs: list[dict]) -> list[ScaledDifference]:
    """``QUESTIONS`` answered at notebook 06's budget (``tutorial_runs``: ``benchmarks/choose_recipe.py``'s
    record, the chosen settings' report seeds) and at full strength (``ablation_runs``: this
    study's record), each as a paired difference over the seeds both sides of it ran. A question
    a record cannot answer yet is left out at that scale."""
    from ..core.settings import FULL_PLAN
    from . import selection

    tutorial = {row.recipe: row for row in selection.report(tutorial_runs)}
    study = summarise(ablation_runs)
    tutorial_steps = sorted({r["steps"] for r in tutorial_runs if "steps" in r})
    study_steps = sorted({r["steps"] for r in ablation_runs})
    scales = (f"notebook 06's budget ({', '.join(map(str, tutorial_steps))} steps, "
              f"{FULL_PLAN.teacher_steps}-step teacher)",
              f"full strength ({', '.join(f'{s:,}' for s in study_steps)} steps, strong teacher)")
    found = []
    for question in QUESTIONS:
        for scale, cells, pair in zip(scales, (tutorial, study), (question.tutorial, question.study)):
            if pair is None or pair[0] not in cells or pair[1] not in cells:
                continue
            first, second = cells[pair[0]], cells[pair[1]]
            if not set(first.seeds) & set(second.seeds):
                continue
            mean, std, count = paired_difference(first, second)
            found.append(ScaledDifference(question.text, scale, mean, std, count, verdict(mean, std, count)))
    return found
