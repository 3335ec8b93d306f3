"""Several classifiers seen as one: the ensemble attack of Liu et al. (2017).

Liu, Chen, Liu and Song (2017), "Delving into Transferable Adversarial Examples and Black-box
Attacks": an adversarial image optimized against the average of several models' outputs transfers to
unseen models far more often than one made against a single model. Each member normalizes the image
its own way, so the ensemble's input space is plain pixels in [0, 1]: its ``normalize`` is the
identity, and any attack written against a :class:`~netviz.models.Classifier` runs on it unchanged.

Members may have different input sizes (EfficientNet-Lite0/1/2: 224, 240, 260 px). The attack stays
in pixel space at the ensemble's size (the first member's); each member sees the image resized
(antialiased bilinear, differentiable, so the gradient flows back through the resize) and
center-cropped to its own size, as :func:`netviz.data.load_images` would bring a photo to it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from netviz.errors import NetvizError
from netviz.models import Classifier, load_model


class Ensemble(Classifier):
    """A frozen classifier whose logits and scores are the average of its members' (Liu et al. 2017).

    Args:
        members: two or more classifiers over the same classes; each sees the pixels resized to its
            own input size and normalized its own way. The ensemble takes images at the first
            member's input size (any size works: each member fits them to its own).

    Example:
        >>> ensemble = Ensemble([load_model("efficientnet_lite0"), load_model("resnet18", weights=None)])
        >>> ensemble.name
        'efficientnet_lite0+resnet18'
    """

    def __init__(self, members: Sequence[Classifier]) -> None:
        members = list(members)
        if not members:
            raise NetvizError("an ensemble needs at least one model")
        sizes = {len(m.categories) for m in members}
        if len(sizes) != 1:
            names = ", ".join(f"{m.name} ({len(m.categories)})" for m in members)
            raise NetvizError(f"the ensemble's models must share their classes; they have {names}")
        super().__init__(
            nn.ModuleList(members),
            name="+".join(m.name for m in members),
            categories=members[0].categories,
            mean=(0.0, 0.0, 0.0),
            std=(1.0, 1.0, 1.0),
            input_size=members[0].input_size,
        )
        self.members = self.net

    def fit_to_input(self, pixels: torch.Tensor) -> torch.Tensor:
        """The pixels unchanged: each member fits them to its own input size."""
        return pixels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The members' average logits ``(N, C)`` of pixels ``x``."""
        return self.class_scores(x)[0]

    def class_scores(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The members' average ``(logits, scores)``, each member scoring its own way (``model.score``)."""
        outputs = [member.class_scores(member.normalize(member.fit_to_input(x))) for member in self.members]
        logits = torch.stack([o[0] for o in outputs]).mean(dim=0)
        scores = torch.stack([o[1] for o in outputs]).mean(dim=0)
        return logits, scores


def load_models(names: Sequence[str], *, pretrained: bool = True, score: str = "logits") -> list[Classifier]:
    """Load classifiers by name, for an ensemble or for transfer evaluation.

    Args:
        names: model names as ``model=`` takes them.
        pretrained: load each model's default pretrained weights (``False``: random networks, for smoke
            tests without downloaded weights).
        score: ``model.score`` for every model.

    Raises:
        NetvizError: naming the model that cannot be loaded (unknown name, missing weights).
    """
    models = []
    for name in names:
        try:
            models.append(load_model(str(name), "DEFAULT" if pretrained else None, score))
        except NetvizError as error:
            raise NetvizError(f"cannot load model {name!r}: {error}") from error
    return models
