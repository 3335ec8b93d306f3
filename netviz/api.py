"""Whole jobs from Python: the same composed config and code path as ``python run.py``."""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig

from netviz.config import CONF_DIR


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """The job config ``python run.py <overrides>`` would run (bad choices raise :class:`NetvizError`)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from netviz.cli import check_overrides
    from netviz.config import register_configs

    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from netviz.cli import explain_composition_error

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


def run(overrides: Sequence[str] = ()):
    """Run one job from command-line style overrides and return its :class:`~netviz.results.Result`.

    Example:
        >>> result = run(["model=efficientnet_lite0", "tracking=none"])
        >>> result.map_predicted.shape
        torch.Size([4, 224, 224])
    """
    from netviz.cli import execute

    return execute(compose(overrides), overrides=overrides)
