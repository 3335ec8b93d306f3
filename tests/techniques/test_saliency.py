"""Saliency maps against a finite-difference oracle, and the properties the technique promises."""

import pytest
import torch

from netviz.data import ImageSet
from netviz.techniques.saliency import saliency_maps
from tests.conftest import tiny_classifier


def images_of(pixels, labels):
    return ImageSet(pixels, torch.as_tensor(labels), [f"img{i}" for i in range(len(pixels))])


def finite_difference_map(model, pixels, target, eps=1e-6):
    """max over channels of |d score_target / d x| by central differences, x the normalized input."""
    x = model.normalize(pixels[None]).double()
    grad = torch.zeros_like(x)
    flat, gflat = x.view(-1), grad.view(-1)
    for i in range(flat.numel()):
        saved = flat[i].item()
        flat[i] = saved + eps
        up = model(x)[0, target].item()
        flat[i] = saved - eps
        down = model(x)[0, target].item()
        flat[i] = saved
        gflat[i] = (up - down) / (2 * eps)
    return grad.abs().amax(dim=1)[0]


@pytest.mark.parametrize("final_relu", [False, True])
def test_maps_equal_finite_differences_in_float64(final_relu):
    model = tiny_classifier(final_relu=final_relu).double()
    model.mean, model.std = model.mean.double(), model.std.double()
    pixels = torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    result = saliency_maps(model, images_of(pixels, [4, 7]), accelerator="cpu")
    for i in range(2):
        expected_true = finite_difference_map(model, pixels[i], 4 if i == 0 else 7)
        expected_pred = finite_difference_map(model, pixels[i], int(result.predicted[i]))
        torch.testing.assert_close(result.map_true[i], expected_true, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(result.map_predicted[i], expected_pred, rtol=1e-5, atol=1e-7)
    assert result.map_true.abs().sum() > 0


def test_maps_do_not_depend_on_the_batch(pixels):
    model = tiny_classifier()
    labels = [1, 2, 3, 4]
    together = saliency_maps(model, images_of(pixels, labels), accelerator="cpu")
    for i in range(len(pixels)):
        alone = saliency_maps(model, images_of(pixels[i : i + 1], labels[i : i + 1]), accelerator="cpu")
        torch.testing.assert_close(alone.map_true[0], together.map_true[i], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(alone.map_predicted[0], together.map_predicted[i], rtol=1e-4, atol=1e-6)
        assert alone.predicted[0] == together.predicted[i]


def test_predicted_class_and_probabilities_match_the_model(pixels):
    model = tiny_classifier()
    result = saliency_maps(model, images_of(pixels, [0, 1, -1, 3]), accelerator="cpu")
    with torch.no_grad():
        probs = model(model.normalize(pixels)).softmax(1)
    assert result.predicted.tolist() == probs.argmax(1).tolist()
    torch.testing.assert_close(result.prob_predicted, probs.max(1).values)
    torch.testing.assert_close(result.prob_true[[0, 1, 3]], probs[[0, 1, 3], [0, 1, 3]])
    assert torch.isnan(result.prob_true[2])  # no label: no true-class probability
    torch.testing.assert_close(result.map_true[2], result.map_predicted[2])


def test_network_is_untouched_and_no_hooks_are_left(pixels):
    model = tiny_classifier(final_relu=True, score="pre_relu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    saliency_maps(model, images_of(pixels, [1, 2, 3, 4]), accelerator="cpu")
    assert all(p.grad is None for p in model.parameters())
    assert not any(m.training for m in model.modules())
    assert all(not m._forward_hooks for m in model.modules())
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_figure_and_panels_have_one_cell_per_image(pixels):
    result = saliency_maps(tiny_classifier(), images_of(pixels, [1, 2, 3, 4]), accelerator="cpu")
    figure = result.figure()
    assert len([ax for ax in figure.axes if ax.images]) == 3 * len(pixels)
    panels = result.panels()
    assert set(panels) == {f"img{i}" for i in range(4)}
    assert all(p.dtype.name == "uint8" and p.shape[0] == 16 and p.shape[2] == 3 for p in panels.values())


# ----- the run's results (issue #7), the config path, the command line ----------------------------


def test_metrics_have_stable_summary_names_and_one_key_per_sample(pixels):
    names = ["Border terrier", "quail→stingray", "hay", "no label image"]
    result = saliency_maps(tiny_classifier(), ImageSet(pixels, torch.tensor([1, 2, 3, -1]), names), accelerator="cpu")
    metrics = result.metrics()
    known = result.labels >= 0
    assert metrics["top1_accuracy"] == float((result.predicted[known] == result.labels[known]).float().mean())
    assert metrics["mean_prob_true"] == pytest.approx(float(result.prob_true[known].mean()))
    assert metrics["mean_prob_predicted"] == pytest.approx(float(result.prob_predicted.mean()))
    assert metrics["prob_true/quail to stingray"] == pytest.approx(float(result.prob_true[1]))
    assert "prob_true/no label image" not in metrics and "prob_predicted/no label image" in metrics
    assert set(result.panels()) == {"Border terrier", "quail to stingray", "hay", "no label image"}


def test_caption_reads_like_the_report_and_names_the_method_and_its_settings(pixels):
    images = images_of(pixels, [1, 2, 3, 4])
    result = saliency_maps(tiny_classifier(), images, "integrated_gradients", steps=4, baseline="blur", accelerator="cpu")
    expected = "Saliency maps (integrated gradients, 4 steps, blur baseline) of tiny: true and predicted class"
    assert result.caption() == expected
    assert result.figure()._suptitle.get_text() == expected
    assert saliency_maps(tiny_classifier(), images, accelerator="cpu").caption().startswith("Saliency maps (gradient) of tiny")


def test_a_config_with_a_target_maps_that_target_and_null_options_take_the_methods_defaults(pixels):
    from omegaconf import OmegaConf

    from netviz.techniques.saliency import attribute, run_from_config

    model = tiny_classifier()
    images = images_of(pixels, [1, 2, 3, 4])
    cfg = OmegaConf.create({"seed": 0, "target": "class7", "saliency": {"method": "integrated_gradients", "steps": None, "batch_size": 8}})
    result = run_from_config(model, images, cfg, {"accelerator": "cpu", "devices": 1, "progress": False})
    expected = attribute(model, pixels, "integrated_gradients", 7, accelerator="cpu")  # 32 steps, black
    assert result.settings == "integrated gradients, 32 steps, black baseline"
    assert result.targets.tolist() == [7] * 4
    torch.testing.assert_close(result.maps, expected.maps)
    assert result.metrics()["prob_target/img0"] == pytest.approx(float(expected.prob_target[0]))


def test_the_config_schema_yaml_and_methods_name_the_same_options():
    import dataclasses

    from omegaconf import OmegaConf

    from netviz.techniques.saliency import METHODS, SaliencyConfig

    schema = {f.name for f in dataclasses.fields(SaliencyConfig)}
    yaml = set(OmegaConf.load("conf/technique/saliency.yaml").saliency)
    options = {f.name for method in METHODS.values() for f in dataclasses.fields(method)}
    assert schema == yaml == options | {"method", "batch_size", "evaluate", "evaluation"}


def test_config_checks_need_no_model():
    from omegaconf import OmegaConf

    from netviz.errors import NetvizError
    from netviz.techniques.saliency import check_config

    check_config(OmegaConf.create({"saliency": {"method": "smoothgrad", "samples": 4, "steps": None}}))
    for section, message in [
        ({"method": "gradient", "steps": 4}, "saliency.steps is an option of integrated_gradients"),
        ({"method": "gradcan"}, "did you mean 'gradcam'"),
        ({"method": "gradient", "batch_size": 0}, "saliency.batch_size=0 is not a positive integer"),
    ]:
        with pytest.raises(NetvizError, match=message):
            check_config(OmegaConf.create({"saliency": section}))


@pytest.mark.slow
def test_a_method_from_the_command_line_is_tracked_with_its_summary_metrics(tracking_uri, tmp_path):
    from tests.conftest import run_cli, runs_of

    done = run_cli(
        "technique=saliency", "saliency.method=smoothgrad", "saliency.samples=2", "model=efficientnet_lite0", "data.indices=[1]",
        "trainer.accelerator=cpu", f"tracking.uri={tracking_uri}", f"hydra.run.dir={tmp_path / 'out'}",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    client, runs = runs_of(tracking_uri, "saliency")
    (run,) = runs
    assert {"top1_accuracy", "mean_prob_predicted", "mean_prob_true"} <= set(run.data.metrics)
    (per_image,) = [key for key in run.data.metrics if key.startswith("prob_predicted/")]  # one image
    assert run.data.params["saliency.method"] == "smoothgrad" and run.data.params["saliency.samples"] == "2"
    panels = {a.path for a in client.list_artifacts(run.info.run_id, "panels")}
    assert panels == {f"panels/{per_image.split('/', 1)[1]}.png"}


@pytest.mark.slow
def test_an_option_the_method_does_not_take_is_one_line(tmp_path):
    from tests.conftest import one_line_error, run_cli

    done = run_cli("saliency.method=gradient", "saliency.steps=8", "model=efficientnet_lite0", "tracking=none", f"hydra.run.dir={tmp_path}")
    assert "saliency.steps is an option of integrated_gradients" in one_line_error(done)


def test_the_methods_figure_sweeps_every_method_on_the_first_five_images():
    from omegaconf import OmegaConf

    from netviz.api import compose
    from netviz.techniques.saliency import METHODS

    cfg = compose(["experiment=fig_methods"])
    assert cfg.technique == "saliency" and cfg.data.source == "npz" and list(cfg.data.indices) == [0, 1, 2, 3, 4]
    assert cfg.tracking.tags.figure == "fig-methods"
    sweep = OmegaConf.load("experiments/fig_methods.yaml").hydra.sweeper.params["saliency.method"]
    assert sorted(sweep.split(",")) == sorted(METHODS)  # a new method joins the figure
