"""``technique=featureviz`` and Lucid's options of ``technique=classviz``: configs, the course's defaults
kept, layer listing, and the command line end to end (slow: the offline model, few iterations)."""

from __future__ import annotations

import subprocess

import pytest
import torch

from netviz.errors import NetvizError
from netviz.parts.image_parameterization import ImageParameterization
from netviz.techniques import prepare
from netviz.techniques.classviz import ClassVisualization, ClassVizOptions, class_visualization
from netviz.techniques.featureviz import FeatureVizOptions, feature_visualization, layer_shapes, list_layers
from tests.conftest import COURSE_NPZ, ROOT, one_line_error, run_cli, runs_of, tiny_classifier
from tests.test_config import hydra_compose

CPU = {"accelerator": "cpu", "progress": False}
LUCID = dict(param="fourier", color="decorrelated", valid="sigmoid", transforms="lucid", optimizer="adam", lr=0.05, l2=0.0, blur_every=None)
FAST = ("model=efficientnet_lite0", "trainer.accelerator=cpu", "trainer.progress=false")


def test_featureviz_config_composes_typed_and_checked():
    job = prepare(hydra_compose(["technique=featureviz", 'featureviz.objective="channel(features.7:12)"', "iterations=5"]))
    assert job.options.objective == "channel(features.7:12)" and job.options.iterations == 5
    assert (job.options.param, job.options.color, job.options.optimizer, job.options.lr) == ("fourier", "decorrelated", "adam", 0.05)
    with pytest.raises(NetvizError, match="featureviz.param='fft' is not one of pixel, fourier"):
        prepare(hydra_compose(["technique=featureviz", "featureviz.param=fft"]))
    with pytest.raises(NetvizError, match="unknown objective 'chanel'"):
        prepare(hydra_compose(["technique=featureviz", 'featureviz.objective="chanel(a:1)"']))
    with pytest.raises(NetvizError, match=r"unknown optimizer 'adma' \(did you mean .*'adam'"):
        prepare(hydra_compose(["technique=classviz", "classviz.optimizer=adma"]))


def test_lucid2017_preset_sets_the_whole_combination():
    job = prepare(hydra_compose(["experiment=lucid2017"]))
    options = job.options
    assert (options.param, options.color, options.valid, options.transforms, options.optimizer) == ("fourier", "decorrelated", "sigmoid", "lucid", "adam")
    assert options.lr == 0.05 and options.l2 == 0 and options.blur_every is None


def test_classviz_defaults_are_the_course_and_lucids_options_change_the_parts():
    classifier = tiny_classifier()
    course = ClassVisualization(classifier, torch.rand(1, 3, 16, 16), torch.tensor([0]), ClassVizOptions())
    assert not isinstance(course.parameterization, ImageParameterization) and type(course.step_rule).__name__ == "NormalizedAscent"
    lucid = ClassVisualization(classifier, torch.rand(1, 3, 16, 16), torch.tensor([0]), ClassVizOptions(**LUCID))
    assert isinstance(lucid.parameterization, ImageParameterization) and type(lucid.step_rule).__name__ == "TorchOptimizer"
    assert [type(t).__name__ for t in lucid.transforms.chain] == ["Pad", "Jitter", "RandomScale", "RandomRotation", "Jitter"]


def test_lucids_class_visualization_raises_the_target_and_keeps_valid_pixels():
    classifier = tiny_classifier()
    result = class_visualization(classifier, [0, 3], options=ClassVizOptions(iterations=15, **LUCID), **CPU)
    start = classifier(classifier.normalize(result.start)).softmax(1)[[0, 1], [0, 3]]
    assert bool((result.probability > start).all())
    assert result.pixels.min() >= 0 and result.pixels.max() <= 1


def test_blur_with_a_fourier_image_blurs_its_image():
    classifier = tiny_classifier()
    options = ClassVizOptions(iterations=4, blur_every=2, blur_sigma=1.0, **{k: v for k, v in LUCID.items() if k != "blur_every"})
    loop = ClassVisualization(classifier, torch.rand(1, 3, 16, 16), torch.tensor([0]), options)
    image = loop.pixels()
    blurred = loop._blur(loop.x, 0)
    from netviz.transforms import gaussian_blur

    torch.testing.assert_close(loop.parameterization.image(blurred), gaussian_blur(image, 1.0), rtol=0, atol=1e-4)


