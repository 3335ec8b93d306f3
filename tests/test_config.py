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


# ----- techniques register themselves; their sections are typed; options are checked before a model ----


def test_a_technique_section_is_typed_at_composition():
    with pytest.raises(NetvizError, match="classviz.tv=abc: Value 'abc' .* converted to Float"):
        compose(["technique=classviz", "classviz.tv=abc"])
    with pytest.raises(NetvizError, match="unknown option 'classviz.bogus'"):
        compose(["technique=classviz", "classviz.bogus=1"])
    cfg = compose(["technique=classviz", "classviz.lr=2"])
    assert isinstance(cfg.classviz.lr, float) and cfg.classviz.lr == 2.0


def test_top_level_aliases_become_the_section_values_and_an_alias_the_technique_ignores_is_an_error():
    from netviz.techniques import prepare

    assert prepare(compose(["technique=classviz"])).options.lr == 5.0
    assert prepare(compose(["technique=classviz", "classviz.lr=2"])).options.lr == 2.0
    cfg = compose(["technique=classviz", "lr=3", "iterations=7"])
    assert prepare(cfg).options.lr == 3.0
    resolved = OmegaConf.to_container(cfg, resolve=True)  # what the params log: the value used
    assert resolved["classviz"]["lr"] == 3.0 and resolved["classviz"]["iterations"] == 7
    assert prepare(compose(["experiment=yosinski2015", "iterations=20"])).options.iterations == 20
    assert prepare(compose(["experiment=yosinski2015"])).options.iterations == 1000
    with pytest.raises(NetvizError, match="lr=3.0 and classviz.lr=2.0 disagree; give one of them"):
        prepare(compose(["technique=classviz", "classviz.lr=2", "lr=3"]))
    with pytest.raises(NetvizError, match="l2=0.5 is not used by technique=adversarial; technique=adversarial takes: adversarial.method") as error:
        prepare(compose(["technique=adversarial", "l2=0.5"]))
    assert "\n" not in str(error.value)


def test_an_option_of_another_technique_names_its_owner_and_the_chosen_technique_options():
    from netviz.techniques import foreign_option_message

    message = foreign_option_message("adversarial.eps", "saliency")
    assert message.startswith("adversarial.eps belongs to technique=adversarial; technique=saliency takes:")
    assert "classviz.max_jitter" in foreign_option_message("adversarial.eps", "classviz")
    assert foreign_option_message("classviz.lr", "classviz") is None and foreign_option_message("model.name", "classviz") is None


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (["iterations=0"], "iterations=0 is not a positive integer"),
        (["lr=0"], "lr=0.0 must be > 0"),
        (["classviz.init=imag"], "classviz.init='imag' is not one of noise, image"),
        (["trainer.threads=0"], "trainer.threads=0 is not a positive integer"),
    ],
)
def test_value_checks_need_no_model(overrides, fragment):
    from netviz.techniques import prepare

    with pytest.raises(NetvizError, match=fragment.replace("(", r"\(")) as error:  # prepare takes no model
        prepare(compose(["technique=classviz", *overrides]))
    assert "\n" not in str(error.value)


def test_trainer_threads_sets_torchs_thread_count():
    import torch

    from netviz.techniques import prepare
    from tests.conftest import tiny_classifier

    before = torch.get_num_threads()
    job = prepare(compose(["technique=classviz", "trainer.threads=1", "iterations=1", "target=class1"]))
    try:
        job.run(tiny_classifier(), None, {"accelerator": "cpu", "progress": False})
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


