"""Reading runs back from MLflow: find them by tags, group one multirun, see what it varied, fetch images.

A report figure is one multirun: every job carries the tags ``figure=<name>`` (from its experiment
config) and ``sweep_id`` (the multirun's folder), so a figure can be rebuilt from the store without
running anything again (:mod:`netviz.compose`).
"""

from __future__ import annotations

import os

from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from netviz.errors import NetvizError

# Params that say where and how a run was recorded, not what it computed.
BOOKKEEPING_PREFIXES = ("tracking.", "trainer.", "hydra.", "figure", "debug")


PARENT_TAG = "mlflow.parentRunId"  # MLflow's link from a child run to its parent (a multirun's parent run)
JOB_NUM_TAG = "job_num"  # Hydra's job number within its multirun: the sweep's order


@dataclass(frozen=True)
class RunRecord:
    """One run as MLflow stores it.

    Attributes:
        run_id, run_name: MLflow's identifiers.
        params: the job's flattened config, ``{"lr": "5.0", "classviz.blur_every": "10", ...}``.
        tags: the run's tags (``figure``, ``sweep_id``, ``job_num``, ``technique``, ``model``, ...).
        start_time: milliseconds since the epoch.
        metrics: the run's final metrics, ``{"final_probability/Yorkshire terrier": 0.89, ...}``.
        status: ``FINISHED``, ``FAILED``, ``RUNNING``, ``KILLED`` or ``SCHEDULED``.
        artifact_uri: where its artifacts are (``file:///...`` for a SQLite store's, read in place).
    """

    run_id: str
    run_name: str
    params: dict[str, str]
    tags: dict[str, str]
    start_time: int
    metrics: dict[str, float] = field(default_factory=dict)
    status: str = "FINISHED"
    artifact_uri: str = ""


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def search_runs(uri: str, tags: Mapping[str, str], finished_only: bool = True) -> list[RunRecord]:
    """Every run (finished ones only, by default) in any active experiment of the store at ``uri``
    carrying all of ``tags``, in sweep order (:func:`in_sweep_order`)."""
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(uri)
    experiment_ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
    if not experiment_ids:
        return []
    clauses = [f"tags.`{key}` = {_quote(str(value))}" for key, value in tags.items()]
    if finished_only:
        clauses.append("attributes.status = 'FINISHED'")
    runs = client.search_runs(experiment_ids, filter_string=" and ".join(clauses), max_results=5000)
    records = [
        RunRecord(
            run.info.run_id,
            run.info.run_name,
            dict(run.data.params),
            dict(run.data.tags),
            run.info.start_time,
            dict(run.data.metrics),
            run.info.status,
            run.info.artifact_uri,
        )
        for run in runs
    ]
    return in_sweep_order(records)


def find_runs(uri: str, tags: Mapping[str, str]) -> list[RunRecord]:
    """Every finished run, in any experiment of the store at ``uri``, carrying all of ``tags``; oldest first."""
    return sorted(search_runs(uri, tags), key=lambda r: (r.start_time, r.run_id))


def find_children(uri: str, parent_run_id: str) -> list[RunRecord]:
    """The child runs of a multirun's parent run, in sweep order, whatever their status: a failed or
    still running job is part of the sweep too."""
    return search_runs(uri, {PARENT_TAG: parent_run_id}, finished_only=False)


def in_sweep_order(runs: Sequence[RunRecord]) -> list[RunRecord]:
    """``runs`` in the order their multirun launched them: by Hydra's job number (tag ``job_num``)
    when every run has one, else by start time (parallel jobs may start out of order)."""
    if runs and all(r.tags.get(JOB_NUM_TAG, "").isdigit() for r in runs):
        return sorted(runs, key=lambda r: (int(r.tags[JOB_NUM_TAG]), r.start_time, r.run_id))
    return sorted(runs, key=lambda r: (r.start_time, r.run_id))


def latest_sweep(runs: Sequence[RunRecord]) -> list[RunRecord]:
    """The runs of the newest multirun among ``runs`` (those sharing the newest run's ``sweep_id``), in sweep order.

    A run without a ``sweep_id`` (a single job) stands alone.
    """
    if not runs:
        return []
    newest = max(runs, key=lambda r: (r.start_time, r.run_id))
    sweep = newest.tags.get("sweep_id")
    if sweep is None:
        return [newest]
    return in_sweep_order([r for r in runs if r.tags.get("sweep_id") == sweep])


def varied_params(runs: Sequence[RunRecord]) -> list[str]:
    """The params that differ between ``runs`` (bookkeeping left out), slowest-changing first.

    Hydra's basic sweeper runs the product of the swept values with the first key changing slowest,
    so counting the changes between consecutive runs recovers the order of the sweep's axes.
    """
    keys = sorted({key for run in runs for key in run.params})
    varied = [
        key
        for key in keys
        if not key.startswith(BOOKKEEPING_PREFIXES) and len({run.params.get(key) for run in runs}) > 1
    ]

    def changes(key: str) -> int:
        return sum(a.params.get(key) != b.params.get(key) for a, b in zip(runs, runs[1:]))

    return sorted(varied, key=lambda key: (changes(key), keys.index(key)))


def artifact_folder(run: RunRecord) -> Path | None:
    """The folder holding ``run``'s artifacts when it is on this machine (a SQLite store's
    ``file://`` location), read in place; ``None`` for a server's (downloaded instead)."""
    from urllib.parse import unquote, urlparse

    location = urlparse(run.artifact_uri)
    return Path(unquote(location.path)) if location.scheme == "file" else None


@contextmanager
def artifact_path(uri: str, run: RunRecord, path: str):
    """A local path of ``run``'s artifact ``path`` (a file or a folder) for the block: in place for
    a local store, else downloaded to a temporary folder removed afterwards. Raises what MLflow
    raises for an artifact it does not have (a local one that is missing: ``FileNotFoundError``)."""
    folder = artifact_folder(run)
    if folder is not None:
        local = folder / path
        if not local.exists():
            raise FileNotFoundError(local)
        yield local
        return
    import tempfile

    from mlflow import MlflowClient

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per run is noise here
    with tempfile.TemporaryDirectory(prefix="netviz-runs-") as tmp:
        yield Path(MlflowClient(uri).download_artifacts(run.run_id, path, tmp))


def download_images(uri: str, run: RunRecord, folder: str = "panels") -> dict[str, np.ndarray]:
    """The PNG images a run stored under ``folder`` (netviz's per-sample panels), ``{file stem: uint8 RGB}``."""
    from PIL import Image

    try:
        with artifact_path(uri, run, folder) as local:
            return {path.stem: np.asarray(Image.open(path).convert("RGB")) for path in sorted(local.glob("*.png"))}
    except Exception as exc:  # noqa: BLE001 - any missing or unreadable artifact is the same problem
        raise NetvizError(f"run {run.run_id} has no {folder}/ artifacts to read ({type(exc).__name__})") from exc


def read_results(uri: str, run: RunRecord) -> list[dict]:
    """The rows of a run's ``results.json`` (one per sample, with its name), or ``[]`` if it has none."""
    import json

    try:
        with artifact_path(uri, run, "results.json") as local:
            rows = json.loads(local.read_text())
    except Exception:  # noqa: BLE001 - no results.json (or an unreadable one): the panels' file names will do
        return []
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []
