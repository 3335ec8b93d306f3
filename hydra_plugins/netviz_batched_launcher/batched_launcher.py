"""The ``batched`` Hydra launcher: a class-visualization grid over ``lr``, ``l2``, ``classviz.blur_every``,
``target`` and ``seed`` runs as one batched loop, every job still logged as its own child run.

Hydra 1.3's Launcher plugin API: :meth:`BatchedLauncher.setup` keeps the context, and
:meth:`BatchedLauncher.launch` receives the sweep's job list. It composes every job's config, groups
the jobs with :func:`netviz.batched.plan`, computes each group as one batch, and then runs every job in
this process through Hydra's ``run_job`` exactly as the basic launcher does (output folder, ``.hydra``
files, callbacks), the job taking its result from the batch (:func:`netviz.batched.run_planned`).

(No ``from __future__ import annotations`` here: Hydra imports plugins without registering the module,
and dataclasses then cannot read string annotations.)
"""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)


@dataclass
class BatchedLauncherConf:
    _target_: str = "hydra_plugins.netviz_batched_launcher.batched_launcher.BatchedLauncher"


ConfigStore.instance().store(group="hydra/launcher", name="batched", node=BatchedLauncherConf, provider="netviz")


class BatchedLauncher(Launcher):
    """Runs a sweep's jobs in this process, batching those that differ only in per-sample settings."""

    def __init__(self) -> None:
        super().__init__()
        self.config: Optional[DictConfig] = None
        self.task_function: Optional[TaskFunction] = None
        self.hydra_context: Optional[HydraContext] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from netviz.job import JobInterrupted, signals_end_the_job

        try:
            with signals_end_the_job():  # as each job does: SIGTERM and Ctrl-C end the sweep in one line
                return self._launch(job_overrides, initial_job_idx)
        except JobInterrupted as interrupted:  # while the batch computed (a job reports its own)
            parent = "; its parent run is marked FAILED" if self.config.tracking.enabled else ""
            print(f"netviz: error: interrupted by {interrupted} before the sweep's jobs had run{parent}", file=sys.stderr)
            sys.exit(interrupted.exit_status)

    def _launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from netviz.batched import plan, run_planned, without_hydra

        setup_globals()
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        log.info(f"Launching {len(job_overrides)} jobs locally, batching what can be batched")
        sweep_configs = {}
        for offset, overrides in enumerate(job_overrides):
            number = initial_job_idx + offset
            log.info(f"\t#{number} : {' '.join(filter_overrides(overrides))}")
            sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = number
                sweep_config.hydra.job.num = number
            sweep_configs[number] = sweep_config
        planned = []
        for number, sweep_config in sweep_configs.items():
            HydraConfig.instance().set_config(sweep_config)  # the job's own ${hydra:...} while it is read
            planned.append((number, without_hydra(sweep_config)))

        def run_one(job) -> JobReturn:
            returned = run_job(
                hydra_context=self.hydra_context,
                task_function=self.task_function,
                config=sweep_configs[job.number],
                job_dir_key="hydra.sweep.dir",
                job_subdir_key="hydra.sweep.subdir",
            )
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
            return returned

        return run_planned(plan(planned), run_one)
