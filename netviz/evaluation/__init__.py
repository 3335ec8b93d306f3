"""Saliency evaluation: the report's Q2 limits of saliency maps as numbers (``saliency.evaluate=[...]``).

One module per metric: :mod:`.deletion_insertion` (faithfulness, Petsiuk et al. 2018),
:mod:`.randomization` (sanity checks, Adebayo et al. 2018), :mod:`.invariance` (Kindermans et al.
2017), :mod:`.fragility` (Ghorbani et al. 2019) and :mod:`.localization` (pointing game, mass ratio).
:func:`evaluate` runs the chosen ones on a run's maps; :mod:`.figures` draws them.
"""

from netviz.evaluation.evaluate import evaluate
from netviz.evaluation.options import METRICS, EvaluationOptions, check_metrics, evaluation_options
from netviz.evaluation.result import EvaluationResult

__all__ = ["METRICS", "EvaluationOptions", "EvaluationResult", "check_metrics", "evaluate", "evaluation_options"]
