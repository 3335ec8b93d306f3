"""Random transforms applied before the forward pass, during optimization only (never at the final evaluation).

One mechanism for three uses: the roll jitter of class visualization (Yosinski et al. 2015), EOT's
random transformations (Athalye et al. 2018) and Gaussian noise (SmoothGrad, Smilkov et al. 2017). A
transform may expand the batch ``k``-fold (``copies = k``: rows ``c * N + i`` are copy ``c`` of
sample ``i``); the loop averages the objective back per sample (:meth:`Evaluation.per_sample`).
Every transform draws from its own seeded generator, so results do not depend on other random draws.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from netviz.eot import TransformDistribution
from netviz.transforms import jitter


class InputTransform(nn.Module):
    """Images ``(N, ...)`` at ``step`` to ``(copies * N, ...)`` transformed images (differentiable)."""

    copies: int = 1

    def forward(self, image: torch.Tensor, step: int) -> torch.Tensor:
        raise NotImplementedError


class RollJitter(InputTransform):
    """A wrap-around roll by a random ``(dx, dy)`` in ``0..max_jitter`` pixels, drawn every step.

    The course's jitter (CS231n / RDFIA): rolling the image, stepping and rolling back is the same as
    stepping along the gradient taken through a rolled input. Offsets come from CPU generators of
    their own, so they are the same on any device. ``seed`` is one seed (one offset per step for the
    whole batch) or one seed per sample (each sample rolled by its own offsets: a sample's image then
    does not depend on the batch it runs in, which a batched grid needs).
    """

    def __init__(self, max_jitter: int, seed: int | Sequence[int] = 0) -> None:
        super().__init__()
        self.max_jitter = int(max_jitter)
        seeds = [seed] if isinstance(seed, int) else list(seed)
        self.per_sample = not isinstance(seed, int)
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self._drawn: tuple[int, list[tuple[int, int]]] = (-1, [])  # (step, [(dx, dy) per generator])

    def offsets(self, step: int) -> list[tuple[int, int]]:
        """The ``(dx, dy)`` of ``step``, one per generator, drawn once however often the step asks."""
        if self._drawn[0] != step:
            drawn = [tuple(torch.randint(0, self.max_jitter + 1, (2,), generator=g).tolist()) for g in self.generators]
            self._drawn = (step, drawn)
        return self._drawn[1]

    def forward(self, image, step):
        if self.max_jitter == 0:
            return image
        offsets = self.offsets(step)
        if not self.per_sample:
            return jitter(image, *offsets[0])
        if len(offsets) != len(image):
            raise ValueError(f"RollJitter has {len(offsets)} per-sample seeds for a batch of {len(image)}")
        return torch.cat([jitter(image[i : i + 1], dx, dy) for i, (dx, dy) in enumerate(offsets)])


class RandomTransforms(InputTransform):
    """``samples`` random draws of EOT's distribution per step (:class:`netviz.eot.TransformDistribution`),
    acting on pixels in [0, 1]: use it with the ``pixels`` parameterization."""

    def __init__(self, distribution: TransformDistribution, samples: int, seed: int = 0) -> None:
        super().__init__()
        self.distribution, self.copies, self.seed = distribution, int(samples), int(seed)
        self._generator: torch.Generator | None = None

    def forward(self, image, step):
        if self._generator is None or self._generator.device != image.device:
            self._generator = torch.Generator(device=image.device).manual_seed(self.seed)
        draws = self.distribution.sample(self.copies, len(image), image.shape[-1], self._generator)
        return torch.cat([transform(image) for transform in draws])


class GaussianNoise(InputTransform):
    """``samples`` noisy copies of each image in one batch, noise std ``std`` in the image's own units
    (SmoothGrad's, Smilkov et al. 2017: the caller turns "a share of the input range" into ``std``)."""

    def __init__(self, std: float, samples: int, seed: int = 0) -> None:
        super().__init__()
        self.std, self.copies, self.seed = float(std), int(samples), int(seed)
        self._generator: torch.Generator | None = None

    def forward(self, image, step):
        if self._generator is None or self._generator.device != image.device:
            self._generator = torch.Generator(device=image.device).manual_seed(self.seed)
        copies = image.repeat(self.copies, *([1] * (image.dim() - 1)))
        noise = torch.randn(copies.shape, generator=self._generator, device=image.device, dtype=image.dtype)
        return copies + self.std * noise


class Transforms(InputTransform):
    """Transforms applied in order; their copies multiply."""

    def __init__(self, transforms: Iterable[InputTransform] = ()) -> None:
        super().__init__()
        self.chain = nn.ModuleList(transforms)
        self.copies = 1
        for transform in self.chain:
            self.copies *= transform.copies

    def forward(self, image, step):
        for transform in self.chain:
            image = transform(image, step)
        return image
