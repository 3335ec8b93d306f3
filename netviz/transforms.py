"""Differentiable image transforms that run on the input's device (GPU where there is one).

Used by techniques for regularization (jitter and blur in class visualization, Yosinski et al. 2015)
and robustness (random transformations in EOT, Athalye et al. 2018).
"""

from __future__ import annotations

import torch


def jitter(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Roll images ``(..., H, W)`` by ``dx`` pixels right and ``dy`` down, wrapping around."""
    return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))


def unjitter(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Undo :func:`jitter` exactly."""
    return torch.roll(x, shifts=(-dy, -dx), dims=(-2, -1))


def gaussian_kernel_size(sigma: float, truncate: float = 4.0) -> int:
    """The odd kernel size SciPy's ``gaussian_filter`` uses for ``sigma``: ``2 * round(truncate * sigma) + 1``."""
    return 2 * int(truncate * sigma + 0.5) + 1


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur images ``(N, C, H, W)`` with a Gaussian of std ``sigma`` pixels (reflected borders).

    The kernel is the one the course uses (SciPy's ``gaussian_filter1d`` along each axis, truncated
    at 4 sigma); the convolution is torchvision's, so it runs where ``x`` is. Borders are mirrored
    without repeating the edge pixel (SciPy's ``mode="mirror"``; the course's ``"reflect"`` differs
    only in the outer ``4 * sigma`` pixels).
    """
    from torchvision.transforms.v2 import functional as F

    if sigma <= 0:
        return x
    size = gaussian_kernel_size(sigma)
    return F.gaussian_blur(x, kernel_size=[size, size], sigma=[sigma, sigma])
