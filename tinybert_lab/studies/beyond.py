"""Beyond TinyBERT: more distillation methods, each trained on SST-2 at one budget.

``run(method, setup)`` trains what a method needs and returns ``{row name: trained model}``;
each row is saved under the plan's artifacts (``beyond/<row>``) with its dev accuracy, so a
rerun (or a restarted kernel) loads finished rows instead of training them again.
``results_table(trained, setup)`` times them all side by side (``evaluation.benchmark_inference``).

Every row trains for ``setup.steps`` optimizer steps on the same sentences and batch size; the
TinyBERT-4 rows start from the teacher (``recipe.start``), as in notebook 06, so
their differences are the method's, not the initialisation's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..methods import augment, bilstm, tinybert, distilbert, objectives, recipe
from ..core import data, evaluation, logit_cache, models, training
from ..core.errors import TinyBertLabError
from ..core.settings import FULL_PLAN, TutorialPlan, tutorial_plan

METHODS: dict[str, str] = {
    "reference": "TinyBERT-4 (teacher init) on labels alone, and with prediction-layer KD: the rows to beat.",
    "distilbert": "DistilBERT: a 3-layer student copied from every other layer of the pre-trained teacher, "
                  "then trained with 5·T²·KL + 1·cosine(hidden states) from the fine-tuned teacher. "
                  "'labels only' shows what the copied initialisation alone buys.",
    "bilstm": "Tang et al.: a one-layer BiLSTM (teacher's word embeddings) trained on the teacher's logits "
              "(MSE), next to the same BiLSTM on labels alone.",
    "augmentation": "TinyBERT's data augmentation: every sentence plus 4 copies with words swapped for "
                    "their nearest neighbours in the teacher's embedding table, labelled by the teacher.",
    "rkd": "Relational KD: the student copies the distances and angles between the sentences of a batch "
           "(teacher [CLS] vectors), plus the labels.",
    "mutual": "Deep mutual learning: two randomly initialised students learn together from the labels and "
              "from each other, no teacher; next to one trained alone.",
    "multi_teacher": "Two teachers (MiniLM fine-tuned with seeds 0 and 1): the student matches their "
                     "averaged soft targets.",
    "minilm": "MiniLMv2: the student matches the teacher's last-layer self-attention relations (Q·Qᵀ, K·Kᵀ, "
              "V·Vᵀ over 24 relation heads), plus the labels; no projection, any width and head count.",
    "patient": "Patient KD: the DistilBERT-3 student matches the teacher's normalised [CLS] states at "
               "intermediate layers (PKD-skip: layers 2, 4; PKD-last: 4, 5), plus soft and hard labels.",
    "assistant": "Teacher assistant: a 2-layer, 128-wide BERT-Tiny learns from the teacher directly, or from a "
                 "TinyBERT-4 assistant distilled from the teacher first.",
    "mobilebert": "MobileBERT's way: a student as deep as the teacher (6 layers) but 96 wide inside each layer, "
                  "with linear bottlenecks back to the teacher's width; feature maps and attention transferred "
                  "layer by layer (lower layers frozen) or all at once, then prediction KD; next to labels alone.",
}


@dataclass
class Setup:
    """What every method shares: data, teacher, tokenizer, budget and where rows are saved."""

    plan: TutorialPlan
    tokenizer: object
    teacher: object
    train: object
    dev: object
    steps: int
    folder: Path
    seed: int = 0
    _cache: dict = field(default_factory=dict, repr=False)

    def config(self, learning_rate: float = 1e-4, **kw) -> training.TrainConfig:
        return training.TrainConfig(steps=self.steps, batch_size=self.plan.batch_size, learning_rate=learning_rate,
                                    log_every=max(self.steps // 20, 1), seed=self.seed, **kw)

    @property
    def encoded(self):
        if "encoded" not in self._cache:
            self._cache["encoded"] = data.encode(self.train, self.tokenizer)
        return self._cache["encoded"]

    @property
    def logits(self) -> logit_cache.TeacherLogitCache:
        """The teacher's logits on the training sentences (computed once, kept on disk)."""
        if "logits" not in self._cache:
            self._cache["logits"] = logit_cache.TeacherLogitCache.build(self.teacher, self.encoded, self.tokenizer)
        return self._cache["logits"]

    def tinybert(self):
        """A TinyBERT-4 started from the teacher (notebook 06's start, ``recipe.start``), built
        once; each call returns a fresh copy of it."""
        if "start" not in self._cache:
            self._cache["start"] = recipe.start("teacher", self.teacher, self.tokenizer, self.train)
        return recipe.same_start(self._cache["start"])


