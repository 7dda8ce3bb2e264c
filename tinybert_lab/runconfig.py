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
from typing import get_type_hints

from .core.errors import TinyBertLabError, reject_unknown_keys


def _check_types(section) -> None:
    """Each field holds its annotated type (an int is accepted for a float; None where allowed)."""
    hints = get_type_hints(type(section))
    name = type(section).__name__
    for f in fields(section):
        value, hint = getattr(section, f.name), hints[f.name]
        allowed = getattr(hint, "__args__", (hint,))
        if value is None and type(None) in allowed:
            continue
        if float in allowed and isinstance(value, int) and not isinstance(value, bool):
            continue
        if not any(isinstance(value, kind) and not (kind is int and isinstance(value, bool)) for kind in allowed
                   if isinstance(kind, type)):
            wanted = " or ".join(k.__name__ for k in allowed if k is not type(None))
            raise TinyBertLabError(f"{SECTION_OF.get(name, name)}.{f.name} must be {wanted}, got {value!r}.")


def _positive(section, *keys) -> None:
    for key in keys:
        value = getattr(section, key)
        if value is not None and value <= 0:
            raise TinyBertLabError(f"{SECTION_OF[type(section).__name__]}.{key} must be positive, got {value!r}.")


@dataclass
class TeacherSettings:
    """``model``: "offline" (all-MiniLM-L6-v2 from PyPI), a hub name ("bert-base-uncased") or a
    folder. ``fine_tuned``: a folder with an already fine-tuned teacher (skips fine-tuning)."""

    model: str = "offline"
    fine_tuned: str = ""
    steps: int = 400
    learning_rate: float = 1e-4
    batch_size: int = 32

    def __post_init__(self):
        _check_types(self)
        _positive(self, "steps", "learning_rate", "batch_size")


@dataclass
class DataSettings:
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

    def __post_init__(self):
        _check_types(self)
        for key in ("train_size", "teacher_train_size", "dev_size", "max_length"):
            if getattr(self, key) < 0:
                raise TinyBertLabError(f"data.{key} must be >= 0 (0: all / from the data), got {getattr(self, key)!r}.")
        if not 0 < self.dev_fraction < 1:
            raise TinyBertLabError(f"data.dev_fraction must be between 0 and 1, got {self.dev_fraction!r}.")


@dataclass
class StudentSettings:
    """``preset``: ``models.STUDENT_PRESETS``. ``start``: "teacher" (the teacher's weights in a
    PCA basis, notebook 06), "random", or a folder (e.g. ``general``'s output)."""

    preset: str = "tinybert4"
    start: str = "teacher"

    def __post_init__(self):
        from .core.models import STUDENT_PRESETS

        _check_types(self)
        if self.preset not in STUDENT_PRESETS:
            raise TinyBertLabError(f"student.preset must be one of {sorted(STUDENT_PRESETS)}, got {self.preset!r}.")
        if self.start not in ("teacher", "random") and not Path(self.start).is_dir():
            raise TinyBertLabError(f"student.start must be 'teacher', 'random' or a folder with a saved student; "
                                   f"{self.start!r} is not a folder.")


@dataclass
class GeneralSettings:
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

    def __post_init__(self):
        _check_types(self)
        _positive(self, "steps", "learning_rate", "batch_size", "grad_accumulation", "max_length")


@dataclass
class TaskSettings:
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

    def __post_init__(self):
        _check_types(self)
        if self.eval_every < 0 or self.checkpoint_every < 0:
            raise TinyBertLabError("task.eval_every and task.checkpoint_every must be >= 0 (0: at the end only).")
        _positive(self, "steps", "learning_rate", "baseline_learning_rate", "batch_size", "grad_accumulation",
                  "augment_per_sentence")
        if self.intermediate_fraction is not None and not 0 <= self.intermediate_fraction < 1:
            raise TinyBertLabError(f"task.intermediate_fraction must be in [0, 1), got {self.intermediate_fraction!r}.")


SECTIONS = {"teacher": TeacherSettings, "data": DataSettings, "student": StudentSettings, "general": GeneralSettings,
            "task": TaskSettings}
SECTION_OF = {cls.__name__: name for name, cls in SECTIONS.items()} | {"RunConfig": "run"}


@dataclass
class RunConfig:
    """A whole run: where it writes, its seed and one section per stage."""

    out_dir: str = "runs/tinybert4"
    seed: int = 0
    teacher: TeacherSettings = field(default_factory=TeacherSettings)
    data: DataSettings = field(default_factory=DataSettings)
    student: StudentSettings = field(default_factory=StudentSettings)
    general: GeneralSettings = field(default_factory=GeneralSettings)
    task: TaskSettings = field(default_factory=TaskSettings)

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
        config = cls(**built)
        if not isinstance(config.out_dir, str) or not isinstance(config.seed, int) or config.seed < 0:
            raise TinyBertLabError(f"out_dir must be a string and seed an integer >= 0, got {config.out_dir!r}, "
                                   f"{config.seed!r}.")
        return config

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
