"""Image sources against NumPy/PIL references, and their one-line errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from netviz.data import load_images, resize_and_crop
from netviz.errors import NetvizError
from tests.conftest import COURSE_NPZ, tiny_classifier


def test_npz_reads_x_and_y_and_never_unpickles_the_label_map(npz_file):
    images = load_images("npz", npz_file, size=32)
    with np.load(npz_file, allow_pickle=False) as archive:
        expected = archive["X"]
        assert images.labels.tolist() == archive["y"].tolist()
    assert images.pixels.shape == (5, 3, 32, 32) and images.pixels.dtype == torch.float32
    np.testing.assert_array_equal((images.pixels * 255).round().byte().permute(0, 2, 3, 1).numpy(), expected)


def test_indices_select_in_order(npz_file):
    images = load_images("npz", npz_file, indices=[3, 0], size=32)
    assert images.labels.tolist() == [4, 1] and images.names == ["image 3", "image 0"]
    assert images.files == ["images.npz[3]", "images.npz[0]"]


@pytest.mark.parametrize("indices, fragment", [([7], "out of range"), ([], "is empty")])
def test_bad_indices(npz_file, indices, fragment):
    with pytest.raises(NetvizError, match=fragment):
        load_images("npz", npz_file, indices=indices, size=32)


def test_npz_without_x_or_y(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, images=np.zeros((1, 4, 4, 3), np.uint8))
    with pytest.raises(NetvizError, match="no X or y array"):
        load_images("npz", path)


def test_corrupt_npz_and_missing_paths(tmp_path):
    path = tmp_path / "corrupt.npz"
    path.write_bytes(b"garbage")
    with pytest.raises(NetvizError, match="is not an .npz file"):
        load_images("npz", path)
    with pytest.raises(NetvizError, match="does not exist"):
        load_images("npz", tmp_path / "missing.npz")
    with pytest.raises(NetvizError, match="needs data.path"):
        load_images("folder", None)


def test_center_crop_equals_numpy_slicing():
    pixels = torch.rand(2, 3, 224, 300)
    cropped = resize_and_crop(pixels, 224)
    left = (300 - 224) // 2
    np.testing.assert_allclose(cropped.numpy(), pixels[..., :, left : left + 224].numpy(), rtol=0, atol=1e-6)


def test_folder_converts_any_mode_and_size_and_reads_labels(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 60), dtype=np.uint8), "L").save(tmp_path / "gray.png")
    Image.fromarray(rng.integers(0, 256, (50, 50, 4), dtype=np.uint8), "RGBA").save(tmp_path / "rgba.png")
    rgb = rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.bmp")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "labels.csv").write_text("file,label\ngray.png,class3\nrgb.bmp,5\n")
    model = tiny_classifier()
    images = load_images("folder", tmp_path, labels=tmp_path / "labels.csv", size=16, class_index=model.class_index)
    assert images.names == ["gray", "rgb", "rgba"]
    assert images.labels.tolist() == [3, 5, -1]
    assert images.pixels.shape == (3, 3, 16, 16)
    gray = images.pixels[0]
    torch.testing.assert_close(gray[0], gray[1])  # grayscale became equal channels
    # A square image is only resized: compare with PIL's own resize (antialiased bilinear).
    expected = np.asarray(Image.fromarray(rgb).resize((16, 16), Image.BILINEAR))
    assert np.abs(images.pixels[1].permute(1, 2, 0).numpy() * 255 - expected).max() < 1  # PIL rounds to uint8


def test_corrupt_image_and_bad_labels(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(NetvizError, match="cannot read image .*broken.jpg"):
        load_images("folder", tmp_path)
    (tmp_path / "broken.jpg").unlink()
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    (tmp_path / "labels.csv").write_text("ok.png,not_a_class\n")
    with pytest.raises(NetvizError, match="unknown class 'not_a_class'"):
        load_images("folder", tmp_path, labels=tmp_path / "labels.csv", class_index=tiny_classifier().class_index)
    with pytest.raises(NetvizError, match="no images"):
        load_images("folder", _empty(tmp_path))


def _empty(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def test_samples_are_bundled_with_honest_labels():
    images = load_images("samples", size=64)
    assert images.names == ["astronaut", "chelsea", "coffee", "rocket"]
    assert images.labels.tolist() == [-1, 281, 967, -1]


@pytest.mark.skipif(not COURSE_NPZ.exists(), reason="the course's imagenet_val_25.npz is not beside this checkout")
def test_the_course_file_loads():
    images = load_images("npz", COURSE_NPZ)
    assert len(images) == 25 and images.labels[:4].tolist() == [958, 85, 244, 182]


def test_every_data_config_field_is_a_load_images_keyword_and_in_every_data_yaml():
    """The job calls ``load_images(**cfg.data, size=..., class_index=..., categories=...)``."""
    import dataclasses
    import inspect

    from omegaconf import OmegaConf

    from netviz.api import compose
    from netviz.config import CONF_DIR, DataConfig

    fields = {f.name for f in dataclasses.fields(DataConfig)}
    assert fields <= set(inspect.signature(load_images).parameters)
    for option in sorted((CONF_DIR / "data").glob("*.yaml")):
        assert set(OmegaConf.load(option)) == fields, option.name
    data = OmegaConf.to_container(compose(["data=samples"]).data)
    images = load_images(**data, size=16, categories=[f"class{i}" for i in range(1000)])
    assert images.names == ["astronaut", "class281", "class967", "rocket"]
