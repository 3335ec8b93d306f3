"""No pass computed twice: the forward calls a whole ``make_fooling_images`` makes, counted on the networks."""

import pytest
import torch

from netviz.data import ImageSet
from netviz.techniques.adversarial import make_fooling_images
from tests.conftest import tiny_classifier
from tests.techniques.test_adversarial import CPU


def count_passes(model):
    """Record every forward call of ``model.net``: its input and whether autograd was recording."""
    calls = []
    handle = model.net.register_forward_hook(lambda _m, inputs, _out: calls.append((inputs[0].detach().clone(), torch.is_grad_enabled())))
    return calls, handle


@pytest.mark.parametrize("method, steps, checks", [("pgd", 3, [10]), ("naive", 3, [8]), ("fgsm", 1, [8])])
def test_each_model_sees_each_image_once_outside_the_attacks_steps(method, steps, checks):
    attacked, other = tiny_classifier(seed=0), tiny_classifier(seed=1)
    other.name = "other"
    pixels = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    images = ImageSet(pixels, torch.tensor([-1, -1]), ["a", "b"])
    calls, handle = count_passes(attacked)
    other_calls, other_handle = count_passes(other)
    try:
        result = make_fooling_images(attacked, images, [1, 2], method=method, iterations=3, lr=1e-3, eval_models=[other], clamp=True, **CPU)
    finally:
        handle.remove()
        other_handle.remove()
    assert result.iterations.tolist() == [steps] * 4  # lr 1e-3: naive never stops early either
    assert sum(grad for _, grad in calls) == steps  # one forward/backward per step
    # One pass over the 4 final images and their PNG round trip; pgd's holds the 2 clean images too (its
    # random start means the first step never sees them), naive and fgsm take theirs from their first step.
    passes = [x for x, grad in calls if not grad]
    assert [len(x) for x in passes] == checks
    # The transfer model: one pass, the 2 clean images and the 4 adversarial ones together.
    assert [len(x) for x, _ in other_calls] == [6]
    # No row of the checks repeats another or the first step's inputs (whose 4 pairs hold 2 images,
    # each twice, unless pgd's random start made them 4).
    first_step = next(x for x, grad in calls if grad)
    rows = torch.cat([*passes, first_step]).flatten(1)
    repeats_in_first_step = 0 if method == "pgd" else 2
    assert len(torch.unique(rows, dim=0)) == len(rows) - repeats_in_first_step, "an image was judged twice"


def test_fgsm_from_8bit_images_is_its_own_png_and_is_judged_once():
    from netviz.techniques.adversarial import png_round_trip

    model = tiny_classifier(seed=0)
    pixels = torch.randint(0, 256, (2, 3, 16, 16), generator=torch.Generator().manual_seed(3)).float() / 255
    images = ImageSet(pixels, torch.tensor([4, 7]), ["a", "b"])
    calls, handle = count_passes(model)
    try:
        result = make_fooling_images(model, images, None, method="fgsm", targeted=False, untargeted_from="label", eps=8, **CPU)
    finally:
        handle.remove()
    # A plain FGSM step (Goodfellow et al. 2015) on the same model: the same image up to float rounding.
    x = pixels.clone().requires_grad_()
    loss = -model(model.normalize(x)).log_softmax(dim=1).gather(1, torch.tensor([[4], [7]])).sum()
    (grad,) = torch.autograd.grad(loss, x)
    plain = (pixels + 8 / 255 * grad.sign()).clamp(0, 1)
    torch.testing.assert_close(result.adversarial, plain, rtol=0, atol=1e-7)
    assert torch.equal(png_round_trip(result.adversarial), result.adversarial)  # exactly an 8-bit image
    assert [len(x) for x, grad in calls if not grad] == [2]  # the final images once: no second pass for their PNG
    assert torch.equal(result.png_fooled, result.fooled)