def setup(plan: TutorialPlan | None = None, *, steps: int | None = None, progress: bool = True, seed: int = 0) -> Setup:
    """The tutorial's data and fine-tuned teacher; ``steps`` default: the plan's ``beyond_steps``.

    ``seed`` sets every row's batch order and dropout, and the random starts (BiLSTM, mutual
    learning); teacher-initialised starts are the same for every seed. Seed 0's rows are saved in
    ``beyond/``, other seeds' in ``beyond/seed<n>/``."""
    from ..teaching import tutorial

    plan = plan or tutorial_plan()
    train, dev = tutorial.load_data(plan)
    teacher = tutorial.fine_tuned_teacher(plan, progress=progress).model
    folder = plan.artifacts / "beyond" / ("" if seed == 0 else f"seed{seed}")
    return Setup(plan, models.load_tokenizer(), teacher, train, dev, steps or plan.beyond_steps, folder, seed)


# --------------------------------------------------------------------------------------------
# One function per method: train, return {row name: model}
# --------------------------------------------------------------------------------------------
# Each method's rows and the row it must beat: the same student from the same start, same data and
# steps, trained on labels alone (augmentation, RKD and two teachers share notebook 06's start).
BASELINES: dict[str, str] = {
    "TinyBERT-4, prediction KD": "TinyBERT-4, labels only",
    "DistilBERT-3, KD + cosine": "DistilBERT-3 init, labels only",
    "BiLSTM, logit MSE (Tang)": "BiLSTM, labels only",
    "TinyBERT-4, RKD + labels": "TinyBERT-4, labels only",
    "TinyBERT-4 random init, mutual learning (a)": "TinyBERT-4 random init, labels alone",
    "TinyBERT-4 random init, mutual learning (b)": "TinyBERT-4 random init, labels alone",
    "TinyBERT-4, KD from 2 teachers": "TinyBERT-4, labels only",
    "TinyBERT-4, MiniLMv2 relations + labels": "TinyBERT-4, labels only",
    "TinyBERT-4 6 heads random init, MiniLMv2 relations + labels": "TinyBERT-4 6 heads random init, labels only",
    "DistilBERT-3, PKD-skip": "DistilBERT-3 init, labels only",
    "DistilBERT-3, PKD-last": "DistilBERT-3 init, labels only",
    "BERT-Tiny, KD from the teacher": "BERT-Tiny random init, labels only",
    "BERT-Tiny, KD via a TinyBERT-4 assistant": "BERT-Tiny random init, labels only",
    "MobileBERT-6 narrow, progressive transfer + KD": "MobileBERT-6 narrow, labels only",
    "MobileBERT-6 narrow, all layers at once + KD": "MobileBERT-6 narrow, labels only",
}
AUGMENTATION_BASELINE = "TinyBERT-4, labels only"  # the augmentation row's name depends on the data size


def baseline_of(row: str) -> str | None:
    """The labels-only row a method's row is compared with (None for a baseline itself)."""
    if row.startswith("TinyBERT-4, KD on"):
        return AUGMENTATION_BASELINE
    return BASELINES.get(row)


def _reference(s: Setup) -> dict:
    labels = s.tinybert()
    training.fit(training.LabelObjective(labels), s.encoded, s.tokenizer, s.config(), progress=False)
    kd = s.tinybert()
    distiller = tinybert.Distiller(kd, s.teacher, logit_cache=s.logits)
    distiller.configure(tinybert.DistillConfig(steps=s.steps, weights=tinybert.PREDICTION))
    training.fit(distiller, s.encoded, s.tokenizer, s.config(), progress=False)
    return {"TinyBERT-4, labels only": labels, "TinyBERT-4, prediction KD": kd}


