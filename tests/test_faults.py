"""Jobs that end badly end honestly: signals, killed processes, failing sweep jobs, bad stores.

Real ``python run.py`` processes, real SQLite stores read back with ``MlflowClient``, real signals
sent to the job's process group (as a terminal's Ctrl-C, ``timeout`` or a scheduler sends them).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
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


def start_job(*args: str, cwd: Path = ROOT, env: dict | None = None, prefix: tuple[str, ...] = (), stderr=subprocess.PIPE) -> subprocess.Popen:
    """``python run.py`` in a new process group of its own, as a shell would start it (``prefix``: a
    command that runs it, such as ``setpriv``; ``env``: variables added to this environment)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen(
        [*prefix, sys.executable, str(ROOT / "run.py"), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
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


def test_a_sweep_whose_jobs_fail_alike_says_the_error_once(tracking_uri):
    done = run_cli("-m", "technique=classviz", "model=squeezenet1_1", "model.weights=null", "iterations=2",
                   "target=notaclass", "lr=1,2,3", f"tracking.uri={tracking_uri}", "trainer.accelerator=cpu")
    assert done.returncode == 1, done.stderr[-3000:]
    (line,) = [line for line in done.stderr.splitlines() if "jobs failed" in line]
    assert line.startswith("netviz: error: 3 of 3 jobs failed: jobs 0-2: ") and line.count("notaclass") == 1, line


def test_a_sweep_run_again_into_its_folder_counts_only_this_runs_failures(tracking_uri, tmp_path):
    sweep = ["-m", "technique=classviz", "model=squeezenet1_1", "model.weights=null", "iterations=1",
             "trainer.accelerator=cpu", f"tracking.uri={tracking_uri}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    first = run_cli(*sweep, "target=snail,notaclass", cwd=tmp_path)
    assert first.returncode == 1 and "1 of 2 jobs failed" in first.stderr, first.stderr[-3000:]
    again = run_cli(*sweep, "target=snail,tabby", cwd=tmp_path)  # job 1's folder holds the first run's note
    assert again.returncode == 0 and "jobs failed" not in again.stderr, again.stderr[-3000:]


def test_the_failure_account_names_jobs_in_number_order_and_each_error_once():
    from netviz.sweep import failure_account

    notes = [{"job": 10, "overrides": "lr=3", "error": "no such class"},
             {"job": 3, "overrides": "lr=1 target=x", "error": "out of memory"},
             {"job": 2, "overrides": "lr=2", "error": "no such class"},
             {"job": 11, "overrides": "lr=4", "error": "no such class"}]
    assert failure_account(notes) == "jobs 2, 10-11: no such class; job 3 (lr=1 target=x): out of memory"


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


@pytest.mark.parametrize("store", ["not a database", "a folder"])
def test_a_sweep_into_a_store_it_cannot_use_fails_in_one_line_before_any_job(tmp_path, store):
    path = tmp_path / "mlflow.db"
    if store == "a folder":
        path.mkdir()
    else:
        path.write_text("notes, not a database\n")
    sweep = tmp_path / "sweep"
    done = run_cli("-m", "technique=classviz", "model=squeezenet1_1", "model.weights=null", "iterations=2", "lr=0.1,5",
                   "trainer.accelerator=cpu", f"tracking.uri=sqlite:///{path}", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    line = one_line_error(done)
    assert str(path) in line and ("is a folder" if store == "a folder" else "is not an SQLite database") in line
    assert not list(sweep.glob("*/.hydra"))  # no job started
    if store != "a folder":
        assert path.read_text() == "notes, not a database\n"  # left as it was


@pytest.mark.parametrize("signal_number, exit_status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_a_signal_before_a_batched_sweeps_jobs_leaves_its_parent_failed_not_running(tmp_path, signal_number, exit_status):
    # The batched launcher imports and computes the grid before any job's run exists; the parent run
    # is made by the sweep's tracking worker meanwhile (netviz.sweep). A signal then must not leave it RUNNING.
    uri, sweep = f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "sweep"
    job = start_job("-m", *LONG_JOB, "lr=0.1,5", f"tracking.uri={uri}", f"hydra.sweep.dir={sweep}", "hydra/launcher=batched", cwd=tmp_path)
    try:
        wait_for(lambda: (sweep / ".netviz_parent_run").exists())  # the worker has made the parent
        parent = (sweep / ".netviz_parent_run").read_text().strip()
        assert the_run(uri).info.run_id == parent and the_run(uri).info.status == "RUNNING"
        os.killpg(job.pid, signal_number)
        _, stderr = job.communicate(timeout=60)
    finally:
        job.kill()
    assert job.returncode == exit_status, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if line.startswith("netviz: error:")]
    assert len(errors) == 1 and f"interrupted by {signal.Signals(signal_number).name}" in errors[0] and "Traceback" not in stderr, stderr[-2000:]
    run = the_run(uri)
    assert run.info.run_id == parent and run.info.status == "FAILED", stderr[-2000:]
    assert run.data.tags["netviz.failure"] == "the sweep ended before all its jobs had run"
    assert len(runs_of(uri, "classviz")[1]) == 1  # no job had opened a run


# ----- a signal during final logging ---------------------------------------------------------------

needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="watches the job and its worker through /proc (Linux)")


def classviz_job(iterations: int) -> tuple[str, ...]:
    return (*LONG_JOB[:3], f"iterations={iterations}", *LONG_JOB[4:])


def start_observed_job(tmp_path: Path, uri: str, iterations: int) -> tuple[subprocess.Popen, Path, Path]:
    """``(job, its staging root, its stderr file)``: a classviz job whose staging folder is made in
    ``tmp_path/tmp`` (its TMPDIR), and whose stderr, and its worker's, go to ``tmp_path/stderr.txt``."""
    staging_root, stderr_file = tmp_path / "tmp", tmp_path / "stderr.txt"
    staging_root.mkdir()
    with open(stderr_file, "w") as stderr_sink:
        job = start_job(*classviz_job(iterations), f"tracking.uri={uri}", env={"TMPDIR": str(staging_root)}, stderr=stderr_sink)
    return job, staging_root, stderr_file


def pid_exists(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def worker_of(job: subprocess.Popen) -> int | None:
    """The pid of the job's MLflow worker process (a child of the job), or ``None`` before it starts."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == job.pid and b"netviz.mlflow_worker" in (stat.parent / "cmdline").read_bytes():
                return int(stat.parent.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


def waits_on_the_store(job: subprocess.Popen, staging_root: Path) -> bool:
    """Whether the job is inside final logging, waiting for its worker's answer: its result is staged
    (:meth:`Tracker.log_result` makes ``run/`` in the job's staging folder, ``netviz-*`` under its
    TMPDIR, once the loop is over) and its main thread sleeps in a read from a pipe (the kernel's
    ``wchan``: ``pipe_read``, ``anon_pipe_read``, ``pipe_wait``)."""
    try:
        waiting_in = Path(f"/proc/{job.pid}/task/{job.pid}/wchan").read_text()
    except OSError:
        return False
    return "pipe" in waiting_in and any(staging_root.glob("netviz-*/run"))


def stall_the_store_until_final_logging(job: subprocess.Popen, staging_root: Path) -> int:
    """Stop the job's worker as soon as it starts (the store stalls, as a hung one does) and return its
    pid once the job's loop is over and the job waits on the store inside final logging (it cannot
    leave it while the worker is stopped)."""
    worker = wait_for(lambda: worker_of(job), every=0.01)
    os.kill(worker, signal.SIGSTOP)
    wait_for(lambda: waits_on_the_store(job, staging_root) or job.poll() is not None, every=0.02)
    assert job.poll() is None, "the job ended while its store was stalled"
    return worker


def still_running_after(job: subprocess.Popen, seconds: float) -> bool:
    """Whether ``job`` is still running ``seconds`` from now (it is waited for that long, no longer)."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        job.wait(timeout=seconds)
    return job.poll() is None


@needs_proc
@pytest.mark.parametrize("signal_number, exit_status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["sigterm", "ctrl-c"])
def test_a_signal_during_final_logging_ends_the_run_killed_and_the_next_job_works(tracking_uri, tmp_path, signal_number, exit_status):
    """The signal reaches the job's group while the job writes its result to a stalled store, without
    racing the job: its worker (the store's writer) is stopped from its start, as a hung store stops
    it, so the job is held inside final logging (the result staged, waiting for the store); the job is
    paused while the worker catches up (the run exists, RUNNING, its live points written), the worker
    stalls again, and the signal is sent. The job may end only once the store has the run KILLED."""
    from mlflow import MlflowClient  # noqa: F401 - imported before the job starts, so that polling is quick

    job, staging_root, stderr_file = start_observed_job(tmp_path, tracking_uri, iterations=10)
    worker = None
    try:
        worker = stall_the_store_until_final_logging(job, staging_root)
        os.kill(job.pid, signal.SIGSTOP)
        os.kill(worker, signal.SIGCONT)
        wait_for(lambda: step_metrics_logged(tracking_uri), every=0.05)
        assert the_run(tracking_uri).info.status == "RUNNING"
        os.kill(worker, signal.SIGSTOP)
        os.killpg(job.pid, signal_number)  # pending until the job goes on, where it waited on the store
        os.kill(job.pid, signal.SIGCONT)
        assert still_running_after(job, 2), "the job ended before the store had its run's status"
        os.kill(worker, signal.SIGCONT)
        job.wait(timeout=60)
        status_when_the_job_ended = the_run(tracking_uri).info.status
        wait_for(lambda: not pid_exists(worker), timeout=30)  # its stderr is complete
    finally:
        for pid in (worker, job.pid):
            with contextlib.suppress(ProcessLookupError, TypeError):
                os.kill(pid, signal.SIGCONT)
        job.kill()
    stderr = stderr_file.read_text()  # the job's and its worker's
    assert job.returncode == exit_status, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if line.startswith("netviz: error:")]
    assert len(errors) == 1 and "interrupted" in errors[0] and "KILLED" in errors[0], stderr[-2000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr and "Exception ignored" not in stderr, stderr[-2000:]
    assert status_when_the_job_ended == "KILLED"
    assert not any(staging_root.glob("netviz-*")), "the staging folder is left behind"
    done = run_cli(*classviz_job(2), f"tracking.uri={tracking_uri}")
    assert done.returncode == 0, done.stderr[-2000:]
    _, runs = runs_of(tracking_uri, "classviz")
    assert sorted(r.info.status for r in runs) == ["FINISHED", "KILLED"]


@needs_proc
def test_a_job_killed_during_final_logging_leaves_its_run_failed_not_running(tracking_uri, tmp_path):
    """SIGKILL (no handler runs) while the job waits on the store for its result: the worker's answer
    then goes to a job that is gone, and the worker still ends the run FAILED when its input ends."""
    job, staging_root, stderr_file = start_observed_job(tmp_path, tracking_uri, iterations=4)
    worker = None
    try:
        worker = stall_the_store_until_final_logging(job, staging_root)
        os.kill(job.pid, signal.SIGKILL)
        job.wait(timeout=30)
        os.kill(worker, signal.SIGCONT)  # it opens the run and answers, into a closed pipe
        assert status_after(tracking_uri) == "FAILED"
        wait_for(lambda: not pid_exists(worker), timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError, TypeError):
            os.kill(worker, signal.SIGCONT)
        job.kill()
    from mlflow import MlflowClient

    run = the_run(tracking_uri)
    assert "without finishing" in MlflowClient(tracking_uri).get_run(run.info.run_id).data.tags["netviz.failure"]
    stderr = stderr_file.read_text()
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr[-2000:]


# ----- a store that fails mid-run ------------------------------------------------------------------

UNPRIVILEGED = ("setpriv", "--bounding-set=-all", "--inh-caps=-all")  # root without capabilities: file modes bind it


def without_privileges() -> tuple[str, ...]:
    """A command prefix under which file permissions bind the job: none for a plain user; for root,
    ``setpriv`` dropping every capability (root's own files stay readable, so the installed packages
    still import); skip if root cannot drop them here."""
    if os.geteuid() != 0:
        return ()
    probe = Path(tempfile.mkdtemp()) / "read-only"
    probe.write_text("")
    probe.chmod(0o444)
    try:
        tried = subprocess.run([*UNPRIVILEGED, "sh", "-c", f"echo x >> {probe}"], capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("root here, and setpriv cannot start a process without capabilities: file modes do not bind root")
    finally:
        probe.unlink()
        probe.parent.rmdir()
    if tried.returncode == 0:
        pytest.skip("root here, and dropping capabilities with setpriv does not make a read-only file unwritable")
    return UNPRIVILEGED


def fault_mid_loop(job: subprocess.Popen, uri: str, staging_root: Path, fault) -> None:
    """Apply ``fault()`` to the store while the job's loop runs: the job is paused once its live step
    metrics reach the store, checked to be still in its loop (its staging folder, made when the run is
    opened and removed when it ends, holds no result yet), faulted, and resumed."""
    wait_for(lambda: step_metrics_logged(uri) or job.poll() is not None, every=0.1)
    os.kill(job.pid, signal.SIGSTOP)
    try:
        staging = list(staging_root.glob("netviz-*"))
        in_loop = job.poll() is None and len(staging) == 1 and not (staging[0] / "run").exists()
        assert in_loop, "the loop ended before the fault; give the job more iterations"
        fault()
    finally:
        os.kill(job.pid, signal.SIGCONT)


def assert_one_line_about_the_store(stderr: str, database: Path, cause: str) -> None:
    errors = [line for line in stderr.splitlines() if line.startswith("netviz: error:")]
    assert len(errors) == 1 and str(database) in errors[0] and cause in errors[0], stderr[-3000:]
    for noise in ("Traceback", "autoflush", "Warning", "Exception ignored", "sqlalchemy"):
        assert noise not in stderr, stderr[-3000:]


STORE_JOB = classviz_job(300)  # a loop of seconds, still running when its live points show


def test_a_store_made_read_only_mid_run_fails_the_job_in_one_line_and_the_next_job_fails_its_run(tmp_path):
    prefix = without_privileges()
    store, staging_root = tmp_path / "store", tmp_path / "tmp"
    store.mkdir()
    staging_root.mkdir()
    database = store / "mlflow.db"
    uri = f"sqlite:///{database}"

    def read_only():
        database.chmod(0o444)
        store.chmod(0o555)  # nor can SQLite make its journal beside it

    job = start_job(*STORE_JOB, f"tracking.uri={uri}", cwd=tmp_path, env={"TMPDIR": str(staging_root)}, prefix=prefix)
    try:
        fault_mid_loop(job, uri, staging_root, read_only)
        _, stderr = job.communicate(timeout=120)
    finally:
        job.kill()
        store.chmod(0o755)
        database.chmod(0o644)
    assert job.returncode != 0, stderr[-3000:]
    assert_one_line_about_the_store(stderr, database, "read-only")
    # The live points lost while the store was read-only did not stop the loop: it ran to its end.
    assert any("classviz: 300 steps" in log.read_text() for log in (tmp_path / "outputs").rglob("*.log"))
    assert not any(staging_root.glob("netviz-*")), "the staging folder is left behind"
    # The job could not end its run (the store refused every write); the next job into the store does.
    assert the_run(uri).info.status == "RUNNING"
    done = run_cli("model=squeezenet1_1", "model.weights=null", f"tracking.uri={uri}", "trainer.accelerator=cpu", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    from mlflow import MlflowClient

    run = MlflowClient(uri).get_run(the_run(uri).info.run_id)
    assert run.info.status == "FAILED" and "without finishing" in run.data.tags["netviz.failure"]
    _, runs = runs_of(uri, "saliency")
    assert [r.info.status for r in runs] == ["FINISHED"]


def test_a_store_deleted_mid_run_fails_the_job_in_one_line_saying_the_results_were_not_saved(tmp_path):
    store, staging_root = tmp_path / "store", tmp_path / "tmp"
    store.mkdir()
    staging_root.mkdir()
    database = store / "mlflow.db"
    uri = f"sqlite:///{database}"
    job = start_job(*STORE_JOB, f"tracking.uri={uri}", cwd=tmp_path, env={"TMPDIR": str(staging_root)})
    try:
        fault_mid_loop(job, uri, staging_root, database.unlink)  # SQLite goes on writing to the unlinked file
        _, stderr = job.communicate(timeout=120)
    finally:
        job.kill()
    assert job.returncode != 0
    assert_one_line_about_the_store(stderr, database, "was deleted while the job ran; the run's results were not saved")
    assert not any(staging_root.glob("netviz-*")), "the staging folder is left behind"
    done = run_cli(*classviz_job(2), f"tracking.uri={uri}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    # This process's MLflow still reads the deleted file through its connections for ``uri``; the
    # same path spelled another way opens the file there now: a new store, without the lost run.
    _, runs = runs_of(f"sqlite:///{store}/./mlflow.db", "classviz")
    assert [(r.info.status, r.data.params["classviz.iterations"]) for r in runs] == [("FINISHED", "2")]


@needs_proc
def test_a_signal_while_the_store_hangs_and_its_writer_then_dies_still_ends_the_job(tracking_uri, tmp_path):
    """SIGTERM while the job waits on a hung store; the job waits for the store's answers, then its
    worker dies (SIGKILL): the job stops waiting at once and exits 143, its staging folder removed."""
    job, staging_root, stderr_file = start_observed_job(tmp_path, tracking_uri, iterations=4)
    worker = None
    try:
        worker = stall_the_store_until_final_logging(job, staging_root)
        os.killpg(job.pid, signal.SIGTERM)
        assert still_running_after(job, 2), "the job ended before its store answered"
        os.kill(worker, signal.SIGKILL)
        job.wait(timeout=30)
    finally:
        job.kill()
    stderr = stderr_file.read_text()
    assert job.returncode == 143, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]
    assert not any(staging_root.glob("netviz-*")), "the staging folder is left behind"
