"""The settings of a command-line run (``tinybert_lab.cli``): dataclasses read from a TOML or YAML
file, overridden by ``--set section.key=value`` flags, validated when built. Unknown keys and
values of the wrong type are errors that name the key and the fix.

Every default is the tutorial's: SST-2, the offline MiniLM teacher fine-tuned for 400 steps,
a TinyBERT-4 started from the teacher's weights, notebook 06's two-step distillation over 600
steps with the settings chosen on a held-out slice, next to the labels-only baseline.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .core.config import Settings
from .core.errors import TinyBertLabError, reject_unknown_keys


@dataclass
class TeacherSettings(Settings):
    """``model``: "offline" (all-MiniLM-L6-v2 from PyPI), a hub name ("bert-base-uncased") or a
    folder. ``fine_tuned``: a folder with an already fine-tuned teacher (skips fine-tuning)."""

    model: str = "offline"
    fine_tuned: str = ""
    steps: int = 400
    learning_rate: float = 1e-4
    batch_size: int = 32

    _label = "teacher"

    def check(self):
        self.require_int("steps", "batch_size")
        self.require_number("learning_rate", low_open=True)


@dataclass
class DataSettings(Settings):
    """``task``: "sst2", "trec", a GLUE task from the hub as "glue/<name>" (e.g. "glue/mrpc";
    see ``data.GLUE_TASKS``) or a file the loader reads (TSV, CSV, JSON Lines). ``train_size``:
    training examples used by the students (0: all). ``max_length``: 0 chooses it from the data."""

    task: str = "sst2"
    train_size: int = 20_000
    teacher_train_size: int = 0
    dev_size: int = 0
    dev_fraction: float = 0.2
    text_column: str = ""
    text_pair_column: str = ""
    label_column: str = "label"
    header: bool = True
    max_length: int = 0

    _label = "data"

    def check(self):
        self.require_int("train_size", "teacher_train_size", "dev_size", "max_length", minimum=0,
                         fix="0 means all (or, for max_length, chosen from the data).")
        self.require_number("dev_fraction", 0, 1, low_open=True)


@dataclass
class StudentSettings(Settings):
    """``preset``: ``models.STUDENT_PRESETS``. ``start``: "teacher" (the teacher's weights in a
    PCA basis, notebook 06), "random", or a folder (e.g. ``general``'s output)."""

    preset: str = "tinybert4"
    start: str = "teacher"

    _label = "student"

    def check(self):
        from .core.models import STUDENT_PRESETS

        self.require_choice("preset", sorted(STUDENT_PRESETS))
        self.require("start", self.start in ("teacher", "random") or Path(self.start).is_dir(),
                     "'teacher', 'random' or a folder with a saved student", fix="That folder does not exist.")


@dataclass
class GeneralSettings(Settings):
    """General distillation: the pre-trained teacher's intermediate layers on unlabelled text.
    ``corpus``: a text file (one sentence or paragraph per line), a folder of .txt files, or a
    hub dataset name; read as a stream (``streaming.TextStream``), never whole."""

    corpus: str = ""
    text_column: str = "text"
    steps: int = 150
    learning_rate: float = 1e-4
    batch_size: int = 32
    grad_accumulation: int = 1
    max_length: int = 64

    _label = "general"

    def check(self):
        self.require_int("steps", "batch_size", "grad_accumulation", "max_length")
        self.require_number("learning_rate", low_open=True)


@dataclass
class TaskSettings(Settings):
    """Task distillation, TinyBERT's two steps. ``intermediate_fraction`` and ``learning_rate``
    left out: the settings chosen on the held-out slice (``benchmarks/choose_recipe.py``).
    ``baseline``: also train the labels-only student from the same start, for the same steps.
    ``eval_every``: dev accuracy every that many steps (0: at the end only), as notebook 06 does;
    it is part of the recipe because each evaluation draws from the random generator that
    dropout uses next (PyTorch's DataLoader takes its base seed from it)."""

    steps: int = 600
    intermediate_fraction: float | None = None
    learning_rate: float | None = None
    baseline_learning_rate: float | None = None
    batch_size: int = 32
    grad_accumulation: int = 1
    augment: bool = False
    augment_per_sentence: int = 4
    baseline: bool = True
    checkpoint_every: int = 100
    eval_every: int = 100

    _label = "task"

    def check(self):
        self.require_int("eval_every", "checkpoint_every", minimum=0, fix="0 means at the end only.")
        self.require_int("steps", "batch_size", "grad_accumulation", "augment_per_sentence")
        for key in ("learning_rate", "baseline_learning_rate"):
            if getattr(self, key) is not None:
                self.require_number(key, low_open=True, fix="Leave it out to use the chosen setting.")
        if self.intermediate_fraction is not None:
            self.require_number("intermediate_fraction", 0, 1, fix="Leave it out to use the chosen setting.")


SECTIONS = {"teacher": TeacherSettings, "data": DataSettings, "student": StudentSettings, "general": GeneralSettings,
            "task": TaskSettings}


@dataclass
class RunConfig(Settings):
    """A whole run: where it writes, its seed and one section per stage."""

    out_dir: str = "runs/tinybert4"
    seed: int = 0
    teacher: TeacherSettings = field(default_factory=TeacherSettings)
    data: DataSettings = field(default_factory=DataSettings)
    student: StudentSettings = field(default_factory=StudentSettings)
    general: GeneralSettings = field(default_factory=GeneralSettings)
    task: TaskSettings = field(default_factory=TaskSettings)

    _label = "run"

    def check(self):
        self.require_int("seed", minimum=0)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        top = {f.name for f in fields(cls)}
        reject_unknown_keys(values, top, "the run config")
        built = {}
        for key, value in values.items():
            if key in SECTIONS:
                if not isinstance(value, dict):
                    raise TinyBertLabError(f"[{key}] must be a table of settings, got {value!r}.")
                reject_unknown_keys(value, {f.name for f in fields(SECTIONS[key])}, f"[{key}]")
                built[key] = SECTIONS[key](**value)
            else:
                built[key] = value
        return cls(**built)

    def to_dict(self) -> dict:
        return asdict(self)


def read_file(path) -> dict:
    """A TOML (``.toml``) or YAML (``.yaml``/``.yml``) file as plain data."""
    path = Path(path)
    if not path.is_file():
        raise TinyBertLabError(f"Config file {path} not found.")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise TinyBertLabError(f"{path} is not valid TOML: {error}.") from None
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            values = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            raise TinyBertLabError(f"{path} is not valid YAML: {error}") from None
        if not isinstance(values, dict):
            raise TinyBertLabError(f"{path} must hold a mapping of settings, got {type(values).__name__}.")
        return values
    raise TinyBertLabError(f"Config files are TOML (.toml) or YAML (.yaml, .yml); got {path.name!r}.")


def parse_override(text: str) -> tuple[list[str], object]:
    """``"task.steps=300"`` → (["task", "steps"], 300). The value is read as TOML (numbers,
    true/false, quoted strings); anything else is a plain string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise TinyBertLabError(f"--set takes section.key=value (e.g. task.steps=300), got {text!r}.")
    try:
        value = tomllib.loads(f"value = {raw.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip().split("."), value


def load(path=None, overrides=()) -> RunConfig:
    """The run's settings: the defaults, then ``path`` (TOML/YAML), then each ``--set`` override."""
    values = read_file(path) if path else {}
    for text in overrides:
        keys, value = parse_override(text)
        if len(keys) > 2:
            raise TinyBertLabError(f"--set {text!r}: keys are `key` or `section.key`, e.g. task.steps=300.")
        target = values
        for key in keys[:-1]:
            target = target.setdefault(key, {})
            if not isinstance(target, dict):
                raise TinyBertLabError(f"--set {text!r}: {key} is not a section.")
        target[keys[-1]] = value
    return RunConfig.from_dict(values)


def to_toml(config: RunConfig) -> str:
    """The settings as a TOML file (``--print-config``): top-level keys, then one table per
    section; settings left to the chosen recipe are written as comments."""
    def literal(value):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return repr(value)

    values = config.to_dict()
    lines = [f"{key} = {literal(values[key])}" for key in ("out_dir", "seed")]
    for section in SECTIONS:
        lines += ["", f"[{section}]"]
        for key, value in values[section].items():
            lines.append(f"# {key}: the chosen recipe's" if value is None else f"{key} = {literal(value)}")
    return "\n".join(lines) + "\n"
