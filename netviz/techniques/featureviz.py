"""Feature visualization: images that maximize what a unit, a channel or a layer inside the network
responds to (Olah, Mordvintsev and Schubert 2017, "Feature Visualization"; DeepDream, Mordvintsev et al. 2015).

The loop is the shared one (:class:`~netviz.techniques.base.InputOptimizer`) with Lucid's parts by
default: a Fourier, colour-decorrelated image squashed by a sigmoid
(:class:`~netviz.parts.image_parameterization.ImageParameterization`), Lucid's pad, jitter, scale and
rotation before every forward pass (:mod:`~netviz.parts.lucid_transforms`), Adam at lr 0.05, and an
objective on captured activations (:mod:`~netviz.parts.feature_objectives`): ``channel``,
``neuron``, ``layer`` (DeepDream), ``diversity``, composable with ``+ - *``. The hooks that capture
the activations are registered for each forward pass and always removed (:mod:`netviz.capture`).

Example:
    >>> import netviz
    >>> from netviz.techniques.featureviz import feature_visualization
    >>> model = netviz.load_model("efficientnet_lite0")
    >>> result = feature_visualization(model, "channel(_blocks.10:5)")
    >>> result.pixels.shape
    torch.Size([1, 3, 224, 224])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from netviz import live
from netviz.capture import last_conv_layer, resolve_layers
from netviz.config import FeatureVizConfig
from netviz.data import ImageSet
from netviz.errors import NetvizError, check_int, check_number
from netviz.figures import grid_figure, to_uint8
from netviz.models import Classifier
from netviz.naming import file_name
from netviz.parts.choices import check_choices, parameterization_for, random_start, step_for, transforms_for
from netviz.parts.feature_objectives import Channel, LayerObjective, Neuron, PerSample, layers_of, objective_from_config
from netviz.parts.image_parameterization import ImageParameterization
from netviz.parts.objectives import Objective
from netviz.parts.steps import Clamp, PostStep
from netviz.results import Result, per_sample, unique_names
from netviz.techniques.base import InputOptimizer, optimize

__all__ = ["FeatureVisualization", "FeatureVizOptions", "FeatureVizResult", "feature_visualization", "list_layers",
           "check_objective", "options_from_config", "run"]


class FeatureVisualization(InputOptimizer):
    """The shared loop, capturing the layers its objective reads, with snapshots of the images.

    Args:
        classifier, pixels, targets, and the parts: as :class:`InputOptimizer`.
        show_every: keep a snapshot of the pixels every this many updates (sent live as ``image/<sample>``).

    Attributes set by the loop, besides the base's:
        snapshots: ``[(updates done, pixels (N, 3, S, S) on the CPU), ...]``, the start and the end included.
    """

    def __init__(self, classifier: Classifier, pixels: torch.Tensor, targets: torch.Tensor, *, show_every: int, **parts: Any) -> None:
        super().__init__(classifier, pixels, targets, **parts)
        self.layer_modules = resolve_layers(classifier.net, layers_of(self.objective_part))
        self.show_every = int(show_every)
        self.snapshots: list[tuple[int, torch.Tensor]] = [(0, self.pixels().cpu())]
        self._emit_snapshot(0, self.snapshots[0][1])

    def evaluate(self, x, step):
        if not self.layer_modules:
            return super().evaluate(x, step)
        with self.classifier.capture(self.layer_modules) as seen:
            evaluation = super().evaluate(x, step)
        evaluation.activations = dict(seen.activations)
        return evaluation

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        done = int(batch) + 1
        if done % self.show_every == 0 or done == self.iterations:
            pixels = self.pixels().cpu()
            self.snapshots.append((done, pixels))
            self._emit_snapshot(done, pixels)

    def _emit_snapshot(self, step: int, pixels: torch.Tensor) -> None:
        if self.sample_names is not None and live.active():
            live.emit_images(step, {f"image/{name}": image for name, image in zip(self.sample_names, pixels)})


@torch.no_grad()
def layer_shapes(classifier: Classifier, layers: Sequence[str] | None = None) -> dict[str, tuple[int, ...]]:
    """``{layer: output shape without the batch}`` from one forward pass of a grey image (every named
    module when ``layers`` is ``None``; outputs that are not tensors are left out)."""
    names = [name for name, _ in classifier.net.named_modules() if name] if layers is None else list(layers)
    size = classifier.input_size
    with classifier.capture(names) as seen:
        classifier(torch.zeros(1, 3, size, size, device=classifier.device))
    return {name: tuple(seen.activations[name].shape[1:]) for name in names
            if isinstance(seen.activations.get(name), torch.Tensor)}


def list_layers(model_name: str) -> str:
    """The layers of model ``model_name`` with their output shapes ``(C, H, W)``, one per line, as
    ``python run.py --list-layers model=NAME`` prints them (the names objectives take)."""
    from netviz.models import load_model

    classifier = load_model(model_name, weights=None)  # the layers and shapes do not depend on the weights
    modules = dict(classifier.net.named_modules())
    shapes = layer_shapes(classifier)
    width = max(len(name) for name in shapes)
    lines = [f"{classifier.name}: {len(shapes)} layers (name, type, output shape at {classifier.input_size} px)"]
    lines += [f"{name:<{width}}  {type(modules[name]).__name__:<20} {tuple(shape)}" for name, shape in shapes.items()]
    return "\n".join(lines)


def check_objective(classifier: Classifier, objective: Objective) -> None:
    """One-line errors, before the loop, for an unknown layer (with close matches) or a channel beyond
    the layer's channels."""
    layers = layers_of(objective)
    resolve_layers(classifier.net, layers)
    shapes = layer_shapes(classifier, layers)
    for part in objective.modules():
        if isinstance(part, LayerObjective) and part.layer not in shapes:
            raise NetvizError(f"layer {part.layer!r} of {classifier.name} gives no tensor output; choose another (python run.py --list-layers model={classifier.name})")
        if isinstance(part, (Channel, Neuron)):
            channels = shapes[part.layer][0]
            if part.channel >= channels:
                raise NetvizError(f"{type(part).__name__.lower()}({part.layer}:{part.channel}): {part.layer} of {classifier.name} has channels 0..{channels - 1}")


