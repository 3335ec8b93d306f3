"""What every attribution method is made of: an expansion, a class score, and a reduction.

A method maps each image to ``copies`` model inputs (:meth:`AttributionMethod.points`: the image
itself, noisy copies for SmoothGrad, the points of the path for Integrated Gradients), lets the loop
take the gradient of the target's class score at each of them (one batched forward/backward pass per
chunk of inputs, :class:`netviz.techniques.saliency.loop.Saliency`), and reduces those gradients
into one attribution per image (:meth:`accumulate`, then :meth:`finish`). All inputs and gradients
are in the model's normalized input space.

A method is a dataclass whose fields are its options; :func:`register` makes it a
``saliency.method=`` choice, so adding a method is adding one small file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch

from netviz.capture import CaptureContext, Captured
from netviz.errors import NetvizError, did_you_mean
from netviz.models import Classifier

METHODS: dict[str, type["AttributionMethod"]] = {}


def register(cls: type["AttributionMethod"]) -> type["AttributionMethod"]:
    """Make ``cls`` the method ``saliency.method=<cls.name>``."""
    METHODS[cls.name] = cls
    return cls


@dataclass
class AttributionMethod:
    """The gradient of the class score at ``copies`` points per image, reduced to one attribution.

    Subclasses set ``name`` and ``title``, declare their options as dataclass fields, and override
    what differs from the plain gradient.
    """

    name: ClassVar[str]
    title: ClassVar[str]  # for captions: "integrated gradients"

    @property
    def copies(self) -> int:
        """Model inputs per image."""
        return 1

    def check(self, classifier: Classifier) -> None:
        """Raise a one-line error for options that do not fit ``classifier`` (before any pass)."""

    def prepare(self, images: torch.Tensor, classifier: Classifier, generator: torch.Generator) -> None:
        """Per-run state on the loop's device (baselines, noise levels), from the normalized images."""

    def points(self, images: torch.Tensor, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The model inputs of expanded rows ``rows`` (row ``i * copies + k``: copy ``k`` of image ``i``)."""
        return images[rows // self.copies]

    def hooks(self, classifier: Classifier) -> CaptureContext:
        """Hooks active during the forward pass (a layer to capture, guided ReLUs): none by default."""
        return classifier.capture()

    def accumulate(self, total: torch.Tensor, grads: torch.Tensor, rows: torch.Tensor, seen: Captured) -> None:
        """Add the gradients ``grads`` of rows ``rows`` into the per-image ``total`` ``(N, 3, S, S)``."""
        total.index_add_(0, rows // self.copies, grads)

    def finish(self, total: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """The attributions ``(N, 3, S, S)`` from the accumulated ``total`` and the images."""
        return total

    def to_map(self, attributions: torch.Tensor) -> torch.Tensor:
        """One value per pixel ``(N, S, S)``: the largest absolute attribution over the colour channels
        (Simonyan et al. 2014)."""
        return attributions.abs().amax(dim=1)

    def describe(self) -> str:
        """The method and its settings, for captions: ``"integrated gradients, 32 steps, black baseline"``."""
        return self.title


def option_names(method: type[AttributionMethod]) -> list[str]:
    """The options a method takes (its fields)."""
    return [f.name for f in dataclasses.fields(method)]


def make_method(name: str, **options) -> AttributionMethod:
    """The method ``name`` with ``options``; a one-line error for an unknown method or an option it
    does not take (naming the method that takes it, if one does)."""
    if name not in METHODS:
        raise NetvizError(
            f"unknown saliency.method {name!r}{did_you_mean(name, METHODS)}; choose one of {', '.join(METHODS)}"
        )
    cls = METHODS[name]
    takes = option_names(cls)
    for option in options:
        if option in takes:
            continue
        owners = [m for m, c in METHODS.items() if option in option_names(c)]
        owner = f"saliency.{option} is an option of {', '.join(owners)}" if owners else f"unknown option saliency.{option}"
        own = ", ".join(f"saliency.{t}" for t in takes)
        raise NetvizError(f"{owner}; saliency.method={name} takes {own + ' and ' if own else 'only '}saliency.batch_size")
    return cls(**options)
