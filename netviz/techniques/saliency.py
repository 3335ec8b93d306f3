"""Saliency maps: which pixels the class score is most sensitive to.

Simonyan, Vedaldi and Zisserman (2014), "Deep Inside Convolutional Networks: Visualising Image
Classification Models and Saliency Maps". The map of image ``x`` for class ``c`` is
``max over channels of |d score_c / d x|``, the gradient of the (unnormalized) class score with
respect to the model's input, taken at the image: a first-order picture of which pixels would change
the score most.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from netviz.data import ImageSet
from netviz.figures import colormap, grid_figure, side_by_side, to_uint8
from netviz.models import Classifier
from netviz.results import Result, per_sample, safe_name
from netviz.techniques.base import InputOptimizer, optimize

PREDICTED = -1  # a target meaning "the class the model predicts for this image"


class Saliency(InputOptimizer):
    """One gradient of the class score per (image, class) pair; the input does not move.

    A target of ``-1`` means the class the model predicts, resolved in the same forward pass.
    """

    moves_input = False

    def objective(self, x, logits, scores, step):
        self.resolved_targets = torch.where(self.targets >= 0, self.targets, logits.argmax(dim=1))
        return scores.gather(1, self.resolved_targets[:, None]).squeeze(1)

    def update(self, x, grad, step):
        self.maps = grad.abs().amax(dim=1)
        return x


@dataclass
class SaliencyResult(Result):
    """Saliency maps for the true and the predicted class of each image (report Figures 1-2).

    Attributes:
        pixels: ``(N, 3, S, S)`` images in [0, 1].
        labels, predicted: ``(N,)`` true (-1 if unknown) and predicted class indices.
        prob_true, prob_predicted: ``(N,)`` softmax probabilities of those classes (NaN if unknown).
        map_true, map_predicted: ``(N, S, S)`` saliency maps.
        categories: the model's class names.
    """

    pixels: torch.Tensor
    labels: torch.Tensor
    predicted: torch.Tensor
    prob_true: torch.Tensor
    prob_predicted: torch.Tensor
    map_true: torch.Tensor
    map_predicted: torch.Tensor
    categories: list[str]

    def _name(self, index: int) -> str:
        return self.categories[index] if index >= 0 else "no label"

    def metrics(self) -> dict[str, float]:
        known = self.labels >= 0
        metrics = {
            **per_sample("prob_predicted", self.prob_predicted, self.sample_names),
            **per_sample("prob_true", self.prob_true[known], [n for n, k in zip(self.sample_names, known) if k]),
        }
        if known.any():
            metrics["top1_accuracy"] = float((self.predicted[known] == self.labels[known]).float().mean())
        return metrics

    def rows(self) -> list[dict]:
        return [
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
        ]

    def panels(self) -> dict[str, np.ndarray]:
        images = to_uint8(self.pixels)
        return {
            safe_name(name): side_by_side([images[i], colormap(self.map_true[i]), colormap(self.map_predicted[i])])
            for i, name in enumerate(self.sample_names)
        }

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
            suptitle=f"Saliency maps, {self.model}",
        )


def saliency_maps(classifier: Classifier, images: ImageSet, **trainer) -> SaliencyResult:
    """Saliency maps of every image for its true class and for its predicted class.

    All ``2N`` (image, class) pairs go through the network as one batch.

    Args:
        classifier: a frozen model from :func:`netviz.load_model`.
        images: the images (``images.labels`` may be -1 where unknown: that map is the predicted one).
        **trainer: passed to :func:`netviz.techniques.base.optimize` (``accelerator``, ``devices``).

    Example:
        >>> import netviz
        >>> model = netviz.load_model("efficientnet_lite0")
        >>> result = netviz.saliency_maps(model, netviz.load_images("samples", size=model.input_size))
        >>> result.map_predicted.shape
        torch.Size([4, 224, 224])
    """
    n = len(images)
    targets = torch.cat([images.labels.clamp(min=PREDICTED), torch.full((n,), PREDICTED)])
    module = Saliency(classifier, torch.cat([images.pixels, images.pixels]), targets, iterations=1)
    optimize(module, **trainer)
    probs = module.final_logits.float().softmax(dim=1).cpu()
    classes = module.resolved_targets.cpu()
    maps = module.maps.cpu()
    known = images.labels >= 0
    prob_true = torch.where(known, probs[:n].gather(1, classes[:n, None]).squeeze(1), torch.nan)
    return SaliencyResult(
        technique="saliency",
        model=classifier.name,
        sample_names=images.names,
        pixels=images.pixels,
        labels=images.labels,
        predicted=classes[n:],
        prob_true=prob_true,
        prob_predicted=probs[n:].gather(1, classes[n:, None]).squeeze(1),
        map_true=torch.where(known[:, None, None], maps[:n], maps[n:]),
        map_predicted=maps[n:],
        categories=classifier.categories,
    )


def run_from_config(classifier: Classifier, images: ImageSet, cfg, trainer: dict) -> SaliencyResult:
    """``technique=saliency``: maps for the true and predicted classes (``target`` is not used)."""
    if cfg.target is not None:
        logging.getLogger("netviz").warning("technique=saliency maps the true and the predicted class; target= is ignored")
    return saliency_maps(classifier, images, **trainer)
