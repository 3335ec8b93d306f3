"""The process that talks to MLflow for one :class:`netviz.tracking.Tracker`.

It runs beside the job (``python -m netviz.mlflow_worker``), so that importing MLflow and opening
(or migrating) the store happen on another core while the job imports torch and computes. It reads
one JSON request per line on stdin and answers one JSON line each on its protocol pipe:

1. ``{"open": {uri, experiment, artifact_location, run_name, tags, params}}`` -> ``{"run_id": ...}``
2. ``{"log": {metrics: [[key, value, step]], images: [[key, step, png path]], artifacts: [[path, folder]]}}``
   -> ``{"ok": true}``
3. ``{"finish": "FINISHED" | "FAILED"}`` -> ``{"ok": true}``, then it exits.

Any failure answers ``{"error": "<one line>"}``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from pathlib import Path


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


class Worker:
    def __init__(self) -> None:
        self.client = None
        self.run_id: str | None = None

    def open(self, uri, experiment, artifact_location, run_name, tags, params, database=None) -> dict:
        from mlflow import MlflowClient
        from mlflow.entities import Param

        with store_lock(database):
            client = MlflowClient(uri)
            found = client.get_experiment_by_name(experiment)
            experiment_id = (
                found.experiment_id
                if found is not None
                else client.create_experiment(experiment, artifact_location=artifact_location)
            )
        self.client = client
        self.run_id = client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id
        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), 100):
            client.log_batch(self.run_id, params=items[i : i + 100])
        return {"run_id": self.run_id}

    def log(self, metrics, images, artifacts) -> dict:
        from mlflow.entities import Metric
        from PIL import Image

        now = int(time.time() * 1000)
        entries = [Metric(key, float(value), now, int(step)) for key, value, step in metrics]
        for i in range(0, len(entries), 1000):
            self.client.log_batch(self.run_id, metrics=entries[i : i + 1000])
        for key, step, path in images:
            with Image.open(path) as image:
                self.client.log_image(self.run_id, image.copy(), key=key, step=int(step))
        for path, folder in artifacts:
            if Path(path).is_dir():
                self.client.log_artifacts(self.run_id, path, folder)
            else:
                self.client.log_artifact(self.run_id, path, folder)
        return {"ok": True}

    def finish(self, status: str) -> dict:
        if self.client is not None and self.run_id is not None:
            self.client.set_terminated(self.run_id, status=status)
        return {"ok": True}


def main() -> None:
    # The protocol gets its own copy of stdout; anything else printing to stdout goes to stderr.
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    worker = Worker()
    failed = False
    for line in sys.stdin:
        request = json.loads(line)
        (verb, argument), = request.items()
        try:
            if failed and verb != "finish":
                raise RuntimeError("the run could not be opened")
            if verb == "open":
                answer = worker.open(**argument)
            elif verb == "log":
                answer = worker.log(**argument)
            else:
                answer = worker.finish(argument)
        except Exception as exc:  # noqa: BLE001 - reported to the job as one line
            failed = failed or verb == "open"
            text = str(exc).strip()
            answer = {"error": text.splitlines()[0] if text else type(exc).__name__}
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()
        if verb == "finish":
            break


if __name__ == "__main__":
    main()
