"""Samples are named by what they show (#7): their class when labelled, else the file stem or
``image <i>``; names are unique as MLflow and file systems store them, and every one saves."""

import numpy as np
from PIL import Image

from netviz.data import load_images
from netviz.naming import file_name, metric_name
from tests.conftest import tiny_classifier


def save_image(path) -> None:
    Image.fromarray(np.random.default_rng(len(path.name)).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
        path, format="PNG" if path.suffix != ".jpg" else "JPEG"
    )


def test_folder_names_are_classes_or_stems_and_unique_after_folding(tmp_path):
    files = ["cat.png", "cat.jpg", "café.png", "cafè.png", "..png", "...png", "first.png", "second.png"]
    for file in files:
        save_image(tmp_path / file)
    (tmp_path / "labels.csv").write_text("first.png,class3\nsecond.png,3\n")  # both labelled class3
    model = tiny_classifier()
    images = load_images(
        "folder", tmp_path, labels=tmp_path / "labels.csv", size=16,
        class_index=model.class_index, categories=model.categories,
    )
    by_file = dict(zip(images.files, images.names))
    assert sorted(images.files) == sorted(files)
    assert by_file["first.png"] == "class3" and by_file["second.png"] == "class3 2"
    assert {by_file["cat.jpg"], by_file["cat.png"]} == {"cat", "cat 2"}
    assert {by_file["café.png"], by_file["cafè.png"]} == {"cafè", "café 2"}  # both fold to "cafe"
    # Every name is distinct where it is stored (metric keys, file stems), and every file stem saves.
    assert len({metric_name(n).lower() for n in images.names}) == len(files)
    stems = [file_name(n) for n in images.names]
    assert len({s.lower() for s in stems}) == len(files)
    panels = tmp_path / "panels"
    panels.mkdir()
    for stem in stems:
        Image.new("RGB", (2, 2)).save(panels / f"{stem}.png")
    assert sorted(p.name for p in panels.iterdir()) == sorted(f"{s}.png" for s in stems)


def test_labelled_images_keep_their_stem_without_categories(tmp_path):
    save_image(tmp_path / "first.png")
    (tmp_path / "labels.csv").write_text("first.png,3\n")
    images = load_images("folder", tmp_path, labels=tmp_path / "labels.csv", size=16)
    assert images.names == ["first"] and images.labels.tolist() == [3]


def test_npz_names_are_classes_or_image_index(tmp_path):
    path = tmp_path / "course.npz"
    np.savez(path, X=np.zeros((4, 8, 8, 3), np.uint8), y=np.array([2, -1, 2, 5]))
    model = tiny_classifier()
    images = load_images("npz", path, size=8, categories=model.categories)
    assert images.names == ["class2", "image 1", "class2 2", "class5"]
    assert load_images("npz", path, size=8).names == ["image 0", "image 1", "image 2", "image 3"]
    # A selection keeps each image's name from the whole source.
    assert load_images("npz", path, size=8, indices=[2], categories=model.categories).names == ["class2 2"]


def test_samples_are_named_by_class_when_categories_are_given():
    categories = [f"class{i}" for i in range(1000)]
    images = load_images("samples", size=16, categories=categories)
    assert images.names == ["astronaut", "class281", "class967", "rocket"]
    assert images.files == ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg"]
