"""Image sources: the bundled sample photos, a folder of images, or the course's ``.npz`` file.

Every source gives an :class:`ImageSet`: float pixels in [0, 1], shape ``(N, 3, S, S)`` at the model's
input size, with ImageNet labels where known (-1 where not) and a name for each image.

Each image is read once from its original and brought straight to ``S`` (short side resized, then
center-cropped), so a model with a large input never sees an image upsampled from a smaller copy.
A file is read as a person would see it: EXIF orientation applied, transparency composited onto
white (:data:`BACKGROUND`), 16-bit data scaled (not clipped) to [0, 1], the first frame of an
animation. What netviz cannot read right it refuses in one line (:class:`~netviz.errors.NetvizError`)
naming the file or the row, before any image is decoded where it can.
"""

from __future__ import annotations

import csv
import logging
import re
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from netviz.errors import NetvizError, check_int
from netviz.naming import unique_names

SOURCES = ("samples", "folder", "npz")
UNLABELLED = -1
IMAGENET_CLASSES = 1000  # the label range when no ``categories`` are given
BACKGROUND = 1.0  # transparent pixels are composited onto white (1.0 in [0, 1] pixel units)
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # integer grayscale, read as 0..65535
SAMPLES_NOT_IMAGES = ("labels.csv", "SOURCES.md")
MAX_LISTED = 8  # files named in one warning or error before "and N more"

log = logging.getLogger("netviz")


