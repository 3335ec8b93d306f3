"""Projected gradient descent under an L-infinity or L2 budget (Madry et al. 2018)."""

from __future__ import annotations

import torch

from netviz.techniques.adversarial.attack import AdversarialAttack
from netviz.techniques.adversarial.budgets import budget
from netviz.techniques.adversarial.evaluation import snap_to_8bit
from netviz.techniques.adversarial.registry import register_attack

NORM_SYMBOLS = {"linf": "L∞", "l2": "L2"}


@register_attack("pgd")
class PGDAttack(AdversarialAttack):
    """Madry et al. (2018), "Towards Deep Learning Models Resistant to Adversarial Attacks".

    Each step moves the image by ``step_size`` along the steepest direction of the norm (the sign of
    the gradient for L-infinity, the unit gradient for L2) of the log-probability of the target (of
    minus the log-probability of the class to leave, untargeted), then projects onto the ball of
    radius ``eps`` around the original and onto [0, 1]: the image is valid after every step. With one
    step, ``step_size = eps`` and no random start it is FGSM (Goodfellow et al. 2015).

    Args:
        eps: the budget in 0-255 pixel units (of the L-infinity or the L2 norm).
        step_size: the change per step, in 0-255 pixel units.
        norm: ``linf`` or ``l2`` (:mod:`netviz.techniques.adversarial.budgets`).
        random_start: start from a random point of the eps-ball.
        seed: seeds the random start.

    From 8-bit images (every pixel a multiple of 1/255), with whole-unit ``eps`` and ``step_size``
    and no random start, every L-infinity iterate is an 8-bit image too: each step is put back
    exactly on the 8-bit grid (float rounding moves it by about 1e-8). The result then *is* the
    PNG it saves, and the PNG check needs no pass of its own (FGSM's second verdict).
    """

    space = "pixels"

    def __init__(
        self,
        *args,
        eps: float = 8.0,
        step_size: float = 2.0,
        norm: str = "linf",
        random_start: bool = True,
        seed: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.budget, self.norm = budget(norm, eps), norm
        self.eps, self.step_size, self.seed = float(eps) / 255, float(step_size) / 255, int(seed)
        self.register_buffer("origin", self.x.clone())
        self.on_8bit_grid = (
            norm == "linf" and not random_start and float(eps).is_integer() and float(step_size).is_integer()
            and torch.equal(snap_to_8bit(self.x), self.x)
        )
        if random_start:
            self.x = self.budget.random_start(self.x, torch.Generator().manual_seed(self.seed))

    @classmethod
    def build(cls, classifier, pixels, classes, options):
        return cls(classifier, pixels, classes, **cls.pgd_settings(options))

    @staticmethod
    def pgd_settings(options) -> dict:
        """The keyword arguments of a PGD-like attack from :class:`~..options.AttackOptions`."""
        return {
            "iterations": options.iterations, "targeted": options.targeted, "log_every": options.log_every,
            "eps": options.eps, "step_size": options.pgd_step_size(), "norm": options.norm,
            "random_start": options.random_start, "seed": options.seed,
        }

    @classmethod
    def starts_from_original(cls, options) -> bool:
        return not options.random_start

    @classmethod
    def describe(cls, options) -> str:
        return f"{cls.method} ({NORM_SYMBOLS[options.norm]} eps {options.eps:g}/255, {options.iterations} steps)"

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` projected onto the eps-ball around the original images, then onto valid pixels [0, 1]."""
        return self.budget.project(x, self.origin)

    def class_objective(self, scores, classes):
        log_prob = scores.float().log_softmax(dim=1).gather(1, classes[:, None]).squeeze(1)
        return log_prob if self.targeted else -log_prob

    def update(self, x, grad, step):
        moved = self.project(x + self.step_size * self.budget.direction(grad))
        return snap_to_8bit(moved) if self.on_8bit_grid else moved

