"""MLflow tracking: one run per job, with its config, tags, metrics, images and Hydra files.

Importing MLflow and opening (or migrating) a SQLite store take seconds, so a worker process
(:mod:`netviz.mlflow_worker`) does them on another core as soon as the job starts, while the job
imports torch and computes. Step metrics reach the store while the loop runs, every ``log_every``
steps, as batches handed to that worker by a thread (per-step logging through SQLite costs about
10 ms a call, which the loop never waits for); the result is written at the end in a few batched calls.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from netviz.errors import NetvizError
from netviz.naming import file_name, metric_name, safe_name

if TYPE_CHECKING:
    from netviz.live import StepValues
    from netviz.results import Result

PACKAGE_PARENT = Path(__file__).resolve().parent.parent  # where `import netviz` works from
PROJECT_ROOT = PACKAGE_PARENT
MAX_PARAM_LENGTH = 6000
UI_ADDRESS = "http://127.0.0.1:5000"  # where `make ui` serves the MLflow UI


def default_tracking_uri() -> str:
    """``sqlite:///<current folder>/mlflow.db``: MLflow 3's own default store, which ``mlflow ui`` finds."""
    return f"sqlite:///{Path.cwd() / 'mlflow.db'}"


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


STORE_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")
REACHABLE_TIMEOUT_S = 3.0


SQLITE_HEADER = b"SQLite format 3\x00"  # the first bytes of every SQLite 3 database file


def check_store(uri: str) -> None:
    """Fail fast, before any work, if the store at ``uri`` cannot be used: not a store URI, a SQLite
    file that cannot be created or written (or is a folder, or another kind of file), or a server
    that does not answer."""
    scheme = urlparse(uri).scheme.split("+")[0]
    if scheme == "file" or (not scheme and "/" in uri):
        raise NetvizError(
            f"tracking.uri={uri}: MLflow 3.17 has no file store; use tracking.uri=sqlite:///<path>/mlflow.db"
        )
    if scheme not in STORE_SCHEMES:
        raise NetvizError(
            f"tracking.uri={uri!r} is not a tracking store URI; use sqlite:///<path>/mlflow.db or http://<host>:<port>"
        )
    if scheme in ("http", "https"):
        check_server(uri)
        return
    path = sqlite_path(uri)
    if path is None:
        return
    if path.is_dir():
        raise NetvizError(f"tracking store {path} is a folder; give the database file: tracking.uri=sqlite:///{path}/mlflow.db")
    folder = path.parent
    if not folder.is_dir():
        raise NetvizError(f"tracking store folder {folder} does not exist; create it or set tracking.uri=sqlite:///<path>")
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK):
        raise NetvizError(f"tracking store {path} is not writable; fix its permissions or set tracking.uri=sqlite:///<path>")
    if path.is_file() and path.stat().st_size > 0:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
        if header != SQLITE_HEADER:
            raise NetvizError(f"tracking store {path} is not an SQLite database; give another file: tracking.uri=sqlite:///<path>/mlflow.db")


