"""Class visualization: an image that maximizes a class score, found by gradient ascent on the input.

Simonyan, Vedaldi and Zisserman (2014), "Deep Inside Convolutional Networks", find
``argmax_x score_c(x) - l2 * R(x)`` from a random start; Yosinski et al. (2015), "Understanding Neural
Networks Through Deep Visualization", add the regularizers that make the result look like something:
random jitter of the input, and a Gaussian blur every few steps. The update is the course's
(CS231n / RDFIA): each step

1. rolls the image by a random ``(dx, dy)`` in ``0..max_jitter`` pixels, wrapping around;
2. takes the gradient ``g`` of ``score(target) - l2 * R(x) - tv * TV(x)`` at the rolled image;
3. steps ``x <- x + lr * g / ||g||`` (one norm per sample) and rolls back;
4. clamps every channel to the range of valid pixels in the model's normalized space;
5. blurs with a Gaussian of std ``blur_sigma`` pixels when ``step % blur_every == 0``.

Rolling, stepping and rolling back is the same as stepping with the gradient taken *through* a rolled
input, which is how it is written here (:meth:`InputOptimizer.model_input`).

The L2 regularizer ``R`` has three forms (``l2_form``):

- ``"squared"`` (default): ``R(x) = ||x||^2``, Simonyan et al. (2014) eq. 1 and CS231n. Its gradient
  ``2 * l2 * x`` grows with the image, so ``l2`` trades contrast against score.
- ``"norm"``: ``R(x) = ||x||``, the RDFIA handout's code. Its gradient ``l2 * x / ||x||`` has length
  exactly ``l2`` whatever the image, so at the course's ``l2 = 1e-3`` it is a thousandth of a unit
  step and the L2 sweeps of the report's Figures 8 and 14 barely change anything.
- ``"decay"``: no penalty in the objective; after each step ``x <- (1 - l2) * x``, Yosinski et al.
  (2015)'s "L2 decay".

``tv`` adds total variation, ``TV(x) = sum((dx^2 + dy^2) ^ (tv_beta / 2))`` over neighbouring pixel
differences (Mahendran and Vedaldi 2016, "Visualizing Deep Convolutional Neural Networks Using
Natural Pre-Images"), which favours piecewise-smooth images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from netviz.data import ImageSet
from netviz.errors import NetvizError, check_int, check_number
from netviz.figures import grid_figure, to_uint8
from netviz.models import Classifier
from netviz.results import Result, per_sample, safe_name, unique_names
from netviz.techniques.base import InputOptimizer, optimize, unit_gradient
from netviz.transforms import gaussian_blur, jitter

L2_FORMS = ("squared", "norm", "decay")
INITS = ("noise", "image")
TOP_K = 5
# Avoids the infinite gradient of (d^2)^(beta/2) at d = 0 when tv_beta < 2 (Mahendran and Vedaldi 2016).
TV_EPSILON = 1e-8


@dataclass(frozen=True)
class ClassVizOptions:
    """Every knob of class visualization, with the course's defaults (``conf/technique/classviz.yaml``).

    Attributes:
        iterations: the number of updates.
        lr: the length of each step in the normalized input space (the gradient is scaled to unit norm).
        l2: the weight of the L2 regularizer (see ``l2_form``).
        l2_form: ``"squared"`` (``||x||^2``), ``"norm"`` (``||x||``) or ``"decay"`` (``x <- (1 - l2) x``).
        blur_every: blur when ``step % blur_every == 0``; ``None`` or 0: never.
        blur_sigma: the blur's Gaussian std, in pixels.
        max_jitter: the largest random roll, in pixels, along each axis (0: no jitter).
        show_every: keep a snapshot of the image every this many updates (MLflow's step slider).
        tv: the weight of the total-variation regularizer (0: off).
        tv_beta: the exponent of the total variation (2: squared differences).
        log_every: record the step metrics every this many steps.
        seed: seeds the noise start and the jitter offsets.
    """

    iterations: int = 200
    lr: float = 5.0
    l2: float = 1e-3
    l2_form: str = "squared"
    blur_every: int | None = 10
    blur_sigma: float = 0.5
    max_jitter: int = 16
    show_every: int = 25
    tv: float = 0.0
    tv_beta: float = 2.0
    log_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("iterations", self.iterations, minimum=1)
        check_number("lr", self.lr, positive=True)
        check_number("l2", self.l2)
        if self.l2_form not in L2_FORMS:
            raise NetvizError(f"classviz.l2_form={self.l2_form!r} is not one of {', '.join(L2_FORMS)}")
        if self.l2_form == "decay" and self.l2 >= 1:
            raise NetvizError(f"l2={self.l2} with classviz.l2_form=decay would zero the image; give 0 <= l2 < 1")
        if self.blur_every is not None:
            check_int("classviz.blur_every", self.blur_every, minimum=0, hint="or null for no blur")
        check_number("classviz.blur_sigma", self.blur_sigma, positive=True)
        check_int("classviz.max_jitter", self.max_jitter, minimum=0)
        check_int("classviz.show_every", self.show_every, minimum=1)
        check_number("classviz.tv", self.tv)
        check_number("classviz.tv_beta", self.tv_beta, positive=True)
        check_int("trainer.log_every", self.log_every, minimum=1)

    @property
    def blurs(self) -> bool:
        """Whether any blur runs (``blur_every`` is neither ``None`` nor 0)."""
        return bool(self.blur_every)


def total_variation(x: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """Total variation ``(N,)`` of images ``(N, C, H, W)``: ``sum((dx^2 + dy^2) ^ (beta / 2))``.

    Differences to the right and downward neighbour, over the ``(H - 1) x (W - 1)`` pixels that have
    both (Mahendran and Vedaldi 2016, eq. 6).
    """
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    squared = dx.square() + dy.square()
    if beta != 2.0:
        squared = (squared + TV_EPSILON).pow(beta / 2)
    return squared.flatten(1).sum(dim=1)


class ClassVisualization(InputOptimizer):
    """Gradient ascent on ``score(target) - penalty`` with jitter, clamping and blur (see the module).

    Args:
        classifier, pixels, targets: as :class:`InputOptimizer` (``pixels`` is the start, in [0, 1]
            or, for a noise start, beyond it: only the normalized values matter).
        options: the knobs, :class:`ClassVizOptions`.

    Attributes set by the loop, besides the base's:
        snapshots: ``[(updates done, pixels (N, 3, S, S) on the CPU), ...]``, every ``show_every``
            updates, the start and the end included.
        blur_steps: the steps at which the blur ran.
    """

    def __init__(self, classifier: Classifier, pixels: torch.Tensor, targets: torch.Tensor, options: ClassVizOptions):
        super().__init__(classifier, pixels, targets, iterations=options.iterations, log_every=options.log_every)
        self.options = options
        low, high = classifier.input_bounds()
        self.register_buffer("low", low.clone())
        self.register_buffer("high", high.clone())
        # Offsets come from their own CPU generator: the same on any device, and independent of
        # whatever else draws random numbers.
        self._jitter_generator = torch.Generator().manual_seed(options.seed)
        self._offsets: tuple[int, int, int] = (-1, 0, 0)  # (step, dx, dy)
        self._penalty: torch.Tensor | None = None
        self.snapshots: list[tuple[int, torch.Tensor]] = [(0, self.pixels().cpu())]
        self.blur_steps: list[int] = []

    def offsets(self, step: int) -> tuple[int, int]:
        """The jitter ``(dx, dy)`` of ``step``, drawn once per step, uniform in ``0..max_jitter``."""
        if self._offsets[0] != step:
            if self.options.max_jitter > 0:
                dx, dy = torch.randint(0, self.options.max_jitter + 1, (2,), generator=self._jitter_generator).tolist()
            else:
                dx, dy = 0, 0
            self._offsets = (step, dx, dy)
        return self._offsets[1], self._offsets[2]

    def model_input(self, x: torch.Tensor, step: int) -> torch.Tensor:
        if step >= self.iterations:  # the final evaluation sees the image itself
            return x
        return jitter(x, *self.offsets(step))

    def penalty(self, x: torch.Tensor) -> torch.Tensor:
        """What the regularizers subtract from the score, per sample ``(N,)``, at the image the model sees."""
        options = self.options
        penalty = torch.zeros(len(x), device=x.device, dtype=x.dtype)
        if options.l2 and options.l2_form == "squared":
            penalty = penalty + options.l2 * x.flatten(1).square().sum(dim=1)
        elif options.l2 and options.l2_form == "norm":
            penalty = penalty + options.l2 * x.flatten(1).norm(dim=1)
        if options.tv:
            penalty = penalty + options.tv * total_variation(x, options.tv_beta)
        return penalty

    def objective(self, x, logits, scores, step):
        # The penalty of the rolled image: what the course computes (the same for L2, not quite for TV).
        self._penalty = self.penalty(self.model_input(x, step))
        return scores.gather(1, self.targets[:, None]).squeeze(1) - self._penalty

    def update(self, x, grad, step):
        options = self.options
        x = x + options.lr * unit_gradient(grad)
        if options.l2_form == "decay" and options.l2:
            x = x * (1 - options.l2)
        x = torch.maximum(torch.minimum(x, self.high), self.low)
        if options.blurs and step % options.blur_every == 0:
            x = gaussian_blur(x, options.blur_sigma)
            self.blur_steps.append(step)
        done = step + 1
        if done % options.show_every == 0 or done == self.iterations:
            self.snapshots.append((done, self.classifier.to_pixels(x).cpu()))
        return x

    def step_metrics(self, logits, objective):
        targets = self.targets[:, None]
        return {
            "score": logits.gather(1, targets).squeeze(1),
            "probability": logits.float().softmax(dim=1).gather(1, targets).squeeze(1),
            "regularizer": self._penalty.detach(),
            "objective": objective,
        }


@dataclass
class ClassVizResult(Result):
    """Generated images and how the model sees them (report Figures 5-15).

    Attributes:
        start, pixels: ``(N, 3, S, S)`` the first and the final images, as pixels in [0, 1].
        targets: ``(N,)`` the class each image maximizes.
        score, probability: ``(N,)`` the target's logit and softmax probability for the final image.
        top_classes, top_probabilities: ``(N, 5)`` the model's five most probable classes for it.
        snapshots: ``[(updates done, pixels (N, 3, S, S)), ...]`` every ``show_every`` updates.
        options: the knobs the images were made with.
        categories: the model's class names.
    """

    start: torch.Tensor
    pixels: torch.Tensor
    targets: torch.Tensor
    score: torch.Tensor
    probability: torch.Tensor
    top_classes: torch.Tensor
    top_probabilities: torch.Tensor
    snapshots: list[tuple[int, torch.Tensor]]
    options: ClassVizOptions
    categories: list[str]
    init: str = "noise"

    def metrics(self) -> dict[str, float]:
        metrics = {
            **per_sample("final_score", self.score, self.sample_names),
            **per_sample("final_probability", self.probability, self.sample_names),
        }
        for k in range(TOP_K):
            metrics.update(per_sample(f"top{k + 1}_class", self.top_classes[:, k], self.sample_names))
            metrics.update(per_sample(f"top{k + 1}_probability", self.top_probabilities[:, k], self.sample_names))
        return metrics

    def rows(self) -> list[dict]:
        """Per sample: the target, its final score and probability, and the top-5 by name (``results.json``)."""
        return [
            {
                "sample": name,
                "target": int(self.targets[i]),
                "target_name": self.categories[int(self.targets[i])],
                "score": float(self.score[i]),
                "probability": float(self.probability[i]),
                "top5": [{"class": c, "probability": p} for c, p in self.top5(i)],
            }
            for i, name in enumerate(self.sample_names)
        ]

    def top5(self, index: int) -> list[tuple[str, float]]:
        """The model's five most probable ``(class name, probability)`` for final image ``index``."""
        return [
            (self.categories[int(c)], float(p)) for c, p in zip(self.top_classes[index], self.top_probabilities[index])
        ]

    def panels(self) -> dict[str, np.ndarray]:
        """The final image of each sample (what the composer of report figures reads back)."""
        return {safe_name(name): image for name, image in zip(self.sample_names, to_uint8(self.pixels))}

    def image_series(self) -> dict[str, list[tuple[int, np.ndarray]]]:
        """Every snapshot of every sample, keyed ``image/<sample>``, with its number of updates as step."""
        return {
            f"image/{name}": [(step, to_uint8(pixels[i])) for step, pixels in self.snapshots]
            for i, name in enumerate(self.sample_names)
        }

    def figure(self):
        final = to_uint8(self.pixels)
        titles = [
            f"{self.categories[int(t)]}\np={float(p):.2f}, top-1 {self.categories[int(c[0])]}"
            for t, p, c in zip(self.targets, self.probability, self.top_classes)
        ]
        o = self.options
        blur = f"blur {o.blur_sigma} every {o.blur_every}" if o.blurs else "no blur"
        caption = f"Class visualization, {self.model}: {o.iterations} it., lr {o.lr:g}, l2 {o.l2:g} ({o.l2_form}), {blur}"
        if o.tv:
            caption += f", tv {o.tv:g}"
        if self.init == "image":
            cells = [list(to_uint8(self.start)), list(final)]
            return grid_figure(cells, [["start"] * len(titles), titles], row_labels=["start", "final"], suptitle=caption)
        return grid_figure([list(final)], [titles], suptitle=caption)


def noise_start(classifier: Classifier, count: int, seed: int = 0) -> torch.Tensor:
    """``count`` random starts as pixels: standard normal noise in the model's normalized space (the course's
    ``torch.randn``), so values fall beyond [0, 1] until the first clamp."""
    generator = torch.Generator().manual_seed(seed)
    size = classifier.input_size
    noise = torch.randn(count, 3, size, size, generator=generator)
    return classifier.to_pixels(noise.to(classifier.mean.device)).cpu()


def class_visualization(
    classifier: Classifier,
    targets: int | str | Sequence[int | str] | None,
    *,
    init_images: ImageSet | None = None,
    options: ClassVizOptions | None = None,
    **trainer: Any,
) -> ClassVizResult:
    """Generate images that the classifier scores high for each target class, all in one batch.

    Args:
        classifier: a frozen model from :func:`netviz.load_model`.
        targets: class names or indices (one, or a list). With ``init_images`` they pair with the
            images: one each, or one target for every image, or one image for every target; ``None``
            means each image's own label (report Figure 10).
        init_images: start from these images instead of noise (Figure 11: hay -> snail).
        options: the knobs (default: the course's).
        **trainer: passed to :func:`netviz.techniques.base.optimize` (``accelerator``, ``devices``, ``progress``).

    Example:
        >>> import netviz
        >>> model = netviz.load_model("efficientnet_lite0")
        >>> result = netviz.class_visualization(model, "Yorkshire terrier")
        >>> result.pixels.shape
        torch.Size([1, 3, 224, 224])
    """
    options = options or ClassVizOptions()
    target_list = [] if targets is None else list(targets) if isinstance(targets, (list, tuple)) else [targets]
    indices = [classifier.class_index(t) for t in target_list]
    if init_images is None:
        if not indices:
            raise NetvizError("class visualization needs a target class: give target=<class name or index>")
        start = noise_start(classifier, len(indices), options.seed)
        names = unique_names([classifier.class_name(i) for i in indices])
        init = "noise"
    else:
        if len(init_images) == 0:
            raise NetvizError("classviz.init=image needs at least one image: choose them with data=... data.indices=[...]")
        start, indices, names = _pair_images_with_targets(classifier, init_images, indices)
        init = "image"
    module = ClassVisualization(classifier, start, torch.tensor(indices), options)
    optimize(module, **trainer)
    logits = module.final_logits.float().cpu()
    probabilities = logits.softmax(dim=1)
    target_tensor = torch.tensor(indices)
    top = probabilities.topk(min(TOP_K, probabilities.shape[1]), dim=1)
    return ClassVizResult(
        technique="classviz",
        model=classifier.name,
        sample_names=names,
        history=module.history_on_cpu(),
        start=start.clamp(0, 1),
        pixels=module.pixels().cpu(),
        targets=target_tensor,
        score=logits.gather(1, target_tensor[:, None]).squeeze(1),
        probability=probabilities.gather(1, target_tensor[:, None]).squeeze(1),
        top_classes=top.indices,
        top_probabilities=top.values,
        snapshots=module.snapshots,
        options=options,
        categories=classifier.categories,
        init=init,
    )


def _pair_images_with_targets(
    classifier: Classifier, images: ImageSet, indices: list[int]
) -> tuple[torch.Tensor, list[int], list[str]]:
    """Starts, targets and sample names for an image start: one target per image, broadcast either way."""
    if not indices:
        unknown = [name for name, label in zip(images.names, images.labels.tolist()) if label < 0]
        if unknown:
            raise NetvizError(f"images {unknown} have no label to use as target; give target=<class name or index>")
        indices = images.labels.tolist()
    pixels, names = images.pixels, images.names
    if len(pixels) == 1 and len(indices) > 1:
        pixels, names = pixels.expand(len(indices), -1, -1, -1), names * len(indices)
    elif len(indices) == 1 and len(pixels) > 1:
        indices = indices * len(pixels)
    elif len(indices) != len(pixels):
        raise NetvizError(
            f"{len(pixels)} images and {len(indices)} targets do not pair up; give one target, one image, or as many of each"
        )
    labels = [f"{name}_to_{classifier.class_name(i)}" for name, i in zip(names, indices)]
    return pixels.clone(), list(indices), unique_names(labels)


def options_from_config(cfg: Any) -> tuple[ClassVizOptions, str]:
    """``(options, init)`` from a job's config: top-level ``iterations``/``lr``/``l2``/``seed`` and ``classviz.*``."""
    section = dict(cfg.classviz or {})
    init = section.pop("init", "noise")
    if init not in INITS:
        raise NetvizError(f"classviz.init={init!r} is not one of {', '.join(INITS)}")
    known = set(ClassVizOptions.__dataclass_fields__) - {"iterations", "lr", "l2", "log_every", "seed"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise NetvizError(f"unknown classviz option(s) {', '.join(unknown)}; choose from init, {', '.join(sorted(known))}")
    options = ClassVizOptions(
        iterations=cfg.iterations,
        lr=cfg.lr,
        l2=cfg.l2,
        log_every=cfg.trainer.log_every,
        seed=cfg.seed,
        **section,
    )
    return options, init


def run_from_config(classifier: Classifier, images: ImageSet, cfg: Any, trainer: dict) -> ClassVizResult:
    """``technique=classviz``: class visualization of ``target`` from noise, or from ``data``'s images
    with ``classviz.init=image``."""
    from omegaconf import OmegaConf

    options, init = options_from_config(cfg)
    targets = cfg.target
    if OmegaConf.is_config(targets):
        targets = list(OmegaConf.to_container(targets, resolve=True))
    return class_visualization(
        classifier, targets, init_images=images if init == "image" else None, options=options, **trainer
    )