def test_a_list_of_objectives_gives_one_image_each_and_a_figure_row_per_layer():
    result = feature_visualization(tiny_classifier(), ["channel(0:0)", "channel(0:1)", "channel(4:2)"], options=FeatureVizOptions(iterations=3), **CPU)
    assert result.sample_names == ["channel(0:0)", "channel(0:1)", "channel(4:2)"] and result.pixels.shape == (3, 3, 16, 16)
    assert len(result.metrics()) == 4 and all(0 <= k.count("/") <= 1 for k in result.metrics())
    figure = result.figure()
    assert len(figure.axes) >= 3


def test_layer_shapes_come_from_one_forward_pass():
    shapes = layer_shapes(tiny_classifier())
    assert shapes["0"] == (8, 16, 16) and shapes["3"] == (8, 8, 8) and shapes["7"] == (10,)


@pytest.mark.slow
def test_list_layers_names_efficientnet_lite0s_blocks_with_shapes():
    text = list_layers("efficientnet_lite0")
    assert "_blocks.10" in text and "(1280, 7, 7)" in text  # _conv_head at 224 px


@pytest.mark.slow
def test_featureviz_runs_from_the_command_line_and_is_tracked(tracking_uri):
    done = run_cli("technique=featureviz", 'featureviz.objective="channel(_blocks.10:5) - 1e-2 * diversity(_blocks.10)"',
                   "featureviz.samples=2", "iterations=3", *FAST, f"tracking.uri={tracking_uri}")
    assert done.returncode == 0, done.stderr[-3000:]
    _, runs = runs_of(tracking_uri, "featureviz")
    assert [r.info.status for r in runs] == ["FINISHED"] and "mean_final_objective" in runs[0].data.metrics
    bad = run_cli("technique=featureviz", 'featureviz.objective="channel(_block.10:5)"', "iterations=2", *FAST, "tracking=none")
    assert bad.returncode == 2 and "did you mean '_blocks.10'" in one_line_error(bad)


@pytest.mark.slow
def test_lucid2017_runs_from_the_command_line(tracking_uri):
    done = run_cli("experiment=lucid2017", "iterations=2", *FAST, f"tracking.uri={tracking_uri}")
    assert done.returncode == 0, done.stderr[-3000:]
    _, runs = runs_of(tracking_uri, "classviz")
    assert runs[0].data.params["classviz.param"] == "fourier" and runs[0].data.tags["preset"] == "lucid2017"


@pytest.mark.slow
@pytest.mark.skipif(not COURSE_NPZ.exists(), reason="the course's images are not here")
def test_make_fig_featureviz_runs_both_methods_and_composes_them(tracking_uri, tmp_path):
    args = " ".join(["trainer.accelerator=cpu", "trainer.progress=false", "iterations=2", f"tracking.uri={tracking_uri}",
                     f"hydra.sweep.dir={tmp_path / 'multirun'}"])
    done = subprocess.run(
        ["make", "--no-print-directory", "fig-featureviz", f"ARGS={args}", f"FIGURES_DIR={tmp_path / 'figures'}", f"NPZ={COURSE_NPZ}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "figures" / "fig-featureviz.png").stat().st_size > 20_000
    _, runs = runs_of(tracking_uri, "classviz")
    runs = [r for r in runs if "classviz.param" in r.data.params]  # the jobs, not the sweep's parent
    assert sorted(r.data.params["classviz.param"] for r in runs) == ["fourier", "pixel"]
    assert {r.data.params["target"] for r in runs} == {"['goldfish', 'hen', 'Yorkshire terrier', 'monarch']"}


@pytest.mark.slow
def test_fig_channels_makes_one_image_per_channel(tracking_uri, tmp_path):
    done = run_cli("experiment=fig_channels", "iterations=1", "trainer.accelerator=cpu", "trainer.progress=false",
                   f"tracking.uri={tracking_uri}", f"figure={tmp_path / 'channels.png'}")
    assert done.returncode == 0, done.stderr[-3000:]
    _, runs = runs_of(tracking_uri, "featureviz")
    assert len([k for k in runs[0].data.metrics if k.startswith("final_objective/")]) == 12
    assert (tmp_path / "channels.png").stat().st_size > 20_000
