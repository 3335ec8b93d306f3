"""The Fourier and colour parameterizations against Lucent's own code (``lucent.optvis.param``), the oracle."""

from __future__ import annotations

import pytest
import torch

from netviz.parts.color import correlate_color, decorrelate_color, from_valid_pixels, to_valid_pixels
from netviz.parts.fourier import fourier_image, fourier_spectrum, spectrum_scale, spectrum_shape
from netviz.parts.image_parameterization import ImageParameterization

lucent_spatial = pytest.importorskip("lucent.optvis.param.spatial")
lucent_color = pytest.importorskip("lucent.optvis.param.color")


@pytest.mark.parametrize("height, width, decay", [(16, 16, 1.0), (15, 17, 1.0), (32, 24, 0.5), (20, 20, 2.0)])
def test_fourier_image_matches_lucents_fft_image(height, width, decay):
    torch.manual_seed(0)
    (spectrum,), lucent_image = lucent_spatial.fft_image((2, 3, height, width), sd=0.5, decay_power=decay)
    assert tuple(spectrum.shape) == spectrum_shape(2, 3, height, width)
    ours = fourier_image(spectrum.detach(), height, width, spectrum_scale(height, width, decay))
    torch.testing.assert_close(ours, lucent_image().detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size", [16, 15])
def test_fourier_spectrum_inverts_fourier_image(size):
    scale = spectrum_scale(size, size)
    image = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(fourier_image(fourier_spectrum(image, scale), size, size, scale), image, rtol=0, atol=1e-5)


@pytest.mark.parametrize("decorrelate", [False, True])
def test_colour_and_sigmoid_match_lucents_to_valid_rgb(decorrelate):
    values = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    expected = lucent_color.to_valid_rgb(lambda: values, decorrelate=decorrelate)()
    ours = to_valid_pixels(decorrelate_color(values) if decorrelate else values, "sigmoid")
    torch.testing.assert_close(ours, expected)


def test_correlate_color_inverts_the_decorrelation_and_valid_pixels_invert_their_squash():
    values = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(correlate_color(decorrelate_color(values)), values, rtol=0, atol=1e-5)
    pixels = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(3)) * 0.9 + 0.05
    for valid in ("sigmoid", "clamp"):
        torch.testing.assert_close(to_valid_pixels(from_valid_pixels(pixels, valid), valid), pixels)


@pytest.mark.parametrize("spatial", ["fourier", "pixel"])
@pytest.mark.parametrize("color", ["decorrelated", "rgb"])
def test_image_parameterization_is_lucents_image_and_round_trips(spatial, color):
    param = ImageParameterization(16, spatial, color, "sigmoid")
    params = param.random(2, torch.Generator().manual_seed(0), sd=0.3)
    if spatial == "fourier":
        (spectrum,), lucent_image = lucent_spatial.fft_image((2, 3, 16, 16), sd=0.01)
        with torch.no_grad():
            spectrum.copy_(params)
        values = lucent_image().detach()
    else:
        values = params
    expected = lucent_color.to_valid_rgb(lambda: values, decorrelate=color == "decorrelated")()
    image = param.image(params)
    torch.testing.assert_close(image, expected, rtol=1e-5, atol=1e-6)
    assert image.min() > 0 and image.max() < 1  # valid pixels, whatever the parameters
    torch.testing.assert_close(param.image(param.initial(image, None)), image, rtol=0, atol=1e-5)
