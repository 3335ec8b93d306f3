"""Attribution from Python: :func:`attribute` for any targets, :func:`saliency_maps` for the report's figures."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from netviz.data import ImageSet
from netviz.errors import NetvizError
from netviz.models import Classifier
from netviz.techniques.base import optimize
from netviz.techniques.saliency.guided import GuidedGradCAM
from netviz.techniques.saliency.loop import PREDICTED, Saliency, default_batch_size
from netviz.techniques.saliency.method import AttributionMethod, make_method
from netviz.techniques.saliency.results import AttributionResult, SaliencyResult


def run_method(
    classifier: Classifier,
    pixels: torch.Tensor,
    targets: torch.Tensor,
    method: AttributionMethod,
    *,
    batch_size: int | None = None,
    seed: int = 0,
    **trainer,
) -> Saliency:
    """Run ``method``'s passes on the shared loop; the finished :class:`Saliency` module (on the CPU)."""
    method.check(classifier)
    trainer.setdefault("progress", False)
    if batch_size is None:
        batch_size = default_batch_size(trainer.get("accelerator", "auto"), pixels.shape[-1])
    if isinstance(method, GuidedGradCAM):
        guided, cam = (run_method(classifier, pixels, targets, part, batch_size=batch_size, seed=seed, **trainer) for part in method.passes)
        guided.attributions = method.combine(guided.attributions, cam.attributions)
        guided.maps = method.to_map(guided.attributions)
        return guided
    module = Saliency(classifier, pixels, targets, method=method, batch_size=batch_size, seed=seed)
    return optimize(module, **trainer).cpu()


def target_indices(classifier: Classifier, targets, count: int) -> torch.Tensor:
    """One class index per image from ``None`` (the predicted class), one class (name or index) for
    all images, or a list of one per image (``-1``: the predicted class)."""
    if targets is None:
        return torch.full((count,), PREDICTED)
    if isinstance(targets, torch.Tensor):
        targets = targets.tolist()
    if isinstance(targets, (str, int)):
        targets = [targets] * count
    targets = list(targets)
    if len(targets) != count:
        raise NetvizError(f"{len(targets)} targets for {count} images; give one target, or one per image")
    return torch.tensor([PREDICTED if t in (PREDICTED, str(PREDICTED)) else classifier.class_index(t) for t in targets])


def attribute(
    classifier: Classifier,
    images: ImageSet | torch.Tensor,
    method: str = "integrated_gradients",
    targets: int | str | Sequence | None = None,
    *,
    batch_size: int | None = None,
    seed: int = 0,
    accelerator: str = "auto",
    devices: int | str = 1,
    **options,
) -> AttributionResult:
    """Attributions of ``images`` for ``targets`` by ``method``, in one batched pass per chunk.

    Args:
        classifier: a frozen model from :func:`netviz.load_model`.
        images: an :class:`~netviz.data.ImageSet`, or pixels ``(N, 3, S, S)`` in [0, 1].
        method: ``gradient``, ``gradient_x_input``, ``smoothgrad``, ``integrated_gradients``,
            ``gradcam``, ``guided_backprop`` or ``guided_gradcam``.
        targets: ``None`` for each image's predicted class, one class (name or index) for all, or one
            per image (``-1``: the predicted one).
        batch_size: model inputs per forward/backward pass (SmoothGrad and IG make ``samples`` or
            ``steps`` inputs per image); ``None``: 4 images of 224 px worth of pixels on a CPU, 64 on a GPU.
        seed: seeds SmoothGrad's noise and the ``noise`` baseline.
        accelerator, devices: where the loop runs (see :func:`netviz.optimize`).
        **options: the method's own (``steps=64, baseline="blur"``, ``samples=16, noise=0.15``,
            ``layer="features.12"``, ...).

    Example:
        >>> import netviz
        >>> model = netviz.load_model("efficientnet_lite0")
        >>> images = netviz.load_images("samples", size=model.input_size)
        >>> result = netviz.attribute(model, images, "integrated_gradients", steps=32)
        >>> result.attributions.shape, result.maps.shape
        (torch.Size([4, 3, 224, 224]), torch.Size([4, 224, 224]))
    """
    chosen = make_method(method, **options)
    pixels, names = (images.pixels, images.names) if isinstance(images, ImageSet) else (images, None)
    if pixels.dim() != 4 or pixels.shape[1] != 3:
        raise NetvizError(f"images of shape {tuple(pixels.shape)}: give pixels (N, 3, S, S) in [0, 1]")
    wanted = target_indices(classifier, targets, len(pixels))
    module = run_method(classifier, pixels, wanted, chosen, batch_size=batch_size, seed=seed, accelerator=accelerator, devices=devices)
    return AttributionResult(
        technique="saliency",
        model=classifier.name,
        sample_names=names or [f"image {i}" for i in range(len(pixels))],
        pixels=pixels,
        targets=module.resolved_targets,
        attributions=module.attributions,
        maps=module.maps,
        # the loop's own logits when it has them; else the pass over the images waits for a reader
        # (the result then holds the module until that read)
        probabilities=module.image_probabilities if module.image_logits is None else module.image_probabilities(),
        method=chosen.name,
        settings=chosen.describe(),
        categories=classifier.categories,
    )


def saliency_maps(
    classifier: Classifier,
    images: ImageSet,
    method: str = "gradient",
    *,
    batch_size: int | None = None,
    seed: int = 0,
    accelerator: str = "auto",
    devices: int | str = 1,
    progress: bool | None = False,
    **options,
) -> SaliencyResult:
    """Maps of every image for its true class and for its predicted class (report Figures 1-2).

    The predicted-class maps of all images come from one run (batched per chunk of ``batch_size``
    model inputs), then the true-class maps of the images the model gets wrong from a second one:
    where the prediction is right, the two maps are the same. Arguments as for :func:`attribute`.

    Example:
        >>> import netviz
        >>> model = netviz.load_model("efficientnet_lite0")
        >>> result = netviz.saliency_maps(model, netviz.load_images("samples", size=model.input_size))
        >>> result.map_predicted.shape
        torch.Size([4, 224, 224])
    """
    chosen = make_method(method, **options)
    run = dict(batch_size=batch_size, seed=seed, accelerator=accelerator, devices=devices, progress=progress)
    predicted_run = run_method(classifier, images.pixels, torch.full((len(images),), PREDICTED), chosen, **run)
    predicted = predicted_run.resolved_targets
    probs = predicted_run.image_probabilities()
    known = images.labels >= 0
    map_true = predicted_run.maps.clone()
    wrong = known & (images.labels != predicted)  # elsewhere the true-class map is the predicted one
    if wrong.any():
        map_true[wrong] = run_method(classifier, images.pixels[wrong], images.labels[wrong], chosen, **run).maps
    prob_true = torch.where(known, probs.gather(1, images.labels.clamp(min=0)[:, None]).squeeze(1), torch.nan)
    return SaliencyResult(
        technique="saliency",
        model=classifier.name,
        sample_names=images.names,
        pixels=images.pixels,
        labels=images.labels,
        predicted=predicted,
        prob_true=prob_true,
        prob_predicted=probs.gather(1, predicted[:, None]).squeeze(1),
        map_true=map_true,
        map_predicted=predicted_run.maps,
        categories=classifier.categories,
        method=chosen.name,
        settings=chosen.describe(),
    )
