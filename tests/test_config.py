"""One way to declare settings (``core.config``): every settings dataclass and every objective's
loss weights is built on ``Settings``, validated when built, with one error style."""

import ast
import dataclasses
import importlib
import inspect
from pathlib import Path

import pytest

import tinybert_lab
from tinybert_lab.core.config import Settings, Weights
from tinybert_lab.core.errors import TinyBertLabError

PACKAGE = Path(tinybert_lab.__file__).parent


@dataclasses.dataclass(frozen=True)
class Example(Settings):
    steps: int = 10
    rate: float = 0.5
    scale: float = 2
    name: str = "a"
    size: int | None = None
    flag: bool = True

    def check(self):
        self.require_int("steps", "size")
        self.require_number("rate", 0, 1, low_open=True, fix="It is a probability.")
        self.require_choice("name", ("a", "b"))


@dataclasses.dataclass(frozen=True)
class ExampleWeights(Weights):
    first: float = 1.0
    second: float = 0.0

    _what = "Example weight"


def test_types_come_from_the_annotations():
    assert Example(rate=0.25, size=3).rate == 0.25
    assert Example(scale=3).scale == 3  # an int is a number
    for bad, message in [({"steps": "10"}, "Example.steps must be an integer, got '10'."),
                         ({"steps": True}, "Example.steps must be an integer, got True."),
                         ({"rate": "0.5"}, "Example.rate must be a number, got '0.5'."),
                         ({"size": 2.0}, "Example.size must be an integer or None, got 2.0."),
                         ({"flag": 1}, "Example.flag must be True or False, got 1."),
                         ({"name": 3}, "Example.name must be a string, got 3.")]:
        with pytest.raises(TinyBertLabError) as caught:
            Example(**bad)
        assert str(caught.value) == message


def test_rules_name_the_key_the_value_and_the_fix():
    for bad, message in [({"steps": 0}, "Example.steps must be a positive integer, got 0."),
                         ({"size": -1}, "Example.size must be a positive integer, got -1."),
                         ({"rate": 0}, "Example.rate must be in (0, 1), got 0. It is a probability."),
                         ({"rate": float("nan")}, "Example.rate must be in (0, 1), got nan. It is a probability."),
                         ({"name": "c"}, "Example.name must be one of 'a', 'b', got 'c'.")]:
        with pytest.raises(TinyBertLabError) as caught:
            Example(**bad)
        assert str(caught.value) == message


def test_from_dict_refuses_unknown_keys_and_to_dict_round_trips():
    example = Example.from_dict({"steps": 3, "name": "b"})
    assert Example.from_dict(example.to_dict()) == example
    with pytest.raises(TinyBertLabError, match=r"Unknown Example key\(s\): 'stepz' \(did you mean 'steps'\?\)"):
        Example.from_dict({"stepz": 3})
    with pytest.raises(TinyBertLabError, match="Example settings must be a dict"):
        Example.from_dict([("steps", 3)])


def test_weights_take_a_dict_of_overrides_or_the_class_and_give_the_active_terms():
    assert ExampleWeights.coerce(None).active() == {"first": 1.0}
    assert ExampleWeights.coerce({"second": 2}).active() == {"first": 1.0, "second": 2.0}
    assert ExampleWeights.coerce(ExampleWeights(first=0, second=1)).active() == {"second": 1.0}
    with pytest.raises(TinyBertLabError, match="All Example weights are 0"):
        ExampleWeights.coerce({"first": 0})
    with pytest.raises(TinyBertLabError, match="Example weight 'first' must be a finite number >= 0, got -1"):
        ExampleWeights(first=-1)
    with pytest.raises(TinyBertLabError, match=r"weights must be a ExampleWeights or a dict of its terms \(first, second\)"):
        ExampleWeights.coerce([1, 0])
    assert ExampleWeights.terms() == ("first", "second")


def test_the_tutorial_modes_say_whether_they_are_fast_by_their_name():
    from tinybert_lab.core import settings

    assert [plan.fast for plan in (settings.FAST_PLAN, settings.LIVE_PLAN, settings.FULL_PLAN)] == [True, False, False]
    assert dataclasses.replace(settings.FULL_PLAN, name="fast").fast


def package_classes():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).with_suffix("")
        if relative.name == "__init__":
            continue
        module = importlib.import_module("tinybert_lab." + ".".join(relative.parts))
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                yield path, cls


def test_every_validated_dataclass_and_every_weights_class_is_built_on_settings():
    """A dataclass that validates itself does it through ``Settings.check`` (no ``__post_init__``
    of its own); every class named ``...Weights`` is a ``Weights``."""
    stray = []
    for path, cls in package_classes():
        if dataclasses.is_dataclass(cls) and "__post_init__" in vars(cls) and cls not in (Settings, Weights):
            stray.append(f"{cls.__qualname__} ({path.name}) validates in its own __post_init__")
        if dataclasses.is_dataclass(cls) and "check" in vars(cls) and not issubclass(cls, Settings):
            stray.append(f"{cls.__qualname__} ({path.name}) has check() but is not a Settings")
        if cls.__name__.endswith("Weights") and not issubclass(cls, Weights):
            stray.append(f"{cls.__qualname__} ({path.name}) is not a core.config.Weights")
    assert stray == []


def test_every_objective_takes_its_weights_class_or_a_dict():
    """Each objective's ``weights`` parameter is annotated with its ``Weights`` class (or a dict);
    none still builds a loss-weights dict by hand."""
    from tinybert_lab.methods import causal_lm, minilm, mobilebert, objectives, patient

    for objective, weights in [(objectives.MutualLearning, objectives.MutualWeights),
                               (objectives.MultiTeacherObjective, objectives.MultiTeacherWeights),
                               (objectives.RelationalObjective, objectives.RelationalWeights),
                               (patient.PatientObjective, patient.PatientWeights),
                               (minilm.MiniLMObjective, minilm.MiniLMWeights),
                               (mobilebert.MobileTransfer, mobilebert.TransferWeights),
                               (causal_lm.LMObjective, causal_lm.LMWeights)]:
        annotation = inspect.signature(objective.__init__).parameters["weights"].annotation
        assert weights.__name__ in annotation and "dict" in annotation, objective
    hand_made = [f"{path.name}:{node.lineno}" for path in PACKAGE.rglob("*.py")
                 for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, ast.Name) and node.id in ("check_weights", "DEFAULT_WEIGHTS", "WeightsMixin")]
    assert hand_made == []
