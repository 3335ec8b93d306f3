"""Image sources: the bundled sample photos, a folder of images, or the course's ``.npz`` file.

Every source gives an :class:`ImageSet`: float pixels in [0, 1], shape ``(N, 3, S, S)`` at the model's
input size (resized on the short side, then center-cropped), with ImageNet labels where known (-1 where
not) and a name for each image.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from netviz.errors import NetvizError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
SOURCES = ("samples", "folder", "npz")
UNLABELLED = -1


@dataclass
class ImageSet:
    """A batch of images with labels and names.

    Attributes:
        pixels: float32 tensor ``(N, 3, S, S)`` in [0, 1], RGB.
        labels: int64 tensor ``(N,)``: class indices, -1 where the label is unknown.
        names: one name per image (file stem, or ``"npz_<i>"``).
    """

    pixels: torch.Tensor
    labels: torch.Tensor
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)

    def select(self, indices: Sequence[int] | None) -> "ImageSet":
        """The images at ``indices`` (all when ``None``), in that order."""
        if indices is None:
            return self
        indices = [int(i) for i in indices]
        if not indices:
            raise NetvizError("data.indices is empty; give at least one index, or null for all images")
        bad = [i for i in indices if not -len(self) <= i < len(self)]
        if bad:
            raise NetvizError(
                f"data.indices {bad} out of range: this source has {len(self)} images (indices 0..{len(self) - 1})"
            )
        return ImageSet(self.pixels[indices], self.labels[indices], [self.names[i] for i in indices])


def load_images(
    source: str = "samples",
    path: str | Path | None = None,
    *,
    indices: Sequence[int] | None = None,
    labels: str | Path | None = None,
    size: int = 224,
    class_index=None,
) -> ImageSet:
    """Load images from a source and bring them to ``size`` x ``size`` pixels.

    Args:
        source: ``"samples"`` (photos shipped with netviz), ``"folder"`` (every JPEG/PNG/BMP in
            ``path``) or ``"npz"`` (the CS231n/RDFIA file at ``path``: ``X`` uint8 N x H x W x 3, ``y``).
        path: the folder or ``.npz`` file (not used for ``samples``).
        indices: which images to keep, in order (default: all).
        labels: for ``folder``, an optional CSV of ``file,label`` rows (label: class name or index).
        size: the model's input size.
        class_index: turns a class name into an index (``Classifier.class_index``); needed when a
            labels file names classes.
    """
    if source == "samples":
        images = _load_samples(class_index)
    elif source == "folder":
        images = _load_folder(_require_path(path, "folder"), labels, class_index)
    elif source == "npz":
        images = _load_npz(_require_path(path, "npz"))
    else:
        raise NetvizError(f"unknown data source {source!r}; use data=samples, data=folder or data=npz")
    images = images.select(indices)
    return ImageSet(resize_and_crop(images.pixels, size), images.labels, images.names)


def resize_and_crop(pixels: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``(N, 3, H, W)`` pixels so the short side is ``size``, then center-crop to ``size`` x ``size``."""
    from torchvision.transforms.v2 import functional as F

    if pixels.shape[-2:] == (size, size):
        return pixels
    resized = F.resize(pixels, [size], antialias=True)
    return F.center_crop(resized, [size, size]).clamp(0, 1)


def _require_path(path: str | Path | None, source: str) -> Path:
    if path is None or str(path) in ("", "None"):
        raise NetvizError(f"data={source} needs data.path=<path to the {'folder' if source == 'folder' else '.npz file'}>")
    path = Path(path).expanduser()
    if not path.exists():
        raise NetvizError(f"data.path {path} does not exist; check the path")
    return path


def _to_pixels(array: np.ndarray) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` to float ``(N, 3, H, W)`` in [0, 1]."""
    return torch.from_numpy(np.array(array, dtype=np.uint8, copy=True)).permute(0, 3, 1, 2).float().div_(255)


def _read_image(path: Path, size: int) -> torch.Tensor:
    """One image file as ``(3, size, size)`` pixels, any mode converted to RGB."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise NetvizError(f"cannot read image {path}: the file is missing, corrupt or not an image") from exc
    return resize_and_crop(_to_pixels(rgb[None]), size)[0]


def _load_files(files: list[Path], labels: dict[str, int]) -> ImageSet:
    # Bring every image to a common large size first so they stack; load_images then sizes them for the model.
    size = 320
    pixels = torch.stack([_read_image(f, size) for f in files])
    label_tensor = torch.tensor([labels.get(f.name, UNLABELLED) for f in files], dtype=torch.int64)
    return ImageSet(pixels, label_tensor, [f.stem for f in files])


def _load_samples(class_index) -> ImageSet:
    root = resources.files("netviz") / "samples"
    with resources.as_file(root) as folder:
        return _load_folder(Path(folder), Path(folder) / "labels.csv", class_index)


def _load_folder(folder: Path, labels_file: str | Path | None, class_index) -> ImageSet:
    if not folder.is_dir():
        raise NetvizError(f"data.path {folder} is not a folder; data=folder reads every image in a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise NetvizError(f"no images in {folder}: data=folder reads {', '.join(IMAGE_SUFFIXES)} files")
    labels = _read_labels(Path(labels_file), class_index) if labels_file else {}
    return _load_files(files, labels)


def _read_labels(path: Path, class_index) -> dict[str, int]:
    """A CSV of ``file,label`` rows (a header row is allowed), label a class index or name."""
    if not path.is_file():
        raise NetvizError(f"labels file {path} does not exist; give data.labels=<csv of file,label rows> or null")
    labels: dict[str, int] = {}
    with path.open(newline="") as handle:
        for row_number, row in enumerate(csv.reader(handle), start=1):
            if not row or row[0].strip().startswith("#"):
                continue
            if len(row) != 2:
                raise NetvizError(f"{path}:{row_number}: expected 'file,label', got {','.join(row)!r}")
            name, label = row[0].strip(), row[1].strip()
            if row_number == 1 and name.lower() == "file":
                continue
            if label.isdigit():
                labels[name] = int(label)
            elif class_index is not None:
                labels[name] = class_index(label)
            else:
                raise NetvizError(f"{path}:{row_number}: class name {label!r} needs a model to resolve it")
    return labels


def _load_npz(path: Path) -> ImageSet:
    """The CS231n/RDFIA format; its pickled ``label_map`` is never loaded (it could run code)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in ("X", "y") if key not in archive.files]
            if missing:
                raise NetvizError(
                    f"{path} has no {' or '.join(missing)} array; data=npz expects X (N x H x W x 3 uint8) and y (N labels)"
                )
            images, labels = archive["X"], archive["y"]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise NetvizError(f"cannot read {path} as an .npz file: {exc}".splitlines()[0]) from exc
    if images.ndim != 4 or images.shape[-1] != 3:
        raise NetvizError(f"{path}: X has shape {images.shape}; expected N x H x W x 3 RGB images")
    if len(labels) != len(images):
        raise NetvizError(f"{path}: {len(images)} images in X but {len(labels)} labels in y")
    if images.dtype != np.uint8:
        images = np.clip(images, 0, 255).astype(np.uint8)
    return ImageSet(
        _to_pixels(images), torch.as_tensor(labels, dtype=torch.int64), [f"npz_{i}" for i in range(len(labels))]
    )
