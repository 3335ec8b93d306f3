"""Hooks on named layers, in one context manager that always removes them.

Grad-CAM needs a layer's activations and their gradients, ``model.score=pre_relu`` the input of
SqueezeNet's final ReLU, guided backpropagation a modified ReLU backward pass. All of them go
through :func:`capture` (or :meth:`netviz.Classifier.capture`): it registers forward hooks on the
layers named as in ``dict(net.named_modules())`` (``features.12``), yields what they saw, and
removes every module hook on leaving the block, also when the block raises.

Gradients and the guided ReLU rule are tensor hooks, attached to the captured outputs during the
forward pass: they belong to that pass's autograd graph, fire during its backward pass (which may
come after the block), and go away with the graph, so no module keeps a hook after the block.

Example:
    >>> x = images.requires_grad_(True)  # the model is frozen: the graph starts at the input
    >>> with model.capture(["features.12"], gradients=True) as seen:
    ...     score = model(x)[:, 3].sum()
    >>> score.backward()
    >>> seen.activations["features.12"].shape == seen.gradients["features.12"].shape
    True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from netviz.errors import NetvizError, did_you_mean

# The activations guided backpropagation modifies: ReLU (Springenberg et al. 2015) and its capped
# form ReLU6 (EfficientNet-Lite's).
GUIDED_ACTIVATIONS = (nn.ReLU, nn.ReLU6)


@dataclass
class Captured:
    """What the hooked layers saw in the block's forward pass(es), by layer name.

    Attributes:
        inputs: each layer's first input (of its last call, for a layer called more than once).
        activations: each layer's output (of its last call).
        gradients: the gradient of the backward pass's objective with respect to each output in
            ``activations``; filled when that backward pass runs (only with ``gradients=True``).
    """

    inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    activations: dict[str, torch.Tensor] = field(default_factory=dict)
    gradients: dict[str, torch.Tensor] = field(default_factory=dict)


CaptureContext = contextlib.AbstractContextManager[Captured]  # what capture() returns


def resolve_layers(net: nn.Module, layers: Sequence[str]) -> dict[str, nn.Module]:
    """``{name: module}`` for ``layers`` named as in ``net.named_modules()``; a one-line error for an
    unknown name, with the closest names."""
    modules = dict(net.named_modules())
    resolved = {}
    for name in layers:
        if name not in modules or name == "":
            names = [n for n in modules if n]
            raise NetvizError(
                f"{type(net).__name__} has no layer {name!r}{did_you_mean(name, names)}; "
                f"give a name from named_modules(), for example {names[-1]!r}"
            )
        resolved[name] = modules[name]
    return resolved


def last_conv_layer(net: nn.Module) -> str:
    """The name of ``net``'s last ``nn.Conv2d`` (Grad-CAM's default layer, Selvaraju et al. 2017)."""
    names = [name for name, module in net.named_modules() if isinstance(module, nn.Conv2d)]
    if not names:
        raise NetvizError(f"{type(net).__name__} has no Conv2d layer; give saliency.layer=<a layer name>")
    return names[-1]


_open_captures = 0  # captures in progress (a chunked forward pass would keep only its last chunk)


def capturing() -> bool:
    """Whether a :func:`capture` block is recording: a forward pass must then run as one batch, or
    each layer would keep only its last chunk's activations."""
    return _open_captures > 0


@contextlib.contextmanager
def capture(
    net: nn.Module,
    layers: Sequence[str] | dict[str, nn.Module] = (),
    *,
    gradients: bool = False,
    guided_relu: bool = False,
) -> Iterator[Captured]:
    """Record the named layers' inputs and outputs (and their gradients) while the block runs.

    Args:
        net: the network whose modules to hook.
        layers: names from ``net.named_modules()``, or a ready ``{name: module}`` mapping.
        gradients: also record the gradient of each output in the pass's backward pass.
        guided_relu: make every ReLU (and ReLU6) of the passes run in the block pass back only
            positive gradients (guided backpropagation, Springenberg et al. 2015). Like Captum's
            ``GuidedBackprop``, the ReLU's gradient is clamped at zero: ``relu(grad_in)``.

    Yields:
        a :class:`Captured`, filled as the block's forward (and later backward) passes run.
    """
    modules = layers if isinstance(layers, dict) else resolve_layers(net, layers)
    seen = Captured()
    handles: list[torch.utils.hooks.RemovableHandle] = []

    def keep_gradient(name: str, output: torch.Tensor, grad: torch.Tensor) -> None:
        # a layer called more than once per pass (a shared activation) keeps its last call's
        # output: keep the gradient of that same output
        if seen.activations.get(name) is output:
            seen.gradients[name] = grad

    def recorder(name: str):
        def hook(_module, inputs, output):
            if inputs and isinstance(inputs[0], torch.Tensor):
                seen.inputs[name] = inputs[0]
            seen.activations[name] = output
            if gradients and output.requires_grad:
                output.register_hook(lambda grad: keep_gradient(name, output, grad))

        return hook

    def guided(_module, _inputs, output):
        # d relu / d input is 0 or 1, so clamping the gradient arriving at the output equals
        # clamping the one leaving at the input, as Captum does (relu(grad_in)).
        if output.requires_grad:
            output.register_hook(lambda grad: grad.clamp(min=0))

    global _open_captures
    _open_captures += 1
    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(recorder(name)))
        if guided_relu:
            for module in net.modules():
                if isinstance(module, GUIDED_ACTIVATIONS):
                    handles.append(module.register_forward_hook(guided))
        yield seen
    finally:
        _open_captures -= 1
        for handle in handles:
            handle.remove()
