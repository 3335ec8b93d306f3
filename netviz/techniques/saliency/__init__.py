"""Saliency maps and the attribution methods after them, on the shared loop.

``saliency.method=``: ``gradient`` (Simonyan et al. 2014, the report's), ``gradient_x_input``,
``smoothgrad`` (Smilkov et al. 2017), ``integrated_gradients`` (Sundararajan et al. 2017), ``gradcam``
(Selvaraju et al. 2017), ``guided_backprop`` (Springenberg et al. 2015) and ``guided_gradcam``. Each
method is one file stating how it expands an image into model inputs and reduces their gradients
(:mod:`.method`); :mod:`.loop` runs them, one batched forward/backward pass per chunk.
"""

from netviz.techniques.saliency import gradcam, gradient, guided, integrated_gradients, smoothgrad  # noqa: F401 (register)
from netviz.techniques.saliency.api import attribute, saliency_maps
from netviz.techniques.saliency.from_config import SaliencyConfig, check_config, run_from_config
from netviz.techniques.saliency.loop import PREDICTED, Saliency
from netviz.techniques.saliency.method import METHODS, AttributionMethod, make_method
from netviz.techniques.saliency.results import AttributionResult, SaliencyResult

__all__ = [
    "METHODS",
    "PREDICTED",
    "AttributionMethod",
    "AttributionResult",
    "Saliency",
    "SaliencyConfig",
    "SaliencyResult",
    "attribute",
    "check_config",
    "make_method",
    "run_from_config",
    "saliency_maps",
]
