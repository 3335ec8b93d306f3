"""``technique=adversarial``: the options of ``conf/technique/adversarial.yaml`` to one attack or report.

Every value is checked (:class:`~.options.AttackOptions`, the method, the targets) before any other
model is loaded.
"""

from __future__ import annotations

from pathlib import Path

from netviz.eot import TransformDistribution
from netviz.errors import NetvizError, did_you_mean
from netviz.models import Classifier
from netviz.data import ImageSet
from netviz.techniques.adversarial.external import is_external, torchattacks_class
from netviz.techniques.adversarial.options import AttackOptions, attack_options
from netviz.techniques.adversarial.pairs import check_targets
from netviz.techniques.adversarial.registry import attack_class

REPORTS = ("examples", "robust_accuracy")
DEFAULT_BATCH_SIZE = 32  # images per attack of a robust-accuracy report, unless trainer.batch_size says
SECTION = (
    "method", "norm", "targeted", "untargeted_from", "eps", "step_size", "random_start", "clamp", "png_check",
    "attack_args", "report", "resume_from", "eot", "ensemble", "eval_models",
)
EOT_ONLY = ("samples", "eval_samples", "compare_naive")


def settings_from_config(cfg) -> tuple[str, AttackOptions, dict]:
    """``(method, the attack's options, the section's other options)`` from a job's config, checked."""
    from omegaconf import OmegaConf

    section = OmegaConf.to_container(cfg.adversarial, resolve=True)
    unknown = [key for key in section if key not in SECTION]
    if unknown:
        raise NetvizError(f"unknown option adversarial.{unknown[0]}{did_you_mean(unknown[0], SECTION)}; the options are {', '.join(SECTION)}")
    eot = dict(section.get("eot") or {})
    eot_settings = {f"eot_{key}": eot.pop(key) for key in EOT_ONLY if key in eot}
    try:
        distribution = TransformDistribution(**eot)
    except TypeError as error:
        raise NetvizError(f"adversarial.eot: {error}".replace("TransformDistribution.__init__() ", "")) from None
    settings = {
        "iterations": cfg.iterations, "lr": cfg.lr, "seed": cfg.seed, "log_every": cfg.trainer.log_every,
        **{key: section[key] for key in ("eps", "step_size", "norm", "random_start", "clamp", "targeted", "untargeted_from", "png_check")},
        "attack_args": section.get("attack_args"),
        "eot": distribution,
        **eot_settings,
    }
    options = attack_options(settings)  # every value checked here, once, before any model is loaded
    method = section["method"]
    torchattacks_class(method) if is_external(method) else attack_class(method)
    if section["report"] not in REPORTS:
        raise NetvizError(f"adversarial.report={section['report']!r} is not one of {', '.join(REPORTS)}")
    return method, options, section


def run_from_config(classifier: Classifier, images: ImageSet, cfg, trainer: dict):
    """Run the job's attack (``report=examples``) or robust-accuracy report."""
    from omegaconf import OmegaConf

    from netviz.ensemble import load_models
    from netviz.techniques.adversarial.make import make_fooling_images
    from netviz.techniques.adversarial.robust import robust_accuracy

    method, options, section = settings_from_config(cfg)
    target = OmegaConf.to_container(cfg, resolve=True)["target"]
    pretrained = cfg.model.weights is not None
    load = lambda names: load_models(names or [], pretrained=pretrained, score=cfg.model.score)  # noqa: E731
    if section["report"] == "robust_accuracy":
        if target is not None:
            raise NetvizError("adversarial.report=robust_accuracy leaves each image's label; set target=null")
        batch_size = cfg.trainer.get("batch_size") or DEFAULT_BATCH_SIZE
        progress = section["resume_from"] or default_progress_file()
        return robust_accuracy(classifier, images, method=method, batch_size=batch_size, progress_file=progress,
                               ensemble=load(section["ensemble"]), options=options, **trainer)
    targets = check_targets(classifier, target, options.targeted)
    return make_fooling_images(
        classifier, images, targets, method=method, ensemble=load(section["ensemble"]),
        eval_models=load(section["eval_models"]), options=options, **trainer,
    )


def default_progress_file() -> Path | None:
    """``<the Hydra job's output folder>/robust_accuracy.json``; ``None`` outside Hydra (no resuming)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return Path(HydraConfig.get().runtime.output_dir) / "robust_accuracy.json"
