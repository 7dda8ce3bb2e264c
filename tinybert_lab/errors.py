"""The one exception type tinybert_lab raises for bad input.

Every message names the problem and the fix, so a learner never has to read a stack trace
from deep inside torch to find out what went wrong.
"""


class TinyBertLabError(ValueError):
    """Bad input to tinybert_lab: the message says what is wrong and how to fix it."""


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


def check_loss_weights(values: dict, what: str, hint: str = "") -> dict[str, float]:
    """Validate loss weights ``{term: weight}``: each a finite number >= 0 (not a bool), at least
    one positive. Returns the active ones ``{term: float(weight)}``. ``what`` names them in the
    message (``"loss weight"``, ``"DistilBERT loss weight"``); ``hint`` is added to the all-zero
    message (e.g. the paper's values)."""
    import math

    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
            raise TinyBertLabError(f"{what[:1].upper() + what[1:]} {name!r} must be a finite number >= 0, got {value!r}.")
    active = {name: float(value) for name, value in values.items() if value > 0}
    if not active:
        raise TinyBertLabError(
            f"All {what}s are 0: nothing to learn from. Give at least one of {', '.join(values)} a positive weight"
            + (f" ({hint})." if hint else "."))
    return active
