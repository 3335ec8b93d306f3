"""What an evaluation hands back: per-image values, curves, and the pictures that show them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from netviz.results import per_sample


@dataclass
class EvaluationResult:
    """The saliency evaluation of one run's maps (:func:`netviz.evaluation.evaluate`).

    Attributes:
        values: ``{metric: (N,)}`` one value per image (``deletion_auc``, ``randomization_spearman``,
            ``fragility_topk_eps4``, ...); the run-level value is their mean (NaNs left out).
        curves: ``{name: (N, K)}`` per-image curves (``deletion``: the probability after each step;
            ``randomization_spearman``: the similarity after each cascade step).
        curve_x: ``{name: [K values]}`` where each curve is sampled (removed share, or cascade step).
        labels: ``{name: [K names]}`` what each point of a curve is (the blocks re-initialized).
        pictures: ``{name: uint8 RGB array}`` (the cascade's maps, fragility examples, the curves).
    """

    values: dict[str, torch.Tensor] = field(default_factory=dict)
    curves: dict[str, torch.Tensor] = field(default_factory=dict)
    curve_x: dict[str, list[float]] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)
    pictures: dict[str, np.ndarray] = field(default_factory=dict)

    def means(self) -> dict[str, float]:
        """Run-level metrics: each value's mean over the images (NaN values left out)."""
        return {name: float(np.nanmean(values.double().numpy())) if len(values) else float("nan") for name, values in self.values.items()}

    def metrics(self, sample_names: list[str]) -> dict[str, float]:
        """``<metric>/<sample>`` for every image and ``<metric>`` for the run's mean."""
        metrics = {}
        for name, values in self.values.items():
            metrics.update(per_sample(name, values, sample_names))
        return {**metrics, **self.means()}

    def history(self) -> dict[str, list[tuple[int, torch.Tensor]]]:
        """The curves as step metrics: ``{<name>_curve: [(step, (N,)), ...]}`` (MLflow's metric history)."""
        return {f"{name}_curve": [(step, curve[:, step]) for step in range(curve.shape[1])] for name, curve in self.curves.items()}

    def row(self, index: int) -> dict[str, float]:
        """Image ``index``'s values, for ``results.json``."""
        return {name: float(values[index]) for name, values in self.values.items()}
