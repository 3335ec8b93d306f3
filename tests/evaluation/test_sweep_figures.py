"""A saliency sweep's parent run compares its methods: deletion/insertion curves, the randomization
cascade and the fragility examples, drawn from what the children logged (real MLflow stores: children
logged here by hand with known values, and a real multirun of ``python run.py``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric
from PIL import Image

from netviz.evaluation.sweep_figures import evaluation_figures, mean_lines, strip_cells
from netviz.figures import side_by_side
from netviz.runs import find_children, read_results
from netviz.sweep import write_summary
from tests.conftest import mlflow_server, run_cli, runs_of

SAMPLES = ["cat", "dog", "owl"]
STEPS, BLOCKS, BUDGETS, SIDE = 4, 3, ("2", "8"), 16


def pictures(rng, count: int) -> list[np.ndarray]:
    return [rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8) for _ in range(count)]


def log_child(client: MlflowClient, experiment: str, parent: str, method: str, technique: str, rng, tmp_path) -> dict:
    """A child run as a saliency job with ``saliency.evaluate`` logs it; returns what was logged."""
    run = client.create_run(experiment, run_name=method, tags={"mlflow.parentRunId": parent, "technique": technique, "model": "tiny"})
    run_id = run.info.run_id
    client.log_param(run_id, "saliency.method", method)
    client.log_param(run_id, "saliency.evaluation.eps", "[2, 8]")
    logged = {"curves": {}, "metrics": {}, "cells": {}}
    points = []
    for name, length in (("deletion", STEPS + 1), ("insertion", STEPS + 1), ("randomization_spearman", BLOCKS)):
        logged["curves"][name] = rng.random((len(SAMPLES), length))
        for sample, curve in zip(SAMPLES, logged["curves"][name]):
            points += [Metric(f"{name}_curve/{sample}", float(value), 0, step) for step, value in enumerate(curve)]
    metrics = {"deletion_auc": rng.random(), "insertion_auc": rng.random(), "randomization_spearman": rng.random()}
    for budget in BUDGETS:
        metrics[f"fragility_topk_eps{budget}"] = rng.random()
        metrics.update({f"fragility_topk_eps{budget}/{sample}": rng.random() for sample in SAMPLES})
    client.log_batch(run_id, metrics=points + [Metric(key, float(value), 0, 0) for key, value in metrics.items()])
    logged["metrics"] = metrics
    panels = tmp_path / method / "panels"
    panels.mkdir(parents=True)
    logged["cells"] = {"image": pictures(rng, 3), "cascade": pictures(rng, BLOCKS + 1), "fragility": pictures(rng, 2 + 2 * len(BUDGETS))}
    for stem, cells in (("cat", "image"), ("randomization cascade 0", "cascade"), ("fragility 0", "fragility")):
        Image.fromarray(side_by_side(logged["cells"][cells])).save(panels / f"{stem}.png")
    (tmp_path / method / "results.json").write_text(json.dumps([{"image": sample} for sample in SAMPLES]))
    client.log_artifacts(run_id, str(tmp_path / method))
    client.set_terminated(run_id)
    return logged


def synthetic_sweep(tmp_path, technique: str = "saliency", uri: str | None = None):
    """A parent and two children (``gradient``, ``gradcam``) logged by hand into ``uri`` (a fresh SQLite store)."""
    client = MlflowClient(uri or f"sqlite:///{tmp_path / 'mlflow.db'}")
    location = None if uri else (tmp_path / "artifacts").as_uri()  # a server keeps its own artifacts
    uri = uri or f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment = client.create_experiment("sweep", artifact_location=location)
    parent = client.create_run(experiment, tags={"netviz.sweep": "parent"}).info.run_id
    rng = np.random.default_rng(0)
    logged = {method: log_child(client, experiment, parent, method, technique, rng, tmp_path) for method in ("gradient", "gradcam")}
    return uri, parent, logged


def images_of(figure) -> list[np.ndarray]:
    return [np.asarray(axes.images[0].get_array()) for axes in figure.axes if axes.images]


def texts_of(figure) -> set[str]:
    from matplotlib.text import Text

    return {text.get_text() for text in figure.findobj(Text)}


def test_strips_split_back_into_the_pictures_side_by_side_joined():
    cells = pictures(np.random.default_rng(1), 5)
    assert all(np.array_equal(a, b) for a, b in zip(strip_cells(side_by_side(cells)), cells, strict=True))
    wide = np.zeros((SIDE, 3 * SIDE + 1, 3), dtype=np.uint8)  # not squares with the gap: kept whole
    assert len(strip_cells(wide)) == 1


def test_the_parent_figures_plot_each_childs_logged_curves_values_and_panels(tmp_path):
    uri, parent, logged = synthetic_sweep(tmp_path)
    assert_figures_show(evaluation_figures(uri, find_children(uri, parent)), logged)


@pytest.mark.slow
def test_the_parent_figures_read_the_children_through_an_mlflow_server(tmp_path):
    with mlflow_server(tmp_path) as uri:
        uri, parent, logged = synthetic_sweep(tmp_path, uri=uri)
        assert_figures_show(evaluation_figures(uri, find_children(uri, parent)), logged)


def assert_figures_show(figures: dict, logged: dict) -> None:
    """Each figure plots what each child logged: its mean curves and AUC, its panels' pictures, its values."""
    assert set(figures) == {"deletion", "insertion", "randomization_curve", "randomization", "fragility"}
    for name in ("deletion", "insertion"):
        (axes,) = figures[name].axes
        assert len(axes.lines) == 2  # one line per method
        for line, (method, child) in zip(axes.lines, logged.items()):
            np.testing.assert_allclose(line.get_ydata(), child["curves"][name].mean(axis=0), rtol=1e-12)
            np.testing.assert_allclose(line.get_xdata(), np.arange(STEPS + 1) / STEPS)
            assert line.get_label() == f"{method} (AUC {child['metrics'][f'{name}_auc']:.3f})"
    spearman = figures["randomization_curve"].axes[0]
    for line, child in zip(spearman.lines, logged.values(), strict=True):
        np.testing.assert_allclose(line.get_ydata(), child["curves"]["randomization_spearman"].mean(axis=0), rtol=1e-12)
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, BLOCKS + 1))
    # the cascade: per method the image, then its maps along the cascade, each titled with its Spearman
    expected = [cell for child in logged.values() for cell in [child["cells"]["image"][0], *child["cells"]["cascade"]]]
    assert all(np.array_equal(a, b) for a, b in zip(images_of(figures["randomization"]), expected, strict=True))
    cat = [f"ρ {v:.2f}" for child in logged.values() for v in child["curves"]["randomization_spearman"][0]]
    assert set(cat) <= texts_of(figures["randomization"]) and {"gradient", "gradcam"} <= texts_of(figures["randomization"])
    # fragility: per method the image, its map and its map after each budget's attack, with the top-k overlap
    expected = [cell for child in logged.values() for cell in [*child["cells"]["fragility"][:2], *child["cells"]["fragility"][3::2]]]
    assert all(np.array_equal(a, b) for a, b in zip(images_of(figures["fragility"]), expected, strict=True))
    overlaps = {f"top-k overlap {child['metrics'][f'fragility_topk_eps{b}/cat']:.2f}" for child in logged.values() for b in BUDGETS}
    assert overlaps <= texts_of(figures["fragility"])


