"""``technique=saliency``: a job's ``saliency.*`` options to :func:`attribute` or :func:`saliency_maps`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from omegaconf import OmegaConf

from netviz.data import ImageSet
from netviz.errors import NetvizError, check_int
from netviz.models import Classifier
from netviz.results import Result
from netviz.techniques.saliency.api import attribute, saliency_maps
from netviz.techniques.saliency.method import make_method

TRAINER_KEYS = ("accelerator", "devices", "progress")


@dataclass
class SaliencyConfig:
    """The ``saliency`` section (``conf/technique/saliency.yaml``): the method, the chunk size, and
    every method's options, ``None`` meaning the method's default (see each method's file)."""

    method: str = "gradient"
    batch_size: Optional[int] = None
    samples: Optional[int] = None
    noise: Optional[float] = None
    squared: Optional[bool] = None
    steps: Optional[int] = None
    baseline: Optional[str] = None
    riemann: Optional[str] = None
    layer: Optional[str] = None
    evaluate: list = field(default_factory=list)
    evaluation: dict = field(default_factory=dict)


def saliency_options(section) -> tuple[str, int, dict]:
    """``(method, batch_size, the method's options)`` from a ``saliency`` config section; options left
    ``null`` take the method's defaults, and one the method does not take is an error."""
    options = {k: v for k, v in (OmegaConf.to_container(section, resolve=True) if section is not None else {}).items() if v is not None}
    options.pop("evaluate", None), options.pop("evaluation", None)  # the evaluation's (evaluation_settings)
    method = options.pop("method", "gradient")
    batch_size = options.pop("batch_size", None)
    return method, batch_size, options


def evaluation_settings(section):
    """``(metric names, EvaluationOptions)`` of ``saliency.evaluate`` and ``saliency.evaluation``, checked."""
    from netviz.evaluation import check_metrics, evaluation_options  # it imports the attribution methods

    section = OmegaConf.to_container(section, resolve=True) if section is not None else {}
    return check_metrics(section.get("evaluate")), evaluation_options(section.get("evaluation"))


def check_config(cfg) -> None:
    """Check the ``saliency.*`` options without a model (a one-line error), so that a bad method,
    option or evaluation metric stops the job before the model loads."""
    method, batch_size, options = saliency_options(cfg.get("saliency"))
    make_method(method, **options)
    if batch_size is not None:
        check_int("saliency.batch_size", batch_size, minimum=1)
    metrics, _ = evaluation_settings(cfg.get("saliency"))
    if "localization" in metrics and not (cfg.get("data") or {}).get("masks"):
        raise NetvizError("saliency.evaluate=[localization] needs object masks: give data.masks=DIR (one PNG per image)")


def run_from_config(classifier: Classifier, images: ImageSet, cfg, trainer: dict) -> Result:
    """Maps of ``saliency.method`` for the true and the predicted class (Figures 1-2), or for
    ``target=`` (one class for all images, or a list of one per image) when it is given."""
    method, batch_size, options = saliency_options(cfg.get("saliency"))
    if batch_size is None and cfg.get("trainer") is not None:
        batch_size = cfg.trainer.get("batch_size")  # the job-wide chunk size, unless saliency sets its own
    metrics, evaluation = evaluation_settings(cfg.get("saliency"))
    devices = {k: trainer[k] for k in TRAINER_KEYS[:2] if k in trainer}
    common = dict(batch_size=batch_size, seed=cfg.seed, **devices, **options)
    if cfg.target is None:
        result = saliency_maps(classifier, images, method, progress=trainer.get("progress"), **common)
        targets, maps, attributions = result.predicted, result.map_predicted, None
    else:
        targets = OmegaConf.to_container(cfg.target) if OmegaConf.is_list(cfg.target) else cfg.target
        result = attribute(classifier, images, method, targets, **common)
        targets, maps, attributions = result.targets, result.maps, result.attributions
    if metrics:  # the evaluation scores the maps of the predicted class (or of target=)
        from netviz.evaluation import evaluate

        result.evaluation = evaluate(
            classifier, images.pixels, targets, make_method(method, **options), metrics, evaluation,
            attributions=attributions, maps=maps, masks=images.masks, batch_size=batch_size, seed=cfg.seed, trainer=devices,
        )
        result.history.update(result.evaluation.history())
    return result
