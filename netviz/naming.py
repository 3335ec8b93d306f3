"""One vocabulary for naming samples, everywhere: figures, files, tags, ``results.json`` and metrics.

A sample is named by what it shows: a labelled image by its class (``quail``), an unlabelled one by
its file's stem, and an (image, target) pair as ``quail→stingray`` (:data:`PAIR`). Names are made
unique by :func:`unique_names`, judged on the form that MLflow and file systems store
(:func:`metric_name`), so two images never share a metric or a panel.

MLflow refuses ``→`` (and most punctuation) in metric keys, so a metric key spells the pair
``quail to stingray``: :func:`metric_name` is the one mapping from a sample's name to its key part,
and :func:`file_name` the one to an artifact's file stem. This module imports nothing heavy:
tracking uses it before torch loads.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

PAIR = "→"  # image→target, the one separator of a pair's name
PAIR_IN_KEYS = " to "  # how a metric key or a file name spells PAIR
_REFUSED = re.compile(r"[^A-Za-z0-9_.\- ]")  # what MLflow refuses in metric keys, besides '/' and ':'


def pair_name(image: str, target: str) -> str:
    """The name of the sample that takes image ``image`` toward class ``target``: ``quail→stingray``."""
    return f"{image}{PAIR}{target}"


def metric_name(sample: str) -> str:
    """``sample`` as the last part of a metric key: ``quail→stingray`` -> ``quail to stingray``.

    Accents are folded (``café`` -> ``cafe``) and anything else MLflow refuses becomes ``_``.
    """
    text = sample.replace(PAIR, PAIR_IN_KEYS)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii") or text
    return _REFUSED.sub("_", text).strip() or "sample"


def safe_name(text: str) -> str:
    """Any text (an experiment, a metric prefix) with the characters MLflow refuses replaced by ``_``."""
    return _REFUSED.sub("_", text)


def file_name(sample: str) -> str:
    """A file stem for ``sample`` that every file system saves: :func:`metric_name` without leading dots
    (``..png`` would be a folder name or hidden)."""
    stem = metric_name(sample).lstrip(". ")
    return stem or "sample"


def unique_names(names: Iterable[str]) -> list[str]:
    """``names`` made unique as MLflow and file systems store them: a repeat (``cat`` twice, or
    ``café``/``cafè``, which fold to one key) becomes ``cat 2``, ``cat 3``; names that are already
    unique are kept as they are."""
    names = list(names)
    taken = {file_name(n).lower() for n in names}
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        key = file_name(name).lower()
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == 1:
            unique.append(name)
            continue
        number = seen[key]
        while file_name(f"{name} {number}").lower() in taken:
            number += 1
        candidate = f"{name} {number}"
        taken.add(file_name(candidate).lower())
        unique.append(candidate)
    return unique
