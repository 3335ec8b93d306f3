"""The outcome of an attack: tensors for code, a few metrics for the runs table, one row per pair."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from netviz.results import Result, per_sample


@dataclass
class AdversarialResult(Result):
    """Adversarial images for (image, class) pairs, with what it took and how robust they are.

    One sample per pair, named :func:`netviz.naming.pair_name` ``(image, target)``: ``quail→stingray``;
    untargeted, ``quail→not quail`` (the class left). Its figure is :mod:`.figure`'s.

    Attributes:
        method: the attack's name (``naive``, ``pgd``, ``torchattacks:CW``, ...); description: the method
            and its settings as a caption says them; targeted: whether pairs aim at a class.
        image_names: ``P`` the source image of each pair.
        original, adversarial: ``(P, 3, S, S)`` pixels; a naive image may leave [0, 1] unless clamped.
        classes: ``(P,)`` the target (targeted) or the class left (untargeted).
        original_class, original_prob_start, original_prob_end: ``(P,)`` the model's prediction on the
            original image and that class's probability before and after the attack.
        predicted, target_prob_end: ``(P,)`` the prediction on the adversarial image, and its
            probability of the pair's class.
        fooled: ``(P,)`` the adversarial image fools the model as it is (the optimized input);
            valid_image_fooled: as a valid image (clamped to [0, 1]); png_fooled: after an 8-bit PNG
            round trip (``None`` when not checked).
        iterations: ``(P,)`` updates made (-1: unknown, an external attack); iterations_to_fool: ``(P,)``
            updates until first fooled (-1: never or unknown; 0: the start already fooled, which for
            pgd/eot means the random start alone).
        l2, linf: ``(P,)`` the perturbation's norms in 0-255 pixel units.
        transfer: ``{model: {"predicted", "fooled_targeted", "fooled_untargeted"}}`` of ``(P,)``
            tensors, for every evaluation model (and an ensemble's members), judged on the valid image.
        eot_success, naive_eot_success: ``(P,)`` (eot) the fraction of fresh random transformations under
            which the EOT image, and the naive image of the same pair (``eot.compare_naive``), fool the model.
        categories: the class names.
    """

    method: str
    description: str
    targeted: bool
    image_names: list[str]
    original: torch.Tensor
    adversarial: torch.Tensor
    classes: torch.Tensor
    original_class: torch.Tensor
    original_prob_start: torch.Tensor
    original_prob_end: torch.Tensor
    predicted: torch.Tensor
    target_prob_end: torch.Tensor
    fooled: torch.Tensor
    valid_image_fooled: torch.Tensor
    png_fooled: torch.Tensor | None
    iterations: torch.Tensor
    iterations_to_fool: torch.Tensor
    l2: torch.Tensor
    linf: torch.Tensor
    categories: list[str]
    transfer: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    eot_success: torch.Tensor | None = None
    naive_eot_success: torch.Tensor | None = None

    @property
    def fooled_at_start(self) -> torch.Tensor:
        """``(P,)`` fooled before any update (pgd/eot: by the random start alone)."""
        return self.iterations_to_fool == 0

    def out_of_range(self) -> tuple[float, float]:
        """``(share of pixel values outside [0, 1], largest excursion in 0-255 units)`` of the adversarial images."""
        outside = (self.adversarial < 0) | (self.adversarial > 1)
        excursion = torch.maximum(-self.adversarial, self.adversarial - 1).clamp_min(0).amax()
        return float(outside.float().mean()), float(excursion) * 255

    def metrics(self) -> dict[str, float]:
        """Per pair only what a user compares (``fooled``, ``iterations_to_fool`` where one or more updates
        fooled it, ``target_prob_end``, ``perturbation_linf_255``); the rest as run-level summaries."""
        names, fooled = self.sample_names, self.fooled.bool()
        took_steps = fooled & (self.iterations_to_fool > 0)
        share, excursion = self.out_of_range()
        metrics = {
            **per_sample("fooled", fooled.float(), names),
            **per_sample("iterations_to_fool", self.iterations_to_fool[took_steps], [n for n, t in zip(names, took_steps) if t]),
            **per_sample("target_prob_end", self.target_prob_end, names),
            **per_sample("perturbation_linf_255", self.linf, names),
            "pairs": float(len(names)),
            "fooled_rate": float(fooled.float().mean()),
            "valid_image_fooled_rate": float(self.valid_image_fooled.float().mean()),
            "fooled_at_start": float(self.fooled_at_start.sum()),
            "mean_target_prob_end": float(self.target_prob_end.mean()),
            "mean_perturbation_l2_255": float(self.l2.mean()),
            "mean_perturbation_linf_255": float(self.linf.mean()),
            "out_of_range_share": share,
            "max_excursion_255": excursion,
        }
        if self.png_fooled is not None:
            metrics["png_fooled_rate"] = float(self.png_fooled.float().mean())
        known = fooled & (self.iterations_to_fool >= 0)
        if known.any():
            metrics["mean_iterations_to_fool"] = float(self.iterations_to_fool[known].float().mean())
        kinds = ("targeted", "untargeted") if self.targeted else ("untargeted",)
        for model, outcome in self.transfer.items():
            for kind in kinds:
                metrics[f"transfer/{model}/{kind}_rate"] = float(outcome[f"fooled_{kind}"].float().mean())
        if self.eot_success is not None:
            metrics["eot_success_rate"] = float(self.eot_success.mean())
        if self.naive_eot_success is not None:
            metrics["naive_eot_success_rate"] = float(self.naive_eot_success.mean())
        return metrics

    def rows(self) -> list[dict]:
        """Everything per pair, class names included (``results.json``)."""
        name = self.categories.__getitem__
        rows = []
        for i, sample in enumerate(self.sample_names):
            row = {
                "sample": sample,
                "image": self.image_names[i],
                "method": self.method,
                "targeted": self.targeted,
                "class": name(int(self.classes[i])),
                "original_class": name(int(self.original_class[i])),
                "original_prob_start": float(self.original_prob_start[i]),
                "original_prob_end": float(self.original_prob_end[i]),
                "predicted": name(int(self.predicted[i])),
                "target_prob_end": float(self.target_prob_end[i]),
                "fooled": bool(self.fooled[i]),
                "valid_image_fooled": bool(self.valid_image_fooled[i]),
                "png_fooled": None if self.png_fooled is None else bool(self.png_fooled[i]),
                "fooled_at_start": bool(self.fooled_at_start[i]),
                "iterations": int(self.iterations[i]),
                "iterations_to_fool": int(self.iterations_to_fool[i]),
                "perturbation_l2_255": float(self.l2[i]),
                "perturbation_linf_255": float(self.linf[i]),
                "transfer": {
                    model: {"predicted": name(int(o["predicted"][i])), **{k: bool(o[k][i]) for k in ("fooled_targeted", "fooled_untargeted")}}
                    for model, o in self.transfer.items()
                },
            }
            if self.eot_success is not None:
                row["eot_success_rate"] = float(self.eot_success[i])
            if self.naive_eot_success is not None:
                row["naive_eot_success_rate"] = float(self.naive_eot_success[i])
            rows.append(row)
        return rows

    def panels(self) -> dict[str, np.ndarray]:
        from netviz.techniques.adversarial.figure import panels

        return panels(self)

    def figure(self):
        from netviz.techniques.adversarial.figure import draw

        return draw(self)
