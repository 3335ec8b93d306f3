"""Attribution benchmarks: SmoothGrad (16 samples) and Integrated Gradients (32 steps) against Captum.

Same model (efficientnet_lite0, 224 px), same images and targets, one thread, measured interleaved in
the same run. netviz runs each method on the shared loop, one batched forward/backward pass per chunk
of ``batch_size`` model inputs (default on a CPU: 8 at 224 px); Captum's ``NoiseTunnel`` and ``IntegratedGradients`` run
all inputs in one batch. The rows also give how many passes netviz made.
"""

from __future__ import annotations

import torch

from benchmarks.common import interleaved, report
from netviz.data import load_images
from netviz.models import load_model
from netviz.techniques.saliency import attribute

IMAGES = 2
SAMPLES, STEPS = 16, 32


def passes_of(model, run) -> list[int]:
    """The batch size of every forward pass ``run()`` makes through ``model``'s network."""
    sizes: list[int] = []
    handle = model.net.register_forward_pre_hook(lambda _m, inputs: sizes.append(len(inputs[0])))
    try:
        run()
    finally:
        handle.remove()
    return sizes


def attribution_rows() -> list[tuple[str, float, float, str]]:
    from captum.attr import IntegratedGradients, NoiseTunnel, Saliency

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = load_model("efficientnet_lite0")
        pixels = load_images("samples", size=model.input_size).pixels[:IMAGES]
        x = model.normalize(pixels)
        with torch.no_grad():
            targets = model(x).argmax(dim=1).tolist()
        sigma = [0.15 * float(x[i].max() - x[i].min()) for i in range(IMAGES)]

        def captum_smoothgrad():
            # NoiseTunnel takes one noise level per input tensor: one call per image, as netviz's
            # noise level is the image's own range
            tunnel = NoiseTunnel(Saliency(model))
            for i in range(IMAGES):
                tunnel.attribute(x[i : i + 1], nt_type="smoothgrad", nt_samples=SAMPLES, stdevs=sigma[i], target=targets[i], abs=False)

        candidates = {
            "netviz smoothgrad": lambda: attribute(model, pixels, "smoothgrad", targets, samples=SAMPLES, accelerator="cpu"),
            "captum smoothgrad": captum_smoothgrad,
            "netviz ig": lambda: attribute(model, pixels, "integrated_gradients", targets, steps=STEPS, accelerator="cpu"),
            "captum ig": lambda: IntegratedGradients(model).attribute(
                x, baselines=model.normalize(torch.zeros_like(pixels)), target=targets, n_steps=STEPS, method="riemann_middle"
            ),
        }
        passes = {name: passes_of(model, candidates[f"netviz {name}"]) for name in ("smoothgrad", "ig")}
        times = interleaved(candidates, rounds=3)
    finally:
        torch.set_num_threads(threads)
    return [
        (f"SmoothGrad {SAMPLES} samples, {IMAGES} images, 1 thread, vs Captum NoiseTunnel (passes {passes['smoothgrad']})",
         times["netviz smoothgrad"], times["captum smoothgrad"], "<= 1.0"),
        (f"IG {STEPS} steps, {IMAGES} images, 1 thread, vs Captum IntegratedGradients (passes {passes['ig']})",
         times["netviz ig"], times["captum ig"], "<= 1.0"),
    ]


def main() -> None:
    report("attribution (efficientnet_lite0, 224 px)", attribution_rows())


if __name__ == "__main__":
    main()
