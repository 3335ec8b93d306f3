"""Class visualization: netviz's loop against a plain PyTorch loop of the same update, and batching.

1. Time per step of :class:`~netviz.techniques.classviz.ClassVisualization` (Lightning Trainer, step
   metrics, snapshots) against the same update written as a bare ``for`` loop. Target: within 5%.
2. One batch of 8 targets against 8 single-target runs (what several targets in one run buys).

The offline pretrained model at its own input size (224), on a GPU where there is one; about a
minute or two on two idle CPU cores (per-step times swing several-fold when other jobs share them).
"""

from __future__ import annotations

import torch

from benchmarks.common import interleaved, per_step_rows, report
from netviz.models import Classifier, load_model
from netviz.techniques.base import optimize
from netviz.techniques.classviz import ClassVisualization, ClassVizOptions, noise_start
from netviz.transforms import gaussian_blur, jitter

SHORT, LONG = 2, 10  # steps of the short and the long run whose difference gives the time per step
BATCH_STEPS = 2
TARGETS = [187, 113, 1, 130, 949, 417, 980, 30]


def plain_loop(model: Classifier, start: torch.Tensor, targets: torch.Tensor, options: ClassVizOptions) -> torch.Tensor:
    """The reference: the classviz update as a bare PyTorch loop (no Trainer, no metrics, no snapshots)."""
    generator = torch.Generator().manual_seed(options.seed)
    x = model.normalize(start)
    low, high = model.input_bounds()
    for step in range(options.iterations):
        dx, dy = torch.randint(0, options.max_jitter + 1, (2,), generator=generator).tolist()
        x.requires_grad_(True)
        rolled = jitter(x, dx, dy)
        objective = model(rolled).gather(1, targets[:, None]).squeeze(1) - options.l2 * rolled.flatten(1).square().sum(1)
        (grad,) = torch.autograd.grad(objective.sum(), x)
        with torch.no_grad():
            x = x + options.lr * grad / grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            x = torch.maximum(torch.minimum(x, high), low)
            if step % options.blur_every == 0:
                x = gaussian_blur(x, options.blur_sigma)
    return x.detach()


def main() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    accelerator = "gpu" if device == "cuda" else "cpu"
    model = load_model("efficientnet_lite0").to(device)

    def netviz_run(targets: list[int], iterations: int) -> None:
        start = noise_start(model, len(targets)).to(device)
        run_options = ClassVizOptions(iterations=iterations)
        optimize(ClassVisualization(model, start, torch.tensor(targets), run_options), accelerator=accelerator, progress=False)

    def plain_run(targets: list[int], iterations: int) -> None:
        start = noise_start(model, len(targets)).to(device)
        plain_loop(model, start, torch.tensor(targets, device=device), ClassVizOptions(iterations=iterations))
        if device == "cuda":
            torch.cuda.synchronize()

    per_step = per_step_rows(
        "classviz loop vs plain PyTorch loop",
        lambda steps: netviz_run(TARGETS[:1], steps),
        lambda steps: plain_run(TARGETS[:1], steps),
        SHORT,
        LONG,
    )
    batching = interleaved(
        {
            "batch": lambda: netviz_run(TARGETS, BATCH_STEPS),
            "singles": lambda: [netviz_run([t], BATCH_STEPS) for t in TARGETS],
        },
        rounds=2,
    )
    report(
        f"class visualization, efficientnet_lite0 224px on {device}",
        [
            *per_step,
            (f"8 targets, {BATCH_STEPS} steps: one batch vs 8 single runs", batching["batch"], batching["singles"],
             "ratio < 1 (batching pays)"),
        ],
    )


if __name__ == "__main__":
    main()
