"""One way to declare settings: a dataclass that inherits ``Settings``.

Every settings class in the package (``TrainConfig``, ``AugmentConfig``, ``recipe.Setting``,
the CLI's sections ...) and every objective's loss weights (``Weights``) is a dataclass built on
this base, so they all behave alike:

- validated when built: each field must hold its annotated type (``int``, ``float`` (an int is
  accepted), ``str``, ``bool``, or ``None`` where the annotation allows it), then the class's
  own ``check()`` runs its rules with ``require``;
- every error has one shape, naming the class (or the CLI section) and the key, what the value
  must be, what it was, and the fix: ``TrainConfig.steps must be a positive integer, got 0.``;
- ``from_dict`` refuses unknown keys (with a did-you-mean hint), ``to_dict`` gives plain data.

Loss weights are ``Weights`` subclasses, one per objective, with the paper's values as defaults.
An objective accepts its ``Weights`` or a dict of overrides (``Weights.coerce``), and hands
``training.fit`` the terms that are on, ``{term: weight}`` (``active()``).

    @dataclass(frozen=True)
    class MySettings(Settings):
        steps: int = 100
        temperature: float = 2.0

        def check(self):
            self.require_int("steps", minimum=1)
            self.require("temperature", self.temperature > 0, "positive", fix="1 means no softening.")
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import ClassVar

from .errors import TinyBertLabError, check_loss_weights, reject_unknown_keys

_SIMPLE = (bool, int, float, str, type(None))
_NAMES = {bool: "True or False", int: "an integer", float: "a number", str: "a string", type(None): "None"}


class Settings:
    """Base of every settings dataclass (see the module's docstring). ``_label`` names the class
    in messages (default: the class name; the CLI's sections use their section name)."""

    _label: ClassVar[str] = ""

    def __post_init__(self):
        self._check_types()
        self.check()

    def check(self) -> None:
        """The class's own rules (``require``...); runs after the type check, when built."""

    # ---------------------------------------------------------------- building and plain data
    @classmethod
    def keys(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, values: dict):
        """Build from plain data; unknown keys are an error, never silently ignored."""
        if not isinstance(values, dict):
            raise TinyBertLabError(f"{cls._name()} settings must be a dict of {', '.join(sorted(cls.keys()))}, "
                                   f"got {values!r}.")
        reject_unknown_keys(values, cls.keys(), cls._name())
        return cls(**values)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    # ---------------------------------------------------------------- the one error style
    @classmethod
    def _name(cls) -> str:
        return cls._label or cls.__name__

    def require(self, key: str, ok: bool, must: str, *, fix: str = "") -> None:
        """Raise ``<Class>.<key> must be <must>, got <value>. <fix>`` unless ``ok``."""
        if not ok:
            raise TinyBertLabError(f"{self._name()}.{key} must be {must}, got {getattr(self, key)!r}."
                                   + (f" {fix}" if fix else ""))

    def require_int(self, *keys: str, minimum: int = 1, fix: str = "") -> None:
        """Each key an integer >= ``minimum`` (``None`` passes where the annotation allows it)."""
        for key in keys:
            value = getattr(self, key)
            if value is None and self._allows_none(key):
                continue
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
            must = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            self.require(key, ok, must, fix=fix)

    def require_number(self, key: str, low: float = 0.0, high: float = math.inf, *, low_open: bool = False,
                       high_open: bool = True, fix: str = "") -> None:
        """``key`` a finite number in the interval from ``low`` to ``high`` (open ends as asked)."""
        value = getattr(self, key)
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
        ok = number and (low < value if low_open else low <= value) and (value < high if high_open else value <= high)
        if high == math.inf:
            must = "positive" if (low == 0 and low_open) else f"a number {'>' if low_open else '>='} {low:g}"
            must += "" if high_open else " (inf allowed)"
        else:
            must = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        self.require(key, ok, must, fix=fix)

    def require_choice(self, key: str, choices, *, fix: str = "") -> None:
        """``key`` one of ``choices``."""
        value = getattr(self, key)
        self.require(key, isinstance(value, typing.Hashable) and value in choices,
                     f"one of {', '.join(map(repr, choices))}", fix=fix)

    # ---------------------------------------------------------------- types from the annotations
    def _allows_none(self, key: str) -> bool:
        return type(None) in _allowed(_hints(type(self)).get(key))

    def _check_types(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):
            allowed = _allowed(hints.get(f.name))
            if not allowed or not set(allowed) <= set(_SIMPLE):
                continue  # a class, a tuple, a dict...: the class's check() looks after it
            value = getattr(self, f.name)
            if any(_is(value, kind) for kind in allowed):
                continue
            raise TinyBertLabError(f"{self._name()}.{f.name} must be "
                                   f"{' or '.join(_NAMES[k] for k in allowed)}, got {value!r}.")


@functools.cache
def _hints(cls) -> dict:
    try:
        return typing.get_type_hints(cls)
    except NameError:  # an annotation only a type checker can resolve: no type check
        return {}


def _allowed(hint) -> tuple:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,) if isinstance(hint, type) else ()


def _is(value, kind) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


class Weights(Settings):
    """Base of every objective's loss weights: a frozen dataclass of ``float`` fields, one per
    term, each a finite number >= 0 with at least one positive (0 switches a term off and skips
    its computation). A subclass sets ``_what`` (how messages name a weight) and optionally
    ``_hint`` (e.g. the paper's values)."""

    _what: ClassVar[str] = "loss weight"
    _hint: ClassVar[str] = ""

    def _check_types(self) -> None:
        pass  # check_loss_weights below says it in the weights' own words

    def check(self) -> None:
        check_loss_weights(self.to_dict(), self._what, self._hint)

    @classmethod
    def from_dict(cls, values: dict):
        """Weights from ``{term: weight}``; terms left out keep their defaults, unknown terms are refused."""
        reject_unknown_keys(values, list(cls.terms()), cls._what)
        return cls(**values)

    @classmethod
    def coerce(cls, given):
        """``given`` as this class: an instance as it is, a dict as overrides of the defaults
        (``from_dict``), ``None`` as the defaults."""
        if given is None:
            return cls()
        if isinstance(given, dict):
            return cls.from_dict(given)
        if isinstance(given, cls):
            return given
        terms = ", ".join(cls.terms())
        raise TinyBertLabError(f"weights must be a {cls.__name__} or a dict of its terms ({terms}), got {given!r}.")

    @classmethod
    def terms(cls) -> tuple[str, ...]:
        """The loss terms these weights name, in declaration order (the dataclass's fields)."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def active(self) -> dict[str, float]:
        """The terms with a positive weight, ``{name: weight}`` (what ``fit`` multiplies by)."""
        return {name: float(value) for name, value in self.to_dict().items() if value > 0}
