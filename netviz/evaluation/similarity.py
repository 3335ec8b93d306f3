"""Similarity of two saliency maps, per image: what the sanity checks and the fragility attack compare.

Adebayo et al. (2018, "Sanity Checks for Saliency Maps") compare a trained model's map with a
randomized model's by the Spearman rank correlation of absolute values, the structural similarity
(SSIM, Wang et al. 2004) and the Pearson correlation of their histograms of oriented gradients (HOG,
Dalal and Triggs 2005). SSIM and HOG are scikit-image's; Spearman is SciPy's (ties share their
average rank), as Quantus computes them.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata


def _numpy(maps: torch.Tensor) -> np.ndarray:
    return maps.detach().double().cpu().numpy().reshape(len(maps), -1)


def pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``a`` with the same row of ``b`` ``(N, F)``; 0 where a row is constant."""
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    norms = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return np.divide((a * b).sum(axis=1), norms, out=np.zeros(len(a)), where=norms > 0)


def spearman(maps: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """``(N,)`` Spearman rank correlation of each pair of maps ``(N, S, S)`` (average ranks for ties)."""
    return torch.from_numpy(pearson(rankdata(_numpy(maps), axis=1), rankdata(_numpy(other), axis=1)))


def ssim(maps: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """``(N,)`` SSIM of each pair of maps ``(N, S, S)``, each map scaled to [0, 1] first (Adebayo et al.
    2018 normalize the maps before comparing them), with a data range of 1."""
    from skimage.metrics import structural_similarity

    scaled = [_unit_range(m) for m in (maps, other)]
    return torch.tensor([structural_similarity(a, b, data_range=1.0) for a, b in zip(*scaled)], dtype=torch.float64)


def hog_pearson(maps: torch.Tensor, other: torch.Tensor, cell: int = 16) -> torch.Tensor:
    """``(N,)`` Pearson correlation of the HOG features (cells of ``cell`` pixels) of each pair of maps."""
    from skimage.feature import hog

    scaled = [_unit_range(m) for m in (maps, other)]
    cell = min(cell, maps.shape[-1] // 2)
    features = [np.stack([hog(m, pixels_per_cell=(cell, cell), cells_per_block=(1, 1)) for m in s]) for s in scaled]
    return torch.from_numpy(pearson(*features))


def _unit_range(maps: torch.Tensor) -> np.ndarray:
    values = maps.detach().double().cpu().numpy()
    low = values.reshape(len(values), -1).min(axis=1)[:, None, None]
    spread = values.reshape(len(values), -1).max(axis=1)[:, None, None] - low
    return np.divide(values - low, spread, out=np.zeros_like(values), where=spread > 0)
