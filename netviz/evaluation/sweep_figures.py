"""A saliency sweep's figures comparing its methods, drawn on the parent run from what the children logged.

A multirun over ``saliency.method`` with ``saliency.evaluate=[...]`` leaves one child run per method.
Its parent run gets, next to the generic summary (:func:`netviz.sweep.write_summary`):

- ``summary/deletion.png``, ``summary/insertion.png``: each method's mean probability curve over the
  images (Petsiuk et al. 2018), one line per method, its AUC (the child's ``deletion_auc``) in the legend;
- ``summary/randomization_curve.png``: the similarity of each method's maps to the trained model's
  after each cascade step (Adebayo et al. 2018), a plot per measure (Spearman, SSIM, HOG), a line per method;
- ``summary/randomization.png``: the first image's maps along the cascade, one row per method;
- ``summary/fragility.png``: the first image's map and its map after the top-k attack at each budget
  (Ghorbani et al. 2019), one row per method, each titled with its top-k intersection.

Nothing is recomputed: curves are the children's step metrics (``deletion_curve/<sample>``, ...),
values their metrics and pictures their panels, read with ``MlflowClient`` (the store may be a
server's, the children may have run elsewhere). Sweeps of anything else get none of these.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from netviz.naming import file_name, metric_name
from netviz.runs import RunRecord, artifact_path, read_results

# The curves a deletion/insertion child logs, and what their x axis is.
PROBABILITY_CURVES = {"deletion": "share of pixels removed", "insertion": "share of pixels inserted"}
# The cascade's similarity measures (``randomization_<measure>_curve``), as a y axis names them.
RANDOMIZATION_MEASURES = {"spearman": "Spearman rank correlation", "ssim": "SSIM", "hog": "HOG Pearson correlation"}
# Run-level metrics that say a child's maps were evaluated (``saliency.evaluate`` was not empty).
EVALUATION_METRIC = re.compile(r"^(deletion_auc|insertion_auc|randomization_\w+|invariance_\w+|fragility_\w+|pointing_game|mass_ratio)$")
FRAGILITY_TOPK = re.compile(r"^fragility_topk_eps([0-9.eE+-]+)$")
STRIP_GAP_PX = 4  # the white gap netviz.figures.side_by_side leaves between a strip's pictures
SHOWN_IMAGE = 0  # the image whose cascade and fragility pictures the parent shows (every child draws it)


@dataclass(frozen=True)
class Line:
    """One method's line in a comparison plot.

    Attributes:
        label: the method (the child's swept values).
        x: where the curve is sampled (share of pixels, or cascade steps).
        y: the mean over the child's images of its logged curves, at each ``x``.
        images: how many images the mean is over.
        auc: the child's logged area under the curve (deletion/insertion), else ``None``.
    """

    label: str
    x: list[float]
    y: list[float]
    images: int
    auc: float | None = None


def evaluated_runs(runs: Sequence[RunRecord]) -> list[RunRecord]:
    """The finished saliency runs among ``runs`` whose maps were evaluated (``saliency.evaluate``)."""
    return [
        run
        for run in runs
        if run.status == "FINISHED"
        and run.tags.get("technique") == "saliency"
        and any(EVALUATION_METRIC.match(key) for key in run.metrics)
    ]


def method_labels(runs: Sequence[RunRecord]) -> list[str]:
    """What tells each run apart in a legend or row label: its swept values (``gradcam``), else its method."""
    from netviz.compose import format_value, setting
    from netviz.runs import varied_params

    varied = varied_params(runs)
    if len(varied) == 1:
        return [format_value(run.params.get(varied[0])) for run in runs]
    if varied:
        return [", ".join(setting(key, run.params.get(key)) for key in varied) for run in runs]
    return [run.params.get("saliency.method", run.run_name) for run in runs]


def image_curves(uri: str, run: RunRecord, name: str, samples: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """``{metric_name(sample): values by step}``: a run's logged per-image curves ``<name>_curve/<sample>``
    (of every image, or of ``samples``)."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    prefix = f"{name}_curve/"
    wanted = None if samples is None else {prefix + metric_name(sample) for sample in samples}
    curves = {}
    for key in sorted(k for k in run.metrics if k.startswith(prefix) and (wanted is None or k in wanted)):
        history = sorted(client.get_metric_history(run.run_id, key), key=lambda m: m.step)
        curves[key[len(prefix):]] = np.array([m.value for m in history], dtype=np.float64)
    return curves


def mean_lines(uri: str, runs: Sequence[RunRecord], name: str) -> list[Line]:
    """One :class:`Line` per run that logged curves ``name`` (``deletion``, ``randomization_spearman``):
    the mean of its images' curves. Deletion/insertion curves are sampled at shares ``0, 1/k, ..., 1``
    of the pixels and carry the run's ``<name>_auc``; cascade curves at ``1, 2, ...`` blocks re-initialized."""
    lines = []
    for run, label in zip(runs, method_labels(runs)):
        curves = list(image_curves(uri, run, name).values())
        if not curves or len({len(c) for c in curves}) != 1:
            continue
        mean = np.mean(curves, axis=0)
        steps = len(mean)
        if name in PROBABILITY_CURVES:
            x = np.linspace(0, 1, steps).tolist()
            auc = run.metrics.get(f"{name}_auc")
        else:
            x, auc = [float(s + 1) for s in range(steps)], None
        lines.append(Line(label, x, mean.tolist(), len(curves), auc))
    return lines


def curve_figure(panels: Sequence[tuple[str, str, str, Sequence[Line]]], suptitle: str):
    """A figure of one plot per ``(title, x label, y label, lines)``, side by side, one line per method
    (legend: the method, and its AUC where it has one)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(5.2 * len(panels), 3.8), dpi=120)
    FigureCanvasAgg(figure)
    for axes, (title, x_label, y_label, lines) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
        for line in lines:
            label = line.label if line.auc is None else f"{line.label} (AUC {line.auc:.3f})"
            axes.plot(line.x, line.y, marker="o" if len(line.x) <= 12 else None, markersize=3, label=label)
        axes.set_title(title, fontsize=10)
        axes.set_xlabel(x_label)
        axes.set_ylabel(y_label)
        axes.grid(alpha=0.3)
        if all(float(x).is_integer() for line in lines for x in line.x):  # cascade steps: whole blocks
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(fontsize=8)
    figure.suptitle(suptitle, fontsize=10)
    figure.tight_layout()
    return figure


def strip_cells(strip: np.ndarray, gap: int = STRIP_GAP_PX) -> list[np.ndarray]:
    """The square pictures of a panel strip (:func:`netviz.figures.side_by_side` of ``H x H`` pictures)."""
    height, width = strip.shape[:2]
    count = (width + gap) // (height + gap)
    if count < 1 or count * height + (count - 1) * gap != width:
        return [strip]  # not a strip of squares: shown whole
    return [strip[:, i * (height + gap) : i * (height + gap) + height] for i in range(count)]


def download_panel(uri: str, run: RunRecord, name: str) -> np.ndarray | None:
    """A run's panel ``panels/<file_name(name)>.png`` as uint8 RGB, or ``None`` when it has none."""
    from PIL import Image

    try:
        with artifact_path(uri, run, f"panels/{file_name(name)}.png") as path:
            return np.asarray(Image.open(path).convert("RGB"))
    except Exception:  # noqa: BLE001 - a run without that panel (an older run, another metric set)
        return None


def shown_sample(uri: str, run: RunRecord) -> str | None:
    """The name of the image a run's cascade and fragility panels show first (its ``results.json`` order)."""
    rows = read_results(uri, run)
    return rows[SHOWN_IMAGE].get("image") if len(rows) > SHOWN_IMAGE else None


def cascade_grid(uri: str, runs: Sequence[RunRecord]):
    """The first image's maps along the cascade, one row per method (a grid figure), or ``None``.

    Columns: the image, the trained model's map, then the map after re-initializing 1, 2, ... top
    blocks; each map after a step is titled with its Spearman correlation to the trained map."""
    from netviz.figures import grid_figure

    cells, titles, labels, sample = [], [], [], None
    for run, label in zip(runs, method_labels(runs)):
        strip = download_panel(uri, run, f"randomization cascade {SHOWN_IMAGE}")
        if strip is None:
            continue
        sample = shown_sample(uri, run)
        maps = strip_cells(strip)
        image = download_panel(uri, run, sample) if sample else None
        spearman = image_curves(uri, run, "randomization_spearman", [sample] if sample else []).get(metric_name(sample or ""), [])
        cells.append([None if image is None else strip_cells(image)[0], *maps])
        titles.append(["", "", *(f"ρ {value:.2f}" for value in spearman[: len(maps) - 1])])
        labels.append(label)
    if not cells:
        return None
    steps = max(len(row) for row in cells) - 2
    headers = ["image", "trained", *(f"{s} block{'s' if s > 1 else ''} re-initialized" for s in range(1, steps + 1))]
    suptitle = f"Cascading randomization (Adebayo et al. 2018) of {sample}: top blocks re-initialized in turn"
    return grid_figure(cells, titles, row_labels=labels, suptitle=suptitle, column_headers=headers)


def fragility_budgets(run: RunRecord) -> list[str]:
    """The run's fragility budgets as its metric names spell them (``4``, ``0.5``), in the order it attacked."""
    import yaml

    logged = {m.group(1) for key in run.metrics if (m := FRAGILITY_TOPK.match(key))}
    try:
        order = [f"{float(b):g}" for b in yaml.safe_load(run.params.get("saliency.evaluation.eps", ""))]
    except (TypeError, ValueError, yaml.YAMLError):
        order = []
    return order if set(order) == logged else sorted(logged, key=float)


def fragility_grid(uri: str, runs: Sequence[RunRecord]):
    """The first image's map and its maps after the top-k attack at each budget, one row per method
    (a grid figure), each attacked map titled with its top-k intersection with the original; or ``None``."""
    from netviz.figures import grid_figure

    cells, titles, labels, headers, sample = [], [], [], [], None
    for run, label in zip(runs, method_labels(runs)):
        strip = download_panel(uri, run, f"fragility {SHOWN_IMAGE}")
        budgets = fragility_budgets(run)
        parts = [] if strip is None else strip_cells(strip)
        if len(parts) != 2 + 2 * len(budgets) or not budgets:
            continue
        sample = shown_sample(uri, run)
        key = metric_name(sample or "")
        top_k = [run.metrics.get(f"fragility_topk_eps{b}/{key}") for b in budgets]
        cells.append([parts[0], parts[1], *parts[3::2]])
        titles.append(["", "", *("" if v is None else f"top-k overlap {v:.2f}" for v in top_k)])
        labels.append(label)
        if len(budgets) + 2 > len(headers):
            headers = ["image", "map", *(f"attacked, eps {b}/255" for b in budgets)]
    if not cells:
        return None
    suptitle = f"Fragility (Ghorbani et al. 2019) of {sample}'s map: the top-k attack keeping the predicted class"
    return grid_figure(cells, titles, row_labels=labels, suptitle=suptitle, column_headers=headers)


def evaluation_figures(uri: str, runs: Sequence[RunRecord]) -> dict:
    """The comparison figures (matplotlib Figures) of a saliency sweep's evaluated children, by name
    (``deletion``, ``insertion``, ``randomization_curve``, ``randomization``, ``fragility``), for
    those the children's logs can draw; ``{}`` for a sweep of anything else."""
    runs = evaluated_runs(runs)
    if not runs:
        return {}
    model = runs[0].tags.get("model", "")
    figures = {}
    for name, x_label in PROBABILITY_CURVES.items():
        lines = mean_lines(uri, runs, name)
        if lines:
            images = max(line.images for line in lines)
            figures[name] = curve_figure(
                [(name.capitalize(), x_label, "target probability (mean over images)", lines)],
                f"{name.capitalize()} (Petsiuk et al. 2018): {model}, mean of {images} images",
            )
    measured = [(label, mean_lines(uri, runs, f"randomization_{m}")) for m, label in RANDOMIZATION_MEASURES.items()]
    measured = [(f"{label} to the trained map", "top blocks re-initialized", label, lines) for label, lines in measured if lines]
    if measured:
        figures["randomization_curve"] = curve_figure(measured, f"Cascading randomization (Adebayo et al. 2018): {model}, mean over images")
    for name, draw in (("randomization", cascade_grid), ("fragility", fragility_grid)):
        figure = draw(uri, runs)
        if figure is not None:
            figures[name] = figure
    return figures


def write_evaluation_figures(uri: str, runs: Sequence[RunRecord], folder: Path) -> dict[str, Path]:
    """:func:`evaluation_figures` as PNGs in ``folder``: ``{"deletion": folder/deletion.png, ...}``."""
    from netviz.figures import save_figure

    return {name: save_figure(figure, folder / f"{name}.png") for name, figure in evaluation_figures(uri, runs).items()}
