"""Adversarial attacks on tiny random networks, each checked against a plain PyTorch oracle or a bound."""

import numpy as np
import pytest
import torch
from torch import nn

from netviz.data import ImageSet
from netviz.ensemble import Ensemble
from netviz.eot import TransformDistribution
from netviz.errors import NetvizError
from netviz.models import Classifier
from netviz.techniques.adversarial import (
    EOTAttack,
    NaiveAttack,
    PGDAttack,
    check_targets,
    make_fooling_images,
    png_round_trip,
    predict,
)
from netviz.techniques.base import optimize
from tests.conftest import tiny_classifier

CPU = {"accelerator": "cpu", "progress": False}


def image_set(pixels: torch.Tensor) -> ImageSet:
    return ImageSet(pixels, torch.full((len(pixels),), -1), [f"img{i}" for i in range(len(pixels))])


def plain_naive(model: Classifier, pixels: torch.Tensor, target: int, lr: float, cap: int) -> tuple[torch.Tensor, int]:
    """The report's loop for one image, written out: check, then step lr * g / ||g|| on the target score."""
    x = model.normalize(pixels[None]).clone()
    for step in range(cap):
        x.requires_grad_(True)
        logits = model(x)
        if logits.argmax(1).item() == target:
            return x.detach(), step
        (grad,) = torch.autograd.grad(logits[0, target], x)
        x = (x + lr * grad / grad.norm()).detach()
    return x, cap


def test_naive_matches_the_plain_loop_and_stops_each_pair_at_its_first_fooled_step(pixels):
    model = tiny_classifier()
    targets = torch.tensor([3, 5, 7, 9])
    module = optimize(NaiveAttack(model, pixels, targets, iterations=40, lr=0.5), **CPU)
    steps = []
    for i, target in enumerate(targets.tolist()):
        x, taken = plain_naive(model, pixels[i], target, lr=0.5, cap=40)
        steps.append(taken)
        assert module.steps_taken[i].item() == taken
        torch.testing.assert_close(module.x[i : i + 1], x, rtol=1e-4, atol=1e-5)  # stopped pairs did not move on
    assert len(set(steps)) > 1 and max(steps) < 40, "pairs should stop at different steps, all within the cap"
    module.conclude(predict(model, module.pixels()))
    assert module.first_fooled.tolist() == steps
    assert (module.final_logits.argmax(1) == targets).all()


def test_every_naive_step_has_l2_norm_lr_in_the_normalized_space(pixels):
    model, targets = tiny_classifier(), torch.tensor([9, 9, 9, 9])
    previous = model.normalize(pixels)
    for k in range(1, 4):  # the same deterministic run, one step longer each time
        module = optimize(NaiveAttack(model, pixels, targets, iterations=k, lr=0.7), **CPU)
        moved = module.steps_taken == k
        assert moved.any()
        norms = (module.x - previous).flatten(1).norm(dim=1)
        torch.testing.assert_close(norms[moved], torch.full((int(moved.sum()),), 0.7), rtol=1e-4, atol=1e-5)
        previous = module.x.clone()


def test_an_image_already_predicted_as_the_target_takes_zero_steps(pixels):
    model = tiny_classifier()
    predicted = model(model.normalize(pixels)).argmax(1)
    result = make_fooling_images(model, image_set(pixels[:1]), [int(predicted[0])], iterations=20, **CPU)
    assert result.iterations.tolist() == [0] and result.iterations_to_fool.tolist() == [0]
    assert result.fooled.tolist() == [True]
    torch.testing.assert_close(result.adversarial, pixels[:1], atol=1e-6, rtol=0)
    assert result.l2.item() < 1e-3


def dead_target_classifier(score: str) -> Classifier:
    """A SqueezeNet-like head whose class 0 is switched off by its ReLU everywhere: its score's gradient is 0."""
    model = tiny_classifier(final_relu=True, score=score)
    with torch.no_grad():
        model.net[5].bias[0] = -1e4
    return model


