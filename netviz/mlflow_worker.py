"""The process that talks to MLflow for one :class:`netviz.tracking.Tracker`.

It runs beside the job (``python -m netviz.mlflow_worker``), in a session of its own so that the
terminal's Ctrl-C reaches the job and not it, so that importing MLflow and opening (or migrating)
the store happen on another core while the job imports torch and computes. It reads one JSON
request per line on stdin and answers one JSON line each on its protocol pipe, which names the
request it answers (``"to": "open"``, ...):

1. ``{"prefetch": {uri}}``, ``{"warm": {uri, database}}``: no answer. Import MLflow and the store's
   module while the job starts (a job's worker is started before the job checks its config), and
   with ``warm`` also open the store, creating or migrating it, before the first run is asked for.
2. ``{"open": {uri, experiment, artifact_location, run_name, tags, params, parent_run_id}}``
   -> ``{"run_id", "experiment_id"}``
   With ``skip_if_finished: <config hash>`` (``resume=true``), an experiment's ``FINISHED`` run of
   that config answers ``{"skipped": run_id}`` instead, and no run is made.
3. ``{"live": {metrics: [[key, value, step]], images: [[key, step, png path]]}}``: no answer (the
   loop never waits for the store); written as it arrives, while the job runs.
4. ``{"log": {metrics, images, artifacts: [[path, folder]], run_name}}`` -> ``{"ok": true}``
5. ``{"finish": {"status": "FINISHED" | "FAILED" | "KILLED", "reason": str | None}}`` -> ``{"ok": true}``;
   then the next ``open`` (a sweep's next job in the same process: one worker, one store
   connection for the whole sweep), until the input ends.
6. ``{"sweep": {uri, experiment, artifact_location, database, run_name, tags, params, parent_file}}``:
   the parent run of a sweep whose jobs run in the sweep's own process (the basic and batched
   launchers), made here while that process goes on: its id goes to ``parent_file`` (written whole,
   or ``parent_file.error`` with the one-line reason), and each later ``open`` of that sweep
   (``tags.sweep_id``) becomes its child. Its answer is ``{"run_id"}``, which the jobs skip.
   While the sweep imports its technique and computes, the worker then imports what the summary draws with.
7. ``{"summarize": {uri, parent, title, failed}}``: when such a sweep ends, after every job's run
   was written here, the parent's summary and its end (:func:`netviz.sweep.finish_sweep`; the sweep's
   process never imports MLflow) -> ``{"status", "experiment_id", "artifact_uri", "figures", "problem"}``.

Any failure answers ``{"error": "<one line>"}``, its cause read from the SQLite file as it is now
where that says more (deleted or replaced mid-run: the results were not saved, and ``finish`` never
answers ``ok`` then; made read-only mid-run). If its input ends without a ``finish`` (the job was
killed, or died of an out-of-memory kill), it marks the run ``FAILED`` with the reason "job process
ended without finishing": no run is ever left ``RUNNING`` by a dead job. Runs of this host left
``RUNNING`` by a process that no longer exists (its worker was killed too, or the store refused
every write until the job had ended) are marked the same way when the next job opens the store.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

from netviz import collector

ENDED_WITHOUT_FINISHING = "job process ended without finishing"
PID_TAG, HOST_TAG, FAILURE_TAG = "netviz.pid", "netviz.host", "netviz.failure"


@contextlib.contextmanager
def store_lock(database: str | None):
    """Serialize store creation: parallel jobs on a fresh SQLite store race on its schema migration."""
    if database is None:
        yield
        return
    with open(f"{database}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_store(uri: str, database: str | None):
    """A client of the store, its schema created or migrated (the client does that as it starts),
    under the lock."""
    from mlflow import MlflowClient

    with store_lock(database):
        return MlflowClient(uri)


def open_experiment(uri: str, experiment: str, artifact_location: str | None, database: str | None):
    """``(client, experiment id)``: the store opened (:func:`open_store`) and the experiment created if
    new, under the lock."""
    client = open_store(uri, database)
    with store_lock(database):
        found = client.get_experiment_by_name(experiment)
        if found is not None:
            return client, found.experiment_id
        return client, client.create_experiment(experiment, artifact_location=artifact_location)


def quiet_mlflow() -> None:
    """MLflow's own log lines (store creation, tracebacks of failed writes) stay out of the job's
    terminal: failures are answered as one line. Set after MLflow's import, which sets its levels."""
    import mlflow  # noqa: F401 - configures its loggers on import

    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_abandoned_runs(client) -> None:
    """Mark ``FAILED`` the runs of this host, in every experiment of the store, left ``RUNNING`` by
    job processes that no longer exist (killed with their worker, or ended while the store refused
    every write, as a read-only one does)."""
    host = socket.gethostname()
    experiment_ids = [experiment.experiment_id for experiment in client.search_experiments()]
    runs = client.search_runs(
        experiment_ids,
        filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'",
        max_results=200,
    )
    for run in runs:
        pid = run.data.tags.get(PID_TAG, "")
        if pid.isdigit() and not pid_alive(int(pid)):
            client.set_tag(run.info.run_id, FAILURE_TAG, ENDED_WITHOUT_FINISHING)
            client.set_terminated(run.info.run_id, status="FAILED")


