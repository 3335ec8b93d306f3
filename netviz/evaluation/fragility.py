"""Fragility of a map to imperceptible input changes (Ghorbani, Abid and Zou 2019, "Interpretation of
Neural Networks is Fragile").

The top-k attack: a PGD ascent on the image, inside an L-infinity ball of ``eps`` (0-255 pixel units),
that moves the saliency map away from the ``top_k`` share of pixels the map of the clean image ranks
highest, while the model keeps its prediction. It runs on the shared loop as parts: the pixels
(:class:`~netviz.parts.PixelInput`), the objective ``-TopKShare + keep_class * LogProbability``
(the share of the gradient map's mass left in the original top-k region, against the predicted
class's log-probability), a signed projected step (:class:`~netviz.parts.ProjectedAscent`) and a
clamp to valid pixels (:class:`~netviz.parts.Clamp`). The map the attack differentiates is the
gradient's, by double backpropagation; as in the paper, ReLUs become softplus (``beta``) during the
attack only, since a ReLU network's gradient map has zero derivative almost everywhere. An image
whose prediction changed anyway is pulled back towards the clean one (its perturbation halved, at
most ``BACKTRACK`` times, else dropped), so every returned image keeps its class.

The configured method's maps of the clean and the attacked images are then compared: the share of
the top-k region kept (top-k intersection), the Spearman rank correlation, and the shift of the map's
centre of mass, in pixels. The same top-k intersection under random signed noise of the same budget
(seeded, class kept the same way) says how much of the change the attack itself makes (Ghorbani et
al.'s random-perturbation control).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from netviz.errors import NetvizError, check_int
from netviz.evaluation.similarity import spearman
from netviz.models import Classifier
from netviz.parts import Clamp, LogProbability, Objective, PixelInput, ProjectedAscent
from netviz.techniques.base import InputOptimizer, optimize

BACKTRACK = 6


def check_options(eps: list, attack_steps: int, top_k: float) -> None:
    """A one-line error for a bad budget list, step count or top-k share (before any pass)."""
    if not eps or any(not isinstance(e, (int, float)) or isinstance(e, bool) or not 0 < e <= 255 for e in eps):
        raise NetvizError(f"saliency.evaluation.eps={list(eps)}: give budgets in 0-255 pixel units, each in (0, 255]")
    check_int("saliency.evaluation.attack_steps", attack_steps, minimum=1)
    if not 0 < top_k < 1:
        raise NetvizError(f"saliency.evaluation.top_k={top_k}: give the share of pixels of the top-k region, in (0, 1)")


def top_k_region(maps: torch.Tensor, share: float) -> torch.Tensor:
    """``(N, S, S)`` bool: the ``share`` of each map's pixels with the largest values."""
    flat = maps.flatten(1)
    count = max(1, round(share * flat.shape[1]))
    region = torch.zeros_like(flat, dtype=torch.bool)
    region.scatter_(1, flat.topk(count, dim=1).indices, True)
    return region.view_as(maps)


def centre_of_mass(maps: torch.Tensor) -> torch.Tensor:
    """``(N, 2)`` the (row, column) centre of mass of non-negative maps ``(N, S, S)``, in pixels."""
    weights = maps.clamp_min(0).double()
    total = weights.flatten(1).sum(dim=1).clamp_min(torch.finfo(torch.float64).tiny)
    rows = torch.arange(maps.shape[1], dtype=torch.float64, device=maps.device)
    cols = torch.arange(maps.shape[2], dtype=torch.float64, device=maps.device)
    return torch.stack([(weights.sum(dim=2) * rows).sum(dim=1) / total, (weights.sum(dim=1) * cols).sum(dim=1) / total], dim=1)