def test_a_zero_gradient_never_gives_nan_and_pre_relu_scores_avoid_it(pixels):
    stuck = optimize(NaiveAttack(dead_target_classifier("logits"), pixels, torch.zeros(4, dtype=torch.int64), iterations=3), **CPU)
    assert torch.isfinite(stuck.x).all()
    torch.testing.assert_close(stuck.x, stuck.classifier.normalize(pixels))  # nothing to climb: no move
    moving = optimize(NaiveAttack(dead_target_classifier("pre_relu"), pixels, torch.zeros(4, dtype=torch.int64), iterations=3), **CPU)
    assert torch.isfinite(moving.x).all()
    assert ((moving.x - moving.classifier.normalize(pixels)).flatten(1).norm(dim=1) > 0.5).all()
    pgd = optimize(PGDAttack(dead_target_classifier("logits"), pixels, torch.ones(4, dtype=torch.int64), iterations=2, random_start=False), **CPU)
    assert torch.isfinite(pgd.x).all()


class RecordingPGD(PGDAttack):
    """PGD that keeps every image its update returns."""

    def update(self, x, grad, step):
        moved = super().update(x, grad, step)
        self.trace.append(moved.clone())
        return moved


@pytest.mark.parametrize("targeted", [True, False])
def test_pgd_stays_in_the_eps_ball_and_in_valid_pixels_after_every_step(targeted):
    pixels = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    pixels[:, :, :4] = 0.0  # pixels at both ends of the range, where a step would leave [0, 1]
    pixels[:, :, -4:] = 1.0
    model = tiny_classifier()
    targets = torch.tensor([1, 2, 3]) if targeted else model(model.normalize(pixels)).argmax(1)
    module = RecordingPGD(model, pixels, targets, iterations=6, eps=12, step_size=5, targeted=targeted)
    module.trace = []
    optimize(module, **CPU)
    assert len(module.trace) == 6
    for x in module.trace:
        assert (x - pixels).abs().amax() <= 12 / 255 + 1e-6
        assert x.min() >= 0 and x.max() <= 1
    assert (module.trace[-1] - pixels).abs().amax() > 11.9 / 255  # the budget is used, so the bound is binding


