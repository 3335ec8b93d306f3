"""Class visualization: an image that maximizes a class score, found by gradient ascent on the input.

Simonyan, Vedaldi and Zisserman (2014), "Deep Inside Convolutional Networks", find
``argmax_x score_c(x) - l2 * R(x)`` from a random start; Yosinski et al. (2015), "Understanding Neural
Networks Through Deep Visualization", add the regularizers that make the result look like something:
random jitter of the input, and a Gaussian blur every few steps. The update is the course's
(CS231n / RDFIA): each step

1. rolls each image by its own random ``(dx, dy)`` in ``0..max_jitter`` pixels, wrapping around
   (each sample has its own seeded generator, :func:`sample_seed`, for its start and its offsets);
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

import contextlib
import hashlib
import json
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
    NormalizedAscent,
    RollJitter,
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
           "class_visualization_grid", "noise_start", "options_from_config", "sample_seed", "total_variation"]

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

    def penalty(self, l2: float | torch.Tensor | None = None) -> Objective | None:
        """What the regularizers subtract from the score (``None``: nothing); ``l2``: the weight, if not
        ``self.l2`` (one per sample ``(N,)`` in a batched grid)."""
        l2 = self.l2 if l2 is None else l2
        uses_l2 = bool((l2 != 0).any()) if isinstance(l2, torch.Tensor) else bool(l2)
        terms = []
        if uses_l2 and self.l2_form == "squared":
            terms.append(l2 * SquaredL2())
        elif uses_l2 and self.l2_form == "norm":
            terms.append(l2 * L2Norm())
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
        sample_options: one :class:`ClassVizOptions` per sample, for a batched grid: each sample then
            carries its own ``lr``, ``l2`` and ``blur_every`` (the other knobs are ``options``').
        jitter_seeds: each sample's jitter seed (default: :func:`sample_seed` of ``options.seed`` and
            the sample's index), so that a sample rolls the same in any batch.

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
        sample_options: Sequence[ClassVizOptions] | None = None,
        jitter_seeds: Sequence[int] | None = None,
    ):
        lr, l2, blur_every, blurs = options.lr, options.l2, options.blur_every, options.blurs
        if sample_options is not None:  # a batched grid: per-sample settings (scalars stay the scalar path)
            lr = torch.tensor([o.lr for o in sample_options])
            l2 = torch.tensor([o.l2 for o in sample_options], dtype=torch.float64)
            blur_every = [o.blur_every or 0 for o in sample_options]
            blurs = any(blur_every)
        penalty = options.penalty(l2 if sample_options is None else l2.float())
        decays = options.l2_form == "decay" and (bool(l2.any()) if sample_options is not None else bool(l2))
        parts = visualization_parts(classifier, options)
        if options.transforms == "course":  # each sample rolls by its own seeded offsets, in any batch
            parts["transforms"] = [RollJitter(options.max_jitter, list(jitter_seeds or sample_seeds(options.seed, len(targets))))]
        if options.optimizer == ASCENT:
            parts["step"] = NormalizedAscent(lr)
        post_steps = [Decay(l2)] if decays else []
        post_steps += parts.pop("post_steps")  # the course's clamp, for the course's parameterization
        blur = None
        if blurs and isinstance(parts["parameterization"], ImageParameterization):
            blur = BlurImageEvery(parts["parameterization"], options.blur_every, options.blur_sigma)
        elif blurs:
            blur = BlurEvery(blur_every, options.blur_sigma)
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


def sample_seed(seed: int, index: int) -> int:
    """The seed of sample ``index`` of a job seeded ``seed``: its noise start and its jitter offsets.
    Every sample draws from generators of its own, so a sample's image is the same alone, in its
    job's batch, or in a batched grid beside other jobs' samples (:mod:`netviz.batched`)."""
    digest = hashlib.sha256(f"netviz sample {int(seed)} {int(index)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def sample_seeds(seed: int, count: int) -> list[int]:
    """:func:`sample_seed` of samples ``0..count-1``."""
    return [sample_seed(seed, index) for index in range(count)]


def noise_start(classifier: Classifier, count: int, seed: int = 0) -> torch.Tensor:
    """``count`` random starts as pixels: standard normal noise in the model's normalized space (the course's
    ``torch.randn``), so values fall beyond [0, 1] until the first clamp. Sample ``i`` draws from its own
    generator, seeded :func:`sample_seed` ``(seed, i)``."""
    size = classifier.input_size
    noise = torch.cat([
        torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(s)) for s in sample_seeds(seed, count)
    ])
    return classifier.to_pixels(noise.to(classifier.mean.device)).cpu()


def start_from_noise(classifier: Classifier, options: ClassVizOptions, count: int) -> torch.Tensor:
    """The starts of ``count`` samples: the course's noise (:func:`noise_start`), or for Lucid's
    parameterization Lucent's random parameters, a nearly grey image."""
    parameterization = parameterization_for(classifier, options.param, options.color, options.valid, options.decay)
    if isinstance(parameterization, ImageParameterization):
        return random_start(parameterization, count, options.seed)
    return noise_start(classifier, count, options.seed)


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
            independent (each draws its own noise and jitter offsets, :func:`sample_seed`), so the
            images do not depend on it.
        **trainer: passed to :func:`netviz.techniques.base.optimize` (``accelerator``, ``devices``, ``progress``).

    Example:
        >>> import netviz
        >>> model = netviz.load_model("efficientnet_lite0")
        >>> result = netviz.class_visualization(model, "Yorkshire terrier")
        >>> result.pixels.shape
        torch.Size([1, 3, 224, 224])
    """
    options = options or ClassVizOptions()
    start, indices, names, init = _samples(classifier, targets, init_images)
    if init == "noise":
        start = start_from_noise(classifier, options, len(indices))
    sample_count = len(indices)
    return _visualize(classifier, start, indices, names, options, None, sample_seeds(options.seed, sample_count),
                      [(slice(0, sample_count), options, init)], batch_size, trainer)[0]


# The options a batched grid lets every sample carry for itself (the rest must be equal across the grid).
PER_SAMPLE_OPTIONS = ("lr", "l2", "blur_every", "seed")


def class_visualization_grid(
    classifier: Classifier,
    jobs: Sequence[tuple[int | str | Sequence[int | str], ClassVizOptions]],
    *,
    batch_size: int | None = None,
    **trainer: Any,
) -> list[ClassVizResult]:
    """Several class visualizations from noise in one batch, each sample with its own hyperparameters.

    ``jobs`` are ``(targets, options)`` pairs that differ only in the targets and in
    :data:`PER_SAMPLE_OPTIONS` (``lr``, ``l2``, ``blur_every``, ``seed``): a grid over them runs as
    one loop, one forward/backward pass for all its samples per step, instead of one loop per job.
    Each job's samples start from its own seeded noise and roll by their own jitter
    (:func:`sample_seed`), so each result is the one :func:`class_visualization` gives for that job
    (bit for bit on a GPU; on a CPU up to float rounding, PyTorch's convolution taking another kernel
    for a batch of one). Returns one result per job, in order.
    """
    if not jobs:
        return []
    first = jobs[0][1]
    shared = {k: v for k, v in vars(first).items() if k not in PER_SAMPLE_OPTIONS}
    starts, indices, names, sample_options, seeds, parts = [], [], [], [], [], []
    for targets, options in jobs:
        differs = sorted(k for k, v in shared.items() if getattr(options, k) != v)
        if differs or options.init != "noise":
            raise NetvizError(f"a batched grid varies only {', '.join(PER_SAMPLE_OPTIONS)} and targets from noise; "
                              f"these jobs also differ in {', '.join(differs) or 'init'}: run them one by one")
        _, job_indices, job_names, _ = _samples(classifier, targets, None)
        parts.append((slice(len(indices), len(indices) + len(job_indices)), options, "noise"))
        starts.append(start_from_noise(classifier, options, len(job_indices)))
        indices += job_indices
        names += job_names
        sample_options += [options] * len(job_indices)
        seeds += sample_seeds(options.seed, len(job_indices))
    return _visualize(classifier, torch.cat(starts), indices, names, first, sample_options, seeds, parts, batch_size, trainer)


def _samples(classifier: Classifier, targets, init_images: ImageSet | None) -> tuple[torch.Tensor | None, list[int], list[str], str]:
    """``(start pixels or None for noise, target indices, sample names, init)`` of one job."""
    target_list = [] if targets is None else list(targets) if isinstance(targets, (list, tuple)) else [targets]
    indices = [classifier.class_index(t) for t in target_list]
    if init_images is None:
        if not indices:
            raise NetvizError("class visualization needs a target class: give target=<class name or index>")
        return None, indices, unique_names([classifier.class_name(i) for i in indices]), "noise"
    if len(init_images) == 0:
        raise NetvizError("classviz.init=image needs at least one image: choose them with data=... data.indices=[...]")
    start, indices, names = _pair_images_with_targets(classifier, init_images, indices)
    return start, indices, names, "image"


def _visualize(
    classifier: Classifier,
    start: torch.Tensor,
    indices: list[int],
    names: list[str],
    options: ClassVizOptions,
    sample_options: list[ClassVizOptions] | None,
    seeds: list[int],
    parts: list[tuple[slice, ClassVizOptions, str]],
    batch_size: int | None,
    trainer: dict,
) -> list[ClassVizResult]:
    """Run the samples in chunks of ``batch_size``, then one result per ``(samples, options, init)`` part."""
    target_tensor = torch.tensor(indices)
    if batch_size is None:
        batch_size = default_batch_size(classifier)
    modules = [
        optimize(ClassVisualization(classifier, start[chunk], target_tensor[chunk], options, sample_names=names[chunk],
                                    sample_options=None if sample_options is None else sample_options[chunk],
                                    jitter_seeds=seeds[chunk]), **trainer)
        for chunk in chunks(len(indices), batch_size)
    ]
    logits = torch.cat([m.final_logits.float().cpu() for m in modules])
    pixels = torch.cat([m.pixels().cpu() for m in modules])
    history = _joined_history([m.history_on_cpu() for m in modules])
    snapshots = [(step, torch.cat([m.snapshots[k][1] for m in modules])) for k, (step, _) in enumerate(modules[0].snapshots)]
    results = []
    for part, part_options, init in parts:
        part_logits, part_targets = logits[part], target_tensor[part]
        probabilities = part_logits.softmax(dim=1)
        top = probabilities.topk(min(TOP_K, probabilities.shape[1]), dim=1)
        results.append(ClassVizResult(
            technique="classviz",
            model=classifier.name,
            sample_names=names[part],
            history={name: [(step, values[part]) for step, values in points] for name, points in history.items()},
            start=start[part].clamp(0, 1),
            pixels=pixels[part],
            targets=part_targets,
            score=part_logits.gather(1, part_targets[:, None]).squeeze(1),
            probability=probabilities.gather(1, part_targets[:, None]).squeeze(1),
            top_classes=top.indices,
            top_probabilities=top.values,
            snapshots=[(step, images[part]) for step, images in snapshots],
            options=part_options,
            categories=classifier.categories,
            init=init,
        ))
    return results


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


# Results a batched grid computed for the jobs it is about to run (netviz.batched), by ahead_key.
_COMPUTED_AHEAD: dict[str, ClassVizResult] = {}


def ahead_key(options: ClassVizOptions, targets) -> str:
    """What a job from noise computes, as a key: its options and targets (the model and data are the grid's)."""
    return json.dumps([vars(options), targets], sort_keys=True, default=str)


@contextlib.contextmanager
def computed_ahead(results: dict[str, ClassVizResult]):
    """While the block runs, a job whose :func:`ahead_key` is in ``results`` returns that result instead
    of computing it (a batched grid computed it with its neighbours, :mod:`netviz.batched`)."""
    _COMPUTED_AHEAD.update(results)
    try:
        yield
    finally:
        _COMPUTED_AHEAD.clear()


def uses_images(options: ClassVizOptions) -> bool:
    """Only an image start reads ``data``'s images."""
    return options.init == "image"


def run(classifier: Classifier, images: ImageSet | None, options: ClassVizOptions, cfg: Any, trainer: dict) -> ClassVizResult:
    """``technique=classviz``: class visualization of ``target`` from noise, or from ``data``'s images
    with ``classviz.init=image`` (or the result a batched grid computed ahead for this job)."""
    from omegaconf import OmegaConf

    targets = cfg.target
    if OmegaConf.is_config(targets):
        targets = list(OmegaConf.to_container(targets, resolve=True))
    ahead = _COMPUTED_AHEAD.get(ahead_key(options, targets)) if options.init == "noise" else None
    if ahead is not None:
        return ahead
    return class_visualization(
        classifier, targets, init_images=images if options.init == "image" else None, options=options,
        batch_size=cfg.trainer.get("batch_size"), **trainer
    )


def run_from_config(classifier: Classifier, images: ImageSet, cfg: Any, trainer: dict) -> ClassVizResult:
    """``technique=classviz`` from a whole job config (options checked, then :func:`run`)."""
    return run(classifier, images, options_from_config(cfg), cfg, trainer)
