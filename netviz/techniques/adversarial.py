"""Adversarial examples: the smallest change to an image that makes the model see another class.

The report's method (``method="naive"``, the CS231n/RDFIA exercise after Szegedy et al. 2014):
gradient ascent on the target class score, each step ``x <- x + lr * g / ||g||_2`` in the model's
normalized input space, until the model predicts the target. Its weaknesses (report Q7) come with the
remedies as methods of the same technique:

- ``fgsm``: the fast gradient sign method (Goodfellow, Shlens and Szegedy 2015), one step of size
  ``eps`` along the sign of the loss gradient, in pixel space.
- ``pgd``: projected gradient descent (Madry et al. 2018), FGSM iterated with a smaller step, a random
  start, and a projection onto the L-infinity ball of radius ``eps`` and onto valid pixels [0, 1].
- ``eot``: Expectation over Transformation (Athalye et al. 2018), PGD on the loss averaged over random
  shifts, rotations, rescalings, blurs and noise (:mod:`netviz.eot`), so the image survives them.
- any method against an ensemble (Liu et al. 2017, :mod:`netviz.ensemble`), and every result checked
  against other models (transfer) and after an 8-bit PNG round trip.

All ``eps`` and step sizes are in 0-255 pixel units (8 means 8/255).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from netviz.data import ImageSet
from netviz.ensemble import Ensemble, load_models
from netviz.eot import TransformDistribution
from netviz.errors import NetvizError, check_int, check_number
from netviz.figures import grid_figure, side_by_side, to_uint8
from netviz.models import Classifier
from netviz.results import Result, per_sample, unique_names
from netviz.techniques.base import InputOptimizer, optimize, unit_gradient

METHODS = ("naive", "fgsm", "pgd", "eot")
MAGNIFY = 10  # the report's magnified difference
PIXEL_UNITS = "eps and step sizes are in 0-255 pixel units, e.g. 8"


def is_fooled(logits: torch.Tensor, classes: torch.Tensor, targeted: bool) -> torch.Tensor:
    """``(N,)`` whether each prediction is the target class (targeted) or left the class (untargeted)."""
    predicted = logits.argmax(dim=1)
    return predicted == classes if targeted else predicted != classes


class AdversarialAttack(InputOptimizer):
    """What every method shares: the pairs' classes, when a pair is fooled, and the target's curve.

    Args:
        classifier, pixels, iterations, log_every: see :class:`~netviz.techniques.base.InputOptimizer`.
        targets: ``(N,)`` per pair, the class to reach (targeted) or to leave (untargeted: the model's
            prediction on the original image).
        targeted: reach ``targets`` or leave them.

    Attributes set by the loop, besides the base's:
        best_score, best_prob: ``(N,)`` the highest target score and probability seen at any step.
        first_fooled: ``(N,)`` the number of updates after which the pair was first fooled (-1: never).
    """

    stop_when_fooled: ClassVar[bool] = False

    def __init__(
        self,
        classifier: Classifier,
        pixels: torch.Tensor,
        targets: torch.Tensor,
        *,
        iterations: int,
        targeted: bool = True,
        log_every: int = 10,
    ) -> None:
        super().__init__(classifier, pixels, targets, iterations=iterations, log_every=log_every)
        self.targeted = bool(targeted)
        n = len(self.targets)
        self.register_buffer("best_score", torch.full((n,), -torch.inf))
        self.register_buffer("best_prob", torch.full((n,), -torch.inf))
        self.register_buffer("first_fooled", torch.full((n,), -1, dtype=torch.int64))
        self.final_scores: torch.Tensor | None = None
        self._pair_logits: torch.Tensor | None = None
        self._pair_scores: torch.Tensor | None = None
        self._scores: torch.Tensor | None = None

    def class_objective(self, scores: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """The value ``(M,)`` to maximize, from class scores ``(M, C)`` and each row's class ``(M,)``."""
        raise NotImplementedError

    def objective(self, x, logits, scores, step):
        self.record(step, logits, scores)
        return self.class_objective(scores, self.targets)

    def finished(self, logits, step):
        return is_fooled(logits, self.targets, self.targeted) if self.stop_when_fooled else None

    def forward(self, x: torch.Tensor, step: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        logits, scores = super().forward(x, step)
        self._scores = scores
        return logits, scores

    def record(self, step: int, logits: torch.Tensor, scores: torch.Tensor) -> None:
        """Track the target's best score and probability and the first fooled step, from ``(N, C)`` outputs."""
        logits, scores = logits.detach(), scores.detach()
        self._pair_logits, self._pair_scores = logits, scores
        index = self.targets[:, None]
        self.best_score = torch.maximum(self.best_score, scores.gather(1, index).squeeze(1).float())
        self.best_prob = torch.maximum(self.best_prob, logits.float().softmax(1).gather(1, index).squeeze(1))
        fooled = is_fooled(logits, self.targets, self.targeted)
        self.first_fooled = torch.where((self.first_fooled < 0) & fooled, step, self.first_fooled)

    def step_metrics(self, logits, objective):
        logits, scores, index = self._pair_logits, self._pair_scores, self.targets[:, None]
        return {
            "target_score": scores.gather(1, index).squeeze(1),
            "target_prob": logits.float().softmax(1).gather(1, index).squeeze(1),
        }

    def on_train_end(self) -> None:
        super().on_train_end()
        self.final_scores = self._scores.detach()  # from the base's final evaluation of the inputs
        with torch.no_grad():
            self.record(self.iterations, self.final_logits, self.final_scores)
            last = int(self.steps_taken.max())
            curves = self.history.get("target_score", [])
            if not curves or curves[-1][0] < last:  # the curves end where the images ended
                for name, value in AdversarialAttack.step_metrics(self, self.final_logits, None).items():
                    self.history.setdefault(name, []).append((last, value))
        # A pair first fooled by the final inputs was fooled after all of its updates.
        fooled = is_fooled(self.final_logits, self.targets, self.targeted)
        self.first_fooled = torch.where((self.first_fooled == self.iterations) & fooled, self.steps_taken, self.first_fooled)


class NaiveAttack(AdversarialAttack):
    """The report's method: normalized gradient ascent on the target score until the model is fooled.

    Each step is ``x <- x + lr * g / ||g||_2`` with ``g`` the gradient of the target class score
    (the negative score of the original class, untargeted) and the L2 norm taken per image, in the
    model's normalized input space; a pair stops at the first step where it is fooled. A zero gradient
    (SqueezeNet's ReLU-ed scores, Iandola et al. 2016) leaves the image where it is instead of NaN.
    """

    space = "normalized"
    stop_when_fooled = True

    def __init__(self, *args, lr: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lr = float(lr)

    def class_objective(self, scores, classes):
        score = scores.gather(1, classes[:, None]).squeeze(1)
        return score if self.targeted else -score

    def update(self, x, grad, step):
        return x + self.lr * unit_gradient(grad)


class PGDAttack(AdversarialAttack):
    """Projected gradient descent in pixel space under an L-infinity budget (Madry et al. 2018).

    Each step moves every pixel by ``step_size`` along the sign of the gradient of the log-probability
    of the target (of minus the log-probability of the original class, untargeted), then projects onto
    ``|x - original| <= eps`` and onto [0, 1]: the image is valid after every step. With one step,
    ``step_size = eps`` and no random start it is FGSM (Goodfellow et al. 2015).

    Args:
        eps: the L-infinity budget, in 0-255 pixel units (> 0).
        step_size: the change per step, in 0-255 pixel units (> 0).
        random_start: start from a uniform random point of the eps-ball.
        seed: seeds the random start.
    """

    space = "pixels"

    def __init__(
        self,
        *args,
        eps: float = 8.0,
        step_size: float = 2.0,
        random_start: bool = True,
        seed: int = 0,
        **kwargs,
    ) -> None:
        check_number("adversarial.eps", eps, positive=True, hint=PIXEL_UNITS)
        check_number("adversarial.step_size", step_size, positive=True, hint=PIXEL_UNITS)
        super().__init__(*args, **kwargs)
        self.eps, self.step_size, self.seed = float(eps) / 255, float(step_size) / 255, int(seed)
        self.register_buffer("origin", self.x.clone())
        if random_start:
            noise = torch.rand(self.x.shape, generator=torch.Generator().manual_seed(self.seed))
            self.x = self.project(self.x + (2 * noise.to(self.x) - 1) * self.eps)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` clipped to the eps-ball around the original images, then to valid pixels [0, 1]."""
        return torch.minimum(torch.maximum(x, self.origin - self.eps), self.origin + self.eps).clamp(0, 1)

    def class_objective(self, scores, classes):
        log_prob = scores.float().log_softmax(dim=1).gather(1, classes[:, None]).squeeze(1)
        return log_prob if self.targeted else -log_prob

    def update(self, x, grad, step):
        return self.project(x + self.step_size * grad.sign())


class EOTAttack(PGDAttack):
    """PGD on the objective averaged over random transformations (Athalye et al. 2018).

    Every step shows the model ``samples`` randomly transformed copies of each image (one batch of
    ``samples * N``) and ascends their average objective; the final evaluation sees the image itself.

    Args:
        distribution: the random transformations (:class:`netviz.eot.TransformDistribution`).
        samples: transformations averaged per step.
    """

    def __init__(self, *args, distribution: TransformDistribution, samples: int = 8, **kwargs) -> None:
        if int(samples) < 1:
            raise NetvizError(f"adversarial.eot.samples={samples}: need at least 1 transformation per step")
        super().__init__(*args, **kwargs)
        self.distribution, self.samples = distribution, int(samples)
        self._generator: torch.Generator | None = None
        self._transform_success: torch.Tensor | None = None

    def model_input(self, x, step):
        if step >= self.iterations:  # the final evaluation: the adversarial image as it is
            return super().model_input(x, step)
        if self._generator is None or self._generator.device != x.device:
            self._generator = torch.Generator(device=x.device).manual_seed(self.seed)
        draws = self.distribution.sample(self.samples, len(x), x.shape[-1], self._generator)
        return self.classifier.normalize(torch.cat([transform(x) for transform in draws]))

    def objective(self, x, logits, scores, step):
        k, n = self.samples, len(self.targets)
        classes = self.targets.repeat(k)
        self._transform_success = is_fooled(logits.detach(), classes, self.targeted).view(k, n).float().mean(0)
        self.record(step, logits.view(k, n, -1).mean(0), scores.view(k, n, -1).mean(0))
        return self.class_objective(scores, classes).view(k, n).mean(0)

    def step_metrics(self, logits, objective):
        return {**super().step_metrics(logits, objective), "transform_success": self._transform_success}


# ----- checks after the attack --------------------------------------------------------------------


@torch.no_grad()
def predict(classifier: Classifier, pixels: torch.Tensor, batch: int = 32) -> torch.Tensor:
    """Logits ``(N, C)`` on the CPU of pixels ``(N, 3, S, S)``, run where the classifier is."""
    device = classifier.device
    return torch.cat(
        [classifier(classifier.normalize(pixels[i : i + batch].to(device))).float().cpu() for i in range(0, len(pixels), batch)]
    )


def png_round_trip(pixels: torch.Tensor) -> torch.Tensor:
    """Pixels ``(N, 3, S, S)`` after saving each image as an 8-bit PNG and loading it back (clamped, rounded)."""
    from PIL import Image

    loaded = []
    for image in to_uint8(pixels):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        buffer.seek(0)
        loaded.append(np.asarray(Image.open(buffer).convert("RGB")))
    return torch.from_numpy(np.stack(loaded)).permute(0, 3, 1, 2).float().div(255)


@torch.no_grad()
def transform_success_rate(
    classifier: Classifier, pixels: torch.Tensor, classes: torch.Tensor, draws: Sequence, targeted: bool = True
) -> torch.Tensor:
    """``(N,)`` the fraction of the transformations ``draws`` under which each image still fools ``classifier``."""
    device = classifier.device
    pixels, classes = pixels.clamp(0, 1).to(device), classes.to(device)
    hits = torch.zeros(len(pixels), device=device)
    for transform in draws:
        hits += is_fooled(classifier(classifier.normalize(transform(pixels))), classes, targeted).float()
    return (hits / len(draws)).cpu()


# ----- results ------------------------------------------------------------------------------------


@dataclass
class AdversarialResult(Result):
    """Adversarial images for (image, target) pairs, with what it took and how robust they are.

    One sample per pair, named ``"<image> to <target>"`` (untargeted: ``"<image> from <class>"``).

    Attributes:
        method: ``naive``, ``fgsm``, ``pgd`` or ``eot``; targeted: whether pairs aim at a class.
        original, adversarial: ``(P, 3, S, S)`` pixels; a naive image may leave [0, 1] (it is
            clamped when drawn and saved).
        classes: ``(P,)`` the target (targeted) or the class left (untargeted).
        original_class, original_prob_start, original_prob_end: ``(P,)`` the model's prediction on the
            original image and that class's probability before and after the attack.
        predicted: ``(P,)`` the prediction on the adversarial image.
        fooled, png_fooled: ``(P,)`` whether the adversarial image fools the model, as it is and after
            an 8-bit PNG round trip.
        iterations: ``(P,)`` updates made; iterations_to_fool: ``(P,)`` updates until first fooled (-1: never).
        target_score_end, target_prob_end, target_score_max, target_prob_max: ``(P,)`` the target's score
            (what the method raises: ``model.score``) and probability at the end and at their maximum.
        l2, linf: ``(P,)`` the perturbation's norms in 0-255 pixel units.
        transfer: ``{model: {"predicted", "fooled_targeted", "fooled_untargeted"}}`` of ``(P,)`` tensors,
            for every attacked and evaluation model (untargeted: the prediction left the model's own
            prediction on the original).
        eot_success, naive_eot_success: ``(P,)`` (method ``eot`` only) the fraction of fresh random
            transformations under which the EOT image, and the naive image of the same pair, fool the model.
        categories: the class names.
    """

    method: str
    targeted: bool
    original: torch.Tensor
    adversarial: torch.Tensor
    classes: torch.Tensor
    original_class: torch.Tensor
    original_prob_start: torch.Tensor
    original_prob_end: torch.Tensor
    predicted: torch.Tensor
    fooled: torch.Tensor
    png_fooled: torch.Tensor
    iterations: torch.Tensor
    iterations_to_fool: torch.Tensor
    target_score_end: torch.Tensor
    target_prob_end: torch.Tensor
    target_score_max: torch.Tensor
    target_prob_max: torch.Tensor
    l2: torch.Tensor
    linf: torch.Tensor
    categories: list[str]
    transfer: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    eot_success: torch.Tensor | None = None
    naive_eot_success: torch.Tensor | None = None

    def metrics(self) -> dict[str, float]:
        names = self.sample_names
        fooled = self.fooled.bool()
        metrics = {
            **per_sample("fooled", self.fooled.float(), names),
            **per_sample("png_fooled", self.png_fooled.float(), names),
            **per_sample("iterations", self.iterations, names),
            **per_sample("iterations_to_fool", self.iterations_to_fool[fooled], [n for n, f in zip(names, fooled) if f]),
            **per_sample("target_score_end", self.target_score_end, names),
            **per_sample("target_prob_end", self.target_prob_end, names),
            **per_sample("target_score_max", self.target_score_max, names),
            **per_sample("target_prob_max", self.target_prob_max, names),
            **per_sample("original_prob_start", self.original_prob_start, names),
            **per_sample("original_prob_end", self.original_prob_end, names),
            **per_sample("perturbation_l2_255", self.l2, names),
            **per_sample("perturbation_linf_255", self.linf, names),
            "pairs": float(len(names)),
            "fooled_rate": float(self.fooled.float().mean()),
            "png_fooled_rate": float(self.png_fooled.float().mean()),
        }
        if fooled.any():
            metrics["mean_iterations_to_fool"] = float(self.iterations_to_fool[fooled].float().mean())
        kinds = ("targeted", "untargeted") if self.targeted else ("untargeted",)
        for model, outcome in self.transfer.items():
            for kind in kinds:
                values = outcome[f"fooled_{kind}"].float()
                metrics.update(per_sample(f"transfer/{model}/{kind}", values, names))
                metrics[f"transfer/{model}/{kind}_rate"] = float(values.mean())
        if self.eot_success is not None:
            metrics.update(per_sample("eot_success_rate", self.eot_success, names))
            metrics.update(per_sample("naive_eot_success_rate", self.naive_eot_success, names))
            metrics["eot_success_rate"] = float(self.eot_success.mean())
            metrics["naive_eot_success_rate"] = float(self.naive_eot_success.mean())
        return metrics

    def _cells(self, i: int) -> list[np.ndarray]:
        """original | adversarial | difference | difference x10, differences drawn around mid-gray."""
        delta = self.adversarial[i].clamp(0, 1) - self.original[i]
        return [to_uint8(self.original[i]), to_uint8(self.adversarial[i]), to_uint8(0.5 + delta), to_uint8(0.5 + MAGNIFY * delta)]

    def panels(self) -> dict[str, np.ndarray]:
        from netviz.results import safe_name

        return {safe_name(name): side_by_side(self._cells(i)) for i, name in enumerate(self.sample_names)}

    def _title(self, i: int) -> str:
        name, steps = self.categories[int(self.predicted[i])], int(self.iterations_to_fool[i])
        if not self.fooled[i]:
            return f"{name}: not fooled after {int(self.iterations[i])} it."
        return f"{name}: fooled in {steps} it.\nmax score {self.target_score_max[i]:.1f}"

    def figure(self):
        rows = range(len(self.sample_names))
        titles = [
            [
                f"{self.categories[int(self.original_class[i])]} ({self.original_prob_start[i]:.2f})",
                self._title(i),
                "difference",
                f"difference x{MAGNIFY}",
            ]
            for i in rows
        ]
        word = "target" if self.targeted else "from"
        labels = [f"{word}: {self.categories[int(self.classes[i])]}" for i in rows]
        return grid_figure(
            [self._cells(i) for i in rows],
            titles,
            row_labels=labels,
            suptitle=f"Adversarial examples ({self.method}), {self.model}",
        )


# ----- the public API -----------------------------------------------------------------------------


def make_fooling_images(
    classifier: Classifier,
    images: ImageSet,
    targets: Sequence[int | str] | int | str | None = None,
    *,
    method: str = "naive",
    targeted: bool = True,
    iterations: int = 100,
    lr: float = 1.0,
    eps: float = 8.0,
    step_size: float | None = None,
    random_start: bool = True,
    eot: TransformDistribution | None = None,
    eot_samples: int = 8,
    eot_eval_samples: int = 32,
    ensemble: Sequence[Classifier] = (),
    eval_models: Sequence[Classifier] = (),
    log_every: int = 10,
    seed: int = 0,
    **trainer,
) -> AdversarialResult:
    """Fool ``classifier`` on every (image, target) pair in one batch; each pair stops on its own.

    Args:
        classifier: the attacked model (:func:`netviz.load_model`).
        images: the source images; the pairs are every image with every target, image-major.
        targets: one class or a list (names or indices); ``None`` only with ``targeted=False``.
        method: ``naive`` (the report's), ``fgsm``, ``pgd`` or ``eot`` (see the module docstring).
        targeted: reach each target, or (``False``) leave the class the model predicts for the image.
        iterations: naive: the cap (a pair stops once fooled); pgd/eot: the number of steps; fgsm: 1.
        lr: naive's L2 step length, in the attacked model's input space (an ensemble's is pixels).
        eps: fgsm/pgd/eot: the L-infinity budget in 0-255 pixel units.
        step_size: pgd/eot: the step in 0-255 units (``None``: ``2.5 * eps / iterations``, Madry et al.
            2018); fgsm always steps ``eps``.
        random_start: pgd/eot: start at a random point of the eps-ball (fgsm never does).
        eot: eot's transformation distribution (``None``: the defaults of :class:`TransformDistribution`).
        eot_samples: eot: transformations averaged per step.
        eot_eval_samples: eot: fresh transformations on which the EOT and the naive images are scored.
        ensemble: more models to attack together with ``classifier`` (Liu et al. 2017): the objective
            is on their average logits/scores, in pixel space.
        eval_models: models that classify every adversarial image (transfer).
        log_every: record the score/probability curves every this many steps.
        seed: seeds the random start and the transformations.
        **trainer: passed to :func:`netviz.techniques.base.optimize` (``accelerator``, ``devices``, ``progress``).

    Example:
        >>> import netviz
        >>> model = netviz.load_model("efficientnet_lite0")
        >>> images = netviz.load_images("samples", size=model.input_size, indices=[1])
        >>> result = netviz.make_fooling_images(model, images, ["goldfish", 6])  # 6: stingray
        >>> result.sample_names, result.fooled.tolist()
        (['chelsea to goldfish', 'chelsea to stingray'], [True, True])
    """
    check_attack(method, iterations, lr, eps, step_size)
    classes = resolve_targets(classifier, targets, targeted)
    attacked = with_ensemble(classifier, ensemble)
    original_logits = predict(attacked, images.pixels)
    original_class = original_logits.argmax(1)
    per_image = len(classes) if targeted else 1
    pairs = torch.arange(len(images)).repeat_interleave(per_image)
    pair_classes = torch.tensor(classes * len(images), dtype=torch.int64) if targeted else original_class
    pixels = images.pixels[pairs]
    word = "to" if targeted else "from"
    names = unique_names([f"{images.names[int(i)]} {word} {attacked.class_name(int(c))}" for i, c in zip(pairs, pair_classes)])

    common = {"iterations": iterations, "targeted": targeted, "log_every": log_every}
    if step_size is None:
        step_size = 2.5 * eps / max(1, iterations)
    if method == "naive":
        module: AdversarialAttack = NaiveAttack(attacked, pixels, pair_classes, lr=lr, **common)
    elif method == "fgsm":
        module = PGDAttack(attacked, pixels, pair_classes, eps=eps, step_size=eps, random_start=False, **{**common, "iterations": 1})
    elif method == "pgd":
        module = PGDAttack(attacked, pixels, pair_classes, eps=eps, step_size=step_size, random_start=random_start, seed=seed, **common)
    else:
        eot = eot or TransformDistribution()
        module = EOTAttack(
            attacked, pixels, pair_classes, eps=eps, step_size=step_size, random_start=random_start, seed=seed,
            distribution=eot, samples=eot_samples, **common,
        )
    optimize(module, **trainer)
    adversarial = module.pixels().cpu()

    eot_success = naive_eot_success = None
    if method == "eot":
        naive = optimize(NaiveAttack(attacked, pixels, pair_classes, lr=lr, **{**common, "log_every": iterations}), **trainer)
        device = attacked.device
        draws = eot.sample(eot_eval_samples, len(pixels), pixels.shape[-1], torch.Generator(device=device).manual_seed(seed + 1))
        eot_success = transform_success_rate(attacked, adversarial, pair_classes, draws, targeted)
        naive_eot_success = transform_success_rate(attacked, naive.pixels(), pair_classes, draws, targeted)

    final_probs = module.final_logits.float().softmax(1).cpu()
    start_probs = original_logits.softmax(1)[pairs]
    source = original_class[pairs]
    delta = (adversarial - pixels) * 255
    transfer = {
        model.name: transfer_outcome(model, images.pixels, pairs, adversarial, pair_classes)
        for model in unique_models([*getattr(attacked, "members", [attacked]), *eval_models])
    }
    return AdversarialResult(
        technique="adversarial",
        model=attacked.name,
        sample_names=names,
        history=module.history_on_cpu(),
        method=method,
        targeted=targeted,
        original=pixels,
        adversarial=adversarial,
        classes=pair_classes,
        original_class=source,
        original_prob_start=start_probs.gather(1, source[:, None]).squeeze(1),
        original_prob_end=final_probs.gather(1, source[:, None]).squeeze(1),
        predicted=final_probs.argmax(1),
        fooled=is_fooled(module.final_logits.cpu(), pair_classes, targeted),
        png_fooled=is_fooled(predict(attacked, png_round_trip(adversarial)), pair_classes, targeted),
        iterations=module.steps_taken.cpu(),
        iterations_to_fool=module.first_fooled.cpu(),
        target_score_end=module.final_scores.float().cpu().gather(1, pair_classes[:, None]).squeeze(1),
        target_prob_end=final_probs.gather(1, pair_classes[:, None]).squeeze(1),
        target_score_max=module.best_score.cpu(),
        target_prob_max=module.best_prob.cpu(),
        l2=delta.flatten(1).norm(dim=1),
        linf=delta.flatten(1).abs().amax(dim=1),
        categories=attacked.categories,
        transfer=transfer,
        eot_success=eot_success,
        naive_eot_success=naive_eot_success,
    )


def check_attack(method: str, iterations: int, lr: float, eps: float, step_size: float | None) -> None:
    """One-line errors for a bad method or hyperparameter, before any model work."""
    if method not in METHODS:
        from netviz.errors import did_you_mean

        raise NetvizError(f"unknown adversarial.method {method!r}{did_you_mean(method, METHODS)}; choose one of {', '.join(METHODS)}")
    check_int("iterations", iterations, minimum=1)
    check_number("lr", lr, positive=True)
    check_number("adversarial.eps", eps, positive=True, hint=PIXEL_UNITS)
    if step_size is not None:
        check_number("adversarial.step_size", step_size, positive=True, hint=PIXEL_UNITS)


def resolve_targets(classifier: Classifier, targets, targeted: bool) -> list[int]:
    """Target class indices from a name, an index or a list of them (empty for an untargeted attack)."""
    if targets is None or isinstance(targets, (str, int)):
        targets = [] if targets is None else [targets]
    targets = list(targets)
    if not targeted:
        if targets:
            raise NetvizError("an untargeted attack (adversarial.targeted=false) takes no target; set target=null")
        return []
    if not targets:
        raise NetvizError("technique=adversarial needs target=<class name or index> or a list, e.g. target=[stingray,mushroom]")
    return [classifier.class_index(t) for t in targets]


def with_ensemble(classifier: Classifier, ensemble: Sequence[Classifier]) -> Classifier:
    """``classifier`` alone, or an :class:`~netviz.ensemble.Ensemble` of it and the other models."""
    members = unique_models([classifier, *ensemble])
    return classifier if len(members) == 1 else Ensemble(members)


def unique_models(models: Sequence[Classifier]) -> list[Classifier]:
    """``models`` with later ones of an already seen name left out."""
    seen: dict[str, Classifier] = {}
    for model in models:
        seen.setdefault(model.name, model)
    return list(seen.values())


def transfer_outcome(
    model: Classifier, images: torch.Tensor, pairs: torch.Tensor, adversarial: torch.Tensor, classes: torch.Tensor
) -> dict[str, torch.Tensor]:
    """How ``model`` classifies the adversarial images (as valid images: clamped to [0, 1]).

    Returns ``{"predicted", "fooled_targeted" (it predicts the pair's class), "fooled_untargeted"
    (its prediction differs from its own on the original image)}``, each ``(P,)``.
    """
    predicted = predict(model, adversarial.clamp(0, 1)).argmax(1)
    clean = predict(model, images).argmax(1)[pairs]
    return {"predicted": predicted, "fooled_targeted": predicted == classes, "fooled_untargeted": predicted != clean}


def run_from_config(classifier: Classifier, images: ImageSet, cfg, trainer: dict) -> AdversarialResult:
    """``technique=adversarial``: the options of ``conf/technique/adversarial.yaml``, checked before any
    other model is loaded."""
    from omegaconf import OmegaConf

    options = OmegaConf.to_container(cfg.adversarial, resolve=True)
    target = OmegaConf.to_container(cfg, resolve=True)["target"]
    eot_options = dict(options.get("eot") or {})
    samples, eval_samples = eot_options.pop("samples", 8), eot_options.pop("eval_samples", 32)
    try:
        distribution = TransformDistribution(**eot_options)
    except TypeError as error:
        raise NetvizError(f"adversarial.eot: {error}".replace("TransformDistribution.__init__() ", "")) from None
    method = options["method"]
    check_attack(method, cfg.iterations, cfg.lr, options["eps"], options["step_size"])
    targets = resolve_targets(classifier, target, options["targeted"])
    pretrained = cfg.model.weights is not None
    ensemble = load_models(options["ensemble"] or [], pretrained=pretrained, score=cfg.model.score)
    eval_models = load_models(options["eval_models"] or [], pretrained=pretrained, score=cfg.model.score)
    return make_fooling_images(
        classifier,
        images,
        targets,
        method=method,
        targeted=options["targeted"],
        iterations=cfg.iterations,
        lr=cfg.lr,
        eps=options["eps"],
        step_size=options["step_size"],
        random_start=options["random_start"],
        eot=distribution,
        eot_samples=samples,
        eot_eval_samples=eval_samples,
        ensemble=ensemble,
        eval_models=eval_models,
        log_every=cfg.trainer.log_every,
        seed=cfg.seed,
        **trainer,
    )
