"""The one exception type netviz raises for a user's bad input, and help to word it."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import Any


class NetvizError(Exception):
    """A problem with the user's input or environment, worded as one line that says what to do.

    The command line prints it as ``netviz: error: <message>`` and exits non-zero, without a
    traceback (``debug=true`` shows one).
    """


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ``" (did you mean 'a', 'b'?)"`` for the choices closest to ``name``, or ``""``."""
    close = difflib.get_close_matches(str(name).lower(), [str(c).lower() for c in choices], n=n, cutoff=0.6)
    lookup = {str(c).lower(): str(c) for c in choices}
    if not close:
        return ""
    return " (did you mean " + ", ".join(repr(lookup[c]) for c in close) + "?)"


def check_int(name: str, value: Any, *, minimum: int, hint: str = "") -> None:
    """Raise a one-line error unless ``value`` is an integer >= ``minimum`` (``hint`` is appended)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise NetvizError(f"{name}={value} is not {kind}{' ' + hint if hint else ''}")


def check_number(name: str, value: Any, *, positive: bool = False, hint: str = "") -> None:
    """Raise a one-line error unless ``value`` is a finite number >= 0 (> 0 with ``positive``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise NetvizError(f"{name}={value} is not a number")
    if value < 0 or (positive and value == 0):
        raise NetvizError(f"{name}={value} must be {'> 0' if positive else '>= 0'}{' (' + hint + ')' if hint else ''}")
