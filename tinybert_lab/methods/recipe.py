"""TinyBERT's task recipe, in one place: the start, the two steps, and the fair baseline.

Every caller (notebook 06, ``own_task``, the ``tinybert-lab`` command, the benchmarks) runs the
same four moves through this module:

1. **the start**: ``start("teacher", ...)`` builds TinyBERT-4 from the fine-tuned teacher's
   weights (``teacher_init.projected_student``: PCA basis, SVD-cut heads, 4 of 6 layers); also
   ``"random"`` or a saved model's folder;
2. **the same start twice**: ``same_start(begin)`` is an exact copy, for the labels-only baseline;
3. **two-step task distillation**: ``distiller(begin, teacher)`` (projections start at the
   basis), then ``distil(distiller, train, ...)``: the intermediate stage (embeddings,
   attention scores, hidden states), then the prediction stage (cached teacher logits);
4. **labels only**: ``labels_only(twin, train, ...)``, same data, batches and steps.

``compare_with_labels`` does all four and returns both students. The settings are data:
``CHOSEN`` holds what ``benchmarks/choose_recipe.py`` chose on a validation slice held out from
SST-2's training split (record ``benchmarks/results/choose_recipe.json``, seeds 0 and 1, never
dev); ``tests/test_recipe.py`` checks they equal the record's choice.

    begin = recipe.start("teacher", teacher, tokenizer, train)
    twin = recipe.same_start(begin)
    histories = recipe.distil(recipe.distiller(begin, teacher), train, tokenizer, steps=600)
    baseline = recipe.labels_only(twin, train, tokenizer, steps=600)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..core import data, models, training
from ..core.config import Settings
from ..core.errors import TinyBertLabError
from ..core.mapping import LayerMap
from . import teacher_init, tinybert

RECIPES = {
    "labels": "labels only, random start",
    "labels-teacher": "labels only, teacher start",
    "kd-teacher": "two-step KD, teacher start",
    "kd-general": "two-step KD, general-distilled start",
}
STARTS = ("teacher", "random")


@dataclass(frozen=True)
class Setting(Settings):
    """One recipe's settings: ``learning_rate`` (both KD stages share it) and, for the two-step
    recipes, ``intermediate_share``, the fraction of the budget spent on the intermediate stage
    (0 for label-only recipes)."""

    recipe: str
    learning_rate: float
    intermediate_share: float = 0.0

    def check(self):
        self.require_choice("recipe", RECIPES)
        self.require_number("learning_rate", low_open=True)
        if self.recipe.startswith("kd"):
            self.require_number("intermediate_share", 0, 1, low_open=True, fix=f"{self.recipe} is a two-step recipe.")
        else:
            self.require("intermediate_share", self.intermediate_share == 0, "0", fix=f"{self.recipe} has one step.")

    def stage_steps(self, budget: int) -> tuple[int, int]:
        """``(intermediate, prediction)`` steps of a ``budget``-step run (intermediate ≥ 1 when two-step)."""
        if not self.intermediate_share:
            return 0, budget
        intermediate = max(1, round(budget * self.intermediate_share))
        return intermediate, budget - intermediate

    def describe(self) -> str:
        share = f", intermediate {Fraction(self.intermediate_share).limit_denominator(12)} of the steps" \
            if self.intermediate_share else ""
        return f"lr {self.learning_rate:g}{share}"

    def matches(self, run: dict) -> bool:
        return (run["recipe"] == self.recipe and run["learning_rate"] == self.learning_rate
                and run.get("intermediate_share", 0.0) == self.intermediate_share)


# Chosen by benchmarks/choose_recipe.py (record benchmarks/results/choose_recipe.json): each
# recipe's best mean accuracy on 1,000 held-out SST-2 training phrases, seeds 0 and 1, 600 steps.
CHOSEN = {
    "labels": Setting("labels", 3e-4),
    "labels-teacher": Setting("labels-teacher", 3e-4),
    "kd-teacher": Setting("kd-teacher", 3e-4, 1 / 6),
    "kd-general": Setting("kd-general", 3e-4, 1 / 6),
}


@dataclass
class Start:
    """A student before training and, for the teacher start, the ``basis`` it was projected
    with (the hidden-state projections start there); ``kind`` says where it came from."""

    student: object
    basis: object = None
    kind: str = "teacher"


def start(kind: str, teacher, tokenizer, sample=None, *, preset: str = "tinybert4", seed: int = 0,
          num_labels: int | None = None) -> Start:
    """The student's starting weights: ``"teacher"`` (projected from ``teacher`` with a basis
    computed on ``sample``, raw sentences), ``"random"`` (``models.build_student(preset)``), or
    the folder/name of a saved model (e.g. a generally distilled student)."""
    num_labels = num_labels if num_labels is not None else teacher.config.num_labels
    if kind == "teacher":
        if sample is None:
            raise TinyBertLabError("The teacher start needs sentences for its PCA basis: pass sample=your training set.")
        student, basis = teacher_init.projected_student(teacher, tokenizer, sample, preset, seed=seed)
        return Start(student, basis, kind)
    if kind == "random":
        return Start(models.build_student(preset, tokenizer=tokenizer, num_labels=num_labels, seed=seed), None, kind)
    return Start(models.load_classifier(kind, num_labels=num_labels, seed=seed), None, str(kind))


def same_start(begin: Start):
    """An exact copy of ``begin``'s student: the labels-only baseline starts where KD starts."""
    return copy.deepcopy(begin.student)


