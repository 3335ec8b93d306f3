"""How a gradient moves the input (a step rule), and what follows each step (post-steps).

Step rules: normalized ascent (the course's and the report's naive attack), signed or normalized
steps projected onto an L-infinity or L2 ball (FGSM, Goodfellow et al. 2015; PGD, Madry et al.
2018), or any ``torch.optim`` optimizer by name (``adam``, as Lucid uses). Post-steps: decay
(Yosinski et al. 2015's L2 decay), clamp to valid pixels, blur every ``k`` steps. All run under
``torch.no_grad`` and ascend: the objective is maximized.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from netviz.errors import NetvizError, did_you_mean
from netviz.transforms import gaussian_blur


def unit_gradient(grad: torch.Tensor) -> torch.Tensor:
    """``grad / ||grad||_2`` per sample, the direction of a normalized ascent step; a zero gradient
    (SqueezeNet's ReLU-ed scores) stays zero instead of becoming NaN."""
    norms = grad.flatten(1).norm(dim=1).clamp_min(torch.finfo(grad.dtype).tiny)
    return grad / norms.view(-1, *([1] * (grad.dim() - 1)))


class StepRule(nn.Module):
    """The next parameters from the current ones and the objective's gradient."""

    def forward(self, params: torch.Tensor, grad: torch.Tensor, step: int) -> torch.Tensor:
        raise NotImplementedError


def per_sample(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``(N,)`` values shaped ``(N, 1, 1, ...)`` to broadcast over ``like``'s samples, on its device and dtype."""
    return values.to(like.device, like.dtype).view(-1, *([1] * (like.dim() - 1)))


def number_or_tensor(value: float | Sequence[float] | torch.Tensor, dtype=torch.float32) -> float | torch.Tensor:
    """A scalar setting as a Python float (the scalar arithmetic stays bit-identical to before), or
    per-sample settings (a batched grid: one value per sample) as a ``(N,)`` tensor of ``dtype``."""
    if isinstance(value, (int, float)):
        return float(value)
    return torch.as_tensor(value, dtype=dtype).detach().clone().flatten()


class NormalizedAscent(StepRule):
    """``x <- x + lr * g / ||g||``, one norm per sample (Simonyan et al. 2014 as the course writes it).

    ``lr``: one step length, or one per sample ``(N,)`` (a batched grid over learning rates).
    """

    def __init__(self, lr: float | Sequence[float] | torch.Tensor) -> None:
        super().__init__()
        self.lr = number_or_tensor(lr)

    def forward(self, params, grad, step):
        lr = self.lr if isinstance(self.lr, float) else per_sample(self.lr, params)
        return params + lr * unit_gradient(grad)


class ProjectedAscent(StepRule):
    """A step of ``step_size`` along ``sign(g)`` (``norm="linf"``) or ``g / ||g||`` (``"l2"``), then the
    projection onto the ``norm`` ball of radius ``eps`` around ``origin`` (Madry et al. 2018; one step of
    ``eps`` with no random start is FGSM). Sizes are in the parameters' units (pixels: divide 0-255 by 255)."""

    def __init__(self, origin: torch.Tensor, eps: float, step_size: float, norm: str = "linf") -> None:
        super().__init__()
        if norm not in ("linf", "l2"):
            raise NetvizError(f"norm={norm!r} is not one of linf, l2")
        self.register_buffer("origin", origin.detach().clone())
        self.eps, self.step_size, self.norm = float(eps), float(step_size), norm

    def project(self, params: torch.Tensor) -> torch.Tensor:
        """``params`` moved to the nearest point of the ball around ``origin``."""
        delta = params - self.origin
        if self.norm == "linf":
            return self.origin + delta.clamp(-self.eps, self.eps)
        norms = delta.flatten(1).norm(dim=1).clamp_min(torch.finfo(delta.dtype).tiny)
        scale = (self.eps / norms).clamp(max=1.0).view(-1, *([1] * (delta.dim() - 1)))
        return self.origin + delta * scale

    def forward(self, params, grad, step):
        direction = grad.sign() if self.norm == "linf" else unit_gradient(grad)
        return self.project(params + self.step_size * direction)


def optimizer_class(name: str) -> type[torch.optim.Optimizer]:
    """``torch.optim``'s optimizer called ``name``, case-insensitively (``adam``, ``sgd``, ``adamw``, ...)."""
    choices = {
        key.lower(): value
        for key, value in vars(torch.optim).items()
        if isinstance(value, type) and issubclass(value, torch.optim.Optimizer) and value is not torch.optim.Optimizer
    }
    if name.lower() not in choices:
        raise NetvizError(f"unknown optimizer {name!r}{did_you_mean(name.lower(), choices)}; choose one of torch.optim's: {', '.join(sorted(choices))}")
    return choices[name.lower()]


class TorchOptimizer(StepRule):
    """Any ``torch.optim`` optimizer by name, ascending (it is given ``-g``), its state kept across steps."""

    def __init__(self, name: str, lr: float, **options) -> None:
        super().__init__()
        self.optimizer_cls, self.lr, self.options = optimizer_class(name), float(lr), options
        self._param: torch.Tensor | None = None
        self._optimizer: torch.optim.Optimizer | None = None

    def forward(self, params, grad, step):
        if self._param is None or self._param.device != params.device:
            self._param = params.detach().clone()
            self._optimizer = self.optimizer_cls([self._param], lr=self.lr, **self.options)
        self._param.copy_(params)
        self._param.grad = -grad
        self._optimizer.step()
        return self._param.detach().clone()


class PostStep(nn.Module):
    """What follows each step: ``(params, step) -> params``."""

    def forward(self, params: torch.Tensor, step: int) -> torch.Tensor:
        raise NotImplementedError


class Decay(PostStep):
    """``x <- (1 - rate) * x``: Yosinski et al. (2015)'s L2 decay; ``rate`` one number or one per sample ``(N,)``."""

    def __init__(self, rate: float | Sequence[float] | torch.Tensor) -> None:
        super().__init__()
        self.rate = number_or_tensor(rate, torch.float64)
        # 1 - rate in double precision, as the scalar path computes it, then rounded once to the image's dtype.
        self._factor = None if isinstance(self.rate, float) else 1 - self.rate

    def forward(self, params, step):
        if self._factor is None:
            return params * (1 - self.rate)
        return params * per_sample(self._factor, params)


class Clamp(PostStep):
    """Clamp every channel to ``[low, high]`` (the valid pixels, in the parameterization's space)."""

    def __init__(self, low: torch.Tensor, high: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("low", low.detach().clone())
        self.register_buffer("high", high.detach().clone())

    def forward(self, params, step):
        return torch.maximum(torch.minimum(params, self.high), self.low)


class BlurEvery(PostStep):
    """A Gaussian blur of std ``sigma`` pixels when ``step % every == 0`` (Yosinski et al. 2015).

    ``every``: one period, or one per sample (a batched grid over ``blur_every``; 0 never blurs that
    sample). The whole batch is blurred and the samples due keep it, so a sample's image is the one
    it gets on its own.

    Attributes:
        steps: the steps at which it blurred (any sample, with per-sample periods).
    """

    def __init__(self, every: int | Sequence[int], sigma: float) -> None:
        super().__init__()
        self.every = int(every) if isinstance(every, int) else [int(e) for e in every]
        self.sigma = float(sigma)
        self.steps: list[int] = []

    def due(self, step: int) -> list[bool] | bool:
        """Whether each sample (or, with one period, the batch) blurs at ``step``."""
        if isinstance(self.every, int):
            return step % self.every == 0
        return [every > 0 and step % every == 0 for every in self.every]

    def forward(self, params, step):
        due = self.due(step)
        if not any(due if isinstance(due, list) else [due]):
            return params
        self.steps.append(step)
        blurred = gaussian_blur(params, self.sigma)
        if isinstance(due, bool) or all(due):
            return blurred
        return torch.where(per_sample(torch.tensor(due), params).bool(), blurred, params)
