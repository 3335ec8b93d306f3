"""The one exception type netviz raises for a user's bad input, and help to word it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


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
