"""Localization: the pointing game and the mass ratio against Quantus's ``PointingGame`` and
``RelevanceMassAccuracy``, and a random map's ratio of about 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from netviz.errors import NetvizError
from netviz.evaluation.localization import mass_ratio, pointing_game

quantus = pytest.importorskip("quantus")


def masks_and_maps(count=6, side=16, seed=0):
    generator = torch.Generator().manual_seed(seed)
    maps = torch.rand(count, side, side, generator=generator)
    masks = torch.zeros(count, side, side, dtype=torch.bool)
    for i in range(count):
        top, left = torch.randint(0, side - 6, (2,), generator=generator).tolist()
        masks[i, top : top + 6, left : left + 4 + i] = True
    maps[::2] += masks[::2] * 0.5  # some maps point at the object
    return maps, masks


def quantus_scores(metric, maps, masks):
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * maps.shape[1] ** 2, 2)).eval()
    x = np.zeros((len(maps), 3, *maps.shape[1:]), dtype=np.float32)
    return np.asarray(metric(model, x, np.zeros(len(maps), dtype=int), a_batch=maps[:, None].numpy(), s_batch=masks[:, None].numpy().astype(float), device="cpu"))


def test_pointing_game_matches_quantus():
    maps, masks = masks_and_maps()
    theirs = quantus_scores(quantus.PointingGame(disable_warnings=True), maps, masks)
    np.testing.assert_array_equal(pointing_game(maps, masks).numpy(), theirs.astype(float))


def test_mass_ratio_is_quantus_relevance_mass_accuracy_over_the_area():
    maps, masks = masks_and_maps(seed=1)
    theirs = quantus_scores(quantus.RelevanceMassAccuracy(disable_warnings=True), maps, masks)
    np.testing.assert_allclose(mass_ratio(maps, masks).numpy(), theirs / masks.flatten(1).double().mean(dim=1).numpy(), atol=1e-6)


def test_a_random_map_has_a_ratio_of_about_one():
    maps = torch.rand(400, 16, 16, generator=torch.Generator().manual_seed(2))
    _, masks = masks_and_maps(count=400, seed=3)
    masks = masks[torch.arange(400) % 6]  # masks of every size, independent of the maps
    ratios = mass_ratio(maps, masks)
    assert abs(float(ratios.mean()) - 1) < 0.02


def test_missing_or_differently_sized_masks():
    maps = torch.rand(2, 16, 16)
    with pytest.raises(NetvizError, match="data.masks"):
        pointing_game(maps, None)
    with pytest.raises(NetvizError, match="one mask per image"):
        mass_ratio(maps, torch.ones(2, 8, 8, dtype=torch.bool))
