"""Objectives inside the network: what they read (a hand-built network whose channels are known),
that each rises when optimized, diversity against Lucent's, the text and structured forms, hooks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from netviz.errors import NetvizError
from netviz.models import Classifier
from netviz.parts.feature_objectives import (
    Channel,
    DeepDream,
    Diversity,
    Neuron,
    PerSample,
    layers_of,
    objective_from_config,
    objective_from_terms,
    parse_objective,
)
from netviz.parts.objectives import Evaluation
from netviz.techniques.featureviz import FeatureVisualization, FeatureVizOptions, feature_visualization, visualization_parts
from tests.conftest import tiny_classifier

CPU = {"accelerator": "cpu", "progress": False}


def known_channels_classifier() -> Classifier:
    """Layer ``scale`` is a 1x1 convolution whose channel ``c`` is ``(c + 1) * red`` of the model's input."""
    scale = nn.Conv2d(3, 4, 1, bias=False)
    with torch.no_grad():
        scale.weight.zero_()
        scale.weight[:, 0, 0, 0] = torch.arange(1.0, 5.0)
    net = nn.Sequential()
    net.add_module("scale", scale)
    net.add_module("pool", nn.AdaptiveAvgPool2d(1))
    net.add_module("flat", nn.Flatten())
    return Classifier(net, name="known", categories=[f"c{i}" for i in range(4)], mean=(0, 0, 0), std=(1, 1, 1), input_size=9)


def evaluate_with_capture(classifier, objective, pixels):
    options = FeatureVizOptions(iterations=1, param="pixel", color="rgb", valid="clamp", optimizer="ascent", lr=1.0)
    loop = FeatureVisualization(classifier, pixels, torch.zeros(len(pixels), dtype=torch.long), show_every=1, iterations=1,
                                objective=objective, **visualization_parts(classifier, options))
    return objective(loop.evaluate(loop.x, None))


@pytest.mark.parametrize("channel", [0, 2, 3])
def test_channel_and_neuron_read_the_known_activation(channel):
    classifier = known_channels_classifier()
    pixels = torch.rand(2, 3, 9, 9, generator=torch.Generator().manual_seed(channel))
    red = pixels[:, 0]
    torch.testing.assert_close(evaluate_with_capture(classifier, Channel("scale", channel), pixels), (channel + 1) * red.mean(dim=(1, 2)))
    torch.testing.assert_close(evaluate_with_capture(classifier, Neuron("scale", channel), pixels), (channel + 1) * red[:, 4, 4])
    expected_dream = (torch.arange(1.0, 5.0).view(1, 4, 1, 1) * red[:, None]).square().flatten(1).mean(dim=1)
    torch.testing.assert_close(evaluate_with_capture(classifier, DeepDream("scale"), pixels), expected_dream)


def test_diversity_is_zero_for_one_image_and_larger_for_identical_than_for_different_images():
    generator = torch.Generator().manual_seed(0)
    one = torch.rand(1, 5, 6, 6, generator=generator)
    different = torch.randn(3, 5, 6, 6, generator=generator)
    identical = different[:1].expand(3, -1, -1, -1)

    def diversity(activations):
        return Diversity("x")(Evaluation(None, None, None, None, activations={"x": activations}))

    assert diversity(one).tolist() == [0.0]
    assert bool((diversity(identical) > diversity(different)).all())
    torch.testing.assert_close(diversity(identical), torch.full((3,), 2 / 3))  # cos = 1 with the 2 others, / N


def test_diversity_summed_over_the_batch_is_minus_lucents():
    objectives = pytest.importorskip("lucent.optvis.objectives")
    activations = torch.randn(4, 6, 5, 5, generator=torch.Generator().manual_seed(1))
    lucent = objectives.diversity("x")(lambda name: activations)
    ours = Diversity("x")(Evaluation(None, None, None, None, activations={"x": activations}))
    torch.testing.assert_close(ours.sum(), -lucent)


