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

``--rejudge m1,m2,...`` judges the images again instead of reading the runs' verdicts: each run's
stored 8-bit original and adversarial images (cut from its ``panels/``) are classified by every
named model as a user would feed them, resized and cropped to that model's own input size
(:meth:`~netviz.models.Classifier.predict_pixels`). Use it when the models' input sizes differ and
the runs judged the images at the attacked model's size.

Usage::

    python -m netviz.transfer [--tracking-uri sqlite:///mlflow.db] [--experiment adversarial] [--figure PATH]
                              [--rejudge efficientnet_lite0,efficientnet_lite1,efficientnet_lite2]
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
from netviz.figures import check_figure_path

METHOD_ORDER = ("naive", "fgsm", "pgd", "eot")
_RATE_METRIC = re.compile(r"^transfer/(?P<model>[^/]+)/(?P<kind>targeted|untargeted)_rate$")


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
    the run's ``pairs`` and, per evaluated model, ``transfer/<model>/<targeted|untargeted>_rate``
    (the share of pairs fooled: rate x pairs is the count). The attacked model judges its own images
    under ``valid_image_fooled_rate``, not as transfer; ``--rejudge`` fills that white-box cell.
    """
    models = [tags.get("model") or params.get("model.name", "?")]
    for member in _as_list(params.get("adversarial.ensemble", "[]")):
        if member not in models:
            models.append(member)
    method = params.get("adversarial.method", "naive")
    eps = None if method == "naive" else float(params.get("adversarial.eps", "nan"))
    targeted = params.get("adversarial.targeted", "True").lower() == "true"
    pairs = int(round(metrics.get("pairs", 0)))
    cells: dict[str, Cell] = defaultdict(Cell)
    for name, value in metrics.items():
        match = _RATE_METRIC.match(name)
        if not match:
            continue
        cell, fooled = cells[match["model"]], int(round(value * pairs))
        if match["kind"] == "targeted":
            cell.targeted, cell.targeted_pairs = fooled, pairs
        else:
            cell.untargeted, cell.pairs = fooled, pairs
    return Source(tuple(models), method, eps, targeted), dict(cells)


PANEL_GAP = 4  # pixels between the cells of an adversarial panel (netviz.figures.side_by_side)


def stored_images(client, run_id: str) -> tuple[list[str], "torch.Tensor", "torch.Tensor"]:
    """``(pair names, originals, adversarials)`` of a run: the 8-bit images it saved, as pixels
    ``(P, 3, S, S)`` in [0, 1], cut from ``panels/<pair>.png`` (original | adversarial | difference
    | difference x10, ``PANEL_GAP`` white pixels apart: ``AdversarialResult.panels``)."""
    import tempfile

    import numpy as np
    import torch
    from PIL import Image

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per run is noise here
    with tempfile.TemporaryDirectory(prefix="netviz-transfer-") as tmp:
        try:
            folder = Path(client.download_artifacts(run_id, "panels", tmp))
        except Exception as exc:  # noqa: BLE001 - a missing or unreadable artifact is the same problem
            raise NetvizError(f"run {run_id} has no panels/ to judge again ({type(exc).__name__})") from None
        names, originals, adversarials = [], [], []
        for path in sorted(folder.glob("*.png")):
            panel = np.asarray(Image.open(path).convert("RGB"))
            side = panel.shape[0]
            if panel.shape[1] != 4 * side + 3 * PANEL_GAP:
                raise NetvizError(f"run {run_id}: {path.name} is not an adversarial panel of 4 images")
            names.append(path.stem)
            originals.append(panel[:, :side])
            adversarials.append(panel[:, side + PANEL_GAP : 2 * side + PANEL_GAP])
    as_pixels = lambda images: torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div(255)  # noqa: E731
    return names, as_pixels(originals), as_pixels(adversarials)


def judge(models: Sequence, names: Sequence[str], originals, adversarials) -> dict[str, Cell]:
    """Each model's verdict on stored pairs ``"<image> to <target>"`` (or ``"<image> from <class>"``,
    untargeted): fooled targeted when it predicts the target, untargeted when its prediction on the
    adversarial image differs from its own on the original, each image fed at the model's own size."""
    from netviz.naming import metric_name

    cells = {}
    for model in models:
        classes = {metric_name(c): i for i, c in enumerate(model.categories)}
        clean = model.predict_pixels(originals).argmax(1).tolist()
        predicted = model.predict_pixels(adversarials).argmax(1).tolist()
        cell = cells[model.name] = Cell()
        for name, before, after in zip(names, clean, predicted):
            cell.pairs += 1
            cell.untargeted += int(after != before)
            if " to " in name:
                target = name.rsplit(" to ", 1)[1]
                if target not in classes:
                    raise NetvizError(f"pair {name!r}: {target!r} is not a class of {model.name}")
                cell.targeted_pairs += 1
                cell.targeted += int(after == classes[target])
    return cells


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


def transfer_table(tracking_uri: str, experiment: str = "adversarial", rejudge: Sequence | None = None) -> TransferTable:
    """The table pooled over the experiment's finished runs (one row per source, one column per model).

    Args:
        rejudge: classifiers that judge every run's stored images again (:func:`judge`) instead of
            reading the runs' own verdicts; ``None`` reads the verdicts.
    """
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
        if rejudge is not None:
            run_cells = judge(rejudge, *stored_images(client, run.info.run_id))
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


def main(argv: Sequence[str] | None = None) -> int:
    """Print the transfer table of a tracking store; bad input ends in one line and exit status 2."""
    from netviz.tracking import default_tracking_uri

    parser = argparse.ArgumentParser(prog="python -m netviz.transfer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracking-uri", default=default_tracking_uri(), help="MLflow store (default: the project's mlflow.db)")
    parser.add_argument("--experiment", default="adversarial", help="the MLflow experiment of the adversarial runs")
    parser.add_argument("--figure", default=None, help="also draw the table as heat maps into this .png/.pdf/.svg")
    parser.add_argument("--rejudge", default=None, help="comma-separated models that judge the stored images again, each at its own size")
    args = parser.parse_args(argv)
    try:
        figure = None if args.figure is None else check_figure_path(args.figure, "--figure ")
        judges = None
        if args.rejudge:
            from netviz.ensemble import load_models

            judges = load_models([name.strip() for name in args.rejudge.split(",") if name.strip()])
        table = transfer_table(args.tracking_uri, args.experiment, judges)
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