def check_server(uri: str) -> None:
    """One quick request to an MLflow server's ``/health``, so an unreachable server fails in seconds."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=REACHABLE_TIMEOUT_S) as answer:
            answer.read(64)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NetvizError(
            f"no MLflow server answers at {uri} ({reason}); start one with `mlflow server --host 127.0.0.1 --port <port>` "
            "or set tracking.uri=sqlite:///<path>/mlflow.db"
        ) from None


# Kept for callers of the old name.
check_writable = check_store


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

    :meth:`start` launches the worker (or takes the one :meth:`prefetch` started before the job's
    imports), which imports MLflow, opens the store and creates the run on another core while the
    job computes; :meth:`live` streams step metrics and snapshots to it while
    the loop runs (the loop never waits: a thread writes them); :meth:`log_result` hands it the
    result's metrics and images; :meth:`finish` ends the run. Used as a context manager, a run left
    by an exception is marked ``FAILED``, never ``FINISHED``; if the job dies outright, the worker
    marks it ``FAILED`` itself.

    Args:
        uri: the tracking URI (``sqlite:///path/mlflow.db``, ``http://host:5000``, ...).
        experiment: the experiment's name (netviz uses one per technique).
        run_name: the run's name (see :func:`netviz.job.run_name`).
        tags: run tags.
        params: run params (a flat mapping; see :func:`flatten`).
        parent_run_id: the sweep's parent run, if the job belongs to one.
        share_worker: keep the worker (its MLflow import and store connection) for the next run
            tracked from this process to the same store: a sweep's jobs pay for them once.
        skip_if_finished: a config hash: if the experiment has a ``FINISHED`` run with it, make no
            run and set :attr:`skipped` to that run's id instead (``resume=true``).
    """

    _shared_workers: dict[str, subprocess.Popen] = {}
    _spare_worker: subprocess.Popen | None = None  # started by prefetch() for the next unshared run

    def __init__(
        self,
        uri: str,
        experiment: str,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        share_worker: bool = False,
        skip_if_finished: str | None = None,
    ) -> None:
        self.uri = absolute_uri(uri)
        self.share_worker = share_worker
        self.skip_if_finished = skip_if_finished
        self.skipped: str | None = None
        self.swept_keys: str | None = None  # the parent sweep's swept keys, comma-separated
        self.experiment = experiment
        self.run_name = run_name
        self.tags = {k: str(v) for k, v in (tags or {}).items() if v is not None}
        self.tags.setdefault("netviz.pid", str(os.getpid()))
        self.tags.setdefault("netviz.host", socket.gethostname())
        self.params = dict(params or {})
        self.parent_run_id = parent_run_id
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self._worker: subprocess.Popen | None = None
        self._opened = False
        self._staging: tempfile.TemporaryDirectory | None = None
        self._outbox: queue.Queue | None = None
        self._writer: threading.Thread | None = None
        self._sent_live: set[tuple[str, int]] = set()
        self._write_error: BaseException | None = None

    def start(self) -> "Tracker":
        """Check the store, then open it and create the run in the worker."""
        check_store(self.uri)
        database = sqlite_path(self.uri)
        self._staging = tempfile.TemporaryDirectory(prefix="netviz-")
        self._worker = Tracker._shared_worker_for(self.uri) if self.share_worker else Tracker._take_spare_worker()
        self._outbox = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="netviz-tracking", daemon=True)
        self._writer.start()
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
                "parent_run_id": self.parent_run_id,
                "skip_if_finished": self.skip_if_finished,
            },
        )
        return self

    @classmethod
    def prefetch(cls, uri: str, shared: bool = False) -> None:
        """Start the worker the next run to ``uri`` will write through, now: it imports MLflow and the
        store's module (about 1.5 s) while the job checks its config and imports its technique, and it
        touches no store until the run is opened (a job refused on a bad value leaves nothing behind).
        ``shared``: the process's shared worker for ``uri`` (a sweep's job), else a spare that the
        next unshared :meth:`start` takes."""
        request = {"prefetch": {"uri": absolute_uri(uri)}}
        if shared:
            cls._shared_worker_for(uri, request)
        elif cls._spare_worker is None or cls._spare_worker.poll() is not None:
            cls.drop_spare_worker()  # a dead one: its pipes closed
            cls._spare_worker = _spawn_worker()
            _tell(cls._spare_worker, request)

    @classmethod
    def drop_spare_worker(cls) -> None:
        """Stop the worker :meth:`prefetch` started for a run that will not be made (the job was
        refused or stopped before its run was opened) and close its pipes: it has touched no store,
        and it would hold the command's output pipes while it imports MLflow."""
        spare, cls._spare_worker = cls._spare_worker, None
        if spare is not None:
            with contextlib.suppress(OSError), spare:  # Popen's exit closes the pipes and waits
                if spare.poll() is None:
                    spare.kill()

    @classmethod
    def _take_spare_worker(cls) -> subprocess.Popen:
        """The worker :meth:`prefetch` started, if it is alive, else a new one."""
        spare = cls._spare_worker
        if spare is not None and spare.poll() is None:
            cls._spare_worker = None
            return spare
        cls.drop_spare_worker()
        return _spawn_worker()

    @classmethod
    def warm_shared_worker(cls, uri: str) -> None:
        """Start this process's shared worker for ``uri`` now, importing MLflow and opening the store
        while the caller computes (the batched launcher computes its jobs before any of them opens a run)."""
        database = sqlite_path(absolute_uri(uri))
        cls._shared_worker_for(uri, {"warm": {"uri": absolute_uri(uri), "database": None if database is None else str(database)}})

    @classmethod
    def create_sweep_parent(cls, uri: str, parent: Mapping[str, Any]) -> None:
        """Have this process's shared worker for ``uri`` (started now if need be) make a sweep's parent
        run while the sweep goes on (``sweep`` in :mod:`netviz.mlflow_worker`): its id appears in
        ``parent["parent_file"]``, and the jobs this process runs become its children."""
        _tell(cls._shared_worker_for(uri), {"sweep": dict(parent)})

    @classmethod
    def finish_sweep_parent(cls, uri: str, request: Mapping[str, Any]) -> dict | None:
        """Have this process's shared worker for ``uri``, once it has written every job's run, give the
        sweep's parent its summary and end it (``summarize``: :func:`netviz.sweep.finish_sweep`'s
        answer); ``None`` when there is no live worker or it could not, and the caller does it itself."""
        worker = cls._shared_workers.get(absolute_uri(uri))
        if worker is None or worker.poll() is not None:
            return None
        _tell(worker, {"summarize": dict(request)})
        try:
            return _read_answer(worker, "summarize", uri)
        except NetvizError:
            return None

    @classmethod
    def _shared_worker_for(cls, uri: str, first: Mapping[str, Any] | None = None) -> subprocess.Popen:
        """This process's live shared worker for ``uri``; a new one is given ``first`` as its first request."""
        uri = absolute_uri(uri)
        shared = cls._shared_workers.get(uri)
        if shared is not None and shared.poll() is None:
            return shared
        worker = cls._shared_workers[uri] = _spawn_worker()
        if first is not None:
            _tell(worker, first)
        return worker

    # ----- the pipe to the worker: one writer thread, so that the loop never blocks on it ---------

    def _write_loop(self) -> None:
        while True:
            item = self._outbox.get()
            try:
                if item is None:
                    return
                if self._write_error is None:
                    # Live values arrive as the loop's own objects and become a line here, off the loop's thread.
                    try:
                        line = item if isinstance(item, str) else item()
                    except Exception:  # noqa: BLE001 - a live point lost is not worth stopping the job for
                        continue
                    self._worker.stdin.write(line)
                    self._worker.stdin.flush()
            except (OSError, ValueError) as exc:  # the worker is gone: the answer-reading side reports it
                self._write_error = exc
            finally:
                self._outbox.task_done()

    def _send(self, verb: str, argument) -> None:
        self._outbox.put(json.dumps({verb: argument}) + "\n")

    def _request(self, verb: str, argument) -> dict:
        """Send a request after everything queued before it, and wait for its answer."""
        self._send(verb, argument)
        self._outbox.join()
        return self._answer(verb)

    def _answer(self, verb: str) -> dict:
        return _read_answer(self._worker, verb, self.uri)

    def _artifact_location(self) -> str | None:
        path = sqlite_path(self.uri)
        if path is None:
            return None
        return (path.parent.resolve() / "mlartifacts" / file_name(self.experiment)).as_uri()

    def wait(self) -> None:
        """Block until the run exists; raise a one-line :class:`NetvizError` if the store cannot be used."""
        if self._worker is None:
            raise NetvizError("the tracker was not started; call start() or use it as a context manager")
        if not self._opened:
            self._opened = True
            self._outbox.join()
            answer = self._answer("open")
            self.run_id, self.experiment_id = answer.get("run_id"), answer.get("experiment_id")
            self.skipped = answer.get("skipped")
            self.swept_keys = answer.get("swept_keys")

    # ----- live values while the loop runs -----------------------------------------------------------

    @contextlib.contextmanager
    def live(self):
        """Stream the loop's step metrics and snapshots (:mod:`netviz.live`) to the store while the block runs."""
        from netviz import live

        with live.recording(_LiveSink(self)):
            yield self

    def _send_live(self, make: "Callable[[], tuple[list, list]]") -> None:
        """Queue live values; ``make()`` turns them into ``(metrics, images)`` on the writer thread."""
        if self._worker is None:
            return

        def line() -> str:
            metrics, images = make()
            self._sent_live.update((key, step) for key, _value, step in metrics)
            self._sent_live.update((key, step) for key, step, _path in images)
            return json.dumps({"live": {"metrics": metrics, "images": images}}) + "\n"

        self._outbox.put(line)

    def _png(self, image) -> str:
        from PIL import Image

        from netviz.live import rgb8

        path = Path(self._staging.name) / f"live-{len(self._sent_live)}-{time.monotonic_ns()}.png"
        Image.fromarray(rgb8(image)).save(path)
        return str(path)

    # ----- the result ----------------------------------------------------------------------------------

    def log_result(
        self,
        result: "Result",
        files: Mapping[str, Path] | None = None,
        figure: Path | None = None,
        config: Mapping | None = None,
        run_name: str | None = None,
    ) -> None:
        """Write a result: metrics, the step metrics not sent live, image series, per-sample panels,
        the figure, ``results.json``, the resolved config and extra files.

        Args:
            result: the technique's result.
            files: extra files or folders to store, ``{artifact folder: path}`` (the Hydra config).
            figure: the result's figure already saved as a PNG (else it is drawn here).
            config: the resolved job config, stored as ``config.yaml`` (runs made from Python have no
                Hydra files).
            run_name: a final name for the run (it may depend on the result, e.g. its one sample).
        """
        from PIL import Image

        if self._outbox is not None:
            self._outbox.join()  # every live value queued so far is converted (and in ``_sent_live``)
        folder = Path(self._staging.name)
        metrics = [[key, value, 0] for key, value in result.metrics().items()]
        for name, points in result.history.items():
            for step, values in points:
                for sample, value in zip(result.sample_names, values.tolist()):
                    key = f"{name}/{metric_name(sample)}"
                    if (key, int(step)) not in self._sent_live:
                        metrics.append([key, float(value), int(step)])
        images = []
        for key, series in result.image_series().items():
            key = safe_name(key)
            for step, image in series:
                if (key, int(step)) in self._sent_live:
                    continue
                path = folder / f"series-{len(images)}.png"
                Image.fromarray(image).save(path)
                images.append([key, int(step), str(path)])
        run_files = folder / "run"
        (run_files / "panels").mkdir(parents=True)
        for name, image in result.panels().items():
            Image.fromarray(image).save(run_files / "panels" / f"{file_name(name)}.png")
        if figure is not None:
            shutil.copyfile(figure, run_files / "figure.png")
        else:
            from netviz.figures import save_figure

            save_figure(result.figure(), run_files / "figure.png")
        rows = result.rows()
        if rows:
            (run_files / "results.json").write_text(json.dumps(rows, indent=1, default=float, ensure_ascii=False))
        if config is not None:
            from omegaconf import OmegaConf

            (run_files / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(dict(config))))
        artifacts = [[str(run_files), None]]
        artifacts += [[str(path), folder_name] for folder_name, path in (files or {}).items() if Path(path).exists()]
        self.wait()
        self._request("log", {"metrics": metrics, "images": images, "artifacts": artifacts, "run_name": run_name})

    def link(self, ui: str = UI_ADDRESS) -> str | None:
        """The address that opens this run in the MLflow UI's runs view (``make ui``'s address)."""
        if self.run_id is None or self.experiment_id is None:
            return None
        return run_link(self.experiment_id, self.run_id, ui)

    def finish(self, status: str = "FINISHED", reason: str | None = None) -> None:
        """End the run as ``FINISHED``, ``FAILED`` or ``KILLED`` (with the ``reason``) and stop the worker."""
        if self._worker is None:
            return
        try:
            if self._worker.poll() is None and self._write_error is None:
                self._send("finish", {"status": status, "reason": reason})
                self._outbox.join()
                with contextlib.suppress(NetvizError):
                    if not self._opened:
                        self.wait()
                self._answer("finish")
        finally:
            # The run is complete once the worker has answered; its interpreter's shutdown (about
            # half a second of MLflow teardown) is not waited for.
            self._outbox.put(None)
            if not (self.share_worker and Tracker._shared_workers.get(self.uri) is self._worker):
                with contextlib.suppress(OSError):
                    self._worker.stdin.close()
            self._worker = None
            self._remove_staging()

    def _remove_staging(self) -> None:
        if self._staging is not None:
            self._staging.cleanup()
            self._staging = None

    def abandon(self) -> None:
        """Stop without a word to the worker (the process is going down): the worker marks the run
        ``FAILED`` when its input ends, and the staging folder is removed."""
        if self._worker is not None:
            Tracker._shared_workers.pop(self.uri, None)
            with contextlib.suppress(OSError):
                self._worker.stdin.close()
            self._worker = None
        self._remove_staging()

    def __enter__(self) -> "Tracker":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish("FINISHED")
        else:
            with contextlib.suppress(NetvizError):
                self.finish("FAILED", f"{exc_type.__name__}: {exc}".splitlines()[0])


