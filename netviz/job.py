"""One job: checks, then model and images, the technique, then figure and tracking.

Data flows one way: config -> model + images -> technique -> result -> figure and tracking. The
command line (:mod:`netviz.cli`) and the Python API (:func:`netviz.run`) both run jobs through
:func:`run_job`; neither imports the other.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from netviz import collector
from netviz.errors import NetvizError, did_you_mean

log = logging.getLogger("netviz")

# Config keys that say where and how a job is recorded or shown, not what it computes.
BOOKKEEPING = ("tracking", "hydra", "debug", "figure", "trainer.progress")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
# Overrides that never name a run: where things are, and how the job is recorded.
UNNAMED_KEYS = ("data.path", "data.labels", "data.masks", "tracking", "hydra", "trainer", "figure", "debug", "experiment")


class JobInterrupted(BaseException):
    """The job got SIGTERM (or SIGINT): it ends its run ``KILLED`` and exits 143 (130)."""

    def __init__(self, signal_number: int) -> None:
        self.signal_number = signal_number
        self.exit_status = 128 + signal_number
        super().__init__(signal.Signals(signal_number).name)


@contextlib.contextmanager
def signals_end_the_job() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into :class:`JobInterrupted` while the job runs, so that a scheduler's
    ``kill``, ``timeout`` or Ctrl-C end the run honestly (never ``exit 0``, never ``RUNNING``)."""

    def interrupt(signal_number, _frame):
        raise JobInterrupted(signal_number)

    if not _in_main_thread():
        yield
        return
    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


# ----- checks before any work --------------------------------------------------------------------


def check_before_work(cfg: DictConfig) -> None:
    """Everything about the job that can be checked without a model: one line each, in seconds."""
    accelerator = str(cfg.trainer.accelerator)
    if accelerator not in ACCELERATORS:
        raise NetvizError(
            f"trainer.accelerator={accelerator!r} is not one of {', '.join(ACCELERATORS)}{did_you_mean(accelerator, ACCELERATORS)}"
        )
    if accelerator in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise NetvizError(f"trainer.accelerator={accelerator}: this machine has no usable GPU; use trainer.accelerator=cpu or auto")
    if cfg.get("figure"):
        from netviz.figures import check_figure_path

        check_figure_path(cfg.figure)
    experiment = cfg.tracking.get("experiment")
    if experiment is not None and (not str(experiment).strip(". ") or "/" in str(experiment)):
        raise NetvizError(f"tracking.experiment={experiment!r} is not an experiment name; use letters, digits, spaces, - or _")


# ----- what a run is called and what it records ---------------------------------------------------


def resolved_config(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)


def job_params(cfg: DictConfig, overrides: Sequence[str] = ()) -> dict[str, str]:
    """The run's params: the model and data choices, and the hyperparameters the technique uses.

    Bookkeeping (tracking, debug, progress, the figure path) and the other techniques' sections are
    left out, and so is an unset option (``None``): the full resolved config is an artifact instead.
    """
    from netviz.tracking import flatten

    resolved = resolved_config(cfg)
    keep = {"technique": resolved["technique"], "seed": resolved.get("seed"), "target": resolved.get("target")}
    keep["model"] = resolved.get("model")
    keep["data"] = resolved.get("data")
    section = resolved.get(str(resolved["technique"]))
    if isinstance(section, dict):
        keep[str(resolved["technique"])] = {k: v for k, v in section.items() if k != "_target_"}
    for alias in ("lr", "l2", "iterations"):  # a technique without a section of its own uses the aliases
        if not isinstance(section, dict) or alias not in section:
            keep[alias] = resolved.get(alias)
    trainer = resolved.get("trainer") or {}
    for key in ("threads", "batch_size"):
        if trainer.get(key) is not None:
            keep[f"trainer.{key}"] = trainer[key]
    flat = flatten(keep)
    # An unset option (null: "not used", "the method's default") is not a param, unless the job set
    # it: classviz.blur_every=null means "never blur", and a sweep over it needs the value.
    chosen = {o.split("=", 1)[0].lstrip("+~") for o in overrides if "=" in o}
    return {key: value for key, value in flat.items() if key in chosen or value not in ("None", "{}", "[]")}


