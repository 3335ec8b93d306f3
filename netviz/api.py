"""Whole jobs from Python: the same composed config and code path as ``python run.py``."""

from __future__ import annotations

from collections.abc import Sequence

from netviz.composition import compose

__all__ = ["compose", "run"]


def run(overrides: Sequence[str] = ()):
    """Run one job from command-line style overrides and return its :class:`~netviz.results.Result`.

    Tracked like a command-line job unless ``tracking=none``; a run made from Python stores its
    resolved config as ``config.yaml`` (it has no Hydra files).

    Example:
        >>> result = run(["model=efficientnet_lite0", "tracking=none"])
        >>> result.map_predicted.shape
        torch.Size([4, 224, 224])
    """
    from netviz.job import run_job

    return run_job(compose(overrides), overrides=overrides)
