"""Techniques register themselves: a name, a function that runs it, and its typed options.

:func:`register_technique` adds one; the built-ins are registered below by reference (their modules
are imported only when a job runs them), and a technique defined outside netviz registers itself when
its module is imported: its YAML (``conf/technique/<name>.yaml`` on any ``hydra.searchpath``) names
the section's dataclass in the section's ``_target_`` (``mine: {_target_: my_module.MineConfig, ...}``),
and :func:`prepare` imports that module. A job runs in two calls, the first needing no model::

    job = prepare(cfg)                         # checks every value: one-line NetvizError, no model
    result = job.run(classifier, images, trainer)

**Top-level aliases.** ``lr``, ``l2`` and ``iterations`` at the top level are sweep-friendly aliases
of the options of the same name in the technique's section: when set (not null) they become the
section's value (the section's YAML says ``lr: ${alias:lr,5.0}``, so the resolved config and the
logged params show what the technique used); giving both with different values is an error, and so
is a top-level alias the technique does not take.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, is_dataclass
from importlib import import_module
from typing import Any

from netviz.config import ClassVizConfig, FeatureVizConfig
from netviz.errors import NetvizError, did_you_mean

# Top-level keys that alias an option of the technique's own section.
ALIAS_KEYS = ("iterations", "lr", "l2")


@dataclass(frozen=True)
class Technique:
    """A registered technique.

    Attributes:
        name: ``technique=<name>``, its YAML's name and its section's key.
        run: ``run(classifier, images, options, cfg, trainer) -> Result`` (or ``"module:function"``).
        options: ``options(cfg) -> options`` checking every value without a model (or ``"module:function"``;
            ``None``: the section's values as a dict, typed by ``config``).
        config: the section's dataclass (Hydra's ConfigStore types the section with it when it is
            known before composition, as for the built-ins; otherwise it is checked by :func:`prepare`).
        aliases: the top-level keys (of :data:`ALIAS_KEYS`) the technique takes.
        legacy_run: ``run`` has the older signature ``run(classifier, images, cfg, trainer)``.
        uses_images: ``uses_images(options) -> bool``, whether a job reads ``data``'s images (or
            ``"module:function"``; ``None``: always). A job that does not is given none, and a
            sweep's jobs do not load and resize a folder for nothing.
    """

    name: str
    run: Callable | str
    options: Callable | str | None = None
    config: type | None = None
    aliases: tuple[str, ...] = ()
    legacy_run: bool = False
    uses_images: Callable | str | None = None

    def option_names(self) -> list[str]:
        """``<name>.<option>`` for every option of its section, then the top-level aliases it takes."""
        if self.config is not None:
            section = [f"{self.name}.{f.name}" for f in fields(self.config) if not f.name.startswith("_")]
        else:
            section = _yaml_section_keys(self.name)
        return section + list(self.aliases)


_REGISTRY: dict[str, Technique] = {}
TECHNIQUES = _REGISTRY  # name -> Technique (what the CLI lists and leaves out of params)


def register_technique(
    name: str,
    run: Callable | str,
    *,
    options: Callable | str | None = None,
    config: type | None = None,
    aliases: Sequence[str] = (),
    legacy_run: bool = False,
    uses_images: Callable | str | None = None,
) -> Technique:
    """Add technique ``name`` to the registry (see :class:`Technique`); returns its entry."""
    unknown = sorted(set(aliases) - set(ALIAS_KEYS))
    if unknown:
        raise NetvizError(f"technique {name}: aliases {unknown} are not top-level aliases ({', '.join(ALIAS_KEYS)})")
    if config is not None and not is_dataclass(config):
        raise NetvizError(f"technique {name}: config must be a dataclass (got {config!r})")
    entry = Technique(name, run, options, config, tuple(aliases), legacy_run, uses_images)
    _REGISTRY[name] = entry
    return entry


# The built-ins, by reference. Saliency and adversarial still take the whole config (their owners move
# them onto typed sections); classviz's section is ClassVizConfig.
# Their `options` check every value with no model (the job calls them before loading one).
register_technique(
    "saliency",
    "netviz.techniques.saliency:run_from_config",
    options="netviz.techniques.saliency.from_config:check_config",
    aliases=("iterations",),
    legacy_run=True,
)
register_technique(
    "adversarial",
    "netviz.techniques.adversarial:run_from_config",
    options="netviz.techniques.adversarial.config:settings_from_config",
    aliases=("iterations", "lr"),
    legacy_run=True,
)
register_technique(
    "classviz",
    "netviz.techniques.classviz:run",
    options="netviz.techniques.classviz:options_from_config",
    config=ClassVizConfig,
    aliases=("iterations", "lr", "l2"),
    uses_images="netviz.techniques.classviz:uses_images",
)
register_technique(
    "featureviz",
    "netviz.techniques.featureviz:run",
    options="netviz.techniques.featureviz:options_from_config",
    config=FeatureVizConfig,
    aliases=("iterations", "lr"),
    uses_images=lambda options: False,  # from noise or a Fourier parameterization, never from data
)


def _resolve(reference: Callable | str) -> Callable:
    if not isinstance(reference, str):
        return reference
    module, function = reference.split(":")
    return getattr(import_module(module), function)


def _yaml_section_keys(name: str) -> list[str]:
    """The keys of ``<name>:`` in the built-in ``conf/technique/<name>.yaml`` (for techniques without a dataclass)."""
    from omegaconf import OmegaConf

    from netviz.config import CONF_DIR

    path = CONF_DIR / "technique" / f"{name}.yaml"
    if not path.exists():
        return []
    section = OmegaConf.load(path).get(name) or {}
    keys: list[str] = []

    def walk(node, prefix):
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                keys.append(f"{prefix}{key}")

    walk(OmegaConf.to_container(section) if OmegaConf.is_config(section) else section, f"{name}.")
    return keys


def check_technique(name: str, cfg: Any = None) -> Technique:
    """The registered technique ``name`` (a one-line error otherwise). With the job's ``cfg``, a
    technique from outside netviz is imported first, from its section's ``_target_``."""
    if name not in _REGISTRY and cfg is not None:
        section = cfg.get(name) if hasattr(cfg, "get") else None
        target = section.get("_target_") if hasattr(section, "get") else None
        if target:
            module = str(target).rsplit(".", 1)[0]
            try:
                import_module(module)
            except ImportError as error:
                raise NetvizError(f"technique={name}: cannot import {module!r} named by {name}._target_ ({error})") from None
            if name not in _REGISTRY:
                raise NetvizError(f"technique={name}: module {module!r} does not call register_technique({name!r}, ...)")
    if name not in _REGISTRY:
        raise NetvizError(f"unknown technique {name!r}{did_you_mean(name, _REGISTRY)}; choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def foreign_option_message(key: str, technique: str) -> str | None:
    """``"adversarial.eps belongs to technique=adversarial; technique=saliency takes: ..."`` when ``key``
    is an option of another technique than ``technique`` (``None`` otherwise). For the CLI's one-line
    report of an override Hydra could not apply."""
    owner = key.lstrip("+~").split(".", 1)[0]
    if owner == technique or owner not in _REGISTRY:
        return None
    return f"{key} belongs to technique={owner}; {takes(technique)}"


def takes(technique: str) -> str:
    """``technique=<name> takes: <its options>``."""
    entry = _REGISTRY.get(technique)
    options = entry.option_names() if entry is not None else []
    return f"technique={technique} takes: {', '.join(options) if options else 'no options'}"


def section_values(cfg: Any, name: str, config: type | None, aliases: Sequence[str]) -> dict[str, Any]:
    """The options of section ``name`` as a dict: typed by ``config`` (one-line errors for an unknown
    key or a wrong type), without ``_target_``, with the top-level ``aliases`` where they are set."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    section = cfg.get(name)
    values = OmegaConf.to_container(section, resolve=True) if OmegaConf.is_config(section) else dict(section or {})
    values.pop("_target_", None)
    for key in aliases:
        top = cfg.get(key)
        if top is None:
            continue
        explicit = key in values and not (OmegaConf.is_config(section) and OmegaConf.is_interpolation(section, key))
        if explicit and values[key] != top:
            raise NetvizError(f"{key}={top} and {name}.{key}={values[key]} disagree; give one of them")
        values[key] = top
    if config is None:
        return values
    try:
        typed = OmegaConf.merge(OmegaConf.structured(config), values)
    except OmegaConfBaseException as error:
        first = str(error).splitlines()[0]
        raise NetvizError(f"{name}: {first}; {takes(name)}") from None
    return {f.name: typed[f.name] for f in fields(config) if not f.name.startswith("_")}


def check_top_level(cfg: Any, entry: Technique) -> None:
    """A one-line error for a top-level alias the technique does not take, or a section of another technique."""
    for key in ALIAS_KEYS:
        if cfg.get(key) is not None and key not in entry.aliases:
            raise NetvizError(f"{key}={cfg.get(key)} is not used by technique={entry.name}; {takes(entry.name)}")
    for other in _REGISTRY:
        if other != entry.name and cfg.get(other) is not None:
            raise NetvizError(f"the {other}: section belongs to technique={other}; {takes(entry.name)}")


@dataclass
class Job:
    """A technique with its checked options, ready to run once the model and images are loaded."""

    technique: Technique
    options: Any
    cfg: Any

    def uses_images(self) -> bool:
        """Whether :meth:`run` reads ``data``'s images (else it is given ``None``)."""
        return True if self.technique.uses_images is None else bool(_resolve(self.technique.uses_images)(self.options))

    def run(self, classifier, images, trainer: dict):
        """Run it: ``trainer.threads`` applied, then the technique; returns its :class:`~netviz.results.Result`."""
        import torch

        threads = self.cfg.trainer.get("threads") if self.cfg.get("trainer") is not None else None
        if threads:
            torch.set_num_threads(int(threads))
        run = _resolve(self.technique.run)
        if self.technique.legacy_run:
            return run(classifier, images, self.cfg, trainer)
        return run(classifier, images, self.options, self.cfg, trainer)


def prepare(cfg: Any) -> Job:
    """Check a composed job config against its technique, with no model: the technique's name (importing
    an outside technique), top-level aliases it does not take, other techniques' sections, and every
    value of its options. Returns the :class:`Job` to run."""
    from netviz.errors import check_int

    entry = check_technique(cfg.technique, cfg)
    check_top_level(cfg, entry)
    trainer = cfg.get("trainer")
    if trainer is not None:
        if trainer.get("threads") is not None:
            check_int("trainer.threads", trainer.get("threads"), minimum=1, hint="or null for torch's default")
        if trainer.get("batch_size") is not None:
            check_int("trainer.batch_size", trainer.get("batch_size"), minimum=1, hint="or null to choose from the model")
    if entry.options is not None:
        options = _resolve(entry.options)(cfg)
    elif entry.config is not None:
        options = entry.config(**section_values(cfg, entry.name, entry.config, entry.aliases))
    else:
        options = cfg
    return Job(entry, options, cfg)


def get_technique(name: str) -> Callable:
    """``run(classifier, images, cfg, trainer)`` of technique ``name``: :func:`prepare` then :meth:`Job.run`
    (for callers that have not split the two yet)."""
    check_technique(name)

    def run(classifier, images, cfg, trainer):
        return prepare(cfg).run(classifier, images, trainer)

    return run
