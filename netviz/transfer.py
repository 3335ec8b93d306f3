"""The transfer table: how often adversarial images made against one model fool the others.

Every ``technique=adversarial`` run logs, for each attacked model and each of
``adversarial.eval_models``, the rate at which its adversarial images fool that model
(``transfer/<model>/targeted_rate`` and ``.../untargeted_rate``) and how many pairs it made
(``pairs``). This module reads finished runs back from MLflow and prints one row per source (the
attacked model or ensemble, and the method) and one column per evaluated model, pooling the runs of a
row weighted by their pairs (Liu et al. 2017 report their transfer results this way).

Usage::

    python -m netviz.transfer [--tracking-uri sqlite:///mlflow.db] [--experiment adversarial]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from netviz.errors import NetvizError

_METRIC = re.compile(r"^transfer/(?P<model>[^/]+)/(?P<kind>targeted|untargeted)_rate$")


@dataclass
class Cell:
    """Pooled counts of one (source, evaluated model) cell."""

    pairs: float = 0.0
    targeted: float = 0.0  # fooled pairs, targeted
    untargeted: float = 0.0
    targeted_pairs: float = 0.0  # pairs of targeted runs (untargeted runs have no targeted rate)

    def text(self) -> str:
        untargeted = f"{100 * self.untargeted / self.pairs:.0f}%"
        if not self.targeted_pairs:
            return f"-/{untargeted}"
        return f"{100 * self.targeted / self.targeted_pairs:.0f}%/{untargeted}"


def source_name(params: dict[str, str]) -> str:
    """A run's source: ``<model>[+<ensemble members>] <method>[ eps=<eps>]`` from its params."""
    models = [params.get("model.name", "?")]
    ensemble = params.get("adversarial.ensemble", "[]").strip("[]")
    models += [m.strip(" '\"") for m in ensemble.split(",") if m.strip(" '\"") and m.strip(" '\"") not in models]
    method = params.get("adversarial.method", "naive")
    budget = "" if method == "naive" else f" eps={params.get('adversarial.eps', '?')}"
    kind = "" if params.get("adversarial.targeted", "True") == "True" else " untargeted"
    return f"{'+'.join(models)} {method}{budget}{kind}"


def transfer_table(tracking_uri: str, experiment: str = "adversarial") -> tuple[list[str], list[str], dict]:
    """``(sources, models, cells)`` pooled over the experiment's finished runs; ``cells[source][model]``."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise NetvizError(f"no experiment {experiment!r} in {tracking_uri}; run technique=adversarial first")
    cells: dict[str, dict[str, Cell]] = defaultdict(lambda: defaultdict(Cell))
    models: list[str] = []
    runs = client.search_runs([found.experiment_id], filter_string="attributes.status = 'FINISHED'", max_results=10000)
    for run in runs:
        metrics, pairs = run.data.metrics, run.data.metrics.get("pairs", 0.0)
        source = source_name(run.data.params)
        for name, value in metrics.items():
            match = _METRIC.match(name)
            if not match:
                continue
            model, kind = match["model"], match["kind"]
            if model not in models:
                models.append(model)
            cell = cells[source][model]
            if kind == "targeted":
                cell.targeted += value * pairs
                cell.targeted_pairs += pairs
            else:
                cell.untargeted += value * pairs
                cell.pairs += pairs
    return sorted(cells), models, cells


def format_table(sources: Sequence[str], models: Sequence[str], cells: dict) -> str:
    """The table as text: cells ``targeted%/untargeted%`` fooled (``-`` where not measured)."""
    if not sources:
        return "no finished adversarial runs with transfer metrics"
    rows = [["source \\ evaluated on", *models]]
    for source in sources:
        rows.append([source, *(cells[source][m].text() if m in cells[source] else "-" for m in models)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines) + "\n(cells: % of pairs fooled, targeted/untargeted)"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the transfer table of a tracking store; a bad store ends in one line and exit status 2."""
    from netviz.tracking import default_tracking_uri

    parser = argparse.ArgumentParser(prog="python -m netviz.transfer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracking-uri", default=default_tracking_uri(), help="MLflow store (default: the project's mlflow.db)")
    parser.add_argument("--experiment", default="adversarial", help="the MLflow experiment of the adversarial runs")
    args = parser.parse_args(argv)
    try:
        print(format_table(*transfer_table(args.tracking_uri, args.experiment)))
    except NetvizError as error:
        print(f"netviz: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
