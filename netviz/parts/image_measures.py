"""Measures of a generated image, for comparing ways of making it (Olah et al. 2017's two questions:
does the image contain the class, or only an adversarial pattern? is it noise?).

- :func:`transform_robust_probability`: the mean target probability over fresh random shifts, scales
  and rotations of the final image (EOT's distribution, :class:`netviz.eot.TransformDistribution`,
  without blur or noise), drawn from a seed of its own, never the transforms it was optimized with;
- :func:`high_frequency_energy`: the share of the image's spectral power above half the Nyquist
  frequency (0.25 cycles per pixel), the mean of each channel removed.
"""

from __future__ import annotations

import torch

from netviz.eot import TransformDistribution
from netviz.models import Classifier

ROBUST_DISTRIBUTION = TransformDistribution(max_shift=16, max_rotation=15.0, min_scale=0.9, max_scale=1.1, max_blur=0.0, noise=0.0)
ROBUST_SEED = 12345  # not the loop's seeds: "fresh" transforms


@torch.no_grad()
def transform_robust_probability(
    classifier: Classifier, pixels: torch.Tensor, targets: torch.Tensor, draws: int = 32, seed: int = ROBUST_SEED,
    distribution: TransformDistribution = ROBUST_DISTRIBUTION,
) -> torch.Tensor:
    """``(N,)`` the target's softmax probability averaged over ``draws`` random transforms of ``pixels``
    ``(N, 3, S, S)`` in [0, 1] (each draw: a wrap-around shift up to 16 px, rotation up to 15 degrees,
    scale 0.9-1.1, per image)."""
    generator = torch.Generator().manual_seed(int(seed))
    device = classifier.device
    pixels, targets = pixels.to(device), targets.to(device)
    total = torch.zeros(len(pixels), device=device)
    for transform in distribution.sample(draws, len(pixels), pixels.shape[-1], generator):
        if transform.theta is not None:
            transform = type(transform)(transform.dx, transform.dy, transform.theta.to(device), transform.sigma, transform.noise)
        probabilities = classifier(classifier.normalize(transform(pixels))).float().softmax(dim=1)
        total += probabilities.gather(1, targets[:, None]).squeeze(1)
    return (total / draws).cpu()


def high_frequency_energy(pixels: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """``(N,)`` the share of spectral power at radial frequencies above ``cutoff`` cycles per pixel (half
    the Nyquist frequency 0.5) of images ``(N, C, H, W)``, each channel's mean removed; 0 for a flat image."""
    centred = pixels.double() - pixels.double().mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(centred).abs().square().sum(dim=1)  # (N, H, W), channels summed
    fy = torch.fft.fftfreq(pixels.shape[-2], dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(pixels.shape[-1], dtype=torch.float64)[None, :]
    high = (fx.square() + fy.square()).sqrt() > cutoff
    total = power.flatten(1).sum(dim=1)
    return torch.where(total > 0, (power * high).flatten(1).sum(dim=1) / total.clamp_min(1e-300), torch.zeros_like(total)).float()
