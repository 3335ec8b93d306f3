"""Guided backpropagation (Springenberg et al. 2015) and guided Grad-CAM (Selvaraju et al. 2017).

Springenberg, Dosovitskiy, Brox and Riedmiller (2015), "Striving for Simplicity: The All
Convolutional Net": the gradient of the class score in which every ReLU passes back only positive
gradients (the backward rule is overridden through :meth:`netviz.Classifier.capture` with
``guided_relu=True``, hooks removed after the pass; like Captum's ``GuidedBackprop``, ReLU6 included).
Guided Grad-CAM multiplies it elementwise by the upsampled Grad-CAM map: two passes, as in the paper
(and Captum's ``GuidedGradCam``), since Grad-CAM needs the plain gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from netviz.capture import CaptureContext
from netviz.models import Classifier
from netviz.techniques.saliency.gradcam import GradCAM
from netviz.techniques.saliency.method import AttributionMethod, register


@register
@dataclass
class GuidedBackprop(AttributionMethod):
    """The gradient with guided ReLUs: only positive gradients flow back through them."""

    name = "guided_backprop"
    title = "guided backpropagation"

    def hooks(self, classifier: Classifier) -> CaptureContext:
        return classifier.capture(guided_relu=True)


@register
@dataclass
class GuidedGradCAM(GradCAM):
    """Guided backpropagation times the upsampled Grad-CAM map of ``layer``."""

    name = "guided_gradcam"
    title = "guided Grad-CAM"

    @property
    def passes(self) -> tuple[AttributionMethod, AttributionMethod]:
        """The two passes whose attributions multiply."""
        return GuidedBackprop(), GradCAM(layer=self.layer)

    def combine(self, guided: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
        """Guided Grad-CAM's attributions from the two passes' attributions."""
        return guided * cam

    def to_map(self, attributions: torch.Tensor) -> torch.Tensor:
        return AttributionMethod.to_map(self, attributions)

    def describe(self) -> str:
        return f"guided Grad-CAM, layer {self.layer}" if self.layer else "guided Grad-CAM"
