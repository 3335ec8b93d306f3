"""Sweeps at scale: Hydra's launchers (joblib, submitit, Ray) and an MLflow server, into one store that
loses nothing. Real launchers, real servers on loopback ports, real stores read back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import free_port, mlflow_server, run_cli, runs_of

pytestmark = pytest.mark.slow

# A cheap job: saliency maps of the four bundled photos with a random SqueezeNet.
CHEAP = ("model=squeezenet1_1", "model.weights=null", "trainer.accelerator=cpu", "trainer.progress=false")


def sweep_runs(uri: str, experiment: str = "saliency"):
    """``(parent, children in job order)`` of the store's one sweep."""
    client, runs = runs_of(uri, experiment)
    parents = [r for r in runs if r.data.tags.get("netviz.sweep") == "parent"]
    assert len(parents) == 1, [r.info.run_name for r in runs]
    children = sorted((r for r in runs if r not in parents), key=lambda r: int(r.data.tags["job_num"]))
    return client, parents[0], children


def assert_complete(client, parent, children, jobs: int) -> None:
    """Every job's run is there, FINISHED, a child of the parent, with its params, metrics and panels."""
    assert len(children) == jobs
    assert {r.info.status for r in children} == {"FINISHED"}
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    assert len({r.info.run_name for r in children}) == jobs
    for run in children:
        assert run.data.params["model.name"] == "squeezenet1_1"
        assert "top1_accuracy" in run.data.metrics
        assert len(client.list_artifacts(run.info.run_id, "panels")) == 4
    parent = client.get_run(parent.info.run_id)
    assert parent.info.status == "FINISHED", parent.data.tags.get("netviz.failure")
    assert {"grid.png", "summary.csv", "summary.json"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}


@pytest.mark.parametrize("n_jobs", [2, 4])
@pytest.mark.parametrize("repeat", [1, 2, 3])
def test_joblib_jobs_in_parallel_into_a_fresh_store_lose_nothing(tmp_path, n_jobs, repeat):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = run_cli(
        "-m", "hydra/launcher=joblib", f"hydra.launcher.n_jobs={n_jobs}", "seed=1,2,3,4", *CHEAP, f"tracking.uri={uri}", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    client, parent, children = sweep_runs(uri)
    assert_complete(client, parent, children, 4)
    assert sorted(r.data.params["seed"] for r in children) == ["1", "2", "3", "4"]


def test_submitit_local_sweep_lands_under_one_parent(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    done = run_cli("-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "seed=1,2", *CHEAP, f"tracking.uri={uri}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    client, parent, children = sweep_runs(uri)
    assert_complete(client, parent, children, 2)


def test_a_sweep_logs_through_an_mlflow_server(tmp_path):
    with mlflow_server(tmp_path) as uri:
        done = run_cli("-m", "seed=1,2", *CHEAP, f"tracking.uri={uri}", cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        client, parent, children = sweep_runs(uri)
        assert_complete(client, parent, children, 2)


def test_a_sweep_runs_on_a_local_ray_cluster(tmp_path, monkeypatch):
    ray = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    port = free_port()
    # Ray turns 127.0.0.1 into the machine's network address unless told this is a one-machine
    # cluster; this keeps the head, its workers and the driver on the loopback address.
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    env = dict(os.environ)
    start = [ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"]
    subprocess.run(start, check=True, timeout=180, env=env, capture_output=True)
    try:
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        done = run_cli(
            "-m", "hydra/launcher=ray_cluster", f"hydra.launcher.ray.init.address=127.0.0.1:{port}",
            "+hydra.launcher.ray.init._node_ip_address=127.0.0.1", "seed=1,2", *CHEAP, f"tracking.uri={uri}",
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        client, parent, children = sweep_runs(uri)
        assert_complete(client, parent, children, 2)
    finally:
        subprocess.run([ray, "stop", "--force"], timeout=120, env=env, capture_output=True)


def test_resume_skips_the_jobs_that_already_finished(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = run_cli("-m", "seed=1,2", *CHEAP, f"tracking.uri={uri}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    again = run_cli("-m", "resume=true", "seed=1,2,3", *CHEAP, f"tracking.uri={uri}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("skipped: run") == 2
    _, runs = runs_of(uri, "saliency")
    jobs = [r for r in runs if r.data.tags.get("netviz.sweep") != "parent"]
    assert sorted(r.data.params["seed"] for r in jobs) == ["1", "2", "3"]  # seed 3 ran, 1 and 2 were not run again
