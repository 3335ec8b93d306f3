"""Live curves: the loop's step with its step metrics streamed to a real MLflow store, against the same
loop with nothing listening. Target: at most 1.02x.

The loop hands its values to :mod:`netviz.live` every ``log_every`` steps, unconverted; the tracker's
writer thread turns them into floats and PNGs and hands them to the tracking worker, which writes
them to SQLite (about 10 ms a batch) in its own process. The
benchmark streams a class visualization of the offline model at the default ``log_every=10`` (the
target) and at every step (``log_every=1``, the worst case), and measures the time per step as a
slope (the Trainer's start apart).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from benchmarks.common import per_step_rows, report
from netviz.models import load_model
from netviz.techniques.base import optimize
from netviz.techniques.classviz import ClassVisualization, ClassVizOptions, noise_start
from netviz.tracking import Tracker

SHORT, LONG, ROUNDS = 4, 44, 7  # a 3% difference needs long loops and many rounds to stand out of the noise


def main() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    accelerator = "gpu" if device == "cuda" else "cpu"
    model = load_model("efficientnet_lite0").to(device)
    targets = torch.tensor([187, 113])

    log_every = 10

    def loop(iterations: int) -> None:
        start = noise_start(model, len(targets)).to(device)
        options = ClassVizOptions(iterations=iterations, log_every=log_every, show_every=10**6)
        optimize(ClassVisualization(model, start, targets, options, sample_names=["a", "b"]), accelerator=accelerator, progress=False)

    with tempfile.TemporaryDirectory(prefix="netviz-bench-live-") as folder:
        tracker = Tracker(f"sqlite:///{Path(folder) / 'mlflow.db'}", experiment="bench", run_name="live").start()
        tracker.wait()  # the store is open: what is measured is the streaming, not MLflow's start

        def live(iterations: int) -> None:
            with tracker.live():
                loop(iterations)

        rows = []
        for log_every in (10, 1):
            step, _fixed = per_step_rows(f"classviz, step metrics streamed live every {log_every} steps", live, loop, SHORT, LONG, rounds=ROUNDS)
            rows.append((step[0], step[1], step[2], "<= 1.02" if log_every == 10 else "information (worst case)"))
        tracker.finish()
    report("live curves vs no tracking (time per step)", rows)


if __name__ == "__main__":
    main()
