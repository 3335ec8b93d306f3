"""Model-parameter randomization (Adebayo et al. 2018): the similarity measures against Quantus's,
and the cascade's behaviour on a small network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from netviz.errors import NetvizError
from netviz.evaluation.randomization import model_randomization, randomizable_blocks, randomized, top_down_blocks
from netviz.evaluation.similarity import spearman, ssim
from netviz.models import Classifier
from netviz.techniques.saliency import make_method
from netviz.techniques.saliency.api import run_method
from tests.conftest import tiny_classifier

similarity_func = pytest.importorskip("quantus.functions.similarity_func")


def test_spearman_matches_quantus():
    generator = torch.Generator().manual_seed(0)
    maps, other = torch.rand(3, 16, 16, generator=generator), torch.rand(3, 16, 16, generator=generator)
    other[0] = maps[0] * 2 + other[0] * 0.3  # correlated
    other[1] = torch.round(other[1] * 4)  # ties
    theirs = [similarity_func.correlation_spearman(a.flatten().numpy(), b.flatten().numpy()) for a, b in zip(maps, other)]
    np.testing.assert_allclose(spearman(maps, other).numpy(), theirs, atol=1e-6)


def test_ssim_matches_quantus_on_unit_range_maps():
    """Quantus's ``ssim`` takes the data range from the two maps; netviz scales each map to [0, 1]
    first, so on maps already spanning [0, 1] the two agree."""
    generator = torch.Generator().manual_seed(1)
    maps, other = torch.rand(2, 16, 16, generator=generator), torch.rand(2, 16, 16, generator=generator)
    for m in (maps, other):
        m.view(2, -1)[:, 0], m.view(2, -1)[:, 1] = 0.0, 1.0
    theirs = [similarity_func.ssim(a.double().numpy(), b.double().numpy()) for a, b in zip(maps, other)]
    np.testing.assert_allclose(ssim(maps, other).numpy(), theirs, atol=1e-6)


def test_blocks_are_the_layers_with_parameters_from_the_input():
    assert [name for name, _ in randomizable_blocks(tiny_classifier().net)] == ["0", "1", "7"]


def test_randomized_copy_leaves_the_model_alone(classifier):
    before = {k: v.clone() for k, v in classifier.state_dict().items()}
    twin = randomized(classifier, ["7"], seed=0)
    assert not torch.equal(twin.net[7].weight, classifier.net[7].weight)
    assert torch.equal(twin.net[0].weight, classifier.net[0].weight)  # only the chosen block
    for key, value in classifier.state_dict().items():
        assert torch.equal(value, before[key])


def test_gradient_decorrelates_along_the_cascade(classifier, pixels):
    targets = classifier.predict_pixels(pixels).argmax(dim=1)
    method = make_method("gradient")

    def explain(model):
        return run_method(model, pixels, targets, method).maps

    outcome = model_randomization(classifier, explain, explain(classifier))
    assert outcome.blocks == ["7", "1", "0"]
    assert outcome.cascade_maps.shape == (4, 4, 16, 16)
    for measure in ("spearman", "ssim", "hog"):
        assert outcome.cascading[measure].shape == (3, 4)
        assert outcome.independent[measure].shape == (3, 4)
    # Every block re-initialized: the map has nothing left of the trained one (Adebayo et al.'s pass).
    assert float(outcome.cascading["spearman"][-1].mean()) < 0.5
    # The unchanged model's map compared with itself would be 1: the first step already moves it.
    assert float(outcome.cascading["spearman"][0].mean()) < 0.99


def test_a_model_with_no_layers_to_randomize_is_an_error():
    classifier = Classifier(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), name="pool", categories=["a", "b", "c"], input_size=16)
    with pytest.raises(NetvizError, match="no layers with parameters"):
        top_down_blocks(classifier, None)
