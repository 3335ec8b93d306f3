"""Files netviz cannot read right are refused in one line naming the file (or skipped on request),
and bad labels name their row or index and the valid range."""

import logging

import numpy as np
import pytest
from PIL import Image

from netviz.data import load_images
from netviz.errors import NetvizError
from tests.conftest import tiny_classifier

RNG = np.random.default_rng(0)


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and "Traceback" not in message, message
    return message


def save_image(path, side: int = 16) -> np.ndarray:
    rgb = RNG.integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)
    return rgb


def corrupt_files(folder) -> list[str]:
    """A JPEG that is only a header, and a PNG cut in half (Pillow identifies it, then cannot decode it)."""
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    save_image(folder / "whole.png", 64)
    data = (folder / "whole.png").read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    (folder / "whole.png").unlink()
    return ["broken.jpg", "truncated.png"]


def test_a_corrupt_file_stops_the_folder_in_one_line_naming_it(tmp_path):
    corrupt_files(tmp_path)
    save_image(tmp_path / "good.png")
    with pytest.raises(NetvizError) as excinfo:
        load_images("folder", tmp_path, size=16)
    message = one_line(excinfo)
    assert "cannot read image" in message and "broken.jpg" in message and "data.skip_unreadable=true" in message


def test_skip_unreadable_warns_naming_the_files_and_goes_on(tmp_path, caplog):
    skipped = corrupt_files(tmp_path)
    good = save_image(tmp_path / "good.png")
    with caplog.at_level(logging.WARNING, logger="netviz"):
        images = load_images("folder", tmp_path, size=16, skip_unreadable=True)
    assert images.files == ["good.png"]
    np.testing.assert_allclose(images.pixels[0].permute(1, 2, 0).numpy() * 255, good, rtol=0, atol=1e-3)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert all(file in warning for file in skipped)


def test_all_unreadable_is_still_an_error(tmp_path):
    corrupt_files(tmp_path)
    with pytest.raises(NetvizError, match="none of the 2 image") as excinfo:
        load_images("folder", tmp_path, skip_unreadable=True)
    assert "broken.jpg" in one_line(excinfo)


def test_skip_unreadable_must_be_a_boolean(tmp_path):
    save_image(tmp_path / "good.png")
    with pytest.raises(NetvizError, match="skip_unreadable='yes' is not true or false"):
        load_images("folder", tmp_path, skip_unreadable="yes")


@pytest.mark.parametrize("side", [12, 16])  # over the limit (Pillow warns), and over twice the limit (Pillow raises)
def test_a_decompression_bomb_is_refused_in_one_line_naming_the_file_and_limit(tmp_path, monkeypatch, side):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    save_image(tmp_path / "bomb.png", side)
    with pytest.raises(NetvizError) as excinfo:
        load_images("folder", tmp_path, size=8)
    message = one_line(excinfo)
    assert "bomb.png" in message and "limit of 100 pixels" in message and f"{side * side} pixels" in message


def test_labels_out_of_range_name_the_row_and_the_range(tmp_path):
    save_image(tmp_path / "a.png")
    save_image(tmp_path / "b.png")
    (tmp_path / "labels.csv").write_text("file,label\na.png,3\nb.png,5000\n")
    model = tiny_classifier()
    with pytest.raises(NetvizError) as excinfo:
        load_images("folder", tmp_path, labels=tmp_path / "labels.csv", categories=model.categories)
    assert "labels.csv:3" in one_line(excinfo) and "label 5000 is out of range" in str(excinfo.value)
    assert "0..9" in str(excinfo.value)  # the model's classes
    with pytest.raises(NetvizError, match="0..999"):  # without categories: ImageNet's
        load_images("folder", tmp_path, labels=tmp_path / "labels.csv")


