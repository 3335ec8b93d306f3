"""The transfer table: how often adversarial images made against one model fool the others.

Liu, Chen, Liu and Song (2017), "Delving into Transferable Adversarial Examples and Black-box
Attacks", tabulate attacks this way: one row per source (the attacked model or ensemble, the method
and its L-infinity budget), one column per model that classifies the images, each cell the share of
pairs that fool that model. Every finished ``technique=adversarial`` run holds one source's pairs
and, per evaluated model and pair, whether the model predicts the target (``transfer/<model>/
targeted/<pair>``) and whether its prediction left its own on the clean image (``.../untargeted/
<pair>``). This module reads those back from MLflow, pools the runs of each row, and prints cells
``targeted%/untargeted% (n pairs)``; ``--figure`` draws the table as two heat maps. A cell whose model
is one of the source's attacked models is white-box (marked ``*``): the attack saw its gradients.

Usage::

    python -m netviz.transfer [--tracking-uri sqlite:///mlflow.db] [--experiment adversarial] [--figure PATH]
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from netviz.errors import NetvizError

METHOD_ORDER = ("naive", "fgsm", "pgd", "eot")
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")
_PAIR_METRIC = re.compile(r"^transfer/(?P<model>[^/]+)/(?P<kind>targeted|untargeted)/(?P<pair>.+)$")


@dataclass(frozen=True)
class Source:
    """What made a run's adversarial images: the attacked models, the method, the budget (0-255 units)."""

    models: tuple[str, ...]
    method: str
    eps: float | None  # None for the naive method, which has no budget
    targeted: bool = True

    def label(self) -> str:
        budget = "" if self.eps is None else f" eps={self.eps:g}"
        return f"{'+'.join(self.models)} {self.method}{budget}{'' if self.targeted else ' untargeted'}"

    def sort_key(self) -> tuple:
        method = METHOD_ORDER.index(self.method) if self.method in METHOD_ORDER else len(METHOD_ORDER)
        return (len(self.models), self.models, method, self.eps or 0.0, not self.targeted)


@dataclass
class Cell:
    """The pairs of one (source, evaluated model) cell, pooled over runs."""

    pairs: int = 0
    targeted: int = 0  # pairs the model classifies as the target
    untargeted: int = 0  # pairs whose prediction left the model's own on the clean image
    targeted_pairs: int = 0  # pairs with a targeted verdict (untargeted runs have none)

    def text(self) -> str:
        untargeted = f"{100 * self.untargeted / self.pairs:.0f}%" if self.pairs else "-"
        targeted = f"{100 * self.targeted / self.targeted_pairs:.0f}%" if self.targeted_pairs else "-"
        return f"{targeted}/{untargeted} ({self.pairs})"


def read_run(params: dict[str, str], tags: dict[str, str], metrics: dict[str, float]) -> tuple[Source, dict[str, Cell]]:
    """One run's source and its per-model cells, from what ``technique=adversarial`` records.

    The only place that knows those names: tag ``model`` (the attacked model), params
    ``adversarial.method``, ``adversarial.eps``, ``adversarial.ensemble``, ``adversarial.targeted``,
    and per-pair metrics ``transfer/<model>/<targeted|untargeted>/<pair>`` (1 fooled, 0 not).
    """
    models = [tags.get("model") or params.get("model.name", "?")]
    for member in _as_list(params.get("adversarial.ensemble", "[]")):
        if member not in models:
            models.append(member)
    method = params.get("adversarial.method", "naive")
    eps = None if method == "naive" else float(params.get("adversarial.eps", "nan"))
    targeted = params.get("adversarial.targeted", "True").lower() == "true"
    cells: dict[str, Cell] = defaultdict(Cell)
    for name, value in metrics.items():
        match = _PAIR_METRIC.match(name)
        if not match:
            continue
        cell, fooled = cells[match["model"]], int(value > 0.5)
        if match["kind"] == "targeted":
            cell.targeted += fooled
            cell.targeted_pairs += 1
        else:
            cell.untargeted += fooled
            cell.pairs += 1
    return Source(tuple(models), method, eps, targeted), dict(cells)


def _as_list(text: str) -> list[str]:
    """A list param as MLflow stores it (``"['a', 'b']"`` or ``"[a, b]"``) as names."""
    try:
        value = ast.literal_eval(text)
        if isinstance(value, (list, tuple)):
            return [str(v) for v in value]
    except (ValueError, SyntaxError):
        pass
    return [part.strip(" '\"") for part in text.strip("[]").split(",") if part.strip(" '\"")]


