"""Foundation benchmarks: the shared loop's cost per step, and a whole `python run.py` job.

Each ratio is framework time / plain-PyTorch time, both measured in this run, interleaved.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from benchmarks.common import interleaved, per_step_rows, report
from netviz.models import load_model
from netviz.parts import ClassScore, NormalizedAscent
from netviz.techniques.base import InputOptimizer, optimize, unit_gradient

ROOT = Path(__file__).resolve().parent.parent
SHORT, LONG = 5, 25


class SubclassAscent(InputOptimizer):
    """The same ascent in the older subclass API (the adapter saliency and adversarial still use)."""

    def objective(self, x, logits, scores, step):
        return scores.gather(1, self.targets[:, None]).squeeze(1)

    def update(self, x, grad, step):
        return x + unit_gradient(grad)


def plain_loop(model, pixels, targets, steps):
    x = model.normalize(pixels).clone()
    for _ in range(steps):
        x.requires_grad_(True)
        logits = model(x)
        (grad,) = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), x)
        with torch.no_grad():
            x = x + grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
    return x


def loop_step_ratios() -> list[tuple[str, float, float, str]]:
    torch.manual_seed(0)
    model = load_model("squeezenet1_1", weights=None)
    pixels, targets = torch.rand(1, 3, 224, 224), torch.tensor([187])

    def parts(steps):
        module = InputOptimizer(model, pixels, targets, iterations=steps, objective=ClassScore(), step=NormalizedAscent(1.0))
        return optimize(module, accelerator="cpu", progress=False)

    def subclass(steps):
        return optimize(SubclassAscent(model, pixels, targets, iterations=steps), accelerator="cpu", progress=False)

    def plain(steps):
        return plain_loop(model, pixels, targets, steps)

    return [
        *per_step_rows("shared loop from parts, normalized ascent, squeezenet1_1 224px", parts, plain, SHORT, LONG, rounds=5),
        *per_step_rows("the same, older subclass API", subclass, plain, SHORT, LONG, rounds=5)[:1],
    ]


def job_wall_ratios() -> list[tuple[str, float, float, str]]:
    """A whole `python run.py` saliency job against the plain script, and what Lightning's import costs."""
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        job = [sys.executable, "run.py", "model=efficientnet_lite0", "trainer.accelerator=cpu", f"hydra.run.dir={tmp}/out"]

        def run(*command):
            return lambda: subprocess.run(command, cwd=ROOT, check=True, capture_output=True)

        times = interleaved(  # the warm-up creates the store
            {
                "tracked": run(*job, f"tracking.uri={uri}"),
                "untracked": run(*job, "tracking=none", f"figure={tmp}/fig.png"),
                "plain": run(sys.executable, "benchmarks/plain_saliency.py", f"{tmp}/plain.png"),
                "import lightning": run(sys.executable, "-c", "import lightning.pytorch"),
                "import torch": run(sys.executable, "-c", "import torch"),
            },
            rounds=3,
        )
    return [
        ("wall time, `python run.py` saliency job, tracked, vs plain script", times["tracked"], times["plain"], "<= 1.5"),
        ("wall time, the same job with tracking=none (figure saved)", times["untracked"], times["plain"], "information"),
        ("`import lightning.pytorch` vs `import torch`", times["import lightning"], times["import torch"], "information"),
        ("`import lightning.pytorch` alone vs plain script (floor of any Lightning job)", times["import lightning"], times["plain"], "information"),
    ]


def main() -> None:
    report("saliency / shared loop", [*loop_step_ratios(), *job_wall_ratios()])


if __name__ == "__main__":
    main()
