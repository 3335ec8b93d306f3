"""Saliency maps against a finite-difference oracle, and the properties the technique promises."""

import pytest
import torch

from netviz.data import ImageSet
from netviz.techniques.saliency import saliency_maps
from tests.conftest import tiny_classifier


def images_of(pixels, labels):
    return ImageSet(pixels, torch.as_tensor(labels), [f"img{i}" for i in range(len(pixels))])


def finite_difference_map(model, pixels, target, eps=1e-6):
    """max over channels of |d score_target / d x| by central differences, x the normalized input."""
    x = model.normalize(pixels[None]).double()
    grad = torch.zeros_like(x)
    flat, gflat = x.view(-1), grad.view(-1)
    for i in range(flat.numel()):
        saved = flat[i].item()
        flat[i] = saved + eps
        up = model(x)[0, target].item()
        flat[i] = saved - eps
        down = model(x)[0, target].item()
        flat[i] = saved
        gflat[i] = (up - down) / (2 * eps)
    return grad.abs().amax(dim=1)[0]


@pytest.mark.parametrize("final_relu", [False, True])
def test_maps_equal_finite_differences_in_float64(final_relu):
    model = tiny_classifier(final_relu=final_relu).double()
    model.mean, model.std = model.mean.double(), model.std.double()
    pixels = torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    result = saliency_maps(model, images_of(pixels, [4, 7]), accelerator="cpu")
    for i in range(2):
        expected_true = finite_difference_map(model, pixels[i], 4 if i == 0 else 7)
        expected_pred = finite_difference_map(model, pixels[i], int(result.predicted[i]))
        torch.testing.assert_close(result.map_true[i], expected_true, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(result.map_predicted[i], expected_pred, rtol=1e-5, atol=1e-7)
    assert result.map_true.abs().sum() > 0


def test_maps_do_not_depend_on_the_batch(pixels):
    model = tiny_classifier()
    labels = [1, 2, 3, 4]
    together = saliency_maps(model, images_of(pixels, labels), accelerator="cpu")
    for i in range(len(pixels)):
        alone = saliency_maps(model, images_of(pixels[i : i + 1], labels[i : i + 1]), accelerator="cpu")
        torch.testing.assert_close(alone.map_true[0], together.map_true[i], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(alone.map_predicted[0], together.map_predicted[i], rtol=1e-4, atol=1e-6)
        assert alone.predicted[0] == together.predicted[i]


def test_predicted_class_and_probabilities_match_the_model(pixels):
    model = tiny_classifier()
    result = saliency_maps(model, images_of(pixels, [0, 1, -1, 3]), accelerator="cpu")
    with torch.no_grad():
        probs = model(model.normalize(pixels)).softmax(1)
    assert result.predicted.tolist() == probs.argmax(1).tolist()
    torch.testing.assert_close(result.prob_predicted, probs.max(1).values)
    torch.testing.assert_close(result.prob_true[[0, 1, 3]], probs[[0, 1, 3], [0, 1, 3]])
    assert torch.isnan(result.prob_true[2])  # no label: no true-class probability
    torch.testing.assert_close(result.map_true[2], result.map_predicted[2])


def test_network_is_untouched_and_no_hooks_are_left(pixels):
    model = tiny_classifier(final_relu=True, score="pre_relu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    saliency_maps(model, images_of(pixels, [1, 2, 3, 4]), accelerator="cpu")
    assert all(p.grad is None for p in model.parameters())
    assert not any(m.training for m in model.modules())
    assert all(not m._forward_hooks for m in model.modules())
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_figure_and_panels_have_one_cell_per_image(pixels):
    result = saliency_maps(tiny_classifier(), images_of(pixels, [1, 2, 3, 4]), accelerator="cpu")
    figure = result.figure()
    assert len([ax for ax in figure.axes if ax.images]) == 3 * len(pixels)
    panels = result.panels()
    assert set(panels) == {f"img{i}" for i in range(4)}
    assert all(p.dtype.name == "uint8" and p.shape[0] == 16 and p.shape[2] == 3 for p in panels.values())
