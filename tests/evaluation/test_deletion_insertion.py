"""Deletion and insertion (Petsiuk et al. 2018): Quantus's pixel-flipping loop as the oracle, and the
properties the metric promises."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from netviz.errors import NetvizError
from netviz.evaluation.deletion_insertion import area_under_curve, pixel_ranks, probability_curves
from netviz.models import Classifier
from netviz.techniques.saliency.integrated_gradients import baseline_pixels
from tests.conftest import tiny_classifier

quantus = pytest.importorskip("quantus")


class Normalized(nn.Module):
    """The classifier as Quantus sees it: pixels in, logits out."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.classifier = classifier
        self.eval()

    def forward(self, pixels):
        return self.classifier(self.classifier.normalize(pixels))


def quantus_curves(classifier, start, end, maps, targets, steps):
    """Quantus's PixelFlipping from ``start``, each step copying ``S*S/steps`` pixels of ``end`` in the
    map's order (a map repeated on the 3 channels: a pixel's 3 values are adjacent in its sort)."""
    source = end.numpy().reshape(len(end), -1)

    def copy_from_end(arr, indices, **kwargs):
        arr = arr.copy()
        rows = np.arange(len(arr))[:, None]
        arr[rows, indices] = source[rows, indices]
        return arr

    metric = quantus.PixelFlipping(
        features_in_step=3 * maps[0].numel() // steps, perturb_func=copy_from_end, normalise=False, disable_warnings=True
    )
    a_batch = maps[:, None].expand(-1, 3, -1, -1).numpy()
    scores = metric(Normalized(classifier), start.numpy(), targets.numpy(), a_batch=a_batch, device="cpu", softmax=True)
    return np.asarray(scores)


def quantus_auc(curves: np.ndarray) -> np.ndarray:
    """Quantus's ``calculate_auc``: ``np.trapz(values, dx=1)`` (``np.trapezoid`` in NumPy 2, which dropped ``trapz``)."""
    return np.trapezoid(curves, dx=1, axis=1)


@pytest.mark.parametrize("mode", ["deletion", "insertion"])
def test_curves_match_quantus_pixel_flipping(mode):
    classifier = tiny_classifier()
    # Quantus wants features_in_step to divide S*S, and netviz's steps are whole pixels (3 values):
    # 12 px and 12 steps make a step 12 pixels, 36 values, which divides 144.
    pixels = torch.rand(3, 3, 12, 12, generator=torch.Generator().manual_seed(2))
    maps = torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(3))
    targets = torch.tensor([0, 3, 7])
    steps = 12
    blurred = baseline_pixels(pixels, "blur", classifier, torch.Generator())
    ours = probability_curves(classifier, pixels, maps, targets, mode=mode, steps=steps, baseline="blur", batch_size=5)
    start, end = (pixels, blurred) if mode == "deletion" else (blurred, pixels)
    theirs = quantus_curves(classifier, start, end, maps, targets, steps)
    # Quantus's curve starts after the first step; netviz's at the untouched image (share 0).
    np.testing.assert_allclose(ours[:, 1:].numpy(), theirs, atol=1e-6)
    start_probs = Normalized(classifier)(start).softmax(dim=1)[torch.arange(3), targets]
    np.testing.assert_allclose(ours[:, 0].numpy(), start_probs.detach().numpy(), atol=1e-6)
    # Areas: Quantus's is np.trapz over its k points with dx=1; netviz's the trapezoid over [0, 1].
    theirs_auc = quantus_auc(theirs)
    np.testing.assert_allclose(area_under_curve(ours).numpy(), (theirs_auc + (ours[:, 0].numpy() + theirs[:, 0]) / 2) / steps, atol=1e-6)


def test_chunk_size_does_not_change_the_curves(classifier, pixels):
    maps = torch.rand(4, 16, 16, generator=torch.Generator().manual_seed(4))
    targets = torch.tensor([1, 2, 3, 4])
    curves = [probability_curves(classifier, pixels, maps, targets, steps=10, baseline="mean", batch_size=b) for b in (1, 7, 1000)]
    torch.testing.assert_close(curves[0], curves[1])
    torch.testing.assert_close(curves[0], curves[2])


def test_curve_ends_at_the_baseline_and_the_image(classifier, pixels):
    maps = torch.rand(4, 16, 16)
    targets = torch.tensor([0, 1, 2, 3])
    deletion = probability_curves(classifier, pixels, maps, targets, mode="deletion", steps=4, baseline="black")
    insertion = probability_curves(classifier, pixels, maps, targets, mode="insertion", steps=4, baseline="black")
    torch.testing.assert_close(deletion[:, 0], insertion[:, -1])
    torch.testing.assert_close(deletion[:, -1], insertion[:, 0])
    black = Normalized(classifier)(torch.zeros_like(pixels)).softmax(dim=1)[torch.arange(4), targets]
    torch.testing.assert_close(deletion[:, -1], black.detach())


def linear_classifier(weights: torch.Tensor) -> Classifier:
    """Logit 0 = sum of pixels * weights (one weight per pixel, all channels), logit 1 = 0."""
    side = weights.shape[-1]

    class Linear(nn.Module):
        def forward(self, x):
            score = (x * weights).flatten(1).sum(dim=1)
            return torch.stack([score, torch.zeros_like(score)], dim=1)

    return Classifier(Linear(), name="linear", categories=["a", "b"], mean=(0, 0, 0), std=(1, 1, 1), input_size=side)


def test_true_importance_gives_the_best_deletion_auc():
    """Against a black baseline, pixel i's removal lowers a linear model's logit by its contribution
    w_i * x_i; deleting in that order makes the probability fall fastest of every order tried."""
    generator = torch.Generator().manual_seed(5)
    weights = torch.rand(1, 1, 4, 4, generator=generator) * 2
    pixels = torch.rand(1, 3, 4, 4, generator=generator)
    classifier = linear_classifier(weights)
    importance = (pixels * weights).sum(dim=1)
    best = area_under_curve(probability_curves(classifier, pixels, importance, torch.tensor([0]), steps=16, baseline="black"))
    order = importance.flatten().argsort(descending=True)
    tried = []
    for swap in itertools.islice(itertools.permutations(range(6)), 1, 200):  # reorders of the 6 most important
        permuted = order.clone()
        permuted[:6] = order[list(swap)]
        ranks = torch.empty(16)
        ranks[permuted] = torch.arange(16, 0, -1).float()
        tried.append(float(area_under_curve(probability_curves(classifier, pixels, ranks.view(1, 4, 4), torch.tensor([0]), steps=16, baseline="black"))))
    for _ in range(50):
        random_map = torch.rand(1, 4, 4, generator=generator)
        tried.append(float(area_under_curve(probability_curves(classifier, pixels, random_map, torch.tensor([0]), steps=16, baseline="black"))))
    assert float(best) <= min(tried) + 1e-7


def test_ranks_follow_the_map():
    maps = torch.tensor([[[0.1, 0.9], [0.5, 0.3]]])
    assert pixel_ranks(maps).tolist() == [[3, 0, 1, 2]]


def test_maps_of_another_size_are_an_error(classifier, pixels):
    with pytest.raises(NetvizError, match="one \\(S, S\\) map per image"):
        probability_curves(classifier, pixels, torch.rand(4, 8, 8), torch.zeros(4, dtype=torch.long))
