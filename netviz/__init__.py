"""netviz: see what a trained image classifier has learned by optimizing its input.

The Python API does everything the command line does::

    import netviz

    model = netviz.load_model("efficientnet_lite0")              # frozen, offline, ImageNet-trained
    images = netviz.load_images("samples", size=model.input_size)
    result = netviz.saliency_maps(model, images)                  # tensors: result.map_predicted, ...
    result.figure().savefig("saliency.png")

    # or a whole job, composed from conf/ exactly as `python run.py ...` would, tracked when asked:
    result = netviz.run(["model=efficientnet_lite0", "tracking=none"])
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public name -> module holding it; imported on first use so that `import netviz` stays light.
_EXPORTS = {
    "NetvizError": "netviz.errors",
    "Classifier": "netviz.models",
    "load_model": "netviz.models",
    "available_models": "netviz.models",
    "ImageSet": "netviz.data",
    "load_images": "netviz.data",
    "Result": "netviz.results",
    "Tracker": "netviz.tracking",
    "InputOptimizer": "netviz.techniques.base",
    "optimize": "netviz.techniques.base",
    "Saliency": "netviz.techniques.saliency",
    "SaliencyResult": "netviz.techniques.saliency",
    "saliency_maps": "netviz.techniques.saliency",
    "attribute": "netviz.techniques.saliency",
    "AttributionResult": "netviz.techniques.saliency",
    "check_data": "netviz.data",
    "register_technique": "netviz.techniques",
    "register_attack": "netviz.techniques.adversarial",
    "evaluate": "netviz.techniques.adversarial",
    "sweep_figure": "netviz.compose",
    "metrics_table": "netviz.compose",
    "find_children": "netviz.runs",
    "ClassVisualization": "netviz.techniques.classviz",
    "ClassVizOptions": "netviz.techniques.classviz",
    "ClassVizResult": "netviz.techniques.classviz",
    "class_visualization": "netviz.techniques.classviz",
    "compose_figure": "netviz.compose",
    "find_runs": "netviz.runs",
    "make_fooling_images": "netviz.techniques.adversarial",
    "AdversarialResult": "netviz.techniques.adversarial",
    "NaiveAttack": "netviz.techniques.adversarial",
    "PGDAttack": "netviz.techniques.adversarial",
    "EOTAttack": "netviz.techniques.adversarial",
    "Ensemble": "netviz.ensemble",
    "TransformDistribution": "netviz.eot",
    "compose": "netviz.api",
    "run": "netviz.api",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from netviz.api import compose, run
    from netviz.data import ImageSet, load_images
    from netviz.errors import NetvizError
    from netviz.models import Classifier, available_models, load_model
    from netviz.results import Result
    from netviz.techniques.base import InputOptimizer, optimize
    from netviz.compose import compose_figure
    from netviz.runs import find_runs
    from netviz.techniques.classviz import ClassVisualization, ClassVizOptions, ClassVizResult, class_visualization
    from netviz.techniques.saliency import AttributionResult, Saliency, SaliencyResult, attribute, saliency_maps
    from netviz.techniques.adversarial import AdversarialResult, EOTAttack, NaiveAttack, PGDAttack, make_fooling_images
    from netviz.ensemble import Ensemble
    from netviz.eot import TransformDistribution
    from netviz.tracking import Tracker


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'netviz' has no attribute {name!r}")
