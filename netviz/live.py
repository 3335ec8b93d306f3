"""Live values from a running loop to whoever records them (MLflow while a job runs), at no cost otherwise.

The loop calls :func:`emit_step` every ``log_every`` steps and :func:`emit_images` when it keeps a
snapshot; a job that tracks installs a sink with :func:`recording` for its duration. With no sink
installed both calls return at once, so the Python API and ``tracking=none`` pay nothing.

A sink receives plain Python values (no tensors): ``metrics(step, {key: float})`` and
``images(step, {key: uint8 HxWx3 array})``, with keys already in netviz's ``<metric>/<sample>``
scheme (:func:`netviz.naming.metric_name`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from netviz.naming import metric_name


class Sink(Protocol):
    def metrics(self, step: int, values: Mapping[str, float]) -> None: ...

    def images(self, step: int, images: Mapping[str, Any]) -> None: ...


_sinks: list[Sink] = []


def active() -> bool:
    """Whether anything is listening (a loop may skip preparing live values when nothing is)."""
    return bool(_sinks)


@contextlib.contextmanager
def recording(sink: Sink) -> Iterator[Sink]:
    """Send live values to ``sink`` while the block runs."""
    _sinks.append(sink)
    try:
        yield sink
    finally:
        _sinks.remove(sink)


def emit_step(step: int, values: Mapping[str, Any], sample_names: Sequence[str]) -> None:
    """Per-sample step metrics ``{metric: tensor or list of N values}`` as ``<metric>/<sample>`` keys."""
    if not _sinks:
        return
    flat: dict[str, float] = {}
    for name, per_sample in values.items():
        items = per_sample.tolist() if hasattr(per_sample, "tolist") else list(per_sample)
        if not isinstance(items, list):
            items = [items]
        for sample, value in zip(sample_names, items):
            flat[f"{name}/{metric_name(sample)}"] = float(value)
    for sink in _sinks:
        sink.metrics(int(step), flat)


def emit_images(step: int, images: Mapping[str, Any]) -> None:
    """Images ``{key: uint8 (H, W, 3) array}`` at ``step`` (classviz's snapshots, the UI's step slider)."""
    if not _sinks:
        return
    for sink in _sinks:
        sink.images(int(step), dict(images))
