"""Environment variables and default folders, in one place.

| variable | meaning | default |
|---|---|---|
| ``TINYBERT_LAB_DATA`` | folder holding ``sst2/train.tsv`` etc. (GLUE layout) | unset: try the hub |
| ``TINYBERT_LAB_CACHE`` | where fine-tuned teachers and other results are cached | ``~/.cache/tinybert_lab`` |
| ``TINYBERT_LAB_FAST`` | ``1`` shrinks data and steps so every notebook runs in seconds (CI) | ``0`` |
| ``TINYBERT_LAB_FULL_SIZE`` | ``1`` trains notebooks 06 and 09 at full size live (the committed records' sizes) | ``0`` |
| ``TINYBERT_LAB_OUT`` | where the tutorial writes figures, tables, executed notebooks | ``outputs/`` |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from .config import Settings

DATA_ENV = "TINYBERT_LAB_DATA"
CACHE_ENV = "TINYBERT_LAB_CACHE"
FAST_ENV = "TINYBERT_LAB_FAST"
FULL_SIZE_ENV = "TINYBERT_LAB_FULL_SIZE"


def data_dir_from_env() -> Path | None:
    """The folder named by ``TINYBERT_LAB_DATA``, or None when the variable is unset."""
    value = os.environ.get(DATA_ENV, "").strip()
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Folder for cached fine-tuned teachers (created on first use)."""
    value = os.environ.get(CACHE_ENV, "").strip()
    path = Path(value).expanduser() if value else Path.home() / ".cache" / "tinybert_lab"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def fast_mode() -> bool:
    """True when ``TINYBERT_LAB_FAST`` is set to 1/true/yes: small data, few steps."""
    return _flag(FAST_ENV)


def full_size() -> bool:
    """True when ``TINYBERT_LAB_FULL_SIZE`` is set to 1/true/yes: the live runs at the records' size."""
    return _flag(FULL_SIZE_ENV)


OUT_ENV = "TINYBERT_LAB_OUT"


def out_dir() -> Path:
    """Where the tutorial leaves figures, tables and executed notebooks (``TINYBERT_LAB_OUT``,
    default ``outputs/`` in the current folder); created on first use."""
    value = os.environ.get(OUT_ENV, "").strip()
    path = Path(value).expanduser() if value else Path("outputs")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class TutorialPlan(Settings):
    """Data sizes and step counts the notebooks use: the workshop's (``LIVE_PLAN``, the default),
    the full size the committed records were measured at (``FULL_PLAN``), or seconds-long
    (``FAST_PLAN``, for tests). ``name`` is the mode; each keeps its students in its own folder.

    ``train_size``: SST-2 train phrases used for student training (None = all);
    ``dev_size``: dev sentences evaluated (None = all 872); the rest are optimizer steps.
    ``intermediate_steps + prediction_steps`` is task distillation's budget (``budget``); how
    notebook 06 splits it between the two stages, and its learning rates, come from
    ``recipe.CHOSEN`` (chosen on a held-out validation slice by ``benchmarks/choose_recipe.py``).
    ``beyond_live``: the methods notebook 09 trains live (None: all of them); the others show
    their full-size result over 3 seeds from the committed record.
    """

    name: str
    teacher_steps: int
    teacher_train_size: int | None
    train_size: int | None
    dev_size: int | None
    general_steps: int
    intermediate_steps: int
    prediction_steps: int
    batch_size: int = 32
    beyond_steps: int = 150
    augment_size: int = 2_000
    beyond_live: tuple | None = None

    def check(self):
        self.require_choice("name", ("full", "live", "fast"))
        self.require_int("teacher_steps", "teacher_train_size", "train_size", "dev_size", "general_steps",
                         "intermediate_steps", "prediction_steps", "batch_size", "beyond_steps", "augment_size")

    @property
    def fast(self) -> bool:
        """Whether this is the seconds-long test mode (``name == "fast"``): tiny data, numbers not real."""
        return self.name == "fast"

    @property
    def budget(self) -> int:
        """Total steps of task distillation; the label-only baseline gets the same."""
        return self.intermediate_steps + self.prediction_steps

    @property
    def artifacts(self) -> Path:
        """Folder for what one notebook hands to the next (students, checkpoints), per mode."""
        path = cache_dir() / "tutorial" / self.name
        path.mkdir(parents=True, exist_ok=True)
        return path


FULL_PLAN = TutorialPlan(name="full", teacher_steps=400, teacher_train_size=None, train_size=20_000, dev_size=None,
                         general_steps=150, intermediate_steps=100, prediction_steps=500)
FAST_PLAN = TutorialPlan(name="fast", teacher_steps=10, teacher_train_size=2_000, train_size=1_000, dev_size=100,
                         general_steps=4, intermediate_steps=2, prediction_steps=10, batch_size=16,
                         beyond_steps=4, augment_size=40)
# The workshop's default: FULL_PLAN's teacher and data (one cached teacher for every mode but
# fast), with notebook 06's live budget a third of the records' and notebook 09 training three methods live, so
# each notebook computes for minutes; the full-size, multi-seed results come from the records.
LIVE_PLAN = replace(FULL_PLAN, name="live", intermediate_steps=33, prediction_steps=167,
                    beyond_live=("reference", "distilbert", "bilstm"))


def tutorial_plan() -> TutorialPlan:
    """``FAST_PLAN`` when ``TINYBERT_LAB_FAST=1``, ``FULL_PLAN`` when ``TINYBERT_LAB_FULL_SIZE=1``,
    else ``LIVE_PLAN``."""
    if fast_mode():
        return FAST_PLAN
    return FULL_PLAN if full_size() else LIVE_PLAN
