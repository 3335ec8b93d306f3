"""Lucid's robustness transforms: pad, jitter, random scale, random rotation (Olah et al. 2017).

Feature visualization with transforms applied before every forward pass keeps only what survives
small changes of position, size and orientation, which adversarial high-frequency patterns do not
(Mordvintsev et al. 2015; Olah, Mordvintsev and Schubert 2017). :func:`lucid_transforms` is Lucid's
``standard_transforms``: pad 12 with grey, jitter 8, scale by one of ``1 + (i - 5) / 50``, rotate by
one of -10..10 degrees (0 five times more often), jitter 4. Each transform draws one value per step
for the whole batch from its own seeded CPU generator (the same draws on any device), and is
differentiable. Images change size (pad, crop, scale): the model must pool globally, as CNNs do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from netviz.parts.transforms import InputTransform

LUCID_SCALES = tuple(1 + (i - 5) / 50 for i in range(11))
LUCID_ANGLES = tuple(range(-10, 11)) + 5 * (0,)


class _Drawn(InputTransform):
    """A transform with its own seeded generator, drawing from ``choices`` by index."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.generator = torch.Generator().manual_seed(int(seed))

    def choose(self, choices: Sequence):
        return choices[int(torch.randint(len(choices), (), generator=self.generator))]


class Pad(InputTransform):
    """Pad ``width`` pixels on every side with ``fill`` (a number, or per channel ``(1, C, 1, 1)``)."""

    def __init__(self, width: int, fill: float | torch.Tensor = 0.5) -> None:
        super().__init__()
        self.width = int(width)
        self.register_buffer("fill", torch.as_tensor(fill, dtype=torch.float32))

    def forward(self, image, step):
        fill = self.fill.to(image.dtype)
        return F.pad(image - fill, [self.width] * 4) + fill


class Jitter(_Drawn):
    """Lucid's jitter: a random crop ``k`` pixels smaller in each direction, offsets in ``0..k``."""

    def __init__(self, k: int, seed: int = 0) -> None:
        super().__init__(seed)
        self.k = int(k)

    def forward(self, image, step):
        dx, dy = torch.randint(0, self.k + 1, (2,), generator=self.generator).tolist()
        height, width = image.shape[-2:]
        return image[..., dy : height - self.k + dy, dx : width - self.k + dx]


class RandomScale(_Drawn):
    """Resize by a factor drawn from ``scales`` (bilinear)."""

    def __init__(self, scales: Sequence[float] = LUCID_SCALES, seed: int = 0) -> None:
        super().__init__(seed)
        self.scales = tuple(float(s) for s in scales)

    def forward(self, image, step):
        scale = self.choose(self.scales)
        if scale == 1:
            return image
        size = [max(1, round(scale * side)) for side in image.shape[-2:]]
        return F.interpolate(image, size=size, mode="bilinear", align_corners=False)


class RandomRotation(_Drawn):
    """Rotate about the centre by an angle in degrees drawn from ``angles`` (bilinear, zeros outside, as Lucid)."""

    def __init__(self, angles: Sequence[float] = LUCID_ANGLES, seed: int = 0) -> None:
        super().__init__(seed)
        self.angles = tuple(float(a) for a in angles)

    def forward(self, image, step):
        angle = math.radians(self.choose(self.angles))
        if angle == 0:
            return image
        cos, sin = math.cos(angle), math.sin(angle)
        theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=image.dtype, device=image.device)
        grid = F.affine_grid(theta.expand(len(image), 2, 3), list(image.shape), align_corners=False)
        return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def lucid_transforms(seed: int = 0, fill: float | torch.Tensor = 0.5) -> list[InputTransform]:
    """Lucid's ``standard_transforms`` (see the module), ``fill`` being grey in the image's own units."""
    return [
        Pad(12, fill),
        Jitter(8, seed),
        RandomScale(LUCID_SCALES, seed + 1),
        RandomRotation(LUCID_ANGLES, seed + 2),
        Jitter(4, seed + 3),
    ]