@contextmanager
def softplus_relus(net: nn.Module, beta: float) -> Iterator[None]:
    """While open, every ``ReLU`` computes ``softplus(x, beta)`` and every ``ReLU6`` its smooth twin
    ``softplus(x) - softplus(x - 6)``; the hooks are removed on exit."""

    def smooth(module, inputs, output):
        x = inputs[0]
        value = F.softplus(x, beta=beta)
        return value - F.softplus(x - 6.0, beta=beta) if isinstance(module, nn.ReLU6) else value

    handles = [m.register_forward_hook(smooth) for m in net.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class TopKShare(Objective):
    """The share of the gradient map's mass ``|d score / d x|`` (max over channels) inside a fixed
    region ``(N, S, S)``: the value the top-k attack lowers. Differentiable by double backpropagation."""

    def __init__(self, region: torch.Tensor, classifier: Classifier) -> None:
        super().__init__()
        self.register_buffer("region", region.float())
        self._classifier = (classifier,)  # not a submodule: the loop owns the classifier

    def forward(self, evaluation):
        model_input = evaluation.input
        if not (torch.is_grad_enabled() and model_input.requires_grad):  # the loop's final evaluation
            with torch.enable_grad():
                model_input = model_input.detach().requires_grad_(True)
                return self._share(model_input, self._classifier[0].class_scores(model_input)[1], evaluation.targets).detach()
        return self._share(model_input, evaluation.scores, evaluation.targets)

    def _share(self, model_input, scores, targets):
        score = scores.gather(1, targets[:, None]).sum()
        (grad,) = torch.autograd.grad(score, model_input, create_graph=True)
        maps = grad.abs().amax(dim=1)
        return (maps * self.region).flatten(1).sum(dim=1) / maps.flatten(1).sum(dim=1).clamp_min(1e-12)


def attack_map(
    classifier: Classifier,
    pixels: torch.Tensor,
    region: torch.Tensor,
    eps: float,
    *,
    attack_steps: int = 10,
    keep_class: float = 1.0,
    beta: float = 10.0,
    trainer: dict | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(attacked pixels, predicted classes)``: the top-k attack within ``eps`` (0-255 units) of each image."""
    with torch.no_grad():
        predicted = classifier.predict_pixels(pixels).argmax(dim=1)
    loop = InputOptimizer(
        classifier,
        pixels,
        predicted,
        iterations=attack_steps,
        log_every=attack_steps,
        parameterization=PixelInput(),
        objective=-TopKShare(region, classifier) + keep_class * LogProbability(),
        step=ProjectedAscent(pixels, eps / 255.0, 2.5 * eps / 255.0 / attack_steps),
        post_steps=[Clamp(torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1))],
        name="fragility",
        sample_noun="images",
    )
    with softplus_relus(classifier.net, beta):
        optimize(loop, progress=False, **(trainer or {}))
    attacked = loop.pixels().cpu()
    return keep_prediction(classifier, pixels, attacked, predicted), predicted


@torch.no_grad()
def keep_prediction(classifier: Classifier, pixels: torch.Tensor, attacked: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
    """``attacked`` with each image whose prediction changed pulled back towards ``pixels`` (the
    perturbation halved, at most :data:`BACKTRACK` times, else dropped)."""
    attacked = attacked.clone()
    for _ in range(BACKTRACK):
        changed = classifier.predict_pixels(attacked).argmax(dim=1) != predicted
        if not changed.any():
            return attacked
        attacked[changed] = pixels[changed] + (attacked[changed] - pixels[changed]) / 2
    changed = classifier.predict_pixels(attacked).argmax(dim=1) != predicted
    attacked[changed] = pixels[changed]
    return attacked


@dataclass
class FragilityOutcome:
    """Per budget ``eps`` (0-255 units): ``{eps: (N,)}`` values and the attacked images.

    Attributes:
        top_k: share of the clean map's top-k region still in the attacked map's top-k.
        top_k_random: the same under random signed noise of ``eps`` (the control).
        spearman: rank correlation of the clean and the attacked maps.
        centre_shift: distance between their centres of mass, in pixels.
        attacked: ``{eps: (N, 3, S, S)}``; attacked_maps: ``{eps: (N, S, S)}``; predicted: ``(N,)``.
    """

    top_k: dict[float, torch.Tensor]
    top_k_random: dict[float, torch.Tensor]
    spearman: dict[float, torch.Tensor]
    centre_shift: dict[float, torch.Tensor]
    attacked: dict[float, torch.Tensor]
    attacked_maps: dict[float, torch.Tensor]
    predicted: torch.Tensor


def fragility(
    classifier: Classifier,
    pixels: torch.Tensor,
    maps: torch.Tensor,
    explain: Callable[[torch.Tensor], torch.Tensor],
    *,
    eps: list[float] = (1, 2, 4, 8),
    attack_steps: int = 10,
    top_k: float = 0.02,
    seed: int = 0,
    trainer: dict | None = None,
) -> FragilityOutcome:
    """Attack each image's gradient map at every ``eps``, then compare ``explain``'s maps (the configured
    method's, of pixels ``(N, 3, S, S)``) of the attacked images with ``maps``, the clean ones."""
    with torch.enable_grad():
        gradient_maps = gradient_map(classifier, pixels)
    region = top_k_region(gradient_maps, top_k)
    clean_region = top_k_region(maps, top_k)
    outcome = FragilityOutcome({}, {}, {}, {}, {}, {}, torch.empty(0))

    def kept(after: torch.Tensor) -> torch.Tensor:
        return ((top_k_region(after, top_k) & clean_region).flatten(1).sum(dim=1) / clean_region.flatten(1).sum(dim=1)).double()

    generator = torch.Generator().manual_seed(seed)
    for budget in eps:
        attacked, outcome.predicted = attack_map(classifier, pixels, region, float(budget), attack_steps=attack_steps, trainer=trainer)
        after = explain(attacked)
        outcome.top_k[budget] = kept(after)
        signs = torch.randint(0, 2, pixels.shape, generator=generator).to(pixels) * 2 - 1
        noisy = keep_prediction(classifier, pixels, (pixels + budget / 255.0 * signs).clamp(0, 1), outcome.predicted)
        outcome.top_k_random[budget] = kept(explain(noisy))
        outcome.spearman[budget] = spearman(maps, after)
        outcome.centre_shift[budget] = (centre_of_mass(after) - centre_of_mass(maps)).norm(dim=1)
        outcome.attacked[budget], outcome.attacked_maps[budget] = attacked, after
    return outcome


def gradient_map(classifier: Classifier, pixels: torch.Tensor) -> torch.Tensor:
    """``(N, S, S)`` the predicted class's gradient map ``|d score / d x|`` (max over channels)."""
    model_input = classifier.normalize(pixels.to(classifier.device)).requires_grad_(True)
    logits, scores = classifier.class_scores(model_input)
    (grad,) = torch.autograd.grad(scores.gather(1, logits.argmax(dim=1, keepdim=True)).sum(), model_input)
    return grad.abs().amax(dim=1).cpu()
