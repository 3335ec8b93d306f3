"""A CPU forward pass over large images runs in chunks (faster in the caches), except while layers are
captured: Grad-CAM and feature objectives need every sample's activations, not the last chunk's."""

import torch

from netviz.capture import capture
from netviz.models import load_model
from netviz.techniques.base import CPU_CHUNK_PIXELS, class_scores


def test_a_captured_layer_sees_the_whole_batch_and_the_scores_do_not_change():
    model = load_model("squeezenet1_1", weights=None)
    pixels = torch.rand(6, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    assert len(pixels) * 224 * 224 > CPU_CHUNK_PIXELS  # without a capture the pass is chunked
    chunked, _ = class_scores(model, pixels)
    with torch.no_grad(), capture(model.net, ["features.12"]) as seen:
        whole, _ = class_scores(model, pixels)
    assert seen.activations["features.12"].shape[0] == 6
    torch.testing.assert_close(whole, chunked.detach(), rtol=1e-5, atol=1e-5)
