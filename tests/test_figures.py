"""Figure grids: text that never overlaps or leaves the figure, images at their native resolution,
column headers and row labels, and the scaled difference panel."""

import itertools

import numpy as np
import pytest
import torch
from PIL import Image

from netviz.figures import FIGURE_DPI, difference_image, grid_figure, save_figure

LONG_TITLE = "lr=0.1, iterations=1000, classviz.blur_every=none\nYorkshire terrier p=0.89 top-1 Australian terrier"
LONG_CAPTION = (
    "Class visualization of Yorkshire terrier with efficientnet_lite0: iterations 200, lr 5, L2 1e-3, "
    "L2 form squared, jitter 16 px, blur 0.5 px; blur every 2 | 20 | none, the one value that varies at the very end"
)


def images(rows: int, cols: int, size: int = 224, seed: int = 0) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(cols)] for _ in range(rows)]


def renderer_of(figure):
    """The Agg renderer of ``figure``, drawn: text boxes are measured as the saved PNG shows them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    canvas.draw()
    return canvas.get_renderer()


def text_boxes(figure):
    """``[(text, box in pixels)]`` of every non-empty text the figure draws: caption, headers, row
    labels and the panels' titles."""
    renderer = renderer_of(figure)
    texts = [t for t in figure.texts if t.get_text()] + [ax.title for ax in figure.axes if ax.title.get_text()]
    return [(t.get_text(), t.get_window_extent(renderer)) for t in texts]


