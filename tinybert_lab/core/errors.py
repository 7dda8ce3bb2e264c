"""The one exception type tinybert_lab raises for bad input.

Every message names the problem and the fix, so a learner never has to read a stack trace
from deep inside torch to find out what went wrong.
"""

import math
import warnings


class TinyBertLabError(ValueError):
    """Bad input to tinybert_lab: the message says what is wrong and how to fix it."""


class Notice(UserWarning):
    """Something the user should know that is not an error (e.g. a few sentences were truncated).
    Shown as one plain sentence, ``Note: ...``, without the library's file and line, wherever it
    appears: a script's log, a terminal, a notebook."""


def _plain_notices(format_warning):
    def formatted(message, category, filename, lineno, line=None):
        if isinstance(category, type) and issubclass(category, Notice):
            return f"Note: {message}\n"
        return format_warning(message, category, filename, lineno, line)

    formatted.tinybert_lab_notices = True
    return formatted


if not getattr(warnings.formatwarning, "tinybert_lab_notices", False):
    warnings.formatwarning = _plain_notices(warnings.formatwarning)


class DataNotFoundError(TinyBertLabError, FileNotFoundError):
    """A dataset could not be found in any of the places tinybert_lab looks."""


def reject_unknown_keys(given, allowed, what: str) -> None:
    """Raise if ``given`` holds a key that is not in ``allowed``.

    Silently ignored config keys (TextBrewer's ``match_weghts``) are a classic bug; we refuse
    them and list what would have been valid.
    """
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        import difflib

        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise TinyBertLabError(
            f"Unknown {what} key(s): {', '.join(hints)}. Valid keys: {', '.join(sorted(allowed))}."
        )


def is_weight(value) -> bool:
    """True for a usable loss weight: a finite number >= 0 (a bool is not one)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 <= value < math.inf


def check_weight(value, label: str) -> None:
    """Refuse a loss weight that is not ``is_weight``; the message starts with ``label``
    (``"alpha"``, ``"layer map entry 0: weight"``)."""
    if not is_weight(value):
        raise TinyBertLabError(f"{label} must be a finite number >= 0, got {value!r}.")


def check_loss_weights(values: dict, what: str, hint: str = "") -> dict[str, float]:
    """Validate loss weights ``{term: weight}``: each a finite number >= 0 (not a bool), at least
    one positive. Returns the active ones ``{term: float(weight)}``. ``what`` names them in the
    message (``"loss weight"``, ``"DistilBERT loss weight"``); ``hint`` is added to the all-zero
    message (e.g. the paper's values)."""
    for name, value in values.items():
        check_weight(value, f"{what[:1].upper() + what[1:]} {name!r}")
    active = {name: float(value) for name, value in values.items() if value > 0}
    if not active:
        raise TinyBertLabError(
            f"All {what}s are 0: nothing to learn from. Give at least one of {', '.join(values)} a positive weight"
            + (f" ({hint})." if hint else "."))
    return active
