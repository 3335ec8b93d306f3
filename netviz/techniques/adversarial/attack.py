"""What every attack on the shared loop has in common: the pairs' classes, the verdict, the target's curve."""

from __future__ import annotations

from typing import ClassVar

import torch

from netviz.models import Classifier
from netviz.techniques.base import InputOptimizer


def is_fooled(logits: torch.Tensor, classes: torch.Tensor, targeted: bool) -> torch.Tensor:
    """``(N,)`` whether each prediction is the target class (targeted) or left the class (untargeted)."""
    predicted = logits.argmax(dim=1)
    return predicted == classes if targeted else predicted != classes


def class_probability(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """``(N,)`` the softmax probability of each row's class."""
    return logits.float().softmax(1).gather(1, classes[:, None].to(logits.device)).squeeze(1)


class AdversarialAttack(InputOptimizer):
    """The base of the registered attacks (:func:`~netviz.techniques.adversarial.registry.register_attack`).

    A subclass states ``class_objective`` (what to raise), ``update`` (how a gradient moves the image)
    and ``build`` (how :class:`~.options.AttackOptions` make one). The loop's last update is followed
    by no hidden pass: the caller judges the final images explicitly, batched with its other checks
    (:mod:`.evaluation`), and hands the verdict to :meth:`conclude`.

    Args:
        classifier, pixels, iterations, log_every: see :class:`~netviz.techniques.base.InputOptimizer`.
        targets: ``(N,)`` per pair, the class to reach (targeted) or to leave (untargeted).
        targeted: reach ``targets`` or leave them.

    Attributes, besides the base's:
        first_fooled: ``(N,)`` the updates after which the pair was first fooled (-1: never; 0: by the
            starting point, e.g. PGD's random start), from the per-step verdict (``finished``).
        start_logits: ``(N, C)`` the logits of the starting inputs, from the first step's verdict: the
            clean images' logits where the attack starts from them (:meth:`starts_from_original`),
            so that nobody computes those again.
        final_logits: ``(N, C)`` the verdict on the final images, set by :meth:`conclude`.
    """

    cpu_chunks = True  # the attack's pass in CPU chunks of 4 images of 224 px: faster, the same values per pair

    method: ClassVar[str] = ""
    stop_when_fooled: ClassVar[bool] = False
    moves_input = False  # the base's own final pass is skipped: the final evaluation is the caller's
    # The terminal: "naive: 100%|... | fooled=3/4", ending "naive: all 4 pairs fooled at step 6" when every
    # pair stops; an attack that runs all its steps shows the target's probability instead.
    stop_verb = "fooled"
    progress_metrics: ClassVar[dict[str, str]] = {"target prob": "target_prob"}

    def __init__(
        self,
        classifier: Classifier,
        pixels: torch.Tensor,
        targets: torch.Tensor,
        *,
        iterations: int,
        targeted: bool = True,
        log_every: int = 10,
    ) -> None:
        super().__init__(
            classifier, pixels, targets, iterations=iterations, log_every=log_every,
            name=self.method or "attack", sample_noun="pairs",
        )
        self.targeted = bool(targeted)
        self.register_buffer("first_fooled", torch.full((len(self.targets),), -1, dtype=torch.int64))
        self.start_logits: torch.Tensor | None = None

    @property
    def has_stop_rule(self) -> bool:
        """Whether pairs stop once fooled (the bar counts them); PGD-like attacks run every step."""
        return self.stop_when_fooled

    @classmethod
    def build(cls, classifier: Classifier, pixels: torch.Tensor, classes: torch.Tensor, options) -> "AdversarialAttack":
        """The attack for ``pixels`` ``(N, 3, S, S)`` and ``classes`` ``(N,)`` with :class:`~.options.AttackOptions`."""
        raise NotImplementedError

    @classmethod
    def starts_from_original(cls, options) -> bool:
        """Whether the first step's input is the clean image itself (no random start, no transformation)."""
        return True

    @classmethod
    def describe(cls, options) -> str:
        """The method and its settings for a caption, e.g. ``naive method (lr 1)``."""
        return f"{cls.method} method"

    def class_objective(self, scores: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """The value ``(M,)`` to maximize, from class scores ``(M, C)`` and each row's class ``(M,)``."""
        raise NotImplementedError

    def verdict_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """The ``(N, C)`` logits a pair is judged on at a step (EOT: the average over its transformed copies)."""
        return logits

    def objective(self, x, logits, scores, step):
        return self.class_objective(scores, self.targets)

    def finished(self, logits, step):
        logits = self.verdict_logits(logits)
        if step == 0:
            self.start_logits = logits
        fooled = is_fooled(logits, self.targets, self.targeted)
        self.first_fooled = torch.where((self.first_fooled < 0) & fooled, step, self.first_fooled)
        return fooled if self.stop_when_fooled else None

    def step_metrics(self, logits, objective):
        return {"target_prob": class_probability(self.verdict_logits(logits), self.targets)}

    @torch.no_grad()
    def conclude(self, final_logits: torch.Tensor) -> None:
        """Take the verdict ``(N, C)`` on the final images: a pair first fooled by them was fooled after all
        of its updates, and the ``target_prob`` curve ends where the images ended."""
        final_logits = final_logits.to(self.targets.device)
        self.final_logits = final_logits
        fooled = is_fooled(final_logits, self.targets, self.targeted)
        self.first_fooled = torch.where((self.first_fooled < 0) & fooled, self.steps_taken, self.first_fooled)
        last = int(self.steps_taken.max())
        curve = self.history.setdefault("target_prob", [])
        if not curve or curve[-1][0] < last:
            curve.append((last, class_probability(final_logits, self.targets)))
