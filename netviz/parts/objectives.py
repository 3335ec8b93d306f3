"""Objectives: the per-sample value ``(M,)`` a loop maximizes, from one forward pass.

An objective reads an :class:`Evaluation` (the input the model saw, its logits and scores, each
row's target, captured activations) and returns one value per row. Objectives compose like Lucent's
(Olah et al. 2017): ``ClassScore() - 1e-3 * SquaredL2() - 0.1 * TotalVariation()``; a weight is a
number or a per-sample tensor ``(N,)``, and ``a * b`` multiplies two objectives.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
from torch import nn

# Avoids the infinite gradient of (d^2)^(beta/2) at d = 0 when beta < 2 (Mahendran and Vedaldi 2016).
TV_EPSILON = 1e-8


@dataclass
class Evaluation:
    """One forward pass, as objectives and metrics see it.

    Attributes:
        input: ``(M, 3, S, S)`` what the model saw (transforms applied, normalized), ``M = copies * N``.
        logits: ``(M, C)`` the model's logits.
        scores: ``(M, C)`` the scores objectives climb (:meth:`netviz.models.Classifier.class_scores`).
        targets: ``(M,)`` each row's target class (the ``N`` targets repeated ``copies`` times).
        copies: how many transformed copies of each sample the batch holds (rows ``c * N + i``).
        activations: captured layer outputs by name (empty unless a technique captures some).
    """

    input: torch.Tensor
    logits: torch.Tensor
    scores: torch.Tensor
    targets: torch.Tensor
    copies: int = 1
    activations: dict[str, torch.Tensor] = field(default_factory=dict)

    def per_sample(self, values: torch.Tensor) -> torch.Tensor:
        """``(M,)`` or ``(M, ...)`` values averaged over each sample's copies: ``(N,)``/``(N, ...)``."""
        if self.copies == 1:
            return values
        return values.view(self.copies, -1, *values.shape[1:]).mean(0)


class Objective(nn.Module):
    """A value ``(M,)`` per row of an :class:`Evaluation` to maximize; composes with ``+ - *``."""

    def forward(self, evaluation: Evaluation) -> torch.Tensor:
        raise NotImplementedError

    def __add__(self, other: Objective) -> Objective:
        return Combined(self, _objective(other), operator.add, "+")

    def __sub__(self, other: Objective) -> Objective:
        return Combined(self, _objective(other), operator.sub, "-")

    def __mul__(self, other: Objective | float | torch.Tensor) -> Objective:
        if isinstance(other, Objective):
            return Combined(self, other, operator.mul, "*")
        return Weighted(other, self)

    __rmul__ = __mul__

    def __neg__(self) -> Objective:
        return Weighted(-1.0, self)


def _objective(value) -> Objective:
    if not isinstance(value, Objective):
        raise TypeError(f"objectives combine with objectives (got {type(value).__name__}); weight one with number * objective")
    return value


class Combined(Objective):
    """``left <op> right`` of two objectives."""

    def __init__(self, left: Objective, right: Objective, op, symbol: str) -> None:
        super().__init__()
        self.left, self.right, self.op, self.symbol = left, right, op, symbol

    def forward(self, evaluation):
        return self.op(self.left(evaluation), self.right(evaluation))

    def extra_repr(self) -> str:
        return self.symbol


class Weighted(Objective):
    """``weight * objective``, the weight a number or a per-sample tensor ``(N,)`` (repeated over copies)."""

    def __init__(self, weight: float | torch.Tensor, objective: Objective) -> None:
        super().__init__()
        self.objective = objective
        if isinstance(weight, torch.Tensor):
            self.register_buffer("weight", weight.detach().clone())
        else:
            self.weight = float(weight)

    def forward(self, evaluation):
        value = self.objective(evaluation)
        weight = self.weight
        if isinstance(weight, torch.Tensor) and weight.numel() != value.numel():
            weight = weight.repeat(value.numel() // weight.numel())
        return weight * value


class ClassScore(Objective):
    """The target's score (Simonyan et al. 2014: the unnormalized class score, not the probability)."""

    def forward(self, evaluation):
        return evaluation.scores.gather(1, evaluation.targets[:, None]).squeeze(1)


class LogProbability(Objective):
    """The target's log-probability (the negative cross-entropy PGD climbs, Madry et al. 2018)."""

    def forward(self, evaluation):
        return evaluation.scores.float().log_softmax(dim=1).gather(1, evaluation.targets[:, None]).squeeze(1)


class SquaredL2(Objective):
    """``||x||^2`` of the model's input (Simonyan et al. 2014, eq. 1); subtract it as a penalty."""

    def forward(self, evaluation):
        return evaluation.input.flatten(1).square().sum(dim=1)


class L2Norm(Objective):
    """``||x||`` of the model's input (the RDFIA handout's penalty: its gradient has unit length)."""

    def forward(self, evaluation):
        return evaluation.input.flatten(1).norm(dim=1)


def total_variation(x: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """Total variation ``(N,)`` of images ``(N, C, H, W)``: ``sum((dx^2 + dy^2) ^ (beta / 2))``.

    Differences to the right and downward neighbour, over the ``(H - 1) x (W - 1)`` pixels that have
    both (Mahendran and Vedaldi 2016, eq. 6).
    """
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    squared = dx.square() + dy.square()
    if beta != 2.0:
        squared = (squared + TV_EPSILON).pow(beta / 2)
    return squared.flatten(1).sum(dim=1)


class TotalVariation(Objective):
    """Total variation of the model's input (Mahendran and Vedaldi 2016); subtract it as a penalty."""

    def __init__(self, beta: float = 2.0) -> None:
        super().__init__()
        self.beta = float(beta)

    def forward(self, evaluation):
        return total_variation(evaluation.input, self.beta)