CASES = {
    "1x1": dict(cells=images(1, 1), titles=[[LONG_TITLE]], suptitle=LONG_CAPTION),
    "1x3": dict(cells=images(1, 3), titles=[[LONG_TITLE] * 3], suptitle=LONG_CAPTION),
    "3x4": dict(
        cells=images(3, 4),
        titles=[[LONG_TITLE] * 4] * 3,
        row_labels=["image", "saliency: true class", "saliency: predicted class, a long label"],
        suptitle=LONG_CAPTION,
        column_headers=["original", "adversarial", "difference", "difference ×37, around mid-gray"],
    ),
    "fig9 as composed before (the caption fell on two-line titles)": dict(
        cells=images(1, 3),
        titles=[["blur_every=2\nYorkshire terrier p=0.89"] * 3],
        suptitle="fig9, classviz with efficientnet_lite0: iterations=200, lr=5.0, l2=0.001",
        cell_inches=2.6,
    ),
    "ragged, small, empty": dict(
        cells=[images(1, 3, size=16)[0], [None]], titles=[["a", "b", LONG_TITLE], ["FAILED"]], suptitle="short"
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_no_text_overlaps_another_or_leaves_the_figure(case):
    figure = grid_figure(**CASES[case])
    boxes = text_boxes(figure)
    assert len(boxes) >= 2
    whole = figure.bbox
    for text, box in boxes:
        assert whole.x0 <= box.x0 and box.x1 <= whole.x1 and whole.y0 <= box.y0 and box.y1 <= whole.y1, text
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        assert not box_a.overlaps(box_b), (a, b)
    # Nothing was cut: every word of the caption is still there, only wrapped.
    assert figure._suptitle.get_text().split() == CASES[case]["suptitle"].split()


def test_titles_sit_above_their_own_image_and_never_on_another():
    figure = grid_figure(**CASES["3x4"])
    renderer = renderer_of(figure)
    image_boxes = [ax.get_window_extent(renderer) for ax in figure.axes]
    for ax in figure.axes:
        title = ax.title.get_window_extent(renderer)
        own = ax.get_window_extent(renderer)
        assert title.y0 >= own.y1 - 1e-6
        assert not any(title.overlaps(other) for other in image_boxes)


@pytest.mark.parametrize("size, cols", [(224, 1), (224, 3), (16, 2), (37, 4)])
def test_images_are_shown_pixel_for_pixel_at_native_size_or_a_whole_multiple(tmp_path, size, cols):
    cells = images(1, cols, size=size)
    figure = grid_figure(cells, [[LONG_TITLE] * cols], suptitle=LONG_CAPTION)
    path = save_figure(figure, tmp_path / "grid.png")
    saved = np.asarray(Image.open(path).convert("RGB"))
    width, height = figure.get_size_inches() * FIGURE_DPI
    assert saved.shape[:2] == (round(height), round(width))
    axes = [ax for ax in figure.axes if ax.images]
    assert len(axes) == cols
    for ax, image in zip(axes, cells[0]):
        box = ax.get_window_extent()
        assert round(box.width) >= size and round(box.height) >= size
        factor = round(box.width) // size
        assert round(box.width) == factor * size and round(box.height) == factor * size
        top, left = round(saved.shape[0] - box.y1), round(box.x0)
        shown = saved[top : top + factor * size, left : left + factor * size]
        np.testing.assert_array_equal(shown, image.repeat(factor, 0).repeat(factor, 1))


def test_224_px_images_are_not_downscaled_in_a_composed_size_figure(tmp_path):
    figure = grid_figure(images(2, 2), [["a", "b"], ["c", "d"]], suptitle="caption", cell_inches=2.6)
    saved = Image.open(save_figure(figure, tmp_path / "grid.png"))
    assert saved.width >= 2 * 224 and saved.height >= 2 * 224
    assert all(round(ax.get_window_extent().width) >= 224 for ax in figure.axes)


def test_column_headers_are_drawn_once_centred_above_the_first_row():
    headers = ["original", "adversarial", "difference", "difference ×10"]
    figure = grid_figure(images(2, 4), [["t"] * 4] * 2, column_headers=headers, row_labels=["quail→stingray", "b"])
    renderer = renderer_of(figure)
    drawn = {t.get_text(): t.get_window_extent(renderer) for t in figure.texts}
    assert [h for h in headers if h in drawn] == headers  # each header exactly once (dict keys are unique)
    assert sum(t.get_text() in headers for t in figure.texts) == len(headers)
    first_row = figure.axes[:4]
    for header, ax in zip(headers, first_row):
        box, image = drawn[header], ax.get_window_extent(renderer)
        assert box.y0 >= ax.title.get_window_extent(renderer).y1 - 1e-6  # above the panel's title
        assert abs((box.x0 + box.x1) / 2 - (image.x0 + image.x1) / 2) < 1.5
    for label, ax in zip(["quail→stingray", "b"], [figure.axes[0], figure.axes[4]]):
        box, image = drawn[label], ax.get_window_extent(renderer)
        assert box.x1 <= image.x0 and image.y0 <= (box.y0 + box.y1) / 2 <= image.y1


def test_an_empty_cell_is_a_titled_frame_without_an_image():
    figure = grid_figure([[images(1, 1)[0][0], None]], [["fine", "FAILED"]])
    assert [bool(ax.images) for ax in figure.axes] == [True, False]
    assert figure.axes[1].get_title() == "FAILED"
    assert figure.axes[1].get_window_extent().width == pytest.approx(224)


def test_the_positional_signature_of_earlier_callers_still_works():
    cells = images(2, 2, size=32)
    figure = grid_figure(cells, [["a", "b"], ["c", "d"]], ["row 1", "row 2"], "caption", 2.2)
    assert len([ax for ax in figure.axes if ax.images]) == 4
    assert figure._suptitle.get_text() == "caption"


def test_difference_image_scales_the_largest_change_to_within_half_the_range_around_gray():
    rng = np.random.default_rng(0)
    delta = rng.uniform(-3 / 255, 3 / 255, (24, 24, 3))
    image, scale = difference_image(delta)
    largest = np.abs(delta).max()
    assert scale == int(scale) and scale * largest <= 0.25 < (scale + 1) * largest  # the largest whole number
    np.testing.assert_array_equal(image, np.round((0.5 + scale * delta) * 255).astype(np.uint8))
    assert image.min() >= round(0.25 * 255) and image.max() <= round(0.75 * 255)
    assert image.max() - image.min() > 100  # a change of 3 levels now spans most of that half range
    # A tensor (3, H, W) as the techniques hold it gives the same picture.
    as_tensor, same_scale = difference_image(torch.from_numpy(delta).float().permute(2, 0, 1))
    assert same_scale == scale and np.abs(as_tensor.astype(int) - image.astype(int)).max() <= 1


def test_difference_image_of_no_change_or_a_large_change():
    flat, scale = difference_image(np.zeros((4, 4, 3)))
    assert scale == 1 and (flat == 128).all()
    big = np.full((4, 4, 3), -0.6)
    big[0, 0] = 0.6
    image, scale = difference_image(big)
    assert scale == 1 and image[0, 0, 0] == 255 and image[1, 1, 0] == 0  # never shrunk, clipped to valid pixels


def test_single_line_titles_of_a_row_share_one_baseline_with_or_without_descenders():
    figure = grid_figure(images(1, 3, size=32), [["no label", "espresso", "Typy (0.92)"]])
    renderer = renderer_of(figure)
    baselines = set()
    for ax in figure.axes:
        # matplotlib's own layout of the text: its box, and each line's (width, ascent, descent)
        _, lines, _ = ax.title._get_layout(renderer)
        box = ax.title.get_window_extent(renderer)
        baselines.add(round(box.y0 + lines[-1][1][2], 3))  # the bottom line's baseline
    assert len(baselines) == 1


def test_titles_are_where_matplotlibs_automatic_placement_puts_them(tmp_path, monkeypatch):
    # grid_figure places each title itself (y=1.0, which skips the automatic placement's tick
    # measurements): the PNG is pixel for pixel the one the automatic placement draws, for image
    # cells and empty (framed) cells, with multi-line titles, headers and row labels.
    from matplotlib.axes import Axes

    cells = images(2, 3, size=64)
    cells[1][2] = None
    titles = [[LONG_TITLE, "quail p=0.5", "a"], ["b\nc", "", "FAILED"]]
    figure_args = dict(titles=titles, suptitle=LONG_CAPTION, column_headers=["lr=0.1", "lr=5", "lr=10"], row_labels=["l2=1e-5", "l2=1e-3"])
    save_figure(grid_figure(cells, **figure_args), tmp_path / "placed.png")
    placing = Axes.set_title

    def automatic(self, label, *args, y=None, **kwargs):
        return placing(self, label, *args, **kwargs)  # without y: matplotlib places it

    monkeypatch.setattr(Axes, "set_title", automatic)
    save_figure(grid_figure(cells, **figure_args), tmp_path / "automatic.png")
    placed, automatic_png = (np.asarray(Image.open(tmp_path / f"{name}.png")) for name in ("placed", "automatic"))
    assert placed.shape == automatic_png.shape and np.array_equal(placed, automatic_png)
