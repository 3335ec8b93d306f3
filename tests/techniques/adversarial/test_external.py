"""The torchattacks seam: torchattacks' own attack, then netviz's evaluation and metrics on its output."""

import sys

import pytest
import torch

from netviz.errors import NetvizError
from netviz.techniques.adversarial import PixelModel, evaluate, make_fooling_images
from tests.conftest import tiny_classifier
from tests.techniques.test_adversarial import CPU, image_set

torchattacks = pytest.importorskip("torchattacks")


def test_torchattacks_fgsm_through_netviz_gives_torchattacks_own_images_and_the_usual_metrics(pixels):
    model = tiny_classifier()
    labels = model(model.normalize(pixels)).argmax(1)
    oracle = torchattacks.FGSM(PixelModel(model), eps=8 / 255)(pixels, labels)
    result = make_fooling_images(model, image_set(pixels), None, method="torchattacks:FGSM", targeted=False, eps=8, **CPU)
    torch.testing.assert_close(result.adversarial, oracle, rtol=0, atol=0)
    with torch.no_grad():
        verdict = model(model.normalize(oracle)).argmax(1) != labels
    assert torch.equal(result.fooled, verdict)
    metrics = result.metrics()
    for key in ("fooled_rate", "png_fooled_rate", "mean_perturbation_linf_255", "valid_image_fooled_rate"):
        assert key in metrics
    assert metrics["mean_perturbation_linf_255"] == pytest.approx(8, abs=1e-3)
    assert result.figure() is not None and len(result.panels()) == 4


def test_torchattacks_targeted_mode_aims_at_the_targets(pixels):
    model = tiny_classifier()
    targets = torch.full((4,), 3)
    attack = torchattacks.PGD(PixelModel(model), eps=8 / 255, alpha=2 / 255, steps=3, random_start=False)
    attack.set_mode_targeted_by_label(quiet=True)
    oracle = attack(pixels, targets)
    result = make_fooling_images(
        model, image_set(pixels), [3], method="torchattacks:PGD", attack_args={"alpha": 2 / 255, "steps": 3, "random_start": False}, **CPU
    )
    torch.testing.assert_close(result.adversarial, oracle, rtol=0, atol=0)


def test_any_callable_plugs_into_the_same_seam_and_evaluation_takes_any_images(pixels):
    model = tiny_classifier()

    def brighten(net, images, labels):
        return (images + 0.2).clamp(0, 1)

    result = make_fooling_images(model, image_set(pixels), [5], attack=brighten, **CPU)
    torch.testing.assert_close(result.adversarial, (pixels + 0.2).clamp(0, 1))
    assert result.method == "brighten" and (result.iterations == -1).all()
    evaluation = evaluate(pixels, result.adversarial, result.classes, [model])
    assert torch.equal(evaluation.fooled(model.name, "valid"), result.valid_image_fooled)
    assert torch.equal(evaluation.fooled(model.name, "png"), result.png_fooled)


def test_a_missing_torchattacks_or_class_is_one_line(pixels, monkeypatch):
    model, images = tiny_classifier(), image_set(pixels)
    with pytest.raises(NetvizError, match="no attack 'PDG'.*did you mean 'PGD'"):
        make_fooling_images(model, images, [1], method="torchattacks:PDG", **CPU)
    monkeypatch.setitem(sys.modules, "torchattacks", None)  # as if it were not installed
    with pytest.raises(NetvizError, match=r"pip install --no-deps torchattacks"):
        make_fooling_images(model, images, [1], method="torchattacks:CW", **CPU)
