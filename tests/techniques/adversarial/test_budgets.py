"""L2 budgets (Madry et al. 2018): inside the ball and in [0, 1] after every step, and the same steps as
torchattacks' PGDL2 on the same network and inputs."""

import pytest
import torch

from netviz.techniques.adversarial import PGDAttack, make_fooling_images
from netviz.techniques.adversarial.budgets import L2Ball
from netviz.techniques.adversarial.external import PixelModel
from netviz.techniques.base import optimize
from tests.conftest import tiny_classifier
from tests.techniques.test_adversarial import CPU, image_set

torchattacks = pytest.importorskip("torchattacks")


class TracedPGD(PGDAttack):
    """PGD that keeps every image its update returns."""

    def update(self, x, grad, step):
        moved = super().update(x, grad, step)
        self.trace.append(moved.clone())
        return moved


def edge_pixels() -> torch.Tensor:
    pixels = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    pixels[:, :, :4], pixels[:, :, -4:] = 0.0, 1.0  # where a step would leave [0, 1]
    return pixels


@pytest.mark.parametrize("random_start", [False, True])
def test_l2_pgd_stays_in_its_ball_and_in_valid_pixels_after_every_step(random_start):
    pixels, model = edge_pixels(), tiny_classifier()
    eps = 60.0  # 0-255 units of the L2 norm: 60/255 over 768 values
    module = TracedPGD(model, pixels, torch.tensor([1, 2, 3]), iterations=8, eps=eps, step_size=25, norm="l2", random_start=random_start)
    module.trace = [module.x.clone()]
    optimize(module, **CPU)
    assert len(module.trace) == 9
    for x in module.trace:
        assert ((x - pixels).flatten(1).norm(dim=1) <= eps / 255 + 1e-6).all()
        assert x.min() >= 0 and x.max() <= 1
    assert ((module.trace[-1] - pixels).flatten(1).norm(dim=1) > 0.95 * eps / 255).all()  # the bound binds (the [0, 1] clip takes a little)


def test_l2_pgd_takes_the_same_steps_as_torchattacks_pgdl2():
    pixels, model = edge_pixels(), tiny_classifier()
    labels = model(model.normalize(pixels)).argmax(1)
    oracle = torchattacks.PGDL2(PixelModel(model), eps=60 / 255, alpha=25 / 255, steps=5, random_start=False)(pixels, labels)
    ours = optimize(PGDAttack(model, pixels, labels, iterations=5, eps=60, step_size=25, norm="l2", random_start=False, targeted=False), **CPU)
    torch.testing.assert_close(ours.pixels(), oracle, rtol=0, atol=1e-6)


def test_l2_random_start_is_inside_the_ball_and_seeded():
    origin = torch.rand(4, 3, 8, 8)
    ball = L2Ball(30)
    first, again = (ball.random_start(origin, torch.Generator().manual_seed(5)) for _ in range(2))
    torch.testing.assert_close(first, again)
    norms = (first - origin).flatten(1).norm(dim=1)
    assert (norms <= 30 / 255 + 1e-6).all() and (norms > 0).all()


def test_l2_fgsm_is_one_unit_gradient_step_of_eps():
    pixels, model = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(3)) * 0.5 + 0.25, tiny_classifier()
    result = make_fooling_images(model, image_set(pixels), [4], method="fgsm", norm="l2", eps=20, **CPU)
    torch.testing.assert_close(result.l2, torch.full((2,), 20.0), rtol=1e-4, atol=1e-3)  # mid-range pixels: no clipping
