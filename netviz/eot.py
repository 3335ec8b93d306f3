"""Random, differentiable image transformations: the distribution of Expectation over Transformation.

Athalye, Engstrom, Ilyas and Kwok (2018), "Synthesizing Robust Adversarial Examples": an adversarial
image that must survive a photo being shifted, turned, rescaled, blurred or noisy is optimized for the
*expected* objective over a distribution of such transformations, its gradient estimated by averaging
over random draws. This module is that distribution; the attack lives in
``netviz/techniques/adversarial/eot.py``. Every transform runs on the images' device and is differentiable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from netviz.errors import NetvizError
from netviz.transforms import gaussian_blur, jitter


@dataclass(frozen=True)
class Transform:
    """One random draw for a batch of ``n`` images, applied to pixels in [0, 1].

    Attributes:
        dx, dy: translation in pixels (a wrap-around roll, :func:`netviz.transforms.jitter`).
        theta: ``(n, 2, 3)`` rotation and scale per image (``None``: none), as ``affine_grid`` takes it.
        sigma: Gaussian blur std in pixels (0: none).
        noise: ``(n, 3, S, S)`` additive noise in [0, 1] pixel units (``None``: none).
    """

    dx: int
    dy: int
    theta: torch.Tensor | None
    sigma: float
    noise: torch.Tensor | None

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        out = jitter(pixels, self.dx, self.dy)
        if self.theta is not None:
            grid = F.affine_grid(self.theta, list(out.shape), align_corners=False)
            out = F.grid_sample(out, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        out = gaussian_blur(out, self.sigma)
        if self.noise is None:
            return out
        out = out + self.noise
        # Saturate like a camera, but pass the gradient straight through: a plain clamp's gradient is
        # zero at 0 and 1, where it would freeze every saturated pixel (BPDA, Athalye et al. 2018).
        return out + (out.clamp(0, 1) - out).detach()


@dataclass(frozen=True)
class TransformDistribution:
    """Uniform draws of translation, rotation, scale and blur, plus Gaussian noise (Athalye et al. 2018).

    Attributes:
        max_shift: translation up to this many pixels in each direction.
        max_rotation: rotation up to this many degrees either way.
        min_scale, max_scale: zoom factor range (1: none).
        max_blur: Gaussian blur std drawn in [0, max_blur] pixels.
        noise: std of additive Gaussian noise, in 0-255 pixel units.
    """

    max_shift: int = 16
    max_rotation: float = 15.0
    min_scale: float = 0.9
    max_scale: float = 1.1
    max_blur: float = 1.0
    noise: float = 4.0

    def __post_init__(self) -> None:
        if self.max_shift < 0 or self.max_rotation < 0 or self.max_blur < 0 or self.noise < 0:
            raise NetvizError(
                "adversarial.eot: max_shift, max_rotation, max_blur and noise must be >= 0 "
                f"(got {self.max_shift}, {self.max_rotation}, {self.max_blur}, {self.noise})"
            )
        if not 0 < self.min_scale <= self.max_scale:
            raise NetvizError(
                f"adversarial.eot: need 0 < min_scale <= max_scale (got {self.min_scale}, {self.max_scale})"
            )

    def sample(self, count: int, n: int, size: int, generator: torch.Generator) -> list[Transform]:
        """``count`` independent draws for a batch of ``n`` images of ``size`` x ``size`` pixels, made on
        ``generator``'s device (the same generator state gives the same draws)."""
        device = generator.device
        draws = []
        for _ in range(count):
            shift = torch.randint(-self.max_shift, self.max_shift + 1, (2,), generator=generator, device=device)
            dx, dy = (int(v) for v in shift.tolist())
            theta = None
            if self.max_rotation > 0 or self.min_scale != 1 or self.max_scale != 1:
                u = torch.rand(2, n, generator=generator, device=device)
                angle = (2 * u[0] - 1) * math.radians(self.max_rotation)
                zoom = self.min_scale + (self.max_scale - self.min_scale) * u[1]
                cos, sin = angle.cos() / zoom, angle.sin() / zoom
                zero = torch.zeros_like(cos)
                theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
            sigma = float(torch.rand((), generator=generator, device=device)) * self.max_blur
            noise = None
            if self.noise > 0:
                noise = torch.randn(n, 3, size, size, generator=generator, device=device) * (self.noise / 255)
            draws.append(Transform(dx, dy, theta, sigma, noise))
        return draws
