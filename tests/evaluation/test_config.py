"""``saliency.evaluate=[...]`` from a job's config: checked before any model, and its metrics, rows and
panels in the saliency result; bad input is one line and exit 2 from ``python run.py``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from netviz.data import ImageSet
from netviz.errors import NetvizError
from netviz.evaluation import check_metrics, evaluation_options
from netviz.techniques.saliency import check_config, run_from_config
from tests.conftest import one_line_error, run_cli, runs_of, tiny_classifier


@pytest.mark.parametrize(
    "section, message",
    [
        ({"evaluate": ["deletoin"]}, "unknown saliency.evaluate metric 'deletoin' \\(did you mean 'deletion'"),
        ({"evaluate": ["deletion"], "evaluation": {"step": 5}}, "unknown option saliency.evaluation.step"),
        ({"evaluate": ["deletion"], "evaluation": {"steps": 0}}, "saliency.evaluation.steps=0"),
        ({"evaluate": ["deletion"], "evaluation": {"baseline": "blurr"}}, "did you mean 'blur'"),
        ({"evaluate": ["fragility"], "evaluation": {"eps": [0.5, 300]}}, "saliency.evaluation.eps"),
        ({"evaluate": ["localization"]}, "needs object masks: give data.masks=DIR"),
    ],
)
def test_bad_settings_are_one_line_before_the_model(section, message):
    with pytest.raises(NetvizError, match=message):
        check_config(OmegaConf.create({"saliency": {"method": "gradient", **section}, "data": {"masks": None}}))


def test_the_defaults_are_the_yaml_and_the_dataclass():
    section = OmegaConf.to_container(OmegaConf.load("conf/technique/saliency.yaml").saliency)
    assert section["evaluate"] == [] and check_metrics(section["evaluate"]) == []
    assert evaluation_options(section["evaluation"]) == evaluation_options({})


def test_an_evaluated_run_logs_per_image_values_and_run_level_means(pixels):
    model = tiny_classifier()
    images = ImageSet(pixels, torch.tensor([1, 2, 3, 4]), [f"img{i}" for i in range(4)])
    cfg = OmegaConf.create({
        "seed": 0, "target": None,
        "saliency": {"method": "gradient", "evaluate": ["deletion", "insertion", "invariance", "randomization"], "evaluation": {"steps": 8}},
    })
    result = run_from_config(model, images, cfg, {"accelerator": "cpu", "devices": 1, "progress": False})
    metrics = result.metrics()
    for name in ("deletion_auc", "insertion_auc", "invariance_difference", "randomization_spearman", "randomization_ssim", "randomization_hog"):
        values = [metrics[f"{name}/img{i}"] for i in range(4)]
        assert metrics[name] == pytest.approx(float(np.mean(values)))
        assert result.rows()[0][name] == pytest.approx(values[0])
    assert metrics["invariance_difference"] < 1e-4  # the gradient is input-invariant
    assert [step for step, _ in result.history["deletion_curve"]] == list(range(9))
    assert {"deletion curve", "insertion curve", "randomization cascade 0"} <= set(result.panels())


def images_with_masks(tmp_path, mask_size=(48, 48)):
    rng = np.random.default_rng(0)
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    for stem in ("a", "b"):
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(images / f"{stem}.png")
        Image.fromarray(((rng.random(mask_size[::-1]) > 0.5) * 255).astype(np.uint8)).save(masks / f"{stem}.png")
    return images, masks


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, fragment",
    [
        (["saliency.evaluate=[deletion,fidelity]"], "unknown saliency.evaluate metric 'fidelity'"),
        (["saliency.evaluate=[localization]"], "needs object masks"),
    ],
)
def test_bad_evaluation_command_lines_are_one_line(args, fragment, tmp_path):
    done = run_cli("model=efficientnet_lite0", "tracking=none", f"hydra.run.dir={tmp_path}", *args)
    assert fragment in one_line_error(done)


@pytest.mark.slow
@pytest.mark.parametrize("problem, fragment", [("missing", "no mask in"), ("size", "is 40x48 but its image")])
def test_missing_or_differently_sized_masks_are_one_line(problem, fragment, tmp_path):
    images, masks = images_with_masks(tmp_path, mask_size=(40, 48) if problem == "size" else (48, 48))
    if problem == "missing":
        (masks / "b.png").unlink()
    done = run_cli(
        "model=efficientnet_lite0", "data=folder", f"data.path={images}", f"data.masks={masks}",
        "saliency.evaluate=[localization]", "tracking=none", f"hydra.run.dir={tmp_path / 'out'}",
    )
    assert fragment in one_line_error(done)


@pytest.mark.slow
def test_an_evaluated_job_is_tracked(tracking_uri, tmp_path):
    images, masks = images_with_masks(tmp_path)
    done = run_cli(
        "model=efficientnet_lite0", "data=folder", f"data.path={images}", f"data.masks={masks}", "trainer.accelerator=cpu",
        "saliency.evaluate=[deletion,localization]", "saliency.evaluation.steps=4", f"tracking.uri={tracking_uri}",
        f"hydra.run.dir={tmp_path / 'out'}",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    client, (run,) = runs_of(tracking_uri, "saliency")
    assert {"deletion_auc", "pointing_game", "mass_ratio", "deletion_auc/a", "mass_ratio/b"} <= set(run.data.metrics)
    assert len(client.get_metric_history(run.info.run_id, "deletion_curve/a")) == 5
    rows = json.loads(open(client.download_artifacts(run.info.run_id, "results.json")).read())
    assert rows[0]["pointing_game"] in (0.0, 1.0)
