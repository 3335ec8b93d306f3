"""The attribution pass on the shared loop: one forward/backward pass per chunk of model inputs.

A method expands ``N`` images into ``N * copies`` model inputs (rows, image by image). The loop
takes ``batch_size`` rows per step, so a run is ``ceil(N * copies / batch_size)`` steps of one
batched forward/backward pass each. What the loop optimizes is a zero perturbation ``delta`` added
to each row's input: its gradient is the gradient of the class score at that input, one per row,
which the method then reduces into each image's attribution. Nothing moves.
"""

from __future__ import annotations

import math

import torch

from netviz.errors import check_int
from netviz.models import Classifier
from netviz.techniques.base import CPU_CHUNK_PIXELS, InputOptimizer
from netviz.techniques.saliency.gradient import Gradient
from netviz.techniques.saliency.method import AttributionMethod

PREDICTED = -1  # a target meaning "the class the model predicts for this image"
# The pixels of one forward/backward pass when batch_size is not given: on a CPU the shared loop's
# cache-sized chunk (4 images of 224 px: efficientnet_lite0, 1 thread, forward and backward, about 37
# ms per input at batches of 2-4, 47 at 8, 65 at 16), 64 images of 224 px on a GPU.
CHUNK_PIXELS = {"cpu": CPU_CHUNK_PIXELS, "gpu": 64 * 224 * 224}


def default_batch_size(accelerator: str, side: int) -> int:
    """Model inputs per pass for images of ``side`` pixels on ``accelerator`` (``auto``: a GPU if any)."""
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    return max(1, CHUNK_PIXELS["gpu" if on_gpu else "cpu"] // (side * side))


class Saliency(InputOptimizer):
    """The attributions of each image for its target class, by ``method`` (default: the gradient).

    Args:
        classifier: the frozen model.
        pixels: images ``(N, 3, S, S)`` in [0, 1].
        targets: one class per image ``(N,)``; ``-1`` means the class the model predicts for it.
        method: an :class:`~netviz.techniques.saliency.method.AttributionMethod`.
        batch_size: model inputs per forward/backward pass (``None``: :func:`default_batch_size` on a CPU).
        seed: seeds the method's random draws (SmoothGrad's noise, a noise baseline).

    After :func:`~netviz.techniques.base.optimize`: ``attributions`` ``(N, 3, S, S)``, ``maps``
    ``(N, S, S)``, ``resolved_targets`` ``(N,)`` and ``image_logits`` ``(N, C)`` (the images' own
    logits).
    """

    moves_input = False
    space = "pixels"  # the optimized tensor is the zero perturbation itself, not an image

    def __init__(
        self,
        classifier: Classifier,
        pixels: torch.Tensor,
        targets: torch.Tensor,
        *,
        method: AttributionMethod | None = None,
        batch_size: int | None = None,
        seed: int = 0,
    ) -> None:
        batch_size = default_batch_size("cpu", pixels.shape[-1]) if batch_size is None else batch_size
        check_int("saliency.batch_size", batch_size, minimum=1)
        method = method or Gradient()
        rows = len(pixels) * method.copies
        chunk = min(batch_size, rows)
        delta = torch.zeros((chunk, *pixels.shape[1:]), dtype=pixels.dtype)
        super().__init__(
            classifier, delta, torch.as_tensor(targets, dtype=torch.int64), iterations=math.ceil(rows / chunk),
            name=f"saliency {method.name}", sample_noun="images",
        )
        self.method, self.rows, self.chunk, self.seed = method, rows, chunk, int(seed)
        self.register_buffer("images", classifier.normalize(pixels))
        self.register_buffer("total", torch.zeros_like(pixels))
        self.register_buffer("resolved_targets", self.targets.clone())
        self.register_buffer("image_logits", None)
        self.register_buffer("attributions", None)
        self.register_buffer("maps", None)
        self._seen = None

    @property
    def expands(self) -> bool:
        """Whether the model sees other inputs than the images themselves (noise copies, a path)."""
        return type(self.method).points is not AttributionMethod.points or self.method.copies > 1

    def on_train_start(self) -> None:
        # On the loop's device: the method's per-run state, and the images' own logits when no pass
        # sees the images themselves and a target is "the predicted class" (they resolve it). With
        # every target given, that pass waits until someone asks (:meth:`image_probabilities`).
        self.generator = torch.Generator(device=self.images.device).manual_seed(self.seed)
        self.method.prepare(self.images, self.classifier, self.generator)
        if self.expands and bool((self.targets < 0).any()):
            self.image_logits = self.logits_of_images()
            self._resolve(torch.arange(len(self.images), device=self.images.device), self.image_logits)

    @torch.no_grad()
    def logits_of_images(self) -> torch.Tensor:
        """The images' own logits ``(N, C)``: one no-grad pass per chunk, where the module is now."""
        return torch.cat([self.classifier(chunk) for chunk in self.images.split(self.chunk)])

    def image_probabilities(self) -> torch.Tensor:
        """Each image's softmax ``(N, C)``, from the loop's passes, or from one more pass made now."""
        if self.image_logits is None:
            self.image_logits = self.logits_of_images()
        return self.image_logits.float().softmax(dim=1)

    def _resolve(self, images: torch.Tensor, logits: torch.Tensor) -> None:
        wanted = self.targets[images]
        self.resolved_targets[images] = torch.where(wanted >= 0, wanted, logits.argmax(dim=1))

    def _rows(self, step: int) -> torch.Tensor:
        return torch.arange(step * self.chunk, min((step + 1) * self.chunk, self.rows), device=self.images.device)

    def model_input(self, delta: torch.Tensor, step: int) -> torch.Tensor:
        rows = self._rows(step)
        return self.method.points(self.images, rows, self.generator) + delta[: len(rows)]

    def forward(self, delta: torch.Tensor, step: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        with self.method.hooks(self.classifier) as seen:
            logits, scores = self.classifier.class_scores(self.model_input(delta, step))
        self._seen = seen
        return logits, scores

    def objective(self, delta, logits, scores, step):
        images = self._rows(step) // self.method.copies
        if not self.expands:  # this pass sees the images themselves
            if self.image_logits is None:
                self.image_logits = torch.zeros((len(self.images), logits.shape[1]), device=logits.device, dtype=logits.dtype)
            self.image_logits[images] = logits.detach()
            self._resolve(images, logits.detach())
        return scores.gather(1, self.resolved_targets[images, None]).squeeze(1)

    def update(self, delta, grad, step):
        rows = self._rows(step)
        self.method.accumulate(self.total, grad[: len(rows)], rows, self._seen)
        self._seen = None  # the captured activations of this chunk are not needed any more
        if step == self.iterations - 1:
            self.attributions = self.method.finish(self.total, self.images)
            self.maps = self.method.to_map(self.attributions)
        return delta

    def step_metrics(self, logits, objective):
        return {}
