"""Class visualization: the update against a plain PyTorch oracle, its regularizers, and its inputs.

Fast tests run on the tiny random network; the pretrained-model test is marked slow.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from netviz.data import ImageSet
from netviz.errors import NetvizError
from netviz.figures import to_uint8
from netviz.techniques.base import optimize
from netviz.techniques.classviz import (
    ClassVisualization,
    ClassVizOptions,
    class_visualization,
    noise_start,
    sample_seed,
    total_variation,
)
from netviz.transforms import gaussian_blur, jitter, unjitter
from tests.conftest import tiny_classifier

CPU = {"accelerator": "cpu", "progress": False}


def run_module(options: ClassVizOptions, targets=(0, 3), seed_pixels: int = 1) -> ClassVisualization:
    model = tiny_classifier()
    start = noise_start(model, len(targets), seed_pixels)
    return optimize(ClassVisualization(model, start, torch.tensor(targets), options), **CPU)


def course_loop(model, start: torch.Tensor, target: int, options: ClassVizOptions) -> torch.Tensor:
    """The course's class visualization (CS231n / RDFIA), written as there, for one image: jitter the
    image's data, score, backward, normalized step, unjitter, clamp each channel, blur. Its offsets come
    from a generator seeded as netviz seeds the jitter of a job's first sample (``sample_seed(seed, 0)``)."""
    from scipy.ndimage import gaussian_filter

    generator = torch.Generator().manual_seed(sample_seed(options.seed, 0))
    img = model.normalize(start).clone().requires_grad_(True)
    low, high = (b.flatten() for b in model.input_bounds())
    for t in range(options.iterations):
        ox, oy = torch.randint(0, options.max_jitter + 1, (2,), generator=generator).tolist()
        img.data.copy_(jitter(img.data, ox, oy))
        score = model(img)
        loss = score[0, target] - options.l2 * (img * img).sum()
        loss.backward()
        img.data += options.lr * img.grad.data / torch.norm(img.grad.data)
        img.grad.data.zero_()
        img.data.copy_(unjitter(img.data, ox, oy))
        for c in range(3):
            img.data[:, c].clamp_(min=float(low[c]), max=float(high[c]))
        if options.blur_every and t % options.blur_every == 0:
            blurred = gaussian_filter(img.data.numpy(), sigma=(0, 0, options.blur_sigma, options.blur_sigma), mode="mirror")
            img.data.copy_(torch.from_numpy(blurred))
    return img.detach()


@pytest.mark.parametrize("blur_every", [None, 0, 2])
def test_steps_equal_the_course_loop_written_in_plain_pytorch(blur_every):
    options = ClassVizOptions(iterations=6, lr=2.0, l2=1e-2, blur_every=blur_every, max_jitter=3, seed=5)
    model = tiny_classifier()
    start = noise_start(model, 1, seed=2)
    module = optimize(ClassVisualization(model, start, torch.tensor([4]), options), **CPU)
    expected = course_loop(model, start, 4, options)
    torch.testing.assert_close(module.x, expected, rtol=1e-4, atol=1e-5)
    assert module.blur_steps == ([0, 2, 4] if blur_every else [])


def test_objective_rises_over_the_first_steps_and_the_image_changes():
    options = ClassVizOptions(iterations=8, lr=1.0, blur_every=None, max_jitter=2, log_every=1)
    module = run_module(options)
    objective = torch.stack([values for _, values in module.history["objective"]])
    assert (objective[-1] > objective[0] + 0.1).all(), objective
    start = noise_start(module.classifier, 2, 1)
    assert (module.pixels() - start.clamp(0, 1)).abs().amax() > 0.1


def test_jitter_followed_by_its_inverse_is_the_identity():
    x = torch.rand(2, 3, 9, 11, generator=torch.Generator().manual_seed(0))
    for dx, dy in [(0, 0), (3, 5), (16, 16), (-4, 2), (20, 1)]:
        rolled = jitter(x, dx, dy)
        if (dx % 11, dy % 9) != (0, 0):
            assert not torch.equal(rolled, x)
        assert torch.equal(unjitter(rolled, dx, dy), x)
    assert torch.equal(jitter(x, 1, 0)[..., 1:], x[..., :-1])  # dx moves content right


