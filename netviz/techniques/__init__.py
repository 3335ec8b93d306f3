"""Techniques: each is one file stating its objective, update and stopping rule on the shared loop.

``get_technique(name)`` returns the function that runs a technique from a job's config:
``run(classifier, images, cfg, trainer) -> Result``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from netviz.errors import NetvizError, did_you_mean

# name -> "module:function" running it from a config; imported only when used.
TECHNIQUES = {
    "saliency": "netviz.techniques.saliency:run_from_config",
    "adversarial": "netviz.techniques.adversarial:run_from_config",
    "classviz": "netviz.techniques.classviz:run_from_config",
}


def check_technique(name: str) -> None:
    """A one-line error unless ``name`` is a technique (cheap: imports none of them)."""
    if name not in TECHNIQUES:
        raise NetvizError(f"unknown technique {name!r}{did_you_mean(name, TECHNIQUES)}; choose one of {', '.join(TECHNIQUES)}")


def get_technique(name: str) -> Callable:
    """The config runner of technique ``name``."""
    check_technique(name)
    module, function = TECHNIQUES[name].split(":")
    return getattr(import_module(module), function)
