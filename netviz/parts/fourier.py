"""The Fourier parameterization: an image as its 2-D spectrum, scaled by ``1 / f^decay`` (Olah et al. 2017).

Gradient steps in pixel space favour high frequencies: every pixel moves on its own. Lucid
("Feature Visualization", Olah, Mordvintsev and Schubert 2017) optimizes the real FFT of the image
instead, each frequency ``f`` (cycles per pixel) scaled by ``1 / max(f, 1 / size) ^ decay``, so that
a step changes low frequencies as much as natural images' 1/f spectrum does, and high ones little.
The formula is Lucid's ``fft_image`` as Lucent ports it (``lucent.optvis.param.spatial``): an
orthonormal inverse real FFT, divided by Lucid's constant 4.
"""

from __future__ import annotations

import torch

# Lucid's "magic" divisor of the inverse FFT ("increasing this seems to reduce saturation").
LUCID_FFT_DIVISOR = 4.0


def spectrum_frequencies(height: int, width: int) -> torch.Tensor:
    """``(height, width // 2 + 1)`` radial frequencies ``sqrt(fx^2 + fy^2)`` (cycles per pixel) of a real
    FFT; an odd width keeps one more column, cut off after the inverse, as Lucid does."""
    fy = torch.fft.fftfreq(height, dtype=torch.float64)[:, None]
    columns = width // 2 + 2 if width % 2 else width // 2 + 1
    fx = torch.fft.fftfreq(width, dtype=torch.float64)[:columns]
    return (fx.square() + fy.square()).sqrt()


def spectrum_scale(height: int, width: int, decay: float = 1.0) -> torch.Tensor:
    """``1 / max(f, 1 / max(height, width)) ^ decay`` per frequency, ``(height, columns)`` float32."""
    frequencies = spectrum_frequencies(height, width)
    return (1.0 / frequencies.clamp_min(1.0 / max(height, width)) ** decay).float()


def spectrum_shape(count: int, channels: int, height: int, width: int) -> tuple[int, ...]:
    """The parameters' shape: ``(count, channels, height, columns, 2)``, real and imaginary parts."""
    return (count, channels, *spectrum_frequencies(height, width).shape, 2)


def fourier_image(spectrum: torch.Tensor, height: int, width: int, scale: torch.Tensor) -> torch.Tensor:
    """Spectra ``(N, C, H, columns, 2)`` to images ``(N, C, height, width)``: scaled, inverse real FFT
    (orthonormal), divided by :data:`LUCID_FFT_DIVISOR`."""
    scaled = torch.view_as_complex((scale[..., None] * spectrum).contiguous())
    image = torch.fft.irfftn(scaled, s=(height, width), norm="ortho")
    return image[..., :height, :width] / LUCID_FFT_DIVISOR


def fourier_spectrum(image: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`fourier_image`: images ``(N, C, H, W)`` to spectra ``(N, C, H, columns, 2)``
    (for an odd width, the extra column that the inverse ignores is zero)."""
    spectrum = torch.view_as_real(torch.fft.rfftn(image * LUCID_FFT_DIVISOR, dim=(-2, -1), norm="ortho"))
    missing = scale.shape[-1] - spectrum.shape[-2]
    if missing:
        spectrum = torch.nn.functional.pad(spectrum, (0, 0, 0, missing))
    return spectrum / scale[..., None]
