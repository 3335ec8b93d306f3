"""Attacks netviz does not write itself: any torchattacks class, or any function of pixels.

``adversarial.method=torchattacks:CW`` (any class of torchattacks, Kim 2020, with keyword arguments
from ``adversarial.attack_args``) runs torchattacks' own implementation; from Python, any callable
``attack(model, pixels, labels) -> pixels`` plugs into the same seam. netviz's evaluation, PNG check,
transfer, figure and tracking then apply to its output as to netviz's own attacks.

torchattacks is an optional extra: its old ``requests`` pin would break MLflow, so install it with
``pip install --no-deps torchattacks`` (its imports need nothing else); it is imported only when used.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import nn

from netviz.errors import NetvizError, did_you_mean
from netviz.models import Classifier
from netviz.techniques.adversarial.registry import EXTERNAL_PREFIX

Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


class PixelModel(nn.Module):
    """A classifier seen as torchattacks expects a model: pixels in [0, 1] ``(N, 3, S, S)`` -> logits."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.classifier.normalize(pixels))


def is_external(method: str) -> bool:
    return method.startswith(EXTERNAL_PREFIX)


def torchattacks_class(method: str) -> type:
    """The torchattacks class named by ``torchattacks:<Class>``, or a one-line error."""
    try:
        import torchattacks
    except ImportError:
        raise NetvizError(
            f"adversarial.method={method} needs torchattacks: pip install --no-deps torchattacks "
            "(--no-deps: its old requests pin would break MLflow)"
        ) from None
    from torchattacks.attack import Attack as TorchAttack

    name = method[len(EXTERNAL_PREFIX):]
    classes = [n for n, v in vars(torchattacks).items() if isinstance(v, type) and issubclass(v, TorchAttack) and v is not TorchAttack]
    if name not in classes:
        raise NetvizError(f"torchattacks has no attack {name!r}{did_you_mean(name, classes)}; e.g. torchattacks:PGD, torchattacks:CW")
    return getattr(torchattacks, name)


def torchattacks_attack(method: str, attack_args: dict, *, eps_255: float, targeted: bool) -> Attack:
    """A callable running ``torchattacks:<Class>`` with ``attack_args`` (torchattacks' units; ``eps`` is
    netviz's ``eps / 255`` where the class takes one and ``attack_args`` does not set it)."""
    cls = torchattacks_class(method)
    args = dict(attack_args)
    if "eps" in inspect.signature(cls.__init__).parameters and "eps" not in args:
        args["eps"] = eps_255 / 255

    def attack(model: nn.Module, pixels: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        try:
            instance = cls(model, **args)
        except TypeError as error:
            raise NetvizError(f"adversarial.attack_args for {method}: {error}") from None
        if targeted:
            instance.set_mode_targeted_by_label(quiet=True)
        return instance(pixels, labels)

    attack.__name__ = method
    return attack


def run_external(attack: Attack, classifier: Classifier, pixels: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """``attack(model, pixels, classes)`` on the classifier's device; the adversarial pixels on the CPU."""
    device = classifier.device
    adversarial = attack(PixelModel(classifier), pixels.to(device), classes.to(device))
    if not isinstance(adversarial, torch.Tensor) or adversarial.shape != pixels.shape:
        raise NetvizError(f"the attack {getattr(attack, '__name__', attack)!r} must return pixels of shape {tuple(pixels.shape)}")
    return adversarial.detach().float().cpu()
