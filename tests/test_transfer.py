"""The transfer table read back from a real sweep of adversarial runs in a real MLflow store."""

import subprocess
import sys
from collections import defaultdict

import pytest

from netviz.transfer import Source, read_run, transfer_table
from tests.conftest import ROOT, run_cli, runs_of


def source_of(params: dict) -> tuple:
    """The oracle's source key, straight from the params: attacked models, method, eps."""
    members = {"squeezenet1_1", *[m.strip(" '") for m in params.get("adversarial.ensemble", "[]").strip("[]").split(",") if m.strip(" '")]}
    method = params["adversarial.method"]
    return tuple(sorted(members)), method, None if method == "naive" else float(params["adversarial.eps"])


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory):
    """4 jobs (naive/pgd x alone/with squeezenet1_0) on random networks, plus one more pgd job on one
    image, pooled into the same row."""
    tmp = tmp_path_factory.mktemp("transfer")
    import numpy as np

    npz = tmp / "images.npz"
    rng = np.random.default_rng(0)
    np.savez(npz, X=rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8), y=np.array([1, 2, 3]))
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    common = [
        "technique=adversarial", "model=squeezenet1_1", "model.weights=null", "data=npz", f"data.path={npz}",
        "target=[1,2]", "iterations=2", "adversarial.eval_models=[squeezenet1_0]", f"tracking.uri={uri}",
        "trainer.progress=false", "trainer.accelerator=cpu",
    ]
    from concurrent.futures import ThreadPoolExecutor

    jobs = [
        ["-m", *common, "adversarial.method=naive,pgd", "adversarial.eps=4", "adversarial.ensemble=[],[squeezenet1_0]",
         f"hydra.sweep.dir={tmp / 'multirun'}"],
        [*common, "adversarial.method=pgd", "adversarial.eps=4", "data.indices=[0]", f"hydra.run.dir={tmp / 'out'}"],
    ]
    with ThreadPoolExecutor(len(jobs)) as pool:  # side by side: most of their time is start-up
        for done in pool.map(lambda args: run_cli(*args), jobs):
            assert done.returncode == 0, done.stderr[-3000:]
    return uri, tmp


@pytest.mark.slow
def test_one_row_per_source_one_column_per_model_and_pairs_match_the_runs(sweep_store):
    uri, _ = sweep_store
    _, runs = runs_of(uri, "adversarial")
    runs = [r for r in runs if r.data.tags.get("netviz.sweep") != "parent"]  # the sweep's own run holds no pairs
    assert len(runs) == 5 and all(r.info.status == "FINISHED" for r in runs)
    # The oracle: pairs and fooled counts from the run-level metrics (`pairs`, `..._rate`), by source.
    expected = defaultdict(lambda: defaultdict(lambda: [0, 0.0, 0.0]))
    for run in runs:
        metrics = run.data.metrics
        judged = {key.split("/")[1] for key in metrics if key.startswith("transfer/") and key.endswith("_rate")}
        for model in judged:
            counts = expected[source_of(run.data.params)][model]
            counts[0] += metrics["pairs"]
            counts[1] += metrics[f"transfer/{model}/targeted_rate"] * metrics["pairs"]
            counts[2] += metrics[f"transfer/{model}/untargeted_rate"] * metrics["pairs"]

    table = transfer_table(uri)
    assert table.models == sorted({m for models in expected.values() for m in models})
    assert len(table.sources) == len(expected) == 4  # pgd alone pools the extra one-image run
    for source in table.sources:
        key = (tuple(sorted(source.models)), source.method, source.eps)
        for model in expected[key]:
            cell = table.cell(source, model)
            pairs, targeted, untargeted = expected[key][model]
            assert (cell.pairs, cell.targeted_pairs) == (pairs, pairs)
            assert cell.targeted == pytest.approx(targeted) and cell.untargeted == pytest.approx(untargeted)
    alone_pgd4 = next(s for s in table.sources if s.models == ("squeezenet1_1",) and s.method == "pgd" and s.eps == 4)
    assert table.cell(alone_pgd4, "squeezenet1_0").pairs == 3 * 2 + 1 * 2
    assert table.runs[alone_pgd4] == 2


