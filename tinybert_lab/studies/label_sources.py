"""When distillation pays: few gold labels, a transfer set the teacher labels, three label sources.

A *transfer set* is text the teacher can label: here the tutorial's 20,000 SST-2 sentences (or
TREC's 5,452 questions) with their labels hidden. ``n_gold`` of its examples, drawn by the seed,
keep their gold label. The same student, from the same start, for the same steps, with the same
batch size and learning rate, then learns from one of three label sources:

- ``gold``: the ``n_gold`` gold examples only (cross-entropy): what you can do without a teacher;
- ``hard``: every transfer example with the teacher's argmax as its label (pseudo-labels), plus
  cross-entropy on the gold labels where they are known;
- ``soft``: every transfer example with the teacher's softened distribution as its target
  (Hinton's ``T²·KL``), plus cross-entropy on the gold labels where they are known.

``hard`` and ``soft`` differ only in the form of the teacher's target, so their gap is what the
teacher's probabilities add beyond its argmax ("dark knowledge"). Every run is one ``RunSpec``;
``RunRecord`` keeps finished runs in a JSON file (append-only, a rerun skips what is there) and
``summarise`` turns them into mean ± std over seeds.

    setup = make_setup("sst2")                       # teacher, transfer set, its cached logits
    accuracy = train_run(setup, RunSpec("sst2", "teacher", "soft", n_gold=500, seed=0))
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
from torch import nn

from ..core import data as data_lib
from ..core import losses, records
from ..core.comparison import paired_difference, verdict
from ..core.config import Settings, Weights
from ..core.errors import TinyBertLabError, reject_unknown_keys

SOURCES = ("gold", "hard", "soft")
STARTS = ("random", "teacher")
SOURCE_NAMES = {"gold": "gold labels only", "hard": "teacher's hard pseudo-labels + gold",
                "soft": "teacher's soft targets (KD) + gold"}
START_NAMES = {"random": "random weights", "teacher": "teacher-projected start"}
# Learning rate per start, the same for every label source: the best of the labels-only sweep in
# benchmarks/distill_vs_labels.py (random init: 3e-4 of 1e-4/3e-4/1e-3; teacher init: 1e-4).
LEARNING_RATES = {"random": 3e-4, "teacher": 1e-4}
# The committed record of benchmarks/when_kd_pays.py, which notebook 10 plots.
BENCHMARK_RECORD = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "when_kd_pays.json"


# --------------------------------------------------------------------------------------------
# The objective
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceWeights(Weights):
    """``TransferObjective``'s terms: the teacher's labels and the known gold labels, both 1."""

    teacher: float = 1.0
    gold: float = 1.0

    _what = "TransferObjective weight"


class TransferObjective(nn.Module):
    """Train ``student`` on a transfer set labelled by the teacher (for ``training.fit``).

    Terms (each a sum over its examples divided by the batch size, so they add up to one
    per-example mean): ``teacher``: the teacher's target on every example (``source="soft"``:
    ``T²·KL(p_T ‖ p_S)`` at ``temperature``; ``"hard"``: cross-entropy with the teacher's argmax);
    ``gold``: cross-entropy on the examples whose gold label is known (label ≥ 0). The teacher's
    logits come from a ``core.logit_cache.TeacherLogitCache`` built on the whole transfer set, looked up
    by example id.
    """

    def __init__(self, student, logit_cache, *, source: str = "soft", temperature: float = 1.0,
                 weights: SourceWeights | dict | None = None):
        super().__init__()
        if source not in ("hard", "soft"):
            raise TinyBertLabError(f"TransferObjective source must be 'hard' or 'soft', got {source!r} "
                                   "('gold' needs no teacher: use training.LabelObjective on the gold examples).")
        if not temperature > 0:
            raise TinyBertLabError(f"temperature must be positive, got {temperature!r}.")
        self.student, self.logit_cache = student, logit_cache
        self.source, self.temperature = source, float(temperature)
        self.weights = SourceWeights.coerce(weights).active()

    def loss_terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        student_logits = self.student(**data_lib.model_inputs(batch)).logits
        teacher_logits = self.logit_cache.lookup(batch["idx"]).to(student_logits)
        if self.source == "soft":
            teacher_term = losses.soft_kl(student_logits, teacher_logits, self.temperature)
        else:
            teacher_term = losses.pseudo_label_ce(student_logits, teacher_logits)
        terms = {"teacher": teacher_term, "gold": losses.known_label_ce(student_logits, batch["labels"])}
        return {name: term for name, term in terms.items() if name in self.weights}


def gold_ids(encoded, n_gold: int, seed: int) -> list[int]:
    """The example ids (``idx``) that keep their gold label: ``n_gold`` drawn by ``seed``
    (all of them when ``n_gold`` ≥ the transfer set's size)."""
    ids = list(encoded["idx"])
    if not isinstance(n_gold, int) or isinstance(n_gold, bool) or n_gold <= 0:
        raise TinyBertLabError(f"n_gold must be a positive number of labelled examples, got {n_gold!r}.")
    if n_gold >= len(ids):
        return sorted(ids)
    order = torch.randperm(len(ids), generator=torch.Generator().manual_seed(10_007 * seed + 1)).tolist()
    return sorted(ids[i] for i in order[:n_gold])


def hide_labels(encoded, keep: list[int]):
    """A copy of ``encoded`` where only the examples with ids in ``keep`` keep their label; the
    others get ``-1`` (unknown)."""
    import datasets

    keep = set(keep)
    columns = {name: list(encoded[name]) for name in encoded.column_names}
    columns["label"] = [y if i in keep else -1 for y, i in zip(columns["label"], columns["idx"])]
    return datasets.Dataset.from_dict(columns)  # rebuilt, not add_column: no progress bar in a notebook


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSpec(Settings):
    """One training run: ``task`` (``sst2``/``trec``), ``start`` (``random``/``teacher``),
    ``source`` (``gold``/``hard``/``soft``), ``n_gold`` labelled examples, ``seed`` (draws the
    gold examples, the student's random weights and the batch order), ``steps``, ``temperature``
    (soft targets only) and ``learning_rate`` (None: ``LEARNING_RATES[start]``)."""

    task: str
    start: str
    source: str
    n_gold: int
    seed: int
    steps: int = 600
    temperature: float = 1.0
    learning_rate: float | None = None

    def check(self):
        self.require_choice("start", STARTS)
        self.require_choice("source", SOURCES)
        self.require_int("n_gold", "steps")
        self.require_int("seed", minimum=0)
        self.require_number("temperature", low_open=True)
        if self.learning_rate is None:
            object.__setattr__(self, "learning_rate", LEARNING_RATES[self.start])
        self.require_number("learning_rate", low_open=True)

    @property
    def key(self) -> str:
        return (f"{self.task}/{self.start}/{self.source}/n{self.n_gold}/seed{self.seed}/steps{self.steps}"
                f"/T{self.temperature:g}/lr{self.learning_rate:g}")

    @classmethod
    def from_dict(cls, values: dict) -> "RunSpec":
        """A spec from a stored run; result keys (accuracy, seconds...) are skipped, others refused."""
        names = {f.name for f in fields(cls)}
        reject_unknown_keys(values, names | _RESULT_KEYS, cls.__name__)
        return cls(**{k: v for k, v in values.items() if k in names})


_RESULT_KEYS = {"accuracy", "seconds", "teacher_accuracy", "transfer_size", "eval_size", *records.STAMPS}


@dataclass
class Setup:
    """What every run of one task shares: tokenizer, fine-tuned teacher, the transfer set (raw and
    encoded), the teacher's logits on it, the evaluation split, and the teacher's accuracy there."""

    task: str
    tokenizer: object
    teacher: object
    transfer: object
    encoded: object
    logits: object
    eval_data: object
    teacher_accuracy: float
    batch_size: int = 32


def load_task(task: str, plan=None):
    """``(transfer set, evaluation split)`` of a task: ``sst2`` → the tutorial's training subset
    (20,000 sentences in full mode) and SST-2 dev; ``trec`` → TREC train (5,452) and TREC 10 (500)."""
    from ..core.settings import tutorial_plan

    plan = plan or tutorial_plan()
    if task == "sst2":
        splits = data_lib.load_sst2()
        return data_lib.subsample(splits["train"], plan.train_size, seed=0), data_lib.subsample(
            splits["validation"], plan.dev_size)
    if task == "trec":
        splits = data_lib.load_trec()
        train = splits["train"] if not plan.fast else data_lib.subsample(splits["train"], plan.train_size, seed=0)
        return train, data_lib.subsample(splits["test"], plan.dev_size)
    raise TinyBertLabError(f"Unknown task {task!r}: choose 'sst2' or 'trec'.")


def fine_tuned_teacher(task: str, plan=None, *, progress: bool = False):
    """The offline MiniLM fine-tuned on ``task`` (cached after the first call): for SST-2 the
    tutorial's teacher; for TREC the same recipe (400 steps in full mode) on TREC's training set."""
    from ..core import training
    from ..teaching import tutorial
    from ..core.settings import tutorial_plan

    plan = plan or tutorial_plan()
    if task == "sst2":
        return tutorial.fine_tuned_teacher(plan, progress=progress)
    train, test = load_task("trec", plan)
    return training.fine_tune_teacher(train_data=train, eval_data=test, config=tutorial.teacher_config(plan),
                                     progress=progress)


def make_setup(task: str, plan=None, *, progress: bool = False) -> Setup:
    """Everything the runs of ``task`` share, built once (teacher and logits come from the cache)."""
    from ..core import evaluation, logit_cache, models
    from ..core.settings import tutorial_plan

    plan = plan or tutorial_plan()
    tokenizer = models.load_tokenizer()
    teacher = fine_tuned_teacher(task, plan, progress=progress).model
    transfer, eval_data = load_task(task, plan)
    encoded = data_lib.encode(transfer, tokenizer)
    logits = logit_cache.TeacherLogitCache.build(teacher, encoded, tokenizer)
    accuracy = evaluation.evaluate(teacher, eval_data, tokenizer).accuracy
    return Setup(task, tokenizer, teacher, transfer, encoded, logits, eval_data, accuracy, plan.batch_size)


def smaller(setup: Setup, transfer_size: int, seed: int = 0) -> Setup:
    """The same setup with a seeded subset of ``transfer_size`` transfer examples (a quick live
    run); the teacher's cached logits are shared, since they are looked up by example id."""
    if transfer_size >= len(setup.encoded):
        return setup
    rows = sorted(torch.randperm(len(setup.encoded), generator=torch.Generator().manual_seed(seed))[:transfer_size].tolist())
    return replace(setup, transfer=setup.transfer.select(rows), encoded=setup.encoded.select(rows))


def confidence_bands(setup: Setup, edges=(0.5, 0.7, 0.9, 1.0)) -> list[tuple[float, float, int, float]]:
    """How sure the teacher is on the transfer set, and how often its argmax is then right:
    ``(low, high, sentences, accuracy)`` per band of top-class probability (the last band
    includes 1.0). Uses the cached logits and the transfer set's (hidden) gold labels."""
    probabilities = setup.logits.lookup(torch.tensor(list(setup.encoded["idx"]))).softmax(-1)
    confidence, predicted = probabilities.max(-1)
    right = predicted == torch.tensor(list(setup.encoded["label"]))
    bands = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence >= low) & ((confidence < high) if high < edges[-1] else (confidence <= high))
        count = int(inside.sum())
        bands.append((low, high, count, right[inside].float().mean().item() if count else float("nan")))
    return bands