def test_diversity_compares_each_transformed_copy_within_itself():
    activations = torch.randn(2, 5, 4, 4, generator=torch.Generator().manual_seed(2))
    copies = torch.cat([activations, activations[:1].expand(2, -1, -1, -1)])  # copy 0: different, copy 1: identical
    value = Diversity("x")(Evaluation(None, None, None, None, copies=2, activations={"x": copies}))
    alone = Diversity("x")(Evaluation(None, None, None, None, activations={"x": activations}))
    torch.testing.assert_close(value[:2], alone)
    torch.testing.assert_close(value[2:], torch.full((2,), 0.5))


@pytest.mark.parametrize(
    "text, samples",
    [("channel(0:3)", 1), ("neuron(0:5)", 1), ("layer(3)", 1), ("channel(0:3) - 1e-2 * diversity(0)", 3), ("-1 * diversity(3)", 3)],
)
def test_each_objective_rises_over_the_first_10_steps(text, samples):
    classifier = tiny_classifier()
    objective = parse_objective(text)
    options = FeatureVizOptions(iterations=10, samples=samples)
    result = feature_visualization(classifier, text, options=options, **CPU)
    start = torch.stack([s for s in result.snapshots[0][1]])
    before = evaluate_with_capture(classifier, objective, start)
    assert result.objective.mean() > before.mean()


def test_hooks_are_removed_after_the_loop_and_after_an_error():
    classifier = tiny_classifier()
    feature_visualization(classifier, "channel(0:1) + layer(4)", options=FeatureVizOptions(iterations=3), **CPU)
    assert not any(m._forward_hooks for m in classifier.modules())
    with pytest.raises(NetvizError):
        feature_visualization(classifier, "channel(0:99)", options=FeatureVizOptions(iterations=3), **CPU)
    assert not any(m._forward_hooks for m in classifier.modules())


def test_text_and_structured_forms_agree():
    activations = {"a": torch.randn(3, 4, 5, 5, generator=torch.Generator().manual_seed(3))}
    evaluation = Evaluation(None, None, None, None, activations=activations)
    text = parse_objective("2 * channel(a:1) - 1e-2 * diversity(a) + (neuron(a:3) - layer(a)) * 0.5")
    terms = objective_from_terms([
        {"kind": "channel", "layer": "a", "channel": 1, "weight": 2},
        {"kind": "diversity", "layer": "a", "weight": -1e-2},
        {"kind": "neuron", "layer": "a", "channel": 3, "weight": 0.5},
        {"kind": "layer", "layer": "a", "weight": -0.5},
    ])
    torch.testing.assert_close(text(evaluation), terms(evaluation))
    assert layers_of(text) == ["a"]
    per_sample, count = objective_from_config(["channel(a:0)", "channel(a:1)", "channel(a:2)"])
    assert count == 3 and isinstance(per_sample, PerSample)
    torch.testing.assert_close(per_sample(evaluation), activations["a"][[0, 1, 2], [0, 1, 2]].flatten(1).mean(dim=1))


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("chanel(a:1)", "unknown objective 'chanel' (did you mean 'channel'?)"),
        ("channel(a)", "channel needs layer:channel"),
        ("layer(a:2)", "layer takes a layer, not layer:channel"),
        ("channel(a:1) + 3", "adds a number to an objective"),
        ("channel(a:1) ^ 2", "cannot read objective"),
        ("(channel(a:1)", "is not closed"),
        ("channel(a:x)", "must be a whole number"),
    ],
)
def test_bad_objective_texts_get_one_line(text, fragment):
    with pytest.raises(NetvizError) as error:
        parse_objective(text)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_an_unknown_layer_gets_close_matches_and_a_channel_beyond_the_layer_is_refused():
    classifier = tiny_classifier()
    with pytest.raises(NetvizError, match=r"no layer '00' \(did you mean '0'\?\)"):
        feature_visualization(classifier, "channel(00:1)", options=FeatureVizOptions(iterations=2), **CPU)
    with pytest.raises(NetvizError, match=r"channel\(0:8\): 0 of tiny has channels 0..7"):
        feature_visualization(classifier, "channel(0:8)", options=FeatureVizOptions(iterations=2), **CPU)