def _distilbert(s: Setup) -> dict:
    pretrained = models.load_teacher(num_labels=s.teacher.config.num_labels)
    labels = distilbert.student_from_teacher(pretrained)
    training.fit(training.LabelObjective(labels), s.encoded, s.tokenizer, s.config(), progress=False)
    kd = distilbert.student_from_teacher(pretrained)
    objective = distilbert.DistilBertObjective(kd, s.teacher, mode="task", weights=distilbert.TASK_WEIGHTS)
    training.fit(objective, s.encoded, s.tokenizer, s.config(), progress=False)
    return {"DistilBERT-3 init, labels only": labels, "DistilBERT-3, KD + cosine": kd}


def _bilstm(s: Setup) -> dict:
    rows = {}
    for name, weights in (("BiLSTM, labels only", {"hard_label": 1.0}), ("BiLSTM, logit MSE (Tang)", {"logit_mse": 1.0})):
        student = bilstm.build_bilstm(s.tokenizer, seed=s.seed, teacher=s.teacher, embedding_dim=s.teacher.config.hidden_size)
        objective = bilstm.LogitMatching(student, logit_cache=s.logits, weights=weights)
        training.fit(objective, s.encoded, s.tokenizer, s.config(learning_rate=3e-3), progress=False)
        rows[name] = student
    return rows


def _augmentation(s: Setup) -> dict:
    source = data.subsample(s.train, s.plan.augment_size, seed=0)
    transfer = augment.transfer_set(source, s.tokenizer, s.teacher, config={"n_per_sentence": 4}, persist=True)
    student = s.tinybert()
    distiller = tinybert.Distiller(student, s.teacher, logit_cache=transfer.logits)
    distiller.configure(tinybert.DistillConfig(steps=s.steps, weights=tinybert.PREDICTION))
    training.fit(distiller, transfer.encoded, s.tokenizer, s.config(), progress=False)
    return {f"TinyBERT-4, KD on {len(source)} sentences × augmentation ({len(transfer.encoded)} rows)": student}


def _rkd(s: Setup) -> dict:
    student = s.tinybert()
    objective = objectives.RelationalObjective(student, s.teacher)
    training.fit(objective, s.encoded, s.tokenizer, s.config(), progress=False)
    return {"TinyBERT-4, RKD + labels": student}


def _mutual(s: Setup) -> dict:
    alone = models.build_student("tinybert4", tokenizer=s.tokenizer, seed=s.seed)
    training.fit(training.LabelObjective(alone), s.encoded, s.tokenizer, s.config(learning_rate=3e-4), progress=False)
    a = models.build_student("tinybert4", tokenizer=s.tokenizer, seed=s.seed)
    b = models.build_student("tinybert4", tokenizer=s.tokenizer, seed=s.seed + 1)
    training.fit(objectives.MutualLearning(a, b), s.encoded, s.tokenizer, s.config(learning_rate=3e-4), progress=False)
    return {"TinyBERT-4 random init, labels alone": alone, "TinyBERT-4 random init, mutual learning (a)": a,
            "TinyBERT-4 random init, mutual learning (b)": b}


def second_teacher(s: Setup, seed: int = 1):
    """The MiniLM fine-tuned like the tutorial's teacher but from another seed (cached)."""
    from ..teaching.tutorial import teacher_config

    splits = data.load_sst2()
    train = data.subsample(splits["train"], s.plan.teacher_train_size, seed=0)
    config = training.TrainConfig.from_dict({**teacher_config(s.plan).to_dict(), "seed": seed})
    return training.fine_tune_teacher(models.load_teacher(seed=seed), tokenizer=s.tokenizer, train_data=train,
                                     eval_data=s.dev, config=config, progress=False).model


def _multi_teacher(s: Setup) -> dict:
    other = logit_cache.TeacherLogitCache.build(second_teacher(s), s.encoded, s.tokenizer)
    student = s.tinybert()
    objective = objectives.MultiTeacherObjective(student, [s.logits, other])
    training.fit(objective, s.encoded, s.tokenizer, s.config(), progress=False)
    return {"TinyBERT-4, KD from 2 teachers": student}


