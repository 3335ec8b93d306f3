"""Reading sweeps back from a real MLflow store: a parent run's children (failed ones too) in sweep
order, their grid figure, their metrics table, and which multirun a report figure is composed from.

The store is a real SQLite store with real runs and PNG artifacts, made with ``MlflowClient``.
"""

import json

import numpy as np
import pytest
from PIL import Image

from netviz.compose import compose_figure, figure_runs, main, metrics_table, sweep_figure
from netviz.naming import file_name, metric_name, pair_name
from netviz.runs import PARENT_TAG, find_children

pytestmark = pytest.mark.slow  # a real MLflow store (a few seconds to create)

CLASSVIZ = {"technique": "classviz", "model": "efficientnet_lite0"}
SETTINGS = {"iterations": "200", "lr": "5.0", "l2": "0.001", "classviz.blur_every": "10", "tracking.uri": "x"}


class Store:
    """A SQLite store in a temporary folder, and what was put into it (to compare with what is read back)."""

    def __init__(self, folder):
        from mlflow import MlflowClient

        self.folder = folder
        self.uri = f"sqlite:///{folder / 'mlflow.db'}"
        self.client = MlflowClient(self.uri)
        self.experiment = self.client.create_experiment("classviz", artifact_location=(folder / "art").as_uri())
        self.clock = 1_000_000
        self.images: dict[str, dict[str, np.ndarray]] = {}  # run id -> {sample: image}

    def run(self, name, params, tags, samples=(), status="FINISHED", metrics=None, width=32) -> str:
        """A run with ``params``, ``tags``, one 32 px tall panel per sample (``panels/<file_name>.png``),
        ``results.json``, the target probability per sample and ``metrics``; ended as ``status``."""
        from mlflow.entities import Metric, Param

        self.clock += 1000
        run = self.client.create_run(self.experiment, start_time=self.clock, tags=tags, run_name=name)
        run_id = run.info.run_id
        rng = np.random.default_rng(len(self.images))
        images = {sample: rng.integers(0, 256, (32, width, 3), dtype=np.uint8) for sample in samples}
        values = dict(metrics or {})
        values |= {f"final_probability/{metric_name(s)}": float(rng.uniform()) for s in samples}
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, v, self.clock, 0) for k, v in values.items()],
            params=[Param(k, v) for k, v in params.items()],
        )
        if samples:
            staging = self.folder / f"staging-{run_id}"
            (staging / "panels").mkdir(parents=True)
            for sample, image in images.items():
                Image.fromarray(image).save(staging / "panels" / f"{file_name(sample)}.png")
            (staging / "results.json").write_text(json.dumps([{"sample": s} for s in samples]))
            self.client.log_artifacts(run_id, str(staging))
        self.client.set_terminated(run_id, status)
        self.images[run_id] = images
        return run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("store"))
    # fig7 made before parent runs: two multiruns told apart by sweep_id; the newer is a 2x2 grid.
    old = {"figure": "fig7", "sweep_id": "multirun/old"} | CLASSVIZ
    store.run("old", SETTINGS, old, ["hay→snail"])
    new = {"figure": "fig7", "sweep_id": "multirun/new"} | CLASSVIZ
    store.fig7 = [
        store.run(f"it={it} lr={lr}", SETTINGS | {"iterations": it, "lr": lr}, new, [pair_name("hay", "snail")])
        for it in ("200", "1000")
        for lr in ("0.1", "10")
    ]
    # fig9 as a parent run with three jobs, launched in parallel: they start out of job order, and
    # job 1 fails before it leaves any image.
    store.parent = store.run("fig9 sweep", {}, {"figure": "fig9"}, status="RUNNING")
    children = {}
    for job, blur, status in [(2, "None", "FINISHED"), (0, "2", "FINISHED"), (1, "20", "FAILED")]:
        tags = {"figure": "fig9", PARENT_TAG: store.parent, "job_num": str(job), "sweep_id": "multirun/fig9"} | CLASSVIZ
        samples = ["Yorkshire terrier"] if status == "FINISHED" else []
        metrics = {"mean_final_probability": 0.1 * (job + 1), "target_top1_rate": 1.0} if status == "FINISHED" else {}
        params = SETTINGS | {"classviz.blur_every": blur}
        children[job] = store.run(f"fig9 blur_every={blur}", params, tags, samples, status, metrics)
    store.fig9 = [children[job] for job in range(3)]
    store.client.set_terminated(store.parent, "FINISHED")
    # fig11 from a parent that carries the figure's tag while its one child does not.
    store.fig11_parent = store.run("fig11 sweep", {}, {"figure": "fig11"})
    store.fig11 = store.run("hay", SETTINGS, {PARENT_TAG: store.fig11_parent} | CLASSVIZ, [pair_name("hay", "snail")])
    # An adversarial sweep over two methods, two pairs each, whose panels are wide strips.
    store.attack = store.run("attack sweep", {}, {})
    tags = {"technique": "adversarial", "model": "efficientnet_lite0", PARENT_TAG: store.attack}
    pairs = [pair_name("quail", "stingray"), pair_name("quail", "desk")]
    store.attacks = [
        store.run(method, {"adversarial.method": method, "adversarial.eps": "8"}, tags, pairs, width=4 * 32 + 12)
        for method in ("naive", "pgd")
    ]
    return store