@dataclass
class ImageSet:
    """A batch of images with labels and names.

    Attributes:
        pixels: float32 tensor ``(N, 3, S, S)`` in [0, 1], RGB.
        labels: int64 tensor ``(N,)``: class indices, -1 where the label is unknown.
        names: one name per image, what it shows: its class (``quail``) when labelled and the class
            names are known, else its file stem (folder) or ``image <i>`` (npz); made unique by
            :func:`netviz.naming.unique_names` (``cat``, ``cat 2``).
        files: where each image came from, for messages: its file name (``cat.png``) or
            ``<file>.npz[<i>]``; the names when not given.
        masks: bool tensor ``(N, S, S)`` (True: the object), cropped like the pixels, or ``None``.
    """

    pixels: torch.Tensor
    labels: torch.Tensor
    names: list[str]
    files: list[str] = field(default_factory=list)
    masks: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if not self.files:
            self.files = list(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def select(self, indices: Sequence[int] | None) -> "ImageSet":
        """The images at ``indices`` (all when ``None``), in that order."""
        chosen = check_indices(indices, len(self))
        if chosen is None:
            return self
        return ImageSet(
            self.pixels[chosen],
            self.labels[chosen],
            [self.names[i] for i in chosen],
            [self.files[i] for i in chosen],
            None if self.masks is None else self.masks[chosen],
        )


def check_indices(indices: Sequence[int] | None, count: int) -> list[int] | None:
    """``indices`` checked against a source of ``count`` images, as positions ``0..count-1`` (-1: the last)."""
    if indices is None:
        return None
    indices = [int(i) for i in indices]
    if not indices:
        raise NetvizError("data.indices is empty; give at least one index, or null for all images")
    bad = [i for i in indices if not -count <= i < count]
    if bad:
        raise NetvizError(f"data.indices {bad} out of range: this source has {count} images (indices 0..{count - 1})")
    return [i % count for i in indices]


def load_images(
    source: str = "samples",
    path: str | Path | None = None,
    *,
    indices: Sequence[int] | None = None,
    labels: str | Path | None = None,
    skip_unreadable: bool = False,
    masks: str | Path | None = None,
    size: int = 224,
    class_index=None,
    categories: Sequence[str] | None = None,
) -> ImageSet:
    """Load images from a source and bring them to ``size`` x ``size`` pixels.

    Args:
        source: ``"samples"`` (photos shipped with netviz), ``"folder"`` (every file in ``path`` that
            Pillow reads: JPEG, PNG, WebP, TIFF, GIF, BMP, ...) or ``"npz"`` (the CS231n/RDFIA file at
            ``path``: ``X`` N x H x W x 3, uint8 or float in [0, 1] or [0, 255]; ``y`` class indices,
            -1 for no label).
        path: the folder or ``.npz`` file (not used for ``samples``).
        indices: which images to keep, in order (default: all); only those are decoded.
        labels: for ``folder``, an optional CSV of ``file,label`` rows (label: class name or index).
        skip_unreadable: for a folder, skip corrupt files with one warning naming them, instead of
            stopping at the first (the default). A folder where nothing is readable is still an error.
        masks: a folder of object masks, one PNG per image with the image's file stem (nonzero: the
            object), the image's size; cropped like it (nearest) into :attr:`ImageSet.masks`.
        size: the model's input size, in pixels.
        class_index: turns a class name into an index (``Classifier.class_index``); needed when a
            labels file names classes.
        categories: the model's class names (``Classifier.categories``): they name labelled images
            and bound the labels (``0..len(categories)-1``, else 0..999).

    Example:
        >>> model = netviz.load_model("efficientnet_lite0")
        >>> images = netviz.load_images("samples", size=model.input_size, categories=model.categories)
        >>> images.names
        ['astronaut', 'tabby', 'espresso', 'rocket']
    """
    check_int("size", size, minimum=1)
    check_data(source, path, indices=indices, labels=labels, skip_unreadable=skip_unreadable, masks=masks)
    reading = {"indices": indices, "size": size, "categories": categories}
    if source == "npz":
        return _load_npz(Path(path).expanduser(), **reading)
    masks_folder = Path(masks).expanduser() if masks else None
    folder_reading = {**reading, "class_index": class_index, "skip_unreadable": skip_unreadable, "masks": masks_folder}
    if source == "samples":
        root = resources.files("netviz") / "samples"
        with resources.as_file(root) as folder:
            folder = Path(folder)
            return _load_folder(folder, folder / "labels.csv", not_images=SAMPLES_NOT_IMAGES, **folder_reading)
    return _load_folder(Path(path).expanduser(), labels, **folder_reading)


def check_data(
    source: str = "samples",
    path: str | Path | None = None,
    *,
    indices: Sequence[int] | None = None,  # noqa: ARG001 - checked against the source's size when it is read
    labels: str | Path | None = None,
    skip_unreadable: bool = False,
    masks: str | Path | None = None,
) -> None:
    """Check a data config without reading any image (it takes milliseconds), so that a job can refuse a
    typo before it loads a model: the arguments are :func:`load_images`' (``check_data(**cfg.data)``)."""
    if source not in SOURCES:
        raise NetvizError(f"unknown data source {source!r}; use data=samples, data=folder or data=npz")
    if not isinstance(skip_unreadable, bool):
        raise NetvizError(f"data.skip_unreadable={skip_unreadable!r} is not true or false")
    if labels and source != "folder":
        raise NetvizError(f"data.labels is for data=folder; data={source} brings its own labels (set data.labels=null)")
    if masks and source == "npz":
        raise NetvizError("data.masks is for data=folder or data=samples (one PNG per image file); set data.masks=null")
    if masks and not _existing(masks, "data.masks").is_dir():
        raise NetvizError(f"data.masks {masks} is not a folder; give the folder holding one PNG mask per image")
    if labels and not Path(labels).expanduser().is_file():
        raise NetvizError(f"labels file {labels} does not exist; give data.labels=<csv of file,label rows> or null")
    if source == "samples":
        return
    if path is None or str(path) in ("", "None"):
        kind = "folder" if source == "folder" else ".npz file"
        raise NetvizError(f"data={source} needs data.path=<path to the {kind}>")
    path = _existing(path, "data.path")
    if source == "folder" and not path.is_dir():
        raise NetvizError(f"data.path {path} is not a folder; data=folder reads every image in a folder")
    if source == "npz" and path.is_dir():
        raise NetvizError(f"data.path {path} is a folder; data=npz needs an .npz file (data=folder reads a folder)")
    if source == "npz" and not zipfile.is_zipfile(path):
        with path.open("rb") as handle:
            single_array = handle.read(6) == b"\x93NUMPY"
        kind = "a single .npy array" if single_array else "not an .npz file (an .npz is a zip archive)"
        raise NetvizError(f"{path} is {kind}; data=npz needs a file saved by numpy.savez(path, X=images, y=labels)")


def resize_and_crop(pixels: torch.Tensor, size: int, *, nearest: bool = False) -> torch.Tensor:
    """Resize ``(N, C, H, W)`` pixels so the short side is ``size``, then center-crop to ``size`` x ``size``.

    Antialiased bilinear by default; ``nearest`` keeps values as they are (masks, labels).
    """
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    if pixels.shape[-2:] == (size, size):
        return pixels
    if nearest:
        resized = F.resize(pixels, [size], interpolation=InterpolationMode.NEAREST_EXACT)
        return F.center_crop(resized, [size, size])
    resized = F.resize(pixels, [size], antialias=True)
    return F.center_crop(resized, [size, size]).clamp(0, 1)


def _existing(path: str | Path, option: str) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise NetvizError(f"{option} {path} does not exist; check the path")
    return path


def _listing(items: Sequence[str]) -> str:
    """``a, b, c`` for a message, at most :data:`MAX_LISTED` items then ``and N more``."""
    shown = ", ".join(items[:MAX_LISTED])
    return shown if len(items) <= MAX_LISTED else f"{shown} and {len(items) - MAX_LISTED} more"


def _sample_names(stems: Sequence[str], labels: Sequence[int], categories: Sequence[str] | None) -> list[str]:
    """What each image shows: its class name when labelled and ``categories`` are known, else its stem."""
    names = [categories[label] if categories is not None and label >= 0 else stem for stem, label in zip(stems, labels)]
    return unique_names(names)


def _warn_upscaled(sizes: dict[str, tuple[int, int]], size: int) -> None:
    """One warning for the images whose short side is below the model's input (they get upscaled)."""
    small = [f"{file} ({width}x{height})" for file, (width, height) in sizes.items() if min(width, height) < size]
    if small:
        log.warning("images smaller than the model's %d px input (short side) are upscaled: %s", size, _listing(small))


# ---------------------------------------------------------------------------------------------------
# One image file


class _Unreadable(Exception):
    """A file that is not an image Pillow can read right; the message says why, in a few words."""


def _readable_suffixes() -> set[str]:
    """The file suffixes of the formats this Pillow decodes: not those it only saves (PDF) or only
    identifies (stubs such as HDF5, GRIB, WMF, which need a handler)."""
    from PIL import Image

    Image.init()
    extensions = Image.registered_extensions()
    return {suffix for suffix, kind in extensions.items() if kind in Image.OPEN and not _is_stub(kind)}


def _is_stub(kind: str) -> bool:
    from PIL import Image, ImageFile

    factory = Image.OPEN[kind][0]
    return isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile)


