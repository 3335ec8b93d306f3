"""Every option of an attack, with its default stated once and checked once, before any model work.

``conf/technique/adversarial.yaml`` mirrors these defaults (a test keeps the two equal); the Python
API (:func:`netviz.make_fooling_images`) takes the same names as keywords.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from netviz.eot import TransformDistribution
from netviz.errors import NetvizError, check_int, check_number, did_you_mean
from netviz.techniques.adversarial.budgets import NORMS

PIXEL_UNITS = "eps and step sizes are in 0-255 pixel units, e.g. 8"
UNTARGETED_FROM = ("prediction", "label")


@dataclass(frozen=True)
class AttackOptions:
    """The options of one attack.

    Attributes:
        iterations: naive: the cap (a pair stops once fooled); pgd/eot: the number of steps; fgsm: 1.
        lr: naive's L2 step length, in the attacked model's input space (an ensemble's is pixels).
        eps: fgsm/pgd/eot: the budget in 0-255 pixel units, of the L-infinity or the L2 norm (``norm``).
        step_size: pgd/eot: the step in 0-255 units; ``None``: ``2.5 * eps / iterations`` (Madry et al. 2018).
        norm: ``linf`` or ``l2``: the budget's norm for fgsm/pgd/eot (:mod:`.budgets`).
        random_start: pgd/eot: start at a random point of the eps-ball (seeded by ``seed``).
        clamp: naive: clamp the image to valid pixels after every step (the report's method does not).
        targeted: reach each target, or leave a class (``untargeted_from``).
        untargeted_from: untargeted: leave the model's ``prediction`` on the original, or its ``label``.
        seed: seeds the random start, the transformations and ``target=random``.
        log_every: record the step curves every this many steps.
        png_check: also judge each image after an 8-bit PNG round trip.
        eot: eot's transformation distribution.
        eot_samples: eot: transformations averaged per step.
        eot_eval_samples: eot: fresh transformations scoring the final images.
        eot_compare_naive: eot: also make the naive image of each pair and score it on the same draws.
        attack_args: ``torchattacks:<Class>``: keyword arguments for the class (``None``: none), in
            torchattacks' own units (``eps`` defaults to netviz's ``eps / 255`` where the class takes one).
    """

    iterations: int = 100
    lr: float = 1.0
    eps: float = 8.0
    step_size: float | None = None
    norm: str = "linf"
    random_start: bool = True
    clamp: bool = False
    targeted: bool = True
    untargeted_from: str = "prediction"
    seed: int = 0
    log_every: int = 10
    png_check: bool = True
    eot: TransformDistribution = field(default_factory=TransformDistribution)
    eot_samples: int = 8
    eot_eval_samples: int = 32
    eot_compare_naive: bool = True
    attack_args: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        check_int("iterations", self.iterations, minimum=1)
        check_number("lr", self.lr, positive=True)
        check_number("adversarial.eps", self.eps, positive=True, hint=PIXEL_UNITS)
        if self.step_size is not None:
            check_number("adversarial.step_size", self.step_size, positive=True, hint=PIXEL_UNITS)
        if self.norm not in NORMS:
            raise NetvizError(f"adversarial.norm={self.norm!r} is not one of {', '.join(NORMS)}")
        if self.untargeted_from not in UNTARGETED_FROM:
            raise NetvizError(f"adversarial.untargeted_from={self.untargeted_from!r} is not one of {', '.join(UNTARGETED_FROM)}")
        check_int("adversarial.eot.samples", self.eot_samples, minimum=1, hint="(transformations per step)")
        check_int("adversarial.eot.eval_samples", self.eot_eval_samples, minimum=1)
        check_int("trainer.log_every", self.log_every, minimum=1)

    def pgd_step_size(self) -> float:
        """pgd/eot's step in 0-255 units: ``step_size``, or Madry et al.'s ``2.5 * eps / iterations``."""
        return self.step_size if self.step_size is not None else 2.5 * self.eps / self.iterations


def attack_options(settings: dict[str, Any]) -> AttackOptions:
    """:class:`AttackOptions` from keyword settings; an unknown name is a one-line error listing the options."""
    names = [f.name for f in dataclasses.fields(AttackOptions)]
    unknown = [key for key in settings if key not in names]
    if unknown:
        raise NetvizError(f"unknown attack option {unknown[0]!r}{did_you_mean(unknown[0], names)}; the options are {', '.join(names)}")
    return AttackOptions(**settings)
