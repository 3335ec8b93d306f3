"""The loop built from parts, against the older subclass techniques and plain PyTorch loops.

Tiny random networks; each test names the oracle it is checked against.
"""

import logging

import pytest
import torch

from netviz import live
from netviz.eot import TransformDistribution
from netviz.parts import (
    Clamp,
    ClassScore,
    GaussianNoise,
    LogProbability,
    NormalizedAscent,
    PixelInput,
    ProjectedAscent,
    RandomTransforms,
    WhenPredicted,
)
from netviz.techniques.adversarial import EOTAttack
from netviz.techniques.base import InputOptimizer, optimize
from tests.conftest import tiny_classifier

CPU = {"accelerator": "cpu", "progress": False}


def test_eot_from_parts_equals_the_eot_attack_subclass(pixels):
    model, targets = tiny_classifier(), torch.tensor([1, 2, 3, 4])
    distribution = TransformDistribution(max_shift=3, max_rotation=10, max_blur=0.5, noise=4)
    eps, step_size = 8 / 255, 2 / 255
    parts = InputOptimizer(
        model, pixels, targets, iterations=4,
        parameterization=PixelInput(),
        objective=LogProbability(),
        transforms=[RandomTransforms(distribution, samples=3, seed=7)],
        step=ProjectedAscent(pixels, eps=eps, step_size=step_size),
        post_steps=[Clamp(torch.zeros(1), torch.ones(1))],
    )
    optimize(parts, **CPU)
    attack = optimize(EOTAttack(model, pixels, targets, iterations=4, eps=8, step_size=2, random_start=False,
                                distribution=distribution, samples=3, seed=7), **CPU)
    torch.testing.assert_close(parts.x, attack.x, rtol=0, atol=1e-6)
    # The attack leaves its final evaluation to make_fooling_images: judge its images the same way.
    with torch.no_grad():
        torch.testing.assert_close(parts.final_logits, model(model.normalize(attack.x)))


def test_noise_copies_in_one_batch_average_the_gradients_of_each_copy(pixels):
    # SmoothGrad's pattern: k noisy copies in one pass; the step's gradient is the mean of the k
    # gradients taken one copy at a time (oracle: a plain loop over the same noise draws).
    model, targets, k, std = tiny_classifier(), torch.tensor([0, 5, 2, 9]), 4, 0.3
    module = InputOptimizer(model, pixels, targets, iterations=1, objective=ClassScore(),
                            transforms=[GaussianNoise(std, samples=k, seed=3)], step=NormalizedAscent(1.0))
    x = module.x.clone().requires_grad_(True)
    evaluation = module.evaluate(x, 0)
    assert evaluation.input.shape == (k * 4, 3, 16, 16) and evaluation.targets.tolist() == targets.tolist() * k
    (batched,) = torch.autograd.grad(evaluation.per_sample(module.objective_part(evaluation)).sum(), x)

    generator = torch.Generator().manual_seed(3)
    noise = torch.randn((k * 4, 3, 16, 16), generator=generator)
    start = model.normalize(pixels)
    expected = torch.zeros_like(start)
    for c in range(k):
        copy = (start + std * noise[c * 4 : (c + 1) * 4]).requires_grad_(True)
        (grad,) = torch.autograd.grad(model(copy).gather(1, targets[:, None]).sum(), copy)
        expected += grad / k
    torch.testing.assert_close(batched, expected, rtol=1e-4, atol=1e-6)


def test_a_stop_rule_stops_each_sample_like_a_plain_loop_and_says_so(pixels, caplog):
    model = tiny_classifier()
    targets = torch.tensor([0, 1, 2, 3])
    module = InputOptimizer(model, pixels, targets, iterations=40, objective=ClassScore(), step=NormalizedAscent(0.5),
                            stop=WhenPredicted(), name="ascent", sample_noun="pairs")
    with caplog.at_level(logging.INFO, logger="netviz"):
        optimize(module, **CPU)
    for i in range(4):  # oracle: one sample at a time, check then step
        x, steps = model.normalize(pixels[i : i + 1]).clone(), 0
        for _ in range(40):
            x.requires_grad_(True)
            logits = model(x)
            if logits.argmax(1).item() == targets[i]:
                break
            (grad,) = torch.autograd.grad(logits[0, targets[i]], x)
            x = (x + 0.5 * grad / grad.norm()).detach()
            steps += 1
        assert module.steps_taken[i].item() == steps
        torch.testing.assert_close(module.x[i : i + 1], x.detach(), rtol=1e-4, atol=1e-5)
    lines = [r.getMessage() for r in caplog.records if r.name == "netviz"]
    if module.stopped_at is not None:
        assert lines == [f"ascent: all 4 pairs fooled at step {module.stopped_at}"]
        assert module.stopped_at == int(module.steps_taken.max())
    else:
        assert len(lines) == 1 and lines[0].startswith("ascent: 40 steps") and "fooled" in lines[0]


class Sink:
    """A live sink that keeps what it is sent (:mod:`netviz.live`'s protocol)."""

    def __init__(self):
        self.steps, self.image_steps = [], []

    def metrics(self, step, values):
        self.steps.append((step, values.flat()))

    def images(self, step, images):
        self.image_steps.append((step, {k: live.rgb8(v).shape for k, v in images.items()}))


def test_live_curves_every_log_every_steps_end_on_the_final_evaluation():
    from netviz.techniques.classviz import ClassVizOptions, class_visualization

    sink = Sink()
    with live.recording(sink):
        result = class_visualization(tiny_classifier(), ["class2", "class5"],
                                     options=ClassVizOptions(iterations=7, log_every=3, show_every=5), **CPU)
    assert [step for step, _ in sink.steps] == [0, 3, 6, 7]
    last = sink.steps[-1][1]
    assert last["probability/class5"] == pytest.approx(result.probability[1].item(), rel=1e-5)
    assert last["score/class2"] == pytest.approx(result.score[0].item(), rel=1e-5)
    assert {"score/class2", "probability/class2", "regularizer/class2", "objective/class2"} <= set(last)
    assert [step for step, _ in sink.image_steps] == [0, 5, 7]
    assert sink.image_steps[0][1] == {"image/class2": (16, 16, 3), "image/class5": (16, 16, 3)}


def test_without_a_terminal_no_bar_and_one_summary_line(pixels, caplog, capsys):
    module = InputOptimizer(tiny_classifier(), pixels, torch.tensor([1, 2, 3, 4]), iterations=5, log_every=2,
                            objective=ClassScore(), step=NormalizedAscent(0.1), name="ascent")
    with caplog.at_level(logging.INFO, logger="netviz"):
        optimize(module, accelerator="cpu")  # progress=None: pytest's stderr is no terminal
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "Epoch" not in captured.err
    lines = [r.getMessage() for r in caplog.records if r.name == "netviz"]
    assert len(lines) == 1 and lines[0].startswith("ascent: 5 steps, objective ")


def test_a_forced_bar_is_named_after_the_technique_and_shows_the_objective(pixels, capsys):
    module = InputOptimizer(tiny_classifier(), pixels, torch.tensor([1, 2, 3, 4]), iterations=5, log_every=2,
                            objective=ClassScore(), step=NormalizedAscent(0.1), name="ascent")
    optimize(module, accelerator="cpu", progress=True)
    err = capsys.readouterr().err
    assert "ascent" in err and "objective=" in err and "5/5" in err and "Epoch" not in err
