"""What a user sees in the MLflow UI: run names, params, summary metrics, live curves, sweeps as one
parent with children, the UI's links. Real stores read back with MlflowClient, real subprocesses."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
from tests.conftest import ROOT, run_cli, runs_of

import netviz
from netviz.composition import compose
from netviz.job import run_name

RANDOM_SQUEEZENET = ["model=squeezenet1_1", "model.weights=null", "trainer.accelerator=cpu", "trainer.progress=false"]
MAX_PARAMS = 30


@pytest.mark.parametrize(
    "overrides, subject, expected",
    [
        (["technique=classviz", "lr=5", "l2=1e-3"], None, "classviz Yorkshire terrier lr=5 l2=1e-3"),
        (["technique=classviz", "classviz.blur_every=2", "data.path=/a/very/long/path.npz"], None, "classviz Yorkshire terrier blur_every=2"),
        (["technique=adversarial", "target=stingray", "adversarial.method=pgd", "adversarial.eps=8"], "quail→stingray", "adversarial quail→stingray method=pgd eps=8"),
        (["experiment=fig9", "classviz.blur_every=2", "data.path=/x/y.npz"], None, "fig9 blur_every=2"),
    ],
)
def test_run_names_say_what_distinguishes_the_run_and_never_a_path(overrides, subject, expected):
    name = run_name(compose(overrides), overrides, subject)
    assert name == expected
    assert "/" not in name and len(name) <= 45


def test_each_technique_logs_few_params_and_its_summary_metrics(tracking_uri):
    jobs = {
        "saliency": ([], {"top1_accuracy", "mean_prob_predicted"}),
        "classviz": (["iterations=3"], {"mean_final_probability", "mean_final_score", "target_top1_rate"}),
        "adversarial": (
            ["data.indices=[0]", "target=[1,2,3]", "adversarial.method=pgd", "iterations=2"],
            {"fooled_rate", "png_fooled_rate", "mean_target_prob_end", "mean_perturbation_linf_255"},
        ),
    }
    for technique, (extra, summary) in jobs.items():
        netviz.run([f"technique={technique}", *RANDOM_SQUEEZENET, f"tracking.uri={tracking_uri}", *extra])
        _, (run,) = runs_of(tracking_uri, technique)
        assert run.info.status == "FINISHED"
        assert summary <= set(run.data.metrics), (technique, sorted(run.data.metrics))
        assert len(run.data.params) <= MAX_PARAMS, (technique, sorted(run.data.params))
        assert not any(key.startswith(("tracking.", "debug", "trainer.progress", "figure")) for key in run.data.params)
        assert not any(value == "None" for value in run.data.params.values()), technique
        assert not any(key.startswith(("top1_class", "top2_class")) for key in run.data.metrics)  # class names are not metrics
        for key in run.data.metrics:
            assert key.count("/") <= 2 and "→" not in key
        if technique == "adversarial":  # 3 pairs: the key budget of the MLflow view
            assert len(run.data.metrics) <= 30, sorted(run.data.metrics)
            assert technique not in {k.split(".")[0] for k in run.data.params if k.startswith("classviz")}
        if technique == "saliency":
            assert not any(key.startswith(("lr", "l2", "adversarial.", "classviz.")) for key in run.data.params)


@pytest.mark.slow
def test_step_metrics_reach_the_store_while_the_job_runs(tracking_uri):
    from mlflow import MlflowClient

    from netviz.mlflow_worker import store_lock

    job = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "technique=classviz", "iterations=200", "trainer.log_every=5", *RANDOM_SQUEEZENET,
         f"tracking.uri={tracking_uri}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    database = tracking_uri.removeprefix("sqlite:///")
    seen_running = None
    try:
        deadline = time.monotonic() + 240
        while job.poll() is None and time.monotonic() < deadline:
            if (ROOT / database).exists() or __import__("os").path.exists(database):
                with store_lock(database):
                    client = MlflowClient(tracking_uri)
                    found = client.get_experiment_by_name("classviz")
                    runs = client.search_runs([found.experiment_id]) if found else []
                if runs and runs[0].info.status == "RUNNING":
                    scores = [k for k in runs[0].data.metrics if k.startswith("score/")]
                    if scores and len(client.get_metric_history(runs[0].info.run_id, scores[0])) >= 2:
                        seen_running = len(client.get_metric_history(runs[0].info.run_id, scores[0]))
                        break
            time.sleep(0.3)
        _, stderr = job.communicate(timeout=300)
    finally:
        job.kill()
    assert seen_running, "no step metric reached the store while the job ran"
    assert job.returncode == 0, stderr[-2000:]
    _, (run,) = runs_of(tracking_uri, "classviz")
    key = next(k for k in run.data.metrics if k.startswith("score/"))
    history = MlflowClient(tracking_uri).get_metric_history(run.info.run_id, key)
    steps = [m.step for m in history]
    assert len(steps) == len(set(steps)) > seen_running  # every point once: live points are not written again


@pytest.mark.slow
def test_a_four_job_multirun_is_one_parent_with_four_children_and_its_summary(tracking_uri, tmp_path):
    done = run_cli("-m", "technique=classviz", "iterations=2", "lr=1,5", "l2=0,1e-3", *RANDOM_SQUEEZENET, f"tracking.uri={tracking_uri}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "?workflowType=machine_learning" in done.stderr  # each job and the sweep print their link
    client, runs = runs_of(tracking_uri, "classviz")
    (parent,) = [r for r in runs if r.data.tags.get("netviz.sweep") == "parent"]
    children = [r for r in runs if r is not parent]
    assert len(children) == 4 and {r.data.tags["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    names = [r.info.run_name for r in children]
    assert len(set(names)) == 4 and not any("/" in n for n in names)
    assert parent.data.tags["swept_keys"] == "lr, l2" and "lr=1,5" in parent.data.tags["command"]
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"grid.png", "summary.csv", "summary.json"} <= artifacts
    table = open(client.download_artifacts(parent.info.run_id, "summary.csv", str(tmp_path))).read().splitlines()
    assert len(table) == 5 and "mean_final_probability" in table[0]


def test_make_ui_refuses_a_taken_port_in_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "netviz.ui", "--store", f"sqlite:///{tmp_path / 'mlflow.db'}", "--port", str(port)],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
        )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert f"port {port} is already in use" in line and f"PORT={port + 1}" in line
