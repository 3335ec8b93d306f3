"""``technique=saliency``: a job's ``saliency.*`` options to :func:`attribute` or :func:`saliency_maps`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from omegaconf import OmegaConf

from netviz.data import ImageSet
from netviz.errors import check_int
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


def saliency_options(section) -> tuple[str, int, dict]:
    """``(method, batch_size, the method's options)`` from a ``saliency`` config section; options left
    ``null`` take the method's defaults, and one the method does not take is an error."""
    options = {k: v for k, v in (OmegaConf.to_container(section, resolve=True) if section is not None else {}).items() if v is not None}
    method = options.pop("method", "gradient")
    batch_size = options.pop("batch_size", None)
    return method, batch_size, options


def check_config(cfg) -> None:
    """Check the ``saliency.*`` options without a model (a one-line error), so that a bad method or
    option stops the job before the model loads."""
    method, batch_size, options = saliency_options(cfg.get("saliency"))
    make_method(method, **options)
    if batch_size is not None:
        check_int("saliency.batch_size", batch_size, minimum=1)


def run_from_config(classifier: Classifier, images: ImageSet, cfg, trainer: dict) -> Result:
    """Maps of ``saliency.method`` for the true and the predicted class (Figures 1-2), or for
    ``target=`` (one class for all images, or a list of one per image) when it is given."""
    method, batch_size, options = saliency_options(cfg.get("saliency"))
    if batch_size is None and cfg.get("trainer") is not None:
        batch_size = cfg.trainer.get("batch_size")  # the job-wide chunk size, unless saliency sets its own
    common = dict(batch_size=batch_size, seed=cfg.seed, **{k: trainer[k] for k in TRAINER_KEYS[:2] if k in trainer}, **options)
    if cfg.target is None:
        return saliency_maps(classifier, images, method, progress=trainer.get("progress"), **common)
    targets = OmegaConf.to_container(cfg.target) if OmegaConf.is_list(cfg.target) else cfg.target
    return attribute(classifier, images, method, targets, **common)
