"""Checks of adversarial images, whoever made them (netviz, torchattacks, any function).

Everything here takes ``(original pixels, adversarial pixels, classes, models)`` and runs one batched
pass per model: the clean images (unless their logits are given), the adversarial images as valid
images (clamped to [0, 1]), and their 8-bit PNG round trip, fed in batches sized for the device
(:func:`check_batch`). Nothing is computed twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from netviz.models import Classifier
from netviz.techniques.adversarial.attack import is_fooled

# Pixels per forward pass of a check. On a CPU, small batches stay in the caches: efficientnet_lite0 on
# 1 thread judges 24 images of 224 px in 480, 663 and 1062 ms in batches of 4, 8 and 24.
CHECK_PIXELS = {"cpu": 4 * 224 * 224, "gpu": 32 * 224 * 224}


def check_batch(classifier: Classifier, side: int) -> int:
    """Images of ``side`` pixels per forward pass of a check on the classifier's device."""
    return max(1, CHECK_PIXELS["cpu" if classifier.device.type == "cpu" else "gpu"] // (side * side))


@torch.no_grad()
def predict(classifier: Classifier, pixels: torch.Tensor, batch: int | None = None) -> torch.Tensor:
    """Logits ``(N, C)`` on the CPU of pixels ``(N, 3, S, S)``, run where the classifier is, ``batch``
    images per pass (``None``: :func:`check_batch`).

    This is the one place that feeds pixels to a model for a check (the per-model preprocessing goes here).
    """
    batch = batch or check_batch(classifier, max(pixels.shape[-1], classifier.input_size))
    if pixels.shape[-1] != classifier.input_size or pixels.shape[-2] != classifier.input_size:
        # Another model's image, fed as a user would: resized and cropped to this model's input size.
        return classifier.predict_pixels(pixels, batch=batch)
    device = classifier.device
    return torch.cat(
        [classifier(classifier.normalize(pixels[i : i + batch].to(device))).float().cpu() for i in range(0, len(pixels), batch)]
    )


def png_round_trip(pixels: torch.Tensor) -> torch.Tensor:
    """Pixels ``(N, 3, S, S)`` as they load back from an 8-bit PNG: clamped to [0, 1] and rounded to 1/255.

    PNG is lossless for 8-bit RGB, so decoding the saved file gives back exactly the 8-bit array that
    :func:`netviz.figures.to_uint8` writes; this computes that array without encoding and decoding each
    image (which cost more than a forward pass of the batch). A test compares it with a real PIL round trip.
    """
    return snap_to_8bit(pixels.detach().float().clamp(0, 1)).cpu()


def snap_to_8bit(pixels: torch.Tensor) -> torch.Tensor:
    """Pixels in [0, 1] rounded to the nearest multiple of 1/255, on their device: the values an 8-bit
    image file holds (:func:`netviz.figures.to_uint8` rounds the same way)."""
    return pixels.mul(255).round().div(255)


def classify(classifier: Classifier, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Logits ``{kind: (N_kind, C)}`` of several batches of pixels, in one batched pass."""
    kinds = [kind for kind, pixels in inputs.items() if pixels is not None and len(pixels)]
    if not kinds:
        return {}
    logits = predict(classifier, torch.cat([inputs[kind].cpu() for kind in kinds]))
    return dict(zip(kinds, logits.split([len(inputs[kind]) for kind in kinds])))


@dataclass
class Evaluation:
    """What each model makes of the images: ``logits[model][kind]`` ``(P, C)`` on the CPU.

    Kinds: ``clean`` (the original of each pair), ``valid`` (the adversarial image clamped to [0, 1]),
    ``png`` (after an 8-bit PNG round trip) and, for the attacked model only, ``as_is`` (the optimized
    input itself, where it leaves [0, 1]; else the same as ``valid``).
    """

    logits: dict[str, dict[str, torch.Tensor]]
    classes: torch.Tensor
    targeted: bool

    def predicted(self, model: str, kind: str) -> torch.Tensor:
        return self.logits[model][kind].argmax(1)

    def fooled(self, model: str, kind: str) -> torch.Tensor:
        """``(P,)`` whether ``model``'s verdict on ``kind`` is the target (targeted) or left the class."""
        return is_fooled(self.logits[model][kind], self.classes, self.targeted)

    def transfer(self, model: str) -> dict[str, torch.Tensor]:
        """``{"predicted", "fooled_targeted" (the pair's class), "fooled_untargeted" (the prediction
        differs from the model's own on the original)}`` of the valid images, each ``(P,)``."""
        predicted = self.predicted(model, "valid")
        return {
            "predicted": predicted,
            "fooled_targeted": predicted == self.classes,
            "fooled_untargeted": predicted != self.predicted(model, "clean"),
        }


def evaluate(
    original: torch.Tensor,
    adversarial: torch.Tensor,
    classes: torch.Tensor,
    models: Sequence[Classifier],
    *,
    targeted: bool = True,
    pairs: torch.Tensor | None = None,
    png: bool = True,
    clean_logits: dict[str, torch.Tensor] | None = None,
) -> Evaluation:
    """Judge adversarial images with every model, one batched pass per model.

    Args:
        original: ``(N, 3, S, S)`` the clean images in [0, 1].
        adversarial: ``(P, 3, S, S)`` the adversarial images (may leave [0, 1]: judged as they are by
            ``models[0]``, and clamped by every model).
        classes: ``(P,)`` each pair's target (targeted) or class to leave.
        models: the attacked model first, then the models to check transfer to.
        pairs: ``(P,)`` the original of each adversarial image (``None``: one each, in order).
        png: also judge the PNG round trip (attacked model only).
        clean_logits: ``{model name: (P, C)}`` logits of each pair's original already computed (not recomputed).

    Example:
        >>> evaluation = evaluate(images, torchattacks.PGD(pixel_model)(images, labels), labels, [model], targeted=False)
        >>> evaluation.fooled(model.name, "png")
    """
    pairs = torch.arange(len(adversarial)) if pairs is None else pairs
    clean_logits = clean_logits or {}
    adversarial = adversarial.detach().cpu()
    valid = adversarial.clamp(0, 1)
    leaves_range = not torch.equal(valid, adversarial)
    saved = png_round_trip(adversarial) if png or len(models) > 1 else None
    logits: dict[str, dict[str, torch.Tensor]] = {}
    for index, model in enumerate(models):
        attacked = index == 0
        inputs = {
            "clean": None if model.name in clean_logits else original,
            "as_is": adversarial if attacked and leaves_range else None,
            # Another model judges the saved 8-bit image, as a user would hand it over (transfer).
            "valid": valid if attacked else saved,
            # An image already on the 8-bit grid (FGSM from 8-bit images) is its own PNG: judged once.
            "png": saved if attacked and png and not torch.equal(saved, valid) else None,
        }
        found = classify(model, inputs)
        if attacked and png:
            found.setdefault("png", found["valid"])
        found["clean"] = clean_logits[model.name] if model.name in clean_logits else found.pop("clean")[pairs]
        if attacked:
            found.setdefault("as_is", found["valid"])
        logits[model.name] = found
    return Evaluation(logits, classes.cpu(), targeted)


@torch.no_grad()
def transform_success_rates(
    classifier: Classifier, images: Sequence[torch.Tensor], classes: torch.Tensor, draws: Sequence, targeted: bool = True
) -> list[torch.Tensor]:
    """For each batch of images ``(P, 3, S, S)``, ``(P,)`` the fraction of the transformations ``draws`` under
    which each still fools ``classifier`` (the batches share one pass per draw)."""
    device = classifier.device
    images = [pixels.clamp(0, 1).to(device) for pixels in images]
    repeated = classes.to(device).repeat(len(images))
    hits = torch.zeros(len(repeated), device=device)
    for transform in draws:
        batch = torch.cat([transform(pixels) for pixels in images])
        hits += is_fooled(classifier(classifier.normalize(batch)), repeated, targeted).float()
    return list((hits / len(draws)).cpu().split(len(classes)))
