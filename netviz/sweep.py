"""A sweep is one thing in MLflow: a parent run per multirun, with every job a child.

:class:`SweepCallback` is a Hydra callback (``conf/config.yaml``, ``hydra.callbacks``). When a
multirun starts it opens (and creates or migrates) the store once, before any job, so parallel jobs
never race on a fresh SQLite store; it creates the parent run (``RUNNING`` while the jobs run) with
the sweep's command line and swept keys, and hands its id to the jobs (environment, and a file in
the sweep folder for launchers on other machines). When the multirun ends, the parent gets the
summary: the grid of the children's final images (rows and columns from the swept values, as
:mod:`netviz.compose` lays them out) and a table of their key metrics (``summary.csv`` and an MLflow
table, ``summary.json``); a report figure's multirun also leaves its figure there. A sweep of
evaluated saliency runs (``saliency.evaluate=[...]``) also gets the figures comparing its methods
under ``summary/`` (:mod:`netviz.evaluation.sweep_figures`). A sweep with a
failed job still gets its summary, the parent ends ``FAILED``, and the command exits 1 with a
one-line account.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import logging
import os
import shlex
import socket
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from netviz.mlflow_worker import FAILURE_TAG, HOST_TAG, PID_TAG

log = logging.getLogger("netviz")
PARENT_FILE = ".netviz_parent_run"
PARENT_ENV = "NETVIZ_PARENT_RUN_ID"
SWEPT_ENV = "NETVIZ_SWEPT_KEYS"
SUMMARY_FOLDER = "summary"  # the parent's artifact folder for a sweep's own figures (beside grid.png)
_UID = uuid.uuid4().hex[:6]


def register_resolvers() -> None:
    """``${netviz_uid:}``: six hex digits fixed for this process, so that two jobs started in the same
    second never share an output folder (nor overwrite each other's ``.hydra`` files)."""
    if not OmegaConf.has_resolver("netviz_uid"):
        OmegaConf.register_new_resolver("netviz_uid", lambda: _UID)


register_resolvers()


def parent_run_id(sweep_dir: str | os.PathLike) -> str | None:
    """The parent run of the multirun in ``sweep_dir``: from the environment, else from its file."""
    found = os.environ.get(PARENT_ENV)
    if found:
        return found
    path = Path(sweep_dir) / PARENT_FILE
    return path.read_text().strip() if path.is_file() else None


def swept_in_this_sweep() -> set[str] | None:
    """The keys the running multirun varies (set by :class:`SweepCallback`), or ``None`` outside one."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not (HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN):
        return None
    keys = os.environ.get(SWEPT_ENV)
    return None if keys is None else {k for k in keys.split(",") if k}


def swept_keys(config: DictConfig) -> dict[str, list[str]]:
    """``{key: [values]}`` of the sweep: the command line's sweeps and the experiment's ``hydra.sweeper.params``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    texts = list(config.hydra.overrides.task)
    params = config.hydra.get("sweeper", {}).get("params") or {}
    texts += [f"{key}={value}" for key, value in params.items()]
    swept: dict[str, list[str]] = {}
    for override in OverridesParser.create().parse_overrides(texts):
        if override.is_sweep_override():
            swept[override.get_key_element()] = [str(v) for v in override.sweep_string_iterator()]
    return swept


class SweepCallback(Callback):
    """The parent run of a multirun (see the module)."""

    def __init__(self) -> None:
        self.parent: str | None = None
        self.uri: str | None = None
        self._ended = False

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.tracking.enabled:
            return
        from netviz.mlflow_worker import open_experiment, quiet_mlflow
        from netviz.naming import file_name
        from netviz.tracking import absolute_uri, check_store, default_tracking_uri, sqlite_path

        self.uri = absolute_uri(config.tracking.uri or default_tracking_uri())
        check_store(self.uri)
        experiment = config.tracking.experiment or config.technique
        database = sqlite_path(self.uri)
        location = None if database is None else (database.parent / "mlartifacts" / file_name(experiment)).as_uri()
        quiet_mlflow()
        client, experiment_id = open_experiment(self.uri, experiment, location, None if database is None else str(database))
        swept = swept_keys(config)
        jobs = 1
        for values in swept.values():
            jobs *= len(values)
        figure = (config.tracking.get("tags") or {}).get("figure")
        label = figure or config.technique
        name = f"{label} sweep {'×'.join(k.rsplit('.', 1)[-1] for k in swept) or ''} ({jobs} jobs)".replace("  ", " ")
        sweep_dir = str(config.hydra.sweep.dir)
        tags = {
            "netviz.sweep": "parent",
            "sweep_id": sweep_dir,
            "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "swept_keys": ", ".join(swept),
            "jobs": str(jobs),
            "technique": str(config.technique),
            PID_TAG: str(os.getpid()),
            HOST_TAG: socket.gethostname(),
            **({"figure": figure} if figure else {}),
        }
        run = client.create_run(experiment_id, run_name=name, tags=tags)
        self.parent = run.info.run_id
        atexit.register(self._abandoned, client)
        self.experiment_id = experiment_id
        for key, values in swept.items():
            client.log_param(self.parent, f"sweep.{key}", ",".join(values)[:6000])
        os.environ[PARENT_ENV] = self.parent
        os.environ[SWEPT_ENV] = ",".join(swept)
        Path(sweep_dir).mkdir(parents=True, exist_ok=True)
        (Path(sweep_dir) / PARENT_FILE).write_text(self.parent)

    def _abandoned(self, client) -> None:
        """At exit, a parent whose sweep never reached its end (a launcher's error, a signal) is FAILED."""
        if self.parent is not None and not self._ended:
            with contextlib.suppress(Exception):
                client.set_tag(self.parent, FAILURE_TAG, "the sweep ended before all its jobs had run")
                client.set_terminated(self.parent, status="FAILED")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._ended = True
        from netviz.cli import FAILURE_FILE

        sweep_dir = Path(str(config.hydra.sweep.dir))
        failures = sorted(p.read_text().strip() for p in sweep_dir.glob(f"*/{FAILURE_FILE}"))
        if self.parent is not None:
            os.environ.pop(PARENT_ENV, None)
            os.environ.pop(SWEPT_ENV, None)
            self._summarize(config, failed=bool(failures))
        if failures:
            jobs = len(list(sweep_dir.glob("*/.hydra"))) or len(failures)
            print(f"netviz: error: {len(failures)} of {jobs} jobs failed: {'; '.join(failures)}", file=sys.stderr)
            sys.exit(1)

    def _summarize(self, config: DictConfig, failed: bool) -> None:
        from mlflow import MlflowClient

        from netviz.tracking import run_link

        client = MlflowClient(self.uri)
        status = "FAILED" if failed else "FINISHED"
        written: dict[str, Path] = {}
        try:
            with tempfile.TemporaryDirectory(prefix="netviz-sweep-") as tmp:
                written = write_summary(self.uri, self.parent, Path(tmp), title=_caption(config))
                for path in written.values():
                    folder = path.parent.relative_to(tmp).as_posix()
                    client.log_artifact(self.parent, str(path), None if folder == "." else folder)
                table = written.get("table")
                if table is not None:
                    rows = list(csv.DictReader(table.open()))
                    if rows:
                        client.log_table(self.parent, data={k: [r[k] for r in rows] for k in rows[0]}, artifact_file="summary.json")
        except Exception as exc:  # noqa: BLE001 - the parent must never look finished without its summary
            status = "FAILED"
            with contextlib.suppress(Exception):
                client.set_tag(self.parent, "netviz.failure", f"summary could not be written: {exc}".splitlines()[0])
            print(f"netviz: error: the sweep's summary could not be written to {self.uri}: {exc}".splitlines()[0], file=sys.stderr)
        client.set_terminated(self.parent, status=status)
        print(f"netviz: sweep logged to {self.uri}: {run_link(self.experiment_id, self.parent)}", file=sys.stderr)
        figures = [f"{SUMMARY_FOLDER}/{path.name}" for path in written.values() if path.parent.name == SUMMARY_FOLDER]
        if figures:
            where = client.get_run(self.parent).info.artifact_uri.removeprefix("file://")
            print(f"netviz: sweep figures in {where}: {', '.join(figures)}", file=sys.stderr)


def _caption(config: DictConfig) -> str | None:
    figure = (config.tracking.get("tags") or {}).get("figure")
    return None if figure is None else str(figure)


def write_summary(uri: str, parent: str, folder: Path, title: str | None = None) -> dict[str, Path]:
    """The parent's summary files in ``folder``: ``grid.png`` (the children's final images laid out
    by the swept values) and ``summary.csv`` (a row per child: name, status, swept values, key
    metrics); for evaluated saliency children also the methods' comparison figures in
    ``folder/summary/`` (``deletion.png``, ``insertion.png``, ``randomization_curve.png``,
    ``randomization.png``, ``fragility.png``: :mod:`netviz.evaluation.sweep_figures`). Returns
    ``{"grid": path, "table": path, "deletion": path, ...}`` for what could be drawn."""
    from netviz.compose import find_children, metrics_table, sweep_figure
    from netviz.figures import save_figure

    children = find_children(uri, parent)
    written: dict[str, Path] = {}
    rows = metrics_table(children)
    if rows:
        columns: list[str] = []
        for row in rows:
            columns += [k for k in row if k not in columns]
        path = folder / "summary.csv"
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        written["table"] = path
    figure = sweep_figure(uri, children, title=title)
    if figure is not None:
        written["grid"] = save_figure(figure, folder / "grid.png")
    if any(run.tags.get("technique") == "saliency" for run in children):  # the import loads the evaluation (torch)
        from netviz.evaluation.sweep_figures import write_evaluation_figures

        written.update(write_evaluation_figures(uri, children, folder / SUMMARY_FOLDER))
    return written
