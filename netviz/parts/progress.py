"""The terminal's view of a running loop: a bar named after the technique, or one summary line.

On a terminal, a bar whose postfix shows the live objective (updated every ``log_every`` steps,
when the loop records its metrics anyway: no extra GPU sync); when a stopping rule ends the loop
early, it finishes on a line that says so ("classviz: all 3 pairs fooled at step 6"). When the
stream is not a terminal (a log file), no bar and no ``\\r`` frames: one summary line per loop,
through the ``netviz`` logger.
"""

from __future__ import annotations

import logging
import sys

import lightning.pytorch as L

log = logging.getLogger("netviz")


def wants_bar(progress: bool | None, iterations: int, stream=None) -> bool:
    """``progress`` if given; otherwise a bar when the loop has several steps and ``stream`` is a terminal."""
    if progress is not None:
        return bool(progress)
    stream = stream or sys.stderr
    return iterations > 1 and hasattr(stream, "isatty") and stream.isatty()


def postfix(module) -> dict[str, str]:
    """The live values the bar shows: the means of the module's ``progress_metrics`` at the last
    recorded step, and ``<verb> k/N`` under a stopping rule."""
    shown = {}
    for label, metric in module.progress_metrics.items():
        points = module.history.get(metric)
        if points:
            shown[label] = f"{float(points[-1][1].float().mean()):.3g}"
    if module.has_stop_rule:
        shown[module.stop_verb] = f"{int((~module.active).sum())}/{len(module.active)}"
    return shown


def summary(module, stopped_at: int | None) -> str:
    """One line for a finished loop: early stop, or the steps and the last values."""
    n = len(module.active)
    if stopped_at is not None:
        return f"{module.name}: all {n} {module.sample_noun} {module.stop_verb} at step {stopped_at}"
    values = ", ".join(f"{k} {v}" for k, v in postfix(module).items())
    return f"{module.name}: {module.iterations} steps" + (f", {values}" if values else "") + f" ({n} {module.sample_noun})"


class ProgressBar(L.Callback):
    """A tqdm bar over the loop's steps, refreshed with :func:`postfix` when metrics are recorded."""

    def __init__(self) -> None:
        self.bar = None
        self._points = 0

    def on_train_start(self, trainer, module) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=module.iterations, desc=module.name, unit="step", dynamic_ncols=True, leave=True)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.bar.update(1)
        points = sum(len(p) for p in module.history.values())
        if points != self._points:
            self._points = points
            self.bar.set_postfix(postfix(module), refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
