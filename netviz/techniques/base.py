"""The one optimization loop every technique runs in: a LightningModule over the input images.

The loop is built from parts (:mod:`netviz.parts`): a parameterization (what is optimized), an
objective (the per-sample value to maximize), transforms (applied before the forward pass during
optimization only), a step rule with post-steps, and a stopping rule. The loop owns the rest: the
frozen network, devices (the Trainer moves the buffers), per-sample stopping, batching ``N``
samples into one forward/backward pass, averaging the objective over a transform's copies, step
metrics every ``log_every`` steps (recorded, and handed live to :mod:`netviz.live`), the terminal's
progress bar, and an explicit final evaluation of the inputs as they are (no transforms).

A technique gives the parts to :class:`InputOptimizer`. The older subclass API (override
``objective``, ``update``, ``finished``, ``step_metrics``, ``model_input``; ``space``,
``moves_input``) still runs, as a thin adapter, while the techniques that use it migrate.
"""

from __future__ import annotations

import logging
import sys
import warnings
import weakref
from collections.abc import Sequence
from typing import ClassVar

import lightning.pytorch as L
import torch
from torch import nn

from netviz import live
from netviz.errors import NetvizError
from netviz.models import Classifier
from netviz.parts.objectives import Evaluation, Objective
from netviz.parts.parameterization import Parameterization, parameterization_named
from netviz.parts.progress import ProgressBar, log, summary, wants_bar
from netviz.parts.steps import PostStep, StepRule, unit_gradient
from netviz.parts.stop import StopRule
from netviz.parts.transforms import InputTransform, Transforms

__all__ = ["InputOptimizer", "Loops", "optimize", "unit_gradient"]

# Lightning's start-up chatter ("GPU available: ...") and its warnings about our deliberate choices
# (no optimizer: the technique updates the input itself; a range as the data loader) are noise here.
logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
logging.getLogger("lightning.pytorch.accelerators.cuda").setLevel(logging.WARNING)
for _message in (
    ".*configure_optimizers.*returned `None`.*",
    ".*does not have many workers.*",
    ".*isinstance\\(treespec, LeafSpec\\).*",
    ".*Trainer.fit. stopped.*",
    ".*module\\(s\\) in eval mode.*",
):
    warnings.filterwarnings("ignore", message=_message)


# On a CPU, a forward/backward pass over many large images is faster in chunks that stay in the caches:
# efficientnet_lite0 on 1 thread, 8 images of 224 px, forward and backward: 528 ms in one batch of 8,
# 309 ms in two of 4, bit for bit the same values (eval mode: every sample is computed on its own).
CPU_CHUNK_PIXELS = 4 * 224 * 224


