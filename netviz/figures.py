"""Turning tensors into pictures: 8-bit images, colormapped maps, panels and figure grids.

Figures are drawn with matplotlib's Agg backend (no display needed) and only from results, never
from a running technique.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is not imported here: the tracking worker draws a sweep's summary without it
    import torch


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """Pixels ``(3, H, W)`` or ``(N, 3, H, W)`` in [0, 1] to uint8 ``(H, W, 3)``/``(N, H, W, 3)``, clamped first."""
    import torch

    array = pixels.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()
    return array.movedim(-3, -1).numpy()


def colormap(values: torch.Tensor, name: str = "hot") -> np.ndarray:
    """A map ``(H, W)`` scaled to its own [min, max], as uint8 RGB ``(H, W, 3)`` in the colormap ``name``."""
    from matplotlib import colormaps

    array = values.detach().float().cpu().numpy()
    low, high = float(array.min()), float(array.max())
    scaled = (array - low) / (high - low) if high > low else np.zeros_like(array)
    return (colormaps[name](scaled)[..., :3] * 255).round().astype(np.uint8)


def side_by_side(images: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """uint8 RGB images of one height, joined left to right with white gaps."""
    height = images[0].shape[0]
    spacer = np.full((height, gap, 3), 255, dtype=np.uint8)
    parts: list[np.ndarray] = []
    for image in images:
        parts.extend([image, spacer])
    return np.concatenate(parts[:-1], axis=1)


# The resolution every figure is drawn and saved at (dots per inch): grid_figure sizes a figure so
# that, saved at this dpi, each image shows at its native size (or an integer multiple of it).
FIGURE_DPI = 120

# Font sizes in points, and spacing in pixels at FIGURE_DPI (scaled for other dpis).
TITLE_POINTS, HEADER_POINTS, LABEL_POINTS, SUPTITLE_POINTS = 8, 9, 9, 10
MARGIN_PX, GAP_PX, TITLE_PAD_PX = 8, 8, 3
ROW_LABEL_MAX_PX = 160  # row labels wrap beyond this width
CAPTION_MIN_PX = 600  # a figure narrower than this widens (up to it) rather than wrap its caption further


def difference_image(delta) -> tuple[np.ndarray, float]:
    """A signed pixel difference drawn around mid-gray, scaled so that it shows: ``(uint8 HxWx3, scale)``.

    ``delta`` is ``adversarial - original`` in [0, 1] pixel units, a tensor ``(3, H, W)`` or an array
    ``(H, W, 3)``. The image is ``0.5 + scale * delta``, with ``scale`` the largest whole number
    (at least 1) that keeps the largest ``|delta|`` within half the range around mid-gray
    (``0.25..0.75``): a change of a few 0-255 levels, invisible drawn as it is, becomes visible, and
    nothing clips. The caller writes the scale next to the panel ("difference ×37").
    """
    torch = sys.modules.get("torch")  # a tensor exists only where torch was imported
    if torch is not None and isinstance(delta, torch.Tensor):
        delta = delta.detach().float().cpu().movedim(-3, -1).numpy()
    delta = np.asarray(delta, dtype=np.float64)
    largest = float(np.abs(delta).max()) if delta.size else 0.0
    scale = float(max(1, int(0.25 / largest))) if largest > 0 else 1.0
    pixels = np.clip(0.5 + scale * delta, 0.0, 1.0)
    return (pixels * 255).round().astype(np.uint8), scale


def grid_figure(
    cells: Sequence[Sequence[np.ndarray | None]],
    titles: Sequence[Sequence[str]] | None = None,
    row_labels: Sequence[str] | None = None,
    suptitle: str | None = None,
    cell_inches: float = 2.2,
    *,
    column_headers: Sequence[str] | None = None,
    dpi: int = FIGURE_DPI,
):
    """A matplotlib figure showing ``cells[row][col]`` (uint8 RGB arrays) at their native resolution.

    Each image is drawn at its own pixel size, or enlarged by a whole factor when it is small (up to
    about ``cell_inches`` at ``dpi``), so that :func:`save_figure` at the same ``dpi`` shows every
    pixel. The layout is measured, not guessed: every title, header and label is wrapped to the
    space it has and the figure is sized around them, so no text overlaps another or leaves the
    figure.

    Args:
        cells: rows of images; a row may be shorter than the others, and ``None`` is an empty,
            framed cell (a run that left no image, say).
        titles: a title per cell (``""`` for none), drawn above it.
        row_labels: a label per row, drawn left of it.
        suptitle: the caption, above everything.
        cell_inches: how large a small image is enlarged toward, in inches.
        column_headers: one header per column, drawn once above the first row.
        dpi: the resolution the figure is laid out for (:data:`FIGURE_DPI`, what ``save_figure`` uses).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows, cols = len(cells), max((len(r) for r in cells), default=0)
    if rows == 0 or cols == 0:
        raise ValueError("grid_figure needs at least one cell")
    unit = dpi / FIGURE_DPI
    margin, gap, pad = round(MARGIN_PX * unit), round(GAP_PX * unit), round(TITLE_PAD_PX * unit)

    shapes, scale, col_width, row_height = _image_boxes(cells, round(cell_inches * dpi))

    figure = Figure(dpi=dpi)
    FigureCanvasAgg(figure)
    measure = _TextMeasure(dpi)

    # Texts, wrapped to their room and measured in pixels.
    cell_titles = [
        [measure.fit(_at(titles, r, c), col_width[c], TITLE_POINTS) for c in range(cols)] for r in range(rows)
    ]
    title_band = [max((t.height for t in cell_titles[r]), default=0) for r in range(rows)]
    title_band = [band + pad if band else 0 for band in title_band]
    headers = [
        measure.fit(_at([column_headers], 0, c), col_width[c], HEADER_POINTS, weight="bold") for c in range(cols)
    ]
    header_band = max((h.height for h in headers), default=0)
    header_band = header_band + pad if header_band else 0
    labels = [measure.fit(_at([row_labels], 0, r), ROW_LABEL_MAX_PX * unit, LABEL_POINTS) for r in range(rows)]
    label_band = max((label.width for label in labels), default=0)
    label_band = label_band + gap if label_band else 0

    grid_width = label_band + sum(col_width) + gap * (cols - 1)
    natural = measure.fit(suptitle or "", float("inf"), SUPTITLE_POINTS).width
    width = max(grid_width, min(natural, CAPTION_MIN_PX * unit)) + 2 * margin
    caption = measure.fit(suptitle or "", width - 2 * margin, SUPTITLE_POINTS)
    caption_band = caption.height + gap if caption.height else 0
    height = 2 * margin + caption_band + header_band + sum(title_band) + sum(row_height) + gap * (rows - 1)
    width, height = math.ceil(width), math.ceil(height)
    figure.set_size_inches(width / dpi, height / dpi)

    def box(left: float, top: float, box_width: float, box_height: float) -> list[float]:
        """A rectangle given in pixels from the figure's top-left corner, in figure fractions."""
        return [left / width, 1 - (top + box_height) / height, box_width / width, box_height / height]

    left0 = margin + (width - 2 * margin - grid_width) // 2 + label_band
    lefts = [left0 + sum(col_width[:c]) + gap * c for c in range(cols)]  # whole pixels: images stay sharp
    if caption.text:
        figure.suptitle(caption.text, fontsize=SUPTITLE_POINTS, x=0.5, y=1 - margin / height, va="top")
    top = margin + caption_band
    for c, header in enumerate(headers):
        if header.text:
            figure.text((lefts[c] + col_width[c] / 2) / width, 1 - (top + header.height) / height, header.text,
                        fontsize=HEADER_POINTS, weight="bold", ha="center", va="bottom", linespacing=measure.spacing)
    top += header_band
    for r in range(rows):
        top += title_band[r]
        for c in range(len(cells[r])):
            image = cells[r][c]
            if image is None:
                ax = figure.add_axes(box(lefts[c], top, col_width[c], row_height[r]))
                for spine in ax.spines.values():
                    spine.set_color("0.7")
                ax.set_facecolor("0.95")
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                image_height, image_width = shapes[r][c][0] * scale, shapes[r][c][1] * scale
                ax = figure.add_axes(box(lefts[c] + (col_width[c] - image_width) // 2, top, image_width, image_height))
                ax.imshow(image, interpolation="nearest", aspect="auto")
                ax.set_axis_off()
            if cell_titles[r][c].text:
                # y=1.0 is where matplotlib places it anyway (no ticks above an image). Giving it skips
                # the automatic placement, which measures every axis' ticks on each draw (a third of a
                # 9-image grid's savefig) to move a title that nothing here overlaps.
                ax.set_title(cell_titles[r][c].text, fontsize=TITLE_POINTS, pad=pad * 72 / dpi, va="bottom",
                             linespacing=measure.spacing, y=1.0)
        if labels[r].text:
            figure.text((lefts[0] - gap) / width, 1 - (top + row_height[r] / 2) / height, labels[r].text,
                        fontsize=LABEL_POINTS, ha="right", va="center", linespacing=measure.spacing)
        top += row_height[r] + gap
    return figure


def _image_boxes(cells: Sequence[Sequence[np.ndarray | None]], enlarge_to_px: int):
    """``(shapes, scale, column widths, row heights)`` in pixels: each column as wide as its widest
    image, each row as tall as its tallest, all enlarged by one whole ``scale`` when the images are
    small (the largest that keeps the longest side within ``enlarge_to_px``); an empty cell where no
    image sets the size is as large as the largest image."""
    rows, cols = len(cells), max(len(r) for r in cells)
    shapes = [[None if image is None else np.asarray(image).shape[:2] for image in row] for row in cells]
    known = [shape for row in shapes for shape in row if shape is not None]
    longest = max((max(shape) for shape in known), default=enlarge_to_px)
    scale = max(1, enlarge_to_px // longest)
    empty_height = max((shape[0] for shape in known), default=longest) * scale
    empty_width = max((shape[1] for shape in known), default=longest) * scale
    col_width = [
        max((shapes[r][c][1] * scale for r in range(rows) if c < len(shapes[r]) and shapes[r][c]), default=empty_width)
        for c in range(cols)
    ]
    row_height = [max((shape[0] * scale for shape in shapes[r] if shape), default=empty_height) for r in range(rows)]
    return shapes, scale, col_width, row_height


def _at(table: Sequence[Sequence[str] | None] | None, row: int, col: int) -> str:
    """``table[row][col]``, or ``""`` where the table, the row or the entry is missing."""
    if table is None or row >= len(table) or table[row] is None or col >= len(table[row]):
        return ""
    return table[row][col] or ""


class _TextMeasure:
    """Wraps text to a width in pixels and measures it as matplotlib will draw it at ``dpi``."""

    spacing = "normal"  # each line as tall as the font: titles of one row share a baseline

    def __init__(self, dpi: int) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self._figure = Figure(dpi=dpi)
        self._renderer = FigureCanvasAgg(self._figure).get_renderer()

    def size(self, text: str, points: float, weight: str = "normal") -> tuple[float, float]:
        """``(width, height)`` in pixels of ``text`` drawn at ``points``."""
        drawn = self._figure.text(0, 0, text, fontsize=points, weight=weight, linespacing=self.spacing)
        extent = drawn.get_window_extent(self._renderer)
        drawn.remove()
        return math.ceil(extent.width), math.ceil(extent.height)

    def fit(self, text: str, max_width: float, points: float, weight: str = "normal") -> "_Fitted":
        """``text`` wrapped (at spaces, else inside words) until it is at most ``max_width`` pixels wide."""
        if not text:
            return _Fitted("", 0.0, 0.0)
        width, height = self.size(text, points, weight)
        chars = max(len(line) for line in text.splitlines())
        wrapped = text
        while width > max_width and chars > 1:
            chars = max(1, min(chars - 1, int(chars * max_width / width)))
            wrapped = wrap(text, chars)
            width, height = self.size(wrapped, points, weight)
        return _Fitted(wrapped, width, height)


@dataclass(frozen=True)
class _Fitted:
    text: str
    width: float
    height: float


def wrap(title: str, width: int) -> str:
    """``title`` with each of its lines wrapped at ``width`` characters (at spaces, else inside words)."""
    import textwrap

    return "\n".join(
        textwrap.fill(line, width=width, break_on_hyphens=False) or line for line in title.splitlines()
    )


def save_figure(figure, path: str | Path, dpi: int = FIGURE_DPI) -> Path:
    """Write ``figure`` as a PNG at ``dpi`` (the one :func:`grid_figure` lays out for), creating folders;
    return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    return path


FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def check_figure_path(path: str | Path, option: str = "figure=") -> Path:
    """``path`` as a figure file that can be written, checked before any work: not a folder, an image
    suffix, and a folder where a file can be created (tried, and removed). ``option`` names the
    setting in the one-line error (``figure=``, ``--figure ``)."""
    import os

    from netviz.errors import NetvizError

    target = Path(str(path)).expanduser()
    if target.is_dir():
        raise NetvizError(f"{option}{path} is a folder; give a file name such as {target / 'figure.png'}")
    if target.suffix.lower() not in FIGURE_SUFFIXES:
        raise NetvizError(f"{option}{path} has no image suffix; give a file ending in {', '.join(FIGURE_SUFFIXES)}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        probe = target.parent / f".netviz-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise NetvizError(f"{option}{path} cannot be written ({exc.strerror or exc}); choose a writable folder") from None
    return target
