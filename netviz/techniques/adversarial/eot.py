"""Expectation over Transformation: PGD on the objective averaged over random transformations.

Athalye, Engstrom, Ilyas and Kwok (2018), "Synthesizing Robust Adversarial Examples". The
distribution of transformations is :mod:`netviz.eot`.
"""

from __future__ import annotations

import torch

from netviz.eot import TransformDistribution
from netviz.techniques.adversarial.attack import is_fooled
from netviz.techniques.adversarial.pgd import NORM_SYMBOLS, PGDAttack
from netviz.techniques.adversarial.registry import register_attack


@register_attack("eot")
class EOTAttack(PGDAttack):
    """Every step shows the model ``samples`` randomly transformed copies of each image (one batch of
    ``samples * N``) and ascends their average objective; a pair's verdict at a step is on its copies'
    average logits. The final images are judged as they are (:mod:`.evaluation`).

    Args:
        distribution: the random transformations (:class:`netviz.eot.TransformDistribution`).
        samples: transformations averaged per step (>= 1).
    """

    def __init__(self, *args, distribution: TransformDistribution, samples: int = 8, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.distribution, self.samples = distribution, int(samples)
        self._generator: torch.Generator | None = None

    @classmethod
    def build(cls, classifier, pixels, classes, options):
        return cls(classifier, pixels, classes, distribution=options.eot, samples=options.eot_samples, **cls.pgd_settings(options))

    @classmethod
    def starts_from_original(cls, options) -> bool:
        return False  # its first step sees transformed copies

    @classmethod
    def describe(cls, options) -> str:
        return f"eot ({NORM_SYMBOLS[options.norm]} eps {options.eps:g}/255, {options.iterations} steps, {options.eot_samples} draws)"

    def model_input(self, x, step):
        if self._generator is None or self._generator.device != x.device:
            self._generator = torch.Generator(device=x.device).manual_seed(self.seed)
        draws = self.distribution.sample(self.samples, len(x), x.shape[-1], self._generator)
        return self.classifier.normalize(torch.cat([transform(x) for transform in draws]))

    def verdict_logits(self, logits):
        return logits.view(self.samples, len(self.targets), -1).mean(0)

    def objective(self, x, logits, scores, step):
        classes = self.targets.repeat(self.samples)
        return self.class_objective(scores, classes).view(self.samples, -1).mean(0)

    def step_metrics(self, logits, objective):
        copies = is_fooled(logits, self.targets.repeat(self.samples), self.targeted).view(self.samples, -1)
        return {**super().step_metrics(logits, objective), "transform_success": copies.float().mean(0)}