def test_a_parent_runs_children_come_back_in_job_order_failed_ones_included(store):
    children = find_children(store.uri, store.parent)
    assert [c.run_id for c in children] == store.fig9
    assert [c.status for c in children] == ["FINISHED", "FAILED", "FINISHED"]
    assert [c.params["classviz.blur_every"] for c in children] == ["2", "20", "None"]
    assert find_children(store.uri, store.fig7[0]) == []


def test_a_runs_images_and_results_are_read_in_place_or_downloaded_alike(store):
    # A SQLite store's artifacts are read where they lie; a run whose artifacts are elsewhere (a
    # server's: any location that is not a local folder) is downloaded: both give what was stored.
    import dataclasses

    from netviz.errors import NetvizError
    from netviz.runs import artifact_folder, download_images, read_results

    for run in find_children(store.uri, store.parent):
        elsewhere = dataclasses.replace(run, artifact_uri="mlflow-artifacts:/elsewhere")
        assert artifact_folder(elsewhere) is None
        if run.status != "FINISHED":  # job 1 left nothing: the same one error either way
            assert artifact_folder(run) is not None
            for record in (run, elsewhere):
                with pytest.raises(NetvizError, match="has no panels/ artifacts"):
                    download_images(store.uri, record)
                assert read_results(store.uri, record) == []
            continue
        expected = {file_name(sample): image for sample, image in store.images[run.run_id].items()}
        for record in (run, elsewhere):
            images = download_images(store.uri, record)
            assert images.keys() == expected.keys()
            assert all(np.array_equal(images[stem], expected[stem]) for stem in expected)
            assert read_results(store.uri, record) == [{"sample": s} for s in store.images[run.run_id]]


def test_artifacts_in_a_folder_whose_name_needs_quoting_are_read_in_place(tmp_path):
    # MLflow quotes the artifact location (a space, a percent sign, '#', a non-ASCII letter): read in
    # place, the run's images and results are the ones MLflow downloads.
    import dataclasses

    from netviz.runs import artifact_folder, download_images, read_results, search_runs

    odd = Store(tmp_path)
    odd.experiment = odd.client.create_experiment("odd", artifact_location=(tmp_path / "a b%20c#é").as_uri())
    run_id = odd.run("odd", SETTINGS, {"odd": "yes"} | CLASSVIZ, ["quail"])
    (record,) = search_runs(odd.uri, {"odd": "yes"})
    assert "%2520" in record.artifact_uri and artifact_folder(record).is_dir()
    elsewhere = dataclasses.replace(record, artifact_uri="mlflow-artifacts:/elsewhere")
    in_place, downloaded = download_images(odd.uri, record), download_images(odd.uri, elsewhere)
    assert in_place.keys() == downloaded.keys() == {file_name("quail")}
    assert np.array_equal(in_place[file_name("quail")], odd.images[run_id]["quail"])
    assert np.array_equal(downloaded[file_name("quail")], odd.images[run_id]["quail"])
    assert read_results(odd.uri, record) == read_results(odd.uri, elsewhere) == [{"sample": "quail"}]


