"""Live values from a running loop to whoever records them (MLflow while a job runs), at no cost otherwise.

The loop calls :func:`emit_step` every ``log_every`` steps and :func:`emit_images` when it keeps a
snapshot; a job that tracks installs a sink with :func:`recording` for its duration. With no sink
installed both calls return at once, so the Python API and ``tracking=none`` pay nothing.

With a sink installed the loop's thread still does no conversion: a sink receives the loop's own
values, ``metrics(step, StepValues)`` and ``images(step, {key: image})``, and turns them into plain
Python values (:meth:`StepValues.flat`, :func:`rgb8`) on a thread of its own. Reading a tensor's
values (``.tolist()``) waits for the device, and a PNG takes milliseconds: neither is the loop's business.
The values handed over are never written to again by the loop (each step makes new tensors).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from netviz.naming import metric_name


@dataclass(frozen=True)
class StepValues:
    """One step's per-sample metrics as the loop has them: ``{metric: tensor or list of N values}``."""

    values: Mapping[str, Any]
    sample_names: Sequence[str]

    def flat(self) -> dict[str, float]:
        """``{"<metric>/<sample>": float}`` (:func:`netviz.naming.metric_name`); reads the tensors."""
        flat: dict[str, float] = {}
        for name, per_sample in self.values.items():
            items = per_sample.tolist() if hasattr(per_sample, "tolist") else list(per_sample)
            if not isinstance(items, list):
                items = [items]
            for sample, value in zip(self.sample_names, items):
                flat[f"{name}/{metric_name(sample)}"] = float(value)
        return flat


class Sink(Protocol):
    def metrics(self, step: int, values: StepValues) -> None: ...

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
    """Per-sample step metrics ``{metric: tensor or list of N values}``, one value per sample name."""
    if not _sinks:
        return
    handed_over = StepValues(dict(values), list(sample_names))
    for sink in _sinks:
        sink.metrics(int(step), handed_over)


def emit_images(step: int, images: Mapping[str, Any]) -> None:
    """Images at ``step`` (classviz's snapshots, the UI's step slider): ``{key: pixels}``, each a
    float tensor ``(3, H, W)`` in [0, 1] or a uint8 ``(H, W, 3)`` array (:func:`rgb8` reads both)."""
    if not _sinks:
        return
    for sink in _sinks:
        sink.images(int(step), dict(images))


def rgb8(image: Any) -> np.ndarray:
    """A handed-over image as the uint8 ``(H, W, 3)`` array that image files are made of."""
    if isinstance(image, np.ndarray):
        return image
    from netviz.figures import to_uint8

    return to_uint8(image)