EXTERNAL_MODULE = '''
"""A technique defined outside netviz: plain ascent on the target score, on the loop's parts."""
from dataclasses import dataclass

import torch

from netviz.techniques import register_technique


@dataclass
class MineConfig:
    steps: int = 2
    lr: float = 0.5


def run(classifier, images, options, cfg, trainer):
    from netviz.parts import ClassScore, NormalizedAscent
    from netviz.results import Result
    from netviz.techniques.base import InputOptimizer, optimize

    class MineResult(Result):
        def metrics(self):
            return {"mean_final_score": float(self.scores.mean())}

        def figure(self):
            from matplotlib.figure import Figure
            return Figure()

    targets = torch.zeros(len(images), dtype=torch.int64)
    module = InputOptimizer(classifier, images.pixels, targets, iterations=options.steps, objective=ClassScore(),
                            step=NormalizedAscent(options.lr), sample_names=images.names, name="mine")
    optimize(module, **trainer)
    result = MineResult(technique="mine", model=classifier.name, sample_names=images.names, history=module.history_on_cpu())
    result.scores = module.final_scores.gather(1, targets[:, None]).cpu()
    return result


register_technique("mine", run, config=MineConfig, aliases=("lr",))
'''

EXTERNAL_YAML = """# @package _global_
technique: mine
mine:
  _target_: mine_technique.MineConfig
  steps: 2
  lr: 0.5
"""


@pytest.fixture
def external_technique(tmp_path, monkeypatch):
    """A module on PYTHONPATH and a YAML in a folder for hydra.searchpath, both outside the package."""
    (tmp_path / "mine_technique.py").write_text(EXTERNAL_MODULE)
    (tmp_path / "conf" / "technique").mkdir(parents=True)
    (tmp_path / "conf" / "technique" / "mine.yaml").write_text(EXTERNAL_YAML)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return tmp_path


def hydra_compose(overrides):
    """Hydra's own composition (the CLI's early name check does not know searchpath options yet)."""
    from hydra import compose as compose_config
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from netviz.config import CONF_DIR, register_configs

    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose_config(config_name="config", overrides=overrides)
    finally:
        GlobalHydra.instance().clear()


def test_a_technique_from_outside_the_package_is_found_checked_run_and_tracked(external_technique, tracking_uri):
    from netviz.job import run_job as execute
    from netviz.techniques import TECHNIQUES, prepare
    from tests.conftest import runs_of

    overrides = ["technique=mine", f"hydra.searchpath=[file://{external_technique / 'conf'}]", "model=efficientnet_lite0",
                 "trainer.accelerator=cpu", "trainer.progress=false", f"tracking.uri={tracking_uri}", "mine.steps=3"]
    cfg = hydra_compose(overrides)
    TECHNIQUES.pop("mine", None)
    job = prepare(cfg)  # imports mine_technique from mine._target_, which registers itself
    assert job.options.steps == 3 and job.options.lr == 0.5
    with pytest.raises(NetvizError, match="Value 'many' .* converted to Integer.*technique=mine takes: mine.steps, mine.lr, lr"):
        prepare(hydra_compose([*overrides, "mine.steps=many"]))
    with pytest.raises(NetvizError, match="l2=0.1 is not used by technique=mine"):
        prepare(hydra_compose([*overrides, "l2=0.1"]))
    result = execute(cfg, overrides=overrides)
    assert result.technique == "mine"
    client, runs = runs_of(tracking_uri, "mine")
    assert [r.info.status for r in runs] == ["FINISHED"] and "mean_final_score" in runs[0].data.metrics
    assert runs[0].data.tags["technique"] == "mine" and runs[0].data.params["mine.steps"] == "3"


@pytest.mark.slow
def test_a_technique_from_outside_the_package_runs_through_run_py(external_technique, tracking_uri, tmp_path):
    from tests.conftest import run_cli, runs_of

    done = run_cli("technique=mine", f"hydra.searchpath=[file://{external_technique / 'conf'}]", "model=efficientnet_lite0",
                   "trainer.accelerator=cpu", f"tracking.uri={tracking_uri}", f"hydra.run.dir={tmp_path / 'out'}")
    assert done.returncode == 0, done.stderr[-2000:]
    _, runs = runs_of(tracking_uri, "mine")
    assert [r.info.status for r in runs] == ["FINISHED"]
