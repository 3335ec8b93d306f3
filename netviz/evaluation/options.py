"""The evaluation's options (``saliency.evaluation.*``) and metric names (``saliency.evaluate``), checked
without a model."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from netviz.errors import NetvizError, check_int, check_number, did_you_mean
from netviz.evaluation import deletion_insertion, fragility

METRICS = ("deletion", "insertion", "randomization", "invariance", "fragility", "localization")


@dataclass
class EvaluationOptions:
    """``saliency.evaluation``: each metric's settings (``conf/technique/saliency.yaml``).

    Attributes:
        steps, baseline: deletion and insertion's ``k`` steps and baseline (``blur``, ``mean``, ``black``).
        blocks: randomization's top blocks to re-initialize, one per cascade step (``None``: all);
            independent: also re-initialize each block alone.
        shift: invariance's constant input shift ``m``, in 0-255 pixel units.
        eps: fragility's L-infinity budgets, in 0-255 pixel units; attack_steps: PGD steps per budget;
            top_k: the share of pixels of the top-k region.
    """

    steps: int = 50
    baseline: str = "blur"
    blocks: int | None = None
    independent: bool = True
    shift: float = 32.0
    eps: list = field(default_factory=lambda: [1, 2, 4, 8])
    attack_steps: int = 10
    top_k: float = 0.02


def check_metrics(names) -> list[str]:
    """The metric names of ``saliency.evaluate``, or a one-line error naming the unknown one."""
    names = [names] if isinstance(names, str) else list(names or [])
    for name in names:
        if name not in METRICS:
            raise NetvizError(f"unknown saliency.evaluate metric {name!r}{did_you_mean(str(name), METRICS)}; choose from {', '.join(METRICS)}")
    return list(dict.fromkeys(names))


def evaluation_options(section) -> EvaluationOptions:
    """:class:`EvaluationOptions` from a ``saliency.evaluation`` mapping, every value checked."""
    section = dict(section or {})
    known = [f.name for f in fields(EvaluationOptions)]
    for key in section:
        if key not in known:
            raise NetvizError(f"unknown option saliency.evaluation.{key}{did_you_mean(key, known)}; choose from {', '.join(known)}")
    options = EvaluationOptions(**{k: v for k, v in section.items() if v is not None or k == "blocks"})
    deletion_insertion.check_options(options.steps, options.baseline)
    if options.blocks is not None:
        check_int("saliency.evaluation.blocks", options.blocks, minimum=1)
    check_number("saliency.evaluation.shift", options.shift)
    options.eps = list(options.eps) if not isinstance(options.eps, (int, float)) else [options.eps]
    fragility.check_options(options.eps, options.attack_steps, options.top_k)
    return options
