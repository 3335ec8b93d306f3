"""The typed schema of a netviz job's config, and the registration of config-group options.

The YAML files in ``conf/`` fill this schema; the schema makes ``lr=5`` arrive as the float 5.0
(MLflow refuses a param that changes from 5 to 5.0), and turns ``lr=abc`` into an error. A
technique's section (``classviz:``) is not a field of the root: the technique's YAML adds it, typed
by the technique's dataclass where one is registered (:func:`netviz.techniques.register_technique`;
Hydra's ConfigStore holds it as ``technique/<name>_schema``), so ``classviz.tv=abc`` and
``classviz.bogus=1`` fail when the config is composed. The built-in sections' dataclasses live
here, so that composing a config imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore

CONF_DIR = Path(__file__).resolve().parent / "conf"  # links to the top-level conf/ in a checkout


@dataclass
class ModelConfig:
    """``conf/model/``: see :func:`netviz.load_model`."""

    name: str = "squeezenet1_1"
    weights: Optional[str] = "DEFAULT"
    score: str = "logits"


@dataclass
class DataConfig:
    """``conf/data/``: see :func:`netviz.load_images`."""

    source: str = "samples"
    path: Optional[str] = None
    indices: Optional[list[int]] = None
    labels: Optional[str] = None
    skip_unreadable: bool = False  # skip a folder's corrupt files with one warning instead of stopping
    masks: Optional[str] = None  # a folder of <file stem>.png object masks


@dataclass
class TrackingConfig:
    """``conf/tracking/``: where and how the job is recorded in MLflow."""

    enabled: bool = True
    uri: Optional[str] = None  # None: sqlite:///<project root>/mlflow.db
    experiment: Optional[str] = None  # None: the technique's name
    run_name: Optional[str] = None  # None: the job's overrides
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class TrainerConfig:
    """``conf/trainer/``: the Lightning Trainer that runs the technique's loop."""

    accelerator: str = "auto"
    devices: Any = 1
    log_every: int = 10
    progress: Optional[bool] = None  # None: a progress bar when the loop has several steps and stderr is a terminal
    threads: Optional[int] = None  # torch.set_num_threads; None: torch's default
    batch_size: Optional[int] = None  # samples per chunk; None: chosen from the model's input size
    device_index: Optional[int] = None  # the GPU of this job; None: the job number modulo the GPUs in a sweep


@dataclass
class NetvizConfig:
    """A whole job. ``lr``, ``l2`` and ``iterations`` are top-level aliases of the technique's own options
    (null: the technique's section decides; set: they win). The technique's section is added by its YAML."""

    technique: str = "saliency"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    target: Any = None
    lr: Optional[float] = None
    l2: Optional[float] = None
    iterations: Optional[int] = None
    seed: int = 0
    figure: Optional[str] = None  # write the composed figure to this PNG path as well
    debug: bool = False  # show tracebacks instead of one-line errors
    resume: bool = False  # skip the job if its experiment has a FINISHED run of the same config


@dataclass
class ClassVizConfig:
    """``classviz.*``: the section of ``conf/technique/classviz.yaml``, typed (Hydra's ConfigStore holds it,
    so ``classviz.tv=abc`` or ``classviz.bogus=1`` fails when the config is composed).

    Attributes:
        init: ``noise`` (seeded standard normal noise in the model's input space) or ``image`` (``data``'s images).
        iterations: the number of updates (the top-level ``iterations``, when set).
        lr: the length of each step in the normalized input space (the gradient is scaled to unit
            norm; the top-level ``lr``, when set).
        l2: the weight of the L2 regularizer (see ``l2_form``; the top-level ``l2``, when set).
        l2_form: ``"squared"`` (``||x||^2``), ``"norm"`` (``||x||``) or ``"decay"`` (``x <- (1 - l2) x``).
        blur_every: blur when ``step % blur_every == 0``; ``None`` or 0: never.
        blur_sigma: the blur's Gaussian std, in pixels.
        max_jitter: the largest random roll, in pixels, along each axis (0: no jitter).
        show_every: keep a snapshot of the image every this many updates (MLflow's step slider).
        tv: the weight of the total-variation regularizer (0: off).
        tv_beta: the exponent of the total variation (2: squared differences).
        param: what is optimized: ``pixel`` (the course's) or ``fourier`` (Olah et al. 2017's 1/f-scaled spectrum).
        color: ``rgb`` (the course's) or ``decorrelated`` (Lucid's ImageNet colour decorrelation).
        valid: how values become valid pixels: ``clamp`` (the course's) or ``sigmoid`` (Lucid's).
        decay: the Fourier scaling's exponent, ``1 / max(f, 1 / size) ^ decay``.
        transforms: ``course`` (the roll jitter of ``max_jitter``) or ``lucid`` (pad, jitter, scale, rotation).
        optimizer: ``ascent`` (the course's normalized ascent, step ``lr``) or a ``torch.optim`` optimizer's
            name (``adam``: ``lr`` is its learning rate; Lucid's is 0.05).
    """

    init: str = "noise"
    iterations: int = 200
    lr: float = 5.0
    l2: float = 1e-3
    l2_form: str = "squared"
    blur_every: Optional[int] = 10
    blur_sigma: float = 0.5
    max_jitter: int = 16
    show_every: int = 25
    tv: float = 0.0
    tv_beta: float = 2.0
    param: str = "pixel"
    color: str = "rgb"
    valid: str = "clamp"
    decay: float = 1.0
    transforms: str = "course"
    optimizer: str = "ascent"


