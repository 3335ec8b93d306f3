"""The attack registry: a method name -> the class that runs it on the shared loop.

Adding an attack (MI-FGSM, C&W, ...) is one class in one file::

    @register_attack("mifgsm")
    class MomentumAttack(PGDAttack):
        @classmethod
        def build(cls, classifier, pixels, classes, options): ...

``adversarial.method=torchattacks:<Class>`` needs no class here: :mod:`.external` runs torchattacks'
own implementation.
"""

from __future__ import annotations

from netviz.errors import NetvizError, did_you_mean

ATTACKS: dict[str, type] = {}
EXTERNAL_PREFIX = "torchattacks:"


def register_attack(name: str):
    """Class decorator: make ``adversarial.method=<name>`` run the decorated attack class."""

    def register(cls: type) -> type:
        ATTACKS[name] = cls
        cls.method = name
        return cls

    return register


def attack_class(method: str) -> type:
    """The registered class of ``method``, or a one-line error naming the methods there are."""
    _load_builtins()
    if method not in ATTACKS:
        choices = [*ATTACKS, f"{EXTERNAL_PREFIX}<Class>"]
        raise NetvizError(
            f"unknown adversarial.method {method!r}{did_you_mean(method, ATTACKS)}; choose one of {', '.join(choices)}"
        )
    return ATTACKS[method]


def _load_builtins() -> None:
    """Import the built-in attacks, each of which registers itself."""
    from netviz.techniques.adversarial import eot, fgsm, naive, pgd  # noqa: F401