@dataclass
class FeatureVizOptions(FeatureVizConfig):
    """Every knob of feature visualization, checked, plus ``log_every`` (``trainer.log_every``) and ``seed``."""

    log_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(self.objective):
            self.objective = OmegaConf.to_container(self.objective, resolve=True)
        check_int("featureviz.samples", self.samples, minimum=1)
        check_int("iterations", self.iterations, minimum=1)
        check_number("lr", self.lr, positive=True)
        check_int("featureviz.max_jitter", self.max_jitter, minimum=0)
        check_int("featureviz.show_every", self.show_every, minimum=1)
        check_int("trainer.log_every", self.log_every, minimum=1)
        check_choices("featureviz", self.param, self.color, self.valid, self.decay, self.transforms, self.optimizer)
        if self.objective is not None:
            objective_from_config(self.objective)  # its syntax; its layers are checked with the model

    def caption(self) -> str:
        """``256 iterations, adam lr 0.05, fourier decorrelated sigmoid, lucid transforms``."""
        step = f"{self.optimizer} lr {self.lr:g}"
        return f"{self.iterations} iterations, {step}, {self.param} {self.color} {self.valid}, {self.transforms} transforms"


@dataclass
class FeatureVizResult(Result):
    """Feature visualizations: one image per sample and the objective it reached.

    Attributes:
        pixels: ``(N, 3, S, S)`` the final images in [0, 1].
        objective: ``(N,)`` the objective of each final image (no transforms).
        objective_text: the objective as given (or one text per sample).
        snapshots: ``[(updates done, pixels), ...]`` every ``show_every`` updates.
        options: the knobs.
    """

    pixels: torch.Tensor
    objective: torch.Tensor
    objective_text: str
    snapshots: list[tuple[int, torch.Tensor]]
    options: FeatureVizOptions

    def metrics(self) -> dict[str, float]:
        """``mean_final_objective`` and per sample ``final_objective/<s>``."""
        return {"mean_final_objective": float(self.objective.mean()), **per_sample("final_objective", self.objective, self.sample_names)}

    def rows(self) -> list[dict]:
        return [{"sample": name, "objective": float(value)} for name, value in zip(self.sample_names, self.objective)]

    def panels(self) -> dict[str, np.ndarray]:
        return {file_name(name): image for name, image in zip(self.sample_names, to_uint8(self.pixels))}

    def image_series(self) -> dict[str, list[tuple[int, np.ndarray]]]:
        return {f"image/{name}": [(step, to_uint8(pixels[i])) for step, pixels in self.snapshots] for i, name in enumerate(self.sample_names)}

    def caption(self) -> str:
        """``Feature visualization of channel(_blocks.10:5) with ...``; of many objectives, their count and layers."""
        texts = self.objective_text.split(" | ")
        shown = self.objective_text
        if len(texts) > 3:
            shown = f"{len(texts)} objectives on {', '.join(dict.fromkeys(_first_layer(t) for t in texts))}"
        return f"Feature visualization of {shown} with {self.model}: {self.options.caption()}"

    def figure(self):
        """The images in rows, one row per layer that the samples' objectives name first."""
        images = list(to_uint8(self.pixels))
        titles = [f"{name}\nobjective {float(v):.3g}" for name, v in zip(self.sample_names, self.objective)]
        rows: dict[str, list[int]] = {}
        for i, name in enumerate(self.sample_names):
            rows.setdefault(_first_layer(name), []).append(i)
        width = max(len(r) for r in rows.values())
        cells = [[images[i] for i in r] + [None] * (width - len(r)) for r in rows.values()]
        labels = [[titles[i] for i in r] + [""] * (width - len(r)) for r in rows.values()]
        return grid_figure(cells, labels, suptitle=self.caption())


def _first_layer(text: str) -> str:
    """The first ``layer`` of ``kind(layer[:channel])`` in an objective's text (``""``: none)."""
    match = re.search(r"\(\s*([^:()]+)", text)
    return match[1].strip() if match else ""


