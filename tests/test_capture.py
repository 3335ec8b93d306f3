"""The hook manager: what it captures against the network split by hand, and that no hook outlives it."""

import pytest
import torch
from torch import nn

from netviz.capture import capture, last_conv_layer
from netviz.errors import NetvizError
from tests.conftest import tiny_classifier


def hooks_left(model: nn.Module) -> int:
    """Module hooks of every kind left on any module of ``model``."""
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) + len(m._backward_pre_hooks)
        for m in model.modules()
    )


class GuidedReLU(torch.autograd.Function):
    """Guided backpropagation's ReLU written out: ReLU forward, only positive gradients back
    where the input was positive (Springenberg et al. 2015)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * (x > 0)


def test_activations_and_gradients_equal_the_network_split_by_hand():
    model = tiny_classifier()
    x = torch.randn(3, 3, 16, 16, requires_grad=True)  # the network is frozen: the graph starts at x
    with model.capture(["3"], gradients=True) as seen:
        score = model(x)[:, 2].sum()
    score.backward()
    # Oracle: the network cut at layer 3 (the max pool), the rest run on a leaf tensor.
    head = model.net[:4](x.detach()).detach().requires_grad_(True)
    (expected_grad,) = torch.autograd.grad(model.net[4:](head)[:, 2].sum(), head)
    torch.testing.assert_close(seen.activations["3"], head.detach())
    torch.testing.assert_close(seen.inputs["3"], model.net[:3](x.detach()))
    torch.testing.assert_close(seen.gradients["3"], expected_grad)
    assert hooks_left(model) == 0


def test_a_layer_called_twice_keeps_the_gradient_of_its_last_output():
    shared = nn.ReLU()
    net = nn.Sequential(nn.Conv2d(3, 4, 1), shared, nn.Conv2d(4, 6, 1), shared, nn.Flatten())
    net.requires_grad_(False)
    x = torch.randn(2, 3, 2, 2, requires_grad=True)
    with capture(net, ["1"], gradients=True) as seen:
        net(x).sum().backward()
    assert seen.activations["1"].shape[1] == 6 and seen.gradients["1"].shape == seen.activations["1"].shape


def test_guided_relu_gradients_equal_a_hand_written_guided_relu():
    model = tiny_classifier(final_relu=True)
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    with model.capture(guided_relu=True):
        logits = model(x)
    (guided,) = torch.autograd.grad(logits[:, 1].sum(), x)
    reference = x.detach().requires_grad_(True)
    h = reference
    for layer in model.net:
        h = GuidedReLU.apply(h) if isinstance(layer, nn.ReLU) else layer(h)
    (expected,) = torch.autograd.grad(h[:, 1].sum(), reference)
    torch.testing.assert_close(guided, expected)
    (plain,) = torch.autograd.grad(model(x)[:, 1].sum(), x)  # after the block: the plain gradient again
    assert not torch.allclose(plain, guided)
    assert hooks_left(model) == 0


def test_no_hook_is_left_after_an_error_inside_the_block():
    model = tiny_classifier(final_relu=True, score="pre_relu")
    with pytest.raises(RuntimeError, match="mid-pass"):
        with model.capture(["0", "5"], gradients=True, guided_relu=True):
            model.class_scores(torch.randn(1, 3, 16, 16))
            assert hooks_left(model) > 0
            raise RuntimeError("mid-pass")
    assert hooks_left(model) == 0


def test_an_unknown_layer_is_one_line_naming_close_matches():
    model = load_vgg_like()
    with pytest.raises(NetvizError, match=r"no layer 'feature\.12'.*did you mean 'features\.12'") as error:
        with capture(model, ["feature.12"]):
            pass
    assert "\n" not in str(error.value)
    assert hooks_left(model) == 0


def test_the_default_gradcam_layer_is_the_last_conv():
    model = load_vgg_like()
    assert last_conv_layer(model) == "features.12"
    with pytest.raises(NetvizError, match="no Conv2d"):
        last_conv_layer(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)))


def load_vgg_like() -> nn.Module:
    """Layers named like VGG's, ``features.0`` ... ``features.12`` (convolutions at even indices)."""
    net = nn.Module()
    net.features = nn.Sequential(*[nn.Conv2d(4, 4, 3, padding=1) if i % 2 == 0 else nn.ReLU() for i in range(13)])
    return net
