"""Jobs that end badly end honestly: signals, killed processes, failing sweep jobs, bad stores.

Real ``python run.py`` processes, real SQLite stores read back with ``MlflowClient``, real signals
sent to the job's process group (as a terminal's Ctrl-C, ``timeout`` or a scheduler sends them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import ROOT, one_line_error, run_cli, runs_of

pytestmark = pytest.mark.slow

# A loop long enough to be interrupted, on a light random network (no weights to load).
LONG_JOB = (
    "technique=classviz",
    "model=squeezenet1_1",
    "model.weights=null",
    "iterations=5000",
    "trainer.log_every=2",
    "trainer.accelerator=cpu",
)


def start_job(*args: str, cwd: Path = ROOT) -> subprocess.Popen:
    """``python run.py`` in a new process group of its own, as a shell would start it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(condition, timeout: float = 90.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


def the_run(uri: str, experiment: str = "classviz"):
    """The job's run, or ``None`` before it exists (polling takes the store's creation lock, as jobs
    do, so that it never races the job's worker on a fresh store's migration)."""
    from netviz.mlflow_worker import store_lock
    from netviz.tracking import sqlite_path

    database = sqlite_path(uri)
    if not database.exists():
        return None
    with store_lock(str(database)):
        _, runs = runs_of(uri, experiment)
    return runs[0] if runs else None


def step_metrics_logged(uri: str) -> bool:
    run = the_run(uri)
    if run is None:
        return False
    from mlflow import MlflowClient

    return any(key.startswith("score/") for key in run.data.metrics) and bool(
        MlflowClient(uri).get_metric_history(run.info.run_id, next(k for k in run.data.metrics if k.startswith("score/")))
    )


def status_after(uri: str, timeout: float = 30.0) -> str:
    """The run's status once it is no longer RUNNING (the worker may need a moment)."""
    return wait_for(lambda: (r := the_run(uri)) is not None and r.info.status != "RUNNING" and r.info.status, timeout)


@pytest.mark.parametrize(
    "signal_number, to_group, exit_status",
    [(signal.SIGINT, True, 130), (signal.SIGTERM, True, 143), (signal.SIGTERM, False, 143)],
    ids=["ctrl-c", "sigterm-to-group", "sigterm-to-job"],
)
def test_a_signal_mid_loop_ends_the_job_non_zero_with_one_line_and_the_run_killed(
    tracking_uri, signal_number, to_group, exit_status
):
    job = start_job(*LONG_JOB, f"tracking.uri={tracking_uri}")
    try:
        # Live step metrics reach the store while the loop runs: the loop is running now.
        wait_for(lambda: step_metrics_logged(tracking_uri))
        assert the_run(tracking_uri).info.status == "RUNNING"
        (os.killpg if to_group else os.kill)(job.pid, signal_number)
        _, stderr = job.communicate(timeout=60)
    finally:
        job.kill()
    assert job.returncode == exit_status, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if line.startswith("netviz: error:")]
    assert len(errors) == 1 and "interrupted" in errors[0], stderr[-2000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-2000:]
    assert status_after(tracking_uri) == "KILLED"


def test_sigterm_before_the_loop_leaves_no_running_run(tracking_uri):
    job = start_job(*LONG_JOB, f"tracking.uri={tracking_uri}")
    try:
        wait_for(lambda: the_run(tracking_uri) is not None, every=0.05)  # the run exists; the model is loading
        os.killpg(job.pid, signal.SIGTERM)
        job.communicate(timeout=60)
    finally:
        job.kill()
    assert job.returncode == 143
    assert status_after(tracking_uri) in ("KILLED", "FAILED")


def test_sigterm_while_starting_exits_non_zero(tracking_uri):
    job = start_job(*LONG_JOB, f"tracking.uri={tracking_uri}")
    time.sleep(0.5)  # still importing: no run yet
    os.killpg(job.pid, signal.SIGTERM)
    job.communicate(timeout=60)
    assert job.returncode != 0
    time.sleep(3)
    run = the_run(tracking_uri)
    assert run is None or run.info.status != "RUNNING"


