"""Bad labels through ``python run.py``: one line naming the row, exit 2, no traceback (issue #13 had one)."""

import numpy as np
import pytest
from PIL import Image

from tests.conftest import one_line_error, run_cli

pytestmark = pytest.mark.slow


def test_a_label_out_of_range_ends_in_one_line_naming_the_row(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(images / "good.png")
    (images / "labels.csv").write_text("file,label\ngood.png,5000\n")
    done = run_cli(
        "model=efficientnet_lite0", "data=folder", f"data.path={images}", f"data.labels={images / 'labels.csv'}",
        "tracking=none", "trainer.progress=false", f"hydra.run.dir={tmp_path / 'out'}", timeout=300,
    )
    assert "labels.csv:2: label 5000 is out of range: class indices are 0..999" in one_line_error(done)