def config_hash(cfg: DictConfig) -> str:
    """A hash of what the job computes (bookkeeping left out): equal hashes, equal work."""
    resolved = resolved_config(cfg)
    for key in ("tracking", "debug", "figure", "resume"):
        resolved.pop(key, None)
    (resolved.get("trainer") or {}).pop("progress", None)
    return hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()[:16]


def short_value(value: str) -> str:
    """``5.0`` -> ``5``, ``0.001`` -> ``1e-3``, ``1e-05`` -> ``1e-5``; anything else as it is."""
    try:
        number = float(value)
    except ValueError:
        return value
    if number != number or number in (float("inf"), float("-inf")):
        return value
    if number == int(number) and abs(number) < 1e6:
        return str(int(number))
    text = f"{number:.3g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    elif abs(number) < 0.01:
        mantissa, exponent = f"{number:.2e}".split("e")
        text = f"{float(mantissa):g}e{int(exponent)}"
    return text


def run_name(cfg: DictConfig, overrides: Sequence[str], subject: str | None = None, swept: str | None = None) -> str:
    """A run's name that says what distinguishes it: ``classviz Yorkshire terrier lr=5 l2=1e-3``,
    ``fig9 blur_every=2``, ``adversarial quail→stingray pgd eps=8``; never a path.

    The prefix is the report figure when the run belongs to one, else the technique; then the
    subject (the sample, or the target); then, with their short keys, the values the sweep varies
    (in a multirun) or the overridden ones (a single job), paths and bookkeeping left out. The
    model is named only when it is what varies (it has its own column in the runs table).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from netviz.sweep import swept_in_this_sweep

    figure = (cfg.tracking.get("tags") or {}).get("figure")
    parts = [str(figure or cfg.technique)]
    if subject is None:
        target = resolved_config(cfg).get("target")
        if target is not None and not figure:
            subject = ", ".join(map(str, target)) if isinstance(target, list) else str(target)
    if subject:
        parts.append(subject)
    swept = swept_in_this_sweep() if swept is None else {k.strip() for k in swept.split(",") if k.strip()}
    try:
        parsed = OverridesParser.create().parse_overrides([o for o in overrides if "=" in o])
    except Exception:  # noqa: BLE001 - a name is never worth failing a job for
        parsed = []
    for override in parsed:
        key = override.key_or_group.lstrip("+~")
        if swept is not None and key not in swept:
            continue
        if key.startswith(UNNAMED_KEYS) or key in ("technique", "target") or (key == "model" and swept is None):
            continue
        value = override.get_value_element_as_str()
        parts.append(value if key == "model" else f"{key.rsplit('.', 1)[-1]}={short_value(value)}")
    return " ".join(parts)


def _subject(result) -> str | None:
    """The run's one sample (``quail→stingray``), or ``3 samples``."""
    names = getattr(result, "sample_names", None) or []
    if len(names) == 1:
        return names[0]
    return f"{len(names)} samples" if names else None


# ----- the job ---------------------------------------------------------------------------------------


