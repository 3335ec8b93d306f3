"""Fragility (Ghorbani et al. 2019): the attack's images stay within eps and keep the predicted class,
and the attack moves the map more than random noise of the same budget."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from netviz.errors import NetvizError
from netviz.evaluation.fragility import (
    TopKShare,
    attack_map,
    centre_of_mass,
    check_options,
    fragility,
    gradient_map,
    softplus_relus,
    top_k_region,
)
from netviz.parts import Evaluation
from netviz.techniques.saliency import make_method
from netviz.techniques.saliency.api import run_method
from tests.conftest import tiny_classifier


@pytest.fixture
def smooth_classifier():
    return tiny_classifier(seed=3)


def test_attacked_images_keep_the_class_and_the_budget(smooth_classifier, pixels):
    predicted = smooth_classifier.predict_pixels(pixels).argmax(dim=1)
    region = top_k_region(gradient_map(smooth_classifier, pixels), 0.1)
    for eps in (2.0, 8.0, 64.0):
        attacked, kept = attack_map(smooth_classifier, pixels, region, eps, attack_steps=5)
        assert torch.equal(kept, predicted)
        assert torch.equal(smooth_classifier.predict_pixels(attacked).argmax(dim=1), predicted)
        assert float((attacked - pixels).abs().max()) <= eps / 255 + 1e-6
        assert float(attacked.min()) >= 0 and float(attacked.max()) <= 1


def test_the_attack_lowers_the_top_k_share_more_than_noise(smooth_classifier, pixels):
    region = top_k_region(gradient_map(smooth_classifier, pixels), 0.1)
    share = TopKShare(region, smooth_classifier)

    def top_k_share(images):
        model_input = smooth_classifier.normalize(images).requires_grad_(True)
        with softplus_relus(smooth_classifier.net, 10.0):
            logits, scores = smooth_classifier.class_scores(model_input)
        return share(Evaluation(model_input, logits, scores, smooth_classifier.predict_pixels(pixels).argmax(dim=1))).detach()

    eps = 16.0
    attacked, _ = attack_map(smooth_classifier, pixels, region, eps, attack_steps=10)
    noise = (pixels + eps / 255 * torch.randn(pixels.shape, generator=torch.Generator().manual_seed(0)).sign()).clamp(0, 1)
    assert float(top_k_share(attacked).mean()) < float(top_k_share(noise).mean())


def test_softplus_hooks_are_removed(smooth_classifier, pixels):
    x = smooth_classifier.normalize(pixels)
    before = smooth_classifier(x)
    with softplus_relus(smooth_classifier.net, 10.0):
        assert not torch.equal(smooth_classifier(x), before)
    torch.testing.assert_close(smooth_classifier(x), before, rtol=0, atol=0)
    relu6 = nn.ReLU6()
    with softplus_relus(relu6, 50.0):
        torch.testing.assert_close(relu6(torch.tensor([-3.0, 3.0, 9.0])), torch.tensor([0.0, 3.0, 6.0]), atol=1e-3, rtol=0)


def test_outcome_per_budget(smooth_classifier, pixels):
    targets = smooth_classifier.predict_pixels(pixels).argmax(dim=1)
    method = make_method("gradient")
    maps = run_method(smooth_classifier, pixels, targets, method).maps
    outcome = fragility(
        smooth_classifier, pixels, maps, lambda images: run_method(smooth_classifier, images, targets, method).maps,
        eps=[1, 8], attack_steps=3, top_k=0.1,
    )
    for budget in (1, 8):
        assert outcome.top_k[budget].shape == (4,) and bool(((outcome.top_k[budget] >= 0) & (outcome.top_k[budget] <= 1)).all())
        assert outcome.spearman[budget].shape == (4,)
        assert bool((outcome.centre_shift[budget] >= 0).all())


def test_centre_of_mass():
    maps = torch.zeros(1, 5, 7)
    maps[0, 1, 2], maps[0, 3, 6] = 1.0, 3.0
    torch.testing.assert_close(centre_of_mass(maps), torch.tensor([[2.5, 5.0]], dtype=torch.float64))


@pytest.mark.parametrize("eps,steps,top_k,message", [([], 10, 0.1, "eps"), ([0], 10, 0.1, "eps"), ([300], 10, 0.1, "eps"), ([4], 0, 0.1, "attack_steps"), ([4], 10, 1.5, "top_k")])
def test_bad_options(eps, steps, top_k, message):
    with pytest.raises(NetvizError, match=message):
        check_options(eps, steps, top_k)
