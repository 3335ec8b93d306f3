"""Localization against object masks: the pointing game (Zhang et al. 2016, "Top-down Neural Attention
by Excitation Backprop") and the saliency mass ratio.

The pointing game scores 1 when the map's maximum falls inside the object's mask. The mass ratio is
the share of the map's (non-negative) mass inside the mask divided by the mask's share of the image:
1 for a map that ignores the object, above 1 for one that concentrates on it. Quantus's
``RelevanceMassAccuracy`` (Arras et al. 2022) is the share alone; netviz divides by the area so that
small and large objects compare.
"""

from __future__ import annotations

import torch

from netviz.errors import NetvizError


def check_masks(maps: torch.Tensor, masks: torch.Tensor | None) -> None:
    """A one-line error when there are no masks, or not one ``(S, S)`` mask per map."""
    if masks is None:
        raise NetvizError("saliency.evaluate=[localization] needs object masks: give data.masks=DIR (one PNG per image)")
    if masks.shape != maps.shape:
        raise NetvizError(f"masks of shape {tuple(masks.shape)} for maps {tuple(maps.shape)}: give one mask per image, the image's size")


def pointing_game(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """``(N,)`` 1.0 where the map's maximum (the first, if tied) lies inside the mask, else 0.0."""
    check_masks(maps, masks)
    hits = masks.flatten(1).gather(1, maps.flatten(1).argmax(dim=1, keepdim=True)).squeeze(1)
    return hits.double()


def mass_ratio(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """``(N,)`` (share of the map's mass inside the mask) / (share of the pixels inside it); NaN for an empty mask."""
    check_masks(maps, masks)
    weights, inside = maps.clamp_min(0).flatten(1).double(), masks.flatten(1).double()
    mass_share = (weights * inside).sum(dim=1) / weights.sum(dim=1)
    area_share = inside.mean(dim=1)
    return torch.where(area_share > 0, mass_share / area_share, torch.nan)
