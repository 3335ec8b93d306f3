"""Feature visualization: Lucid's combination on netviz's loop against a plain PyTorch loop, and the
course's class visualization against Lucid's on the same classes (Olah et al. 2017's claim, measured).

1. Time per step of class visualization with ``param=fourier color=decorrelated valid=sigmoid
   transforms=lucid optimizer=adam`` (Lightning Trainer, captures, metrics, snapshots) against the
   same computation as a bare ``for`` loop. Target: <= 1.05x. Lucent's ``render_vis`` side by side
   when it imports (it needs kornia, which torch-lucent was installed without: then it is skipped).
2. ``--measure``: the course's method (and it without jitter and blur, ``plain``) and Lucid's on the same 4 classes, model (efficientnet_lite0
   at 224 px) and number of steps, in one batch each: the final target probability, the
   transform-robust probability (mean over 32 fresh shifts, scales and rotations of the final image)
   and the high-frequency energy (spectral power above half the Nyquist frequency).

    python -m benchmarks.bench_featureviz            # 1
    python -m benchmarks.bench_featureviz --measure  # 2 (a few minutes on one CPU core)
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F

from benchmarks.common import per_step_rows, report
from netviz.models import Classifier, load_model
from netviz.parts.color import decorrelate_color
from netviz.parts.fourier import fourier_image, spectrum_scale
from netviz.parts.image_measures import high_frequency_energy, transform_robust_probability
from netviz.parts.lucid_transforms import LUCID_ANGLES, LUCID_SCALES
from netviz.techniques.classviz import ClassVizOptions, class_visualization

SHORT, LONG = 2, 20
CLASSES = ["goldfish", "hen", "Yorkshire terrier", "monarch"]
COURSE = {}
PLAIN = dict(max_jitter=0, blur_every=None)  # pixel ascent without the course's jitter and blur (Simonyan et al. 2014)
LUCID = dict(lr=0.05, l2=0.0, blur_every=None, param="fourier", color="decorrelated", valid="sigmoid", transforms="lucid", optimizer="adam")


def plain_lucid_loop(model: Classifier, targets: torch.Tensor, steps: int, seed: int = 0) -> torch.Tensor:
    """The reference: Lucid's class visualization as a bare loop (Fourier image, decorrelated colour,
    sigmoid, pad 12, jitter 8, scale, rotation, jitter 4, Adam on the spectrum)."""
    size, device = model.input_size, model.device
    # the draws of netviz.parts.lucid_transforms, from generators seeded alike, so both loops see the same sizes
    jitter8, scales, angles, jitter4 = (torch.Generator().manual_seed(seed + k) for k in range(4))
    scale = spectrum_scale(size, size).to(device)
    spectrum = (0.01 * torch.randn(len(targets), 3, size, size // 2 + 1, 2, generator=torch.Generator().manual_seed(seed)))
    spectrum = spectrum.to(device).requires_grad_(True)
    optimizer = torch.optim.Adam([spectrum], lr=0.05)
    for _ in range(steps):
        image = torch.sigmoid(decorrelate_color(fourier_image(spectrum, size, size, scale)))
        image = F.pad(image - 0.5, [12] * 4) + 0.5
        dx, dy = torch.randint(0, 9, (2,), generator=jitter8).tolist()
        image = image[..., dy : image.shape[-2] - 8 + dy, dx : image.shape[-1] - 8 + dx]
        factor = LUCID_SCALES[int(torch.randint(len(LUCID_SCALES), (), generator=scales))]
        if factor != 1:
            image = F.interpolate(image, size=[round(factor * s) for s in image.shape[-2:]], mode="bilinear", align_corners=False)
        angle = math.radians(LUCID_ANGLES[int(torch.randint(len(LUCID_ANGLES), (), generator=angles))])
        if angle:
            theta = torch.tensor([[math.cos(angle), -math.sin(angle), 0.0], [math.sin(angle), math.cos(angle), 0.0]], device=device)
            grid = F.affine_grid(theta.expand(len(image), 2, 3), list(image.shape), align_corners=False)
            image = F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        dx, dy = torch.randint(0, 5, (2,), generator=jitter4).tolist()
        image = image[..., dy : image.shape[-2] - 4 + dy, dx : image.shape[-1] - 4 + dx]
        logits = model(model.normalize(image))
        loss = -logits.gather(1, targets[:, None]).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return spectrum.detach()


def timing(model: Classifier, device: str) -> None:
    accelerator = "gpu" if device == "cuda" else "cpu"
    targets = [model.class_index(c) for c in CLASSES[:1]]

    def netviz_run(steps: int) -> None:
        class_visualization(model, targets, options=ClassVizOptions(iterations=steps, **LUCID), accelerator=accelerator, progress=False)

    def plain_run(steps: int) -> None:
        plain_lucid_loop(model, torch.tensor(targets, device=device), steps)
        if device == "cuda":
            torch.cuda.synchronize()

    rows = per_step_rows("Lucid's class visualization vs plain PyTorch loop", netviz_run, plain_run, SHORT, LONG, rounds=5)
    try:
        import lucent.optvis.render  # noqa: F401
    except ImportError as error:
        print(f"Lucent's render_vis not run: {error} (torch-lucent was installed --no-deps)")
    report(f"feature visualization, efficientnet_lite0 {model.input_size}px on {device}", rows)


def measure(model: Classifier, device: str, steps: int, figure: str | None = None) -> None:
    accelerator = "gpu" if device == "cuda" else "cpu"
    images = {}
    print(f"\n== course vs Lucid: {', '.join(CLASSES)}; efficientnet_lite0, {steps} steps, one batch each, on {device}")
    print(f"{'method':8s} {'p(target)':>10s} {'robust p':>10s} {'HF energy':>10s}   per class (p / robust p / HF)")
    for name, choices in (("plain", PLAIN), ("course", COURSE), ("lucid", LUCID)):
        options = ClassVizOptions(iterations=steps, **choices)
        result = class_visualization(model, CLASSES, options=options, accelerator=accelerator, progress=False)
        robust = transform_robust_probability(model, result.pixels, result.targets)
        energy = high_frequency_energy(result.pixels)
        per_class = "; ".join(f"{p:.2f}/{r:.2f}/{e:.3f}" for p, r, e in zip(result.probability.tolist(), robust.tolist(), energy.tolist()))
        print(f"{name:8s} {result.probability.mean():10.3f} {robust.mean():10.3f} {energy.mean():10.3f}   {per_class}")
        images[name] = result.pixels
    natural = natural_images(model.input_size)
    if natural is not None:
        print(f"{'photos':8s} {'':10s} {'':10s} {high_frequency_energy(natural).mean():10.3f}   the course's 25 photos, for scale")
    if figure:
        from netviz.figures import grid_figure, save_figure, to_uint8

        cells = [list(to_uint8(images[name])) for name in images]
        save_figure(grid_figure(cells, [CLASSES] * len(cells), row_labels=list(images), suptitle=f"course vs Lucid, {steps} steps"), figure)
        print(f"wrote {figure}")


def natural_images(size: int) -> torch.Tensor | None:
    """The course's 25 ImageNet photos at ``size`` px, or ``None`` where the file is not here."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "imagenet_val_25.npz"
    if not path.exists():
        return None
    from netviz.data import load_images

    return load_images("npz", path=str(path), size=size).pixels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", action="store_true", help="course vs Lucid: probabilities and high-frequency energy")
    parser.add_argument("--steps", type=int, default=200, help="steps of each method with --measure")
    parser.add_argument("--figure", help="with --measure, write both methods' images side by side to this PNG")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_model("efficientnet_lite0").to(device)
    if args.measure:
        measure(model, device, args.steps, args.figure)
    else:
        timing(model, device)


if __name__ == "__main__":
    main()