def test_images_stay_within_the_valid_range_of_every_channel():
    module = run_module(ClassVizOptions(iterations=5, lr=500.0, blur_every=None, max_jitter=2))
    low, high = module.classifier.input_bounds()
    assert (module.x >= low - 1e-6).all() and (module.x <= high + 1e-6).all()
    assert module.x.amax() > high.amin() - 1e-6  # the big step pushed values against the bounds
    pixels = module.pixels()
    assert pixels.min() >= -1e-6 and pixels.max() <= 1 + 1e-6


def test_same_seed_gives_the_same_image_and_another_seed_another():
    first = run_module(ClassVizOptions(iterations=4, seed=3)).x
    again = run_module(ClassVizOptions(iterations=4, seed=3)).x
    other = run_module(ClassVizOptions(iterations=4, seed=4)).x
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_blur_equals_the_courses_sigma_half_scipy_kernel():
    from scipy.ndimage import gaussian_filter

    x = torch.randn(2, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    blurred = gaussian_blur(x, 0.5).numpy()
    mirror = gaussian_filter(x.numpy(), sigma=(0, 0, 0.5, 0.5), mode="mirror")
    np.testing.assert_allclose(blurred, mirror, rtol=1e-5, atol=1e-5)
    # The course calls gaussian_filter with its default mode "reflect": equal away from the border.
    reflect = gaussian_filter(x.numpy(), sigma=(0, 0, 0.5, 0.5))
    np.testing.assert_allclose(blurred[..., 2:-2, 2:-2], reflect[..., 2:-2, 2:-2], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "l2_form, expected",
    [
        ("squared", lambda x: 0.1 * (x**2).sum(dim=(1, 2, 3))),
        ("norm", lambda x: 0.1 * x.flatten(1).norm(dim=1)),
        ("decay", lambda x: torch.zeros(len(x))),
    ],
)
def test_penalty_is_the_chosen_l2_form(l2_form, expected):
    model = tiny_classifier()
    module = ClassVisualization(model, noise_start(model, 2), torch.tensor([0, 1]), ClassVizOptions(l2=0.1, l2_form=l2_form))
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(module.penalty(x), expected(x))


def test_decay_shrinks_the_image_after_each_step():
    model = tiny_classifier()
    options = ClassVizOptions(l2=0.5, l2_form="decay", blur_every=None)
    module = ClassVisualization(model, noise_start(model, 1), torch.tensor([0]), options)
    x = torch.full((1, 3, 16, 16), 0.2)
    grad = torch.zeros_like(x).index_fill_(1, torch.tensor([0]), 1.0)
    torch.testing.assert_close(module.update(x, grad, 1), (x + 5.0 * grad / grad.norm()) * 0.5)


def test_total_variation_matches_numpy_and_is_zero_on_flat_images():
    x = torch.randn(2, 3, 5, 6, generator=torch.Generator().manual_seed(0))
    a = x.numpy()
    dx = a[..., :-1, 1:] - a[..., :-1, :-1]
    dy = a[..., 1:, :-1] - a[..., :-1, :-1]
    for beta in (2.0, 1.0):
        expected = ((dx**2 + dy**2 + (0 if beta == 2 else 1e-8)) ** (beta / 2)).reshape(2, -1).sum(1)
        np.testing.assert_allclose(total_variation(x, beta).numpy(), expected, rtol=1e-5)
    assert total_variation(torch.ones(1, 3, 4, 4)).item() == 0


def test_tv_regularizer_smooths_the_image():
    rough = run_module(ClassVizOptions(iterations=10, blur_every=None, l2=0)).pixels()
    smooth = run_module(ClassVizOptions(iterations=10, blur_every=None, l2=0, tv=0.5)).pixels()
    assert total_variation(smooth).sum() < 0.8 * total_variation(rough).sum()


def test_several_targets_form_one_batch_with_snapshots_every_show_every():
    model = tiny_classifier()
    options = ClassVizOptions(iterations=7, show_every=3, blur_every=None)
    result = class_visualization(model, ["class2", 5, "class2"], options=options, **CPU)
    assert result.sample_names == ["class2", "class5", "class2 2"]
    assert result.pixels.shape == (3, 3, 16, 16)
    assert [step for step, _ in result.snapshots] == [0, 3, 6, 7]
    series = result.image_series()
    assert set(series) == {"image/class2", "image/class5", "image/class2 2"}
    assert all(image.shape == (16, 16, 3) and image.dtype == np.uint8 for _, image in series["image/class5"])
    np.testing.assert_array_equal(series["image/class5"][-1][1], result.panels()["class5"])
    # Every log_every steps, and last the final evaluation after all 7 updates: the curve ends on the
    # final values (after the last blur), the same as final_probability.
    assert [step for step, _ in result.history["probability"]] == [0, 7]
    torch.testing.assert_close(result.history["probability"][-1][1], result.probability)
    metrics = result.metrics()
    assert not any(key.startswith("top") for key in metrics)  # class indices are no metrics
    assert metrics["final_probability/class5"] == pytest.approx(result.probability[1].item())
    assert metrics["mean_final_probability"] == pytest.approx(result.probability.mean().item())
    hits = [int(result.top_classes[i, 0]) == int(result.targets[i]) for i in range(3)]
    assert metrics["target_top1_rate"] == pytest.approx(sum(hits) / 3)
    probabilities = result.top_probabilities
    assert (probabilities[:, :-1] >= probabilities[:, 1:]).all()
    assert result.rows()[1]["target_name"] == "class5"
    # The caption reads like the report's, from the options the images were made with.
    assert result.caption() == ("Class visualization of class2, class5 with tiny: 7 iterations, lr 5, "
                                "L2 0.001 (squared), no blur, jitter 16 px")


def test_image_start_pairs_images_with_targets_and_defaults_to_their_labels():
    model = tiny_classifier()
    images = ImageSet(torch.rand(2, 3, 16, 16), torch.tensor([1, 7]), ["a", "b"])
    options = ClassVizOptions(iterations=2)
    own = class_visualization(model, None, init_images=images, options=options, **CPU)
    assert own.targets.tolist() == [1, 7] and own.sample_names == ["a→class1", "b→class7"]
    torch.testing.assert_close(own.start, images.pixels)
    # Each panel shows start | final side by side, keyed by the sample's file name.
    panel = own.panels()["a to class1"]
    assert panel.shape == (16, 32, 3)
    np.testing.assert_array_equal(panel[:, :16], to_uint8(own.start[0]))
    np.testing.assert_array_equal(panel[:, 16:], to_uint8(own.pixels[0]))
    one_target = class_visualization(model, "class3", init_images=images, options=options, **CPU)
    assert one_target.targets.tolist() == [3, 3]
    one_image = class_visualization(model, [4, 5, 6], init_images=ImageSet(images.pixels[:1], images.labels[:1], ["a"]),
                                    options=options, **CPU)
    assert one_image.targets.tolist() == [4, 5, 6]
    with pytest.raises(NetvizError, match="do not pair up"):
        class_visualization(model, [1, 2, 3], init_images=images, options=options, **CPU)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"iterations": -5}, "iterations=-5 is not a positive integer"),
        ({"iterations": 0}, "not a positive integer"),
        ({"blur_every": -1}, "blur_every=-1 is not an integer >= 0 or null"),
        ({"blur_every": 2.5}, "blur_every=2.5"),
        ({"blur_every": "abc"}, "blur_every=abc"),
        ({"lr": 0}, "lr=0 must be > 0"),
        ({"l2": -1.0}, "l2=-1.0 must be >= 0"),
        ({"l2_form": "cubic"}, "l2_form='cubic' is not one of squared, norm, decay"),
        ({"max_jitter": -2}, "max_jitter"),
        ({"show_every": 0}, "show_every"),
    ],
)
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(NetvizError, match=message.replace("(", r"\(").replace("[", r"\[")) as error:
        ClassVizOptions(**options)
    assert "\n" not in str(error.value)