def _minilm(s: Setup) -> dict:
    from ..methods.minilm import MiniLMObjective

    projected = s.tinybert()  # the reference rows' start: its baseline is "TinyBERT-4, labels only"
    training.fit(MiniLMObjective(projected, s.teacher), s.encoded, s.tokenizer, s.config(), progress=False)
    rows = {"TinyBERT-4, MiniLMv2 relations + labels": projected}
    for name, relations in (("labels only", False), ("MiniLMv2 relations + labels", True)):
        student = models.build_student("tinybert4", tokenizer=s.tokenizer, seed=s.seed, num_attention_heads=6)
        objective = MiniLMObjective(student, s.teacher) if relations else training.LabelObjective(student)
        training.fit(objective, s.encoded, s.tokenizer, s.config(learning_rate=3e-4), progress=False)
        rows[f"TinyBERT-4 6 heads random init, {name}"] = student
    return rows


def _patient(s: Setup) -> dict:
    from ..methods.patient import PatientObjective

    pretrained = models.load_teacher(num_labels=s.teacher.config.num_labels)
    rows = {}
    for strategy in ("skip", "last"):
        student = distilbert.student_from_teacher(pretrained)
        training.fit(PatientObjective(student, s.teacher, strategy=strategy), s.encoded, s.tokenizer, s.config(),
                     progress=False)
        rows[f"DistilBERT-3, PKD-{strategy}"] = student
    return rows


TINY_LEARNING_RATE = 1e-3  # BERT-Tiny starts from random weights: every BERT-Tiny row uses this rate


