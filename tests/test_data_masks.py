"""``data.masks``: one PNG per image, cropped exactly like its image (nearest), or one line naming the file."""

import numpy as np
import pytest
import torch
from PIL import Image

from netviz.data import load_images
from netviz.errors import NetvizError

RNG = np.random.default_rng(0)


def folder_with_masks(tmp_path, mask_size=(48, 32)):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for stem in ("a", "b"):
        Image.fromarray(RNG.integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(images / f"{stem}.jpg")
        object_mask = (RNG.random(mask_size[::-1]) > 0.5).astype(np.uint8) * 255
        Image.fromarray(object_mask).save(masks / f"{stem}.png")
    return images, masks


def test_masks_are_cropped_like_their_images(tmp_path):
    images, masks = folder_with_masks(tmp_path)
    loaded = load_images("folder", images, masks=masks, size=16, indices=[1, 0])
    assert loaded.masks.dtype == torch.bool and loaded.masks.shape == (2, 16, 16)
    for mask, stem in zip(loaded.masks, ("b", "a")):
        # Pillow's nearest resize to 24x16 (short side 16), then the center 16 columns.
        expected = np.asarray(Image.open(masks / f"{stem}.png").resize((24, 16), Image.NEAREST))[:, 4:20] > 0
        np.testing.assert_array_equal(mask.numpy(), expected)
    assert load_images("folder", images, size=16).masks is None


def test_a_missing_mask_is_named_before_any_image_is_read(tmp_path):
    images, masks = folder_with_masks(tmp_path)
    (masks / "b.png").unlink()
    (images / "a.jpg").write_bytes(b"corrupt")  # never decoded: the missing mask is found first
    with pytest.raises(NetvizError, match=r"no mask in .*masks for b.jpg"):
        load_images("folder", images, masks=masks)


def test_a_mask_of_another_size_is_refused_naming_both_files(tmp_path):
    images, masks = folder_with_masks(tmp_path, mask_size=(40, 32))
    with pytest.raises(NetvizError, match=r"mask .*a.png is 40x32 but its image a.jpg is 48x32"):
        load_images("folder", images, masks=masks, size=16)
