"""Model-parameter randomization (Adebayo et al. 2018): the similarity measures and the whole
cascade against Quantus's (its ``MPRT``), and the cascade's behaviour on a small network."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from netviz.errors import NetvizError
from netviz.evaluation.randomization import (
    MEASURES,
    model_randomization,
    randomizable_blocks,
    randomized,
    reinitialize,
    top_down_blocks,
)
from netviz.evaluation.similarity import spearman, ssim
from netviz.models import Classifier
from netviz.techniques.saliency import attribute, make_method
from netviz.techniques.saliency.api import run_method
from tests.conftest import tiny_classifier

similarity_func = pytest.importorskip("quantus.functions.similarity_func")
quantus = pytest.importorskip("quantus")

QUANTUS_SEED = 42  # MPRT's default


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


# --- The whole test against Quantus 0.6.0's MPRT (conventions: see test_randomization_spearman_matches_quantus_mprt)


def _like(classifier: Classifier, net: nn.Module) -> Classifier:
    """``net`` as a Classifier with ``classifier``'s normalization and classes."""
    return Classifier(
        net, name=classifier.name, categories=classifier.categories, mean=classifier.mean.flatten().tolist(),
        std=classifier.std.flatten().tolist(), input_size=classifier.input_size,
    )


def _gradient_maps(classifier: Classifier, pixels: torch.Tensor, targets: list[int]) -> torch.Tensor:
    return attribute(classifier, pixels, "gradient", targets, accelerator="cpu").maps


def _quantus_scores(classifier: Classifier, pixels: torch.Tensor, targets: torch.Tensor, layer_order: str) -> dict:
    """Quantus's MPRT scores ``{"original" | layer name: [one per image]}`` of netviz's gradient maps."""

    def explain(model, inputs, targets, **_):
        return _gradient_maps(_like(classifier, model), torch.from_numpy(inputs), targets.tolist())[:, None].numpy()

    metric = quantus.MPRT(
        similarity_func=similarity_func.correlation_spearman, layer_order=layer_order, seed=QUANTUS_SEED,
        abs=True, normalise=True, disable_warnings=True,
    )
    with torch.random.fork_rng(devices=[]):  # Quantus seeds the global generator
        return metric(
            model=copy.deepcopy(classifier.net), x_batch=pixels.numpy(), y_batch=targets.numpy(), channel_first=True,
            explain_func=explain, device="cpu", batch_size=len(pixels),
        )


def _reinitialized_quantus_way(classifier: Classifier, blocks: list[str]) -> Classifier:
    """A copy of ``classifier`` with ``blocks`` re-initialized by netviz, each from Quantus's seed."""
    twin = copy.deepcopy(classifier)
    modules = dict(randomizable_blocks(twin.net))
    for name in blocks:
        reinitialize(modules[name], QUANTUS_SEED + 1)
    return twin


def _steps(names: list[str], layer_order: str) -> dict[str, list[str]]:
    """``{block: the blocks re-initialized at its step}``: one more each time from the top (cascade,
    ``top_down``), or that block alone (``independent``)."""
    return {name: names[: step + 1] if layer_order == "top_down" else [name] for step, name in enumerate(names)}


@pytest.fixture(scope="module")
def three_images():
    classifier = tiny_classifier()
    pixels = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    return classifier, pixels, classifier.predict_pixels(pixels).argmax(dim=1)


@pytest.fixture(scope="module")
def quantus_mprt(three_images) -> dict:
    """``{layer_order: Quantus's MPRT scores}`` on ``three_images``, cascading and independent."""
    return {order: _quantus_scores(*three_images, order) for order in ("top_down", "independent")}


def test_blocks_from_the_top_are_quantus_top_down_layers():
    """On a network whose blocks are single layers, netviz's cascade re-initializes the layers Quantus's
    does, in the same order (on EfficientNet's multi-layer ``_blocks`` it would not: see below)."""
    from quantus.helpers.model.pytorch_model import PyTorchModel

    classifier = tiny_classifier()
    with torch.random.fork_rng(devices=[]):
        theirs = [name for name, _ in PyTorchModel(copy.deepcopy(classifier.net)).get_random_layer_generator("top_down", QUANTUS_SEED)]
    assert top_down_blocks(classifier, None) == theirs == ["7", "1", "0"]


