"""Run the chosen evaluation metrics on one run's maps (``saliency.evaluate=[...]``)."""

from __future__ import annotations


import torch

from netviz.evaluation import deletion_insertion, figures, invariance, localization, randomization
from netviz.evaluation.fragility import fragility
from netviz.evaluation.options import EvaluationOptions, check_metrics
from netviz.evaluation.result import EvaluationResult
from netviz.models import Classifier
from netviz.techniques.saliency.integrated_gradients import IntegratedGradients
from netviz.techniques.saliency.loop import default_batch_size
from netviz.techniques.saliency.method import AttributionMethod


def evaluate(
    classifier: Classifier,
    pixels: torch.Tensor,
    targets: torch.Tensor,
    method: AttributionMethod,
    metrics,
    options: EvaluationOptions | None = None,
    *,
    attributions: torch.Tensor | None = None,
    maps: torch.Tensor | None = None,
    masks: torch.Tensor | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    trainer: dict | None = None,
) -> EvaluationResult:
    """Score ``method``'s maps of ``pixels`` ``(N, 3, S, S)`` for ``targets`` ``(N,)`` on ``metrics``.

    ``attributions`` ``(N, 3, S, S)`` and ``maps`` ``(N, S, S)`` are the run's own (computed here when
    not given); ``masks`` ``(N, S, S)`` bool are the objects, for ``localization``. ``batch_size``,
    ``seed`` and ``trainer`` (``accelerator``, ``devices``) are the attribution runs'.

    Example:
        >>> import netviz
        >>> from netviz.evaluation import evaluate
        >>> from netviz.techniques.saliency import make_method
        >>> model = netviz.load_model("efficientnet_lite0")
        >>> images = netviz.load_images("samples", size=model.input_size)
        >>> targets = model.predict_pixels(images.pixels).argmax(dim=1)
        >>> evaluate(model, images.pixels, targets, make_method("gradient"), ["deletion"]).means()["deletion_auc"]
    """
    from netviz.techniques.saliency.api import run_method

    metrics, options, trainer = check_metrics(metrics), options or EvaluationOptions(), dict(trainer or {})
    if "localization" in metrics:
        localization.check_masks(torch.empty(pixels.shape[0], *pixels.shape[2:]), masks)
    run = dict(batch_size=batch_size, seed=seed, **trainer)

    def attribution(model: Classifier, images: torch.Tensor, chosen: AttributionMethod = method):
        return run_method(model, images, targets, chosen, **run)

    if maps is None or (attributions is None and "invariance" in metrics):
        done = attribution(classifier, pixels)
        attributions, maps = done.attributions, done.maps
    result = EvaluationResult()
    # Deletion's chunks: saliency.batch_size, or the attribution pass's default (4 images of 224 px on a CPU).
    chunk = batch_size or default_batch_size(trainer.get("accelerator", "auto"), pixels.shape[-1])
    for mode in ("deletion", "insertion"):
        if mode in metrics:
            curves = deletion_insertion.probability_curves(
                classifier, pixels, maps, targets, mode=mode, steps=options.steps, baseline=options.baseline, batch_size=chunk
            )
            result.curves[mode] = curves
            result.curve_x[mode] = torch.linspace(0, 1, options.steps + 1).tolist()
            result.values[f"{mode}_auc"] = deletion_insertion.area_under_curve(curves)
    if "randomization" in metrics:
        outcome = randomization.model_randomization(
            classifier, lambda model: attribution(model, pixels).maps, maps, blocks=options.blocks, independent=options.independent, seed=seed
        )
        for measure, series in outcome.cascading.items():
            result.values[f"randomization_{measure}"] = series[-1]
            result.curves[f"randomization_{measure}"] = series.T.contiguous()
            result.curve_x[f"randomization_{measure}"] = list(range(1, len(outcome.blocks) + 1))
            result.labels[f"randomization_{measure}"] = outcome.blocks
        for measure, series in outcome.independent.items():
            result.values[f"randomization_independent_{measure}"] = series.mean(dim=0)
        result.pictures.update(figures.cascade_strips(outcome.cascade_maps))
    if "invariance" in metrics:
        shifted = invariance.shifted_model(classifier, options.shift)
        moved = pixels + options.shift / 255.0
        result.values["invariance_difference"] = invariance.normalized_difference(attributions, attribution(shifted, moved).attributions)
        if isinstance(method, IntegratedGradients):
            along = invariance.ShiftedBaselineIG(**{k: getattr(method, k) for k in ("steps", "baseline", "riemann")}, shift=options.shift)
            result.values["invariance_difference_shifted_baseline"] = invariance.normalized_difference(
                attributions, attribution(shifted, moved, along).attributions
            )
    if "fragility" in metrics:
        outcome = fragility(
            classifier, pixels, maps, lambda images: attribution(classifier, images).maps,
            eps=options.eps, attack_steps=options.attack_steps, top_k=options.top_k, seed=seed, trainer=trainer,
        )
        for budget in options.eps:
            key = f"eps{budget:g}"
            result.values[f"fragility_topk_{key}"] = outcome.top_k[budget]
            result.values[f"fragility_topk_random_{key}"] = outcome.top_k_random[budget]
            result.values[f"fragility_spearman_{key}"] = outcome.spearman[budget]
            result.values[f"fragility_centre_shift_{key}"] = outcome.centre_shift[budget]
        result.pictures.update(figures.fragility_strips(pixels, maps, outcome))
    if "localization" in metrics:
        result.values["pointing_game"] = localization.pointing_game(maps, masks)
        result.values["mass_ratio"] = localization.mass_ratio(maps, masks)
    if result.curves:
        result.pictures.update(figures.curve_plots(result))
    return result


__all__ = ["evaluate"]