def test_unknown_target_missing_target_and_unlabelled_images_are_errors():
    model = tiny_classifier()
    with pytest.raises(NetvizError, match="unknown class 'clas2'.*did you mean"):
        class_visualization(model, "clas2", **CPU)
    with pytest.raises(NetvizError, match="needs a target"):
        class_visualization(model, None, **CPU)
    with pytest.raises(NetvizError, match="no label"):
        class_visualization(model, None, init_images=ImageSet(torch.rand(1, 3, 16, 16), torch.tensor([-1]), ["x"]), **CPU)
    with pytest.raises(NetvizError, match="needs at least one image"):
        class_visualization(model, 1, init_images=ImageSet(torch.rand(0, 3, 16, 16), torch.tensor([], dtype=torch.int64), []))


def test_config_section_maps_to_options_with_the_top_level_aliases_where_set():
    from omegaconf import OmegaConf

    from netviz.techniques.classviz import options_from_config

    cfg = OmegaConf.create({"iterations": 7, "lr": None, "l2": 0.0, "seed": 3, "trainer": {"log_every": 2},
                            "classviz": {"init": "image", "lr": 2.0, "blur_every": None, "tv": 0.1}})
    options = options_from_config(cfg)
    assert options == ClassVizOptions(init="image", iterations=7, lr=2.0, l2=0.0, seed=3, log_every=2, blur_every=None, tv=0.1)
    cfg.classviz = {"init": "picture"}
    with pytest.raises(NetvizError, match="classviz.init='picture' is not one of noise, image"):
        options_from_config(cfg)
    cfg.classviz = {"blur_evry": 2}
    with pytest.raises(NetvizError, match="classviz: Key 'blur_evry' not in 'ClassVizConfig'.*takes: classviz.init"):
        options_from_config(cfg)