@dataclass
class FeatureVizConfig:
    """``featureviz.*``: the section of ``conf/technique/featureviz.yaml`` (Olah et al. 2017's feature
    visualization), typed like :class:`ClassVizConfig`.

    Attributes:
        objective: what to maximize: a text (``channel(features.7:12) - 1e-2 * diversity(features.7)``),
            a list of texts (one image each: a grid of channels), or a list of terms
            (``[{kind: channel, layer: features.7, channel: 12, weight: 1}]``); ``None``: channel 0 of
            the model's last ``Conv2d``.
        samples: images per objective (a batch; a diversity term pushes them apart).
        iterations: the number of updates (the top-level ``iterations``, when set).
        lr: the optimizer's learning rate (the top-level ``lr``, when set).
        param, color, valid, decay, transforms, optimizer: as :class:`ClassVizConfig`'s, Lucid's by default.
        max_jitter: the roll of ``transforms=course``, in pixels.
        show_every: keep a snapshot of the images every this many updates.
    """

    objective: Any = None
    samples: int = 1
    iterations: int = 256
    lr: float = 0.05
    param: str = "fourier"
    color: str = "decorrelated"
    valid: str = "sigmoid"
    decay: float = 1.0
    transforms: str = "lucid"
    optimizer: str = "adam"
    max_jitter: int = 16
    show_every: int = 32


# Top-level keys whose command-line values are checked before Hydra runs, with their types.
NUMERIC_KEYS = {"lr": float, "l2": float, "iterations": int, "seed": int}


def alias(key: str, default: Any, *, _root_: Any) -> Any:
    """``${alias:lr,5.0}`` in a technique's section: the top-level ``lr`` when it is set, else ``default``.

    So ``lr=0.1`` on the command line (a sweep's handle) becomes the section's ``lr`` in the resolved
    config, and the params logged show the value the technique used."""
    value = _root_.get(key)
    return default if value is None else value


def register_configs(models: list[str] = ()) -> None:
    """Register the schema, and a ``model=<name>`` option for each torchvision name in ``models``
    that has no YAML file (any torchvision classifier is a valid ``model=``)."""
    from omegaconf import OmegaConf

    from netviz.techniques import TECHNIQUES

    if not OmegaConf.has_resolver("alias"):
        OmegaConf.register_new_resolver("alias", alias)
    store = ConfigStore.instance()
    # Not struct while the defaults merge, so that a technique's YAML may add its section; Hydra makes
    # the root struct before the command line's overrides, so an unknown key there is still an error.
    root = OmegaConf.structured(NetvizConfig)
    OmegaConf.set_struct(root, False)
    store.store(name="netviz_schema", node=root)
    for technique in TECHNIQUES.values():
        if technique.config is not None:
            store.store(group="technique", name=f"{technique.name}_schema", node=technique.config, package=technique.name)
    for name in models:
        if not (CONF_DIR / "model" / f"{name}.yaml").exists():
            store.store(group="model", name=name, node=ModelConfig(name=name))


def group_options(group: str) -> list[str]:
    """The options of a config group that have YAML files."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
