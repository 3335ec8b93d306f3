"""Pictures of an evaluation, as uint8 RGB arrays (panels): the randomization cascade, fragility
examples and the curves. Drawn from outcomes only, never from a running loop."""

from __future__ import annotations

import numpy as np
import torch

from netviz.figures import colormap, side_by_side, to_uint8

SHOWN = 4  # images drawn per picture


def cascade_strips(cascade_maps: torch.Tensor) -> dict[str, np.ndarray]:
    """One strip per image (the first :data:`SHOWN`): its trained map, then its map after each cascade step."""
    return {
        f"randomization cascade {i}": side_by_side([colormap(step_maps[i]) for step_maps in cascade_maps])
        for i in range(min(SHOWN, cascade_maps.shape[1]))
    }


def fragility_strips(pixels: torch.Tensor, maps: torch.Tensor, outcome) -> dict[str, np.ndarray]:
    """One strip per image: the image and its map, then each budget's attacked image and map."""
    strips = {}
    for i in range(min(SHOWN, len(pixels))):
        cells = [to_uint8(pixels[i]), colormap(maps[i])]
        for budget, attacked in outcome.attacked.items():
            cells += [to_uint8(attacked[i]), colormap(outcome.attacked_maps[budget][i])]
        strips[f"fragility {i}"] = side_by_side(cells)
    return strips


def curve_plots(result) -> dict[str, np.ndarray]:
    """Each curve family's mean over the images (thin lines: each image), as one plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = {}
    for name, curves in result.curves.items():
        figure, axes = plt.subplots(figsize=(4, 3), dpi=100)
        x = result.curve_x[name]
        for curve in curves:
            axes.plot(x, curve.numpy(), color="0.7", linewidth=0.7)
        axes.plot(x, curves.double().mean(dim=0).numpy(), color="C0", linewidth=2, label="mean")
        axes.set_xlabel("cascade step (top down)" if name.startswith("randomization") else "share of pixels " + ("removed" if name == "deletion" else "inserted"))
        axes.set_ylabel(name.replace("_", " ") if name.startswith("randomization") else "target probability")
        axes.set_title(name.replace("_", " "))
        figure.tight_layout()
        figure.canvas.draw()
        plots[f"{name} curve"] = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
        plt.close(figure)
    return plots
