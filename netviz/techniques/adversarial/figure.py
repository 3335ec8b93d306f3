"""The adversarial figure, drawn from a result: original | adversarial | difference | difference x10.

One row per pair, column headers in the first row's titles, the target's probability in the
adversarial image's title, the plain difference scaled to be visible with its scale in its title, and
a caption like the report's ("Adversarial examples of efficientnet_lite0, naive method (lr 1): ...").
"""

from __future__ import annotations

import textwrap

import numpy as np
import torch

from netviz.figures import grid_figure, side_by_side, to_uint8
from netviz.naming import file_name

MAGNIFY = 10  # the report's magnified difference
HEADERS = ("original", "adversarial", "difference", f"difference ×{MAGNIFY}")
NBSP = "\u00a0"  # joins words that must stay on one line ("fooled in 1 it.")


VISIBLE_QUANTILE = 0.99  # the plain difference is stretched until this share of its changes fits


def difference_scale(delta: torch.Tensor) -> int:
    """The whole factor (at least 1) that stretches 99% of ``delta``'s changes to fit the picture's range
    around mid-gray: a few outlying pixels would otherwise keep the rest flat gray (they clip instead)."""
    typical = float(torch.quantile(delta.abs().flatten().float(), VISIBLE_QUANTILE))
    return max(1, int(0.5 / typical)) if typical > 0 else 1


def cells(result, i: int) -> tuple[list[np.ndarray], int, float]:
    """``(pictures, scale, largest change in 0-255 levels)`` of pair ``i``: differences drawn around mid-gray."""
    delta = result.adversarial[i].clamp(0, 1) - result.original[i]
    scale = difference_scale(delta)
    pictures = [to_uint8(result.original[i]), to_uint8(result.adversarial[i]), to_uint8(0.5 + scale * delta), to_uint8(0.5 + MAGNIFY * delta)]
    return pictures, scale, float(delta.abs().amax()) * 255


def panels(result) -> dict[str, np.ndarray]:
    """One picture per pair, keyed by :func:`netviz.naming.file_name` of its name."""
    return {file_name(name): side_by_side(cells(result, i)[0]) for i, name in enumerate(result.sample_names)}


def keep_together(text: str) -> str:
    return text.replace(" ", NBSP)


def titles(result, i: int, scale: int, largest: float) -> list[str]:
    """Short titles: the original's class and probability, the adversarial prediction with the target's
    probability and the iterations, the difference's scale."""
    name = result.categories
    original = f"{name[int(result.original_class[i])]} {result.original_prob_start[i]:.2f}"
    verdict = f"{name[int(result.predicted[i])]} {result.target_prob_end[i]:.2f}"
    steps, taken = int(result.iterations_to_fool[i]), int(result.iterations[i])
    if not result.fooled[i]:
        outcome = keep_together(f"not fooled, {taken} it." if taken >= 0 else "not fooled")
    elif steps < 0:
        outcome = "fooled"
    else:
        outcome = keep_together(f"fooled in {steps} it.")
    return [original, f"{verdict}\n{outcome}", keep_together(f"×{scale} (max {largest:.0f}/255)"), ""]


def caption(result) -> str:
    pairs = ", ".join(result.sample_names)
    return f"Adversarial examples of {result.model}, {result.description}: {pairs}"


def draw(result):
    """The matplotlib figure of ``result``."""
    rows = range(len(result.sample_names))
    grid, grid_titles = [], []
    for i in rows:
        pictures, scale, largest = cells(result, i)
        grid.append(pictures)
        grid_titles.append(titles(result, i, scale, largest))
    for c, header in enumerate(HEADERS):  # column headers on the first row, for now
        below = grid_titles[0][c]
        grid_titles[0][c] = f"{header}\n{below}" if below else header
    labels = [result.sample_names[i] for i in rows]
    width = int(len(HEADERS) * 2.2 * 11)  # about the characters that fit across the figure
    return grid_figure(grid, grid_titles, row_labels=labels, suptitle=textwrap.fill(caption(result), width=width))
