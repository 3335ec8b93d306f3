"""What a technique hands back: tensors for code, and what tracking logs and figures draw."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from netviz.naming import file_name, metric_name, pair_name, safe_name, unique_names

__all__ = ["Result", "file_name", "metric_name", "pair_name", "per_sample", "safe_name", "unique_names"]


@dataclass
class Result:
    """The outcome of one technique run.

    Subclasses hold the technique's tensors as typed fields and say how to draw them. Tracking reads
    ``metrics()``, ``history``, ``panels()`` and ``figure()``; it never reaches back into the technique.

    Attributes:
        technique: the technique's name.
        model: the model's name.
        history: step metrics ``{name: [(step, tensor of one value per sample), ...]}``.
        sample_names: a short name per sample, used to name per-sample metrics (``score/<name>``).
    """

    technique: str
    model: str
    sample_names: list[str]
    history: dict[str, list[tuple[int, torch.Tensor]]] = field(default_factory=dict, kw_only=True)

    def metrics(self) -> dict[str, float]:
        """Final scalar metrics, named ``<metric>/<sample>``."""
        return {}

    def rows(self) -> list[dict]:
        """One JSON-friendly row per sample (names, classes, scores), logged as ``results.json``."""
        return []

    def panels(self) -> dict[str, np.ndarray]:
        """Per-sample pictures as uint8 RGB arrays, keyed by file name stem."""
        return {}

    def image_series(self) -> dict[str, list[tuple[int, np.ndarray]]]:
        """Images over the optimization, ``{key: [(step, uint8 RGB array), ...]}`` (MLflow's step slider)."""
        return {}

    def figure(self):
        """The composed matplotlib figure of the whole run."""
        raise NotImplementedError


def per_sample(name: str, values: torch.Tensor | list, sample_names: list[str]) -> dict[str, float]:
    """``{"<name>/<sample>": value}`` for one value per sample."""
    values = values.tolist() if isinstance(values, torch.Tensor) else list(values)
    return {f"{name}/{metric_name(sample)}": float(value) for sample, value in zip(sample_names, values)}