class _LiveSink:
    """Turns :mod:`netviz.live` calls into ``live`` messages for a tracker's worker (converted on its writer thread)."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def metrics(self, step: int, values: "StepValues") -> None:
        self.tracker._send_live(lambda: ([[key, value, step] for key, value in values.flat().items()], []))

    def images(self, step: int, images: Mapping[str, Any]) -> None:
        tracker = self.tracker
        tracker._send_live(lambda: ([], [[safe_name(key), step, tracker._png(image)] for key, image in images.items()]))


def _tell(worker: subprocess.Popen, request: Mapping[str, Any]) -> None:
    """Send ``worker`` a request that no one waits for; a worker that died is reported by the next
    request that is answered (a job's ``open``)."""
    with contextlib.suppress(OSError):
        worker.stdin.write(json.dumps(request) + "\n")
        worker.stdin.flush()


def _read_answer(worker: subprocess.Popen, verb: str, uri: str) -> dict:
    """The worker's answer to the ``verb`` request. Answers to earlier requests come first when a
    signal cut short the wait for them (the job then goes straight to ``finish``), or when no one
    waits for them (``sweep``): they are skipped, so that "the run is marked KILLED" is true when the
    job says so."""
    while True:
        line = worker.stdout.readline()
        if not line:
            raise NetvizError(f"the MLflow worker for {uri} stopped unexpectedly; run with debug=true for details")
        with contextlib.suppress(ValueError):  # a line that a signal cut in two
            answer = json.loads(line)
            if answer.get("to") == verb:
                break
    if "error" in answer:
        raise NetvizError(f"cannot use the tracking store {uri}: {answer['error']}")
    return answer


def _spawn_worker() -> subprocess.Popen:
    """A tracking worker (:mod:`netviz.mlflow_worker`) in a session of its own."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_PARENT), os.environ.get("PYTHONPATH")])),
        # A server that stops answering mid-run fails in seconds, not after minutes of retries.
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"),
        "MLFLOW_HTTP_REQUEST_TIMEOUT": os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", "20"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "netviz.mlflow_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # the terminal's Ctrl-C and a signal to the job's group are the job's
    )


def run_link(experiment_id: str, run_id: str, ui: str = UI_ADDRESS) -> str:
    """The MLflow UI address of one run, in the classic runs view (MLflow 3 opens on its GenAI pages)."""
    return f"{ui}/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"


def experiment_link(experiment_id: str, ui: str = UI_ADDRESS) -> str:
    """The MLflow UI address of an experiment's runs table."""
    return f"{ui}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
