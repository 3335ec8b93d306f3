"""Robust accuracy in mini-batches: the same as one image at a time, and the same after a resume."""

import json

import pytest
import torch

from netviz.data import ImageSet
from netviz.errors import NetvizError
from netviz.techniques.adversarial import make_fooling_images, robust_accuracy
from tests.conftest import tiny_classifier
from tests.techniques.test_adversarial import CPU


def labelled(n=7):
    model = tiny_classifier()
    pixels = torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(9))
    predicted = model(model.normalize(pixels)).argmax(1)
    labels = torch.where(torch.arange(n) % 3 == 0, (predicted + 1) % 10, predicted)  # some clean mistakes
    return model, ImageSet(pixels, labels, [f"img{i}" for i in range(n)])


def test_robust_accuracy_in_batches_is_the_mean_of_per_image_attacks(tmp_path):
    model, images = labelled()
    report = robust_accuracy(model, images, method="fgsm", eps=8, batch_size=3, **CPU)
    singles = [
        make_fooling_images(model, images.select([i]), None, method="fgsm", eps=8, targeted=False, untargeted_from="label", **CPU)
        for i in range(len(images))
    ]
    assert report.robust_accuracy == pytest.approx(sum(float(~r.valid_image_fooled[0]) for r in singles) / len(images))
    assert report.clean_accuracy == pytest.approx(float((torch.stack([r.original_class[0] for r in singles]) == images.labels).float().mean()))
    assert report.robust_accuracy < report.clean_accuracy
    assert len(report.batch_counts) == 3 and report.metrics()["images"] == 7


def test_an_interrupted_run_resumes_from_its_progress_file_with_the_same_totals(tmp_path):
    model, images = labelled()
    progress = tmp_path / "robust.json"
    whole = robust_accuracy(model, images, method="fgsm", eps=8, batch_size=3, progress_file=progress, **CPU)
    saved = json.loads(progress.read_text())
    assert sorted(saved["batches"]) == ["0", "1", "2"]
    del saved["batches"]["2"]  # as if interrupted during the last batch
    progress.write_text(json.dumps(saved))
    resumed = robust_accuracy(model, images, method="fgsm", eps=8, batch_size=3, progress_file=progress, **CPU)
    assert resumed.metrics() == whole.metrics() and resumed.batch_counts == whole.batch_counts
    saved["batches"]["1"]["robust_correct"] += 100  # a batch in the file is read back, never recomputed
    progress.write_text(json.dumps(saved))
    tampered = robust_accuracy(model, images, method="fgsm", eps=8, batch_size=3, progress_file=progress, **CPU)
    assert tampered.batch_counts[1]["robust_correct"] == whole.batch_counts[1]["robust_correct"] + 100
    with pytest.raises(NetvizError, match="other settings"):
        robust_accuracy(model, images, method="fgsm", eps=4, batch_size=3, progress_file=progress, **CPU)


def test_robust_accuracy_needs_labels():
    model, images = labelled(2)
    images.labels[1] = -1
    with pytest.raises(NetvizError, match="needs a label for every image"):
        robust_accuracy(model, images, method="fgsm", **CPU)
