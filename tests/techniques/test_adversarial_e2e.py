"""Adversarial examples end to end: the offline ImageNet model on real photos, the command line, MLflow."""

import numpy as np
import pytest
import torch

from netviz.data import load_images
from netviz.models import load_model
from netviz.techniques.adversarial import make_fooling_images
from tests.conftest import COURSE_NPZ, run_cli

pytestmark = pytest.mark.slow
CPU = {"accelerator": "cpu", "progress": False}


@pytest.fixture(scope="module")
def model():
    return load_model("efficientnet_lite0")


def quail(size: int):
    """The course's quail (image 1) when its file is here, else a bundled photo."""
    if COURSE_NPZ.exists():
        return load_images("npz", COURSE_NPZ, indices=[1], size=size)
    return load_images("samples", indices=[1], size=size)


def test_naive_fools_the_pretrained_model_toward_named_targets_within_the_cap(model, tmp_path):
    from PIL import Image

    targets = ["stingray", "mushroom", "bee eater"]
    result = make_fooling_images(model, quail(224), targets, iterations=100, log_every=1, **CPU)
    assert result.fooled.all(), result.iterations
    assert (result.iterations < 100).all() and (result.iterations > 0).all()
    assert result.predicted.tolist() == [model.class_index(t) for t in targets]
    assert (result.target_prob_end > result.original_prob_end).all()
    curve = [float(v[0]) for _, v in result.history["target_prob"]]
    assert curve[-1] > curve[0]  # the first pair's target probability rose along the way
    # The PNG check agrees with classifying files actually written to disk and read back.
    files = []
    for i, pixels in enumerate(result.adversarial):
        path = tmp_path / f"{i}.png"
        Image.fromarray((pixels.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()).save(path)
        files.append(np.asarray(Image.open(path).convert("RGB")))
    reloaded = torch.from_numpy(np.stack(files)).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        verdict = model(model.normalize(reloaded)).argmax(1) == result.classes
    assert torch.equal(result.png_fooled, verdict)


def test_eot_images_keep_fooling_under_random_transformations_more_often_than_naive_ones(model):
    result = make_fooling_images(
        model, quail(128), ["bee eater", "stingray"], method="eot", iterations=10, eps=16, eot_samples=4, eot_eval_samples=16, **CPU
    )
    assert result.eot_success.shape == result.naive_eot_success.shape == (2,)
    assert (result.linf <= 16 + 1e-3).all()
    assert result.eot_success.mean() > result.naive_eot_success.mean() + 0.25, (result.eot_success, result.naive_eot_success)


@pytest.mark.skipif(not COURSE_NPZ.exists(), reason="the course's imagenet_val_25.npz is not here")
def test_fig3_config_runs_tracked_with_few_keys_and_measures_what_leaves_valid_pixels(model, tmp_path, tracking_uri):
    from mlflow import MlflowClient

    from netviz.naming import metric_name, pair_name

    figure = tmp_path / "fig3.png"
    done = run_cli(
        "experiment=fig3", "model=efficientnet_lite0", f"data.path={COURSE_NPZ}", f"figure={figure}",
        f"tracking.uri={tracking_uri}", "trainer.progress=false", "hydra.run.dir=" + str(tmp_path / "out"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert figure.is_file()
    client = MlflowClient(tracking_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("adversarial").experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["figure"] == "fig3"
    metrics = run.data.metrics
    assert metrics["pairs"] == 3 and metrics["fooled_rate"] == 1.0
    assert len(metrics) <= 30, sorted(metrics)
    image = load_images("npz", COURSE_NPZ, indices=[1], size=224, categories=model.categories).names[0]
    for name in ("fooled", "iterations_to_fool", "target_prob_end", "perturbation_linf_255"):
        assert f"{name}/{metric_name(pair_name(image, 'stingray'))}" in metrics
    for name in ("png_fooled_rate", "valid_image_fooled_rate", "mean_iterations_to_fool"):
        assert name in metrics
    # The naive method does not clamp: on the quail some pixel values leave [0, 1] (README: 6.6%, 14.7 levels).
    assert 0 < metrics["out_of_range_share"] < 0.2 and metrics["max_excursion_255"] > 1
    curves = [key for key in metrics if key.startswith("target_prob/")]
    assert len(curves) == 3 and len(client.get_metric_history(run.info.run_id, curves[0])) >= 2
    rows = __import__("json").loads(open(client.download_artifacts(run.info.run_id, "results.json", str(tmp_path))).read())
    assert [row["class"] for row in rows] == ["stingray", "mushroom", "bee eater"]


# override -> (the one line's text, whether it is found before any model loads: then no run is made)
BAD_INPUT = {
    "target=[stingray,not_a_class]": ("unknown class 'not_a_class'", False),
    "target=[]": ("needs target=", False),
    "adversarial.eps=0": ("adversarial.eps=0 must be > 0", True),
    "adversarial.ensemble=[resnet18]": ("cannot load model 'resnet18'", False),  # no weights offline
}


def test_bad_input_is_one_line_exit_2_and_a_failed_run(tmp_path):
    """Each bad option in its own ``python run.py`` (run side by side: most of their time is start-up)."""
    from concurrent.futures import ThreadPoolExecutor

    from mlflow import MlflowClient

    args = ["technique=adversarial", "model=efficientnet_lite0", "data.indices=[0]", "target=goldfish", "iterations=2"]
    uris = {override: f"sqlite:///{tmp_path / str(i)}.db" for i, override in enumerate(BAD_INPUT)}
    with ThreadPoolExecutor(len(BAD_INPUT)) as pool:
        done = dict(zip(BAD_INPUT, pool.map(
            lambda o: run_cli(*args, o, f"tracking.uri={uris[o]}", f"hydra.run.dir={tmp_path / 'out'}"), BAD_INPUT
        )))
    for override, (message, early) in BAD_INPUT.items():
        result = done[override]
        last = result.stderr.strip().splitlines()[-1]
        assert result.returncode == 2, (override, result.stderr[-2000:])
        assert last.startswith("netviz: error:") and message in last and "Traceback" not in result.stderr, override
        client = MlflowClient(uris[override])
        experiment = client.get_experiment_by_name("adversarial")
        runs = client.search_runs([experiment.experiment_id]) if experiment else []
        assert [r.info.status for r in runs] == ([] if early else ["FAILED"]), override


def test_config_options_reach_the_attack_ensemble_transfer_untargeted_eot(tracking_uri):
    """Every section of conf/technique/adversarial.yaml arrives (random networks: no weights needed), and
    the transfer table reads the run back."""
    import netviz
    from netviz.transfer import transfer_table

    result = netviz.run([
        "technique=adversarial", "model=efficientnet_lite0", "model.weights=null", "data.indices=[1]",
        "adversarial.method=eot", "adversarial.targeted=false", "adversarial.eps=4", "iterations=1",
        "adversarial.eot.samples=1", "adversarial.eot.eval_samples=2", "adversarial.eot.noise=0",
        "adversarial.ensemble=[squeezenet1_1]", "adversarial.eval_models=[mobilenet_v3_small]",
        "adversarial.eot.compare_naive=false", "adversarial.norm=l2", "adversarial.untargeted_from=label",
        f"tracking.uri={tracking_uri}", "trainer.progress=false", "trainer.accelerator=cpu",
    ])
    assert result.model == "efficientnet_lite0+squeezenet1_1" and result.method == "eot" and not result.targeted
    assert set(result.transfer) == {"efficientnet_lite0", "squeezenet1_1", "mobilenet_v3_small"}
    chelsea = load_images("samples", indices=[1], size=224, categories=netviz.load_model("efficientnet_lite0", None).categories)
    assert result.classes.tolist() == chelsea.labels.tolist() == [281]  # untargeted_from=label
    assert result.sample_names[0] == f"{chelsea.names[0]}→not tabby"
    assert result.eot_success.shape == (1,) and result.naive_eot_success is None
    assert result.l2.item() <= 4 + 1e-3  # norm=l2: eps bounds the L2 norm (0-255 units)
    assert "transfer/mobilenet_v3_small/untargeted_rate" in result.metrics()
    table = transfer_table(tracking_uri).format()
    assert "efficientnet_lite0+squeezenet1_1 eot eps=4 untargeted" in table and "mobilenet_v3_small" in table


def test_torchattacks_fgsm_from_the_command_line_is_tracked_with_the_usual_metrics(tmp_path, tracking_uri):
    pytest.importorskip("torchattacks")
    from mlflow import MlflowClient

    done = run_cli(
        "technique=adversarial", "model=efficientnet_lite0", "data.indices=[1]", "target=null", "adversarial.targeted=false",
        "adversarial.method=torchattacks:FGSM", "adversarial.eps=4", f"tracking.uri={tracking_uri}", "trainer.progress=false",
        "hydra.run.dir=" + str(tmp_path / "out"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    client = MlflowClient(tracking_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("adversarial").experiment_id])
    metrics = run.data.metrics
    assert run.info.status == "FINISHED" and metrics["pairs"] == 1
    assert metrics["mean_perturbation_linf_255"] == pytest.approx(4, abs=0.01)
    for name in ("fooled_rate", "png_fooled_rate", "valid_image_fooled_rate", "mean_target_prob_end"):
        assert name in metrics


@pytest.mark.skipif(not COURSE_NPZ.exists(), reason="the course's imagenet_val_25.npz is not here")
def test_robust_accuracy_over_the_course_images_is_the_mean_of_per_image_runs_and_resumes(model, tmp_path):
    from netviz.techniques.adversarial import robust_accuracy

    images = load_images("npz", COURSE_NPZ, size=224)
    progress = tmp_path / "progress.json"
    report = robust_accuracy(model, images, method="fgsm", eps=2, batch_size=8, progress_file=progress, **CPU)
    assert report.images == 25 and len(report.batch_counts) == 4
    assert report.clean_accuracy == pytest.approx(17 / 25)  # the README's 17/25 top-1
    singles = [
        make_fooling_images(model, images.select([i]), None, method="fgsm", eps=2, targeted=False, untargeted_from="label", png_check=False, **CPU)
        for i in range(25)
    ]
    assert report.robust_accuracy == pytest.approx(sum(float(~r.valid_image_fooled[0]) for r in singles) / 25)
    import json

    saved = json.loads(progress.read_text())
    del saved["batches"]["3"], saved["batches"]["1"]
    progress.write_text(json.dumps(saved))
    resumed = robust_accuracy(model, images, method="fgsm", eps=2, batch_size=8, progress_file=progress, **CPU)
    assert resumed.metrics() == report.metrics()
