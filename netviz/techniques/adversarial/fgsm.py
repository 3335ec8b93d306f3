"""The fast gradient sign method: one step of the whole budget (Goodfellow, Shlens and Szegedy 2015)."""

from __future__ import annotations

from netviz.techniques.adversarial.pgd import NORM_SYMBOLS, PGDAttack
from netviz.techniques.adversarial.registry import register_attack


@register_attack("fgsm")
class FGSMAttack(PGDAttack):
    """Goodfellow et al. (2015), "Explaining and Harnessing Adversarial Examples": one step of ``eps``
    along the sign of the gradient of the log-probability (``norm=l2``: along the unit gradient, the
    fast gradient method), from the image itself, clipped to [0, 1]."""

    @classmethod
    def build(cls, classifier, pixels, classes, options):
        settings = {**cls.pgd_settings(options), "iterations": 1, "step_size": options.eps, "random_start": False}
        return cls(classifier, pixels, classes, **settings)

    @classmethod
    def starts_from_original(cls, options) -> bool:
        return True

    @classmethod
    def describe(cls, options) -> str:
        return f"fgsm ({NORM_SYMBOLS[options.norm]} eps {options.eps:g}/255)"
