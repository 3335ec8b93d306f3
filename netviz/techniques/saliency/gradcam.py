"""Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization").

At a convolutional layer with activations ``A_k`` (``k`` the channel), each channel is weighted by
its average gradient ``alpha_k = mean over positions of d score / d A_k``, and the map is
``ReLU(sum_k alpha_k A_k)``, upsampled bilinearly to the input (as Captum's ``LayerGradCam`` then
``LayerAttribution.interpolate(..., "bilinear")``). The layer is the network's last ``Conv2d`` by
default (its output, before any activation), or ``layer=`` any name of ``net.named_modules()``.

The attributions ``(N, 3, S, S)`` repeat the upsampled map over the three channels; the map is the
upsampled map itself, unscaled (pytorch-grad-cam's ``GradCAM`` also scales each to [0, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from netviz.capture import CaptureContext, last_conv_layer, resolve_layers
from netviz.errors import NetvizError
from netviz.models import Classifier
from netviz.techniques.saliency.method import AttributionMethod, register


def grad_cam(activations: torch.Tensor, gradients: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``ReLU(sum_k mean(dA_k) A_k)`` of a layer's ``(R, K, h, w)`` activations, upsampled to ``size``: ``(R, 1, H, W)``."""
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    cam = (weights * activations).sum(dim=1, keepdim=True).clamp(min=0)
    return F.interpolate(cam, size=size, mode="bilinear", align_corners=False)


@register
@dataclass
class GradCAM(AttributionMethod):
    """Class activation maps weighted by gradients, at ``layer`` (default: the last Conv2d)."""

    name = "gradcam"
    title = "Grad-CAM"
    layer: str | None = None

    def check(self, classifier: Classifier) -> None:
        self.layer = self.layer or last_conv_layer(classifier.net)
        resolve_layers(classifier.net, [self.layer])

    def hooks(self, classifier: Classifier) -> CaptureContext:
        return classifier.capture([self.layer], gradients=True)

    def accumulate(self, total, grads, rows, seen) -> None:
        if seen.activations[self.layer].dim() != 4:
            shape = tuple(seen.activations[self.layer].shape)
            raise NetvizError(
                f"saliency.layer={self.layer} gives outputs of shape {shape}, not maps (N, C, H, W); "
                "choose a convolutional layer"
            )
        cam = grad_cam(seen.activations[self.layer], seen.gradients[self.layer], total.shape[-2:])
        total[rows] = cam.expand(-1, total.shape[1], -1, -1).to(total.dtype)

    def to_map(self, attributions: torch.Tensor) -> torch.Tensor:
        return attributions[:, 0]

    def describe(self) -> str:
        return f"Grad-CAM, layer {self.layer}" if self.layer else "Grad-CAM"
