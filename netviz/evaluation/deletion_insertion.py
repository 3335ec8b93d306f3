"""Faithfulness by deletion and insertion (Petsiuk, Das and Saenko 2018, "RISE", section 4.1).

Deletion replaces the image's pixels by a baseline's, most salient first, in ``steps`` equal steps,
and records the target's softmax probability after each: a faithful map makes it fall fast (a low
area under the curve). Insertion starts from the baseline and puts the image's pixels back in the
same order: a faithful map makes it rise fast (a high area). The baseline is the image blurred with a
Gaussian of ``side / 20`` pixels by default (the paper's insertion baseline), or the model's mean
colour, or black (:func:`netviz.techniques.saliency.integrated_gradients.baseline_pixels`).

Every step of every image is one model input; they go through the network in chunks of
``batch_size`` inputs, with no gradient. The curve has ``steps + 1`` points, at the removed shares
``0, 1/steps, ..., 1``; its area is the trapezoidal rule over [0, 1].
"""

from __future__ import annotations

import torch

from netviz.errors import NetvizError, check_int, did_you_mean
from netviz.models import Classifier
from netviz.techniques.base import chunks
from netviz.techniques.saliency.integrated_gradients import baseline_pixels

BASELINES = ("blur", "mean", "black")
MODES = ("deletion", "insertion")


def check_options(steps: int, baseline: str) -> None:
    """A one-line error for a bad ``steps`` or ``baseline`` (before any pass)."""
    check_int("saliency.evaluation.steps", steps, minimum=1)
    if baseline not in BASELINES:
        raise NetvizError(
            f"saliency.evaluation.baseline={baseline!r} is not one of {', '.join(BASELINES)}{did_you_mean(baseline, BASELINES)}"
        )


def pixel_ranks(maps: torch.Tensor) -> torch.Tensor:
    """``(N, S*S)`` each pixel's place in its map's descending order (0: the most salient; ties by position)."""
    order = maps.flatten(1).argsort(dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    return ranks


@torch.no_grad()
def probability_curves(
    classifier: Classifier,
    pixels: torch.Tensor,
    maps: torch.Tensor,
    targets: torch.Tensor,
    *,
    mode: str = "deletion",
    steps: int = 50,
    baseline: str | torch.Tensor = "blur",
    batch_size: int = 64,
) -> torch.Tensor:
    """``(N, steps + 1)`` the target's probability as the map's pixels are deleted (or inserted).

    Args:
        classifier: the frozen model.
        pixels: images ``(N, 3, S, S)`` in [0, 1]; maps: ``(N, S, S)`` (larger: more salient).
        targets: ``(N,)`` the class whose probability is followed.
        mode: ``deletion`` or ``insertion``.
        steps: the curve's steps (``k``); step ``j`` has replaced the ``round(j * S*S / k)`` first pixels.
        baseline: ``blur``, ``mean``, ``black``, or baseline pixels ``(N, 3, S, S)``.
        batch_size: model inputs per forward pass.
    """
    if mode not in MODES:
        raise NetvizError(f"mode={mode!r} is not one of {', '.join(MODES)}")
    if maps.shape != (pixels.shape[0], *pixels.shape[2:]):
        raise NetvizError(f"maps of shape {tuple(maps.shape)} for images {tuple(pixels.shape)}: give one (S, S) map per image")
    device = classifier.device
    pixels, maps, targets = pixels.to(device), maps.to(device), targets.to(device)
    if isinstance(baseline, str):
        baseline = baseline_pixels(pixels, baseline, classifier, torch.Generator(device=device))
    start, end = (pixels, baseline.to(device)) if mode == "deletion" else (baseline.to(device), pixels)
    ranks = pixel_ranks(maps).view(len(maps), 1, *maps.shape[1:])
    area = maps[0].numel()
    replaced = torch.round(torch.arange(steps + 1, device=device) * area / steps)
    rows = len(pixels) * (steps + 1)  # row i * (steps + 1) + j: image i after step j
    probs = torch.empty(rows, device=device)
    for chunk in chunks(rows, batch_size):
        index = torch.arange(chunk.start, chunk.stop, device=device)
        owner, step = index // (steps + 1), index % (steps + 1)
        swapped = ranks[owner] < replaced[step].view(-1, 1, 1, 1)
        inputs = torch.where(swapped, end[owner], start[owner])
        probs[chunk] = classifier(classifier.normalize(inputs)).float().softmax(dim=1)[torch.arange(len(index)), targets[owner]]
    return probs.view(len(pixels), steps + 1).cpu()


def area_under_curve(curves: torch.Tensor) -> torch.Tensor:
    """``(N,)`` trapezoidal area of curves ``(N, k + 1)`` sampled evenly over [0, 1]."""
    steps = curves.shape[1] - 1
    return (curves.sum(dim=1) - (curves[:, 0] + curves[:, -1]) / 2) / steps
