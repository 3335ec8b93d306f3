"""``technique=classviz`` from the command line: the headline sweep, a report figure end to end, bad input.

Real subprocesses, the offline pretrained model, a temporary MLflow store, few iterations.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import COURSE_NPZ, ROOT, one_line_error, run_cli, runs_of

pytestmark = pytest.mark.slow
FAST = ("model=efficientnet_lite0", "trainer.accelerator=cpu", "trainer.progress=false")


def classviz_runs(uri: str):
    """The jobs' runs (the sweep's parent run left out)."""
    client, runs = runs_of(uri, "classviz")
    return client, [r for r in runs if r.data.tags.get("netviz.sweep") != "parent"]


def test_headline_sweep_runs_nine_jobs_with_distinct_lr_and_l2(tracking_uri, tmp_path):
    done = run_cli(
        "-m", "technique=classviz", "lr=0.1,5,10", "l2=1e-5,1e-3,1e-2", "iterations=2", *FAST,
        f"tracking.uri={tracking_uri}", f"hydra.sweep.dir={tmp_path / 'multirun'}",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    client, runs = classviz_runs(tracking_uri)
    assert len(runs) == 9
    pairs = {(float(r.data.params["classviz.lr"]), float(r.data.params["classviz.l2"])) for r in runs}
    assert pairs == {(lr, l2) for lr in (0.1, 5.0, 10.0) for l2 in (1e-5, 1e-3, 1e-2)}
    assert all(r.info.status == "FINISHED" for r in runs)
    assert len({r.data.tags["sweep_id"] for r in runs}) == 1
    run = runs[0]
    assert {"score/Yorkshire terrier", "probability/Yorkshire terrier", "regularizer/Yorkshire terrier",
            "final_probability/Yorkshire terrier", "mean_final_probability", "mean_final_score",
            "target_top1_rate"} <= set(run.data.metrics)
    assert not any(key.startswith("top") for key in run.data.metrics)  # class indices are no metrics
    history = client.get_metric_history(run.info.run_id, "probability/Yorkshire terrier")
    assert sorted({m.step for m in history}) == [0, 2]  # the curve ends on the final evaluation, after 2 updates
    images = [a.path for a in client.list_artifacts(run.info.run_id, "images")]
    assert any("+step+0+" in p for p in images) and any("+step+2+" in p for p in images)  # start and final


@pytest.mark.skipif(not COURSE_NPZ.exists(), reason="the course's images are not here")
def test_make_fig9_runs_the_sweep_and_composes_it_from_mlflow(tracking_uri, tmp_path):
    args = " ".join([*FAST, "iterations=2", f"tracking.uri={tracking_uri}", f"hydra.sweep.dir={tmp_path / 'multirun'}"])
    done = subprocess.run(
        ["make", "--no-print-directory", "fig9", f"ARGS={args}", f"FIGURES_DIR={tmp_path / 'figures'}", f"NPZ={COURSE_NPZ}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "figures" / "fig9.png").stat().st_size > 20_000
    _, runs = classviz_runs(tracking_uri)
    assert sorted(r.data.params["classviz.blur_every"] for r in runs) == ["2", "20", "None"]
    assert {r.data.tags["figure"] for r in runs} == {"fig9"}

    # The figure is rebuilt from the store alone, and its titles name the varied value.
    from netviz.compose import compose_figure, figure_runs
    from netviz.runs import download_images, varied_params

    sweep = figure_runs(tracking_uri, "fig9")  # the parent run's children
    assert len(sweep) == 3 and varied_params(sweep) == ["classviz.blur_every"]
    for run in sweep:  # every panel has the target probability its title shows
        for stem in download_images(tracking_uri, run):
            assert 0 <= run.metrics[f"final_probability/{stem}"] <= 1
    assert compose_figure("fig9", tracking_uri, tmp_path / "again.png").stat().st_size > 20_000


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["target=yorkshire_terier"], "did you mean 'Yorkshire terrier'"),
        (["iterations=-5"], "iterations=-5 is not a positive integer"),
        (["classviz.blur_every=abc"], "classviz.blur_every=abc: Value 'abc' of type 'str' could not be converted to Integer"),
        (["classviz.blur_every=-1"], "blur_every=-1 is not an integer >= 0 or null"),
        (["classviz.init=image", "data.indices=[]"], "data.indices is empty"),
    ],
)
def test_bad_input_is_one_line_and_a_failed_run(args, fragment, tracking_uri, tmp_path):
    done = run_cli("technique=classviz", *FAST, *args, f"tracking.uri={tracking_uri}", f"hydra.run.dir={tmp_path / 'out'}")
    assert fragment in one_line_error(done)
    _, runs = classviz_runs(tracking_uri)
    assert [r.info.status for r in runs] in ([], ["FAILED"])