@pytest.mark.parametrize("layer_order", ["top_down", "independent"])
def test_reinitialize_from_quantus_seed_draws_quantus_weights(layer_order):
    """netviz's ``reinitialize`` from Quantus's seed ``seed + 1`` draws, bit for bit, the weights of
    each model Quantus's layer generator yields (cascading and independent)."""
    from quantus.helpers.model.pytorch_model import PyTorchModel

    classifier = tiny_classifier()
    steps = _steps(top_down_blocks(classifier, None), layer_order)
    with torch.random.fork_rng(devices=[]):
        generator = PyTorchModel(copy.deepcopy(classifier.net)).get_random_layer_generator(layer_order, QUANTUS_SEED)
        seen = []
        for name, theirs in generator:
            seen.append(name)
            ours = _reinitialized_quantus_way(classifier, steps[name]).net.state_dict()
            changed = [key for key, value in theirs.state_dict().items() if not torch.equal(value, classifier.net.state_dict()[key])]
            assert changed, name  # Quantus did re-initialize something
            for key, value in theirs.state_dict().items():
                assert torch.equal(ours[key], value), (name, key)
    assert sorted(seen) == sorted(steps)


@pytest.mark.parametrize("layer_order", ["top_down", "independent"])
def test_randomization_spearman_matches_quantus_mprt(three_images, quantus_mprt, layer_order):
    """netviz's gradient maps and its Spearman of absolute maps, on the weights Quantus draws, give
    Quantus's MPRT scores (``layer_order`` top_down: cascading) per layer and per image.

    Conventions that differ, and how this test lines the two up:

    - Steps. netviz re-initializes a *block* per step (a child with parameters; a top-level
      Sequential's or ModuleList's children), Quantus a *layer* (every module with
      ``reset_parameters``). On ``tiny_net`` each block is one layer ('7', '1', '0'), so the steps are
      the same; efficientnet_lite0's cascade is 21 netviz steps (``_blocks.i`` hold several
      convolutions and batch norms) against 99 of Quantus's.
    - Seeds. Quantus seeds every layer alike, ``torch.manual_seed(seed + 1)`` before its
      ``reset_parameters``; netviz seeds block ``i`` of a cascade (or of an independent run) with
      ``seed + i``, so that blocks of the same shape do not get the same weights. Here netviz's
      ``reinitialize`` is given Quantus's seed (its weights are Quantus's: the test above), to compare
      the measure itself; ``model_randomization``'s own seeds are checked below.
    - Order of independent steps. Quantus's goes from the input up ('0', '1', '7'), netviz's from
      the top down, as its cascade; scores are compared by layer name.
    - Maps. netviz compares the Spearman correlation of absolute maps; Quantus takes ``abs`` after
      dividing by the batch's largest absolute value (``normalise_by_max``), a positive scale that
      leaves ranks alone.
    - Inputs. Quantus hands its ``explain_func`` the network (``classifier.net``, so that its layer
      names are netviz's block names) and ``x_batch`` as given, and never runs the network itself in
      MPRT; so ``x_batch`` holds pixels in [0, 1] and the ``explain_func`` wraps the network back into
      a Classifier with the same normalization, as netviz's side does.
    """
    classifier, pixels, targets = three_images
    names = top_down_blocks(classifier, None)
    theirs = quantus_mprt[layer_order]
    assert list(theirs) == ["original", *(names if layer_order == "top_down" else names[::-1])]

    maps = _gradient_maps(classifier, pixels, targets.tolist())
    np.testing.assert_allclose(MEASURES["spearman"](maps, maps).numpy(), theirs["original"], rtol=0, atol=1e-6)
    for name, blocks in _steps(names, layer_order).items():
        other = _gradient_maps(_reinitialized_quantus_way(classifier, blocks), pixels, targets.tolist())
        ours = MEASURES["spearman"](maps, other).numpy()
        np.testing.assert_allclose(ours, theirs[name], rtol=0, atol=1e-6, err_msg=f"layer {name}")
    # Not a match of two unchanged models: every step moves the map.
    assert max(max(theirs[name]) for name in names) < 0.99


def test_model_randomization_matches_quantus_where_the_seeds_agree(three_images, quantus_mprt):
    """netviz's own ``model_randomization`` from seed ``s + 1`` re-initializes its first block ('7') from
    Quantus's seed ``s + 1``, and batch norm ('1') draws nothing, so both steps give Quantus's scores;
    the last block ('0') is drawn from ``s + 3`` by netviz (block ``i`` from ``seed + i``) and from
    ``s + 1`` by Quantus, so that step's scores differ: the seeding convention, checked."""
    classifier, pixels, targets = three_images
    outcome = model_randomization(
        classifier, lambda model: _gradient_maps(model, pixels, targets.tolist()), _gradient_maps(classifier, pixels, targets.tolist()),
        seed=QUANTUS_SEED + 1,
    )
    for mode, layer_order in (("cascading", "top_down"), ("independent", "independent")):
        theirs = quantus_mprt[layer_order]
        ours = getattr(outcome, mode)["spearman"].numpy()
        for step, name in enumerate(outcome.blocks[:2]):
            np.testing.assert_allclose(ours[step], theirs[name], rtol=0, atol=1e-6, err_msg=f"{mode} {name}")
        assert np.abs(ours[2] - theirs["0"]).max() > 1e-3, f"{mode}: netviz now seeds like Quantus; update the docs"
