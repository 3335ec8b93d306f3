"""Compose one multirun's runs into one figure, read back from MLflow: ``python -m netviz.compose fig7``.

Each report figure (5-15) is one multirun tagged ``figure=<name>``. The composer takes the newest
such multirun from the store (the children of its parent run, or else the runs sharing the newest
``sweep_id``), lays out each run's final images in a grid whose columns (and rows, when the sweep has
two axes) are the swept values, titles each image with its sample and the model's probability for
its target, captions the figure like the report ("Class visualization of Yorkshire terrier with
efficientnet_lite0: iterations 200, lr 5, L2 1e-3; blur every 2 | 20 | none") and writes
``figures/<name>.png``. Nothing is recomputed: a figure can be redrawn from the store at any time.

The same pieces summarize any multirun on its parent run: :func:`sweep_figure` (the grid, failed
jobs as empty cells titled ``FAILED``) and :func:`metrics_table` (one row per job).

Usage::

    python -m netviz.compose fig7 [tracking.uri=sqlite:///path/mlflow.db] [--output figures/fig7.png]

Other ``key=value`` arguments are accepted and ignored, so that a Makefile can pass the same
``$(ARGS)`` to the runs and to the composer.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from netviz.errors import NetvizError
from netviz.naming import PAIR, file_name, metric_name
from netviz.runs import (
    PARENT_TAG,
    RunRecord,
    download_images,
    find_children,
    latest_sweep,
    read_results,
    search_runs,
    varied_params,
)

# What a caption says a technique shows.
TECHNIQUE_TITLES = {
    "classviz": "Class visualization",
    "adversarial": "Adversarial examples",
    "saliency": "Saliency maps",
}
# The settings a caption names for each technique (those the sweep did not vary), in this order.
DESCRIBED_PARAMS = {
    # The section's key where a technique logs it, else the top-level alias (older runs).
    "classviz": ("classviz.iterations", "iterations", "classviz.lr", "lr", "classviz.l2", "l2", "classviz.blur_every"),
    "adversarial": ("adversarial.method", "iterations", "lr", "adversarial.eps"),
    "saliency": (),
}
# How a caption, header or label names a param where its key is not what the report says.
PARAM_LABELS = {
    "l2": "L2",
    "classviz.blur_every": "blur every",
    "adversarial.eps": "eps",
    "adversarial.method": "method",
}
# What a header or label says for a param set to none, where "<param> none" would not read.
NONE_MEANS = {"classviz.blur_every": "no blur"}
# Per-sample metrics holding the model's final probability for the sample's target, by technique.
PROBABILITY_METRICS = ("final_probability", "target_prob_end", "prob_predicted")
# Panels at least this many times wider than tall are strips: a run's strips stack in a column.
STRIP_ASPECT = 1.5
# A caption lists its samples up to this many; beyond, it counts them.
LISTED_SAMPLES = 4


def short_name(key: str) -> str:
    """A param's name without its technique's section: ``classviz.blur_every`` -> ``blur_every``."""
    return key.split(".", 1)[1] if key.startswith(("classviz.", "adversarial.", "saliency.")) else key


def format_value(text: str | None) -> str:
    """A param value as the report writes it: ``5.0`` -> ``5``, ``0.001`` -> ``1e-3``, ``None`` -> ``none``."""
    if text is None or text in ("None", "null"):
        return "none"
    try:
        number = float(text)
    except ValueError:
        return text
    if not np.isfinite(number) or text.lower() in ("true", "false"):
        return text
    if number == int(number) and abs(number) < 1e6:
        return str(int(number))
    if abs(number) < 1e-2:
        mantissa, exponent = f"{number:.2e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{number:g}"


def setting(key: str, value: str | None) -> str:
    """``"blur every 2"``: a param and its value as a caption, header or label writes them."""
    if format_value(value) == "none" and key in NONE_MEANS:
        return NONE_MEANS[key]
    return f"{PARAM_LABELS.get(key, short_name(key))} {format_value(value)}"


def describe(run: RunRecord, keys: Sequence[str]) -> str:
    """``"iterations 1000, lr 0.1"``: the run's values of ``keys``."""
    return ", ".join(setting(key, run.params.get(key, "?")) for key in keys)


def probability(run: RunRecord, sample: str) -> float | None:
    """The model's final probability for ``sample``'s target, as the run logged it (``None`` if it did not)."""
    for metric in PROBABILITY_METRICS:
        for key in (metric_name(sample), file_name(sample)):
            if f"{metric}/{key}" in run.metrics:
                return run.metrics[f"{metric}/{key}"]
    return None


def cell_title(run: RunRecord, sample: str, keys: Sequence[str] = ()) -> str:
    """The title over one of a run's images: the values of ``keys`` (the varied ones a header does not
    already show), then the sample and the model's final probability for its target, where logged."""
    p = probability(run, sample)
    named = sample if p is None else f"{sample}, p={p:.2f}"
    return f"{describe(run, keys)}\n{named}" if keys else named


