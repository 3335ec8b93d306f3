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
input, which is how it is written here: the loop's parts (:mod:`netviz.parts`) are the normalized
input, the objective ``ClassScore() - l2 * SquaredL2() - tv * TotalVariation()``, a roll jitter,
normalized ascent, and the post-steps decay, clamp and blur.

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

Lucid's way (Olah et al. 2017, "Feature Visualization") is a choice of parts away: ``param=fourier``,
``color=decorrelated``, ``valid=sigmoid``, ``transforms=lucid``, ``optimizer=adam`` (``lr`` its
learning rate; ``experiment=lucid2017``), see :mod:`netviz.parts.choices`. The defaults stay the course's.
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
from netviz.config import ClassVizConfig
from netviz.models import Classifier
from netviz.naming import file_name, pair_name
from netviz.parts import (
    BlurEvery,
    ClassScore,
    Decay,
    Evaluation,
    Objective,
    SquaredL2,
    L2Norm,
    TotalVariation,
    total_variation,
)
from netviz.parts.choices import ASCENT, BlurImageEvery, check_choices, is_course_parameterization, parameterization_for, random_start
from netviz.parts.image_parameterization import ImageParameterization
from netviz.results import Result, per_sample, unique_names
from netviz.techniques.base import chunks, default_batch_size, optimize
from netviz.techniques.featureviz import FeatureVisualization, visualization_parts

__all__ = ["ClassVisualization", "ClassVizConfig", "ClassVizOptions", "ClassVizResult", "class_visualization",
           "noise_start", "options_from_config", "total_variation"]

L2_FORMS = ("squared", "norm", "decay")
INITS = ("noise", "image")
TOP_K = 5


@dataclass
class ClassVizOptions(ClassVizConfig):
    """Every knob of class visualization, checked: the section's, plus ``log_every`` (``trainer.log_every``:
    record the step metrics every this many steps) and ``seed`` (the top-level ``seed``: the noise start
    and the jitter offsets). Defaults are the course's."""

    log_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise NetvizError(f"classviz.init={self.init!r} is not one of {', '.join(INITS)}")
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
        check_choices("classviz", self.param, self.color, self.valid, self.decay, self.transforms, self.optimizer)

    @property
    def blurs(self) -> bool:
        """Whether any blur runs (``blur_every`` is neither ``None`` nor 0)."""
        return bool(self.blur_every)

    def penalty(self) -> Objective | None:
        """What the regularizers subtract from the score (``None``: nothing)."""
        terms = []
        if self.l2 and self.l2_form == "squared":
            terms.append(self.l2 * SquaredL2())
        elif self.l2 and self.l2_form == "norm":
            terms.append(self.l2 * L2Norm())
        if self.tv:
            terms.append(self.tv * TotalVariation(self.tv_beta))
        if not terms:
            return None
        penalty = terms[0]
        for term in terms[1:]:
            penalty = penalty + term
        return penalty

    def caption(self) -> str:
        """The settings as the report's captions read: ``200 iterations, lr 5, L2 1e-3 (squared), ...``."""
        parts = [f"{self.iterations} iterations", f"lr {self.lr:g}"]
        parts.append(f"L2 {self.l2:g} ({self.l2_form})" if self.l2 else "no L2")
        parts.append(f"blur {self.blur_sigma:g} px every {self.blur_every} steps" if self.blurs else "no blur")
        if self.transforms == "course":
            parts.append(f"jitter {self.max_jitter} px" if self.max_jitter else "no jitter")
        if self.tv:
            parts.append(f"TV {self.tv:g} (beta {self.tv_beta:g})")
        if not is_course_parameterization(self.param, self.color, self.valid):
            parts.append(f"{self.param} {self.color} {self.valid}")
        if self.transforms != "course":
            parts.append(f"{self.transforms} transforms")
        if self.optimizer != ASCENT:
            parts[0:2] = [f"{self.iterations} iterations", f"{self.optimizer} lr {self.lr:g}"]
        return ", ".join(parts)


