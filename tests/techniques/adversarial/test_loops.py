"""How loops run: a one-step loop without ``Trainer.fit`` (the same results), one Trainer per job, the bar's words."""

import io
import logging

import lightning.pytorch as L
import numpy as np
import pytest
import torch
from PIL import Image

from netviz.data import ImageSet
from netviz.eot import TransformDistribution
from netviz.techniques.adversarial import NaiveAttack, PGDAttack, make_fooling_images, png_round_trip, robust_accuracy
from netviz.techniques.base import Loops, optimize
from netviz.techniques.saliency.loop import Saliency
from tests.conftest import tiny_classifier
from tests.techniques.test_adversarial import CPU


def fgsm_module(model, pixels):
    return PGDAttack(model, pixels, torch.tensor([1, 2, 3]), iterations=1, eps=8, step_size=8, random_start=False, targeted=False)


def same_state(a, b, logits_tolerance=0.0):
    torch.testing.assert_close(a.x, b.x, rtol=0, atol=0)
    torch.testing.assert_close(a.start_logits, b.start_logits, rtol=logits_tolerance, atol=logits_tolerance)
    assert a.steps_taken.tolist() == b.steps_taken.tolist() and a.first_fooled.tolist() == b.first_fooled.tolist()
    assert [s for s, _ in a.history["target_prob"]] == [s for s, _ in b.history["target_prob"]]
    for (_, ours), (_, theirs) in zip(a.history["target_prob"], b.history["target_prob"]):
        torch.testing.assert_close(ours, theirs, rtol=logits_tolerance, atol=logits_tolerance)


def test_a_one_step_loop_skips_trainer_fit_and_gives_what_trainer_fit_gives(capsys):
    model = tiny_classifier()
    pixels = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    direct = optimize(fgsm_module(model, pixels), **CPU)
    fitted = optimize(fgsm_module(model, pixels), accelerator="cpu", progress=True)  # a bar: Trainer.fit
    assert direct._trainer is None and fitted._trainer is not None
    same_state(direct, fitted)
    # The saliency pass of one chunk (its on_train_start hook resolves the predicted class) likewise.
    maps = [optimize(Saliency(model, pixels, torch.full((3,), -1)), accelerator="cpu", progress=p) for p in (False, True)]
    assert maps[0]._trainer is None and maps[1]._trainer is not None
    torch.testing.assert_close(maps[0].attributions, maps[1].attributions, rtol=0, atol=0)
    assert maps[0].resolved_targets.tolist() == maps[1].resolved_targets.tolist()


def test_loops_on_one_trainer_give_what_each_gives_on_its_own():
    model = tiny_classifier()
    pixels = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    make = [lambda: PGDAttack(model, pixels, torch.tensor([1, 2]), iterations=3), lambda: PGDAttack(model, pixels, torch.tensor([4, 5]), iterations=4)]
    loops = Loops(**CPU)
    shared = [loops.run(build()) for build in make]
    alone = [optimize(build(), **CPU) for build in make]
    assert shared[0].trainer is shared[1].trainer is loops.trainer
    assert [m.steps_taken.tolist() for m in shared] == [[3, 3], [4, 4]]  # the second loop ran all its steps
    for a, b in zip(shared, alone):
        same_state(a, b)


@pytest.fixture
def trainer_starts(monkeypatch):
    """How many Lightning Trainers are made (the real Trainer runs)."""
    made = []
    real_init = L.Trainer.__init__

    def counting_init(self, *args, **kwargs):
        made.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(L.Trainer, "__init__", counting_init)
    return made


def test_a_job_of_several_loops_starts_one_trainer(trainer_starts):
    model = tiny_classifier()
    pixels = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    images = ImageSet(pixels, torch.tensor([0, 1, 2, 3]), [f"img{i}" for i in range(4)])
    identity = TransformDistribution(max_shift=0, max_rotation=0, min_scale=1, max_scale=1, max_blur=0, noise=0)
    result = make_fooling_images(model, images, [5], method="eot", iterations=2, eot=identity, eot_samples=1, eot_eval_samples=2, eot_compare_naive=True, **CPU)
    assert result.naive_eot_success is not None  # EOT's loop and the naive comparison's
    assert len(trainer_starts) == 1
    trainer_starts.clear()
    robust_accuracy(model, images, method="pgd", batch_size=2, iterations=2, **CPU)  # 2 batches
    assert len(trainer_starts) == 1


def test_the_terminal_line_counts_fooled_pairs(caplog):
    model = tiny_classifier()
    pixels = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    predicted = model(model.normalize(pixels)).argmax(1)
    with caplog.at_level(logging.INFO, logger="netviz"):
        naive = optimize(NaiveAttack(model, pixels, predicted, iterations=50, lr=5.0, targeted=False), **CPU)
        pgd = optimize(PGDAttack(model, pixels, predicted, iterations=3, targeted=False), **CPU)
    assert naive.stopped_at is not None
    lines = [r.getMessage() for r in caplog.records if r.name == "netviz"]
    assert f"naive: all 2 pairs fooled at step {naive.stopped_at}" in lines
    assert any(line.startswith("pgd: 3 steps, target prob ") and line.endswith("(2 pairs)") for line in lines), lines


def test_png_round_trip_equals_saving_and_loading_a_png():
    pixels = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(4)) * 1.2 - 0.1
    loaded = []
    for image in pixels.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy():
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        buffer.seek(0)
        loaded.append(np.asarray(Image.open(buffer).convert("RGB")))
    from_png = torch.from_numpy(np.stack(loaded)).permute(0, 3, 1, 2).float().div(255)
    torch.testing.assert_close(png_round_trip(pixels), from_png, rtol=0, atol=0)


@pytest.mark.parametrize("score", ["logits", "pre_relu"])
def test_cpu_chunks_of_a_pass_give_the_whole_batchs_steps(monkeypatch, score):
    from netviz.techniques import base

    model = tiny_classifier(final_relu=True, score=score)
    pixels = torch.rand(5, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    whole = optimize(PGDAttack(model, pixels, torch.tensor([1, 2, 3, 4, 5]), iterations=3), **CPU)
    monkeypatch.setattr(base, "CPU_CHUNK_PIXELS", 2 * 16 * 16)  # chunks of 2 images: 2, 2, 1
    calls = []
    handle = model.net.register_forward_hook(lambda _m, inputs, _out: calls.append(len(inputs[0])))
    try:
        chunked = optimize(PGDAttack(model, pixels, torch.tensor([1, 2, 3, 4, 5]), iterations=3), **CPU)
    finally:
        handle.remove()
    assert calls == [2, 2, 1] * 3
    # The same images; logits up to the float rounding of a smaller matrix product (bit for bit on
    # efficientnet_lite0's convolutions).
    same_state(chunked, whole, logits_tolerance=1e-6)