def test_a_sweep_of_other_runs_gets_no_evaluation_figures(tmp_path):
    uri, parent, _ = synthetic_sweep(tmp_path, technique="classviz")
    (tmp_path / "summary").mkdir()
    written = write_summary(uri, parent, tmp_path / "summary")
    assert set(written) == {"table", "grid"} and not (tmp_path / "summary" / "summary").exists()


@pytest.mark.slow
def test_a_methods_multirun_leaves_its_comparison_figures_on_the_parent(tracking_uri, tmp_path):
    done = run_cli(
        "-m", "technique=saliency", "saliency.method=gradient,guided_backprop", "saliency.evaluate=[deletion,insertion,randomization]",
        "model=efficientnet_lite0", "data.indices=[0,1]", "saliency.evaluation.steps=3", "saliency.evaluation.blocks=2",
        "saliency.evaluation.independent=false", "trainer.accelerator=cpu", "trainer.progress=false", f"tracking.uri={tracking_uri}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    client, runs = runs_of(tracking_uri, "saliency")
    (parent,) = [r for r in runs if r.data.tags.get("netviz.sweep") == "parent"]
    names = ["deletion.png", "insertion.png", "randomization_curve.png", "randomization.png"]
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "summary")} == {f"summary/{n}" for n in names}
    assert {"grid.png", "summary.csv", "summary.json"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert f"summary/{names[0]}" in done.stderr  # the sweep prints where its figures are
    for name in names:
        with Image.open(client.download_artifacts(parent.info.run_id, f"summary/{name}", str(tmp_path))) as image:
            assert image.format == "PNG" and min(image.size) > 100
    children = find_children(tracking_uri, parent.info.run_id)
    for name in ("deletion", "insertion"):
        lines = mean_lines(tracking_uri, children, name)
        assert [line.label for line in lines] == ["gradient", "guided_backprop"]
        for line, child in zip(lines, children, strict=True):
            curves = [[m.value for m in sorted(client.get_metric_history(child.run_id, f"{name}_curve/{s}"), key=lambda m: m.step)]
                      for s in [row["image"] for row in read_results(tracking_uri, child)]]
            assert len(curves) == 2 and len(curves[0]) == 4  # 2 images, steps 0..3
            np.testing.assert_allclose(line.y, np.mean(curves, axis=0), rtol=1e-12)
            assert line.auc == child.metrics[f"{name}_auc"]
            # the AUC in the legend is the area under the plotted mean curve (the child's trapezoid over 0..1)
            assert line.auc == pytest.approx(np.trapezoid(line.y, line.x), abs=1e-6)  # float32 on the child
    table = open(client.download_artifacts(parent.info.run_id, "summary.csv", str(tmp_path))).read().splitlines()
    assert len(table) == 3 and "deletion_auc" in table[0] and "randomization_spearman" in table[0]