def file_identity(path: str | None) -> tuple[int, int] | None:
    """``(device, inode)`` of the file at ``path``, or ``None`` if there is none."""
    if path is None:
        return None
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


class Worker:
    def __init__(self) -> None:
        self.client = None
        self.uri: str | None = None
        self.run_id: str | None = None
        self.database: str | None = None  # the SQLite file the client's connections write to
        self.database_identity: tuple[int, int] | None = None
        self.sweep_parents: dict[str, str] = {}  # sweep_id -> the parent run made here

    def lost_store(self) -> str | None:
        """Why the run cannot be in the store any more, or ``None``: its SQLite file was deleted or
        replaced since the store was opened (SQLite's open connections still write to the old file,
        which nobody will read again)."""
        if self.database_identity is None or file_identity(self.database) == self.database_identity:
            return None
        what = "deleted" if not os.path.exists(self.database) else "replaced by another file"
        return f"its database file was {what} while the job ran; the run's results were not saved"

    def store_problem(self, error: BaseException) -> str:
        """A failed write's cause in one line, from the SQLite file as it is now when that says more
        than SQLite does (a file made read-only mid-transaction fails as a "disk I/O error")."""
        lost = self.lost_store()
        if lost:
            return lost
        if self.database is not None and not all(os.access(p, os.W_OK) for p in (self.database, os.path.dirname(self.database))):
            return "the store became read-only while the job ran (its database file or folder cannot be written)"
        return one_line(error)

    def prefetch(self, uri: str) -> None:
        """Import MLflow and the module of the store at ``uri`` before any request needs them; the
        store itself is not touched (the job may still be refused)."""
        quiet_mlflow()
        import mlflow.entities  # noqa: F401 - every run's params and metrics
        import PIL.Image  # noqa: F401 - every run's images (a fifth of a second)

        if uri.startswith("sqlite:"):
            import mlflow.store.tracking.sqlalchemy_store  # noqa: F401 - half a second of SQLAlchemy
        elif uri.startswith(("http:", "https:")):
            import mlflow.store.tracking.rest_store  # noqa: F401

    def warm(self, uri: str, database: str | None = None) -> None:
        """Import MLflow and open the store (creating or migrating it) before any run is asked for."""
        quiet_mlflow()
        self._use(open_store(uri, database), uri, database)

    def _use(self, client, uri: str, database: str | None) -> None:
        """Write through ``client`` to the store at ``uri`` from now on (a sweep's next jobs reuse it)."""
        self.client, self.uri = client, uri
        self.database, self.database_identity = database, file_identity(database)

    def open(
        self, uri, experiment, artifact_location, run_name, tags, params, database=None, parent_run_id=None, skip_if_finished=None
    ) -> dict:
        from mlflow.entities import Param

        quiet_mlflow()
        if self.client is not None and self.uri == uri:  # the sweep's previous job opened this store
            client = self.client
            found = client.get_experiment_by_name(experiment)
            experiment_id = found.experiment_id if found else client.create_experiment(experiment, artifact_location=artifact_location)
        else:
            client, experiment_id = open_experiment(uri, experiment, artifact_location, database)
            self._use(client, uri, database)
        if skip_if_finished:
            done = client.search_runs(
                [experiment_id],
                filter_string=f"tags.config_hash = '{skip_if_finished}' and attributes.status = 'FINISHED'",
                max_results=1,
            )
            if done:
                return {"skipped": done[0].info.run_id, "experiment_id": experiment_id}
        with contextlib.suppress(Exception):  # tidying up others' runs never fails this one
            fail_abandoned_runs(client)
        tags = dict(tags)
        swept = None
        if not parent_run_id and tags.get("sweep_id"):  # made here, or by a launcher on another machine
            parent_run_id = self.sweep_parents.get(tags["sweep_id"]) or find_parent(client, experiment_id, tags["sweep_id"])
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
            with contextlib.suppress(Exception):
                swept = client.get_run(parent_run_id).data.tags.get("swept_keys")
        self.run_id = client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id
        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), 100):
            client.log_batch(self.run_id, params=items[i : i + 100])
        return {"run_id": self.run_id, "experiment_id": experiment_id, "swept_keys": swept}

    def sweep(self, uri, experiment, artifact_location, database, run_name, tags, params, parent_file) -> dict:
        """Make a sweep's parent run (creating or migrating the store first) and write its id to ``parent_file``."""
        try:
            quiet_mlflow()
            client, experiment_id = open_experiment(uri, experiment, artifact_location, database)
            self._use(client, uri, database)
            run_id = client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id
            for key, value in params.items():
                client.log_param(run_id, key, value)
        except Exception as exc:  # noqa: BLE001 - the sweep's process reads the reason from the file
            write_whole(f"{parent_file}.error", self.store_problem(exc))
            raise
        self.sweep_parents[tags["sweep_id"]] = run_id
        write_whole(parent_file, run_id)
        with contextlib.suppress(Exception):  # the summary's own imports, while this core is idle
            import matplotlib.backends.backend_agg  # noqa: F401
            import matplotlib.figure  # noqa: F401

            import netviz.compose  # noqa: F401
            import netviz.figures  # noqa: F401
            import netviz.sweep  # noqa: F401
        return {"run_id": run_id, "experiment_id": experiment_id}

    def summarize(self, uri, parent, title=None, failed=False) -> dict:
        """The sweep's summary and the end of its parent run (:func:`netviz.sweep.finish_sweep`)."""
        from netviz.sweep import finish_sweep

        return finish_sweep(uri, parent, title=title, failed=failed, client=self.client if self.uri == uri else None)

    def live(self, metrics, images) -> None:
        self._write(metrics, images)

    def _write(self, metrics, images) -> None:
        from mlflow.entities import Metric
        from PIL import Image

        now = int(time.time() * 1000)
        entries = [Metric(key, float(value), now, int(step)) for key, value, step in metrics]
        for i in range(0, len(entries), 1000):
            self.client.log_batch(self.run_id, metrics=entries[i : i + 1000])
        for key, step, path in images:
            with Image.open(path) as image:
                self.client.log_image(self.run_id, image.copy(), key=key, step=int(step))
            with contextlib.suppress(OSError):
                os.unlink(path)

    def log(self, metrics, images, artifacts, run_name=None) -> dict:
        self._write(metrics, images)
        for path, folder in artifacts:
            if Path(path).is_dir():
                self.client.log_artifacts(self.run_id, path, folder)
            else:
                self.client.log_artifact(self.run_id, path, folder)
        if run_name:
            self.client.update_run(self.run_id, name=distinct_name(self.client, self.run_id, run_name))
        return {"ok": True}

    def finish(self, status: str, reason: str | None = None) -> dict:
        lost = self.lost_store()
        if lost:  # never answer "ok" for results that went into a file nobody will read
            raise RuntimeError(lost)
        if self.client is not None and self.run_id is not None:
            if reason:
                self.client.set_tag(self.run_id, FAILURE_TAG, reason[:5000])
            self.client.set_terminated(self.run_id, status=status)
        return {"ok": True}


