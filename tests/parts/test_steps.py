"""Step rules and post-steps against plain PyTorch: torch.optim by name, projections, clamp, decay, blur."""

import pytest
import torch

from netviz.errors import NetvizError
from netviz.parts import BlurEvery, Clamp, Decay, NormalizedAscent, ProjectedAscent, TorchOptimizer
from netviz.transforms import gaussian_blur


def quadratic_gradient(x: torch.Tensor) -> torch.Tensor:
    """The gradient of the objective -||x - 1||^2 (maximized at 1)."""
    return -2 * (x - 1)


def test_adam_by_name_ascends_like_a_plain_adam_loop_minimizing_the_negative():
    start = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    rule = TorchOptimizer("Adam", lr=0.1, betas=(0.8, 0.99))
    x = start.clone()
    for step in range(5):
        x = rule(x, quadratic_gradient(x), step)
    # Oracle: torch.optim.Adam on the loss ||x - 1||^2.
    param = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([param], lr=0.1, betas=(0.8, 0.99))
    for _ in range(5):
        optimizer.zero_grad()
        ((param - 1) ** 2).sum().backward()
        optimizer.step()
    torch.testing.assert_close(x, param.detach())


def test_an_unknown_optimizer_is_a_one_line_error_with_suggestions():
    with pytest.raises(NetvizError, match="unknown optimizer 'adma' \\(did you mean .*'adam'") as error:
        TorchOptimizer("adma", lr=0.1)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_projected_steps_stay_in_the_ball_around_the_origin(norm):
    generator = torch.Generator().manual_seed(1)
    origin = torch.rand(3, 3, 8, 8, generator=generator)
    rule = ProjectedAscent(origin, eps=0.05, step_size=0.02, norm=norm)
    x = origin.clone()
    for step in range(10):
        x = rule(x, torch.randn(x.shape, generator=generator), step)
        delta = (x - origin).flatten(1)
        size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
        assert (size <= 0.05 + 1e-6).all()
    assert (size > 0.05 - 1e-4).all()  # ten steps of 0.02 reach the boundary


def test_normalized_ascent_steps_lr_in_l2_and_a_zero_gradient_stays_put():
    x = torch.zeros(2, 3, 4, 4)
    grad = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    grad[1] = 0
    moved = NormalizedAscent(2.5)(x, grad, 0)
    assert moved[0].norm().item() == pytest.approx(2.5)
    assert torch.equal(moved[1], x[1])


def test_post_steps_clamp_decay_and_blur_on_their_steps():
    x = torch.randn(1, 3, 10, 10, generator=torch.Generator().manual_seed(0))
    low, high = torch.full((1, 3, 1, 1), -0.5), torch.full((1, 3, 1, 1), 0.5)
    assert torch.equal(Clamp(low, high)(x, 0), x.clamp(-0.5, 0.5))
    torch.testing.assert_close(Decay(0.1)(x, 0), 0.9 * x)
    blur = BlurEvery(every=3, sigma=0.5)
    outputs = [blur(x, step) for step in range(7)]
    assert blur.steps == [0, 3, 6]
    assert torch.equal(outputs[1], x) and torch.equal(outputs[3], gaussian_blur(x, 0.5))
