"""Attribution benchmarks: SmoothGrad (16 samples) and Integrated Gradients (32 steps) against Captum.

Same model (efficientnet_lite0, 224 px), same images and targets, one thread, measured interleaved in
the same run. netviz runs each method on the shared loop, one batched forward/backward pass per chunk
of ``batch_size`` model inputs (default on a CPU: 4 at 224 px; with every target given, no pass over
the images themselves, whose probabilities wait until a result reads them); Captum runs all inputs
in one batch by default, and in netviz's chunks with ``nt_samples_batch_size`` / ``internal_batch_size``.

Captum is given the bare network (``model.net``, the images already normalized), as a Captum user
holds it: it sees the default memory layout, where netviz's Classifier feeds the network channels-last
on a CPU (:func:`netviz.models.channels_last_on_cpu`). The last rows give Captum netviz's Classifier
itself, so that it shares that layout: what is left between the two is the loops.
"""

from __future__ import annotations

import torch

from benchmarks.common import interleaved, one_thread, report
from netviz.data import load_images
from netviz.models import load_model
from netviz.techniques.saliency import attribute
from netviz.techniques.saliency.loop import default_batch_size

IMAGES = 2
SAMPLES, STEPS = 16, 32
CHUNK = default_batch_size("cpu", 224)  # netviz's default pass at 224 px on a CPU


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

    with one_thread():
        model = load_model("efficientnet_lite0")
        pixels = load_images("samples", size=model.input_size).pixels[:IMAGES]
        x = model.normalize(pixels)
        with torch.no_grad():
            targets = model(x).argmax(dim=1).tolist()
        sigma = [0.15 * float(x[i].max() - x[i].min()) for i in range(IMAGES)]

        def captum_smoothgrad(batch, network=model.net):
            # NoiseTunnel takes one noise level per input tensor: one call per image, as netviz's
            # noise level is the image's own range
            def run():
                tunnel = NoiseTunnel(Saliency(network))
                for i in range(IMAGES):
                    tunnel.attribute(
                        x[i : i + 1], nt_type="smoothgrad", nt_samples=SAMPLES, nt_samples_batch_size=batch,
                        stdevs=sigma[i], target=targets[i], abs=False,
                    )

            return run

        def captum_ig(batch, network=model.net):
            black = model.normalize(torch.zeros_like(pixels))
            return lambda: IntegratedGradients(network).attribute(
                x, baselines=black, target=targets, n_steps=STEPS, method="riemann_middle", internal_batch_size=batch
            )

        candidates = {
            "netviz smoothgrad": lambda: attribute(model, pixels, "smoothgrad", targets, samples=SAMPLES, accelerator="cpu"),
            "captum smoothgrad": captum_smoothgrad(None),
            "captum smoothgrad chunked": captum_smoothgrad(CHUNK),
            "captum smoothgrad chunked, classifier": captum_smoothgrad(CHUNK, model),
            "netviz ig": lambda: attribute(model, pixels, "integrated_gradients", targets, steps=STEPS, accelerator="cpu"),
            "captum ig": captum_ig(None),
            "captum ig chunked": captum_ig(CHUNK),
            "captum ig chunked, classifier": captum_ig(CHUNK, model),
        }
        passes = {name: passes_of(model, candidates[f"netviz {name}"]) for name in ("smoothgrad", "ig")}
        times = interleaved(candidates, rounds=5)
    return [
        (f"SmoothGrad {SAMPLES} samples x {IMAGES} images vs Captum NoiseTunnel, all in one batch",
         times["netviz smoothgrad"], times["captum smoothgrad"], "<= 1.0"),
        (f"  the same vs NoiseTunnel in batches of {CHUNK} (netviz's passes: {passes['smoothgrad']})",
         times["netviz smoothgrad"], times["captum smoothgrad chunked"], "<= 1.0"),
        (f"IG {STEPS} steps x {IMAGES} images vs Captum IntegratedGradients, all in one batch",
         times["netviz ig"], times["captum ig"], "<= 1.0"),
        (f"  the same vs IntegratedGradients in batches of {CHUNK} (netviz's passes: {passes['ig']})",
         times["netviz ig"], times["captum ig chunked"], "<= 1.0"),
        ("SmoothGrad, Captum given netviz's Classifier (channels-last too), the same batches",
         times["netviz smoothgrad"], times["captum smoothgrad chunked, classifier"], "information"),
        ("IG, Captum given netviz's Classifier (channels-last too), the same batches",
         times["netviz ig"], times["captum ig chunked, classifier"], "information"),
    ]


def main() -> None:
    report("attribution (efficientnet_lite0, 224 px)", attribution_rows())


if __name__ == "__main__":
    main()
