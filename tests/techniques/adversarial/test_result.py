"""What a run logs and draws: few metric keys, honest out-of-range numbers, short titles, options in one place."""

import dataclasses
from pathlib import Path

import pytest
import torch
import yaml

from netviz.data import ImageSet
from netviz.naming import PAIR
from netviz.techniques.adversarial import AttackOptions, FGSMAttack, make_fooling_images, register_attack
from netviz.techniques.adversarial.figure import NBSP, cells, titles
from netviz.techniques.adversarial.registry import ATTACKS
from tests.conftest import ROOT, tiny_classifier
from tests.techniques.test_adversarial import CPU


def quail():
    pixels = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(11))
    return ImageSet(pixels, torch.tensor([-1]), ["quail"])


def logged_keys(result) -> set[str]:
    return set(result.metrics()) | {f"{name}/{sample}" for name in result.history for sample in result.sample_names}


@pytest.mark.parametrize("method", ["naive", "pgd", "eot"])
def test_a_three_pair_run_logs_at_most_30_keys_and_no_class_name_outside_pair_names(method):
    result = make_fooling_images(tiny_classifier(), quail(), [1, 2, 3], method=method, iterations=4, eot_samples=2, eot_eval_samples=2, **CPU)
    keys = logged_keys(result)
    assert len(keys) <= 30 + (3 if method == "eot" else 0), sorted(keys)  # eot adds its transform_success curve
    assert all(PAIR not in key for key in result.metrics())  # metric keys spell pairs "quail to class1"
    per_pair = {key.split("/")[0] for key in keys if key.endswith("quail to class1")}
    assert per_pair <= {"fooled", "iterations_to_fool", "target_prob_end", "perturbation_linf_255", "target_prob", "transform_success"}
    rows = result.rows()
    assert [row["class"] for row in rows] == ["class1", "class2", "class3"] and rows[0]["image"] == "quail"


def test_naive_images_may_leave_valid_pixels_and_the_run_says_by_how_much_unless_clamped():
    model = tiny_classifier()
    loose = make_fooling_images(model, quail(), [1, 2, 3], lr=3.0, iterations=20, **CPU)
    outside = (loose.adversarial < 0) | (loose.adversarial > 1)
    assert outside.any(), "lr 3 in normalized units should push some pixels out of [0, 1]"
    metrics = loose.metrics()
    assert metrics["out_of_range_share"] == pytest.approx(float(outside.float().mean()))
    excursion = torch.cat([-loose.adversarial.flatten(), loose.adversarial.flatten() - 1]).max() * 255
    assert metrics["max_excursion_255"] == pytest.approx(float(excursion), rel=1e-5)
    clamped = make_fooling_images(model, quail(), [1, 2, 3], lr=3.0, iterations=20, clamp=True, **CPU)
    assert clamped.adversarial.min() >= -1e-6 and clamped.adversarial.max() <= 1 + 1e-6
    assert clamped.metrics()["max_excursion_255"] < 1e-3
    assert torch.equal(clamped.fooled, clamped.valid_image_fooled)  # a valid image is judged as it is


def test_titles_are_short_and_the_difference_is_scaled_to_show_with_its_scale_written():
    result = make_fooling_images(tiny_classifier(), quail(), [1, 2], method="pgd", eps=4, iterations=3, **CPU)
    pictures, scale, largest = cells(result, 0)
    difference = torch.from_numpy(pictures[2]).float() - 127.5
    assert 0.5 * 127 < difference.abs().max() <= 128  # stretched to reach the edge of the range, not flat gray
    delta = (result.adversarial[0] - result.original[0]).abs()
    assert scale == int(0.5 / float(torch.quantile(delta.flatten(), 0.99))) and largest == pytest.approx(4, abs=0.01)
    assert (difference.abs() >= 127).float().mean() <= 0.011  # only the 1% largest changes clip
    row = titles(result, 0, scale, largest)
    assert f"×{scale}{NBSP}(max{NBSP}4/255)" in row[2]
    assert f"{result.target_prob_end[0]:.2f}" in row[1]
    assert all(len(line) <= 30 for title in row for line in title.splitlines())  # grid_figure wraps beyond 30
    figure = result.figure()
    texts = [ax.get_title() for ax in figure.axes]
    assert texts[0].startswith("original") and texts[3].startswith("difference ×10")
    assert "Adversarial examples of tiny, pgd" in figure._suptitle.get_text()


def test_the_configs_defaults_are_the_python_defaults():
    section = yaml.safe_load(Path(ROOT, "conf/technique/adversarial.yaml").read_text())
    options, defaults = section["adversarial"], AttackOptions()
    for field in dataclasses.fields(AttackOptions):
        name = field.name
        if name.startswith("eot_"):
            assert options["eot"][name[4:]] == getattr(defaults, name), name
        elif name in options and name != "eot":
            assert options[name] == getattr(defaults, name), name
    assert {k: v for k, v in options["eot"].items() if k not in ("samples", "eval_samples", "compare_naive")} == dataclasses.asdict(defaults.eot)
    assert section["iterations"] == defaults.iterations and section["lr"] == defaults.lr


def test_a_new_attack_is_one_registered_class():
    @register_attack("fgsm_twice")
    class TwiceFGSM(FGSMAttack):
        """Two FGSM steps of eps / 2 (a toy: the point is the registration)."""

        @classmethod
        def build(cls, classifier, pixels, classes, options):
            settings = {**cls.pgd_settings(options), "iterations": 2, "step_size": options.eps / 2, "random_start": False}
            return cls(classifier, pixels, classes, **settings)

    try:
        result = make_fooling_images(tiny_classifier(), quail(), [1], method="fgsm_twice", eps=8, **CPU)
        assert result.method == "fgsm_twice" and result.iterations.tolist() == [2]
        assert result.linf.item() <= 8 + 1e-3
    finally:
        del ATTACKS["fgsm_twice"]


def test_eot_compares_with_the_naive_image_only_when_asked():
    model = tiny_classifier()
    quiet = make_fooling_images(model, quail(), [1], method="eot", iterations=2, eot_samples=2, eot_eval_samples=3, eot_compare_naive=False, **CPU)
    assert quiet.naive_eot_success is None and "naive_eot_success_rate" not in quiet.metrics()
    both = make_fooling_images(model, quail(), [1], method="eot", iterations=2, eot_samples=2, eot_eval_samples=3, **CPU)
    torch.testing.assert_close(both.eot_success, quiet.eot_success)  # the same fresh draws
    assert both.naive_eot_success.shape == (1,)


def test_fooled_at_start_counts_pairs_the_start_alone_fooled():
    model, images = tiny_classifier(), quail()
    predicted = int(model(model.normalize(images.pixels)).argmax(1))
    result = make_fooling_images(model, images, [predicted], method="pgd", eps=0.5, iterations=2, **CPU)
    assert result.iterations_to_fool.tolist() == [0] and result.metrics()["fooled_at_start"] == 1
    assert not any(key.startswith("iterations_to_fool/") for key in result.metrics())
