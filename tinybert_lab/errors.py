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