def plain_fgsm(model: Classifier, pixels: torch.Tensor, classes: torch.Tensor, eps: float, targeted: bool) -> torch.Tensor:
    """FGSM (Goodfellow et al. 2015) in plain PyTorch: one signed step of eps on the cross-entropy, clamped."""
    x = pixels.clone().requires_grad_(True)
    loss = nn.functional.cross_entropy(model(model.normalize(x)), classes, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return (pixels - eps / 255 * grad.sign() if targeted else pixels + eps / 255 * grad.sign()).clamp(0, 1)


@pytest.mark.parametrize("targeted", [True, False])
def test_one_pgd_step_of_size_eps_without_random_start_is_fgsm(pixels, targeted):
    model = tiny_classifier()
    classes = torch.tensor([1, 2, 3, 4]) if targeted else model(model.normalize(pixels)).argmax(1)
    expected = plain_fgsm(model, pixels, classes, 8, targeted)
    pgd = optimize(PGDAttack(model, pixels, classes, iterations=1, eps=8, step_size=8, random_start=False, targeted=targeted), **CPU)
    torch.testing.assert_close(pgd.pixels(), expected)
    targets = [1] if targeted else None
    fgsm = make_fooling_images(model, image_set(pixels), targets, method="fgsm", eps=8, targeted=targeted, **CPU)
    classes = torch.ones(4, dtype=torch.int64) if targeted else classes
    torch.testing.assert_close(fgsm.adversarial, plain_fgsm(model, pixels, classes, 8, targeted))
    assert fgsm.iterations.tolist() == [1, 1, 1, 1]


def test_pgd_random_start_is_seeded_and_inside_the_ball(pixels):
    model, targets = tiny_classifier(), torch.tensor([1, 2, 3, 4])
    first = PGDAttack(model, pixels, targets, iterations=1, eps=4, step_size=1, seed=3)
    again = PGDAttack(model, pixels, targets, iterations=1, eps=4, step_size=1, seed=3)
    torch.testing.assert_close(first.x, again.x)
    assert 0 < (first.x - pixels).abs().amax() <= 4 / 255 + 1e-7


def test_eot_with_identity_transformations_is_pgd(pixels):
    model, targets = tiny_classifier(), torch.tensor([1, 2, 3, 4])
    identity = TransformDistribution(max_shift=0, max_rotation=0, min_scale=1, max_scale=1, max_blur=0, noise=0)
    eot = optimize(EOTAttack(model, pixels, targets, iterations=4, eps=8, step_size=2, distribution=identity, samples=1), **CPU)
    pgd = optimize(PGDAttack(model, pixels, targets, iterations=4, eps=8, step_size=2), **CPU)
    torch.testing.assert_close(eot.x, pgd.x)
    assert [step for step, _ in eot.history["transform_success"]][:1] == [0]
    # Averaging 3 identical copies gives the same objective (signs of near-zero gradients may differ in float).
    three = EOTAttack(model, pixels, targets, iterations=4, eps=8, step_size=2, distribution=identity, samples=3)
    x = three.x.clone().requires_grad_(True)
    torch.testing.assert_close(three.objective(x, *three(x, 0), 0), pgd.objective(x, *pgd(x, 0), 0))


def test_eot_sees_transformed_copies_and_scores_the_untransformed_image(pixels):
    model, targets = tiny_classifier(), torch.tensor([1, 2, 3, 4])
    module = EOTAttack(model, pixels, targets, iterations=2, eps=8, step_size=2, distribution=TransformDistribution(max_shift=3), samples=5)
    seen = module.model_input(pixels, 0)
    assert seen.shape == (20, 3, 16, 16) and not torch.allclose(seen[:4], model.normalize(pixels))
    result = make_fooling_images(model, image_set(pixels), [1], method="eot", iterations=2, eot_samples=5, eot_eval_samples=2, **CPU)
    assert torch.equal(result.fooled, predicted_is(model, result.adversarial, 1))  # judged as it is, untransformed


def test_ensemble_scores_are_the_members_average_each_normalizing_its_own_way(pixels):
    first = tiny_classifier(seed=0)
    second = Classifier(tiny_classifier(seed=1).net, name="tiny_b", categories=first.categories, mean=(0.1, 0.2, 0.3), std=(0.5, 0.5, 0.5), input_size=16)
    ensemble = Ensemble([first, second])
    logits, scores = ensemble.class_scores(ensemble.normalize(pixels))
    expected = (first(first.normalize(pixels)) + second(second.normalize(pixels))) / 2
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(scores, expected)
    result = make_fooling_images(first, image_set(pixels), [2], ensemble=[second], iterations=30, **CPU)
    assert result.model == "tiny+tiny_b" and set(result.transfer) == {"tiny", "tiny_b"}
    fooled_both = result.transfer["tiny"]["fooled_targeted"] & result.transfer["tiny_b"]["fooled_targeted"]
    # The attack stops when the average predicts the target; the members' own verdicts are reported as they are.
    assert result.fooled.all() and torch.equal(result.fooled, predicted_is(ensemble, result.adversarial, 2))
    assert fooled_both.dtype == torch.bool


def predicted_is(model: Classifier, pixels: torch.Tensor, target: int) -> torch.Tensor:
    with torch.no_grad():
        return model(model.normalize(pixels)).argmax(1) == target


def test_ensemble_members_must_share_their_classes():
    with pytest.raises(NetvizError, match="share their classes"):
        Ensemble([tiny_classifier(num_classes=10), tiny_classifier(num_classes=5)])


def test_transfer_reports_what_each_evaluation_model_predicts(pixels):
    source, other = tiny_classifier(seed=0), tiny_classifier(seed=4)
    other.name = "other"
    result = make_fooling_images(source, image_set(pixels), [1, 6], eval_models=[other], iterations=30, **CPU)
    clean = other(other.normalize(pixels)).argmax(1).repeat_interleave(2)
    predicted = other(other.normalize(result.adversarial.clamp(0, 1))).argmax(1)
    outcome = result.transfer["other"]
    assert torch.equal(outcome["predicted"], predicted)
    assert torch.equal(outcome["fooled_targeted"], predicted == torch.tensor([1, 6] * 4))
    assert torch.equal(outcome["fooled_untargeted"], predicted != clean)
    metrics = result.metrics()
    assert metrics["transfer/other/targeted_rate"] == pytest.approx(float(outcome["fooled_targeted"].float().mean()))


def linear_classifier(pixels: torch.Tensor, margin: float) -> Classifier:
    """Two classes: class 1 wins when the image's mean (normalized) exceeds the original's by ``margin``."""
    size = pixels.shape[-1]
    model = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, 2)), name="linear", categories=["a", "b"], input_size=size)
    with torch.no_grad():
        layer = model.net[1]
        layer.weight.zero_()
        layer.weight[1] = 1.0 / layer.weight.shape[1]
        layer.bias[:] = torch.tensor([0.0, -float(model.normalize(pixels).mean()) - margin])
    return model


