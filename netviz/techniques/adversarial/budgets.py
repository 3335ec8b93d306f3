"""Perturbation budgets: the ball an attack stays in, how it steps, and where it starts.

Madry et al. (2018), "Towards Deep Learning Models Resistant to Adversarial Attacks": PGD ascends the
loss with the steepest step of the norm (the gradient's sign for L-infinity, the unit gradient for L2)
and projects back onto the ball of radius ``eps`` around the original image, then onto valid pixels
[0, 1]. ``eps`` and step sizes are given in 0-255 pixel units (``eps=8``: 8/255 per pixel for
L-infinity; for L2, the Euclidean norm of the whole perturbation measured in 0-255 levels).
"""

from __future__ import annotations

import torch

from netviz.errors import NetvizError
from netviz.techniques.base import unit_gradient

NORMS = ("linf", "l2")


def _per_sample(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.view(-1, *([1] * (like.dim() - 1)))


class LinfBall:
    """``|x - origin|_inf <= eps``: steps along the gradient's sign (Goodfellow et al. 2015)."""

    def __init__(self, eps_255: float) -> None:
        self.eps = float(eps_255) / 255

    def direction(self, grad: torch.Tensor) -> torch.Tensor:
        return grad.sign()

    def project(self, x: torch.Tensor, origin: torch.Tensor) -> torch.Tensor:
        """``x`` clipped to the ball around ``origin``, then to [0, 1]."""
        return torch.minimum(torch.maximum(x, origin - self.eps), origin + self.eps).clamp(0, 1)

    def random_start(self, origin: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A uniform random point of the ball (then clipped to [0, 1])."""
        noise = torch.rand(origin.shape, generator=generator).to(origin)
        return self.project(origin + (2 * noise - 1) * self.eps, origin)


class L2Ball:
    """``||x - origin||_2 <= eps`` per image: steps along the unit gradient, projects by rescaling."""

    def __init__(self, eps_255: float) -> None:
        self.eps = float(eps_255) / 255

    def direction(self, grad: torch.Tensor) -> torch.Tensor:
        return unit_gradient(grad)

    def project(self, x: torch.Tensor, origin: torch.Tensor) -> torch.Tensor:
        """``x - origin`` scaled down onto the ball where it is longer than ``eps``, then clipped to [0, 1]."""
        delta = x - origin
        norms = delta.flatten(1).norm(dim=1).clamp_min(torch.finfo(delta.dtype).tiny)
        delta = delta * _per_sample(torch.clamp(self.eps / norms, max=1.0), delta)
        return (origin + delta).clamp(0, 1)

    def random_start(self, origin: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A random direction at a uniform random radius in [0, eps] (torchattacks' ``PGDL2``), in [0, 1]."""
        direction = unit_gradient(torch.randn(origin.shape, generator=generator).to(origin))
        radius = torch.rand(len(origin), generator=generator).to(origin) * self.eps
        return self.project(origin + direction * _per_sample(radius, origin), origin)


def budget(norm: str, eps_255: float) -> LinfBall | L2Ball:
    """The ball of ``norm`` (``linf`` or ``l2``) with radius ``eps_255`` in 0-255 units."""
    if norm == "linf":
        return LinfBall(eps_255)
    if norm == "l2":
        return L2Ball(eps_255)
    raise NetvizError(f"adversarial.norm={norm!r} is not one of {', '.join(NORMS)}")
