"""Adversarial examples: the smallest change to an image that makes the model see another class.

The report's method (``naive``, the CS231n/RDFIA exercise after Szegedy et al. 2014) and the remedies
for its weaknesses (report Q7), each one registered class in one file:

- ``naive`` (:mod:`.naive`): normalized gradient ascent on the target score until fooled;
- ``fgsm`` (:mod:`.fgsm`): Goodfellow et al. (2015), one signed step of the whole budget;
- ``pgd`` (:mod:`.pgd`): Madry et al. (2018), projected steps in an L-infinity or L2 ball (:mod:`.budgets`);
- ``eot`` (:mod:`.eot`): Athalye et al. (2018), PGD averaged over random transformations;
- ``torchattacks:<Class>`` or any callable (:mod:`.external`): attacks netviz does not write itself.

Around them: the pairs (:mod:`.pairs`), the options and their defaults (:mod:`.options`), the checks
of any adversarial images (:mod:`.evaluation`: transfer, PNG round trip, EOT success), the result
(:mod:`.result`) and its figure (:mod:`.figure`), robust accuracy over a dataset (:mod:`.robust`),
and the config plumbing (:mod:`.config`). All ``eps`` and step sizes are in 0-255 pixel units.
"""

from netviz.techniques.adversarial.attack import AdversarialAttack, is_fooled
from netviz.techniques.adversarial.config import run_from_config
from netviz.techniques.adversarial.eot import EOTAttack
from netviz.techniques.adversarial.evaluation import Evaluation, evaluate, png_round_trip, predict
from netviz.techniques.adversarial.external import PixelModel
from netviz.techniques.adversarial.fgsm import FGSMAttack
from netviz.techniques.adversarial.make import make_fooling_images
from netviz.techniques.adversarial.naive import NaiveAttack
from netviz.techniques.adversarial.options import AttackOptions
from netviz.techniques.adversarial.pairs import check_targets
from netviz.techniques.adversarial.pgd import PGDAttack
from netviz.techniques.adversarial.registry import ATTACKS, register_attack
from netviz.techniques.adversarial.result import AdversarialResult
from netviz.techniques.adversarial.robust import RobustAccuracyResult, robust_accuracy

__all__ = [
    "ATTACKS", "AdversarialAttack", "AdversarialResult", "AttackOptions", "EOTAttack", "Evaluation", "FGSMAttack",
    "NaiveAttack", "PGDAttack", "PixelModel", "RobustAccuracyResult", "check_targets", "evaluate", "is_fooled",
    "make_fooling_images", "png_round_trip", "predict", "register_attack", "robust_accuracy", "run_from_config",
]
