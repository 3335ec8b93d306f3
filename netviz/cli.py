"""The command line: checks what the user typed, then runs one job from its composed config.

``run.py`` is a thin Hydra entry point over :func:`run_job`; :func:`netviz.run` composes the same
config from Python. Bad input ends in one line, ``netviz: error: ...``, and exit status 2.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from netviz.config import NUMERIC_KEYS, group_options, register_configs
from netviz.errors import NetvizError, did_you_mean

log = logging.getLogger("netviz")
GROUPS = ("model", "technique", "data", "tracking", "trainer", "experiment")
EXIT_BAD_INPUT = 2


def fail(message: str) -> None:
    """Print a one-line error and exit with status 2."""
    print(f"netviz: error: {message}", file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def check_command_line(argv: Sequence[str]) -> None:
    """Check config-group choices and numeric values in ``argv`` before Hydra composes anything,
    register the torchvision models it names, and answer ``--list-models``.

    Exits with a one-line message on a bad choice or value.
    """
    if "--list-models" in argv:
        from netviz.models import available_models

        print("\n".join(available_models()))
        sys.exit(0)
    try:
        register_configs(check_overrides(argv))
        compose_every_value(argv)
    except NetvizError as error:
        fail(str(error))


def compose_every_value(argv: Sequence[str]) -> None:
    """Compose the job's config once for every value a sweep takes, so that an unknown key or a value
    of the wrong type is one line now rather than Hydra's multi-line report later."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from netviz.api import compose

    overrides = [a for a in argv if not a.startswith("-") and "=" in a]
    if not overrides:
        return
    parsed = OverridesParser.create().parse_overrides(overrides)
    firsts = [f"{o.get_key_element()}={_values(o)[0]}" if o.is_sweep_override() else text for o, text in zip(parsed, overrides)]
    compose(firsts)
    for i, override in enumerate(parsed):
        if override.is_sweep_override():
            for value in _values(override)[1:]:
                compose([*firsts[:i], f"{override.get_key_element()}={value}", *firsts[i + 1 :]])


def explain_composition_error(error: Exception, overrides: Sequence[str] = ()) -> NetvizError:
    """One line for Hydra's or OmegaConf's report on a bad override (an unknown key, a wrong type);
    an unknown key is matched against the options of the config ``overrides``' groups compose."""
    import re

    text = str(error).strip()
    cause = str(error.__cause__ or "").strip().splitlines()
    unknown = re.match(r"Could not override '([^']+)'", text)
    if unknown:
        from netviz.api import compose

        key = unknown.group(1)
        groups = [o for o in overrides if o.split("=", 1)[0].lstrip("+") in GROUPS and "," not in o]
        known = _flat_keys(OmegaConf.to_container(compose(groups), resolve=False))
        return NetvizError(
            f"unknown option {key!r}{did_you_mean(key, known)}; `python run.py --cfg job` shows every option "
            f"(prefix with + to add a new key: +{key}=...)"
        )
    merging = re.match(r"Error merging override (.+)", text)
    if merging and cause:
        return NetvizError(f"{merging.group(1)}: {cause[0]}")
    return NetvizError(" ".join([text.splitlines()[0] if text else type(error).__name__, *cause[:1]]))


def _flat_keys(config, prefix: str = "") -> list[str]:
    keys = []
    for key, value in (config or {}).items():
        keys.append(f"{prefix}{key}")
        if isinstance(value, dict):
            keys.extend(_flat_keys(value, f"{prefix}{key}."))
    return keys


def check_overrides(argv: Sequence[str]) -> list[str]:
    """Validate overrides; return the torchvision model names they choose that have no YAML file."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    overrides = [a for a in argv if not a.startswith("-") and "=" in a]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as error:
        raise NetvizError(f"cannot parse the command line: {str(error).splitlines()[0]}") from None
    extra_models: list[str] = []
    for override in parsed:
        key = override.key_or_group.lstrip("+~")
        if override.is_delete():
            continue
        values = _values(override)
        if key in GROUPS:
            options = group_options(key)
            for value in values:
                if value in options or (key == "experiment" and value in ("null", "None")):
                    continue
                if key == "model":
                    extra_models.append(_check_model_name(value))
                    continue
                raise NetvizError(f"unknown {key} {value!r}{did_you_mean(value, options)}; choose one of {', '.join(options)}")
        elif key in NUMERIC_KEYS:
            for value in values:
                if value in ("null", "None"):
                    continue
                try:
                    NUMERIC_KEYS[key](value)
                except ValueError:
                    kind = "a number" if NUMERIC_KEYS[key] is float else "an integer"
                    raise NetvizError(f"{key}={value} is not {kind}; for example {key}=5") from None
    return extra_models


def _values(override) -> list[str]:
    """The override's value(s) as strings: one, or every value of a sweep."""
    if override.is_sweep_override():
        return [str(v) for v in override.sweep_string_iterator()]
    return [override.get_value_element_as_str()]


