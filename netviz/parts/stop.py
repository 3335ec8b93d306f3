"""Per-sample stopping rules: which samples are done, judged before each update."""

from __future__ import annotations

import torch
from torch import nn


class StopRule(nn.Module):
    """``(N,)`` booleans, True for the samples that are done, from the logits ``(N, C)`` and targets ``(N,)``.

    Attributes:
        verb: what a done sample is, for the progress line ("all 3 pairs fooled at step 6").
    """

    verb = "done"

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class WhenPredicted(StopRule):
    """Done once the model predicts the target (targeted), or anything but it (untargeted): "fooled"."""

    verb = "fooled"

    def __init__(self, targeted: bool = True) -> None:
        super().__init__()
        self.targeted = bool(targeted)

    def forward(self, logits, targets):
        predicted = logits.argmax(dim=1)
        return predicted == targets if self.targeted else predicted != targets
