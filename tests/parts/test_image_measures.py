"""The measures of generated images: high-frequency energy against NumPy, transform-robust probability
against a plain loop over the same draws."""

from __future__ import annotations

import numpy as np
import torch

from netviz.eot import TransformDistribution
from netviz.parts.image_measures import ROBUST_DISTRIBUTION, high_frequency_energy, transform_robust_probability
from tests.conftest import tiny_classifier


def numpy_high_frequency_energy(image: np.ndarray) -> float:
    """The share of power above 0.25 cycles per pixel of one image (C, H, W), each channel's mean removed."""
    power = 0.0
    high = 0.0
    fy, fx = np.meshgrid(np.fft.fftfreq(image.shape[1]), np.fft.fftfreq(image.shape[2]), indexing="ij")
    radius = np.hypot(fx, fy)
    for channel in image:
        spectrum = np.abs(np.fft.fft2(channel - channel.mean())) ** 2
        power += spectrum.sum()
        high += spectrum[radius > 0.25].sum()
    return high / power


def test_high_frequency_energy_matches_numpy_and_its_extremes():
    rng = np.random.default_rng(0)
    images = rng.random((3, 3, 20, 24))
    ours = high_frequency_energy(torch.from_numpy(images).float())
    np.testing.assert_allclose(ours.numpy(), [numpy_high_frequency_energy(im) for im in images], rtol=1e-4)
    i = torch.arange(16.0)
    checkerboard = ((-1) ** (i[:, None] + i[None, :])).expand(3, 16, 16)
    slow_wave = torch.sin(2 * torch.pi * i / 16)[None, None].expand(3, 16, 16)
    flat = torch.full((3, 16, 16), 0.3)
    torch.testing.assert_close(high_frequency_energy(torch.stack([checkerboard, slow_wave, flat])), torch.tensor([1.0, 0.0, 0.0]), atol=1e-6, rtol=0)


def test_transform_robust_probability_is_the_mean_probability_over_the_draws():
    classifier = tiny_classifier()
    pixels = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    targets = torch.tensor([1, 4])
    ours = transform_robust_probability(classifier, pixels, targets, draws=5, seed=7)
    draws = ROBUST_DISTRIBUTION.sample(5, 2, 16, torch.Generator().manual_seed(7))
    with torch.no_grad():
        expected = torch.stack([classifier(classifier.normalize(t(pixels))).softmax(1)[[0, 1], targets] for t in draws]).mean(0)
    torch.testing.assert_close(ours, expected)
    identity = TransformDistribution(max_shift=0, max_rotation=0, min_scale=1, max_scale=1, max_blur=0, noise=0)
    with torch.no_grad():
        plain = classifier(classifier.normalize(pixels)).softmax(1)[[0, 1], targets]
    torch.testing.assert_close(transform_robust_probability(classifier, pixels, targets, draws=3, distribution=identity), plain)
