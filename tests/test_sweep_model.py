"""A sweep's next job reuses the previous job's model when it asks for the same one, as loaded."""

import os

import pytest

from netviz import job
from tests.conftest import tiny_classifier


@pytest.fixture
def loads(monkeypatch):
    """``job.sweep_model`` with a loader that counts its calls (each a fresh tiny real network)."""
    monkeypatch.setattr(job, "_previous_model", None)
    calls = []

    def load(name, weights, score):
        calls.append((name, weights, score))
        return tiny_classifier()

    return calls, lambda name="tiny", weights="DEFAULT", score="logits": job.sweep_model(name, weights, score, load)


def test_the_same_model_is_loaded_once(loads):
    calls, model = loads
    first = model()
    assert model() is first and len(calls) == 1
    assert model(score="pre_relu") is not first and len(calls) == 2  # another score is another model


def test_random_weights_are_drawn_again_for_every_job(loads):
    calls, model = loads
    model(weights=None)
    model(weights=None)
    assert len(calls) == 2


def test_a_weights_file_that_changed_is_loaded_again(loads, tmp_path):
    calls, model = loads
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"one")
    first = model(weights=str(weights))
    assert model(weights=str(weights)) is first
    weights.write_bytes(b"other weights")
    os.utime(weights, ns=(1, 1))
    assert model(weights=str(weights)) is not first and len(calls) == 2


@pytest.mark.parametrize("change", ["hook", "train", "grad"])
def test_a_model_changed_by_its_job_is_not_reused(loads, change):
    calls, model = loads
    first = model()
    if change == "hook":
        first.net.register_forward_hook(lambda *_: None)
    elif change == "train":
        first.net.train()  # a submodule: Classifier.train() itself keeps eval mode
    else:
        next(first.parameters()).requires_grad_(True)
    assert model() is not first and len(calls) == 2


def test_a_reused_model_is_measured_for_its_chunks_once():
    from netviz.techniques.base import activation_bytes, default_batch_size

    model = tiny_classifier()
    passes = []
    model.net.register_forward_pre_hook(lambda _m, inputs: passes.append(len(inputs[0])))
    first = default_batch_size(model)
    assert default_batch_size(model) == first and activation_bytes(model) * first <= 1 << 30
    assert passes == [1]  # one pass of one image, the first time only
    model.input_size = 32  # another input size is another measure
    assert activation_bytes(model) > 0 and passes == [1, 1]
