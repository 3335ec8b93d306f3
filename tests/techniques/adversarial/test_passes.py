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


@pytest.mark.parametrize("method", ["pgd", "naive"])
def test_each_model_sees_each_image_once_outside_the_attacks_steps(method):
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
    assert result.iterations.tolist() == [3] * 4  # lr 1e-3: naive never stops early either
    checks = [x for x, grad in calls if not grad]
    assert sum(grad for _, grad in calls) == 3  # one forward/backward per step
    # One clean pass over the 2 images, one pass over the 4 final images and their PNG round trip.
    assert [len(x) for x in checks] == [2, 8]
    # The transfer model: one pass, the 2 clean images and the 4 adversarial ones together.
    assert [len(x) for x, _ in other_calls] == [6]
    rows = torch.cat(checks).flatten(1)
    assert len(torch.unique(rows, dim=0)) == len(rows), "an image was judged twice"
