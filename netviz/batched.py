"""Batched grids: the jobs of a sweep that differ only in per-sample settings run as one batch.

A class-visualization grid over ``lr``, ``l2``, ``classviz.blur_every``, ``target`` and ``seed``
(same model, data, image size, iterations and every other knob) needs one forward/backward pass per
step for all its samples, not one loop per job: :func:`netviz.techniques.classviz.class_visualization_grid`
runs it, each sample carrying its own hyperparameters and its own seeded noise and jitter. This
module plans a sweep's jobs into such groups and runs them (``hydra/launcher=batched``,
``hydra_plugins/netviz_batched_launcher``): a group's results are computed first, then every job
still runs through Hydra's ``run_job`` and :func:`netviz.job.run_job` (output folder, ``.hydra``
files, tracker, params, tags, names, panels, the sweep's parent run) and takes its result from the
batch instead of computing it, so its run is the one the unbatched sweep leaves. Jobs that cannot
be batched (another technique, an image start, a group of one) simply run one after another.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf, open_dict

from netviz.errors import NetvizError

log = logging.getLogger("netviz")

# Keys a sample of a batched grid carries for itself (the top-level aliases and the section's names).
PER_SAMPLE_KEYS = ("lr", "l2", "seed", "target", "classviz.lr", "classviz.l2", "classviz.blur_every")
# Keys that say how a job is recorded, not what it computes (they may differ inside a group).
RECORDING_KEYS = ("hydra", "tracking", "figure", "debug", "resume")


@dataclass
class PlannedJob:
    """One job of the sweep: its number, its composed config, and its group's key (``None``: unbatchable)."""

    number: int
    config: DictConfig
    group: str | None


def group_key(cfg: DictConfig) -> str | None:
    """What a job shares with the jobs it can batch with: its resolved config without the
    per-sample keys and the recording keys; ``None`` when it cannot be batched (not classviz from
    noise, or options that do not check: the job then runs alone and reports its own error)."""
    from netviz.techniques.classviz import options_from_config

    if cfg.get("technique") != "classviz":
        return None
    try:
        options = options_from_config(cfg)
    except NetvizError:
        return None
    if options.init != "noise":
        return None
    resolved = OmegaConf.to_container(cfg, resolve=True)
    per_sample = PER_SAMPLE_KEYS
    if resolved["model"].get("weights") is None:  # the seed also draws the random network: not per sample
        per_sample = tuple(key for key in per_sample if key != "seed")
    for key in RECORDING_KEYS + per_sample:
        section, _, name = key.rpartition(".")
        holder = resolved.get(section, {}) if section else resolved
        if isinstance(holder, dict):
            holder.pop(name, None)
    (resolved.get("trainer") or {}).pop("progress", None)
    return json.dumps(resolved, sort_keys=True, default=str)


def plan(configs: Sequence[tuple[int, DictConfig]]) -> list[list[PlannedJob]]:
    """The jobs ``(number, config)`` in groups, in the order of each group's first job; a job that
    cannot be batched, or has no partner, is a group of its own."""
    groups: dict[str, list[PlannedJob]] = {}
    for number, cfg in configs:
        key = group_key(cfg)
        groups.setdefault(key if key is not None else f"alone {number}", []).append(PlannedJob(number, cfg, key))
    return list(groups.values())


def job_targets(cfg: DictConfig):
    """The job's ``target``, as :func:`netviz.techniques.classviz.run` reads it."""
    targets = cfg.target
    return list(OmegaConf.to_container(targets, resolve=True)) if OmegaConf.is_config(targets) else targets


def compute_group(jobs: Sequence[PlannedJob]) -> dict:
    """Every job's result of one group, computed as one batch: ``{ahead_key: ClassVizResult}``."""
    from lightning.pytorch import seed_everything

    from netviz import collector
    from netviz.allocator import keep_freed_memory
    from netviz.job import job_device
    from netviz.models import load_model
    from netviz.techniques.classviz import ahead_key, class_visualization_grid, options_from_config

    keep_freed_memory()  # the launcher's process computes the jobs: as a job's would
    first = jobs[0].config
    if first.tracking.enabled:  # MLflow's import and the store's opening overlap the batch, as in a job
        from netviz.tracking import Tracker, default_tracking_uri

        Tracker.warm_shared_worker(first.tracking.uri or default_tracking_uri())
    threads = first.trainer.get("threads")
    if threads:  # as the job would (the group key keeps it equal across the group): same threads, same floats
        import torch

        torch.set_num_threads(int(threads))
    seed_everything(first.seed, verbose=False)  # as netviz.job does: a random network (weights=null) is seeded
    classifier = load_model(first.model.name, first.model.weights, first.model.score)
    collector.resume()  # start-up is over (netviz.collector)
    accelerator, devices = job_device(first)
    grid = [(job_targets(job.config), options_from_config(job.config)) for job in jobs]
    results = class_visualization_grid(
        classifier, grid, batch_size=first.trainer.get("batch_size"),
        accelerator=accelerator, devices=devices, progress=first.trainer.progress,
    )
    return {ahead_key(options, targets): result for (targets, options), result in zip(grid, results)}


def run_planned(groups: Sequence[Sequence[PlannedJob]], run_one: Callable[[PlannedJob], object]) -> list:
    """Run every group: a batchable group of several jobs is computed as one batch first, then each
    job runs through ``run_one`` (which takes its result from the batch). If the batch itself fails
    (a bad target, say), its jobs run one by one, each recording its own error. Returns what
    ``run_one`` returned, in job-number order."""
    from netviz.techniques.classviz import computed_ahead

    returns: dict[int, object] = {}
    for group in groups:
        ahead: dict = {}
        if group[0].group is not None and len(group) > 1:
            try:
                ahead = compute_group(group)
                log.info("batched %d jobs (#%s) into one loop", len(group), ", #".join(str(job.number) for job in group))
            except NetvizError as error:
                log.warning("could not batch jobs #%s (%s): running them one by one",
                            ", #".join(str(job.number) for job in group), error)
        with computed_ahead(ahead):
            for job in group:
                returns[job.number] = run_one(job)
    return [returns[number] for number in sorted(returns)]


def without_hydra(cfg: DictConfig) -> DictConfig:
    """A copy of a sweep job's config without its ``hydra`` node (what the task function receives)."""
    copy = cfg.copy()
    with open_dict(copy):
        copy.pop("hydra", None)
    return copy
