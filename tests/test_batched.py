"""Batched grids: per-sample hyperparameters in the parts, a grid run as one batch equal to its jobs
run one by one, the launcher's grouping, and a real ``hydra/launcher=batched`` sweep whose runs are
those of the basic launcher's sweep."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch

from netviz.api import compose
from netviz.batched import plan
from netviz.errors import NetvizError
from netviz.parts import BlurEvery, Decay, NormalizedAscent, RollJitter
from netviz.techniques.classviz import ClassVizOptions, class_visualization, class_visualization_grid
from netviz.transforms import gaussian_blur
from tests.conftest import run_cli, runs_of, tiny_classifier

CPU = {"accelerator": "cpu", "progress": False}


def rows(n: int = 3, size: int = 12) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(7))


def test_per_sample_step_rules_equal_the_scalar_rule_on_each_row():
    x, grad = rows(), rows() * 3 + 1
    lrs, rates = [0.1, 5.0, 10.0], [1e-5, 1e-3, 1e-2]
    ascended = NormalizedAscent(lrs)(x, grad, 0)
    decayed = Decay(rates)(x, 0)
    for i in range(3):
        assert torch.equal(ascended[i : i + 1], NormalizedAscent(lrs[i])(x[i : i + 1], grad[i : i + 1], 0))
        assert torch.equal(decayed[i : i + 1], Decay(rates[i])(x[i : i + 1], 0))


def test_per_sample_blur_blurs_only_the_samples_due():
    x = rows()
    blur = BlurEvery([2, 3, 0], sigma=0.5)  # 0: never
    for step in range(7):
        out = blur(x, step)
        for i, every in enumerate([2, 3, 0]):
            due = every > 0 and step % every == 0
            expected = gaussian_blur(x, 0.5)[i] if due else x[i]
            assert torch.equal(out[i], expected), (step, i)
    assert blur.steps == [0, 2, 3, 4, 6]


def test_per_sample_jitter_rolls_each_sample_by_its_own_generator():
    x = rows(3)
    batched = RollJitter(4, [11, 12, 13])
    alone = [RollJitter(4, [seed]) for seed in (11, 12, 13)]
    for step in range(5):
        out = batched(x, step)
        for i in range(3):
            assert torch.equal(out[i : i + 1], alone[i](x[i : i + 1], step))


# A grid over every per-sample setting: lr, l2, blur_every and seed (and targets).
GRID = [
    ([1, 4], ClassVizOptions(iterations=5, lr=0.5, l2=1e-2, blur_every=2, seed=0, show_every=2, log_every=2, max_jitter=3)),
    ([4, 7], ClassVizOptions(iterations=5, lr=5.0, l2=1e-5, blur_every=0, seed=1, show_every=2, log_every=2, max_jitter=3)),
    ([0, 2], ClassVizOptions(iterations=5, lr=10.0, l2=0.0, blur_every=3, seed=1, show_every=2, log_every=2, max_jitter=3)),
]


@pytest.mark.parametrize("l2_form", ["squared", "decay"])
def test_a_grid_in_one_batch_equals_its_jobs_run_one_by_one(l2_form):
    model = tiny_classifier()
    grid = [(targets, ClassVizOptions(**{**vars(options), "l2_form": l2_form})) for targets, options in GRID]
    batched = class_visualization_grid(model, grid, **CPU)
    for (targets, options), result in zip(grid, batched):
        alone = class_visualization(model, targets, options=options, **CPU)
        # Two samples per job: the same CPU kernels as in the batch of six, so bit for bit.
        assert torch.equal(result.pixels, alone.pixels)
        assert torch.equal(result.start, alone.start)
        assert result.sample_names == alone.sample_names and result.options == options
        assert result.metrics() == alone.metrics()
        assert [s for s, _ in result.snapshots] == [s for s, _ in alone.snapshots]
        assert all(torch.equal(a, b) for (_, a), (_, b) in zip(result.snapshots, alone.snapshots))
        for name, points in alone.history.items():
            assert all(torch.equal(a, b) for (_, a), (_, b) in zip(result.history[name], points)), name
    # The settings do matter: the jobs' images differ from each other.
    assert not torch.equal(batched[0].pixels[1], batched[1].pixels[0])  # both target 4


def test_a_grid_of_lone_samples_agrees_to_float_rounding():
    # A batch of one takes another CPU convolution kernel (see test_classviz's chunk test).
    model = tiny_classifier()
    grid = [([targets[0]], options) for targets, options in GRID]
    for (targets, options), result in zip(grid, class_visualization_grid(model, grid, **CPU)):
        alone = class_visualization(model, targets, options=options, **CPU)
        torch.testing.assert_close(result.pixels, alone.pixels, rtol=0, atol=1e-5)


def test_a_grid_that_varies_more_than_per_sample_settings_is_refused():
    model = tiny_classifier()
    with pytest.raises(NetvizError, match="differ in iterations"):
        class_visualization_grid(model, [(1, ClassVizOptions(iterations=3)), (2, ClassVizOptions(iterations=4))], **CPU)


def test_plan_groups_jobs_that_differ_only_in_per_sample_settings():
    base = ["technique=classviz", "model=squeezenet1_1", "model.weights=null"]
    jobs = [
        base + ["lr=0.1", "l2=1e-5"],
        base + ["lr=5", "l2=1e-2", "target=stingray"],
        base + ["classviz.blur_every=2", "tracking.experiment=elsewhere"],
        base + ["iterations=7"],  # another number of steps: not the same loop
        ["technique=classviz", "model=efficientnet_lite0", "lr=5"],  # another model
        ["technique=saliency"],  # another technique
        base + ["iterations=7", "lr=10"],
        ["technique=classviz", "model=efficientnet_lite0", "lr=10", "seed=4"],  # pretrained: the seed is per sample
        base + ["seed=5"],  # a random network: the seed draws its weights too
    ]
    groups = plan([(number, compose(overrides)) for number, overrides in enumerate(jobs)])
    assert [[job.number for job in group] for group in groups] == [[0, 1, 2], [3, 6], [4, 7], [5], [8]]
    assert groups[3][0].group is None


def png_array(client, run_id: str, path: str) -> np.ndarray:
    from PIL import Image

    local = client.download_artifacts(run_id, path)
    with open(local, "rb") as handle:
        return np.asarray(Image.open(io.BytesIO(handle.read())))


def artifact_paths(client, run_id: str) -> dict[str, str]:
    """Every artifact of a run, ``{path without MLflow's timestamp and uuid: path}`` (image series
    files are named ``image_<sample>+step+<step>+timestamp+<ms>+<uuid>.png``)."""
    found, folders = {}, [""]
    while folders:
        for entry in client.list_artifacts(run_id, folders.pop() or None):
            if entry.is_dir:
                folders.append(entry.path)
            else:
                found[re.sub(r"\+timestamp\+\d+\+[0-9a-f-]+", "", entry.path)] = entry.path
    return found


def run_record(client, run) -> dict:
    """What the UI shows of a run: name, status, params, tags (less ids and times), every metric's
    history, and every artifact's path (less MLflow's timestamps)."""
    from netviz.mlflow_worker import HOST_TAG, PID_TAG

    ids = {"sweep_id", "mlflow.parentRunId", "mlflow.source.name", "mlflow.user", "overrides", HOST_TAG, PID_TAG}
    return {
        "name": run.info.run_name,
        "status": run.info.status,
        "params": run.data.params,
        "tags": {k: v for k, v in run.data.tags.items() if k not in ids and not k.startswith("mlflow.log")},
        "metrics": {key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
                    for key in run.data.metrics},
        "artifacts": sorted(artifact_paths(client, run.info.run_id)),
    }


@pytest.mark.slow
def test_a_batched_sweep_leaves_the_runs_of_the_basic_sweep(tmp_path):
    """The same grid with the basic and the batched launcher (same seed, thread count, per-sample
    seeded starts): as many runs, the same params, tags, metrics and artifacts, identical images."""
    sweep = ["-m", "technique=classviz", "model=squeezenet1_1", "model.weights=null", "target=[1,2]",
             "lr=0.1,5", "classviz.blur_every=0,1", "iterations=3", "classviz.show_every=2",
             "trainer.accelerator=cpu", "trainer.progress=false", "trainer.threads=1"]
    records = {}
    for launcher in ("basic", "batched"):
        uri = f"sqlite:///{tmp_path / launcher / 'mlflow.db'}"
        (tmp_path / launcher).mkdir()
        done = run_cli(*sweep, f"hydra/launcher={launcher}", f"tracking.uri={uri}", cwd=tmp_path / launcher)
        assert done.returncode == 0, done.stderr[-3000:]
        client, runs = runs_of(uri, "classviz")
        children = sorted((r for r in runs if r.data.tags.get("netviz.sweep") != "parent"), key=lambda r: int(r.data.tags["job_num"]))
        assert len(runs) == 5 and len(children) == 4  # the parent and one child per grid point
        records[launcher] = [(run_record(client, run), client, run.info.run_id) for run in children]
        # One loop of 8 samples for the batched grid, four loops of 2 for the basic launcher's.
        loops = re.findall(r"classviz: 3 steps.*\((\d) samples\)", done.stdout + done.stderr)
        assert loops == (["8"] if launcher == "batched" else ["2"] * 4), loops
    assert "batched 4 jobs" in done.stdout + done.stderr
    for (basic, basic_client, basic_id), (batched, batched_client, batched_id) in zip(records["basic"], records["batched"]):
        assert batched == basic
        basic_paths, batched_paths = artifact_paths(basic_client, basic_id), artifact_paths(batched_client, batched_id)
        pngs = [path for path in basic_paths if path.endswith(".png")]
        assert len(pngs) >= 9  # panels, the image series (steps 0, 2, 3 of two samples), the figure
        for path in pngs:
            assert np.array_equal(png_array(batched_client, batched_id, batched_paths[path]),
                                  png_array(basic_client, basic_id, basic_paths[path])), path
    # The grid's points differ from each other (the settings reached the loop).
    assert len({record["name"] for record, _, _ in records["batched"]}) == 4
    assert len({record["metrics"]["mean_final_score"][0] for record, _, _ in records["batched"]}) == 4
