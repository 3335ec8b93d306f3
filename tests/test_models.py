"""The model zoo: freezing, class names, score kinds, weights from files, offline pretrained model."""

import pytest
import torch
from torch import nn

from netviz.errors import NetvizError
from netviz.models import Classifier, load_model
from tests.conftest import tiny_classifier


def test_in_place_activations_are_made_out_of_place_and_parameters_frozen():
    model = load_model("squeezenet1_1", weights=None)
    assert not any(getattr(m, "inplace", False) for m in model.modules())
    assert not any(p.requires_grad for p in model.parameters())
    model.train(True)
    assert not any(m.training for m in model.modules())


def test_pre_relu_scores_are_the_scores_before_the_final_relu():
    model = tiny_classifier(final_relu=True, score="pre_relu")
    x = torch.randn(3, 3, 16, 16)
    logits, scores = model.class_scores(x)
    # Oracle: run the head by hand, without its final ReLU.
    net = model.net
    features = net[:6](x)  # conv, bn, relu, pool, dropout, 1x1 conv
    torch.testing.assert_close(scores, features.mean(dim=(2, 3)))
    torch.testing.assert_close(logits, features.relu().mean(dim=(2, 3)))
    assert (scores < 0).any() and (logits >= 0).all()
    assert all(not m._forward_hooks for m in model.modules())


def test_pre_relu_on_a_model_without_a_final_relu_is_the_logits():
    model = tiny_classifier(final_relu=False, score="pre_relu")
    x = torch.randn(2, 3, 16, 16)
    logits, scores = model.class_scores(x)
    assert scores is logits


def test_squeezenet_has_a_final_relu_and_vgg_does_not():
    assert isinstance(load_model("squeezenet1_1", weights=None)._final_relu, nn.ReLU)
    assert load_model("vgg11", weights=None)._final_relu is None


def test_normalization_round_trips_and_bounds_are_the_image_range():
    model = tiny_classifier()
    pixels = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(model.to_pixels(model.normalize(pixels)), pixels)
    low, high = model.input_bounds()
    torch.testing.assert_close(model.to_pixels(low), torch.zeros(1, 3, 1, 1))
    torch.testing.assert_close(model.to_pixels(high), torch.ones(1, 3, 1, 1))


@pytest.mark.parametrize("given, expected", [("class3", 3), ("CLASS3", 3), (7, 7), ("7", 7)])
def test_class_index_takes_names_and_indices(given, expected):
    assert tiny_classifier().class_index(given) == expected


def test_class_names_with_spaces_accept_underscores():
    model = Classifier(nn.Flatten(), name="t", categories=["Yorkshire terrier", "hay"])
    assert model.class_index("yorkshire_terrier") == 0


@pytest.mark.parametrize("bad, fragment", [("clas3", "did you mean 'class3'"), (10, "out of range"), (-2, "out of range")])
def test_unknown_classes_say_what_is_wrong(bad, fragment):
    with pytest.raises(NetvizError, match=fragment):
        tiny_classifier().class_index(bad)


def test_weights_from_a_local_state_dict(tmp_path):
    torch.manual_seed(0)
    reference = load_model("squeezenet1_1", weights=None)
    path = tmp_path / "squeeze.pth"
    torch.save(reference.net.state_dict(), path)
    loaded = load_model("squeezenet1_1", weights=str(path))
    x = torch.randn(1, 3, 224, 224)
    torch.testing.assert_close(loaded(x), reference(x))
    assert loaded.categories[187] == "Yorkshire terrier"


@pytest.mark.parametrize(
    "name, weights, fragment",
    [
        ("vgg61", "DEFAULT", "did you mean .*'vgg16'"),
        ("squeezenet1_1", "/no/such/file.pth", "does not exist"),
        ("squeezenet1_1", "IMAGENET9K", "has no weights 'IMAGENET9K'"),
    ],
)
def test_bad_models_and_weights_say_what_to_do(name, weights, fragment):
    with pytest.raises(NetvizError, match=fragment):
        load_model(name, weights=weights)


def test_corrupt_weights_file_is_one_error(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(NetvizError, match="cannot read weights file"):
        load_model("squeezenet1_1", weights=str(path))


def test_missing_cached_weights_name_the_file_and_folder(tmp_path, monkeypatch):
    original = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    try:
        with pytest.raises(NetvizError, match=r"put squeezenet1_1-b8a52dc0\.pth .* into .*hub/checkpoints/"):
            load_model("squeezenet1_1")
    finally:
        torch.hub.set_dir(original)


def test_offline_model_recognizes_the_course_images_or_the_cat():
    model = load_model("efficientnet_lite0")
    assert model.input_size == 224 and len(model.categories) == 1000
    from netviz.data import load_images

    images = load_images("samples", size=model.input_size)
    with torch.no_grad():
        predicted = model(model.normalize(images.pixels)).argmax(1)
    by_name = dict(zip(images.names, predicted.tolist()))
    assert 281 <= by_name["chelsea"] <= 285  # a domestic cat class
    assert by_name["coffee"] == 967  # espresso