@pytest.mark.parametrize(
    "rows, fragment",
    [
        ("a.png,1\nmissing.png,2\n", r"labels.csv:2: 'missing.png' matches no image"),
        ("a.png,1\nb.png,2\na.png,3\n", r"rows 1 and 3 both label 'a.png'"),
        ("a.png,-1\n", r"labels.csv:1: label -1 is out of range"),
        ("a.png,not_a_class\n", r"labels.csv:1: unknown class 'not_a_class'"),
    ],
)
def test_bad_label_rows_name_the_row(tmp_path, rows, fragment):
    save_image(tmp_path / "a.png")
    save_image(tmp_path / "b.png")
    (tmp_path / "labels.csv").write_text(rows)
    model = tiny_classifier()
    with pytest.raises(NetvizError, match=fragment) as excinfo:
        load_images("folder", tmp_path, labels=tmp_path / "labels.csv", class_index=model.class_index)
    one_line(excinfo)


def save_npz(path, X=None, y=None, **more):
    X = RNG.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8) if X is None else X
    np.savez(path, X=X, y=np.array([1, 2, 3]) if y is None else y, **more)
    return path


@pytest.mark.parametrize(
    "y, fragment",
    [
        (np.array([1, 5000, 2]), r"y\[1\] = 5000 is out of range: labels are class indices 0..9, or -1"),
        (np.array([1, -2, 2]), r"y\[1\] = -2 is out of range"),
        (np.array(["quail", "hay", "daisy"]), "y holds text"),
        (np.array([1.0, 2.5, 3.0]), "non-integer labels"),
        (np.array([1, 2]), "3 images in X but y has shape"),
    ],
)
def test_bad_npz_labels_name_the_index_and_the_range(tmp_path, y, fragment):
    path = save_npz(tmp_path / "bad.npz", y=y)
    with pytest.raises(NetvizError, match=fragment) as excinfo:
        load_images("npz", path, categories=tiny_classifier().categories)
    one_line(excinfo)


UNPICKLED = []


def _record_unpickling():
    UNPICKLED.append(True)
    return "unpickled"


class _Trap:
    """Unpickling this object appends to UNPICKLED: a test sees any unpickling."""

    def __reduce__(self):
        return (_record_unpickling, ())


def never_suggests_an_unsafe_load(message: str) -> None:
    assert "allow_pickle" not in message and "weights_only" not in message, message


