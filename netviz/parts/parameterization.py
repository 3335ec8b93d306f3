"""What the loop optimizes, and how it becomes pixels and the model's input.

A parameterization maps its parameters to an *image* (what transforms act on) and the image to the
model's normalized input, ``params -> image -> model input``, like Lucent's ``param_f`` (Olah et al.
2017, "Feature Visualization"). Today's two are the identity on either side of the model's own
normalization; a Fourier parameterization would make ``image`` an inverse FFT of ``params``.
"""

from __future__ import annotations

import torch
from torch import nn

from netviz.errors import NetvizError, did_you_mean
from netviz.models import Classifier


class Parameterization(nn.Module):
    """``params -> image -> model input``; subclasses state :meth:`initial`, :meth:`model_input`, :meth:`pixels`."""

    def initial(self, pixels: torch.Tensor, classifier: Classifier) -> torch.Tensor:
        """The parameters whose image is ``pixels`` ``(N, 3, S, S)`` in [0, 1]."""
        raise NotImplementedError

    def image(self, params: torch.Tensor) -> torch.Tensor:
        """The image that transforms act on (the parameters themselves, unless overridden)."""
        return params

    def model_input(self, image: torch.Tensor, classifier: Classifier) -> torch.Tensor:
        """What the classifier sees for ``image`` (differentiable)."""
        raise NotImplementedError

    def pixels(self, params: torch.Tensor, classifier: Classifier) -> torch.Tensor:
        """The parameters as pixels ``(N, 3, S, S)`` (in [0, 1] for valid images)."""
        raise NotImplementedError

    def bounds(self, classifier: Classifier) -> tuple[torch.Tensor, torch.Tensor]:
        """``(low, high)`` of the parameters of valid images, broadcastable to ``(N, 3, S, S)``."""
        raise NotImplementedError


class NormalizedInput(Parameterization):
    """The model's normalized input itself: ``(pixel - mean) / std``. The course's class visualization
    and the naive attack step here, so a unit step has the same length in every channel's own scale."""

    def initial(self, pixels, classifier):
        return classifier.normalize(pixels)

    def model_input(self, image, classifier):
        return image

    def pixels(self, params, classifier):
        return classifier.to_pixels(params)

    def bounds(self, classifier):
        return classifier.input_bounds()


class PixelInput(Parameterization):
    """Pixels in [0, 1], normalized on the way into the model (PGD's space: its budget is in pixels)."""

    def initial(self, pixels, classifier):
        return pixels.clone()

    def model_input(self, image, classifier):
        return classifier.normalize(image)

    def pixels(self, params, classifier):
        return params.clone()

    def bounds(self, classifier):
        return torch.zeros_like(classifier.mean), torch.ones_like(classifier.mean)


PARAMETERIZATIONS = {"normalized": NormalizedInput, "pixels": PixelInput}


def parameterization_named(name: str) -> Parameterization:
    """The parameterization called ``name`` (``normalized`` or ``pixels``)."""
    if name not in PARAMETERIZATIONS:
        raise NetvizError(
            f"unknown parameterization {name!r}{did_you_mean(name, PARAMETERIZATIONS)}; choose one of {', '.join(PARAMETERIZATIONS)}"
        )
    return PARAMETERIZATIONS[name]()
