"""MLflow tracking: one run per job, with its config, tags, metrics, images and Hydra files.

The store is opened in a background thread as soon as the job starts (importing MLflow and opening
or migrating a SQLite store takes seconds), so that it overlaps the model's work instead of adding to
it. Everything a result holds is written at the end in a few batched calls: per-step logging through
SQLite costs about 10 ms a call.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from netviz.errors import NetvizError
from netviz.results import Result, safe_name

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAX_PARAM_LENGTH = 6000


def default_tracking_uri() -> str:
    """``sqlite:///<project root>/mlflow.db``: MLflow 3's own default store, which ``mlflow ui`` finds."""
    return f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else ``None``."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    return Path(unquote(urlparse(uri).path[1:] if uri.startswith(prefix + "/") else uri[len(prefix) :]))


def check_writable(uri: str) -> None:
    """Fail fast, before any work, if a SQLite store cannot be created or written."""
    path = sqlite_path(uri)
    if path is None:
        return
    folder = path.parent
    if not folder.is_dir():
        raise NetvizError(f"tracking store folder {folder} does not exist; create it or set tracking.uri=sqlite:///<path>")
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK):
        raise NetvizError(f"tracking store {path} is not writable; fix its permissions or set tracking.uri=sqlite:///<path>")


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config as ``{"a.b.c": "value"}``, values as MLflow params (strings, truncated)."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat


def git_commit() -> str | None:
    """The project's git commit, with ``-dirty`` if the tree has changes; ``None`` outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


@contextlib.contextmanager
def _store_lock(uri: str):
    """Serialize store creation: parallel jobs on a fresh SQLite store race on its schema migration."""
    path = sqlite_path(uri)
    if path is None:
        yield
        return
    import fcntl

    with open(f"{path}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Tracker:
    """One MLflow run: opened in the background by :meth:`start`, filled by :meth:`log_result`.

    Args:
        uri: the tracking URI (``sqlite:///path/mlflow.db``, ``http://host:5000``, ...).
        experiment: the experiment's name (netviz uses one per technique).
        run_name: the run's name (netviz derives it from the job's overrides).
        tags: run tags.
        params: run params (a flat mapping; see :func:`flatten`).

    Use it as a context manager: a run left by an exception is marked ``FAILED``, never ``FINISHED``.
    """

    def __init__(
        self,
        uri: str,
        experiment: str,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> None:
        self.uri = uri
        self.experiment = experiment
        self.run_name = run_name
        self.tags = {k: str(v) for k, v in (tags or {}).items() if v is not None}
        self.params = dict(params or {})
        self.client = None
        self.run_id: str | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "Tracker":
        """Check the store, then open it and create the run in a background thread."""
        check_writable(self.uri)
        self._thread = threading.Thread(target=self._open, name="netviz-mlflow", daemon=True)
        self._thread.start()
        return self

    def _open(self) -> None:
        try:
            from mlflow import MlflowClient

            with _store_lock(self.uri):
                client = MlflowClient(self.uri)
                experiment = client.get_experiment_by_name(self.experiment)
                if experiment is None:
                    experiment_id = client.create_experiment(self.experiment, artifact_location=self._artifact_location())
                else:
                    experiment_id = experiment.experiment_id
            run = client.create_run(experiment_id, run_name=self.run_name, tags=self.tags)
            self.client, self.run_id = client, run.info.run_id
            from mlflow.entities import Param

            params = [Param(k, v) for k, v in self.params.items()]
            for i in range(0, len(params), 100):
                client.log_batch(self.run_id, params=params[i : i + 100])
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread by wait()
            self._error = exc

    def _artifact_location(self) -> str | None:
        path = sqlite_path(self.uri)
        if path is None:
            return None
        return (path.parent / "mlartifacts" / safe_name(self.experiment)).as_uri()

    def wait(self) -> None:
        """Block until the run exists; raise a one-line error if the store could not be used."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise NetvizError(f"cannot use the tracking store {self.uri}: {message}") from error

    def log_result(self, result: Result, files: Mapping[str, Path] | None = None) -> None:
        """Write a result: metrics, step metrics, per-sample panels, the figure, and extra files.

        Args:
            result: the technique's result.
            files: extra files or folders to store, ``{artifact folder: path}`` (the Hydra config).
        """
        from mlflow.entities import Metric
        from PIL import Image

        self.wait()
        import time

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, 0) for k, v in result.metrics().items()]
        for name, points in result.history.items():
            for step, values in points:
                for sample, value in zip(result.sample_names, values.tolist()):
                    metrics.append(Metric(f"{name}/{safe_name(sample)}", float(value), now, int(step)))
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(self.run_id, metrics=metrics[i : i + 1000])
        for key, series in result.image_series().items():
            for step, image in series:
                self.client.log_image(self.run_id, image, key=safe_name(key), step=int(step))
        with tempfile.TemporaryDirectory(prefix="netviz-") as tmp:
            folder = Path(tmp)
            (folder / "panels").mkdir()
            for name, image in result.panels().items():
                Image.fromarray(image).save(folder / "panels" / f"{name}.png")
            result.figure().savefig(folder / "figure.png", dpi=120)
            rows = result.rows()
            if rows:
                (folder / "results.json").write_text(json.dumps(rows, indent=1, default=float))
            self.client.log_artifacts(self.run_id, str(folder))
        for artifact_path, path in (files or {}).items():
            if Path(path).is_dir():
                self.client.log_artifacts(self.run_id, str(path), artifact_path)
            elif Path(path).is_file():
                self.client.log_artifact(self.run_id, str(path), artifact_path)

    def finish(self, status: str = "FINISHED") -> None:
        """End the run as ``FINISHED`` or ``FAILED`` (no-op if the store never opened)."""
        with contextlib.suppress(NetvizError):
            self.wait()
        if self.client is not None and self.run_id is not None:
            self.client.set_terminated(self.run_id, status=status)

    def __enter__(self) -> "Tracker":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish("FAILED" if exc_type is not None else "FINISHED")