def _is_image(path: Path, suffixes: set[str]) -> bool:
    """A file is an image when its suffix is one Pillow decodes, or when Pillow identifies its content
    as a format it decodes. A corrupt ``.jpg`` is thus an (unreadable) image, ``notes.txt`` is not one."""
    if path.suffix.lower() in suffixes:
        return True
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return not _is_stub(image.format)
    except Image.DecompressionBombError:
        return True  # an image, refused when it is read
    except Exception:  # noqa: BLE001 - Pillow raises many kinds for content it does not know
        return False


def _read_upright(path: Path) -> np.ndarray:
    """One image file as float32 ``(H, W, 3)`` RGB in [0, 1], upright and opaque.

    - EXIF orientation is applied (``ImageOps.exif_transpose``): a portrait phone photo stands up.
    - Transparency (RGBA, LA, P or RGB with a transparent colour) is composited onto
      :data:`BACKGROUND` (white) rather than dropped, which would show what lies under the alpha.
    - 16- and 32-bit integer grayscale (``I;16``, ``I``) is divided by 65535, not clipped at 255.
    - An animation gives its first frame.

    Raises :class:`_Unreadable` for a corrupt file, or one over Pillow's decompression-bomb limit
    (``PIL.Image.MAX_IMAGE_PIXELS``).
    """
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                upright = ImageOps.exif_transpose(image)  # a decoded copy: the file can close
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        count = re.search(r"\((\d+) pixels\)", str(exc))
        has = f"it has {int(count.group(1))} pixels, " if count else ""
        raise _Unreadable(
            f"{has}over Pillow's decompression-bomb limit of {Image.MAX_IMAGE_PIXELS} pixels; downscale it"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, struct.error, ... for bad data
        raise _Unreadable("the file is corrupt, truncated or not an image Pillow reads") from exc
    return _to_rgb(upright)


def _to_rgb(image) -> np.ndarray:
    """A Pillow image of any mode as float32 ``(H, W, 3)`` in [0, 1]."""
    if image.mode in SIXTEEN_BIT_MODES:
        gray = np.clip(np.asarray(image, dtype=np.float32), 0, 65535) / 65535
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.has_transparency_data:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255
        alpha = rgba[..., 3:]
        return rgba[..., :3] * alpha + BACKGROUND * (1 - alpha)
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255


def _read_mask(path: Path, image_file: str, image_size: tuple[int, int], size: int) -> torch.Tensor:
    """The mask PNG at ``path`` as bool ``(size, size)``, cropped like its image (nearest)."""
    from PIL import Image

    try:
        with Image.open(path) as mask:
            values = np.asarray(mask.convert("RGB") if mask.mode in ("RGBA", "LA", "PA") else mask)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise NetvizError(f"cannot read mask {path}: the file is corrupt or not an image") from exc
    if values.ndim == 3:
        values = values.any(axis=-1)
    height, width = values.shape
    if (width, height) != image_size:
        raise NetvizError(
            f"mask {path} is {width}x{height} but its image {image_file} is {image_size[0]}x{image_size[1]}; "
            "a mask must have its image's size (upright)"
        )
    mask = torch.from_numpy(np.ascontiguousarray(values != 0, dtype=np.uint8))[None]
    return resize_and_crop(mask, size, nearest=True)[0].bool()


# ---------------------------------------------------------------------------------------------------
# A folder (and the bundled samples)


def _load_folder(
    folder: Path,
    labels_file: str | Path | None,
    *,
    indices: Sequence[int] | None,
    size: int,
    class_index,
    categories: Sequence[str] | None,
    skip_unreadable: bool,
    masks: Path | None,
    not_images: Sequence[str] = (),
) -> ImageSet:
    """Every image in ``folder``, labelled from ``labels_file``; ``not_images``: file names to pass over.

    Names, labels and masks are checked for every chosen file before any image is decoded.
    """
    labels_path = Path(labels_file) if labels_file else None
    passed_over = set(not_images)
    if labels_path is not None and labels_path.parent.resolve() == folder.resolve():
        passed_over.add(labels_path.name)
    files = _list_images(folder, passed_over)
    label_of = {}
    if labels_path is not None:
        label_of = _read_labels(labels_path, folder, {f.name for f in files}, class_index, categories)
    all_labels = [label_of.get(f.name, UNLABELLED) for f in files]
    all_names = _sample_names([f.stem for f in files], all_labels, categories)
    chosen = check_indices(indices, len(files)) or list(range(len(files)))
    mask_files = _mask_files(masks, [files[i] for i in chosen]) if masks is not None else None

    pixels, kept, read_masks, sizes, unreadable = [], [], [], {}, []
    for position, i in enumerate(chosen):
        try:
            upright = _read_upright(files[i])
        except _Unreadable as exc:
            if not skip_unreadable:
                raise NetvizError(f"cannot read image {files[i]}: {exc} (data.skip_unreadable=true skips it)") from exc
            unreadable.append(f"{files[i].name} ({exc})")
            continue
        height, width = upright.shape[:2]
        sizes[files[i].name] = (width, height)
        pixels.append(resize_and_crop(torch.from_numpy(upright).permute(2, 0, 1)[None], size)[0])
        if mask_files is not None:
            read_masks.append(_read_mask(mask_files[position], files[i].name, (width, height), size))
        kept.append(i)
    if not kept:
        count = len(unreadable)
        raise NetvizError(f"none of the {count} image(s) chosen in {folder} is readable: {_listing(unreadable)}")
    if unreadable:
        log.warning("skipped %d unreadable image(s) in %s: %s", len(unreadable), folder, _listing(unreadable))
    _warn_upscaled(sizes, size)
    return ImageSet(
        torch.stack(pixels),
        torch.tensor([all_labels[i] for i in kept], dtype=torch.int64),
        [all_names[i] for i in kept],
        [files[i].name for i in kept],
        torch.stack(read_masks) if mask_files is not None else None,
    )


def _list_images(folder: Path, passed_over: set[str]) -> list[Path]:
    """The images in ``folder``, by file name; the other files are named in one warning."""
    suffixes = _readable_suffixes()
    files, others = [], []
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name not in passed_over:
            (files if _is_image(path, suffixes) else others).append(path)
    if others:
        log.warning(
            "%d file(s) in %s are not images Pillow can identify and are skipped: %s",
            len(others), folder, _listing([p.name for p in others]),
        )
    if not files:
        raise NetvizError(f"no images in {folder}: data=folder reads what Pillow reads (JPEG, PNG, WebP, TIFF, ...)")
    return files


def _mask_files(masks: Path, files: Sequence[Path]) -> list[Path]:
    """``<masks>/<stem>.png`` for each file, or one line naming the files that have none."""
    mask_files = [masks / f"{file.stem}.png" for file in files]
    missing = [file.name for file, mask in zip(files, mask_files) if not mask.is_file()]
    if missing:
        raise NetvizError(f"no mask in {masks} for {_listing(missing)}: data.masks needs <file stem>.png per image")
    return mask_files


def _read_labels(
    path: Path, folder: Path, image_files: set[str], class_index, categories: Sequence[str] | None
) -> dict[str, int]:
    """A CSV of ``file,label`` rows (a header row is allowed), label a class index or name.

    Every row must name an image of the folder, once; every label must be a class of the model.
    """
    labels: dict[str, int] = {}
    row_of: dict[str, int] = {}
    with path.open(newline="") as handle:
        for row_number, row in enumerate(csv.reader(handle), start=1):
            if not row or row[0].strip().startswith("#"):
                continue
            where = f"{path}:{row_number}"
            if len(row) != 2:
                raise NetvizError(f"{where}: expected 'file,label', got {','.join(row)!r}")
            name, label = row[0].strip(), row[1].strip()
            if row_number == 1 and name.lower() == "file":
                continue
            if name in row_of:
                raise NetvizError(f"{path}: rows {row_of[name]} and {row_number} both label {name!r}; keep one")
            if name not in image_files:
                raise NetvizError(f"{where}: {name!r} matches no image in {folder}; fix the name or delete the row")
            labels[name] = _class_of(label, where, class_index, categories)
            row_of[name] = row_number
    return labels


def _class_of(label: str, where: str, class_index, categories: Sequence[str] | None) -> int:
    """A labels-file entry (class index or name) as a class index, or a one-line error naming ``where``."""
    if re.fullmatch(r"[+-]?\d+", label):
        count = len(categories) if categories is not None else IMAGENET_CLASSES
        index = int(label)
        if not 0 <= index < count:
            raise NetvizError(f"{where}: label {index} is out of range: class indices are 0..{count - 1}")
        return index
    if class_index is None:
        raise NetvizError(f"{where}: class name {label!r} needs a model to resolve it")
    try:
        return class_index(label)
    except NetvizError as exc:
        raise NetvizError(f"{where}: {exc}") from None


# ---------------------------------------------------------------------------------------------------
# The course's .npz


def _load_npz(path: Path, *, indices: Sequence[int] | None, size: int, categories: Sequence[str] | None) -> ImageSet:
    """The CS231n/RDFIA format; its pickled ``label_map`` is never loaded (it could run code).

    Only plain arrays are read (``allow_pickle=False``): an object array in ``X`` or ``y`` is refused.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in ("X", "y") if key not in archive.files]
            if missing:
                raise NetvizError(
                    f"{path} has no {' or '.join(missing)} array; "
                    "data=npz expects X (N x H x W x 3 uint8) and y (N labels)"
                )
            images, labels = (_plain_array(archive, key, path) for key in ("X", "y"))
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise NetvizError(f"cannot read {path} as an .npz file: {exc}".splitlines()[0]) from exc
    divisor = _npz_pixel_scale(images, path)
    labels = _npz_labels(labels, len(images), path, categories)
    chosen = check_indices(indices, len(images)) or list(range(len(images)))
    pixels = torch.from_numpy(images[chosen].astype(np.float32) / divisor).permute(0, 3, 1, 2)
    names = _sample_names([f"image {i}" for i in range(len(labels))], labels.tolist(), categories)
    _warn_upscaled({f"the images of {path.name}": (images.shape[2], images.shape[1])}, size)
    return ImageSet(
        resize_and_crop(pixels, size),
        torch.as_tensor(labels[chosen], dtype=torch.int64),
        [names[i] for i in chosen],
        [f"{path.name}[{i}]" for i in chosen],
    )


def _plain_array(archive, key: str, path: Path) -> np.ndarray:
    """``archive[key]`` if it is a plain (not pickled) array, else a one-line error."""
    try:
        array = archive[key]
    except ValueError as exc:
        raise NetvizError(
            f"{path}: {key} is not a plain numeric array (an object array would have to be unpickled, which "
            f"netviz never does: it could run code); save {key} as a uint8, float or integer array"
        ) from exc
    if not isinstance(array, np.ndarray):
        raise NetvizError(f"{path}: its {key} entry is not a .npy array; save with numpy.savez(path, X=..., y=...)")
    return array


def _npz_pixel_scale(images: np.ndarray, path: Path) -> float:
    """What ``X`` is divided by to give [0, 1]: 255 for integers 0-255, and for floats 1 or 255 by their
    range (all of ``X`` at once; floats all at most 1 are taken as [0, 1], and the choice is logged)."""
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
        raise NetvizError(f"{path}: X has shape {images.shape}; expected N x H x W x 3 RGB images (N >= 1)")
    expected = "expected uint8 0-255 pixels, or floats in [0, 1] or [0, 255]"
    if images.dtype.kind not in "iuf":
        raise NetvizError(f"{path}: X has dtype {images.dtype}; {expected}")
    if images.dtype.kind == "f":
        finite = np.isfinite(images).reshape(len(images), -1).all(axis=1)
        if not finite.all():
            raise NetvizError(f"{path}: X[{int(np.argmin(finite))}] holds NaN or infinite values; {expected}")
    lowest = images.reshape(len(images), -1).min(axis=1)
    highest = images.reshape(len(images), -1).max(axis=1)
    out_of_range = ((lowest, lowest < 0, "negative values down to"), (highest, highest > 255, "values up to"))
    for values, bad, word in out_of_range:
        if bad.any():
            first = int(np.argmax(bad))
            raise NetvizError(f"{path}: X[{first}] has {word} {values[first]:g}; {expected}")
    if images.dtype.kind != "f":
        return 255.0
    high = float(highest.max())
    if high <= 1:
        log.info("%s: X holds floats in [0, 1]; read as pixel values in [0, 1]", path)
        return 1.0
    log.info("%s: X holds floats up to %g; read as 0-255 pixel values", path, high)
    return 255.0


def _npz_labels(labels: np.ndarray, count: int, path: Path, categories: Sequence[str] | None) -> np.ndarray:
    """``y`` as int64 class indices (-1: no label), each checked against the model's classes."""
    if labels.dtype.kind in "USO":
        raise NetvizError(f"{path}: y holds text ({labels.dtype}); data=npz expects class indices, -1 for no label")
    if labels.ndim != 1 or len(labels) != count:
        raise NetvizError(f"{path}: {count} images in X but y has shape {labels.shape}; expected one label per image")
    if labels.dtype.kind not in "iuf" or (labels.dtype.kind == "f" and not np.all(np.mod(labels, 1) == 0)):
        raise NetvizError(f"{path}: y has non-integer labels ({labels.dtype}); expected class indices, -1 for no label")
    labels = labels.astype(np.int64)
    classes = len(categories) if categories is not None else IMAGENET_CLASSES
    bad = np.flatnonzero((labels < UNLABELLED) | (labels >= classes))
    if len(bad):
        first = int(bad[0])
        raise NetvizError(
            f"{path}: y[{first}] = {labels[first]} is out of range: "
            f"labels are class indices 0..{classes - 1}, or -1 for no label"
        )
    return labels
