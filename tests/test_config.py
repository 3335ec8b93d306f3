"""Config composition: every group option composes, the schema types values, bad choices are caught."""

import pytest
from omegaconf import OmegaConf

from netviz.api import compose
from netviz.config import group_options
from netviz.errors import NetvizError


def test_the_default_job():
    cfg = compose([])
    assert (cfg.technique, cfg.model.name, cfg.data.source) == ("saliency", "squeezenet1_1", "samples")
    assert cfg.trainer.accelerator == "auto" and cfg.tracking.enabled


@pytest.mark.parametrize("group", ["model", "data", "technique", "tracking", "trainer"])
def test_every_option_of_every_group_composes(group):
    for option in group_options(group):
        cfg = compose([f"{group}={option}", "data.path=somewhere"])
        if group == "technique":
            assert cfg.technique == option and cfg[option] is not None
        elif group == "model":
            assert cfg.model.name == option


@pytest.mark.parametrize("experiment", group_options("experiment"))
def test_every_experiment_composes_and_names_its_figure(experiment):
    cfg = compose([f"experiment={experiment}"])
    assert cfg.technique in group_options("technique")
    OmegaConf.to_container(cfg, resolve=True)


def test_any_torchvision_classifier_is_a_model_option():
    cfg = compose(["model=resnet18", "model.weights=null"])
    assert cfg.model.name == "resnet18" and cfg.model.weights is None


def test_hyperparameters_arrive_typed():
    cfg = compose(["lr=5", "l2=1e-3", "iterations=7", "seed=3"])
    assert isinstance(cfg.lr, float) and cfg.lr == 5.0
    assert isinstance(cfg.l2, float) and isinstance(cfg.iterations, int) and cfg.seed == 3


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("model=squeez", "did you mean 'squeezenet1_1'"),
        ("technique=salency", "did you mean 'saliency'"),
        ("data=nzp", "did you mean 'npz'"),
        ("lr=abc", "lr=abc is not a number"),
        ("iterations=2.5", "is not an integer"),
        ("lr=1,x", "lr=x is not a number"),
        ("iteration=5", "unknown option 'iteration' \\(did you mean 'iterations'"),
        ("trainer.log_every=abc", "trainer.log_every=abc: Value 'abc' .* converted to Integer"),
        ("data.indices=[a]", "data.indices=\\[a\\]: Value 'a'"),
    ],
)
def test_bad_choices_and_values_are_one_clear_error(override, fragment):
    with pytest.raises(NetvizError, match=fragment):
        compose([override])


def test_an_unknown_technique_option_is_matched_against_that_technique():
    with pytest.raises(NetvizError, match="did you mean 'classviz.blur_every'"):
        compose(["technique=classviz", "classviz.blur_evry=3"])
