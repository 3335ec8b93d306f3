"""Lucid's image parameterizations: pixels or a Fourier spectrum, RGB or decorrelated colour, squashed
to valid pixels (Olah, Mordvintsev and Schubert 2017, "Feature Visualization").

``params -> spatial (pixels or inverse FFT, :mod:`~netviz.parts.fourier`) -> colour (identity or the
decorrelation, :mod:`~netviz.parts.color`) -> sigmoid or clamp -> image in [0, 1]``; transforms act
on that image, and the model sees it normalized. Every image it produces is valid, so it needs no
clamp post-step. Lucent's ``param.image(size, fft=True, decorrelate=True)`` is the default.
"""

from __future__ import annotations

import torch

from netviz.errors import NetvizError
from netviz.models import Classifier
from netviz.parts.color import COLORS, VALID_PIXELS, correlate_color, decorrelate_color, from_valid_pixels, to_valid_pixels
from netviz.parts.fourier import fourier_image, fourier_spectrum, spectrum_scale, spectrum_shape
from netviz.parts.parameterization import Parameterization

SPATIAL = ("pixel", "fourier")


class ImageParameterization(Parameterization):
    """An image in [0, 1] from pixels or a Fourier spectrum, in RGB or decorrelated colour (see the module).

    Args:
        size: the image's side in pixels (the model's input size).
        spatial: ``"fourier"`` (parameters ``(N, 3, S, S // 2 + 1, 2)``) or ``"pixel"`` (``(N, 3, S, S)``).
        color: ``"decorrelated"`` or ``"rgb"``.
        valid: ``"sigmoid"`` or ``"clamp"`` (:func:`~netviz.parts.color.to_valid_pixels`).
        decay: the Fourier scaling's exponent, ``1 / max(f, 1 / size) ^ decay``.
    """

    def __init__(self, size: int, spatial: str = "fourier", color: str = "decorrelated", valid: str = "sigmoid", decay: float = 1.0) -> None:
        super().__init__()
        for key, value, choices in (("param", spatial, SPATIAL), ("color", color, COLORS), ("valid", valid, VALID_PIXELS)):
            if value not in choices:
                raise NetvizError(f"{key}={value!r} is not one of {', '.join(choices)}")
        self.size, self.spatial, self.color, self.valid, self.decay = int(size), spatial, color, valid, float(decay)
        self.register_buffer("scale", spectrum_scale(self.size, self.size, self.decay) if spatial == "fourier" else torch.ones(()))

    def parameter_shape(self, count: int) -> tuple[int, ...]:
        """The shape of the parameters of ``count`` images."""
        if self.spatial == "fourier":
            return spectrum_shape(count, 3, self.size, self.size)
        return (count, 3, self.size, self.size)

    def random(self, count: int, generator: torch.Generator, sd: float = 0.01) -> torch.Tensor:
        """Lucent's random start: parameters drawn from ``N(0, sd^2)`` (a nearly grey image)."""
        return sd * torch.randn(self.parameter_shape(count), generator=generator)

    def image(self, params):
        if self.spatial == "fourier":
            values = fourier_image(params, self.size, self.size, self.scale.to(params.device))
        else:
            values = params
        if self.color == "decorrelated":
            values = decorrelate_color(values)
        return to_valid_pixels(values, self.valid)

    def initial(self, pixels, classifier):
        values = from_valid_pixels(pixels.to(self.scale.device), self.valid)
        if self.color == "decorrelated":
            values = correlate_color(values)
        if self.spatial == "fourier":
            return fourier_spectrum(values, self.scale)
        return values

    def model_input(self, image, classifier: Classifier):
        return classifier.normalize(image)

    def pixels(self, params, classifier):
        return self.image(params)

    def bounds(self, classifier):
        return torch.full((), -torch.inf), torch.full((), torch.inf)
