"""Input invariance (Kindermans et al. 2017): the shifted model computes the same function, and the
methods the paper names pass or fail as it found."""

from __future__ import annotations

import pytest
import torch

from netviz.evaluation.invariance import ShiftedBaselineIG, normalized_difference, shifted_model
from netviz.techniques.saliency import make_method
from netviz.techniques.saliency.api import run_method

SHIFT = 32.0  # 0-255 units


def differences(classifier, pixels, method):
    targets = classifier.predict_pixels(pixels).argmax(dim=1)
    original = run_method(classifier, pixels, targets, method).attributions
    twin, moved = shifted_model(classifier, SHIFT), pixels + SHIFT / 255
    return normalized_difference(original, run_method(twin, moved, targets, method).attributions)


def test_the_shifted_model_at_the_shifted_input_is_the_model(classifier, pixels):
    twin = shifted_model(classifier, SHIFT)
    moved = pixels + SHIFT / 255
    torch.testing.assert_close(twin(twin.normalize(moved)), classifier(classifier.normalize(pixels)), atol=1e-5, rtol=0)


@pytest.mark.parametrize("method", ["gradient", "smoothgrad", "gradcam", "guided_backprop"])
def test_invariant_methods(classifier, pixels, method):
    # Exact up to float32 rounding of the shifted input (x + m - m).
    assert float(differences(classifier, pixels, make_method(method)).max()) < 1e-4


@pytest.mark.parametrize("method,options", [("gradient_x_input", {}), ("integrated_gradients", {"baseline": "black", "steps": 8})])
def test_methods_that_fail_invariance(classifier, pixels, method, options):
    assert float(differences(classifier, pixels, make_method(method, **options)).min()) > 0.05


def test_integrated_gradients_with_a_baseline_shifted_along_is_invariant(classifier, pixels):
    targets = classifier.predict_pixels(pixels).argmax(dim=1)
    original = run_method(classifier, pixels, targets, make_method("integrated_gradients", steps=8)).attributions
    along = ShiftedBaselineIG(steps=8, shift=SHIFT)
    shifted = run_method(shifted_model(classifier, SHIFT), pixels + SHIFT / 255, targets, along).attributions
    assert float(normalized_difference(original, shifted).max()) < 1e-4


def test_normalized_difference():
    a = torch.ones(2, 3, 4, 4)
    assert normalized_difference(a, a).tolist() == [0.0, 0.0]
    torch.testing.assert_close(normalized_difference(a, 2 * a), torch.ones(2))