def test_the_sweep_figure_shows_each_jobs_images_and_a_failed_job_as_an_empty_cell(store):
    children = find_children(store.uri, store.parent)
    figure = sweep_figure(store.uri, children)
    shown = [np.asarray(ax.images[0].get_array()) for ax in figure.axes if ax.images]
    expected = [store.images[run_id]["Yorkshire terrier"] for run_id in (store.fig9[0], store.fig9[2])]
    assert len(shown) == 2 and all((a == b).all() for a, b in zip(shown, expected))
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[1] == "FAILED" and not figure.axes[1].images
    for title, child in zip([titles[0], titles[2]], [children[0], children[2]]):
        assert title == f"Yorkshire terrier, p={child.metrics['final_probability/Yorkshire terrier']:.2f}"
    texts = [" ".join(t.get_text().split()) for t in figure.texts]  # wrapped lines read as one
    assert texts[0] == (
        "Class visualization of Yorkshire terrier with efficientnet_lite0: iterations 200, lr 5, L2 1e-3; "
        "blur every 2 | 20 | none"
    )
    assert texts[1:] == ["blur every 2", "blur every 20", "no blur"]  # the column headers
    assert sweep_figure(store.uri, []) is None


def test_the_metrics_table_reads_back_each_jobs_summary_metrics(store):
    table = metrics_table(find_children(store.uri, store.parent))
    assert [row["run"] for row in table] == ["fig9 blur_every=2", "fig9 blur_every=20", "fig9 blur_every=None"]
    assert [row["status"] for row in table] == ["FINISHED", "FAILED", "FINISHED"]
    assert [row["mean_final_probability"] for row in table] == [pytest.approx(0.1), None, pytest.approx(0.3)]
    assert set(table[0]) == {"run", "status", "classviz.blur_every", "mean_final_probability", "target_top1_rate"}


def test_a_report_figure_is_composed_from_its_parent_runs_children(store, tmp_path, capsys):
    assert [r.run_id for r in figure_runs(store.uri, "fig9")] == store.fig9
    assert main(["fig9", f"tracking.uri={store.uri}", "--output", str(tmp_path / "fig9.png"), "iterations=2"]) == 0
    assert "figure written to" in capsys.readouterr().out
    written = Image.open(tmp_path / "fig9.png")
    assert written.width >= 3 * 32 and written.height >= 32


def test_a_parent_tagged_with_the_figure_is_found_when_its_children_are_not_tagged(store):
    assert [r.run_id for r in figure_runs(store.uri, "fig11")] == [store.fig11]


def test_without_a_parent_run_the_newest_sweep_id_is_composed_as_a_grid(store, tmp_path):
    runs = figure_runs(store.uri, "fig7")
    assert [r.run_id for r in runs] == store.fig7
    figure = sweep_figure(store.uri, runs)
    texts = [" ".join(t.get_text().split()) for t in figure.texts]
    assert texts[1:3] == ["lr 0.1", "lr 10"] and texts[3:] == ["iterations 200", "iterations 1000"]
    sample = pair_name("hay", "snail")  # its panel is "hay to snail.png": the title gives the name itself
    assert all(ax.get_title().startswith(f"{sample}, p=") for ax in figure.axes)
    assert texts[0].startswith("Class visualization of snail from hay with efficientnet_lite0")
    assert compose_figure("fig7", store.uri, tmp_path / "fig7.png").is_file()


def test_a_sweeps_strips_stack_in_their_runs_column(store):
    figure = sweep_figure(store.uri, find_children(store.uri, store.attack))
    assert [t.get_text() for t in figure.texts][1:] == ["method naive", "method pgd"]
    boxes = [ax.get_window_extent() for ax in figure.axes]
    assert len(boxes) == 4 and all(round(box.width) == 4 * 32 + 12 for box in boxes)
    # rows are the pairs, columns the runs: naive's two strips one above the other, pgd's beside them
    (naive_stingray, pgd_stingray), (naive_desk, pgd_desk) = boxes[:2], boxes[2:]
    assert naive_stingray.x0 == naive_desk.x0 and naive_desk.y1 < naive_stingray.y0
    assert pgd_stingray.x0 > naive_stingray.x1 and pgd_stingray.y0 == naive_stingray.y0
    samples = [ax.get_title().split(",")[0] for ax in figure.axes]
    assert samples == ["quail→stingray", "quail→stingray", "quail→desk", "quail→desk"]
    caption = " ".join(figure.texts[0].get_text().split())
    assert caption == (
        "Adversarial examples of quail→stingray, quail→desk with efficientnet_lite0: eps 8; method naive | pgd"
    )
