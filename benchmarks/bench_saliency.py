"""Foundation benchmarks: the shared loop's cost per step, and a whole `python run.py` job.

Each ratio is framework time / plain-PyTorch time, both measured in this run, interleaved.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from benchmarks.common import interleaved, report
from netviz.models import load_model
from netviz.techniques.base import InputOptimizer, optimize

ROOT = Path(__file__).resolve().parent.parent
STEPS = 20


class NormalizedAscent(InputOptimizer):
    """The simplest technique: ascent on the target score, x <- x + lr * g / ||g||."""

    def objective(self, x, logits, scores, step):
        return scores.gather(1, self.targets[:, None]).squeeze(1)

    def update(self, x, grad, step):
        norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        return x + grad / norms


def plain_loop(model, pixels, targets, steps):
    x = model.normalize(pixels).clone()
    for _ in range(steps):
        x.requires_grad_(True)
        logits = model(x)
        (grad,) = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), x)
        with torch.no_grad():
            x = x + grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
    return x


def loop_step_ratio() -> tuple[str, float, float, str]:
    torch.manual_seed(0)
    model = load_model("squeezenet1_1", weights=None)
    pixels, targets = torch.rand(1, 3, 224, 224), torch.tensor([187])
    times = interleaved(
        {
            "netviz": lambda: optimize(NormalizedAscent(model, pixels, targets, iterations=STEPS), accelerator="cpu", progress=False),
            "plain": lambda: plain_loop(model, pixels, targets, STEPS),
        },
        rounds=5,
    )
    return (f"one step, squeezenet1_1, {STEPS}-step loop (Trainer start included)", times["netviz"] / STEPS, times["plain"] / STEPS, "<= 1.05")


def job_wall_ratio() -> tuple[str, float, float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        job = [sys.executable, "run.py", "model=efficientnet_lite0", f"tracking.uri={uri}", "trainer.accelerator=cpu", f"hydra.run.dir={tmp}/out"]
        plain = [sys.executable, "benchmarks/plain_saliency.py", f"{tmp}/plain.png"]

        def run(command):
            return lambda: subprocess.run(command, cwd=ROOT, check=True, capture_output=True)

        times = interleaved({"netviz": run(job), "plain": run(plain)}, rounds=3)  # the warm-up creates the store
    return ("wall time, `python run.py` saliency job (tracked) vs plain script", times["netviz"], times["plain"], "<= 1.5")


def main() -> None:
    report("saliency / shared loop", [loop_step_ratio(), job_wall_ratio()])


if __name__ == "__main__":
    main()
