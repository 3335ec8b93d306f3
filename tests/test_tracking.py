"""MLflow integration: jobs run into a real temporary SQLite store, read back with MlflowClient."""

import json
import os

import numpy as np
import pytest
from mlflow import MlflowClient
from PIL import Image

import netviz
from netviz.errors import NetvizError
from netviz.results import Result
from netviz.tracking import Tracker, flatten


def only_run(uri, experiment):
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert len(runs) == 1
    return client, runs[0]


def read_png(client, run_id, path):
    local = client.download_artifacts(run_id, path)
    with Image.open(local) as image:
        image.load()
        return np.asarray(image)


def test_a_job_is_logged_with_params_tags_metrics_images_and_config(tracking_uri):
    overrides = ["model=efficientnet_lite0", f"tracking.uri={tracking_uri}", "data.indices=[1,2]", "seed=4"]
    result = netviz.run(overrides)
    client, run = only_run(tracking_uri, "saliency")
    assert run.info.status == "FINISHED"
    assert run.data.params["model.name"] == "efficientnet_lite0"
    assert run.data.params["seed"] == "4" and run.data.params["data.indices"] == "[1, 2]"
    assert run.data.tags["technique"] == "saliency" and run.data.tags["model"] == "efficientnet_lite0"
    name = run.data.tags["mlflow.runName"]
    assert name.startswith("saliency") and "seed=4" in name and "/" not in name and "tracking" not in name
    assert not any(key.startswith(("tracking", "debug", "figure", "trainer.progress")) for key in run.data.params)
    assert "git_commit" in run.data.tags
    for name, value in result.metrics().items():
        assert run.data.metrics[name] == pytest.approx(value)
    assert set(run.data.metrics) >= {"prob_predicted/tabby", "prob_true/espresso", "top1_accuracy"}
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"figure.png", "panels", "results.json", "config.yaml"} <= artifacts  # a Python run keeps its config
    figure = read_png(client, run.info.run_id, "figure.png")
    assert figure.ndim == 3 and figure.shape[0] > 200
    panel = read_png(client, run.info.run_id, "panels/tabby.png")
    assert panel.shape[0] == 224 and panel.shape[1] > 3 * 224
    rows = json.loads(open(client.download_artifacts(run.info.run_id, "results.json")).read())
    assert [r["image"] for r in rows] == ["tabby", "espresso"] and rows[1]["predicted_name"] == "espresso"


class Broken(Result):
    def figure(self):
        raise RuntimeError("drawing failed")


def test_a_failing_job_leaves_a_failed_run_not_a_finished_one(tracking_uri):
    with pytest.raises(RuntimeError):
        with Tracker(tracking_uri, experiment="t", run_name="broken") as tracker:
            tracker.log_result(Broken(technique="t", model="m", sample_names=[]))
    _, run = only_run(tracking_uri, "t")
    assert run.info.status == "FAILED"


def test_unwritable_or_missing_store_is_refused_before_any_work(tmp_path):
    with pytest.raises(NetvizError, match="does not exist"):
        Tracker(f"sqlite:///{tmp_path / 'no' / 'mlflow.db'}", experiment="t").start()
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(NetvizError, match="not writable"):
            Tracker(f"sqlite:///{locked / 'mlflow.db'}", experiment="t").start()


def test_a_file_that_is_not_a_database_is_refused_before_any_worker_starts(tmp_path):
    bogus = tmp_path / "mlflow.db"
    bogus.write_bytes(b"this is not a sqlite database" * 100)
    with pytest.raises(NetvizError, match=f"tracking store {bogus} is not an SQLite database"):
        Tracker(f"sqlite:///{bogus}", experiment="t").start()
    assert bogus.read_bytes() == b"this is not a sqlite database" * 100


def test_a_store_that_cannot_open_is_one_error(tmp_path):
    broken = tmp_path / "mlflow.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)  # an SQLite header on a broken file
    tracker = Tracker(f"sqlite:///{broken}", experiment="t").start()
    with pytest.raises(NetvizError, match="cannot use the tracking store"):
        tracker.wait()


def test_flatten_nests_with_dots():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == {"a.b": "1", "a.c.d": "[1, 2]", "e": "None"}



