"""Saliency evaluation against Quantus: deletion on the same model, images, maps and steps.

netviz's deletion (:func:`netviz.evaluation.deletion_insertion.probability_curves`) puts every step
of every image through the network in chunks of ``batch_size`` inputs; Quantus's ``PixelFlipping``
(0.6.0) perturbs the whole batch in NumPy one step at a time, then predicts it. Both follow the
target's softmax probability from the same blurred baseline, in the same pixel order. Ratio:
netviz's time / Quantus's, both measured in this run, interleaved (target: <= 1, Quantus's speed or
better). ``k`` is 49, not the issue's 50, so that a step is whole pixels (1024 of them, 3072 values
in Quantus's flattened order). Quantus's ``__call__`` also asserts that a step's values divide
``224^2``, which no whole-pixel step does at 224 px (224^2 has no factor 3); the benchmark calls its
``evaluate_batch`` (the loop itself, after those checks) with its ``PyTorchModel``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from benchmarks.common import interleaved, report
from netviz.data import load_images
from netviz.evaluation.deletion_insertion import probability_curves
from netviz.models import load_model
from netviz.techniques.saliency.integrated_gradients import baseline_pixels

COURSE_NPZ = "../shared/data/imagenet_val_25.npz"
IMAGES, STEPS, BATCH = 8, 49, 8  # netviz's chunk: the CPU default, 8 inputs of 224 px; Quantus: the 8 images per step


class PixelsIn(nn.Module):
    """The classifier taking pixels, as Quantus calls it."""

    def __init__(self, classifier) -> None:
        super().__init__()
        self.classifier = classifier
        self.eval()

    def forward(self, pixels):
        return self.classifier(self.classifier.normalize(pixels))


def deletion_ratio() -> list[tuple[str, float, float, str]]:
    import quantus

    model = load_model("efficientnet_lite0")
    images = load_images("npz", COURSE_NPZ, size=model.input_size, indices=list(range(IMAGES)))
    pixels = images.pixels
    targets = model.predict_pixels(pixels).argmax(dim=1)
    side = pixels.shape[-1]  # distinct values: no ties for the two sorts to break differently
    maps = torch.stack([torch.randperm(side * side, generator=torch.Generator().manual_seed(i)).float().view(side, side) for i in range(len(pixels))])
    blurred = baseline_pixels(pixels, "blur", model, torch.Generator())
    source = blurred.numpy().reshape(len(pixels), -1)

    def to_blur(arr, indices, **kwargs):
        arr = arr.copy()
        rows = np.arange(len(arr))[:, None]
        arr[rows, indices] = source[rows, indices]
        return arr

    metric = quantus.PixelFlipping(
        features_in_step=3 * maps[0].numel() // STEPS, perturb_func=to_blur, normalise=False, disable_warnings=True, display_progressbar=False
    )
    a_batch = np.ascontiguousarray(maps[:, None].expand(-1, 3, -1, -1).numpy())
    wrapped = quantus.PyTorchModel(PixelsIn(model), softmax=True, device="cpu", channel_first=True)

    def ours():
        with torch.inference_mode():
            return probability_curves(model, pixels, maps, targets, steps=STEPS, baseline=blurred, batch_size=BATCH)

    def theirs():
        with torch.inference_mode():
            return metric.evaluate_batch(wrapped, pixels.numpy(), targets.numpy(), a_batch)

    agreement = float(np.abs(ours()[:, 1:].numpy() - np.asarray(theirs())).max())
    times = interleaved({"netviz": ours, "quantus": theirs}, rounds=3)
    return [(f"deletion, {IMAGES} images x {STEPS} steps, efficientnet_lite0 (max |diff| {agreement:.1e})", times["netviz"], times["quantus"], "<= 1")]


def main() -> None:
    torch.manual_seed(0)
    report("saliency evaluation vs Quantus 0.6.0 (same model, images, maps, steps)", deletion_ratio())


if __name__ == "__main__":
    main()