def distiller(begin: Start, teacher, *, seed: int = 0, layer_map: LayerMap | None = None) -> tinybert.Distiller:
    """The ``Distiller`` for ``begin``: each student layer mapped to the teacher layer it came
    from (or ``layer_map``), projections started at the basis when there is one."""
    result = tinybert.Distiller(begin.student, teacher, seed=seed, layer_map=layer_map)
    if begin.basis is not None:
        result.init_projections(begin.basis)
    return result


def distil(distiller_: tinybert.Distiller, train_data, tokenizer, *, steps: int, setting: Setting | None = None,
           intermediate_steps: int | None = None, learning_rate: float | None = None, seed: int = 0,
           eval_data=None, callbacks=None, progress: bool = True, checkpoint_dir: str | Path | None = None,
           resume: bool = False, **config) -> dict[str, training.History]:
    """TinyBERT's two steps for ``steps`` in all: the intermediate stage for ``setting``'s share
    (or ``intermediate_steps``; 0 runs the prediction stage only), then the prediction stage.
    ``setting`` defaults to ``CHOSEN["kd-teacher"]``; ``learning_rate`` overrides its rate;
    ``config`` goes to both stages (batch_size, max_length, eval_every, temperature,
    intermediate_lr / prediction_lr...). Returns ``{stage name: History}``."""
    setting = setting or CHOSEN["kd-teacher"]
    if intermediate_steps is None:
        intermediate, prediction = setting.stage_steps(steps)
    elif not 0 <= intermediate_steps <= steps:
        raise TinyBertLabError(f"intermediate_steps must be between 0 and steps={steps}, got {intermediate_steps}.")
    else:
        intermediate, prediction = intermediate_steps, steps - intermediate_steps
    stages = tinybert.two_step_stages(max(intermediate, 1), prediction, seed=seed,
                                     learning_rate=learning_rate or setting.learning_rate, **config)
    if intermediate == 0:
        stages = stages[1:]
    return tinybert.run_stages(distiller_, stages, train_data, tokenizer, eval_data=eval_data, callbacks=callbacks,
                              progress=progress, checkpoint_dir=checkpoint_dir, resume=resume)


def labels_only(student, train_data, tokenizer, *, steps: int, setting: Setting | None = None,
                learning_rate: float | None = None, seed: int = 0, eval_data=None, callbacks=None,
                progress: bool = True, checkpoint_dir: str | Path | None = None, resume: bool = False,
                **config) -> training.History:
    """``student`` trained on the labels alone for ``steps`` (``setting`` defaults to
    ``CHOSEN["labels-teacher"]``, the baseline for a teacher-started student; ``learning_rate``
    overrides it); ``config`` goes to ``TrainConfig`` (batch_size, max_length, eval_every...)."""
    setting = setting or CHOSEN["labels-teacher"]
    settings = training.TrainConfig(steps=steps, learning_rate=learning_rate or setting.learning_rate, seed=seed,
                                    **config)
    return training.train_classifier(student, train_data, tokenizer, settings, eval_data=eval_data,
                                     callbacks=callbacks, progress=progress, checkpoint_dir=checkpoint_dir,
                                     resume=resume)


def compare_with_labels(teacher, train_data, tokenizer, *, steps: int, start_kind: str = "teacher",
                        preset: str = "tinybert4", seed: int = 0, kd_data=None, kd_setting: Setting | None = None,
                        labels_setting: Setting | None = None, intermediate_steps: int | None = None,
                        kd_learning_rate: float | None = None, labels_learning_rate: float | None = None,
                        baseline: bool = True, eval_data=None, progress: bool = True,
                        checkpoint_dir: str | Path | None = None, resume: bool = False, **config) -> dict:
    """The whole recipe: one start, distilled on ``kd_data`` (default ``train_data``; e.g. an
    augmented transfer set), and its exact copy trained on the labels of ``train_data`` for the
    same steps. ``checkpoint_dir`` gets ``kd/`` and ``labels/`` subfolders. Returns
    ``{"distilled": model, "labels only": model (unless baseline=False), "histories": {...}}``."""
    num_labels = data.num_labels(train_data) if start_kind != "teacher" else None
    begin = start(start_kind, teacher, tokenizer, train_data, preset=preset, seed=seed, num_labels=num_labels)
    twin = same_start(begin) if baseline else None
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    histories = distil(distiller(begin, teacher, seed=seed), kd_data if kd_data is not None else train_data,
                       tokenizer, steps=steps, setting=kd_setting, intermediate_steps=intermediate_steps,
                       learning_rate=kd_learning_rate, seed=seed, eval_data=eval_data, progress=progress,
                       checkpoint_dir=folder / "kd" if folder else None, resume=resume, **config)
    result = {"distilled": begin.student.eval(), "histories": histories}
    if baseline:
        histories["labels only"] = labels_only(
            twin, train_data, tokenizer, steps=steps, setting=labels_setting, learning_rate=labels_learning_rate,
            seed=seed, eval_data=eval_data, progress=progress, checkpoint_dir=folder / "labels" if folder else None,
            resume=resume, **config)
        result["labels only"] = twin.eval()
    return result
