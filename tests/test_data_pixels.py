"""Files read as a person sees them: 16-bit depth, EXIF orientation, transparency, Pillow's formats,
one resize from the original, and a warning for upscaled tiny images. Oracles: NumPy and Pillow."""

import logging
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from netviz.data import load_images, resize_and_crop

RNG = np.random.default_rng(0)


def as_array(pixels: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` pixels in [0, 1] as ``(H, W, 3)`` in 0-255 units (floats, not rounded)."""
    return pixels.permute(1, 2, 0).numpy().astype(np.float64) * 255


def test_16_bit_png_is_scaled_down_not_clipped(tmp_path):
    depth16 = RNG.integers(0, 65536, (16, 16), dtype=np.uint16)
    Image.fromarray(depth16).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode == "I;16"
    image = load_images("folder", tmp_path, size=16).pixels[0]
    np.testing.assert_allclose(as_array(image), np.repeat(depth16[..., None] / 257, 3, axis=-1), rtol=0, atol=1e-3)
    assert (image == 1).float().mean() < 0.01  # clipping at 255 would make almost every pixel white


def save_16_bit_rgb_png(path, array: np.ndarray) -> None:
    """A 16-bit RGB PNG written by hand (Pillow does not write them): signature, IHDR, IDAT, IEND."""
    height, width, _ = array.shape
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in array)  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)  # 16 bits, colour type 2 (RGB)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)


def test_16_bit_rgb_png_keeps_its_high_byte(tmp_path):
    depth16 = RNG.integers(0, 65536, (16, 16, 3)).astype(np.uint16)
    save_16_bit_rgb_png(tmp_path / "deep.png", depth16)
    image = load_images("folder", tmp_path, size=16).pixels[0]
    np.testing.assert_allclose(as_array(image), depth16 >> 8, rtol=0, atol=1e-3)


def test_32_bit_integer_tiff_is_read_as_16_bit(tmp_path):
    depth16 = RNG.integers(0, 65536, (16, 16)).astype(np.int32)
    Image.fromarray(depth16, "I").save(tmp_path / "deep.tif")
    assert Image.open(tmp_path / "deep.tif").mode == "I"
    image = load_images("folder", tmp_path, size=16).pixels[0]
    np.testing.assert_allclose(as_array(image)[..., 0], depth16 / 257, rtol=0, atol=1e-3)


@pytest.mark.parametrize("orientation, quarter_turns", [(6, -1), (8, 1)])  # 6: turn clockwise to view; 8: anticlockwise
def test_exif_orientation_is_applied(tmp_path, orientation, quarter_turns):
    sideways = RNG.integers(0, 256, (32, 48, 3), dtype=np.uint8)  # 48 wide, 32 high, as the camera stored it
    Image.fromarray(sideways).save(tmp_path / "plain.jpg", quality=95)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(sideways).save(tmp_path / "tagged.jpg", quality=95, exif=exif)
    decoded = np.asarray(Image.open(tmp_path / "plain.jpg"), dtype=np.float64)  # the same JPEG data, untagged
    upright = np.rot90(decoded, k=quarter_turns)  # 48 high, 32 wide: crop 8 rows at the top and at the bottom
    images = load_images("folder", tmp_path, size=32)
    tagged = as_array(images.pixels[images.files.index("tagged.jpg")])
    np.testing.assert_allclose(tagged, upright[8:40], rtol=0, atol=1e-3)
    assert np.abs(tagged - decoded[:, 8:40]).mean() > 20  # and it is not the sideways crop


def white_composite(image: Image.Image) -> np.ndarray:
    """Pillow's own alpha compositing of ``image`` onto opaque white, in 0-255 units."""
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), float)


def transparent_images() -> dict[str, Image.Image]:
    rgba = Image.fromarray(RNG.integers(0, 256, (16, 16, 4), dtype=np.uint8), "RGBA")
    gray_alpha = Image.fromarray(RNG.integers(0, 256, (16, 16, 2), dtype=np.uint8), "LA")
    palette = Image.fromarray(RNG.integers(0, 4, (16, 16), dtype=np.uint8), "P")
    palette.putpalette([200, 10, 10, 10, 200, 10, 10, 10, 200, 0, 0, 0])
    palette.info["transparency"] = 3  # palette entry 3 (black) is transparent
    return {"rgba.png": rgba, "gray_alpha.png": gray_alpha, "palette.png": palette}


def test_transparency_is_composited_onto_white(tmp_path):
    originals = transparent_images()
    for file, image in originals.items():
        image.save(tmp_path / file, transparency=3) if image.mode == "P" else image.save(tmp_path / file)
    images = load_images("folder", tmp_path, size=16)
    for file, image in originals.items():
        loaded = as_array(images.pixels[images.files.index(file)])
        np.testing.assert_allclose(loaded, white_composite(image), rtol=0, atol=0.51, err_msg=file)  # Pillow rounds
        dropped = np.asarray(image.convert("RGB"), float)
        assert np.abs(loaded - dropped).mean() > 10, file  # the alpha was not simply dropped


def test_formats_pillow_reads_are_read_and_others_listed_in_one_warning(tmp_path, caplog):
    rgb = RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "lossless.webp", lossless=True)
    Image.fromarray(rgb).save(tmp_path / "plain.tif")
    Image.fromarray(rgb).save(tmp_path / "no_suffix", format="PNG")  # identified by its content
    frames = [Image.fromarray(np.full((16, 16, 3), value, np.uint8)) for value in (40, 220)]
    frames[0].save(tmp_path / "animated.gif", save_all=True, append_images=frames[1:])
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "data.bin").write_bytes(bytes(range(256)))
    (tmp_path / "features.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))  # Pillow knows HDF5 only as a stub
    with caplog.at_level(logging.WARNING, logger="netviz"):
        images = load_images("folder", tmp_path, size=16)
    assert images.files == ["animated.gif", "lossless.webp", "no_suffix", "plain.tif"]
    for file in ("lossless.webp", "no_suffix", "plain.tif"):
        np.testing.assert_allclose(as_array(images.pixels[images.files.index(file)]), rgb, rtol=0, atol=1e-3)
    with Image.open(tmp_path / "animated.gif") as gif:
        first_frame = np.asarray(gif.convert("RGB"), float)
    np.testing.assert_allclose(as_array(images.pixels[0]), first_frame, rtol=0, atol=1e-3)
    assert first_frame.mean() < 100  # the first frame (40), not the second (220)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert all(file in warning for file in ("data.bin", "notes.txt", "features.h5")) and "\n" not in warning


def test_resized_once_from_the_original(tmp_path):
    """A 600 px model gets the 900x700 photo resized once, not an upsampled 320 px copy (#14)."""
    photo = RNG.integers(0, 256, (700, 900, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    loaded = load_images("folder", tmp_path, size=600).pixels
    original = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    direct = resize_and_crop(original, 600)
    assert loaded.shape == (1, 3, 600, 600)
    assert (loaded - direct).abs().max() < 1e-6
    via_320 = resize_and_crop(resize_and_crop(original, 320), 600)
    assert (loaded - via_320).abs().mean() > 0.05


def test_tiny_images_warn_once_naming_files_and_sizes_then_upscale(tmp_path, caplog):
    tiny = RNG.integers(0, 256, (27, 40, 3), dtype=np.uint8)
    Image.fromarray(tiny).save(tmp_path / "tiny.png")
    Image.fromarray(RNG.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(tmp_path / "small.png")
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "big.png")
    with caplog.at_level(logging.WARNING, logger="netviz"):
        images = load_images("folder", tmp_path, size=32)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "tiny.png (40x27)" in warning and "small.png (20x20)" in warning and "big" not in warning
    expected = resize_and_crop(torch.from_numpy(tiny).permute(2, 0, 1)[None].float() / 255, 32)[0]
    torch.testing.assert_close(images.pixels[images.files.index("tiny.png")], expected, rtol=0, atol=1e-6)


def test_npz_with_small_images_warns_once(npz_file, caplog):
    with caplog.at_level(logging.WARNING, logger="netviz"):
        load_images("npz", npz_file, size=64)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "images.npz" in warning and "32x32" in warning
