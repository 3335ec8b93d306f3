"""Sanity checks by model-parameter randomization (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

A map that explains the model must change when the model's weights are destroyed. *Cascading*
randomization re-initializes the network's blocks from the top (the logits) down, one more block at
each step; *independent* randomization re-initializes one block at a time, the rest trained. After
each step the trained model's map is compared with the randomized model's (:mod:`.similarity`):
Spearman rank correlation of absolute values, SSIM and the Pearson correlation of HOG features.
A method that passes falls towards 0 along the cascade; Adebayo et al. found guided backpropagation
to stay close to 1.

Blocks are the network's children with parameters, a top-level ``Sequential`` or ``ModuleList``
(torchvision's ``features``, EfficientNet's ``_blocks``) standing for its own children. Each block
is re-initialized by its modules' ``reset_parameters`` (PyTorch's default initialization; batch norm
to unit scale and fresh running statistics), seeded per block, on a copy of the model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from netviz.errors import NetvizError
from netviz.evaluation.similarity import hog_pearson, spearman, ssim
from netviz.models import Classifier

MEASURES = {"spearman": lambda a, b: spearman(a.abs(), b.abs()), "ssim": ssim, "hog": hog_pearson}


def randomizable_blocks(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """``[(name, block), ...]`` from the input to the output: the blocks a cascade re-initializes."""
    blocks = []
    for name, child in net.named_children():
        parts = child.named_children() if isinstance(child, (nn.Sequential, nn.ModuleList)) else [("", child)]
        for part, module in parts:
            if any(hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False)) for m in module.modules()):
                blocks.append((f"{name}.{part}" if part else name, module))
    return blocks


def reinitialize(block: nn.Module, seed: int) -> None:
    """Re-initialize every module of ``block`` that has parameters, from ``seed`` (the global RNG is kept)."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for module in block.modules():
            if hasattr(module, "reset_parameters") and any(True for _ in module.parameters(recurse=False)):
                module.reset_parameters()


def top_down_blocks(classifier: Classifier, count: int | None) -> list[str]:
    """The names of the ``count`` top blocks (``None``: all), from the top down; an error if there are none."""
    names = [name for name, _ in randomizable_blocks(classifier.net)][::-1]
    if not names:
        raise NetvizError(f"randomization: model {classifier.name} has no layers with parameters to re-initialize; leave randomization out of saliency.evaluate")
    return names if count is None else names[:count]


def randomized(classifier: Classifier, blocks: list[str], seed: int) -> Classifier:
    """A copy of ``classifier`` with ``blocks`` re-initialized."""
    twin = copy.deepcopy(classifier)
    modules = dict(randomizable_blocks(twin.net))
    for index, name in enumerate(blocks):
        reinitialize(modules[name], seed + index)
    twin.net.requires_grad_(False)
    return twin


@dataclass
class RandomizationOutcome:
    """Similarities ``{measure: (steps, N)}`` after each step, cascading and independent.

    Attributes:
        blocks: the block re-initialized at each step, from the top down.
        cascading, independent: ``{"spearman" | "ssim" | "hog": (steps, N)}``.
        cascade_maps: ``(steps + 1, N, S, S)`` the trained map, then the map after each cascade step.
    """

    blocks: list[str]
    cascading: dict[str, torch.Tensor]
    independent: dict[str, torch.Tensor]
    cascade_maps: torch.Tensor


def model_randomization(
    classifier: Classifier,
    explain: Callable[[Classifier], torch.Tensor],
    maps: torch.Tensor,
    *,
    blocks: int | None = None,
    independent: bool = True,
    seed: int = 0,
) -> RandomizationOutcome:
    """Cascading (and independent) randomization of the ``blocks`` top blocks (``None``: all).

    Args:
        classifier: the trained model; explain: maps ``(N, S, S)`` of a model (the same images and
            targets each time); maps: the trained model's.
    """
    names = top_down_blocks(classifier, blocks)
    cascade_maps = [maps]
    for step in range(len(names)):
        cascade_maps.append(explain(randomized(classifier, names[: step + 1], seed)))
    alone = [explain(randomized(classifier, [name], seed + index)) for index, name in enumerate(names)] if independent else []

    def compare(series: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        return {key: torch.stack([measure(maps, other) for other in series]) for key, measure in MEASURES.items()} if series else {}

    return RandomizationOutcome(names, compare(cascade_maps[1:]), compare(alone), torch.stack(cascade_maps))
