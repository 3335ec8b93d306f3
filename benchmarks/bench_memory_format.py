"""The Classifier's channels-last input on a CPU (:func:`netviz.models.channels_last_on_cpu`) against the
same network fed the default (contiguous) layout, as a plain PyTorch loop feeds it.

One forward and backward pass to the input (the step of every netviz loop), 1 thread, interleaved,
time per input at batches of 1 and 4. Models: efficientnet_lite0 (its real weights), SqueezeNet 1.1
and ResNet-18 (random weights: the layout's cost does not depend on the values). Below 1 is faster.
"""

from __future__ import annotations

import torch

from benchmarks.common import interleaved, one_thread, report
from netviz.models import load_model

MODELS = (("efficientnet_lite0", "DEFAULT"), ("squeezenet1_1", None), ("resnet18", None))
SIZES = (1, 4)


def memory_format_rows() -> list[tuple[str, float, float, str]]:
    rows = []
    with one_thread():
        for name, weights in MODELS:
            model = load_model(name, weights=weights)
            for size in SIZES:
                x = torch.randn(size, 3, model.input_size, model.input_size, generator=torch.Generator().manual_seed(0))

                def step(forward, x=x):
                    def run():
                        leaf = x.clone().requires_grad_()
                        torch.autograd.grad(forward(leaf)[:, 1].sum(), leaf)

                    return run

                times = interleaved({"netviz": step(model), "default": step(model.net)}, rounds=5)
                rows.append((f"{name}, batch {size}: channels-last (netviz's Classifier) vs default layout",
                             times["netviz"] / size, times["default"] / size, "< 1 is faster"))
    return rows


def main() -> None:
    report("input memory layout on a CPU (forward + backward per input, 1 thread)", memory_format_rows())


if __name__ == "__main__":
    main()
