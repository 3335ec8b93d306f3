"""Which (image, class) pairs an attack makes, and their names.

Targeted: every image with every target (image-major), or one target per image chosen as
``target=random`` (a seeded class other than the image's own) or ``target=least_likely`` (the class the
model finds least likely for the clean image, Kurakin et al. 2017). Untargeted: one pair per image,
leaving the model's prediction or the image's label (``untargeted_from``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from netviz.data import ImageSet
from netviz.errors import NetvizError
from netviz.models import Classifier
from netviz.naming import pair_name, unique_names

PER_IMAGE_TARGETS = ("random", "least_likely")


@dataclass
class Pairs:
    """``image`` ``(P,)`` the source image of each pair, ``classes`` ``(P,)`` its class, ``names`` its name."""

    image: torch.Tensor
    classes: torch.Tensor
    names: list[str]


def target_list(targets) -> list:
    """``targets`` (one name/index, a list, or ``None``) as a list."""
    if targets is None or isinstance(targets, (str, int)):
        return [] if targets is None else [targets]
    return list(targets)


def check_targets(classifier: Classifier, targets, targeted: bool) -> list[int] | str:
    """Class indices of the targets, or ``"random"``/``"least_likely"``; one-line errors before any work."""
    targets = target_list(targets)
    if not targeted:
        if targets:
            raise NetvizError("an untargeted attack (adversarial.targeted=false) takes no target; set target=null")
        return []
    if not targets:
        raise NetvizError(
            "technique=adversarial needs target=<class name or index>, a list (target=[stingray,mushroom]), "
            "target=random or target=least_likely"
        )
    if len(targets) == 1 and str(targets[0]) in PER_IMAGE_TARGETS:
        return str(targets[0])
    return classifier.class_indices(targets)


def needs_clean_logits(images: ImageSet, targets: list[int] | str, *, targeted: bool, untargeted_from: str) -> bool:
    """Whether choosing the pairs' classes needs the model's clean predictions (else the attack's first
    step can provide them)."""
    if not targeted:
        return untargeted_from == "prediction"
    if targets == "random":
        return bool((images.labels < 0).any())
    return targets == "least_likely"


def plan_pairs(
    classifier: Classifier,
    images: ImageSet,
    targets: list[int] | str,
    clean_logits: torch.Tensor | None,
    *,
    targeted: bool,
    untargeted_from: str = "prediction",
    seed: int = 0,
) -> Pairs:
    """The pairs for ``images`` with targets from :func:`check_targets` and the clean logits ``(N, C)``
    (``None`` where :func:`needs_clean_logits` says they are not needed)."""
    n = len(images)
    predicted = None if clean_logits is None else clean_logits.argmax(1)
    if not targeted:
        if untargeted_from == "label":
            if (images.labels < 0).any():
                missing = [images.names[i] for i in range(n) if images.labels[i] < 0]
                raise NetvizError(
                    f"adversarial.untargeted_from=label needs a label for every image; without one: {', '.join(missing[:3])}"
                    f"{' ...' if len(missing) > 3 else ''} (give data.labels=, or use untargeted_from=prediction)"
                )
            classes = images.labels.clone()
        else:
            classes = predicted
        image = torch.arange(n)
        names = [pair_name(images.names[i], "not " + classifier.class_name(int(classes[i]))) for i in range(n)]
        return Pairs(image, classes, unique_names(names))
    if isinstance(targets, str):
        image = torch.arange(n)
        if targets == "least_likely":
            classes = clean_logits.argmin(1)
        else:  # random: any class but the image's own (its label, else the prediction)
            own = images.labels if predicted is None else torch.where(images.labels >= 0, images.labels, predicted)
            draw = torch.randint(0, len(classifier.categories) - 1, (n,), generator=torch.Generator().manual_seed(seed))
            classes = draw + (draw >= own).long()
    else:
        image = torch.arange(n).repeat_interleave(len(targets))
        classes = torch.tensor(targets * n, dtype=torch.int64)
    names = [pair_name(images.names[int(i)], classifier.class_name(int(c))) for i, c in zip(image, classes)]
    return Pairs(image, classes, unique_names(names))
