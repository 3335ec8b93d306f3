"""The gradient (Simonyan et al. 2014) and gradient x input (Shrikumar et al. 2016).

Simonyan, Vedaldi and Zisserman (2014), "Deep Inside Convolutional Networks": the gradient of the
class score with respect to the input image, a first-order picture of which pixels would change the
score most; its map is ``max over channels of |gradient|``. Shrikumar et al. (2016), "Not Just a
Black Box": the gradient times the input, Captum's ``InputXGradient``, in the model's normalized
input space (the space the model's first layer sees).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from netviz.techniques.saliency.method import AttributionMethod, register


@register
@dataclass
class Gradient(AttributionMethod):
    """``d score / d x``: the report's saliency map."""

    name = "gradient"
    title = "gradient"


@register
@dataclass
class GradientXInput(AttributionMethod):
    """``x * d score / d x``, elementwise."""

    name = "gradient_x_input"
    title = "gradient x input"

    def finish(self, total: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        return total * images