class ClassVisualization(FeatureVisualization):
    """Gradient ascent on ``score(target) - penalty`` with jitter, clamping and blur (see the module), or
    with Lucid's parameterization, transforms and optimizer (``param``, ``color``, ``valid``, ``transforms``,
    ``optimizer``; :mod:`netviz.parts.choices`). The snapshots are :class:`FeatureVisualization`'s.

    Args:
        classifier, pixels, targets: as :class:`InputOptimizer` (``pixels`` is the start, in [0, 1]
            or, for a noise start, beyond it: only the normalized values matter).
        options: the knobs, :class:`ClassVizOptions`.
        sample_names: one name per sample, for live metrics and snapshots.

    Attributes set by the loop, besides the base's:
        snapshots: ``[(updates done, pixels (N, 3, S, S) on the CPU), ...]``, every ``show_every``
            updates, the start and the end included (sent live as ``image/<sample>`` too).
        blur_steps: the steps at which the blur ran.
    """

    progress_metrics = {"score": "score", "p(target)": "probability"}

    def __init__(
        self,
        classifier: Classifier,
        pixels: torch.Tensor,
        targets: torch.Tensor,
        options: ClassVizOptions,
        sample_names: Sequence[str] | None = None,
    ):
        penalty = options.penalty()
        parts = visualization_parts(classifier, options)
        post_steps = [Decay(options.l2)] if options.l2_form == "decay" and options.l2 else []
        post_steps += parts.pop("post_steps")  # the course's clamp, for the course's parameterization
        blur = None
        if options.blurs and isinstance(parts["parameterization"], ImageParameterization):
            blur = BlurImageEvery(parts["parameterization"], options.blur_every, options.blur_sigma)
        elif options.blurs:
            blur = BlurEvery(options.blur_every, options.blur_sigma)
        if blur is not None:
            post_steps.append(blur)
        super().__init__(
            classifier,
            pixels,
            targets,
            show_every=options.show_every,
            iterations=options.iterations,
            log_every=options.log_every,
            objective=ClassScore() if penalty is None else ClassScore() - penalty,
            post_steps=post_steps,
            sample_names=sample_names,
            name="classviz",
            **parts,
        )
        self.options = options
        self.penalty_part = penalty
        self._blur = blur

    @property
    def blur_steps(self) -> list[int]:
        return [] if self._blur is None else self._blur.steps

    def penalty(self, x: torch.Tensor) -> torch.Tensor:
        """What the regularizers subtract from the score, per sample ``(N,)``, for model inputs ``x``."""
        if self.penalty_part is None:
            return torch.zeros(len(x), device=x.device, dtype=x.dtype)
        return self.penalty_part(Evaluation(x, logits=None, scores=None, targets=None))

    def evaluation_metrics(self, evaluation, objective):
        targets = evaluation.targets[:, None]
        return {
            "score": evaluation.logits.gather(1, targets).squeeze(1),
            "probability": evaluation.logits.float().softmax(dim=1).gather(1, targets).squeeze(1),
            "regularizer": self.penalty(evaluation.input).detach(),
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
        init: ``noise`` or ``image`` (then each panel shows start | final).
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
        """Run-level ``mean_final_probability``, ``mean_final_score``, ``target_top1_rate`` (the share of
        samples whose top-1 class is their target), and per sample ``final_score/<s>``,
        ``final_probability/<s>``. Classes by name go to :meth:`rows`, never into metrics."""
        return {
            "mean_final_probability": float(self.probability.mean()),
            "mean_final_score": float(self.score.float().mean()),
            "target_top1_rate": float((self.top_classes[:, 0] == self.targets).float().mean()),
            **per_sample("final_score", self.score, self.sample_names),
            **per_sample("final_probability", self.probability, self.sample_names),
        }

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
        """Each sample's final image, keyed by :func:`netviz.naming.file_name`; from an image start,
        start | final side by side (what the composer of report figures reads back)."""
        final = to_uint8(self.pixels)
        if self.init == "image":
            final = np.concatenate([to_uint8(self.start), final], axis=2)
        return {file_name(name): image for name, image in zip(self.sample_names, final)}

    def image_series(self) -> dict[str, list[tuple[int, np.ndarray]]]:
        """Every snapshot of every sample, keyed ``image/<sample>``, with its number of updates as step."""
        return {
            f"image/{name}": [(step, to_uint8(pixels[i])) for step, pixels in self.snapshots]
            for i, name in enumerate(self.sample_names)
        }

    def caption(self) -> str:
        """``Class visualization of Yorkshire terrier with efficientnet_lite0: 200 iterations, lr 5, ...``."""
        classes = list(dict.fromkeys(self.categories[int(t)] for t in self.targets))
        shown = ", ".join(classes) if len(classes) <= 3 else f"{len(classes)} classes"
        start = " from images" if self.init == "image" else ""
        return f"Class visualization of {shown}{start} with {self.model}: {self.options.caption()}"

    def figure(self):
        final = to_uint8(self.pixels)
        titles = [
            f"{name}\np={float(p):.2f}, top-1 {self.categories[int(c[0])]}"
            for name, p, c in zip(self.sample_names, self.probability, self.top_classes)
        ]
        if self.init == "image":
            cells = [list(to_uint8(self.start)), list(final)]
            return grid_figure(cells, [["start"] * len(titles), titles], row_labels=["start", "final"], suptitle=self.caption())
        return grid_figure([list(final)], [titles], suptitle=self.caption())


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
    batch_size: int | None = None,
    **trainer: Any,
) -> ClassVizResult:
    """Generate images that the classifier scores high for each target class, all in one batch.

    Samples are named by what they show (:mod:`netviz.naming`): the class from noise
    (``Yorkshire terrier``), ``image→class`` from an image (``hay→snail``), made unique.

    Args:
        classifier: a frozen model from :func:`netviz.load_model`.
        targets: class names or indices (one, or a list). With ``init_images`` they pair with the
            images: one each, or one target for every image, or one image for every target; ``None``
            means each image's own label (report Figure 10).
        init_images: start from these images instead of noise (Figure 11: hay -> snail).
        options: the knobs (default: the course's).
        batch_size: samples per chunk, run one chunk after another (``None``:
            :func:`~netviz.techniques.base.default_batch_size`, activations under 1 GiB). Samples are
            independent (the jitter offsets are the same for every sample of a step), so the images do
            not depend on it.
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
        parameterization = parameterization_for(classifier, options.param, options.color, options.valid, options.decay)
        if isinstance(parameterization, ImageParameterization):  # Lucent's start: random parameters, a nearly grey image
            start = random_start(parameterization, len(indices), options.seed)
        else:
            start = noise_start(classifier, len(indices), options.seed)
        names = unique_names([classifier.class_name(i) for i in indices])
        init = "noise"
    else:
        if len(init_images) == 0:
            raise NetvizError("classviz.init=image needs at least one image: choose them with data=... data.indices=[...]")
        start, indices, names = _pair_images_with_targets(classifier, init_images, indices)
        init = "image"
    target_tensor = torch.tensor(indices)
    if batch_size is None:
        batch_size = default_batch_size(classifier)
    modules = [
        optimize(ClassVisualization(classifier, start[part], target_tensor[part], options, sample_names=names[part]), **trainer)
        for part in chunks(len(indices), batch_size)
    ]
    logits = torch.cat([m.final_logits.float().cpu() for m in modules])
    probabilities = logits.softmax(dim=1)
    top = probabilities.topk(min(TOP_K, probabilities.shape[1]), dim=1)
    return ClassVizResult(
        technique="classviz",
        model=classifier.name,
        sample_names=names,
        history=_joined_history([m.history_on_cpu() for m in modules]),
        start=start.clamp(0, 1),
        pixels=torch.cat([m.pixels().cpu() for m in modules]),
        targets=target_tensor,
        score=logits.gather(1, target_tensor[:, None]).squeeze(1),
        probability=probabilities.gather(1, target_tensor[:, None]).squeeze(1),
        top_classes=top.indices,
        top_probabilities=top.values,
        snapshots=[(step, torch.cat([m.snapshots[k][1] for m in modules])) for k, (step, _) in enumerate(modules[0].snapshots)],
        options=options,
        categories=classifier.categories,
        init=init,
    )


def _joined_history(histories: list[dict]) -> dict[str, list[tuple[int, torch.Tensor]]]:
    """The step metrics of consecutive chunks as one history (every chunk records the same steps)."""
    return {
        name: [(step, torch.cat([h[name][k][1] for h in histories])) for k, (step, _) in enumerate(points)]
        for name, points in histories[0].items()
    }


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
    labels = [pair_name(name, classifier.class_name(i)) for name, i in zip(names, indices)]
    return pixels.clone(), list(indices), unique_names(labels)


# The top-level keys that alias this technique's options (see netviz.techniques: set, they are the section's).
ALIASES = ("iterations", "lr", "l2")


def options_from_config(cfg: Any) -> ClassVizOptions:
    """The checked options of a job's config, no model needed: the ``classviz`` section, with the
    top-level ``iterations``/``lr``/``l2`` where they are set, ``trainer.log_every`` and ``seed``."""
    from netviz.techniques import section_values

    values = section_values(cfg, "classviz", ClassVizConfig, ALIASES)
    return ClassVizOptions(**values, log_every=cfg.trainer.log_every, seed=cfg.seed)


def run(classifier: Classifier, images: ImageSet, options: ClassVizOptions, cfg: Any, trainer: dict) -> ClassVizResult:
    """``technique=classviz``: class visualization of ``target`` from noise, or from ``data``'s images
    with ``classviz.init=image``."""
    from omegaconf import OmegaConf

    targets = cfg.target
    if OmegaConf.is_config(targets):
        targets = list(OmegaConf.to_container(targets, resolve=True))
    return class_visualization(
        classifier, targets, init_images=images if options.init == "image" else None, options=options,
        batch_size=cfg.trainer.get("batch_size"), **trainer
    )


def run_from_config(classifier: Classifier, images: ImageSet, cfg: Any, trainer: dict) -> ClassVizResult:
    """``technique=classviz`` from a whole job config (options checked, then :func:`run`)."""
    return run(classifier, images, options_from_config(cfg), cfg, trainer)
