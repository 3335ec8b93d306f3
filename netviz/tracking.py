"""MLflow tracking: one run per job, with its config, tags, metrics, images and Hydra files.

Importing MLflow and opening (or migrating) a SQLite store take seconds, so a worker process
(:mod:`netviz.mlflow_worker`) does them on another core as soon as the job starts, while the job
imports torch and computes. Everything a result holds is written at the end in a few batched calls:
per-step logging through SQLite costs about 10 ms a call.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from netviz.errors import NetvizError
from netviz.naming import safe_name

if TYPE_CHECKING:
    from netviz.results import Result

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


def absolute_uri(uri: str) -> str:
    """``uri`` with a relative SQLite path made absolute against the current folder (the worker process
    runs elsewhere, and the artifacts go beside the database)."""
    path = sqlite_path(uri)
    if path is None or path.is_absolute():
        return uri
    return f"sqlite:///{path.resolve()}"


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


class Tracker:
    """One MLflow run, written by a worker process so that MLflow never slows the job down.

    :meth:`start` launches the worker, which imports MLflow, opens the store and creates the run on
    another core while the job computes; :meth:`log_result` hands it the result's metrics and
    images; :meth:`finish` ends the run. Used as a context manager, a run left by an exception is
    marked ``FAILED``, never ``FINISHED``.

    Args:
        uri: the tracking URI (``sqlite:///path/mlflow.db``, ``http://host:5000``, ...).
        experiment: the experiment's name (netviz uses one per technique).
        run_name: the run's name (netviz derives it from the job's overrides).
        tags: run tags.
        params: run params (a flat mapping; see :func:`flatten`).
    """

    def __init__(
        self,
        uri: str,
        experiment: str,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> None:
        self.uri = absolute_uri(uri)
        self.experiment = experiment
        self.run_name = run_name
        self.tags = {k: str(v) for k, v in (tags or {}).items() if v is not None}
        self.params = dict(params or {})
        self.run_id: str | None = None
        self._worker: subprocess.Popen | None = None
        self._opened = False
        self._staging: tempfile.TemporaryDirectory | None = None

    def start(self) -> "Tracker":
        """Check the store, then open it and create the run in the worker."""
        check_writable(self.uri)
        database = sqlite_path(self.uri)
        self._worker = subprocess.Popen(
            [sys.executable, "-m", "netviz.mlflow_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=PROJECT_ROOT,  # netviz is importable from there, installed or not
        )
        self._send(
            "open",
            {
                "uri": self.uri,
                "experiment": self.experiment,
                "artifact_location": self._artifact_location(),
                "run_name": self.run_name,
                "tags": self.tags,
                "params": self.params,
                "database": None if database is None else str(database),
            },
        )
        return self

    def _send(self, verb: str, argument) -> None:
        self._worker.stdin.write(json.dumps({verb: argument}) + "\n")
        self._worker.stdin.flush()

    def _answer(self) -> dict:
        line = self._worker.stdout.readline()
        if not line:
            raise NetvizError(f"the MLflow worker for {self.uri} stopped unexpectedly; run with debug=true for details")
        answer = json.loads(line)
        if "error" in answer:
            raise NetvizError(f"cannot use the tracking store {self.uri}: {answer['error']}")
        return answer

    def _artifact_location(self) -> str | None:
        path = sqlite_path(self.uri)
        if path is None:
            return None
        return (path.parent.resolve() / "mlartifacts" / safe_name(self.experiment)).as_uri()

    def wait(self) -> None:
        """Block until the run exists; raise a one-line :class:`NetvizError` if the store cannot be used."""
        if self._worker is None:
            raise NetvizError("the tracker was not started; call start() or use it as a context manager")
        if not self._opened:
            self._opened = True
            self.run_id = self._answer()["run_id"]

    def log_result(
        self, result: "Result", files: Mapping[str, Path] | None = None, figure: Path | None = None
    ) -> None:
        """Write a result: metrics, step metrics, image series, per-sample panels, the figure, extra files.

        Args:
            result: the technique's result.
            files: extra files or folders to store, ``{artifact folder: path}`` (the Hydra config).
            figure: the result's figure already saved as a PNG (else it is drawn here).
        """
        from PIL import Image

        staging = tempfile.TemporaryDirectory(prefix="netviz-")
        self._staging = staging
        folder = Path(staging.name)
        metrics = [[key, value, 0] for key, value in result.metrics().items()]
        for name, points in result.history.items():
            for step, values in points:
                for sample, value in zip(result.sample_names, values.tolist()):
                    metrics.append([f"{name}/{safe_name(sample)}", float(value), int(step)])
        images = []
        for key, series in result.image_series().items():
            for step, image in series:
                path = folder / f"series-{len(images)}.png"
                Image.fromarray(image).save(path)
                images.append([safe_name(key), int(step), str(path)])
        run_files = folder / "run"
        (run_files / "panels").mkdir(parents=True)
        for name, image in result.panels().items():
            Image.fromarray(image).save(run_files / "panels" / f"{name}.png")
        if figure is not None:
            shutil.copyfile(figure, run_files / "figure.png")
        else:
            result.figure().savefig(run_files / "figure.png", dpi=120)
        rows = result.rows()
        if rows:
            (run_files / "results.json").write_text(json.dumps(rows, indent=1, default=float))
        artifacts = [[str(run_files), None]]
        artifacts += [[str(path), folder_name] for folder_name, path in (files or {}).items() if Path(path).exists()]
        self.wait()
        self._send("log", {"metrics": metrics, "images": images, "artifacts": artifacts})
        self._answer()

    def finish(self, status: str = "FINISHED") -> None:
        """End the run as ``FINISHED`` or ``FAILED`` and stop the worker."""
        if self._worker is None:
            return
        try:
            if self._worker.poll() is None:
                self._send("finish", status)
                with contextlib.suppress(NetvizError):
                    if not self._opened:
                        self.wait()
                self._answer()
        finally:
            # The run is complete once the worker has answered; its interpreter's shutdown (about
            # half a second of MLflow teardown) is not waited for.
            with contextlib.suppress(OSError):
                self._worker.stdin.close()
            self._worker = None
            if self._staging is not None:
                self._staging.cleanup()
                self._staging = None

    def __enter__(self) -> "Tracker":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish("FINISHED")
        else:
            with contextlib.suppress(NetvizError):
                self.finish("FAILED")