@dataclass
class TransferTable:
    """Rows (sources), columns (evaluated models) and ``cells[source][model]``, with the runs per row."""

    sources: list[Source]
    models: list[str]
    cells: dict[Source, dict[str, Cell]]
    runs: dict[Source, int]

    def cell(self, source: Source, model: str) -> Cell | None:
        return self.cells[source].get(model)

    def format(self) -> str:
        """The table as text, white-box cells marked ``*``."""
        if not self.sources:
            return "no finished adversarial runs with per-pair transfer metrics"
        rows = [["source \\ evaluated on", *self.models]]
        for source in self.sources:
            cells = []
            for model in self.models:
                cell = self.cell(source, model)
                cells.append("-" if cell is None else cell.text() + ("*" if model in source.models else ""))
            rows.append([source.label(), *cells])
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(lines) + (
            "\n(cells: % of pairs fooled, targeted/untargeted, (pairs); * white-box: an attacked model)"
        )

    def figure(self):
        """Two heat maps side by side, targeted and untargeted % fooled, each cell annotated."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np

        fig, axes = plt.subplots(
            1, 2, figsize=(4 + 2.2 * len(self.models), 1.2 + 0.45 * len(self.sources)), constrained_layout=True
        )
        for ax, kind in zip(axes, ("targeted", "untargeted")):
            values = np.full((len(self.sources), len(self.models)), np.nan)
            for i, source in enumerate(self.sources):
                for j, model in enumerate(self.models):
                    cell = self.cell(source, model)
                    total = None if cell is None else (cell.targeted_pairs if kind == "targeted" else cell.pairs)
                    if total:
                        values[i, j] = 100 * (cell.targeted if kind == "targeted" else cell.untargeted) / total
                        mark = "*" if model in source.models else ""
                        ax.text(j, i, f"{values[i, j]:.0f}%{mark}\n({total})", ha="center", va="center", fontsize=7,
                                color="white" if values[i, j] < 50 else "black")
            image = ax.imshow(values, vmin=0, vmax=100, cmap="viridis", aspect="auto")
            ax.set_xticks(range(len(self.models)), self.models, rotation=20, ha="right", fontsize=8)
            ax.set_yticks(range(len(self.sources)), [s.label() for s in self.sources] if kind == "targeted" else [],
                          fontsize=7)
            ax.set_title(f"{kind}: % of pairs fooled (pairs)", fontsize=9)
        fig.colorbar(image, ax=axes, shrink=0.8, label="% fooled")
        fig.suptitle("Transfer of adversarial images (* white-box)", fontsize=10)
        return fig


def transfer_table(tracking_uri: str, experiment: str = "adversarial") -> TransferTable:
    """The table pooled over the experiment's finished runs (one row per source, one column per model)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise NetvizError(f"no experiment {experiment!r} in {tracking_uri}; run technique=adversarial first")
    runs = client.search_runs(
        [found.experiment_id], filter_string="attributes.status = 'FINISHED'", max_results=50000
    )
    cells: dict[Source, dict[str, Cell]] = defaultdict(dict)
    run_counts: dict[Source, int] = defaultdict(int)
    models: list[str] = []
    for run in runs:
        source, run_cells = read_run(run.data.params, run.data.tags, run.data.metrics)
        if not run_cells:
            continue
        run_counts[source] += 1
        for model, cell in run_cells.items():
            if model not in models:
                models.append(model)
            pooled = cells[source].setdefault(model, Cell())
            pooled.pairs += cell.pairs
            pooled.targeted += cell.targeted
            pooled.untargeted += cell.untargeted
            pooled.targeted_pairs += cell.targeted_pairs
    return TransferTable(sorted(cells, key=Source.sort_key), sorted(models), dict(cells), dict(run_counts))


def check_figure_path(path: str | None) -> Path | None:
    """The ``--figure`` path, checked before any work: an image suffix, a writable folder."""
    if path is None:
        return None
    figure = Path(path).expanduser()
    if figure.is_dir():
        raise NetvizError(f"--figure {path} is a folder; give a file name such as {figure / 'transfer.png'}")
    if figure.suffix.lower() not in FIGURE_SUFFIXES:
        raise NetvizError(f"--figure {path}: give a file ending in {', '.join(FIGURE_SUFFIXES)}")
    try:
        figure.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NetvizError(f"--figure {path}: cannot create its folder ({error.strerror})") from None
    if not os.access(figure.parent, os.W_OK):
        raise NetvizError(f"--figure {path}: the folder {figure.parent} is not writable")
    return figure


def main(argv: Sequence[str] | None = None) -> int:
    """Print the transfer table of a tracking store; bad input ends in one line and exit status 2."""
    from netviz.tracking import default_tracking_uri

    parser = argparse.ArgumentParser(prog="python -m netviz.transfer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracking-uri", default=default_tracking_uri(), help="MLflow store (default: the project's mlflow.db)")
    parser.add_argument("--experiment", default="adversarial", help="the MLflow experiment of the adversarial runs")
    parser.add_argument("--figure", default=None, help="also draw the table as heat maps into this .png/.pdf/.svg")
    args = parser.parse_args(argv)
    try:
        figure = check_figure_path(args.figure)
        table = transfer_table(args.tracking_uri, args.experiment)
        print(table.format())
        if figure is not None and table.sources:
            table.figure().savefig(figure, dpi=150)
            print(f"figure: {figure}")
    except NetvizError as error:
        print(f"netviz: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