def test_png_round_trip_detects_an_attack_that_rounding_undoes():
    pixels = torch.randint(0, 256, (1, 3, 8, 8), generator=torch.Generator().manual_seed(0)).float() / 255
    model = linear_classifier(pixels, margin=1e-4)
    assert predicted_is(model, pixels, 0).all()
    # One step moves every pixel by the same 0.1/255: enough to fool, below half an 8-bit level.
    lr = 0.1 / 255 / 0.225 * (3 * 8 * 8) ** 0.5
    result = make_fooling_images(model, image_set(pixels), ["b"], lr=lr, iterations=5, **CPU)
    assert result.fooled.tolist() == [True] and result.iterations.tolist() == [1]
    assert result.linf.item() == pytest.approx(0.1, rel=0.05)
    assert result.png_fooled.tolist() == [False]
    torch.testing.assert_close(png_round_trip(result.adversarial), pixels)


def test_png_round_trip_is_8_bit_quantization():
    pixels = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(5)) * 1.2 - 0.1
    expected = (pixels.clamp(0, 1) * 255).round() / 255
    torch.testing.assert_close(png_round_trip(pixels), expected)


def test_pairs_are_images_times_targets_named_and_drawn(pixels):
    model = tiny_classifier()
    result = make_fooling_images(model, image_set(pixels[:2]), ["class3", 4], iterations=30, **CPU)
    assert result.sample_names == ["img0→class3", "img0→class4", "img1→class3", "img1→class4"]
    assert result.classes.tolist() == [3, 4, 3, 4]
    torch.testing.assert_close(result.original, pixels[[0, 0, 1, 1]])
    metrics = result.metrics()
    fooled = result.fooled.tolist()
    took_steps = [f and int(n) > 0 for f, n in zip(fooled, result.iterations_to_fool)]
    assert sum(k.startswith("iterations_to_fool/") for k in metrics) == sum(took_steps)
    assert metrics["pairs"] == 4 and metrics["fooled_rate"] == pytest.approx(np.mean(fooled))
    assert metrics["fooled_at_start"] == sum(int(n) == 0 for n in result.iterations_to_fool)
    assert all(np.isfinite(v) for v in metrics.values())
    panel = result.panels()["img0 to class3"]
    assert panel.shape == (16, 4 * 16 + 3 * 4, 3) and panel.dtype == np.uint8
    assert result.figure() is not None
    assert result.history["target_prob"][-1][0] == int(result.iterations.max())
    torch.testing.assert_close(result.history["target_prob"][-1][1], result.target_prob_end)


def test_bad_targets_and_budgets_are_one_line_errors():
    model = tiny_classifier()
    with pytest.raises(NetvizError, match="unknown class"):
        check_targets(model, ["class3", "nosuchclass"], True)
    with pytest.raises(NetvizError, match="needs target"):
        check_targets(model, [], True)
    with pytest.raises(NetvizError, match="takes no target"):
        check_targets(model, [1], False)
    images = image_set(torch.rand(1, 3, 16, 16))
    for options in ({"method": "pgd", "eps": 0}, {"method": "fgsm", "eps": -1}, {"method": "pgd", "step_size": 0}):
        with pytest.raises(NetvizError, match="must be > 0"):
            make_fooling_images(model, images, [1], **options, **CPU)
    with pytest.raises(NetvizError, match="^iterations=0 is not a positive integer$"):
        make_fooling_images(model, images, [1], iterations=0, **CPU)
    with pytest.raises(NetvizError, match="^lr=0 must be > 0$"):  # lr is not in pixel units: no such hint
        make_fooling_images(model, images, [1], lr=0, **CPU)
    with pytest.raises(NetvizError, match="unknown adversarial.method"):
        make_fooling_images(model, images, [1], method="pdg", **CPU)
    with pytest.raises(NetvizError, match="min_scale"):
        TransformDistribution(min_scale=2, max_scale=1)


def test_repeated_images_keep_their_own_metrics(pixels):
    from netviz.data import ImageSet
    from netviz.techniques.adversarial import make_fooling_images
    from tests.conftest import tiny_classifier

    images = ImageSet(pixels[[0, 0]], torch.tensor([-1, -1]), ["same", "same"])
    result = make_fooling_images(tiny_classifier(), images, [3], iterations=2, accelerator="cpu", progress=False)
    assert result.sample_names == ["same→class3", "same→class3 2"]
    assert len([k for k in result.metrics() if k.startswith("fooled/")]) == 2