@pytest.mark.slow
def test_pretrained_model_gives_the_targets_a_high_probability():
    from netviz.models import load_model

    model = load_model("efficientnet_lite0")
    # Measured on this CPU: the snail's probability passes 0.99 by step 40; 60 steps leave a margin.
    result = class_visualization(model, "snail", options=ClassVizOptions(iterations=60), **CPU)
    assert result.probability.item() > 0.9, result.rows()
    assert result.top_classes[0, 0].item() == 113


def test_chunks_give_bit_identical_images_and_metrics():
    # Samples are independent, so chunking changes nothing (chunks of 2 and 3 + 2 here). A lone sample
    # is the exception: PyTorch's CPU convolution takes another kernel for a batch of one, which
    # rounds differently (about 1e-7, checked below), so a chunk of 1 agrees to float rounding only.
    model = tiny_classifier()
    options = ClassVizOptions(iterations=5, log_every=2, show_every=2, seed=2)
    targets = [1, 4, 4, 7, 0, 2]
    whole = class_visualization(model, targets, options=options, batch_size=6, **CPU)
    lone = class_visualization(model, targets, options=options, batch_size=1, **CPU)
    torch.testing.assert_close(lone.pixels, whole.pixels, rtol=0, atol=1e-6)
    for size in (2, 3):
        part = class_visualization(model, targets, options=options, batch_size=size, **CPU)
        assert torch.equal(part.pixels, whole.pixels) and torch.equal(part.probability, whole.probability)
        assert part.sample_names == whole.sample_names
        assert [s for s, _ in part.snapshots] == [s for s, _ in whole.snapshots] == [0, 2, 4, 5]
        assert all(torch.equal(a, b) for (_, a), (_, b) in zip(part.snapshots, whole.snapshots))
        for name, points in whole.history.items():
            assert all(torch.equal(a, b) for (_, a), (_, b) in zip(part.history[name], points)), name


def test_the_default_chunk_keeps_activations_under_a_gibibyte():
    from netviz.techniques.base import ACTIVATION_BUDGET_BYTES, activation_bytes, default_batch_size

    model = tiny_classifier()
    per_sample = activation_bytes(model)
    # Oracle: the tiny net's leaf outputs for one 16 px image, counted by hand (float32, x2 for gradients).
    by_hand = 4 * (8 * 16 * 16 * 3 + 8 * 8 * 8 * 2 + 8 * 4 * 4 + 8 * 16 + 10) * 2
    assert per_sample == by_hand
    assert default_batch_size(model) == ACTIVATION_BUDGET_BYTES // by_hand
    assert not model.net[0]._forward_hooks  # the measuring hooks are gone