def _assistant(s: Setup) -> dict:
    from ..methods.assistant import teacher_assistant_chain

    def tiny():
        return models.build_student("bert_tiny", tokenizer=s.tokenizer, seed=s.seed)

    def stage(learning_rate):
        return tinybert.DistillConfig(steps=s.steps, batch_size=s.plan.batch_size, learning_rate=learning_rate,
                                     weights=tinybert.PREDICTION, seed=s.seed, log_every=max(s.steps // 20, 1))

    labels = tiny()
    training.fit(training.LabelObjective(labels), s.encoded, s.tokenizer, s.config(learning_rate=TINY_LEARNING_RATE),
                 progress=False)
    direct = tiny()
    distiller = tinybert.Distiller(direct, s.teacher, logit_cache=s.logits)
    distiller.configure(stage(TINY_LEARNING_RATE))
    training.fit(distiller, s.encoded, s.tokenizer, s.config(learning_rate=TINY_LEARNING_RATE), progress=False)
    chained = tiny()
    teacher_assistant_chain(s.teacher, s.tinybert(), chained, s.train, s.tokenizer, stage=stage(1e-4),
                            student_stage=stage(TINY_LEARNING_RATE), seed=s.seed, progress=False)
    return {"BERT-Tiny random init, labels only": labels, "BERT-Tiny, KD from the teacher": direct,
            "BERT-Tiny, KD via a TinyBERT-4 assistant": chained}


def _mobilebert(s: Setup) -> dict:
    from ..methods import mobilebert

    layers = s.teacher.config.num_hidden_layers
    per_layer = max(s.steps // (2 * layers), 1)  # half the budget transfers features, half distils predictions
    prediction = max(s.steps - per_layer * layers, 1)
    rows = {}
    labels = mobilebert.build_mobile_student(s.teacher, seed=s.seed)
    training.fit(training.LabelObjective(labels), s.encoded, s.tokenizer, s.config(learning_rate=3e-4), progress=False)
    rows["MobileBERT-6 narrow, labels only"] = labels
    for name, stages in (("progressive transfer + KD", mobilebert.progressive_stages(layers, per_layer, prediction)),
                         ("all layers at once + KD", mobilebert.all_at_once_stages(layers, per_layer * layers, prediction))):
        student = mobilebert.build_mobile_student(s.teacher, seed=s.seed)
        mobilebert.run_stages(student, s.teacher, stages, s.encoded, s.tokenizer, s.config(learning_rate=3e-4))
        rows[f"MobileBERT-6 narrow, {name}"] = student
    return rows


_RUNNERS = {"reference": _reference, "distilbert": _distilbert, "bilstm": _bilstm, "augmentation": _augmentation,
            "rkd": _rkd, "mutual": _mutual, "multi_teacher": _multi_teacher, "minilm": _minilm, "patient": _patient,
            "assistant": _assistant, "mobilebert": _mobilebert}


# --------------------------------------------------------------------------------------------
# Running and saving
# --------------------------------------------------------------------------------------------
def _slug(row: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in row.lower()).strip("_")


def _load(folder: Path):
    config = json.loads((folder / "config.json").read_text())
    if config.get("model_type") == "bilstm":
        return bilstm.BiLSTMStudent.from_pretrained(folder)
    if config.get("model_type") == "mobilebert-lite":
        from ..methods.mobilebert import MobileStudent

        return MobileStudent.from_pretrained(folder)
    return models.load_classifier(folder, num_labels=config.get("num_labels", 2))


def run(method: str, s: Setup) -> dict:
    """Train ``method``'s rows (or load them if a previous run finished them): ``{row: model}``.

    Each model's dev accuracy is stored beside it in ``accuracy.json``; see ``accuracies``.
    """
    if method not in _RUNNERS:
        raise TinyBertLabError(f"Unknown method {method!r}. Choose one of: {', '.join(METHODS)}.")
    index = s.folder / method / "rows.json"
    if index.is_file():
        rows = json.loads(index.read_text())
        return {row: _load(s.folder / method / _slug(row)) for row in rows}
    trained = _RUNNERS[method](s)
    for row, model in trained.items():
        folder = s.folder / method / _slug(row)
        with models.quiet_transformers():
            model.save_pretrained(folder)
        accuracy = evaluation.evaluate(model, s.dev, s.tokenizer).accuracy
        (folder / "accuracy.json").write_text(json.dumps({"accuracy": accuracy, "steps": s.steps}))
    index.write_text(json.dumps(list(trained)))  # written last: the method counts as done only now
    return trained


def accuracies(method: str, s: Setup) -> dict[str, float]:
    """``{row: dev accuracy}`` of a method that ``run`` has finished."""
    index = s.folder / method / "rows.json"
    if not index.is_file():
        raise TinyBertLabError(f"Method {method!r} has not run yet: call beyond.run({method!r}, setup) first.")
    return {row: json.loads((s.folder / method / _slug(row) / "accuracy.json").read_text())["accuracy"]
            for row in json.loads(index.read_text())}


def live_methods(s: Setup) -> list[str]:
    """The methods notebook 09 trains live in this mode (the plan's ``beyond_live``; all of them
    in fast mode and with ``TINYBERT_LAB_FULL_SIZE=1``). A list the learner may extend."""
    return list(s.plan.beyond_live) if s.plan.beyond_live is not None else list(METHODS)


def show(method: str, s: Setup, trained: dict, live: list[str]) -> None:
    """Notebook 09's cell for one method: when ``method`` is in ``live``, train it (``run``: a
    finished run is loaded), add its models to ``trained`` and print each row's dev accuracy;
    either way print the committed record's full-size result for its rows (mean ± std over seeds)."""
    if method not in METHODS:
        raise TinyBertLabError(f"Unknown method {method!r}. Choose one of: {', '.join(METHODS)}.")
    if method in live:
        if not (s.folder / method / "rows.json").is_file():
            from ..teaching import tutorial

            tutorial.expect(f"09-{method}", f"training {method}'s rows")
        trained[method] = run(method, s)
        print(f"trained here (seed {s.seed}, {s.steps} steps, {len(s.train):,} sentences), dev accuracy:")
        for row, accuracy in accuracies(method, s).items():
            print(f"  {row}: {accuracy:.2%}")
    else:
        print(f"not trained here in this mode (add {method!r} to `live` above to train it, or set "
              "TINYBERT_LAB_FULL_SIZE=1 to train every method)")
    recorded = [r for r in seeded_rows(_record_runs(), FULL_PLAN.beyond_steps) if r.method == method]
    if recorded:
        print(f"full size from the record ({FULL_PLAN.beyond_steps} steps, mean ± std over seeds; "
              f"`python {SEED_BENCHMARK}` reproduces it):")
        for r in recorded:
            versus = (f"; {100 * r.difference:+.1f} ± {100 * r.difference_std:.1f} points vs labels only ({r.verdict})"
                      if r.difference is not None else "")
            print(f"  {r.row}: {r.mean:.2%} ± {r.std:.2%} ({len(r.seeds)} seeds){versus}")
    else:
        print(f"(no full-size record of {method!r} yet: python {SEED_BENCHMARK} --methods {method})")


def shape_speeds(s: Setup) -> evaluation.ResultsTable:
    """Model-only speed and size of two student shapes with the same teacher, measured on dev
    beside it: TinyBERT-4 (4 layers, wide) and MobileBERT-6 (6 layers, narrow inside). Speed and
    size do not depend on the weights, so the students are timed as built, untrained: this table
    needs no training, whichever methods ran live."""
    from ..methods import mobilebert

    shapes = {"teacher (MiniLM-L6, fine-tuned)": s.teacher, "TinyBERT-4 (4 layers, 312 wide)": s.tinybert(),
              "MobileBERT-6 narrow (6 layers, 96 wide inside)": mobilebert.build_mobile_student(s.teacher, seed=s.seed)}
    return evaluation.benchmark_inference(shapes, s.dev, s.tokenizer, repeats=1 if s.plan.fast else 3)


def results_table(trained: dict[str, dict], s: Setup) -> evaluation.ResultsTable:
    """One table for every method's rows (``{method: {row: model}}``), teacher first.

    Rows get a ``method`` key, so a widget can pick out one method's rows.
    """
    all_models = {"teacher (MiniLM-L6, fine-tuned)": s.teacher}
    accuracy = {"teacher (MiniLM-L6, fine-tuned)": evaluation.evaluate(s.teacher, s.dev, s.tokenizer).accuracy}
    method_of = {}
    for method, rows in trained.items():
        all_models.update(rows)
        accuracy.update(accuracies(method, s))
        method_of.update({row: method for row in rows})
    table = evaluation.benchmark_inference(all_models, s.dev, s.tokenizer, accuracy=accuracy)
    for row in table.rows:
        row["method"] = method_of.get(row["model"], "teacher")
    return table


# --------------------------------------------------------------------------------------------
# Over seeds: every row next to its own baseline
# --------------------------------------------------------------------------------------------
SEED_RECORD = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "beyond_seeds.json"
SEED_BENCHMARK = "benchmarks/beyond_seeds.py"


def _record_runs() -> list[dict]:
    return json.loads(SEED_RECORD.read_text())["runs"] if SEED_RECORD.is_file() else []


@dataclass(frozen=True)
class SeededRow:
    """One row over seeds: ``mean`` ± ``std`` accuracy, and (for a method's row) its paired
    difference with ``baseline`` over the shared seeds and ``verdict``'s words for it."""

    method: str
    row: str
    mean: float
    std: float
    seeds: tuple[int, ...]
    baseline: str | None = None
    difference: float | None = None
    difference_std: float | None = None
    verdict: str | None = None


def seeded_rows(runs: list[dict], steps: int | None = None) -> list[SeededRow]:
    """Summarise ``{method, row, seed, steps, accuracy}`` runs (``benchmarks/beyond_seeds.py``'s
    record) into one ``SeededRow`` per row, in the record's order, each method's rows compared
    with their labels-only baseline seed by seed (the same seed: same batches, same start)."""
    import statistics

    from ..core.comparison import verdict

    by_row: dict[str, dict[int, float]] = {}
    method_of = {}
    for run in runs:
        if steps is not None and run["steps"] != steps:
            continue
        by_row.setdefault(run["row"], {})[run["seed"]] = run["accuracy"]
        method_of[run["row"]] = run["method"]
    rows = []
    for row, by_seed in by_row.items():
        values = list(by_seed.values())
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        base = baseline_of(row)
        diff = diff_std = words = None
        if base in by_row:
            shared = sorted(set(by_seed) & set(by_row[base]))
            if shared:
                diffs = [by_seed[s] - by_row[base][s] for s in shared]
                diff = statistics.mean(diffs)
                diff_std = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
                words = verdict(diff, diff_std, len(diffs))
        rows.append(SeededRow(method_of[row], row, statistics.mean(values), std, tuple(sorted(by_seed)),
                              base if base in by_row else None, diff, diff_std, words))
    return rows