def _check_model_name(name: str) -> str:
    from netviz.models import available_models

    models = available_models()
    if name not in models:
        raise NetvizError(
            f"unknown model {name!r}{did_you_mean(name, models)}; `python run.py --list-models` lists them"
        )
    return name


def run_name(overrides: Sequence[str], technique: str) -> str:
    """A run's name from its command-line overrides (``lr=0.1,l2=1e-05``), tracking/hydra ones left out."""
    shown = [o for o in overrides if not o.lstrip("+~").startswith(("tracking", "hydra", "trainer.progress"))]
    return ",".join(shown) if shown else technique


def run_job(cfg: DictConfig):
    """The body of ``run.py``: run one job, turning a :class:`NetvizError` into a one-line exit."""
    try:
        return execute(cfg)
    except NetvizError as error:
        if cfg.get("debug"):
            raise
        fail(str(error))


def execute(cfg: DictConfig, overrides: Sequence[str] | None = None):
    """Run the job ``cfg`` describes: model and images, the technique, then figure and tracking.

    Returns the technique's :class:`~netviz.results.Result`.
    """
    from netviz.techniques import TECHNIQUES, check_technique
    from netviz.tracking import Tracker, default_tracking_uri, flatten, git_commit

    hydra_dir, sweep_id, overrides = _hydra_context(overrides)
    check_technique(cfg.technique)  # before a run is opened; the technique's module is imported later
    uri = cfg.tracking.uri or default_tracking_uri()
    tracker = None
    if cfg.tracking.enabled:
        resolved = OmegaConf.to_container(cfg, resolve=True)
        resolved["tracking"]["uri"] = uri
        tracker = Tracker(
            uri,
            experiment=cfg.tracking.experiment or cfg.technique,
            run_name=cfg.tracking.run_name or run_name(overrides, cfg.technique),
            tags={
                "technique": cfg.technique,
                "model": cfg.model.name,
                "target": None if resolved["target"] is None else str(resolved["target"]),
                "git_commit": git_commit(),
                "sweep_id": sweep_id,
                "overrides": " ".join(overrides),
                **cfg.tracking.tags,
            },
            # the option sections of the techniques this job does not run are left out
            params=flatten({k: v for k, v in resolved.items() if k not in set(TECHNIQUES) - {cfg.technique}}),
        ).start()
    try:
        # The heavy imports come after the tracker's worker has started, so that they overlap.
        from lightning.pytorch import seed_everything

        from netviz.data import load_images
        from netviz.models import load_model
        from netviz.techniques import get_technique

        technique = get_technique(cfg.technique)
        seed_everything(cfg.seed, verbose=False)
        classifier = load_model(cfg.model.name, cfg.model.weights, cfg.model.score)
        images = load_images(
            cfg.data.source,
            cfg.data.path,
            indices=None if cfg.data.indices is None else list(cfg.data.indices),
            labels=cfg.data.labels,
            size=classifier.input_size,
            class_index=classifier.class_index,
        )
        trainer = {
            "accelerator": cfg.trainer.accelerator,
            "devices": cfg.trainer.devices,
            "progress": cfg.trainer.progress,
        }
        result = technique(classifier, images, cfg, trainer)
        figure = None
        if cfg.figure:
            from netviz.figures import save_figure

            figure = save_figure(result.figure(), cfg.figure)
            log.info("figure written to %s", figure)
        if tracker is not None:
            files = {"hydra": hydra_dir} if hydra_dir is not None else {}
            tracker.log_result(result, files, figure=figure)
            tracker.finish("FINISHED")
            log.info("logged run %s to %s", tracker.run_id, uri)
        return result
    except BaseException:
        if tracker is not None:
            tracker.finish("FAILED")
        raise


def _hydra_context(overrides: Sequence[str] | None) -> tuple[Path | None, str | None, list[str]]:
    """``(folder of the job's .hydra files, sweep id, overrides)`` when run by Hydra."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None, None, list(overrides or [])
    hydra = HydraConfig.get()
    output = Path(hydra.runtime.output_dir)
    sweep_id = str(hydra.sweep.dir) if hydra.mode == RunMode.MULTIRUN else None
    return output / hydra.output_subdir if hydra.output_subdir else None, sweep_id, list(hydra.overrides.task)
