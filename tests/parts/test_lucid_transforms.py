"""Lucid's transforms: what each does to an image, against torchvision's functional transforms."""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms.functional as TF

from netviz.parts.lucid_transforms import LUCID_ANGLES, Jitter, Pad, RandomRotation, RandomScale, lucid_transforms
from netviz.parts.transforms import Transforms

IMAGE = torch.rand(2, 3, 20, 20, generator=torch.Generator().manual_seed(0))


def test_pad_fills_every_side_with_grey_per_channel():
    fill = torch.tensor([0.1, 0.5, 0.9]).view(1, 3, 1, 1)
    out = Pad(3, fill)(IMAGE, 0)
    assert out.shape == (2, 3, 26, 26)
    torch.testing.assert_close(out[..., 3:-3, 3:-3], IMAGE)
    border = torch.ones(26, 26, dtype=torch.bool)
    border[3:-3, 3:-3] = False
    torch.testing.assert_close(out[:, :, border], fill.view(1, 3, 1).expand(2, 3, int(border.sum())))


def test_jitter_is_a_crop_k_pixels_smaller_at_offsets_up_to_k():
    jitter = Jitter(4, seed=0)
    for step in range(20):
        out = jitter(IMAGE, step)
        assert out.shape == (2, 3, 16, 16)
        offsets = [(dx, dy) for dx in range(5) for dy in range(5) if torch.equal(IMAGE[..., dy : dy + 16, dx : dx + 16], out)]
        assert offsets  # some crop of the original


def test_random_scale_resizes_as_torchvision_does():
    scale = RandomScale([1.2], seed=0)
    expected = TF.resize(IMAGE, [24, 24], interpolation=TF.InterpolationMode.BILINEAR, antialias=False)
    torch.testing.assert_close(scale(IMAGE, 0), expected)


@pytest.mark.parametrize("angle", [7.0, -10.0])
def test_random_rotation_rotates_as_torchvision_does_inside_the_image(angle):
    rotated = RandomRotation([angle], seed=0)(IMAGE, 0)
    expected = TF.rotate(IMAGE, angle, interpolation=TF.InterpolationMode.BILINEAR)
    inner = (slice(None), slice(None), slice(5, 15), slice(5, 15))  # away from the corners' fill
    torch.testing.assert_close(rotated[inner], expected[inner], rtol=0, atol=1e-5)


def test_lucids_set_is_differentiable_draws_its_values_and_is_seeded():
    chain = Transforms(lucid_transforms(seed=3))
    x = IMAGE.clone().requires_grad_(True)
    sizes = {chain(x, step).shape[-1] for step in range(30)}
    assert len(sizes) > 1  # scales vary
    chain(x, 0).sum().backward()
    assert x.grad.abs().sum() > 0
    a, b = Transforms(lucid_transforms(seed=5)), Transforms(lucid_transforms(seed=5))
    assert all(torch.equal(a(IMAGE, s), b(IMAGE, s)) for s in range(5))
    assert LUCID_ANGLES.count(0) == 6 and len(LUCID_ANGLES) == 26  # -10..10, and 0 five more times, as Lucid
