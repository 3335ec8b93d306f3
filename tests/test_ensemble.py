"""Ensembles (Liu et al. 2017): average of members, each at its own input size, gradients through the resize."""

import pytest
import torch

from netviz.data import load_images, resize_and_crop
from netviz.ensemble import Ensemble, load_models
from netviz.errors import NetvizError
from netviz.models import Classifier, load_model
from tests.conftest import COURSE_NPZ, tiny_net


def sized_classifier(size: int, seed: int, mean=(0.5, 0.4, 0.3)) -> Classifier:
    torch.manual_seed(seed)
    return Classifier(
        tiny_net(), name=f"tiny{size}", categories=[f"class{i}" for i in range(10)], mean=mean, std=(0.2, 0.25, 0.3), input_size=size
    )


def test_each_member_sees_the_pixels_at_its_own_size_and_the_ensemble_averages():
    small, large = sized_classifier(16, 0), sized_classifier(24, 1, mean=(0.45, 0.45, 0.45))
    ensemble = Ensemble([small, large])
    assert ensemble.input_size == 16 and ensemble.name == "tiny16+tiny24"
    pixels = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    # Seen by hand: each member resizes as the loader would, normalizes its way, runs its network.
    seen = []
    for member in (small, large):
        sizes = []
        handle = member.net.register_forward_pre_hook(lambda _m, args, sizes=sizes: sizes.append(args[0].shape[-1]))
        with torch.no_grad():
            seen.append(member.net((resize_and_crop(pixels, member.input_size) - member.mean) / member.std))
        ensemble.predict_pixels(pixels)
        handle.remove()
        assert sizes == [member.input_size] * 2  # by hand, then inside the ensemble
    torch.testing.assert_close(ensemble.predict_pixels(pixels), (seen[0] + seen[1]) / 2)


def test_gradients_flow_through_each_members_resize():
    """Finite differences (torch.autograd.gradcheck, float64) against the ensemble's autograd gradient."""
    ensemble = Ensemble([sized_classifier(16, 0), sized_classifier(20, 1)]).double()
    x = torch.rand(1, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(4), requires_grad=True)
    assert torch.autograd.gradcheck(lambda pixels: ensemble(pixels)[:, :3], (x,), eps=1e-6, atol=1e-5)
    ensemble(x).sum().backward()
    assert x.grad.abs().sum() > 0


def test_members_must_share_their_classes_and_bad_names_are_one_line():
    other = Classifier(tiny_net(num_classes=5), name="five", categories=[str(i) for i in range(5)], input_size=16)
    with pytest.raises(NetvizError, match="must share their classes"):
        Ensemble([sized_classifier(16, 0), other])
    with pytest.raises(NetvizError, match="cannot load model 'efficientnet_lite9'.*did you mean"):
        load_models(["efficientnet_lite9"])


@pytest.mark.slow
@pytest.mark.skipif(not COURSE_NPZ.exists(), reason="the course's imagenet_val_25.npz is not here")
def test_an_ensemble_of_two_real_networks_fools_both_at_once_on_a_course_image():
    """PGD (eps 8/255) on EfficientNet-Lite0 + Lite1 (224 and 240 px): the saved 8-bit image, fed to
    each network at its own size, is the target for both."""
    from netviz.techniques.adversarial import make_fooling_images, png_round_trip

    lite0, lite1 = load_models(["efficientnet_lite0", "efficientnet_lite1"])
    quail = load_images("npz", COURSE_NPZ, indices=[1], size=lite0.input_size)
    target = lite0.class_index("stingray")
    for model in (lite0, lite1):
        assert model.predict_pixels(quail.pixels).argmax(1).item() != target
    result = make_fooling_images(lite0, quail, ["stingray"], method="pgd", eps=8, iterations=8, ensemble=[lite1], progress=False, accelerator="cpu")
    saved = png_round_trip(result.adversarial)
    assert ((saved - quail.pixels).abs().amax() * 255).item() <= 8 + 1e-3
    for model in (lite0, lite1):
        assert model.predict_pixels(saved).argmax(1).item() == target, model.name
    assert load_model("efficientnet_lite2").predict_pixels(saved).shape == (1, 1000)  # a third size judges it too