def run_job(cfg: DictConfig, overrides: Sequence[str] | None = None):
    """Run the job ``cfg`` describes and return the technique's :class:`~netviz.results.Result`.

    Raises :class:`NetvizError` on bad input (the run, if one was opened, is marked ``FAILED`` with
    the reason) and :class:`JobInterrupted` on SIGTERM/SIGINT (the run is marked ``KILLED``).
    """
    from netviz.techniques import prepare
    from netviz.tracking import Tracker, default_tracking_uri

    hydra_dir, sweep, overrides = _hydra_context(overrides)
    uri = cfg.tracking.uri or default_tracking_uri()
    if cfg.tracking.enabled:  # MLflow's import, on another core, overlaps the technique's (torch's)
        Tracker.prefetch(uri, shared=sweep is not None)
    try:
        job = prepare(cfg)  # every value checked before a run is opened or a model loaded
        check_before_work(cfg)
        from netviz.data import check_data

        check_data(**OmegaConf.to_container(cfg.data, resolve=True))
        return _run_checked(cfg, job, uri, hydra_dir, sweep, overrides)
    finally:
        # The worker prefetch started, if no run took it (the job was refused or stopped first): it
        # has touched no store, and it would hold the command's output pipes while it imports.
        Tracker.drop_spare_worker()


def _run_checked(cfg: DictConfig, job, uri: str, hydra_dir, sweep, overrides: Sequence[str]):
    """:func:`run_job` once every value is checked: the run opened, the result computed and recorded."""
    from netviz.tracking import Tracker, git_commit

    tracker = None
    with signals_end_the_job():
        try:
            if cfg.tracking.enabled:
                tags = {
                    "technique": cfg.technique,
                    "model": cfg.model.name,
                    "target": None if cfg.target is None else json.dumps(resolved_config(cfg)["target"], ensure_ascii=False),
                    "git_commit": git_commit(),
                    "config_hash": config_hash(cfg),
                    "overrides": " ".join(overrides),
                    **{k: v for k, v in (sweep or {}).items() if k != "parent_run_id"},
                    **cfg.tracking.tags,
                }
                tracker = Tracker(
                    uri,
                    experiment=cfg.tracking.experiment or cfg.technique,
                    run_name=cfg.tracking.run_name or run_name(cfg, overrides),
                    tags=tags,
                    params=job_params(cfg, overrides),
                    parent_run_id=(sweep or {}).get("parent_run_id"),
                    share_worker=sweep is not None,
                    skip_if_finished=tags["config_hash"] if cfg.get("resume") else None,
                ).start()
                if cfg.get("resume"):
                    tracker.wait()
                    if tracker.skipped:
                        print(f"netviz: skipped: run {tracker.skipped} already FINISHED with this config (resume=true)", file=sys.stderr)
                        tracker.finish()
                        return None
            result = _compute(cfg, job, tracker)
            figure = None
            if cfg.figure:
                from netviz.figures import save_figure

                figure = save_figure(result.figure(), cfg.figure)
                log.info("figure written to %s", figure)
            if tracker is not None:
                files = {"hydra": hydra_dir} if hydra_dir is not None else {}
                name = None if cfg.tracking.run_name else run_name(cfg, overrides, _subject(result), tracker.swept_keys)
                tracker.log_result(result, files, figure=figure, config=None if hydra_dir else resolved_config(cfg), run_name=name)
                tracker.finish("FINISHED")
                print(f"netviz: {cfg.technique} run logged to {uri}: {tracker.link()}", file=sys.stderr)
            return result
        except JobInterrupted as interrupted:
            if tracker is not None:
                with contextlib.suppress(Exception):
                    tracker.finish("KILLED", f"interrupted by {interrupted}")
                tracker.abandon()
            raise
        except BaseException as error:
            if tracker is not None:
                reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                try:
                    tracker.finish("FAILED", reason)
                except BaseException:  # noqa: BLE001 - the worker marks it FAILED when its input ends
                    tracker.abandon()
            raise


_previous_model: tuple[tuple, object] | None = None  # the last job's (key, classifier) in this process


def sweep_model(name: str, weights, score: str, load):
    """The job's classifier: the previous job's when a sweep's next job asks for the same one (same
    name, weights file unchanged, score) and it is as loaded (frozen, in eval mode, no hook left), else
    ``load(name, weights, score)``. Random weights (``weights=null``) are drawn per job, never reused."""
    global _previous_model
    stamp = None
    if weights is not None and os.path.exists(str(weights)):
        info = os.stat(str(weights))
        stamp = (info.st_mtime_ns, info.st_size)
    key = (name, None if weights is None else str(weights), score, stamp)
    if weights is not None and _previous_model is not None and _previous_model[0] == key and _as_loaded(_previous_model[1]):
        return _previous_model[1]
    classifier = load(name, weights, score)
    _previous_model = (key, classifier)
    return classifier


