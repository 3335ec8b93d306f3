"""Which class each pair aims at or leaves: untargeted from the label or the prediction, random and
least-likely targets."""

import torch

from netviz.data import ImageSet
from netviz.techniques.adversarial import make_fooling_images, predict
from tests.conftest import tiny_classifier
from tests.techniques.test_adversarial import CPU


def images_with_labels(labels):
    pixels = torch.rand(len(labels), 3, 16, 16, generator=torch.Generator().manual_seed(7))
    return ImageSet(pixels, torch.tensor(labels), [f"img{i}" for i in range(len(labels))])


def test_untargeted_from_label_leaves_the_label_even_when_the_prediction_is_already_wrong():
    model = tiny_classifier()
    predicted = predict(model, images_with_labels([0, 0]).pixels).argmax(1)
    wrong = (predicted + 1) % 10  # labels the model gets wrong, and one it gets right
    images = images_with_labels([int(wrong[0]), int(predicted[1])])
    result = make_fooling_images(model, images, None, method="pgd", targeted=False, untargeted_from="label", iterations=3, **CPU)
    assert result.classes.tolist() == images.labels.tolist()
    assert result.sample_names[0] == f"img0→not {model.class_name(int(wrong[0]))}"
    assert result.fooled[0] and result.iterations_to_fool[0] == 0  # already not the label: fooled at the start
    from_prediction = make_fooling_images(model, images, None, method="pgd", targeted=False, iterations=3, **CPU)
    assert from_prediction.classes.tolist() == predicted.tolist()


def test_least_likely_targets_are_the_clean_images_smallest_logits():
    model, images = tiny_classifier(), images_with_labels([1, 2, 3])
    result = make_fooling_images(model, images, "least_likely", method="fgsm", **CPU)
    assert result.classes.tolist() == predict(model, images.pixels).argmin(1).tolist()


def test_random_targets_are_seeded_and_never_the_images_own_class():
    model, images = tiny_classifier(), images_with_labels(list(range(10)) * 3)
    first = make_fooling_images(model, images, "random", method="fgsm", seed=4, **CPU).classes
    again = make_fooling_images(model, images, "random", method="fgsm", seed=4, **CPU).classes
    other = make_fooling_images(model, images, "random", method="fgsm", seed=5, **CPU).classes
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert (first != images.labels).all() and len(set(first.tolist())) > 3


def test_untargeted_from_label_without_labels_is_one_line_naming_the_images():
    import pytest

    from netviz.errors import NetvizError

    images = images_with_labels([4, -1])
    with pytest.raises(NetvizError, match="needs a label for every image; without one: img1 "):
        make_fooling_images(tiny_classifier(), images, None, targeted=False, untargeted_from="label", **CPU)