def test_random_bytes_are_not_an_npz_and_no_unsafe_load_is_suggested(tmp_path):
    path = tmp_path / "random.npz"
    path.write_bytes(RNG.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(NetvizError, match="is not an .npz file") as excinfo:
        load_images("npz", path)
    never_suggests_an_unsafe_load(one_line(excinfo))
    np.save(tmp_path / "single.npy", np.zeros((1, 8, 8, 3), np.uint8))
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    with pytest.raises(NetvizError, match="is a single .npy array"):
        load_images("npz", tmp_path / "single.npz")


@pytest.mark.parametrize("key", ["X", "y"])
def test_pickled_object_arrays_are_refused_without_unpickling(tmp_path, key):
    trap = np.array([_Trap()] * 3, dtype=object)
    path = save_npz(tmp_path / "pickled.npz", **{key: trap})
    with pytest.raises(NetvizError, match=f"{key} is not a plain numeric array") as excinfo:
        load_images("npz", path)
    never_suggests_an_unsafe_load(one_line(excinfo))
    assert UNPICKLED == []


@pytest.mark.parametrize(
    "X, fragment",
    [
        (np.full((3, 8, 8, 3), np.nan, np.float32), r"X\[0\] holds NaN"),
        (np.concatenate([np.zeros((2, 8, 8, 3)), np.full((1, 8, 8, 3), -0.5)]), r"X\[2\] has negative values down to"),
        (np.full((3, 8, 8, 3), 300.0), r"X\[0\] has values up to 300"),
        (np.full((3, 8, 8, 3), 300, np.uint16), r"X\[0\] has values up to 300"),
        (np.zeros((3, 8, 8, 3), bool), "X has dtype bool"),
        (np.zeros((3, 8, 8), np.uint8), "expected N x H x W x 3"),
    ],
)
def test_bad_npz_pixels_are_refused_in_one_line(tmp_path, X, fragment):
    path = save_npz(tmp_path / "bad.npz", X=X)
    with pytest.raises(NetvizError, match=fragment) as excinfo:
        load_images("npz", path)
    one_line(excinfo)


@pytest.mark.parametrize("scale, said", [(1.0, "floats in [0, 1]"), (255.0, "read as 0-255 pixel values")])
def test_float_npz_is_read_by_its_range_and_says_which(tmp_path, caplog, scale, said):
    unit = RNG.random((3, 8, 8, 3))
    path = save_npz(tmp_path / "float.npz", X=unit * scale)
    with caplog.at_level(logging.INFO, logger="netviz"):
        images = load_images("npz", path, size=8)
    np.testing.assert_allclose(images.pixels.permute(0, 2, 3, 1).numpy(), unit, rtol=0, atol=1e-6)
    (line,) = [r.getMessage() for r in caplog.records if "X holds floats" in r.getMessage()]
    assert said in line


@pytest.mark.parametrize(
    "arguments, fragment",
    [
        ({"source": "npz", "labels": "labels.csv"}, "data.labels is for data=folder"),
        ({"source": "webcam"}, "unknown data source 'webcam'"),
        ({"source": "samples", "size": 0}, "size=0 is not a positive integer"),
        ({"source": "npz", "masks": "somewhere"}, "data.masks is for data=folder"),
        ({"source": "samples", "masks": "nowhere"}, "data.masks nowhere does not exist"),
    ],
)
def test_bad_arguments_are_refused_before_any_reading(npz_file, arguments, fragment):
    with pytest.raises(NetvizError, match=fragment):
        load_images(path=npz_file, **arguments)


@pytest.mark.parametrize(
    "arguments, fragment",
    [
        ({"source": "folder", "path": "missing"}, "data.path missing does not exist"),
        ({"source": "folder", "path": "random.npz"}, "is not a folder"),
        ({"source": "npz", "path": "."}, "is a folder; data=npz needs an .npz file"),
        ({"source": "npz", "path": "random.npz"}, "is not an .npz file"),
        ({"source": "npz"}, "data=npz needs data.path"),
        ({"source": "folder", "path": ".", "labels": "missing.csv"}, "labels file missing.csv does not exist"),
        ({"source": "folder", "path": ".", "masks": "random.npz"}, "data.masks random.npz is not a folder"),
    ],
)
def test_check_data_refuses_a_bad_config_without_reading_images(tmp_path, monkeypatch, arguments, fragment):
    from netviz.data import check_data

    monkeypatch.chdir(tmp_path)
    corrupt_files(tmp_path)  # never decoded: check_data reads no image
    (tmp_path / "random.npz").write_bytes(RNG.integers(0, 256, 64, dtype=np.uint8).tobytes())
    check_data("folder", ".", skip_unreadable=False)
    with pytest.raises(NetvizError, match=fragment):
        check_data(**arguments)


def test_only_a_job_that_reads_the_data_loads_it(tmp_path):
    """A class visualization from noise (and any feature visualization) never reads ``data``: a folder
    with an unreadable image does not stop it; a start from that folder's images reports the file."""
    import netviz

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"not a png")
    job = ["technique=classviz", "model=squeezenet1_1", "model.weights=null", "target=1", "iterations=1",
           "tracking=none", "trainer.accelerator=cpu", "trainer.progress=false", "data=folder", f"data.path={folder}"]
    assert netviz.run(job).pixels.shape[0] == 1
    assert netviz.run(["technique=featureviz", *job[1:4], *job[5:]]).pixels.shape[0] >= 1
    with pytest.raises(NetvizError, match="broken.png"):
        netviz.run([*job, "classviz.init=image"])
