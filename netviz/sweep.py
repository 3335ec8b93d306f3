"""A sweep is one thing in MLflow: a parent run per multirun, with every job a child.

:class:`SweepCallback` is a Hydra callback (``conf/config.yaml``, ``hydra.callbacks``). When a
multirun starts, the store is opened (created or migrated) once, before any job opens a run, so
parallel jobs never race on a fresh SQLite store, and the parent run is created (``RUNNING`` while
the jobs run) with the sweep's command line and swept keys: by this process's shared tracking worker,
on another core, when the jobs run in this process (the basic and batched launchers), else here
before any job starts, its id handed to the jobs (environment, and a file in the sweep folder for
launchers on other machines). When the multirun ends, the parent gets its summary (from that same
worker when it made the parent: it has written every job's run, and MLflow is imported there): the
grid of the children's final images (rows and columns from the swept values, as :mod:`netviz.compose`
lays them out) and a table of their key metrics (``summary.csv`` and an MLflow table,
``summary.json``); a report figure's multirun also leaves its figure there. A sweep of
evaluated saliency runs (``saliency.evaluate=[...]``) also gets the figures comparing its methods
under ``summary/`` (:mod:`netviz.evaluation.sweep_figures`). A sweep with a
failed job still gets its summary, the parent ends ``FAILED``, and the command exits 1 with a
one-line account.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import json
import logging
import os
import shlex
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
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


# Launchers whose jobs run in the sweep's own process: their parent run can be made by the process's
# shared tracking worker while the sweep starts, since every job's run is opened through that worker.
IN_PROCESS_LAUNCHERS = (
    "hydra._internal.core_plugins.basic_launcher.BasicLauncher",
    "hydra_plugins.netviz_batched_launcher.batched_launcher.BatchedLauncher",
)


class SweepCallback(Callback):
    """The parent run of a multirun (see the module).

    With a launcher whose jobs run in this process (the basic and batched launchers), the store's
    creation and the parent run are left to the process's shared tracking worker
    (:meth:`netviz.tracking.Tracker.create_sweep_parent`), which imports MLflow and makes them on
    another core while the sweep imports its technique and computes; the jobs' runs, opened through
    the same worker after it, are its children. Launchers that start jobs elsewhere (joblib,
    submitit, Ray) get the parent before any job starts, its id in their environment and in the
    sweep folder.
    """

    def __init__(self) -> None:
        self.parent: str | None = None
        self.uri: str | None = None
        self._ended = False
        self._made_by_worker = False
        self._parent_error: str | None = None
        self._sweep_dir: Path | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.tracking.enabled:
            return
        from netviz.errors import NetvizError
        from netviz.naming import file_name
        from netviz.tracking import absolute_uri, check_store, default_tracking_uri, sqlite_path

        self.uri = absolute_uri(config.tracking.uri or default_tracking_uri())
        try:
            check_store(self.uri)
        except NetvizError as error:  # before any job: one line, as a single job says it (Hydra would only warn)
            print(f"netviz: error: {error}", file=sys.stderr)
            sys.exit(2)
        experiment = config.tracking.experiment or config.technique
        database = sqlite_path(self.uri)
        location = None if database is None else (database.parent / "mlartifacts" / file_name(experiment)).as_uri()
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
        params = {f"sweep.{key}": ",".join(values)[:6000] for key, values in swept.items()}
        self._sweep_dir = Path(sweep_dir)
        self._sweep_dir.mkdir(parents=True, exist_ok=True)
        parent_file = self._sweep_dir / PARENT_FILE
        os.environ[SWEPT_ENV] = ",".join(swept)
        if config.hydra.launcher.get("_target_") in IN_PROCESS_LAUNCHERS:
            from netviz.tracking import Tracker

            for stale in (parent_file, _error_file(parent_file)):  # a resumed sweep's folder
                stale.unlink(missing_ok=True)
            Tracker.create_sweep_parent(self.uri, {
                "uri": self.uri, "experiment": experiment, "artifact_location": location,
                "database": None if database is None else str(database), "run_name": name, "tags": tags,
                "params": params, "parent_file": str(parent_file),
            })
            self._made_by_worker = True
            atexit.register(self._abandoned, None)
            return
        from netviz.mlflow_worker import open_experiment, quiet_mlflow

        quiet_mlflow()
        client, experiment_id = open_experiment(self.uri, experiment, location, None if database is None else str(database))
        run = client.create_run(experiment_id, run_name=name, tags=tags)
        self.parent = run.info.run_id
        atexit.register(self._abandoned, client)
        for key, value in params.items():
            client.log_param(self.parent, key, value)
        os.environ[PARENT_ENV] = self.parent
        parent_file.write_text(self.parent)

    def _worker_parent(self, timeout: float = 60.0) -> str | None:
        """The parent run the shared worker made (it is there once any job's run was opened; else
        waited for while the worker lives, at most ``timeout`` seconds), or ``None`` with the reason
        in ``_parent_error``."""
        from netviz.tracking import Tracker

        parent_file = self._sweep_dir / PARENT_FILE
        error_file = _error_file(parent_file)
        deadline = time.monotonic() + timeout
        while not parent_file.exists() and not error_file.exists() and time.monotonic() < deadline:
            worker = Tracker._shared_workers.get(self.uri)
            if worker is None or worker.poll() is not None:
                break
            time.sleep(0.05)
        if parent_file.exists():
            self.parent = parent_file.read_text().strip()
        else:
            self._parent_error = error_file.read_text().strip() if error_file.exists() else "the tracking worker ended before making it"
        return self.parent

    def _abandoned(self, client) -> None:
        """At exit, a parent whose sweep never reached its end (a launcher's error, a signal) is FAILED."""
        if self._ended:
            return
        with contextlib.suppress(Exception):
            if client is None:
                from mlflow import MlflowClient

                client = MlflowClient(self.uri) if self._worker_parent(timeout=30.0) else None
            if self.parent is not None and client is not None:
                client.set_tag(self.parent, FAILURE_TAG, "the sweep ended before all its jobs had run")
                client.set_terminated(self.parent, status="FAILED")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._ended = True
        from netviz.cli import FAILURE_FILE

        sweep_dir = Path(str(config.hydra.sweep.dir))
        failures = [json.loads(p.read_text()) for p in sweep_dir.glob(f"*/{FAILURE_FILE}")]
        if self._made_by_worker:
            self._worker_parent()
        if self.parent is not None:
            os.environ.pop(PARENT_ENV, None)
            os.environ.pop(SWEPT_ENV, None)
            self._summarize(config, failed=bool(failures))
        if failures:
            jobs = len(list(sweep_dir.glob("*/.hydra"))) or len(failures)
            print(f"netviz: error: {len(failures)} of {jobs} jobs failed: {failure_account(failures)}", file=sys.stderr)
            sys.exit(1)
        if self._parent_error is not None:
            print(f"netviz: error: the sweep's parent run could not be made in {self.uri}: {self._parent_error}", file=sys.stderr)
            sys.exit(1)

    def _summarize(self, config: DictConfig, failed: bool) -> None:
        """Write the parent's summary and end it: by the shared tracking worker when it made the
        parent (MLflow is imported there, and it has written every job's run before it reads them),
        else here."""
        from netviz.tracking import Tracker, run_link

        request = {"uri": self.uri, "parent": self.parent, "title": _caption(config), "failed": failed}
        ended = Tracker.finish_sweep_parent(self.uri, request) if self._made_by_worker else None
        if ended is None:
            from netviz.mlflow_worker import quiet_mlflow

            quiet_mlflow()
            ended = finish_sweep(**request)
        if ended["problem"]:
            print(f"netviz: error: {ended['problem']}", file=sys.stderr)
        print(f"netviz: sweep logged to {self.uri}: {run_link(ended['experiment_id'], self.parent)}", file=sys.stderr)
        if ended["figures"]:
            where = ended["artifact_uri"].removeprefix("file://")
            print(f"netviz: sweep figures in {where}: {', '.join(ended['figures'])}", file=sys.stderr)


def finish_sweep(uri: str, parent: str, title: str | None = None, failed: bool = False, client=None) -> dict:
    """Give the parent run ``parent`` its summary (:func:`write_summary`: files, and the metrics table
    as an MLflow table) and end it: ``FAILED`` when a job failed or the summary could not be written,
    never ``FINISHED`` without its summary. Run by the tracking worker that wrote the jobs' runs
    (``summarize`` in :mod:`netviz.mlflow_worker`), else by :class:`SweepCallback`.

    Returns ``{"status", "experiment_id", "artifact_uri", "figures": [artifact paths under
    summary/], "problem": one line or None}``.
    """
    if client is None:
        from mlflow import MlflowClient

        client = MlflowClient(uri)
    run = client.get_run(parent)
    status, problem = ("FAILED" if failed else "FINISHED"), None
    written: dict[str, Path] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="netviz-sweep-") as tmp:
            written = write_summary(uri, parent, Path(tmp), title=title)
            for path in written.values():
                folder = path.parent.relative_to(tmp).as_posix()
                client.log_artifact(parent, str(path), None if folder == "." else folder)
            table = written.get("table")
            if table is not None:
                rows = list(csv.DictReader(table.open()))
                if rows:
                    client.log_table(parent, data={k: [r[k] for r in rows] for k in rows[0]}, artifact_file="summary.json")
    except Exception as exc:  # noqa: BLE001 - the parent must never look finished without its summary
        status = "FAILED"
        problem = f"the sweep's summary could not be written to {uri}: {exc}".splitlines()[0]
        with contextlib.suppress(Exception):
            client.set_tag(parent, FAILURE_TAG, f"summary could not be written: {exc}".splitlines()[0])
    client.set_terminated(parent, status=status)
    figures = [f"{SUMMARY_FOLDER}/{path.name}" for path in written.values() if path.parent.name == SUMMARY_FOLDER]
    return {"status": status, "experiment_id": run.info.experiment_id, "artifact_uri": run.info.artifact_uri,
            "figures": figures, "problem": problem}


def job_failure(failure: Mapping[str, Any]) -> str:
    """One failed job's note ``{"job", "overrides", "error"}`` (:func:`netviz.cli.hydra_job`) as its line."""
    return f"job {failure['job']} ({failure['overrides']}): {failure['error']}"


def failure_account(failures: Sequence[Mapping[str, Any]]) -> str:
    """The failed jobs' notes in job order, each error said once: jobs that failed alike are named
    together (``jobs 0-8: <error>``), so that a sweep whose every job hit the same problem reads as
    one problem, not nine copies of it."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for failure in sorted(failures, key=lambda f: f["job"]):
        groups.setdefault(failure["error"], []).append(failure)
    return "; ".join(
        job_failure(alike[0]) if len(alike) == 1 else f"jobs {_number_ranges([f['job'] for f in alike])}: {error}"
        for error, alike in groups.items()
    )


def _number_ranges(numbers: Sequence[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` as ``0-2, 5, 7-8``."""
    ranges: list[list[int]] = []
    for number in numbers:
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def _error_file(parent_file: Path) -> Path:
    """Where the shared worker writes why it could not make the parent run."""
    return parent_file.with_name(parent_file.name + ".error")


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
