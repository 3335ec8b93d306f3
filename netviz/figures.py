"""Turning tensors into pictures: 8-bit images, colormapped maps, panels and figure grids.

Figures are drawn with matplotlib's Agg backend (no display needed) and only from results, never
from a running technique.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """Pixels ``(3, H, W)`` or ``(N, 3, H, W)`` in [0, 1] to uint8 ``(H, W, 3)``/``(N, H, W, 3)``, clamped first."""
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


def grid_figure(
    cells: Sequence[Sequence[np.ndarray]],
    titles: Sequence[Sequence[str]] | None = None,
    row_labels: Sequence[str] | None = None,
    suptitle: str | None = None,
    cell_inches: float = 2.2,
):
    """A matplotlib figure showing ``cells[row][col]`` (uint8 RGB) with optional titles and row labels."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    rows, cols = len(cells), max(len(r) for r in cells)
    figure = Figure(figsize=(cell_inches * cols + (0.6 if row_labels else 0), cell_inches * rows + 0.5))
    axes = figure.subplots(rows, cols, squeeze=False)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(cells[r]):
                ax.axis("off")
                continue
            ax.imshow(cells[r][c])
            if titles is not None and titles[r][c]:
                ax.set_title(wrap(titles[r][c], width=int(cell_inches * 14)), fontsize=8)
        if row_labels is not None:
            axes[r][0].set_ylabel(row_labels[r], fontsize=9)
    if suptitle:
        figure.suptitle(suptitle, fontsize=10)
    figure.tight_layout()
    return figure


def wrap(title: str, width: int) -> str:
    """``title`` with each of its lines wrapped at ``width`` characters (at ``, `` or spaces)."""
    import textwrap

    return "\n".join(textwrap.fill(line, width=width) or line for line in title.splitlines())


def save_figure(figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``figure`` as a PNG, creating folders; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    return path
