"""The parts a visualization's options name: its parameterization, transforms and step rule.

Class and feature visualization share these choices (``param``, ``color``, ``valid``, ``decay``,
``transforms``, ``optimizer``, ``lr``). The course's combination (``pixel``, ``rgb``, ``clamp``,
``course``, ``ascent``) is the normalized input with a roll jitter and normalized ascent; Lucid's
(Olah et al. 2017) is ``fourier``, ``decorrelated``, ``sigmoid``, ``lucid``, ``adam`` with lr 0.05.
"""

from __future__ import annotations

import torch

from netviz.errors import NetvizError
from netviz.models import Classifier
from netviz.parts.color import COLORS, VALID_PIXELS
from netviz.parts.image_parameterization import SPATIAL, ImageParameterization
from netviz.parts.lucid_transforms import lucid_transforms
from netviz.parts.parameterization import NormalizedInput, Parameterization
from netviz.parts.steps import NormalizedAscent, PostStep, StepRule, TorchOptimizer, optimizer_class
from netviz.parts.transforms import InputTransform, RollJitter
from netviz.transforms import gaussian_blur

TRANSFORM_SETS = ("course", "lucid")
ASCENT = "ascent"  # the course's normalized ascent; any other name is a torch.optim optimizer


def check_choices(section: str, param: str, color: str, valid: str, decay: float, transforms: str, optimizer: str) -> None:
    """One-line errors for choices that are not known, naming the section (``classviz``, ``featureviz``)."""
    for key, value, choices in (("param", param, SPATIAL), ("color", color, COLORS), ("valid", valid, VALID_PIXELS),
                                ("transforms", transforms, TRANSFORM_SETS)):
        if value not in choices:
            raise NetvizError(f"{section}.{key}={value!r} is not one of {', '.join(choices)}")
    if not decay >= 0:
        raise NetvizError(f"{section}.decay={decay} must be >= 0 (1: Lucid's 1/f scaling)")
    if optimizer != ASCENT:
        try:
            optimizer_class(optimizer)
        except NetvizError as error:
            raise NetvizError(f"{section}.optimizer: {error}; or {ASCENT} for the course's normalized ascent") from None


def is_course_parameterization(param: str, color: str, valid: str) -> bool:
    """Whether the choices are the course's: the normalized input itself, clamped to valid pixels."""
    return (param, color, valid) == ("pixel", "rgb", "clamp")


def parameterization_for(classifier: Classifier, param: str, color: str, valid: str, decay: float) -> Parameterization:
    """The course's :class:`NormalizedInput` for ``pixel, rgb, clamp``, else an :class:`ImageParameterization`."""
    if is_course_parameterization(param, color, valid):
        return NormalizedInput()
    return ImageParameterization(classifier.input_size, param, color, valid, decay)


def transforms_for(kind: str, classifier: Classifier, parameterization: Parameterization, max_jitter: int, seed: int) -> list[InputTransform]:
    """``course``: the roll jitter of up to ``max_jitter`` pixels; ``lucid``: Lucid's standard set, its
    padding grey in the space the transforms act on (the normalized input for the course's parameterization)."""
    if kind == "course":
        return [RollJitter(max_jitter, seed)]
    grey = torch.full((1, 3, 1, 1), 0.5)
    if isinstance(parameterization, NormalizedInput):
        grey = classifier.normalize(grey.to(classifier.device)).cpu()
    return lucid_transforms(seed, grey)


def step_for(optimizer: str, lr: float) -> StepRule:
    """Normalized ascent of step ``lr`` (``ascent``) or the ``torch.optim`` optimizer ``optimizer`` with learning rate ``lr``."""
    return NormalizedAscent(lr) if optimizer == ASCENT else TorchOptimizer(optimizer, lr)


def random_start(parameterization: Parameterization, count: int, seed: int) -> torch.Tensor:
    """``count`` start images as pixels from Lucent's random parameters (``N(0, 0.01^2)``: nearly grey)."""
    if not isinstance(parameterization, ImageParameterization):
        raise NetvizError("random_start needs an ImageParameterization (the course's start is classviz.noise_start)")
    with torch.no_grad():
        return parameterization.image(parameterization.random(count, torch.Generator().manual_seed(seed)))


class BlurImageEvery(PostStep):
    """Yosinski et al. (2015)'s blur for an :class:`ImageParameterization`: every ``every`` steps the parameters become
    those of their image blurred with a Gaussian of std ``sigma`` pixels.

    Attributes:
        steps: the steps at which it blurred.
    """

    def __init__(self, parameterization: ImageParameterization, every: int, sigma: float) -> None:
        super().__init__()
        self.parameterization = parameterization
        self.every, self.sigma = int(every), float(sigma)
        self.steps: list[int] = []

    def forward(self, params, step):
        if step % self.every:
            return params
        self.steps.append(step)
        image = gaussian_blur(self.parameterization.image(params), self.sigma)
        return self.parameterization.initial(image, None)
