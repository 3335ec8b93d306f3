"""Peak memory of a saliency-like pass (one gradient of the class score per image) over 25 and 200
images, in chunks of ``trainer.batch_size`` (default :func:`netviz.techniques.base.default_batch_size`,
activations under 1 GiB) against one batch of everything (issue #13 section 7).

Each case runs in a fresh process, which reports its peak resident set size (``ru_maxrss``).
efficientnet_lite0 at 224 px; one batch of 200 would need about 33 GB of activations here, so that
case is left out rather than run into the machine's limit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import resource, sys, torch
from netviz.models import load_model
from netviz.techniques.base import chunks, default_batch_size
torch.manual_seed(0)
count, batch = int(sys.argv[1]), sys.argv[2]
model = load_model("efficientnet_lite0")
batch = default_batch_size(model) if batch == "default" else int(batch)
pixels = torch.rand(count, 3, model.input_size, model.input_size)
maps = []
for part in chunks(count, batch):
    x = model.normalize(pixels[part]).requires_grad_(True)
    logits, scores = model.class_scores(x)
    (grad,) = torch.autograd.grad(scores.max(dim=1).values.sum(), x)
    maps.append(grad.abs().amax(dim=1))
print(batch, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def peak_mib(count: int, batch: str) -> tuple[int, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(count), batch], cwd=ROOT, check=True, capture_output=True, text=True)
    size, peak = done.stdout.split()[-2:]
    return int(size), float(peak)


def main() -> None:
    print("\n== peak RSS, saliency-like pass, efficientnet_lite0 224px on cpu")
    print(f"{'images':>7s} {'chunk':>7s} {'peak RSS':>10s}")
    for count, batch in [(25, "default"), (25, "25"), (200, "default")]:
        size, peak = peak_mib(count, batch)
        print(f"{count:7d} {size:7d} {peak:8.0f} MiB")


if __name__ == "__main__":
    main()
