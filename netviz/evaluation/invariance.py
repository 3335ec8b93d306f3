"""Input invariance (Kindermans et al. 2017, "The (Un)reliability of Saliency Methods").

Model 2 is model 1 after the input shift ``x -> x - m``: its first operation subtracts the constant
``m`` (``shift``, in 0-255 pixel units, on every channel), so that model 2 at ``x + m`` computes
exactly what model 1 computes at ``x``, down to every activation. A method is input-invariant when
its attribution of model 2 at ``x + m`` equals its attribution of model 1 at ``x``; the logged value
is the normalized difference ``||A2 - A1|| / ||A1||`` per image (0: invariant).

Attributions are in the model's normalized input, where the shift is ``m / std`` per channel. The
gradient, SmoothGrad (its noise scales with the image's range, which the shift keeps), Grad-CAM and
guided backpropagation are invariant; gradient x input and Integrated Gradients with a black
baseline are not, since the input (and its distance to a fixed baseline) changes. Integrated
Gradients with the baseline shifted along with the input (black + ``m`` for model 2) is.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from netviz.models import Classifier
from netviz.techniques.saliency.integrated_gradients import IntegratedGradients


def shifted_model(classifier: Classifier, shift: float) -> Classifier:
    """Model 2: ``classifier`` after ``x -> x - shift / 255`` on its pixels (the same normalization).

    The shift is a forward pre-hook on a copy of the network, so its layers keep their names
    (``saliency.layer`` names the same layer in both models)."""
    net = copy.deepcopy(classifier.net)
    offset = ((shift / 255.0) / classifier.std).detach().clone()
    net.register_forward_pre_hook(lambda _module, inputs: (inputs[0] - offset.to(inputs[0]), *inputs[1:]))
    twin = Classifier(
        net,
        name=f"{classifier.name} shifted by {shift:g}",
        categories=classifier.categories,
        mean=classifier.mean.flatten().tolist(),
        std=classifier.std.flatten().tolist(),
        input_size=classifier.input_size,
        score=classifier.score,
    )
    return twin.to(classifier.device)


@dataclass
class ShiftedBaselineIG(IntegratedGradients):
    """Integrated Gradients whose baseline moves with the input: the ``baseline`` pixels plus ``shift / 255``."""

    shift: float = 0.0

    def prepare(self, images, classifier, generator) -> None:
        super().prepare(images, classifier, generator)
        self.baselines = self.baselines + (self.shift / 255.0) / classifier.std.to(images)

    def describe(self) -> str:
        return super().describe() + f" shifted by {self.shift:g}"


def normalized_difference(attributions: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """``(N,)`` ``||other - attributions|| / ||attributions||`` per image (0 where both are 0)."""
    norms = attributions.flatten(1).norm(dim=1)
    differences = (other - attributions).flatten(1).norm(dim=1)
    return torch.where(norms > 0, differences / norms.clamp_min(torch.finfo(norms.dtype).tiny), differences)
