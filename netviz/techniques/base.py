"""The one optimization loop every technique runs in: a LightningModule over the input images.

A technique subclasses :class:`InputOptimizer` and states three things: its ``objective`` (a score
per sample to maximize), its ``update`` (how one gradient moves the input) and, if it has one, its
stopping rule (``finished``). The base owns the rest: the frozen network, devices (the Trainer
moves the buffers), per-sample stopping, batching ``N`` samples into one forward/backward pass, and
recording step metrics every ``log_every`` steps for tracking to write afterwards.
"""

from __future__ import annotations

import logging
import warnings
from typing import ClassVar

import lightning.pytorch as L
import torch

from netviz.errors import NetvizError
from netviz.models import Classifier

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


class InputOptimizer(L.LightningModule):
    """Optimize a batch of inputs against a frozen classifier, one (image, target) pair per sample.

    Args:
        classifier: the frozen network; it never receives gradients and stays in eval mode.
        pixels: the starting images, float ``(N, 3, S, S)`` in [0, 1].
        targets: one class index per sample ``(N,)``.
        iterations: the most updates to make (a stopping rule may end a sample sooner).
        log_every: record step metrics every this many steps (and at the last step).

    Attributes set by the loop:
        x: the current inputs, in the model's normalized space (``space = "normalized"``) or as pixels
            (``space = "pixels"``).
        steps_taken: ``(N,)`` updates applied to each sample.
        history: step metrics, ``{name: [(step, tensor of N values), ...]}``.
        final_logits: ``(N, C)`` logits of the final inputs.
    """

    space: ClassVar[str] = "normalized"
    moves_input: ClassVar[bool] = True

    def __init__(
        self,
        classifier: Classifier,
        pixels: torch.Tensor,
        targets: torch.Tensor,
        *,
        iterations: int,
        log_every: int = 10,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.classifier = classifier
        self.iterations = int(iterations)
        self.log_every = max(1, int(log_every))
        self.register_buffer("targets", torch.as_tensor(targets, dtype=torch.int64))
        self.register_buffer("x", self.initial_input(pixels).detach().clone())
        self.register_buffer("active", torch.ones(len(self.targets), dtype=torch.bool))
        self.register_buffer("steps_taken", torch.zeros(len(self.targets), dtype=torch.int64))
        self.history: dict[str, list[tuple[int, torch.Tensor]]] = {}
        self.final_logits: torch.Tensor | None = None
        self._last_logits: torch.Tensor | None = None

    # ----- what a technique states -------------------------------------------------------------

    def initial_input(self, pixels: torch.Tensor) -> torch.Tensor:
        """The starting point of the optimization, in the technique's ``space``."""
        return self.classifier.normalize(pixels) if self.space == "normalized" else pixels

    def objective(self, x: torch.Tensor, logits: torch.Tensor, scores: torch.Tensor, step: int) -> torch.Tensor:
        """The value ``(N,)`` to maximize for each sample."""
        raise NotImplementedError

    def update(self, x: torch.Tensor, grad: torch.Tensor, step: int) -> torch.Tensor:
        """The next inputs from the current ones and the objective's gradient (no autograd here)."""
        raise NotImplementedError

    def finished(self, logits: torch.Tensor, step: int) -> torch.Tensor | None:
        """Which samples are done before update ``step`` (``None``: run every iteration)."""
        return None

    def step_metrics(self, logits: torch.Tensor, objective: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-sample values ``(N,)`` to record every ``log_every`` steps."""
        return {"objective": objective}

    # ----- shared machinery ----------------------------------------------------------------------

    def model_input(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """What the classifier sees at ``step``; override to add differentiable transforms (jitter, EOT)."""
        return x if self.space == "normalized" else self.classifier.normalize(x)

    def forward(self, x: torch.Tensor, step: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits, scores)`` of inputs ``x``: the model's logits and the scores objectives use."""
        return self.classifier.class_scores(self.model_input(x, step))

    def pixels(self) -> torch.Tensor:
        """The current inputs as pixels, ``(N, 3, S, S)``."""
        x = self.x.detach()
        return self.classifier.to_pixels(x) if self.space == "normalized" else x.clone()

    def train_dataloader(self) -> range:
        return range(self.iterations)

    def configure_optimizers(self) -> None:
        return None  # the technique's ``update`` moves the input; the network has nothing to train

    def training_step(self, step: int, batch_idx: int) -> None:
        x = self.x.detach().requires_grad_(True)
        logits, scores = self(x, step)
        self._last_logits = logits.detach()
        done = self.finished(self._last_logits, step)
        if done is not None:
            self.active &= ~done
            if not bool(self.active.any()):
                self.trainer.should_stop = True
                return
        objective = self.objective(x, logits, scores, step)
        (grad,) = torch.autograd.grad(objective.sum(), x)
        with torch.no_grad():
            moved = self.update(x.detach(), grad, step)
            if done is None:  # no stopping rule: every sample moves (and no extra pass over the images)
                self.x = moved
            else:
                self.x = torch.where(self.active.view(-1, *([1] * (moved.dim() - 1))), moved, self.x)
            self.steps_taken += self.active
        if step % self.log_every == 0 or step == self.iterations - 1:
            for name, value in self.step_metrics(self._last_logits, objective.detach()).items():
                self.history.setdefault(name, []).append((step, value.detach()))

    def on_train_end(self) -> None:
        # The final evaluation runs here, still on the loop's device: Lightning moves the module to
        # the CPU (strategy teardown) before ``on_fit_end``.
        if self.moves_input or self._last_logits is None:
            with torch.no_grad():
                self._last_logits = self(self.x, self.iterations)[0]
            done = self.finished(self._last_logits, self.iterations)
            if done is not None:
                self.active &= ~done
        self.final_logits = self._last_logits

    def history_on_cpu(self) -> dict[str, list[tuple[int, torch.Tensor]]]:
        """``history`` with every tensor moved to the CPU (one transfer at the end, not per step)."""
        return {name: [(step, value.cpu()) for step, value in points] for name, points in self.history.items()}


def optimize(
    module: InputOptimizer,
    *,
    accelerator: str = "auto",
    devices: int | str = 1,
    progress: bool | None = None,
) -> InputOptimizer:
    """Run ``module``'s loop with a Lightning Trainer (a GPU where one exists with ``accelerator="auto"``)."""
    if str(devices) != "1":
        raise NetvizError(
            f"trainer.devices={devices}: a job runs on one device; "
            "spread a sweep over several devices with a Hydra launcher instead"
        )
    if progress is None:
        progress = module.iterations > 1
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=devices,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        num_sanity_val_steps=0,
    )
    trainer.fit(module)
    # Lightning's teardown moved everything to the CPU; checks after the loop run where it ran.
    module.to(trainer.strategy.root_device)
    return module


def unit_gradient(grad: torch.Tensor) -> torch.Tensor:
    """``grad / ||grad||_2`` per sample, the direction of a normalized ascent step; a zero gradient
    (SqueezeNet's ReLU-ed scores) stays zero instead of becoming NaN."""
    norms = grad.flatten(1).norm(dim=1).clamp_min(torch.finfo(grad.dtype).tiny)
    return grad / norms.view(-1, *([1] * (grad.dim() - 1)))