def test_a_killed_job_does_not_leave_its_run_running_and_the_store_still_works(tracking_uri):
    job = start_job(*LONG_JOB, f"tracking.uri={tracking_uri}")
    try:
        wait_for(lambda: step_metrics_logged(tracking_uri))
        os.kill(job.pid, signal.SIGKILL)  # what the OOM killer does: no handler runs
        job.communicate(timeout=30)
    finally:
        job.kill()
    run = the_run(tracking_uri)
    assert status_after(tracking_uri) == "FAILED"
    from mlflow import MlflowClient

    assert "without finishing" in MlflowClient(tracking_uri).get_run(run.info.run_id).data.tags["netviz.failure"]
    done = run_cli("model=squeezenet1_1", "model.weights=null", f"tracking.uri={tracking_uri}", "trainer.accelerator=cpu")
    assert done.returncode == 0, done.stderr[-2000:]
    _, runs = runs_of(tracking_uri, "saliency")
    assert [r.info.status for r in runs] == ["FINISHED"]


def test_a_sweep_survives_a_failing_job_and_says_so(tracking_uri):
    done = run_cli(
        "-m",
        "technique=classviz",
        "model=squeezenet1_1",
        "model.weights=null",
        "iterations=2",
        "target=snail,notaclass,tabby",
        f"tracking.uri={tracking_uri}",
        "trainer.accelerator=cpu",
    )
    assert done.returncode == 1, done.stderr[-3000:]
    summary = [line for line in done.stderr.splitlines() if "1 of 3 jobs failed" in line]
    assert len(summary) == 1 and "notaclass" in summary[0], done.stderr[-3000:]
    client, runs = runs_of(tracking_uri, "classviz")
    parent = [r for r in runs if r.data.tags.get("netviz.sweep") == "parent"]
    children = sorted((r for r in runs if r not in parent), key=lambda r: int(r.data.tags["job_num"]))
    assert [r.info.status for r in children] == ["FINISHED", "FAILED", "FINISHED"]  # the third job ran
    assert "notaclass" in children[1].data.tags["netviz.failure"]
    assert len(parent) == 1 and parent[0].info.status == "FAILED"
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent[0].info.run_id}


def test_jobs_started_in_the_same_second_keep_their_own_hydra_files(tracking_uri, tmp_path):
    seeds = [11, 12, 13, 14]
    jobs = [
        start_job("model=squeezenet1_1", "model.weights=null", f"seed={seed}", f"tracking.uri={tracking_uri}", "trainer.accelerator=cpu", cwd=tmp_path)
        for seed in seeds
    ]
    for job in jobs:
        job.communicate(timeout=300)
        assert job.returncode == 0
    folders = list((tmp_path / "outputs").glob("*/*"))
    assert len(folders) == 4
    client, runs = runs_of(tracking_uri, "saliency")
    for run in runs:
        local = client.download_artifacts(run.info.run_id, "hydra/overrides.yaml", str(tmp_path / run.info.run_id))
        assert f"seed={run.data.params['seed']}" in Path(local).read_text()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["tracking.uri=http://127.0.0.1:9"], "no MLflow server answers"),
        (["tracking.uri=just some words"], "not a tracking store URI"),
        (["tracking.uri=file:///tmp/mlruns"], "no file store"),
        (["tracking.experiment=.."], "not an experiment name"),
        (["trainer.accelerator=cpuu"], "did you mean 'cpu'"),
        (["figure=/proc/netviz/fig.png"], "cannot be written"),
        (["figure=figure_without_suffix"], "no image suffix"),
        (["technique=adversarial", "target=bee", "eater"], "needs quotes"),
        (["adversarial.eps=4"], "belongs to technique=adversarial"),
    ],
)
def test_bad_settings_fail_in_seconds_before_any_work(args, fragment, tmp_path):
    started = time.monotonic()
    done = run_cli("model=squeezenet1_1", "model.weights=null", *args, cwd=tmp_path)
    assert fragment in one_line_error(done)
    assert time.monotonic() - started < 30
    assert not (tmp_path / "mlflow.db").exists() or "tracking.uri" not in " ".join(args)


def test_a_folder_given_as_the_store_file_is_refused(tmp_path):
    done = run_cli(f"tracking.uri=sqlite:///{tmp_path}", "model=squeezenet1_1", "model.weights=null")
    assert "is a folder" in one_line_error(done)
