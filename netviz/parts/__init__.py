"""The parts an input-optimization loop is built from, one small module per kind (Lucent's decomposition).

- :mod:`~netviz.parts.parameterization`: what is optimized and how it becomes the model's input;
- :mod:`~netviz.parts.objectives`: the per-sample value to maximize, composable with ``+ - *``;
- :mod:`~netviz.parts.transforms`: random transforms before the forward pass (jitter, EOT, noise),
  which may expand the batch ``k``-fold; the objective is averaged back per sample;
- :mod:`~netviz.parts.steps`: how a gradient moves the input, and the post-steps (clamp, blur, decay);
- :mod:`~netviz.parts.stop`: per-sample stopping rules;
- :mod:`~netviz.parts.progress`: the terminal's view of a running loop.

:class:`netviz.techniques.base.InputOptimizer` runs them in one Lightning loop.
"""

from netviz.parts.objectives import (
    ClassScore,
    Evaluation,
    L2Norm,
    LogProbability,
    Objective,
    SquaredL2,
    TotalVariation,
    total_variation,
)
from netviz.parts.parameterization import NormalizedInput, Parameterization, PixelInput, parameterization_named
from netviz.parts.steps import (
    BlurEvery,
    Clamp,
    Decay,
    NormalizedAscent,
    PostStep,
    ProjectedAscent,
    StepRule,
    TorchOptimizer,
    unit_gradient,
)
from netviz.parts.stop import StopRule, WhenPredicted
from netviz.parts.transforms import GaussianNoise, InputTransform, RandomTransforms, RollJitter, Transforms

__all__ = [
    "BlurEvery", "Clamp", "ClassScore", "Decay", "Evaluation", "GaussianNoise", "InputTransform", "L2Norm",
    "LogProbability", "NormalizedAscent", "NormalizedInput", "Objective", "Parameterization", "PixelInput",
    "PostStep", "ProjectedAscent", "RandomTransforms", "RollJitter", "SquaredL2", "StepRule", "StopRule",
    "TorchOptimizer", "TotalVariation", "Transforms", "WhenPredicted", "parameterization_named", "total_variation",
    "unit_gradient",
]