@pytest.mark.slow
def test_the_command_prints_the_table_and_draws_the_heat_map(sweep_store):
    uri, tmp = sweep_store
    figure = tmp / "figs" / "transfer.png"
    done = subprocess.run(
        [sys.executable, "-m", "netviz.transfer", "--tracking-uri", uri, "--figure", str(figure)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    table = transfer_table(uri)
    lines = done.stdout.splitlines()
    assert lines[0].split()[-2:] == table.models
    for source in table.sources:
        (row,) = [line for line in lines if line.startswith(source.label() + "  ")]
        for model in table.models:
            cell = table.cell(source, model)
            if cell is None:  # a source's attacked model judges itself as valid_image_*, not as transfer
                assert model in source.models
                continue
            white_box = "*" if model in source.models else ""
            assert cell.text() + white_box in row
    from PIL import Image

    with Image.open(figure) as image:
        assert image.size[0] > 400 and image.size[1] > 200


def test_a_bad_figure_path_is_one_line_before_any_work(tmp_path):
    for bad, fragment in ((tmp_path, "is a folder"), (tmp_path / "table", "give a file ending in .png")):
        done = subprocess.run(
            [sys.executable, "-m", "netviz.transfer", "--tracking-uri", "sqlite:////nonexistent/dir/x.db", "--figure", str(bad)],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("netviz: error: --figure") and fragment in done.stderr


def test_a_run_is_read_from_its_tags_params_and_rates():
    params = {"adversarial.method": "pgd", "adversarial.eps": "16.0", "adversarial.ensemble": "['b', 'a']"}
    metrics = {
        "transfer/a/targeted_rate": 0.5, "transfer/a/untargeted_rate": 1.0,
        "transfer/c/untargeted_rate": 0.5, "fooled_rate": 1.0, "pairs": 2.0,
    }
    source, cells = read_run(params, {"model": "a"}, metrics)
    assert source == Source(("a", "b"), "pgd", 16.0) and source.label() == "a+b pgd eps=16"
    assert cells["a"].text() == "50%/100% (2)"
    assert cells["c"].text() == "-/50% (2)"  # no targeted verdicts for c


def test_rejudging_reads_back_the_saved_8bit_images_and_matches_the_png_verdict(tmp_path, tracking_uri):
    """A tracked attack (tiny network, real MLflow store): the images cut from its panels are the
    8-bit images it made, and the attacked model's rejudged targeted verdict is the run's png_fooled."""
    import torch
    from mlflow import MlflowClient

    from netviz.data import ImageSet
    from netviz.figures import to_uint8
    from netviz.techniques.adversarial import make_fooling_images
    from netviz.tracking import Tracker
    from netviz.transfer import judge, stored_images
    from tests.conftest import tiny_classifier

    model = tiny_classifier()
    pixels = torch.randint(0, 256, (3, 3, 16, 16), generator=torch.Generator().manual_seed(0)).float() / 255
    images = ImageSet(pixels, torch.tensor([0, 1, 2]), ["a", "b", "c"])
    result = make_fooling_images(model, images, [4, 7], method="pgd", eps=16, iterations=4, progress=False, accelerator="cpu")
    with Tracker(tracking_uri, experiment="adversarial", run_name="rejudge") as tracker:
        tracker.log_result(result)
    names, originals, adversarials = stored_images(MlflowClient(tracking_uri), tracker.run_id)
    order = sorted(range(len(result.sample_names)), key=lambda i: result.sample_names[i].replace("→", " to "))
    from netviz.naming import file_name

    assert names == [file_name(result.sample_names[i]) for i in order]  # panel files spell → as " to "
    assert (to_uint8(adversarials) == to_uint8(result.adversarial[order])).all()
    assert (to_uint8(originals) == to_uint8(result.original[order])).all()
    (cell,) = judge([model], names, originals, adversarials).values()
    assert (cell.pairs, cell.targeted_pairs) == (6, 6)
    assert cell.targeted == int(result.png_fooled.sum())
