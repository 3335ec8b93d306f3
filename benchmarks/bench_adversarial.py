"""Adversarial examples: the framework's naive attack against the same attack as a plain PyTorch loop,
and 8 (image, target) pairs in one batch against 8 runs of one pair.

Both sides run the same model, steps and arithmetic; the step size is tiny so that no pair is fooled
and every run makes exactly ``STEPS`` updates. Images are 128 px to keep the benchmark near a minute
on a CPU (the per-step overhead of the framework is what is measured, not the model).
"""

from __future__ import annotations

import torch

from benchmarks.common import interleaved, per_step_rows, report
from netviz.data import load_images
from netviz.models import Classifier, load_model
from netviz.techniques.adversarial import NaiveAttack, predict
from netviz.techniques.base import optimize

STEPS = 16
SHORT, LONG = 4, 16  # the time per step is the slope between these two loop lengths
SIZE = 128
LR = 1e-4  # never reaches the target: every run makes STEPS steps
TARGETS = [6, 947, 92, 207, 245, 526, 1, 2]  # stingray, mushroom, bee eater, golden retriever, ...


def framework(model: Classifier, pixels: torch.Tensor, targets: torch.Tensor, steps: int = 16) -> torch.Tensor:
    module = optimize(NaiveAttack(model, pixels, targets, iterations=steps, lr=LR, log_every=steps), accelerator="cpu", progress=False)
    module.conclude(predict(model, module.pixels()))  # the verdict on the final images, as make_fooling_images gives it
    return module.x


def plain(model: Classifier, pixels: torch.Tensor, targets: torch.Tensor, steps: int = 16) -> torch.Tensor:
    """The report's loop as one would write it by hand: check, then one normalized ascent step, and a last
    check of the final images."""
    x = model.normalize(pixels).clone()
    active = torch.ones(len(targets), dtype=torch.bool)
    for _ in range(steps):
        x.requires_grad_(True)
        logits = model(x)
        active &= logits.argmax(1) != targets
        if not active.any():
            break
        (grad,) = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), x)
        with torch.no_grad():
            step = LR * grad / grad.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, 1, 1, 1)
            x = torch.where(active.view(-1, 1, 1, 1), x + step, x).detach()
    with torch.no_grad():  # the verdict on the final images, which the framework also gives
        model(x).argmax(1)
    return x.detach()


def main() -> None:
    model = load_model("efficientnet_lite0")
    images = load_images("samples", size=SIZE).pixels
    one, target = images[:1], torch.tensor(TARGETS[:1])
    pixels8, targets8 = images[torch.arange(8) % len(images)], torch.tensor(TARGETS)
    torch.testing.assert_close(framework(model, one, target), plain(model, one, target), rtol=1e-4, atol=1e-5)

    per_step = per_step_rows(
        "naive attack, 1 pair",
        lambda steps: framework(model, one, target, steps),
        lambda steps: plain(model, one, target, steps),
        SHORT,
        LONG,
        rounds=5,
    )
    batch = interleaved(
        {
            "batched": lambda: framework(model, pixels8, targets8),
            "one at a time": lambda: [framework(model, pixels8[i : i + 1], targets8[i : i + 1]) for i in range(8)],
        },
        rounds=1,
    )
    report(
        f"adversarial examples (naive, efficientnet_lite0, {SIZE} px, CPU)",
        [
            *per_step,
            ("8 pairs: one batch vs 8 one-pair runs (per step)", batch["batched"] / STEPS, batch["one at a time"] / STEPS, "< 1"),
        ],
    )


if __name__ == "__main__":
    main()
