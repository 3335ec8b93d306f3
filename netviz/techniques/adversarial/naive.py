"""The report's method: normalized gradient ascent on the target score until the model is fooled.

The CS231n/RDFIA exercise after Szegedy et al. (2014), "Intriguing properties of neural networks".
"""

from __future__ import annotations

import torch

from netviz.techniques.adversarial.attack import AdversarialAttack
from netviz.techniques.adversarial.registry import register_attack
from netviz.techniques.base import unit_gradient


@register_attack("naive")
class NaiveAttack(AdversarialAttack):
    """Each step is ``x <- x + lr * g / ||g||_2``, ``g`` the gradient of the target class score (minus the
    score of the class to leave, untargeted), the L2 norm per image, in the model's normalized input
    space; a pair stops at the first step where it is fooled. A zero gradient (SqueezeNet's ReLU-ed
    scores, Iandola et al. 2016) leaves the image where it is instead of NaN.

    Args:
        lr: the L2 length of a step in the model's input space.
        clamp: clamp the image to valid pixels after every step (the report's method does not, so its
            images may leave [0, 1]: logged as ``out_of_range_share`` and ``max_excursion_255``).
    """

    space = "normalized"
    stop_when_fooled = True

    def __init__(self, *args, lr: float = 1.0, clamp: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lr, self.clamp = float(lr), bool(clamp)

    @classmethod
    def build(cls, classifier, pixels, classes, options):
        return cls(
            classifier, pixels, classes, iterations=options.iterations, targeted=options.targeted,
            log_every=options.log_every, lr=options.lr, clamp=options.clamp,
        )

    @classmethod
    def describe(cls, options) -> str:
        return f"naive method (lr {options.lr:g}{', clamped' if options.clamp else ''})"

    def class_objective(self, scores, classes):
        score = scores.gather(1, classes[:, None]).squeeze(1)
        return score if self.targeted else -score

    def update(self, x, grad, step):
        moved = x + self.lr * unit_gradient(grad)
        if not self.clamp:
            return moved
        low, high = self.classifier.input_bounds()
        return torch.minimum(torch.maximum(moved, low), high)
