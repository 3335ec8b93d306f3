"""Every attribution method against the field's own libraries (Captum, pytorch-grad-cam) on the same
model and inputs, Integrated Gradients' completeness, batching, and no hook left behind."""

import pytest
import torch
from torch import nn

from netviz.errors import NetvizError
from netviz.models import Classifier, load_model
from netviz.techniques.saliency import METHODS, attribute, saliency_maps
from netviz.techniques.saliency.integrated_gradients import BASELINES, baseline_pixels
from netviz.data import ImageSet
from tests.conftest import tiny_classifier
from tests.test_capture import hooks_left

captum_attr = pytest.importorskip("captum.attr")
CPU = {"accelerator": "cpu"}
TOLERANCE = 1e-4  # the largest difference, relative to the largest value of the oracle


def max_relative_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    theirs = torch.as_tensor(theirs, dtype=ours.dtype)
    assert ours.shape == theirs.shape and theirs.abs().max() > 0
    return float((ours - theirs).abs().max() / theirs.abs().max())


def images(count: int = 3, size: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed))


def smooth_classifier() -> Classifier:
    """A network without kinks (softplus), so a Riemann sum converges like the integral's theory says."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Softplus(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8 * 8 * 8, 10))
    return Classifier(net, name="smooth", categories=[f"c{i}" for i in range(10)], mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), input_size=16)


@pytest.mark.parametrize("score", ["logits", "pre_relu"])
def test_gradient_is_captums_saliency(score):
    model = tiny_classifier(final_relu=True, score=score)
    pixels = images()
    ours = attribute(model, pixels, "gradient", **CPU)
    scores = (lambda x: model.class_scores(x)[1]) if score == "pre_relu" else model
    theirs = captum_attr.Saliency(scores).attribute(model.normalize(pixels), target=ours.targets.tolist(), abs=True)
    assert max_relative_difference(ours.maps, theirs.amax(dim=1)) < TOLERANCE
    signed = captum_attr.Saliency(scores).attribute(model.normalize(pixels), target=ours.targets.tolist(), abs=False)
    assert max_relative_difference(ours.attributions, signed) < TOLERANCE


def test_gradient_x_input_is_captums():
    model = tiny_classifier()
    pixels, targets = images(), [3, 1, 7]
    ours = attribute(model, pixels, "gradient_x_input", targets, **CPU)
    theirs = captum_attr.InputXGradient(model).attribute(model.normalize(pixels), target=targets)
    assert max_relative_difference(ours.attributions, theirs) < TOLERANCE


@pytest.mark.parametrize("baseline", BASELINES)
@pytest.mark.parametrize("riemann", ["right", "middle", "left"])
def test_integrated_gradients_is_captums_with_the_same_steps_and_riemann_sum(baseline, riemann):
    model = tiny_classifier()
    pixels, targets = images(), [3, 1, 7]
    ours = attribute(model, pixels, "integrated_gradients", targets, steps=8, baseline=baseline, riemann=riemann, seed=5, **CPU)
    start = model.normalize(baseline_pixels(pixels, baseline, model, torch.Generator().manual_seed(5)))
    theirs = captum_attr.IntegratedGradients(model).attribute(
        model.normalize(pixels), baselines=start, target=targets, n_steps=8, method=f"riemann_{riemann}"
    )
    assert max_relative_difference(ours.attributions, theirs) < TOLERANCE


@pytest.mark.parametrize("baseline", BASELINES)
def test_integrated_gradients_add_up_to_the_score_difference(baseline):
    """Completeness (Sundararajan et al. 2017): sum of attributions = f(x) - f(baseline), within 1 % at
    64 steps of the default (midpoint) sum."""
    model = smooth_classifier()
    pixels = images()
    ours = attribute(model, pixels, "integrated_gradients", steps=64, baseline=baseline, **CPU)
    start = model.normalize(baseline_pixels(pixels, baseline, model, torch.Generator().manual_seed(0)))
    with torch.no_grad():
        rows = torch.arange(len(pixels))
        difference = model(model.normalize(pixels))[rows, ours.targets] - model(start)[rows, ours.targets]
    total = ours.attributions.sum(dim=(1, 2, 3))
    assert ((total - difference).abs() <= 0.01 * difference.abs()).all(), (total, difference)


@pytest.mark.parametrize("squared", [False, True])
def test_smoothgrad_is_captums_noise_tunnel_with_the_same_seeded_noise(squared):
    model = tiny_classifier()
    pixels = images(2)
    pixels[:, :, 0, 0], pixels[:, :, 0, 1] = 0.0, 1.0  # the same range in both images: one noise level
    x = model.normalize(pixels)
    ours = attribute(model, pixels, "smoothgrad", [3, 1], samples=6, noise=0.2, squared=squared, seed=11, **CPU)
    torch.manual_seed(11)
    theirs = captum_attr.NoiseTunnel(captum_attr.Saliency(model)).attribute(
        x,
        nt_type="smoothgrad_sq" if squared else "smoothgrad",
        nt_samples=6,
        stdevs=0.2 * float(x[0].max() - x[0].min()),
        target=[3, 1],
        abs=False,
    )
    assert max_relative_difference(ours.attributions, theirs) < TOLERANCE


def test_guided_backprop_is_captums():
    model = tiny_classifier(final_relu=True)
    pixels = images()
    ours = attribute(model, pixels, "guided_backprop", **CPU)
    theirs = captum_attr.GuidedBackprop(model).attribute(model.normalize(pixels), target=ours.targets.tolist())
    assert max_relative_difference(ours.attributions, theirs) < TOLERANCE


def test_gradcam_is_captums_layer_gradcam_upsampled_bilinearly():
    model = tiny_classifier(final_relu=True)
    pixels = images()
    ours = attribute(model, pixels, "gradcam", layer="5", **CPU)  # the 1x1 conv, at 8x8
    cam = captum_attr.LayerGradCam(model, model.net[5]).attribute(
        model.normalize(pixels), target=ours.targets.tolist(), relu_attributions=True
    )
    theirs = captum_attr.LayerAttribution.interpolate(cam, (16, 16), interpolate_mode="bilinear")[:, 0]
    assert max_relative_difference(ours.maps, theirs) < TOLERANCE
    assert ours.attributions.shape == (3, 3, 16, 16) and torch.equal(ours.attributions[:, 1], ours.maps)


def test_gradcam_is_pytorch_grad_cams():
    GradCAM = pytest.importorskip("pytorch_grad_cam").GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = tiny_classifier()
    pixels = images()
    ours = attribute(model, pixels, "gradcam", **CPU)  # default: the last Conv2d, "0" (full resolution)
    with GradCAM(model=model, target_layers=[model.net[0]]) as cam:
        theirs = cam(
            input_tensor=model.normalize(pixels).requires_grad_(True),
            targets=[ClassifierOutputTarget(int(t)) for t in ours.targets],
        )
    # pytorch-grad-cam scales each map to [0, 1]: (m - min) / (1e-7 + max(m - min))
    shifted = ours.maps - ours.maps.amin(dim=(1, 2), keepdim=True)
    scaled = shifted / (1e-7 + shifted.amax(dim=(1, 2), keepdim=True))
    assert max_relative_difference(scaled, torch.from_numpy(theirs)) < TOLERANCE
    assert hooks_left(model) == 0


def test_guided_gradcam_is_captums():
    model = tiny_classifier(final_relu=True)
    pixels = images()
    ours = attribute(model, pixels, "guided_gradcam", layer="5", **CPU)
    theirs = captum_attr.GuidedGradCam(model, model.net[5]).attribute(
        model.normalize(pixels), target=ours.targets.tolist(), interpolate_mode="bilinear"
    )
    assert max_relative_difference(ours.attributions, theirs) < TOLERANCE


@pytest.mark.parametrize("method", sorted(METHODS))
def test_chunks_do_not_change_the_attributions(method):
    model = tiny_classifier(final_relu=True, score="pre_relu")
    pixels = images()
    options = {"samples": 5} if method == "smoothgrad" else {"steps": 5} if method == "integrated_gradients" else {}
    whole = attribute(model, pixels, method, batch_size=64, **options, **CPU)
    chunked = attribute(model, pixels, method, batch_size=2, **options, **CPU)
    torch.testing.assert_close(chunked.attributions, whole.attributions, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(chunked.targets, whole.targets)


class CountingLayer(nn.Module):
    """Passes its input through, recording the batch size of every call (and failing on call ``fail_at``)."""

    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.fail_at = fail_at

    def forward(self, x):
        self.batches.append(len(x))
        if self.fail_at is not None and len(self.batches) == self.fail_at:
            raise RuntimeError("the network failed mid-method")
        return x


def counted_classifier(fail_at: int | None = None) -> Classifier:
    model = tiny_classifier(final_relu=True)
    model.net.insert(0, CountingLayer(fail_at))
    return model


@pytest.mark.parametrize("method, options, expected", [
    ("integrated_gradients", {"steps": 8}, [3, 24]),  # the images' own logits, then the whole path at once
    ("smoothgrad", {"samples": 16, "batch_size": 20}, [3, 20, 20, 8]),  # 48 noisy copies in chunks of 20
    ("gradient", {}, [3]),
])
def test_each_chunk_is_one_batched_pass(method, options, expected):
    model = counted_classifier()
    attribute(model, images(), method, **options, **CPU)
    assert model.net[0].batches == expected


@pytest.mark.parametrize("method, options", [("smoothgrad", {"samples": 4}), ("integrated_gradients", {"steps": 4})])
def test_with_every_target_given_the_images_own_pass_waits_until_their_probabilities_are_read(method, options):
    model = counted_classifier()
    pixels, targets = images(), [3, 1, 7]
    result = attribute(model, pixels, method, targets, **options, **CPU)
    assert model.net[0].batches == [12]  # the method's inputs only: 3 images x 4 copies, no pass over the images
    with torch.no_grad():
        expected = model(model.normalize(pixels)).softmax(dim=1)
    model.net[0].batches.clear()
    torch.testing.assert_close(result.prob_target, expected.gather(1, torch.tensor(targets)[:, None]).squeeze(1))
    torch.testing.assert_close(result.prob_predicted, expected.amax(dim=1))
    assert result.predicted.tolist() == expected.argmax(dim=1).tolist()
    assert model.net[0].batches == [3]  # made once, when first read


@pytest.mark.parametrize("method", sorted(METHODS))
def test_no_hook_is_left_after_a_method_or_after_it_fails_midway(method):
    model = counted_classifier()
    attribute(model, images(), method, **CPU)
    assert hooks_left(model) == 0
    failing = counted_classifier(fail_at=2)
    options = {"steps": 4, "batch_size": 4} if method == "integrated_gradients" else {"samples": 4, "batch_size": 4} if method == "smoothgrad" else {}
    with pytest.raises(RuntimeError, match="mid-method"):
        attribute(failing, torch.cat([images()] * 2), method, **({"batch_size": 2} | options), **CPU)
    assert hooks_left(failing) == 0


@pytest.mark.parametrize("method", sorted(m for m in METHODS if m != "smoothgrad"))  # smoothgrad: noise differs by position
def test_true_and_predicted_maps_are_the_maps_of_those_targets(method):
    model = tiny_classifier()
    pixels = images(4)
    options = {"steps": 4} if method == "integrated_gradients" else {}
    predicted = attribute(model, pixels, method, None, **options, **CPU)
    # one image labelled with its prediction, one unlabelled, two labelled with another class
    labels = torch.tensor([int(predicted.targets[0]), -1, *[(int(t) + 1) % 10 for t in predicted.targets[2:]]])
    result = saliency_maps(model, ImageSet(pixels, labels, ["a", "b", "c", "d"]), method, **options, **CPU)
    true = attribute(model, pixels, method, labels, **options, **CPU)
    torch.testing.assert_close(result.map_predicted, predicted.maps)
    torch.testing.assert_close(result.map_true, true.maps)
    torch.testing.assert_close(result.predicted, predicted.targets)
    assert result.settings == predicted.settings and result.method == method


@pytest.mark.parametrize(
    "call, message",
    [
        (dict(method="integrated_gradient"), r"unknown saliency.method 'integrated_gradient' \(did you mean 'integrated_gradients'"),
        (dict(method="gradient", steps=4), r"saliency.steps is an option of integrated_gradients; saliency.method=gradient takes only saliency.batch_size"),
        (dict(method="smoothgrad", steps=4), r"saliency.steps is an option of integrated_gradients; saliency.method=smoothgrad takes saliency.samples"),
        (dict(method="integrated_gradients", baseline="white"), r"saliency.baseline='white' is not one of black, blur, noise, mean"),
        (dict(method="integrated_gradients", steps=1), r"saliency.steps=1 is not an integer >= 2"),
        (dict(method="smoothgrad", samples=0), r"saliency.samples=0 is not a positive integer"),
        (dict(method="smoothgrad", noise=-0.1), r"saliency.noise=-0.1 must be >= 0"),
        (dict(method="gradcam", layer="00"), r"no layer '00' \(did you mean '0'"),
        (dict(method="gradcam", layer="6"), r"saliency.layer=6 gives outputs of shape \(3, 128\), not maps"),
        (dict(method="gradient", targets=[1, 2]), r"2 targets for 3 images"),
        (dict(method="gradient", targets="class99"), r"unknown class 'class99'"),
        (dict(method="gradient", batch_size=0), r"saliency.batch_size=0 is not a positive integer"),
        (dict(method="bogus_option_holder", nonsense=1), r"unknown saliency.method"),
    ],
)
def test_bad_options_are_one_line_errors(call, message):
    model = tiny_classifier(final_relu=False)
    with pytest.raises(NetvizError, match=message) as error:
        attribute(model, images(), **call, **CPU)
    assert "\n" not in str(error.value)
    assert hooks_left(model) == 0


# ----- every method on the report's models, at batch sizes 1 and 3 -------------------------------

MODELS = {
    "squeezenet1_1": lambda: load_model("squeezenet1_1", weights=None, score="pre_relu"),
    "vgg16": lambda: load_model("vgg16", weights=None),
    "efficientnet_lite0": lambda: load_model("efficientnet_lite0"),
}
_loaded: dict[str, Classifier] = {}
FEW = {"integrated_gradients": {"steps": 2}, "smoothgrad": {"samples": 2}}


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize(
    "model_name", ["squeezenet1_1", pytest.param("vgg16", marks=pytest.mark.slow), pytest.param("efficientnet_lite0", marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_on_every_model(method, model_name, batch):
    torch.manual_seed(0)
    model = _loaded.get(model_name) or _loaded.setdefault(model_name, MODELS[model_name]())
    pixels = images(batch, size=64)
    result = attribute(model, pixels, method, **FEW.get(method, {}), **CPU)
    assert result.attributions.shape == (batch, 3, 64, 64) and result.maps.shape == (batch, 64, 64)
    assert torch.isfinite(result.attributions).all() and (result.maps >= 0).all()
    assert (result.maps.flatten(1).amax(dim=1) > 0).all()  # every image gets a map that shows something
    with torch.no_grad():
        assert torch.equal(result.targets, model(model.normalize(pixels)).argmax(dim=1))
    assert hooks_left(model) == 0
