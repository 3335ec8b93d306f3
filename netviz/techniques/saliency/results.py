"""What an attribution run hands back: maps for chosen targets, or the report's true/predicted maps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np
import torch

from netviz.figures import colormap, grid_figure, side_by_side, to_uint8
from netviz.results import Result, file_name, per_sample

if TYPE_CHECKING:  # netviz.evaluation runs attribution methods: imported by name only
    from netviz.evaluation.result import EvaluationResult


def _class_name(categories: list[str], index: int) -> str:
    return categories[index] if index >= 0 else "no label"


class Evaluated:
    """What a saliency result adds when ``saliency.evaluate`` scored its maps (``evaluation``): the
    evaluation's metrics, each image's values in its row, and its pictures among the panels."""

    evaluation: Optional["EvaluationResult"]

    def evaluation_metrics(self) -> dict[str, float]:
        return {} if self.evaluation is None else self.evaluation.metrics(self.sample_names)

    def evaluation_rows(self, rows: list[dict]) -> list[dict]:
        return rows if self.evaluation is None else [{**row, **self.evaluation.row(i)} for i, row in enumerate(rows)]

    def evaluation_panels(self) -> dict[str, np.ndarray]:
        return {} if self.evaluation is None else dict(self.evaluation.pictures)


@dataclass
class AttributionResult(Evaluated, Result):
    """Attributions of each image for one target class each (:func:`netviz.attribute`).

    Attributes:
        pixels: ``(N, 3, S, S)`` images in [0, 1].
        targets: ``(N,)`` the class each attribution explains.
        attributions: ``(N, 3, S, S)`` per input value, in the model's normalized input space.
        maps: ``(N, S, S)`` one value per pixel (see each method's ``to_map``).
        probabilities: ``(N, C)`` each image's softmax, or what computes it when first asked: a
            method whose passes never see the images themselves (SmoothGrad, IG) makes the pass
            over them only for a result that is read (``prob_target`` and the like), as Captum makes none.
        prob_target: ``(N,)`` softmax probability of the target.
        predicted, prob_predicted: ``(N,)`` the predicted class and its probability.
        method: the method's name (``integrated_gradients``); ``settings`` its caption text.
        categories: the model's class names.
    """

    pixels: torch.Tensor
    targets: torch.Tensor
    attributions: torch.Tensor
    maps: torch.Tensor
    probabilities: torch.Tensor | Callable[[], torch.Tensor]
    method: str
    settings: str
    categories: list[str]
    evaluation: Optional["EvaluationResult"] = None

    @property
    def image_probabilities(self) -> torch.Tensor:
        if callable(self.probabilities):
            self.probabilities = self.probabilities()
        return self.probabilities

    @property
    def prob_target(self) -> torch.Tensor:
        return self.image_probabilities.gather(1, self.targets[:, None]).squeeze(1)

    @property
    def predicted(self) -> torch.Tensor:
        return self.image_probabilities.argmax(dim=1)

    @property
    def prob_predicted(self) -> torch.Tensor:
        return self.image_probabilities.amax(dim=1)

    def metrics(self) -> dict[str, float]:
        return {
            **per_sample("prob_target", self.prob_target, self.sample_names),
            **per_sample("prob_predicted", self.prob_predicted, self.sample_names),
            "mean_prob_target": float(self.prob_target.mean()),
            "mean_prob_predicted": float(self.prob_predicted.mean()),
            **self.evaluation_metrics(),
        }

    def rows(self) -> list[dict]:
        return self.evaluation_rows([
            {
                "image": name,
                "target": int(self.targets[i]),
                "target_name": _class_name(self.categories, int(self.targets[i])),
                "prob_target": float(self.prob_target[i]),
                "predicted": int(self.predicted[i]),
                "predicted_name": _class_name(self.categories, int(self.predicted[i])),
                "prob_predicted": float(self.prob_predicted[i]),
            }
            for i, name in enumerate(self.sample_names)
        ])

    def caption(self) -> str:
        return f"Saliency maps ({self.settings}) of {self.model}: target class"

    def panels(self) -> dict[str, np.ndarray]:
        images = to_uint8(self.pixels)
        panels = {file_name(n): side_by_side([images[i], colormap(self.maps[i])]) for i, n in enumerate(self.sample_names)}
        return {**panels, **self.evaluation_panels()}

    def figure(self):
        n = len(self.sample_names)
        titles = [
            [f"{name}\npred: {_class_name(self.categories, int(self.predicted[i]))} ({self.prob_predicted[i]:.2f})" for i, name in enumerate(self.sample_names)],
            [f"{_class_name(self.categories, int(self.targets[i]))} ({self.prob_target[i]:.2f})" for i in range(n)],
        ]
        cells = [list(to_uint8(self.pixels)), [colormap(self.maps[i]) for i in range(n)]]
        return grid_figure(cells, titles, row_labels=["image", "saliency: target"], suptitle=self.caption())


@dataclass
class SaliencyResult(Evaluated, Result):
    """Saliency maps for the true and the predicted class of each image (report Figures 1-2).

    Attributes:
        pixels: ``(N, 3, S, S)`` images in [0, 1].
        labels, predicted: ``(N,)`` true (-1 if unknown) and predicted class indices.
        prob_true, prob_predicted: ``(N,)`` softmax probabilities of those classes (NaN if unknown).
        map_true, map_predicted: ``(N, S, S)`` saliency maps (an unlabelled image's true-class map is
            its predicted-class map).
        categories: the model's class names.
        method, settings: the attribution method's name and its caption text.
    """

    pixels: torch.Tensor
    labels: torch.Tensor
    predicted: torch.Tensor
    prob_true: torch.Tensor
    prob_predicted: torch.Tensor
    map_true: torch.Tensor
    map_predicted: torch.Tensor
    categories: list[str]
    method: str = "gradient"
    settings: str = "gradient"
    evaluation: Optional["EvaluationResult"] = None

    def _name(self, index: int) -> str:
        return _class_name(self.categories, index)

    def metrics(self) -> dict[str, float]:
        known = self.labels >= 0
        metrics = {
            **per_sample("prob_predicted", self.prob_predicted, self.sample_names),
            **per_sample("prob_true", self.prob_true[known], [n for n, k in zip(self.sample_names, known) if k]),
            "mean_prob_predicted": float(self.prob_predicted.mean()),
        }
        if known.any():
            metrics["top1_accuracy"] = float((self.predicted[known] == self.labels[known]).float().mean())
            metrics["mean_prob_true"] = float(self.prob_true[known].mean())
        return {**metrics, **self.evaluation_metrics()}

    def rows(self) -> list[dict]:
        return self.evaluation_rows([
            {
                "image": name,
                "label": int(self.labels[i]),
                "label_name": self._name(int(self.labels[i])),
                "predicted": int(self.predicted[i]),
                "predicted_name": self._name(int(self.predicted[i])),
                "prob_true": None if self.labels[i] < 0 else float(self.prob_true[i]),
                "prob_predicted": float(self.prob_predicted[i]),
            }
            for i, name in enumerate(self.sample_names)
        ])

    def caption(self) -> str:
        """Like the report's: ``Saliency maps (gradient) of squeezenet1_1: true and predicted class``."""
        return f"Saliency maps ({self.settings}) of {self.model}: true and predicted class"

    def panels(self) -> dict[str, np.ndarray]:
        images = to_uint8(self.pixels)
        panels = {
            file_name(name): side_by_side([images[i], colormap(self.map_true[i]), colormap(self.map_predicted[i])])
            for i, name in enumerate(self.sample_names)
        }
        return {**panels, **self.evaluation_panels()}

    def figure(self):
        images = to_uint8(self.pixels)
        n = len(self.sample_names)
        titles = [
            [
                f"true: {self._name(int(self.labels[i]))} ({self.prob_true[i]:.2f})\n"
                f"pred: {self._name(int(self.predicted[i]))} ({self.prob_predicted[i]:.2f})"
                if self.labels[i] >= 0
                else f"pred: {self._name(int(self.predicted[i]))} ({self.prob_predicted[i]:.2f})"
                for i in range(n)
            ],
            [self._name(int(self.labels[i])) for i in range(n)],
            [self._name(int(self.predicted[i])) for i in range(n)],
        ]
        cells = [
            list(images),
            [colormap(self.map_true[i]) for i in range(n)],
            [colormap(self.map_predicted[i]) for i in range(n)],
        ]
        return grid_figure(
            cells,
            titles,
            row_labels=["image", "saliency: true class", "saliency: predicted class"],
            suptitle=self.caption(),
        )