def layout(runs: Sequence[RunRecord], varied: Sequence[str]) -> list[list[RunRecord]]:
    """Rows of runs: one row per value of the slowest-changing varied param when the sweep has two
    axes, else a single row, in sweep order."""
    if len(varied) != 2:
        return [list(runs)]
    rows: dict[str, list[RunRecord]] = {}
    for run in runs:
        rows.setdefault(run.params.get(varied[0], "?"), []).append(run)
    return list(rows.values())


def run_panels(uri: str, run: RunRecord) -> list[tuple[str, np.ndarray | None]]:
    """``[(sample, image)]``: a run's final images, each named by the sample it shows, in the run's
    sample order. A run that did not finish, or left no images, is one empty cell named by why."""
    if run.status != "FINISHED":
        return [(run.status, None)]
    try:
        images = download_images(uri, run)
    except NetvizError:
        return [("no images", None)]
    if not images:
        return [("no images", None)]
    names = [row.get("sample", row.get("image")) for row in read_results(uri, run)]
    by_stem = {file_name(name): name for name in names if isinstance(name, str)}
    order = {file_name(name): i for i, name in enumerate(by_stem.values())}
    stems = sorted(images, key=lambda stem: (order.get(stem, len(order)), stem))
    return [(by_stem.get(stem, stem), images[stem]) for stem in stems]


def describe_samples(technique: str, samples: Sequence[str]) -> str:
    """What a caption says the figure shows: ``"Yorkshire terrier"``, ``"snail from hay"``,
    ``"Tibetan mastiff, Border terrier from images of the same class"``, ``"25 samples"``."""
    samples = list(dict.fromkeys(samples))
    if not samples:
        return ""
    if len(samples) > LISTED_SAMPLES:
        return f"{len(samples)} samples"
    pairs = [sample.split(PAIR, 1) for sample in samples]
    if technique == "classviz" and all(len(pair) == 2 for pair in pairs):
        targets = ", ".join(dict.fromkeys(target for _, target in pairs))
        if all(image == target for image, target in pairs):
            return f"{targets} from images of the same class"
        return f"{targets} from {', '.join(dict.fromkeys(image for image, _ in pairs))}"
    return ", ".join(samples)


def caption(runs: Sequence[RunRecord], samples: Sequence[str] = ()) -> str:
    """The sentence over a sweep's figure: what it shows, with which model, at which settings, and
    the swept values (``blur every 2 | 20 | none``; rows and columns named when there are two axes)."""
    finished = [run for run in runs if run.status == "FINISHED"] or list(runs)
    first = finished[0]
    technique = first.tags.get("technique", "")
    varied = varied_params(runs)
    text = TECHNIQUE_TITLES.get(technique, technique.capitalize() or "Runs")
    shown = describe_samples(technique, samples)
    text += f" of {shown}" if shown else ""
    model = first.tags.get("model") or first.params.get("model.name")
    text += f" with {model}" if model else ""
    fixed = [key for key in DESCRIBED_PARAMS.get(technique, ()) if key in first.params and key not in varied]
    swept = [
        f"{PARAM_LABELS.get(key, short_name(key))} "
        + " | ".join(format_value(value) for value in dict.fromkeys(run.params.get(key) for run in runs))
        for key in varied
    ]
    if len(swept) == 2:
        swept = [f"{swept[0]} (rows)", f"{swept[1]} (columns)"]
    details = "; ".join(part for part in (describe(first, fixed), *swept) if part)
    return f"{text}: {details}" if details else text


def sweep_figure(uri: str, runs: Sequence[RunRecord], title: str | None = None):
    """The grid of a sweep's final images (a matplotlib Figure), or ``None`` when there are no runs.

    Columns are the values of the fastest-changing swept param (headed once above the grid), rows
    those of the slowest when two params were swept; a run's images go side by side, or, when they
    are strips (adversarial panels), one above the other. Every image is titled with its sample and the
    model's final probability for its target. A job that failed (or is still running) is an empty
    cell titled with its status, so a sweep with a failed job still gets its summary.

    Args:
        uri: the tracking store the runs are in.
        runs: the sweep's runs, in sweep order (:func:`netviz.runs.find_children`).
        title: the caption (default: :func:`caption`).
    """
    from netviz.figures import grid_figure

    runs = list(runs)
    if not runs:
        return None
    varied = varied_params(runs)
    grid = layout(runs, varied)
    panels = {run.run_id: run_panels(uri, run) for run in runs}
    per_run = max(len(found) for found in panels.values())
    fast = varied[-1] if varied else None
    headed = 0 < len(varied) <= 2 and all(
        [r.params.get(fast) for r in row] == [r.params.get(fast) for r in grid[0]] for row in grid
    )
    in_titles = [] if headed else varied

    def cells_of(run: RunRecord) -> list[tuple[np.ndarray | None, str]]:
        """``(image, title)`` of each of a run's panels, padded with empty cells to ``per_run``."""
        found = panels[run.run_id] + [("", None)] * (per_run - len(panels[run.run_id]))
        return [(image, sample if image is None else cell_title(run, sample, in_titles)) for sample, image in found]

    shown = [image for found in panels.values() for _, image in found if image is not None]
    if len(grid) == 1 and per_run > 1 and all(image.shape[1] >= STRIP_ASPECT * image.shape[0] for image in shown):
        # strips (adversarial rows, start | final) stack in their run's column instead of one long row
        columns = [cells_of(run) for run in grid[0]]
        entries, repeat = [[column[i] for column in columns] for i in range(per_run)], 1
    else:
        entries, repeat = [[entry for run in row for entry in cells_of(run)] for row in grid], per_run
    cells = [[image for image, _ in row] for row in entries]
    titles = [[title for _, title in row] for row in entries]
    headers = [setting(fast, run.params.get(fast)) for run in grid[0] for _ in range(repeat)] if headed else None
    row_labels = None
    if headed and len(varied) == 2:
        row_labels = [setting(varied[0], row[0].params.get(varied[0])) for row in grid]
    samples = [sample for found in panels.values() for sample, image in found if image is not None]
    return grid_figure(
        cells, titles, row_labels=row_labels, suptitle=title or caption(runs, samples), column_headers=headers
    )


