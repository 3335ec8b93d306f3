"""Colour parameterizations: decorrelated colour, and the squash to valid pixels (Olah et al. 2017).

Natural images' RGB channels are strongly correlated, so a step in RGB moves mostly along one
direction of colour. Lucid ("Feature Visualization", Olah, Mordvintsev and Schubert 2017) optimizes
instead in a decorrelated colour space: the image's channels are multiplied by the square root of
ImageNet's colour covariance (its SVD's ``U sqrt(S)``, normalized so its largest column has norm 1)
before the squash to ``[0, 1]``. The matrix and the formula are Lucid's, as Lucent ports them
(``lucent.optvis.param.color``).
"""

from __future__ import annotations

import torch

# Lucid's color_correlation_svd_sqrt: U * sqrt(S) of ImageNet's RGB covariance (rows: R, G, B).
COLOR_CORRELATION_SVD_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
# Normalized so that the largest column has unit norm (Lucid's max_norm_svd_sqrt).
COLOR_CORRELATION_NORMALIZED = COLOR_CORRELATION_SVD_SQRT / COLOR_CORRELATION_SVD_SQRT.norm(dim=0).max()

COLORS = ("rgb", "decorrelated")
VALID_PIXELS = ("sigmoid", "clamp")


def decorrelate_color(image: torch.Tensor) -> torch.Tensor:
    """Images ``(N, 3, H, W)`` in the decorrelated space mapped to RGB: ``rgb = M @ c`` per pixel."""
    matrix = COLOR_CORRELATION_NORMALIZED.to(image.device, image.dtype)
    return torch.einsum("ij,njhw->nihw", matrix, image)


def correlate_color(rgb: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`decorrelate_color`: RGB ``(N, 3, H, W)`` to the decorrelated space."""
    inverse = torch.linalg.inv(COLOR_CORRELATION_NORMALIZED.double()).to(rgb.device, rgb.dtype)
    return torch.einsum("ij,njhw->nihw", inverse, rgb)


def to_valid_pixels(image: torch.Tensor, valid: str = "sigmoid") -> torch.Tensor:
    """Unbounded values to pixels in [0, 1]: ``sigmoid`` (Lucid's) or ``clamp`` (``clamp(x + 0.5, 0, 1)``,
    whose gradient is zero where a pixel is saturated)."""
    if valid == "sigmoid":
        return torch.sigmoid(image)
    return (image + 0.5).clamp(0, 1)


def from_valid_pixels(pixels: torch.Tensor, valid: str = "sigmoid", margin: float = 1e-3) -> torch.Tensor:
    """The inverse of :func:`to_valid_pixels`, pixels first kept ``margin`` inside (0, 1) for the logit."""
    if valid == "sigmoid":
        return torch.logit(pixels.clamp(margin, 1 - margin))
    return pixels.clamp(0, 1) - 0.5