def starting_student(setup: Setup, start: str, seed: int):
    """The student every label source starts from: TinyBERT-4 with random weights (``seed``), or
    projected from the teacher's weights (``recipe.start``, notebook 06's start)."""
    from ..methods import recipe

    return recipe.start(start, setup.teacher, setup.tokenizer, setup.transfer, seed=seed).student


def train_run(setup: Setup, spec: RunSpec, *, progress: bool = False) -> dict:
    """Train one run and evaluate it; returns ``{"accuracy", "seconds"}``."""
    from ..core import evaluation, training

    if spec.task != setup.task:
        raise TinyBertLabError(f"This setup is for {setup.task!r}, the run is for {spec.task!r}.")
    student = starting_student(setup, spec.start, spec.seed)
    keep = gold_ids(setup.encoded, spec.n_gold, spec.seed)
    config = training.TrainConfig(steps=spec.steps, batch_size=setup.batch_size, learning_rate=spec.learning_rate,
                                  seed=spec.seed, log_every=max(spec.steps // 20, 1))
    if spec.source == "gold":
        keep_set = set(keep)
        rows = [row for row, i in enumerate(list(setup.encoded["idx"])) if i in keep_set]
        objective, encoded = training.LabelObjective(student), setup.encoded.select(rows)
    else:
        objective = TransferObjective(student, setup.logits, source=spec.source, temperature=spec.temperature)
        encoded = hide_labels(setup.encoded, keep)
    history = training.fit(objective, encoded, setup.tokenizer, config, progress=progress,
                           description=f"{spec.source} ({spec.start} start)")
    accuracy = evaluation.evaluate(student, setup.eval_data, setup.tokenizer).accuracy
    return {"accuracy": accuracy, "seconds": round(history.seconds, 1), "model": student}


# --------------------------------------------------------------------------------------------
# The record: every finished run, appended, so a long sweep resumes
# --------------------------------------------------------------------------------------------
class RunRecord(records.RunRecord):
    """Finished ``RunSpec`` runs in a JSON file (see ``tinybert_lab.records``): two runs are the
    same run when their specs have the same ``key``."""

    def __init__(self, path: str | Path, *, command: str = ""):
        super().__init__(path, key=lambda run: RunSpec.from_dict(run).key, command=command)


def load_record(path: str | Path = BENCHMARK_RECORD) -> dict:
    """The stored record as plain data (``command``, ``machine``, ``runs``), for a notebook to plot."""
    path = Path(path)
    if not path.is_file():
        raise TinyBertLabError(f"No benchmark record at {path}. Produce it with benchmarks/when_kd_pays.py.")
    return json.loads(path.read_text())


# --------------------------------------------------------------------------------------------
# Summaries and noise
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    """Mean and standard deviation (over seeds, in accuracy units) of one (task, start, source,
    n_gold) setting, with the seeds' accuracies in seed order."""

    task: str
    start: str
    source: str
    n_gold: int
    mean: float
    std: float
    accuracies: tuple[float, ...]
    seeds: tuple[int, ...]

    @property
    def start_label(self) -> str:
        """The start in words, as figures and sentences name it."""
        return START_NAMES[self.start]

    @property
    def source_label(self) -> str:
        return SOURCE_NAMES[self.source]


def summarise(runs: list[dict], *, steps: int | None = None, temperature: float | None = None) -> list[Cell]:
    """Group runs by (task, start, source, n_gold) and give each group's mean ± std over seeds
    (sample std; 0 for one seed). ``steps`` / ``temperature`` keep only runs with those values."""
    groups: dict[tuple, dict[int, float]] = {}
    for run in runs:
        if steps is not None and run["steps"] != steps:
            continue
        if temperature is not None and run["temperature"] != temperature:
            continue
        groups.setdefault((run["task"], run["start"], run["source"], run["n_gold"]), {})[run["seed"]] = run["accuracy"]
    cells = []
    for (task, start, source, n_gold), by_seed in sorted(groups.items()):
        seeds = tuple(sorted(by_seed))
        values = tuple(by_seed[s] for s in seeds)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        cells.append(Cell(task, start, source, n_gold, statistics.mean(values), std, values, seeds))
    return cells


def run_grid(setup: Setup, specs: list[RunSpec], record: RunRecord | None = None, *, log=None) -> list[dict]:
    """Train every spec not yet in ``record`` (in the given order), appending each as it finishes;
    return the runs of all ``specs`` (stored or new). ``log``: called with one line per new run
    (e.g. ``print``; default: silent)."""
    results = []
    for spec in specs:
        stored = record.find(asdict(spec)) if record is not None else None
        if stored is None:
            started = time.perf_counter()
            result = train_run(setup, spec)
            result.pop("model")
            extra = {"teacher_accuracy": round(setup.teacher_accuracy, 6), "transfer_size": len(setup.encoded),
                     "eval_size": len(setup.eval_data)}
            run = {**asdict(spec), "accuracy": round(float(result["accuracy"]), 6), "seconds": result.get("seconds"), **extra}
            stored = record.add(run) if record is not None else run
            if log is not None:
                log(f"  {spec.key}: {stored['accuracy']:.2%} ({time.perf_counter() - started:.0f} s)")
        results.append(stored)
    return results


def cell(cells: list[Cell], task: str, start: str, source: str, n_gold: int) -> Cell | None:
    """The summary cell of one setting, or None when the record has no run of it."""
    return next((c for c in cells if (c.task, c.start, c.source, c.n_gold) == (task, start, source, n_gold)), None)


def compare(cells: list[Cell], task: str, start: str, n_gold: int, better: str = "soft", worse: str = "gold") -> str:
    """One plain sentence comparing two label sources from the same start over the seeds they
    share: the paired difference in points, its std, and ``verdict``'s words."""
    a, b = cell(cells, task, start, better, n_gold), cell(cells, task, start, worse, n_gold)
    if a is None or b is None:
        return f"{SOURCE_NAMES[better]} vs {SOURCE_NAMES[worse]} ({START_NAMES[start]}, {n_gold} gold): not in the record yet."
    mean, std, count = paired_difference(a, b)
    return (f"{START_NAMES[start]}, {n_gold} gold labels: {SOURCE_NAMES[better]} {100 * a.mean:.1f} % vs "
            f"{SOURCE_NAMES[worse]} {100 * b.mean:.1f} %, difference {100 * mean:+.1f} ± {100 * std:.1f} points "
            f"over {count} seeds: {verdict(mean, std, count)}.")