def metrics_table(runs: Sequence[RunRecord], keys: Sequence[str] | None = None) -> list[dict]:
    """One row per run for a sweep's summary table: run name, status, the swept values and the run's
    summary metrics (keys without a ``/``: ``fooled_rate``, ``mean_final_probability``, ...).

    Every row has the same columns, in the same order (a metric a run lacks is ``None``), so the rows
    write straight to CSV or ``mlflow.log_table``.

    Args:
        runs: the sweep's runs, in sweep order.
        keys: the swept params (default: those that differ between ``runs``).
    """
    keys = list(varied_params(runs) if keys is None else keys)
    metrics = sorted({key for run in runs for key in run.metrics if "/" not in key})
    return [
        {"run": run.run_name, "status": run.status}
        | {key: run.params.get(key) for key in keys}
        | {key: run.metrics.get(key) for key in metrics}
        for run in runs
    ]


def figure_runs(uri: str, figure: str) -> list[RunRecord]:
    """The runs of the newest multirun tagged ``figure=<figure>``, in sweep order.

    A multirun with a parent run (tagged with the figure) is that parent's children, whatever their
    status; otherwise (multiruns made before parent runs) the finished runs sharing the newest ``sweep_id``.
    """
    tagged = search_runs(uri, {"figure": figure}, finished_only=False)
    children = [run for run in tagged if PARENT_TAG in run.tags]
    if children:  # the newest multirun with a parent run: the parent of the newest child
        newest = max(children, key=lambda r: (r.start_time, r.run_id))
        return find_children(uri, newest.tags[PARENT_TAG])
    tops = [run for run in tagged if run.status == "FINISHED"]
    if tops:  # a parent tagged with the figure whose children do not carry the tag themselves
        found = find_children(uri, max(tops, key=lambda r: (r.start_time, r.run_id)).run_id)
        if found:
            return found
    return latest_sweep(tops)


def compose_figure(figure: str, uri: str | None = None, output: str | Path | None = None) -> Path:
    """Draw the newest multirun tagged ``figure=<figure>`` in the store at ``uri`` into ``output``.

    Args:
        figure: the figure's tag (``fig7``), set by ``experiments/<figure>.yaml``.
        uri: the tracking store (default: the project's ``mlflow.db``).
        output: the PNG to write (default: ``figures/<figure>.png``).

    Returns:
        The path written.
    """
    from netviz.figures import save_figure
    from netviz.tracking import default_tracking_uri, sqlite_path

    uri = uri or default_tracking_uri()
    store = sqlite_path(uri)
    if store is not None and not store.is_file():
        raise NetvizError(
            f"no tracking store at {store}; run `make {figure}` first or give tracking.uri=<the runs' store>"
        )
    runs = figure_runs(uri, figure)
    if not any(run.status == "FINISHED" for run in runs):
        raise NetvizError(f"no finished runs tagged figure={figure} in {uri}; run `make {figure}` first")
    return save_figure(sweep_figure(uri, runs), output or Path("figures") / f"{figure}.png")


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; bad input or an empty store ends in one line and exit status 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -m netviz.compose FIGURE [tracking.uri=URI] [--output PATH]"
    output = None
    if "--output" in args:
        at = args.index("--output")
        if at + 1 >= len(args):
            print(f"netviz: error: --output needs a path; {usage}", file=sys.stderr)
            return 2
        output = args[at + 1]
        del args[at : at + 2]
    names = [a for a in args if "=" not in a and not a.startswith("-")]
    settings = dict(a.split("=", 1) for a in args if "=" in a)
    if len(names) != 1:
        print(f"netviz: error: give one figure name; {usage}", file=sys.stderr)
        return 2
    uri = settings.get("tracking.uri")
    try:
        path = compose_figure(names[0], None if uri in (None, "", "null") else uri, output)
    except NetvizError as error:
        print(f"netviz: error: {error}", file=sys.stderr)
        return 2
    print(f"figure written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
