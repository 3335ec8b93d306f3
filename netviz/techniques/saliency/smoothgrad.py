"""SmoothGrad (Smilkov et al. 2017): the gradient averaged over noisy copies of the image.

Smilkov, Thorat, Kim, Viégas and Wattenberg (2017), "SmoothGrad: removing noise by adding noise".
The gradient of the class score is taken at ``samples`` copies ``x + N(0, sigma^2)`` of each image
and averaged; ``sigma = noise * (max(x) - min(x))``, the noise level as a share of the image's range
in the model's input space (the paper's 10-20 %). ``squared`` averages the squared gradients
instead (SmoothGrad-Squared, Hooker et al. 2019), Captum's ``NoiseTunnel`` ``smoothgrad_sq``.

The noise is drawn from the run's seeded generator, image by image in row order
(``torch.randn`` then scaled, as Captum's ``NoiseTunnel`` draws it from the global one).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from netviz.errors import NetvizError, check_int, check_number
from netviz.models import Classifier
from netviz.techniques.saliency.method import AttributionMethod, register


@register
@dataclass
class SmoothGrad(AttributionMethod):
    """Mean gradient over ``samples`` noisy copies (or mean squared gradient with ``squared``)."""

    name = "smoothgrad"
    title = "SmoothGrad"
    samples: int = 16
    noise: float = 0.15
    squared: bool = False

    def __post_init__(self) -> None:
        check_int("saliency.samples", self.samples, minimum=1)
        check_number("saliency.noise", self.noise, hint="a share of the image's range, for example 0.15")
        if not isinstance(self.squared, bool):
            raise NetvizError(f"saliency.squared={self.squared} is not true or false")

    @property
    def copies(self) -> int:
        return self.samples

    def prepare(self, images: torch.Tensor, classifier: Classifier, generator: torch.Generator) -> None:
        flat = images.flatten(1)
        self.sigma = (self.noise * (flat.amax(dim=1) - flat.amin(dim=1))).view(-1, 1, 1, 1)

    def points(self, images: torch.Tensor, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        owners = rows // self.copies
        noise = torch.randn((len(rows), *images.shape[1:]), generator=generator, device=images.device, dtype=images.dtype)
        return noise.mul_(self.sigma[owners]).add_(images[owners])  # in place: one chunk-sized buffer fewer

    def accumulate(self, total, grads, rows, seen) -> None:
        total.index_add_(0, rows // self.copies, grads.square() if self.squared else grads, alpha=1 / self.samples)

    def describe(self) -> str:
        return f"{'SmoothGrad-Squared' if self.squared else 'SmoothGrad'}, {self.samples} samples, noise {self.noise:g}"
