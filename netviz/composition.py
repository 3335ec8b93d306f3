"""Composing a job's config from command-line style overrides, and checking them first.

Shared by the command line (:mod:`netviz.cli`) and the Python API (:mod:`netviz.api`), so that a bad
choice or value reads the same from both: one :class:`~netviz.errors.NetvizError` line.
"""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

from netviz.config import CONF_DIR, NUMERIC_KEYS, group_options, register_configs
from netviz.errors import NetvizError, did_you_mean

GROUPS = ("model", "technique", "data", "tracking", "trainer", "experiment")


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """The job config ``python run.py <overrides>`` would run (bad choices raise :class:`NetvizError`)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register_configs(check_overrides(list(overrides)))
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return hydra_compose(config_name="config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as error:
        raise explain_composition_error(error, overrides) from None
    finally:
        GlobalHydra.instance().clear()


def compose_every_value(argv: Sequence[str]) -> None:
    """Compose the job's config once for every value a sweep takes, so that an unknown key or a value
    of the wrong type is one line now rather than Hydra's multi-line report later."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

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
        key = unknown.group(1)
        from netviz.techniques import foreign_option_message

        chosen = next((o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0] == "technique"), "saliency")
        foreign = foreign_option_message(key, chosen)
        if foreign:
            return NetvizError(foreign)
        groups = [o for o in overrides if o.split("=", 1)[0].lstrip("+") in GROUPS and "," not in o]
        known = _flat_keys(OmegaConf.to_container(compose(groups), resolve=False))
        return NetvizError(
            f"unknown option {key!r}{did_you_mean(key, known)}; `python run.py --cfg job` shows every option "
            f"(prefix with + to add a new key: +{key}=...)"
        )
    function = re.search(r"Unknown function '(\w+)'", text + " " + " ".join(cause))
    if function:
        return NetvizError(
            f"Hydra reads {function.group(1)}(...) as a function call; quote the value: "
            f"'featureviz.objective=\"{function.group(1)}(...)\"'"
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
        hint = ""
        if any("(" in o for o in overrides):
            hint = """; a value with parentheses needs Hydra's quotes: 'featureviz.objective="channel(layer:3)"'"""
        raise NetvizError(f"cannot parse the command line: {str(error).splitlines()[0]}{hint}") from None
    extra_models: list[str] = []
    # Groups may have options in folders added with hydra.searchpath: composition judges those.
    searched = any(o.key_or_group.lstrip("+~") == "hydra.searchpath" for o in parsed)
    for override in parsed:
        key = override.key_or_group.lstrip("+~")
        if override.is_delete():
            continue
        values = _values(override)
        if key in GROUPS:
            options = group_options(key)
            for value in values:
                if value in options or (key == "experiment" and value in ("null", "None")) or searched:
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
