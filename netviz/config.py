"""The typed schema of a netviz job's config, and the registration of config-group options.

The YAML files in ``conf/`` fill this schema; the schema makes ``lr=5`` arrive as the float 5.0
(MLflow refuses a param that changes from 5 to 5.0), and turns ``lr=abc`` into an error.
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
    progress: Optional[bool] = None  # None: a progress bar when the loop has more than one step
    device_index: Optional[int] = None  # the GPU of this job; None: the job number modulo the GPUs in a sweep


@dataclass
class NetvizConfig:
    """A whole job. ``lr``, ``l2`` and ``iterations`` are set by the technique's config."""

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
    # Each technique's own options, filled by conf/technique/<name>.yaml.
    saliency: Any = None
    adversarial: Any = None
    classviz: Any = None


# Top-level keys whose command-line values are checked before Hydra runs, with their types.
NUMERIC_KEYS = {"lr": float, "l2": float, "iterations": int, "seed": int}


def register_configs(models: list[str] = ()) -> None:
    """Register the schema, and a ``model=<name>`` option for each torchvision name in ``models``
    that has no YAML file (any torchvision classifier is a valid ``model=``)."""
    store = ConfigStore.instance()
    store.store(name="netviz_schema", node=NetvizConfig)
    for name in models:
        if not (CONF_DIR / "model" / f"{name}.yaml").exists():
            store.store(group="model", name=name, node=ModelConfig(name=name))


def group_options(group: str) -> list[str]:
    """The options of a config group that have YAML files."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