def find_parent(client, experiment_id: str, sweep_id: str) -> str | None:
    """The parent run of the multirun ``sweep_id`` (Ray and SLURM workers inherit no environment from it)."""
    escaped = sweep_id.replace("'", "\\'")
    found = client.search_runs(
        [experiment_id], filter_string=f"tags.`netviz.sweep` = 'parent' and tags.sweep_id = '{escaped}'", max_results=1
    )
    return found[0].info.run_id if found else None


def distinct_name(client, run_id: str, name: str) -> str:
    """``name``, or ``name #abc123`` (the config hash) if another run of the experiment has this name
    with a different config: names in one experiment are distinct whenever their configs differ."""
    run = client.get_run(run_id)
    config_hash = run.data.tags.get("config_hash", "")
    escaped = name.replace("'", "\\'")
    same = client.search_runs(
        [run.info.experiment_id], filter_string=f"attributes.run_name = '{escaped}'", max_results=50
    )
    if any(r.info.run_id != run_id and r.data.tags.get("config_hash") != config_hash for r in same):
        return f"{name} #{config_hash[:6]}" if config_hash else f"{name} #{run_id[:6]}"
    return name


def write_whole(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees all of it or no file at all."""
    partial = f"{path}.{os.getpid()}.partial"
    Path(partial).write_text(text)
    os.replace(partial, path)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if "readonly database" in text or "read-only" in text:
        return "the store is read-only (attempt to write a readonly database)"
    if "unable to open database" in text or "no such table" in text:
        return "the store's database file is gone or cannot be opened"
    line = text.splitlines()[0] if text else type(exc).__name__
    return line[:300]


def reply(protocol, answer: dict):
    """Write one answer; once the job is gone (it was killed, or exited after its interrupt), the
    answers go nowhere and the worker goes on with its input, ending the run as asked."""
    if protocol is None:
        return None
    try:
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()
        return protocol
    except (BrokenPipeError, ValueError):
        with contextlib.suppress(OSError):  # what is left in its buffer is flushed at exit: into nothing
            nowhere = os.open(os.devnull, os.O_WRONLY)
            os.dup2(nowhere, protocol.fileno())
            os.close(nowhere)
        return None


def main() -> None:
    """Serve runs one after another (a sweep's jobs in one process share one worker) until the input ends."""
    # Ctrl-C in the terminal is for the job, which ends the run itself (a session of our own already
    # keeps the terminal's signals away; this covers a worker started by other means).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    collector.skip_final_collection()  # 0.7-1 s at exit over MLflow's objects, with the job's pipes held
    # The protocol gets its own copy of stdout; anything else printing to stdout goes to stderr.
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    worker, failed = Worker(), False
    for line in sys.stdin:
        request = json.loads(line)
        ((verb, argument),) = request.items()
        if verb == "live":
            if not failed and worker.run_id is not None:
                with contextlib.suppress(Exception):  # a live point lost is not worth stopping the job for
                    worker.live(**argument)
            continue
        if verb in ("prefetch", "warm"):  # no answer: the first "open" reports any problem with the store
            with contextlib.suppress(Exception):
                getattr(worker, verb)(**argument)
            continue
        try:
            if failed and verb not in ("finish", "open", "sweep", "summarize"):
                raise RuntimeError("the run could not be opened")
            if verb == "sweep":
                answer = worker.sweep(**argument)
            elif verb == "open":
                failed = False
                answer = worker.open(**argument)
            elif verb == "log":
                answer = worker.log(**argument)
            elif verb == "summarize":
                answer = worker.summarize(**argument)
            else:
                answer = worker.finish(**argument)
        except Exception as exc:  # noqa: BLE001 - reported to the job as one line
            failed = failed or verb == "open"
            answer = {"error": worker.store_problem(exc)}
        protocol = reply(protocol, {**answer, "to": verb})
        if verb == "finish":
            worker.run_id, failed = None, False  # ready for the sweep's next job
    if worker.run_id is not None:
        with contextlib.suppress(Exception):
            worker.finish("FAILED", ENDED_WITHOUT_FINISHING)


if __name__ == "__main__":
    main()