def visualization_parts(classifier: Classifier, options: Any, penalty: Objective | None = None) -> dict[str, Any]:
    """The loop's parameterization, transforms, step and the post-steps its parameterization needs
    (the course's clamp), from ``options`` with ``param, color, valid, decay, transforms, optimizer, lr, max_jitter, seed``."""
    parameterization = parameterization_for(classifier, options.param, options.color, options.valid, options.decay)
    post_steps: list[PostStep] = []
    if not isinstance(parameterization, ImageParameterization):
        post_steps.append(Clamp(*classifier.input_bounds()))
    return {
        "parameterization": parameterization,
        "transforms": transforms_for(options.transforms, classifier, parameterization, options.max_jitter, options.seed),
        "step": step_for(options.optimizer, options.lr),
        "post_steps": post_steps,
    }


def feature_visualization(
    classifier: Classifier,
    objective: Any = None,
    *,
    options: FeatureVizOptions | None = None,
    targets: Sequence[int | str] | None = None,
    **trainer: Any,
) -> FeatureVizResult:
    """Images maximizing ``objective`` (a text, texts, terms or an :class:`Objective`; see
    :class:`~netviz.config.FeatureVizConfig`), ``options.samples`` per objective, in one batch.

    ``targets`` are the classes of ``score()``/``log_probability()`` terms (one, or one per sample).
    ``**trainer`` goes to :func:`~netviz.techniques.base.optimize`.
    """
    options = options or FeatureVizOptions()
    if objective is None:
        objective = options.objective
    if objective is None:
        objective = f"channel({last_conv_layer(classifier.net)}:0)"
    if isinstance(objective, Objective):
        part, count, texts = objective, 0, [repr(objective)]
    else:
        part, count = objective_from_config(objective)
        texts = list(objective) if count else [objective if isinstance(objective, str) else _terms_text(objective)]
    check_objective(classifier, part)
    if count:  # one objective per sample: `samples` images of each, each copy of the list a row block
        part = PerSample([p for p in part.parts for _ in range(options.samples)])
        names = unique_names([text for text in texts for _ in range(options.samples)])
    else:
        names = unique_names(texts * options.samples)
    n = len(names)
    target_indices = [classifier.class_index(t) for t in (targets or [0])]
    if len(target_indices) not in (1, n):
        raise NetvizError(f"{len(target_indices)} targets for {n} images; give one target or one per image")
    target_tensor = torch.tensor(target_indices * (n if len(target_indices) == 1 else 1))
    parts = visualization_parts(classifier, options)
    parameterization = parts["parameterization"]
    if isinstance(parameterization, ImageParameterization):
        start = random_start(parameterization, n, options.seed)
    else:
        from netviz.techniques.classviz import noise_start

        start = noise_start(classifier, n, options.seed)
    module = optimize(
        FeatureVisualization(classifier, start, target_tensor, show_every=options.show_every, iterations=options.iterations,
                             log_every=options.log_every, objective=part, sample_names=names, name="featureviz", **parts),
        **trainer,
    )
    with torch.no_grad():
        final = module.objective_part(module.evaluate(module.x, None)).float().cpu()
    return FeatureVizResult(
        technique="featureviz", model=classifier.name, sample_names=names, history=module.history_on_cpu(),
        pixels=module.pixels().cpu(), objective=final, objective_text=" | ".join(dict.fromkeys(texts)),
        snapshots=module.snapshots, options=options,
    )


def _terms_text(terms: Sequence[dict]) -> str:
    """The structured terms as text: ``1 * channel(features.7:12) + -0.01 * diversity(features.7)``."""
    parts = []
    for entry in terms:
        args = entry.get("layer") or ""
        if entry.get("channel") is not None:
            args += f":{entry['channel']}"
        parts.append(f"{float(entry.get('weight', 1.0)):g} * {entry['kind']}({args})")
    return " + ".join(parts)


ALIASES = ("iterations", "lr")


def options_from_config(cfg: Any) -> FeatureVizOptions:
    """The checked options of a job's config, no model needed (the ``featureviz`` section, the top-level
    ``iterations``/``lr`` where set, ``trainer.log_every`` and ``seed``)."""
    from netviz.techniques import section_values

    values = section_values(cfg, "featureviz", FeatureVizConfig, ALIASES)
    return FeatureVizOptions(**values, log_every=cfg.trainer.log_every, seed=cfg.seed)


def run(classifier: Classifier, images: ImageSet, options: FeatureVizOptions, cfg: Any, trainer: dict) -> FeatureVizResult:
    """``technique=featureviz``: the section's objective, ``samples`` images each (``target``: the classes
    of class terms)."""
    from omegaconf import OmegaConf

    targets = cfg.get("target")
    if OmegaConf.is_config(targets):
        targets = list(OmegaConf.to_container(targets, resolve=True))
    elif targets is not None:
        targets = [targets]
    return feature_visualization(classifier, options=options, targets=targets, **trainer)