def _as_loaded(classifier) -> bool:
    modules = list(classifier.modules())
    return not any(p.requires_grad for p in classifier.parameters()) and not any(
        m.training or m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks for m in modules
    )


def _compute(cfg: DictConfig, job, tracker):
    """Model, images (when the technique reads them) and the technique's result (the heavy imports
    come after the tracker's worker has started, so that they overlap)."""
    from lightning.pytorch import seed_everything

    from netviz.data import load_images
    from netviz.models import load_model

    seed_everything(cfg.seed, verbose=False)
    classifier = sweep_model(cfg.model.name, cfg.model.weights, cfg.model.score, load_model)
    collector.resume()  # start-up is over: the loop runs with the collector (netviz.collector)
    images = None
    if job.uses_images():
        data = {k: v for k, v in OmegaConf.to_container(cfg.data, resolve=True).items()}
        images = load_images(
            data.pop("source"),
            data.pop("path", None),
            size=classifier.input_size,
            class_index=classifier.class_index,
            **_supported(load_images, data, classifier),
        )
    accelerator, devices = job_device(cfg)
    trainer = {"accelerator": accelerator, "devices": devices, "progress": cfg.trainer.progress}
    live = tracker.live() if tracker is not None else contextlib.nullcontext()
    with live:
        return job.run(classifier, images, trainer)


def job_device(cfg: DictConfig) -> tuple[str, object]:
    """``(accelerator, devices)`` for this job's loop: on a machine with several GPUs, the jobs of a
    sweep are spread one per GPU (``trainer.device_index``, else the job number modulo the GPUs);
    under a launcher that gives each job its own GPU (Ray, SLURM: ``CUDA_VISIBLE_DEVICES`` shows
    one), that one is the job's."""
    accelerator, devices = str(cfg.trainer.accelerator), cfg.trainer.devices
    if accelerator == "cpu":
        return accelerator, devices
    import torch

    count = torch.cuda.device_count()
    if count <= 1:
        return accelerator, devices
    index = cfg.trainer.get("device_index")
    if index is None:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if not (HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN):
            return accelerator, devices
        index = int(HydraConfig.get().job.num) % count
    if not 0 <= int(index) < count:
        raise NetvizError(f"trainer.device_index={index}: this machine has GPUs 0..{count - 1}")
    return "gpu", [int(index)]


def _supported(function, options: Mapping, classifier) -> dict:
    """The ``data.*`` options (and the model's class names) that ``load_images`` takes."""
    import inspect

    accepted = inspect.signature(function).parameters
    chosen = {k: v for k, v in options.items() if k in accepted}
    if "indices" in chosen and chosen["indices"] is not None:
        chosen["indices"] = list(chosen["indices"])
    if "categories" in accepted:
        chosen["categories"] = classifier.categories
    return chosen


def _hydra_context(overrides: Sequence[str] | None) -> tuple[Path | None, dict | None, list[str]]:
    """``(folder of the job's .hydra files, sweep tags, overrides)`` when run by Hydra."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None, None, list(overrides or [])
    hydra = HydraConfig.get()
    output = Path(hydra.runtime.output_dir)
    sweep = None
    if hydra.mode == RunMode.MULTIRUN:
        from netviz.sweep import parent_run_id

        sweep = {"sweep_id": str(hydra.sweep.dir), "job_num": str(hydra.job.num), "parent_run_id": parent_run_id(hydra.sweep.dir)}
    return output / hydra.output_subdir if hydra.output_subdir else None, sweep, list(hydra.overrides.task)
