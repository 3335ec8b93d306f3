"""The command line: parse argv, check what the user typed, run Hydra, and exit with an honest status.

``python run.py [overrides]`` and ``netviz run [overrides]`` are the same program; ``netviz compose
figN`` and ``netviz transfer`` read runs back from MLflow. Bad input ends in one line, ``netviz:
error: ...``, and exit status 2; SIGINT and SIGTERM end a job with 130 and 143; a sweep runs every
job, records each failure, and exits 1 with a one-line summary if any failed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from netviz import collector
from netviz.errors import NetvizError
from netviz.sweep import register_resolvers

# A launcher's worker process imports this module to run `hydra_job`: the resolvers that the job's
# config uses (``${netviz_uid:}``) must exist there too.
register_resolvers()

log = logging.getLogger("netviz")
EXIT_BAD_INPUT = 2
EXIT_JOBS_FAILED = 1
FAILURE_FILE = "netviz_failed.json"  # left in a failed job's output folder, read by the sweep's summary
USAGE = "usage: netviz run [key=value ...] | netviz compose FIGURE [...] | netviz transfer [...]"


def fail(message: str, status: int = EXIT_BAD_INPUT) -> None:
    """Print a one-line error and exit."""
    print(f"netviz: error: {message}", file=sys.stderr)
    sys.exit(status)


def check_command_line(argv: Sequence[str]) -> None:
    """Check config-group choices and values in ``argv`` before Hydra composes anything, register
    the torchvision models it names, and answer ``--list-models``. Exits with one line on bad input."""
    if "--list-models" in argv:
        from netviz.models import available_models

        print("\n".join(available_models()))
        sys.exit(0)
    if "--list-layers" in argv:
        list_layers_and_exit(argv)
    stray = [a for a in argv if not a.startswith("-") and "=" not in a and not _is_flag_value(argv, a)]
    if stray:
        before = argv[argv.index(stray[0]) - 1] if argv.index(stray[0]) > 0 else ""
        hint = f'; a value with spaces needs quotes: "{before} {stray[0]}"' if "=" in before else ""
        fail(f"{stray[0]!r} is not a key=value override{hint}")
    from netviz.composition import check_overrides, compose_every_value
    from netviz.config import register_configs

    try:
        register_configs(check_overrides(argv))
        compose_every_value(argv)
    except NetvizError as error:
        fail(str(error))


def list_layers_and_exit(argv: Sequence[str]) -> None:
    """``--list-layers model=NAME``: the model's layers with their output shapes (for featureviz objectives)."""
    models = [a.split("=", 1)[1] for a in argv if a.startswith("model=")]
    name = models[-1] if models else "squeezenet1_1"
    try:
        from netviz.techniques.featureviz import list_layers

        print(list_layers(name))
    except NetvizError as error:
        fail(str(error))
    sys.exit(0)


def _is_flag_value(argv: Sequence[str], arg: str) -> bool:
    """Whether ``arg`` is the value of a Hydra flag that takes one (``--cfg job``, ``-cn name``)."""
    at = argv.index(arg)
    return at > 0 and argv[at - 1] in ("--cfg", "-c", "--config-name", "-cn", "--config-path", "-cp", "--package", "-p", "--info", "-i", "--config-dir", "-cd", "--experimental-rerun")


def hydra_job(cfg) -> None:
    """The body Hydra runs for each job: one job, and an honest ending.

    A single run exits 2 with one line on bad input. In a multirun a failed job prints its line,
    leaves its run ``FAILED`` and a note in its output folder, and the sweep goes on; the sweep's
    callback (:mod:`netviz.sweep`) summarizes and sets the exit status.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from netviz.allocator import keep_freed_memory
    from netviz.job import JobInterrupted, run_job

    keep_freed_memory()  # a process that runs jobs (the command, a launcher's worker): steps reuse memory
    collector.pause_during_start_up()  # a launcher's worker at its first job (the command paused already)
    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    if multirun:  # a sweep run again into the same folder counts only this run's failures
        (Path(HydraConfig.get().runtime.output_dir) / FAILURE_FILE).unlink(missing_ok=True)
    try:
        run_job(cfg)  # the collector resumes once it has the model (netviz.collector)
    except JobInterrupted as interrupted:
        print(f"netviz: error: interrupted by {interrupted}; the run is marked KILLED", file=sys.stderr)
        sys.exit(interrupted.exit_status)
    except NetvizError as error:
        if cfg.get("debug"):
            raise
        if not multirun:
            fail(str(error))
        _record_failure(str(error))
    except Exception as error:  # noqa: BLE001 - a sweep survives any one job's failure
        if not multirun or cfg.get("debug"):
            raise
        log.exception("job failed")
        _record_failure(f"{type(error).__name__}: {error}".splitlines()[0])
    finally:
        collector.resume()  # a job that ended before its model was loaded


def _record_failure(message: str) -> None:
    """Say that this job of a sweep failed, and leave the note its sweep's end reads (:data:`FAILURE_FILE`)."""
    import json

    from hydra.core.hydra_config import HydraConfig

    from netviz.sweep import job_failure

    hydra = HydraConfig.get()
    failure = {"job": int(hydra.job.num), "overrides": " ".join(hydra.overrides.task), "error": message}
    print(f"netviz: error: {job_failure(failure)}", file=sys.stderr)
    folder = Path(hydra.runtime.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FAILURE_FILE).write_text(json.dumps(failure, ensure_ascii=False) + "\n")


def run_hydra(argv: Sequence[str]) -> None:
    """``python run.py``/``netviz run``: check ``argv``, then let Hydra run the job(s)."""
    import hydra

    from netviz.config import CONF_DIR

    collector.skip_final_collection()
    collector.pause_during_start_up()
    check_command_line(argv)
    main = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(hydra_job)
    sys.argv = [sys.argv[0], *argv]
    main()


def main(argv: Sequence[str] | None = None) -> None:
    """The ``netviz`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        sys.exit(0 if args else EXIT_BAD_INPUT)
    command, rest = args[0], args[1:]
    if command == "run":
        run_hydra(rest)
    elif command == "compose":
        from netviz.compose import main as compose_main

        sys.exit(compose_main(rest))
    elif command == "transfer":
        from netviz.transfer import main as transfer_main

        sys.exit(transfer_main(rest))
    else:
        fail(f"unknown command {command!r}; {USAGE}")