def test_parallel_jobs_on_a_fresh_store_do_not_race_on_its_creation(tracking_uri):
    trackers = [Tracker(tracking_uri, experiment="parallel", run_name=f"job{i}").start() for i in range(3)]
    for tracker in trackers:  # all three workers open the new store at the same time
        tracker.finish("FINISHED")
    client = MlflowClient(tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("parallel").experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["job0", "job1", "job2"]
    assert {r.info.status for r in runs} == {"FINISHED"}


def test_a_relative_store_path_keeps_database_and_artifacts_together(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Tracker("sqlite:///runs.db", experiment="relative", run_name="r") as tracker:
        assert tracker.uri == f"sqlite:///{tmp_path / 'runs.db'}"
    assert (tmp_path / "runs.db").is_file()
    _, run = only_run(f"sqlite:///{tmp_path / 'runs.db'}", "relative")
    assert run.info.artifact_uri.startswith((tmp_path / "mlartifacts").as_uri())


def test_a_warmed_worker_opens_the_store_before_any_run_and_serves_the_next_one(tmp_path):
    import sqlite3
    import time

    from netviz.mlflow_worker import store_lock
    from netviz.tracking import absolute_uri

    database = tmp_path / "mlflow.db"
    uri = absolute_uri(f"sqlite:///{database}")
    Tracker.warm_shared_worker(uri)
    worker = Tracker._shared_workers[uri]
    try:
        deadline, tables = time.monotonic() + 60, set()
        while "runs" not in tables and time.monotonic() < deadline:  # MLflow's schema, made by the warm-up alone
            if database.exists():
                with store_lock(str(database)), sqlite3.connect(database) as connection:
                    tables = {name for (name,) in connection.execute("select name from sqlite_master where type='table'")}
            time.sleep(0.2)
        assert "runs" in tables
        Tracker.warm_shared_worker(uri)  # warm already: the same worker
        assert Tracker._shared_workers[uri] is worker
        with Tracker(uri, experiment="t", run_name="after warm-up", share_worker=True) as tracker:
            assert tracker._worker is worker
        _, run = only_run(uri, "t")
        assert run.info.status == "FINISHED" and run.info.run_name == "after warm-up"
    finally:
        Tracker._shared_workers.pop(uri, None)
        worker.stdin.close()
        worker.wait(timeout=30)


def test_the_worker_ends_its_run_then_exits_without_the_final_collection(tmp_path):
    # The worker holds the command's output pipes until it exits, so its exit is part of every
    # tracked command's wall time (netviz.collector.skip_final_collection): a reference cycle kept
    # from the collector's passes while the worker runs (gc.disable) is not collected at exit either
    # (its finalizer never prints; a plain process collects it then), and the served run is complete.
    import subprocess
    import sys

    program = """
import gc, sys
from netviz import mlflow_worker
gc.disable()
class Cycle:
    def __del__(self):
        print("collected", file=sys.stderr, flush=True)
a, b = Cycle(), Cycle()
a.other, b.other = b, a
del a, b
mlflow_worker.main()
"""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    requests = [{"open": {"uri": uri, "experiment": "t", "artifact_location": None, "run_name": "served",
                          "tags": {}, "params": {"lr": 5}, "parent_run_id": None}},
                {"finish": {"status": "FINISHED", "reason": None}}]
    done = subprocess.run([sys.executable, "-c", program], input="".join(json.dumps(r) + "\n" for r in requests),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [json.loads(line)["to"] for line in done.stdout.splitlines()] == ["open", "finish"]
    assert "collected" not in done.stderr
    _, run = only_run(uri, "t")
    assert run.info.status == "FINISHED" and run.data.params == {"lr": "5"}


def test_a_tracked_job_starts_its_worker_before_importing_torch_and_writes_through_it(tmp_path):
    # MLflow's import (about 1.5 s) runs in the worker while the job imports its technique: the job
    # starts the worker before torch is imported, and its run is written through that one worker.
    import subprocess
    import sys

    program = """
import sys
events = []
def audit(event, args):
    if event == "import" and args[0] == "torch" and "torch" not in events:
        events.append("torch")
    elif event == "subprocess.Popen" and "netviz.mlflow_worker" in " ".join(map(str, args[1] or ())):
        events.append("worker")
sys.addaudithook(audit)
import atexit
atexit.register(lambda: print("events", *events))
from netviz.cli import run_hydra
run_hydra(sys.argv[1:])
"""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    job = ["technique=classviz", "model=squeezenet1_1", "model.weights=null", "iterations=2", f"tracking.uri={uri}",
           "trainer.accelerator=cpu", "trainer.progress=false", f"hydra.run.dir={tmp_path / 'run'}"]
    done = subprocess.run([sys.executable, "-c", program, *job], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-2:] == ["worker", "torch"], done.stdout
    _, run = only_run(uri, "classviz")
    assert run.info.status == "FINISHED"


@pytest.fixture
def spawned_workers(monkeypatch):
    """Every tracking worker this process starts during the test, as its ``Popen``."""
    from netviz import tracking

    spawned = []
    spawn = tracking._spawn_worker
    monkeypatch.setattr(tracking, "_spawn_worker", lambda: spawned.append(spawn()) or spawned[-1])
    return spawned


def assert_stopped_and_closed(worker) -> None:
    """A worker that is gone, waited for, and whose pipes are closed (nothing left to warn about)."""
    assert worker.returncode is not None and worker.stdin.closed and worker.stdout.closed


def test_a_job_refused_on_a_bad_value_stops_its_early_worker_and_makes_no_store(tmp_path, spawned_workers):
    database = tmp_path / "mlflow.db"
    with pytest.raises(NetvizError, match="iterations=0"):
        netviz.run(["technique=classviz", "model=squeezenet1_1", "model.weights=null", "iterations=0",
                    "trainer.accelerator=cpu", f"tracking.uri=sqlite:///{database}"])
    assert len(spawned_workers) == 1  # started before the config was checked
    assert_stopped_and_closed(spawned_workers[0])
    assert Tracker._spare_worker is None
    assert not database.exists()


def test_a_job_stopped_between_its_checks_and_its_run_stops_its_early_worker(tmp_path, spawned_workers, monkeypatch):
    # Anything that ends the job after its checks and before its run is opened (here: reading the
    # git commit for the run's tags) leaves no worker behind either, and the next run starts its own.
    from netviz import tracking

    def broken_git():
        raise RuntimeError("git went away")

    monkeypatch.setattr(tracking, "git_commit", broken_git)
    job = ["technique=classviz", "model=squeezenet1_1", "model.weights=null", "iterations=1",
           "trainer.accelerator=cpu", "trainer.progress=false", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"]
    with pytest.raises(RuntimeError, match="git went away"):
        netviz.run(job)
    assert len(spawned_workers) == 1
    assert_stopped_and_closed(spawned_workers[0])
    monkeypatch.undo()
    netviz.run(job)
    _, run = only_run(f"sqlite:///{tmp_path / 'mlflow.db'}", "classviz")
    assert run.info.status == "FINISHED"


def a_parent_with_one_child(client, experiment_id: str) -> str:
    """A sweep's parent run (as :class:`netviz.sweep.SweepCallback` makes it) and one finished child with a metric."""
    parent = client.create_run(experiment_id, run_name="sweep", tags={"netviz.sweep": "parent", "swept_keys": "lr"}).info.run_id
    child = client.create_run(experiment_id, run_name="child", tags={"mlflow.parentRunId": parent, "technique": "classviz"})
    client.log_param(child.info.run_id, "lr", "5")
    client.log_metric(child.info.run_id, "mean_final_probability", 0.5)
    client.set_terminated(child.info.run_id)
    return parent


def test_the_shared_worker_gives_a_sweep_its_summary_and_ends_the_parent_without_torch(tmp_path):
    from netviz.tracking import absolute_uri

    uri = absolute_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = MlflowClient(uri)
    parent = a_parent_with_one_child(client, client.create_experiment("s", artifact_location=(tmp_path / "artifacts").as_uri()))
    assert Tracker.finish_sweep_parent(uri, {"uri": uri, "parent": parent}) is None  # no worker: the caller does it
    worker = Tracker._shared_worker_for(uri)
    try:
        ended = Tracker.finish_sweep_parent(uri, {"uri": uri, "parent": parent, "title": "a sweep", "failed": False})
        with open(f"/proc/{worker.pid}/maps") as maps:  # the summary is drawn without importing torch
            assert "libtorch" not in maps.read()
    finally:
        Tracker._shared_workers.pop(uri, None)
        worker.stdin.close()
        worker.wait(timeout=30)
    assert ended["status"] == "FINISHED" and ended["problem"] is None and ended["figures"] == []
    run = client.get_run(parent)
    assert run.info.status == "FINISHED" and ended["experiment_id"] == run.info.experiment_id
    assert {"grid.png", "summary.csv", "summary.json"} <= {a.path for a in client.list_artifacts(parent)}


def test_a_sweep_summary_that_cannot_be_stored_ends_the_parent_failed_with_one_line(tmp_path):
    from netviz.sweep import finish_sweep

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    blocker = tmp_path / "a file"
    blocker.write_text("")
    client = MlflowClient(uri)
    parent = a_parent_with_one_child(client, client.create_experiment("s", artifact_location=(blocker / "artifacts").as_uri()))
    ended = finish_sweep(uri, parent)
    assert ended["status"] == "FAILED"
    assert ended["problem"].startswith("the sweep's summary could not be written") and "\n" not in ended["problem"]
    run = client.get_run(parent)
    assert run.info.status == "FAILED" and run.data.tags["netviz.failure"].startswith("summary could not be written")