def class_scores(classifier: Classifier, model_input: torch.Tensor, cpu_chunks: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """``classifier.class_scores`` of images ``(M, 3, H, W)``: on a CPU in chunks of :data:`CPU_CHUNK_PIXELS`
    (autograd then runs the backward pass chunk by chunk too), elsewhere in one batch; in one batch
    too while layers are captured (Grad-CAM, feature objectives), which need the whole batch's activations."""
    from netviz.capture import capturing

    rows = len(model_input)
    if cpu_chunks and model_input.device.type == "cpu" and model_input.dim() == 4 and not capturing():
        rows = max(1, CPU_CHUNK_PIXELS // (model_input.shape[-1] * model_input.shape[-2]))
    if rows >= len(model_input):
        return classifier.class_scores(model_input)
    parts = [classifier.class_scores(model_input[part]) for part in chunks(len(model_input), rows)]
    logits = torch.cat([logits for logits, _ in parts])
    scores = logits if all(scores is logits for logits, scores in parts) else torch.cat([scores for _, scores in parts])
    return logits, scores


class InputOptimizer(L.LightningModule):
    """Optimize a batch of inputs against a frozen classifier, one (image, target) pair per sample.

    Args:
        classifier: the frozen network; it never receives gradients and stays in eval mode.
        pixels: the starting images, float ``(N, 3, S, S)`` in [0, 1].
        targets: one class index per sample ``(N,)``.
        iterations: the most updates to make (a stopping rule may end a sample sooner).
        log_every: record step metrics every this many steps.
        parameterization: what is optimized (default: ``space``'s, the model's normalized input).
        objective: the value ``(N,)`` to maximize (:class:`~netviz.parts.objectives.Objective`);
            without it, a subclass overrides :meth:`objective` (the older API).
        transforms: applied in order before each training forward pass; their copies are averaged.
        step: how the gradient moves the parameters; post_steps: what follows each step, in order.
        stop: which samples are done, judged before each update (``None``: every sample runs on).
        sample_names: one name per sample, for live metrics (:func:`netviz.live.emit_step`).
        name: the technique's name, on the progress bar; sample_noun: what a sample is ("pairs").

    Attributes set by the loop:
        x: the current parameters (with the default parameterizations: the normalized input, or pixels).
        steps_taken: ``(N,)`` updates applied to each sample.
        history: step metrics, ``{name: [(step, tensor of N values), ...]}``. With parts, step ``s``
            is the state after ``s`` updates, and the last point is the final evaluation's, at the
            number of updates made: the curves end on the final values.
        final_logits, final_scores: ``(N, C)`` of the final inputs (no transforms).
        stopped_at: the step at which a stopping rule had every sample done, else ``None``.
    """

    space: ClassVar[str] = "normalized"
    moves_input: ClassVar[bool] = True
    progress_metrics: ClassVar[dict[str, str]] = {"objective": "objective"}  # bar label -> metric
    # Run a CPU pass in chunks of CPU_CHUNK_PIXELS (faster; attacks use it). Off by default: a sample's
    # floats then depend on its chunk's size, and a batched grid must equal its jobs run alone.
    cpu_chunks: ClassVar[bool] = False

    def __init__(
        self,
        classifier: Classifier,
        pixels: torch.Tensor,
        targets: torch.Tensor,
        *,
        iterations: int,
        log_every: int = 10,
        parameterization: Parameterization | None = None,
        objective: Objective | None = None,
        transforms: Sequence[InputTransform] = (),
        step: StepRule | None = None,
        post_steps: Sequence[PostStep] = (),
        stop: StopRule | None = None,
        sample_names: Sequence[str] | None = None,
        name: str = "loop",
        sample_noun: str = "samples",
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.classifier = classifier
        self.iterations = int(iterations)
        self.log_every = max(1, int(log_every))
        self.parameterization = parameterization or parameterization_named(self.space)
        self.objective_part = objective
        self.transforms = Transforms(transforms)
        self.step_rule = step
        self.post_steps = nn.ModuleList(post_steps)
        self.stop = stop
        self.sample_names = None if sample_names is None else list(sample_names)
        self.name, self.sample_noun = name, sample_noun
        self.register_buffer("targets", torch.as_tensor(targets, dtype=torch.int64))
        self.register_buffer("x", self.initial_input(pixels).detach().clone())
        self.register_buffer("active", torch.ones(len(self.targets), dtype=torch.bool))
        self.register_buffer("steps_taken", torch.zeros(len(self.targets), dtype=torch.int64))
        self.history: dict[str, list[tuple[int, torch.Tensor]]] = {}
        self.final_logits: torch.Tensor | None = None
        self.final_scores: torch.Tensor | None = None
        self.stopped_at: int | None = None
        self._last_logits: torch.Tensor | None = None
        self._repeated_targets: torch.Tensor | None = None

    @property
    def uses_parts(self) -> bool:
        """Whether the loop runs on parts (an ``objective`` part) or on a subclass's overrides."""
        return self.objective_part is not None

    @property
    def has_stop_rule(self) -> bool:
        return self.stop is not None or type(self).finished is not InputOptimizer.finished

    @property
    def stop_verb(self) -> str:
        return self.stop.verb if self.stop is not None else "done"

    # ----- the adapter: what a subclass of the older API overrides (defaults use the parts) ---------

    def initial_input(self, pixels: torch.Tensor) -> torch.Tensor:
        """The starting parameters for ``pixels``."""
        return self.parameterization.initial(pixels, self.classifier)

    def objective(self, x: torch.Tensor, logits: torch.Tensor, scores: torch.Tensor, step: int) -> torch.Tensor:
        """The value ``(N,)`` to maximize for each sample (older API; parts give ``objective=``)."""
        raise NotImplementedError("give InputOptimizer an objective= part, or override objective()")

    def update(self, x: torch.Tensor, grad: torch.Tensor, step: int) -> torch.Tensor:
        """The next parameters: the step rule, then the post-steps (no autograd here)."""
        if self.step_rule is None:
            raise NotImplementedError("give InputOptimizer a step= part, or override update()")
        x = self.step_rule(x, grad, step)
        for post_step in self.post_steps:
            x = post_step(x, step)
        return x

    def finished(self, logits: torch.Tensor, step: int) -> torch.Tensor | None:
        """Which samples are done before update ``step`` (``None``: run every iteration)."""
        return None if self.stop is None else self.stop(logits, self.targets)

    def step_metrics(self, logits: torch.Tensor, objective: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample values ``(N,)`` to record every ``log_every`` steps (older API)."""
        return {"objective": objective}

    def evaluation_metrics(self, evaluation: Evaluation, objective: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample values ``(N,)`` recorded every ``log_every`` steps on parts (default: ``step_metrics``)."""
        return self.step_metrics(evaluation.per_sample(evaluation.logits), objective)

    def model_input(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """What the classifier sees at training step ``step``: transforms, then the parameterization."""
        image = self.transforms(self.parameterization.image(x), step)
        return self.parameterization.model_input(image, self.classifier)

    def forward(self, x: torch.Tensor, step: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits, scores)`` of inputs ``x``: the model's logits and the scores objectives use."""
        return class_scores(self.classifier, self.model_input(x, step), self.cpu_chunks)

    # ----- the loop ----------------------------------------------------------------------------------

    def pixels(self) -> torch.Tensor:
        """The current inputs as pixels, ``(N, 3, S, S)``."""
        return self.parameterization.pixels(self.x.detach(), self.classifier)

    def evaluate(self, x: torch.Tensor, step: int | None) -> Evaluation:
        """One forward pass of parameters ``x``: with the transforms at training step ``step``, or of the
        inputs as they are (``step=None``, the final evaluation)."""
        if step is None:
            model_input = self.parameterization.model_input(self.parameterization.image(x), self.classifier)
            copies, targets = 1, self.targets
        else:
            model_input = self.model_input(x, step)
            copies = self.transforms.copies
            if copies == 1:
                targets = self.targets
            else:
                if self._repeated_targets is None or self._repeated_targets.device != self.targets.device:
                    self._repeated_targets = self.targets.repeat(copies)
                targets = self._repeated_targets
        logits, scores = class_scores(self.classifier, model_input, self.cpu_chunks)
        return Evaluation(model_input, logits, scores, targets, copies)

    def train_dataloader(self) -> range:
        return range(self.iterations)

    def configure_optimizers(self) -> None:
        return None  # the step rule moves the input; the network has nothing to train

    def training_step(self, step: int, batch_idx: int) -> None:
        x = self.x.detach().requires_grad_(True)
        evaluation = None
        if self.uses_parts:
            evaluation = self.evaluate(x, step)
            logits = evaluation.per_sample(evaluation.logits).detach()
        else:
            outputs = self(x, step)
            logits = outputs[0].detach()
        self._last_logits = logits
        done = self.finished(logits, step)
        if done is not None:
            self.active &= ~done
            if not bool(self.active.any()):
                self.stopped_at = step
                if self._trainer is not None:  # a one-step loop runs without Trainer.fit (Loops.run)
                    self.trainer.should_stop = True
                return
        if evaluation is not None:
            objective = evaluation.per_sample(self.objective_part(evaluation))
        else:
            objective = self.objective(x, *outputs, step)
        (grad,) = torch.autograd.grad(objective.sum(), x)
        with torch.no_grad():
            moved = self.update(x.detach(), grad, step)
            if done is None:  # no stopping rule: every sample moves (and no extra pass over the images)
                self.x = moved
            else:
                self.x = torch.where(self.active.view(-1, *([1] * (moved.dim() - 1))), moved, self.x)
            self.steps_taken += self.active
        if step % self.log_every == 0 or (not self.uses_parts and step == self.iterations - 1):
            if evaluation is not None:
                metrics = self.evaluation_metrics(evaluation, objective.detach())
            else:
                metrics = self.step_metrics(logits, objective.detach())
            self.keep_metrics(step, metrics)

    def keep_metrics(self, step: int, metrics: dict[str, torch.Tensor]) -> None:
        """Keep step metrics ``{name: (N,)}`` in ``history`` and hand them to :mod:`netviz.live`."""
        for name, value in metrics.items():
            self.history.setdefault(name, []).append((step, value.detach()))
        if self.sample_names is not None:
            live.emit_step(step, metrics, self.sample_names)

    def on_train_end(self) -> None:
        # The final evaluation runs here, still on the loop's device: Lightning moves the module to
        # the CPU (strategy teardown) before ``on_fit_end``.
        if self.uses_parts:
            self.final_evaluation()
            return
        if self.moves_input or self._last_logits is None:
            with torch.no_grad():
                self._last_logits = self(self.x, self.iterations)[0]
            done = self.finished(self._last_logits, self.iterations)
            if done is not None:
                self.active &= ~done
        self.final_logits = self._last_logits

    @torch.no_grad()
    def final_evaluation(self) -> None:
        """The inputs as they are, without transforms: ``final_logits``/``final_scores``, the stopping
        rule's last word, and the last point of every curve at the number of updates made."""
        evaluation = self.evaluate(self.x, None)
        self.final_logits, self.final_scores = evaluation.logits, evaluation.scores
        done = self.finished(evaluation.logits, self.iterations)
        if done is not None:
            self.active &= ~done
        objective = self.objective_part(evaluation)
        self.keep_metrics(int(self.steps_taken.max()) if len(self.steps_taken) else 0, self.evaluation_metrics(evaluation, objective))

    def history_on_cpu(self) -> dict[str, list[tuple[int, torch.Tensor]]]:
        """``history`` with every tensor moved to the CPU (one transfer at the end, not per step)."""
        return {name: [(step, value.cpu()) for step, value in points] for name, points in self.history.items()}


class Loops:
    """Runs loops one after another on one Lightning Trainer: a job with several loops (EOT and its
    naive comparison, robust accuracy's batches) starts the Trainer once (a GPU where one exists with
    ``accelerator="auto"``).

    ``progress``: a bar named after the technique (``None``: when the loop has several steps and
    stderr is a terminal); without a bar, one summary line goes to the ``netviz`` logger.

    A loop of one step (FGSM, a saliency map of one chunk) without a bar runs the same module code
    (its hooks, ``training_step`` and ``on_train_end``, in Lightning's order) without ``Trainer.fit``,
    whose set-up and teardown would cost more than the step's own bookkeeping.
    """

    def __init__(self, accelerator: str = "auto", devices: int | str = 1, progress: bool | None = None) -> None:
        if str(devices) != "1":
            raise NetvizError(
                f"trainer.devices={devices}: a job runs on one device; "
                "spread a sweep over several devices with a Hydra launcher instead"
            )
        self.accelerator, self.devices, self.progress = accelerator, devices, progress
        self._trainer: L.Trainer | None = None

    @property
    def trainer(self) -> L.Trainer:
        """The job's Trainer, made at the first loop."""
        if self._trainer is None:
            self._trainer = L.Trainer(
                accelerator=self.accelerator,
                devices=self.devices,
                max_epochs=1,
                logger=False,
                enable_checkpointing=False,
                enable_model_summary=False,
                enable_progress_bar=False,
                num_sanity_val_steps=0,
            )
        return self._trainer

    @property
    def device(self) -> torch.device:
        """Where the loops run: the Trainer's device (``accelerator="cpu"``: the CPU, without making one)."""
        if self._trainer is None and self.accelerator == "cpu":
            return torch.device("cpu")
        return self.trainer.strategy.root_device

    def run(self, module: InputOptimizer) -> InputOptimizer:
        """Run ``module``'s loop; it stays on the loop's device afterwards, for the checks that follow."""
        bar = ProgressBar() if wants_bar(self.progress, module.iterations) else None
        if module.iterations == 1 and bar is None:
            run_one_step(module, self.device)
        else:
            trainer = self.trainer
            trainer.callbacks = [bar] if bar is not None else []
            trainer.fit_loop.epoch_progress.reset()  # each loop is one epoch of its own on the held Trainer
            try:
                trainer.fit(module)
            finally:
                if bar is not None:
                    bar.close()
        line = summary(module, module.stopped_at)
        if bar is None:
            log.info(line)
        elif module.stopped_at is not None:
            print(line, file=sys.stderr)
        # Lightning's teardown moved everything to the CPU; checks after the loop run where it ran.
        module.to(self.device)
        return module


def run_one_step(module: InputOptimizer, device: torch.device) -> None:
    """``module``'s one step on ``device``: the hooks ``Trainer.fit`` calls around it, in its order."""
    module.to(device)
    module.on_fit_start()
    module.on_train_start()
    with torch.enable_grad():
        module.on_train_batch_start(0, 0)
        outputs = module.training_step(0, 0)
        module.on_train_batch_end(outputs, 0, 0)
    module.on_train_end()
    module.on_fit_end()


def optimize(
    module: InputOptimizer,
    *,
    accelerator: str = "auto",
    devices: int | str = 1,
    progress: bool | None = None,
    loops: Loops | None = None,
) -> InputOptimizer:
    """Run ``module``'s loop: on ``loops`` (a job's held Trainer), else on a Trainer of its own made from
    ``accelerator``, ``devices`` and ``progress`` (see :class:`Loops`)."""
    return (loops or Loops(accelerator, devices, progress)).run(module)


# A chunk's activations (kept for the backward pass, and their gradients) stay under this many bytes.
ACTIVATION_BUDGET_BYTES = 1 << 30


_activation_bytes: "weakref.WeakKeyDictionary[Classifier, tuple[int, int]]" = weakref.WeakKeyDictionary()


def activation_bytes(classifier: Classifier) -> int:
    """Bytes one sample's forward/backward pass holds: the outputs of every leaf module for one image at
    the model's input size (measured by one forward pass under ``no_grad``), times two for their gradients.
    Measured once per classifier and input size (a sweep's jobs share the loaded model)."""
    known = _activation_bytes.get(classifier)
    if known is not None and known[0] == classifier.input_size:
        return known[1]
    measured = _measure_activation_bytes(classifier)
    _activation_bytes[classifier] = (classifier.input_size, measured)
    return measured


def _measure_activation_bytes(classifier: Classifier) -> int:
    sizes: list[int] = []

    def keep(module, inputs, output):
        if isinstance(output, torch.Tensor):
            sizes.append(output.numel() * output.element_size())

    leaves = [m for m in classifier.modules() if next(m.children(), None) is None]
    hooks = [m.register_forward_hook(keep) for m in leaves]
    try:
        with torch.no_grad():
            size = classifier.input_size
            classifier(torch.zeros(1, 3, size, size, device=classifier.device))
    finally:
        for hook in hooks:
            hook.remove()
    return 2 * sum(sizes)


def default_batch_size(classifier: Classifier, copies: int = 1) -> int:
    """Samples per chunk so that a chunk's activations stay under :data:`ACTIVATION_BUDGET_BYTES` (1 GiB),
    ``copies`` being how many transformed copies of each sample a pass holds."""
    return max(1, ACTIVATION_BUDGET_BYTES // max(1, activation_bytes(classifier) * copies))


def chunks(count: int, batch_size: int) -> list[slice]:
    """The slices of ``count`` samples in chunks of at most ``batch_size``."""
    return [slice(start, min(start + batch_size, count)) for start in range(0, count, max(1, batch_size))]
