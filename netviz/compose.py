"""Compose one multirun's runs into one figure, read back from MLflow: ``python -m netviz.compose fig7``.

Each report figure (5-15) is one multirun tagged ``figure=<name>``. The composer takes the newest
such multirun from the store, lays out each run's final images with a title naming the value(s) the
sweep varied (``lr=0.1, iterations=1000``), a grid when the sweep has two axes, and writes
``figures/<name>.png``. Nothing is recomputed: a figure can be redrawn from the store at any time.

Usage::

    python -m netviz.compose fig7 [tracking.uri=sqlite:///path/mlflow.db] [--output figures/fig7.png]

Other ``key=value`` arguments are accepted and ignored, so that a Makefile can pass the same
``$(ARGS)`` to the runs and to the composer.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from netviz.errors import NetvizError
from netviz.runs import RunRecord, download_images, find_runs, latest_sweep, varied_params

# What a figure of one run (nothing varied) says about it in its title.
DESCRIBED_PARAMS = ("iterations", "lr", "l2", "classviz.blur_every")


def short_name(key: str) -> str:
    """A param's name without its technique's section: ``classviz.blur_every`` -> ``blur_every``."""
    return key.split(".", 1)[1] if key.startswith(("classviz.", "adversarial.", "saliency.")) else key


def describe(run: RunRecord, keys: Sequence[str]) -> str:
    """``"lr=0.1, iterations=1000"``: the run's values of ``keys``."""
    shown = []
    for key in keys:
        value = run.params.get(key, "?")
        shown.append(f"{short_name(key)}={'none' if value in ('None', 'null') else value}")
    return ", ".join(shown)


def cell_title(run: RunRecord, keys: Sequence[str], image: str) -> str:
    """The title over one of a run's images: the varied values, then which sample it is and the
    model's final probability for its target, where the run logged one."""
    probability = run.metrics.get(f"final_probability/{image}")
    sample = image.replace("_", " ") + ("" if probability is None else f" p={probability:.2f}")
    return f"{describe(run, keys)}\n{sample}"


def layout(runs: Sequence[RunRecord], varied: Sequence[str]) -> list[list[RunRecord]]:
    """Rows of runs: one row per value of the slowest-changing varied param when the sweep has two
    axes, else a single row, in sweep order."""
    if len(varied) != 2:
        return [list(runs)]
    rows: dict[str, list[RunRecord]] = {}
    for run in runs:
        rows.setdefault(run.params.get(varied[0], "?"), []).append(run)
    return list(rows.values())


def compose_figure(figure: str, uri: str | None = None, output: str | Path | None = None) -> Path:
    """Draw the newest multirun tagged ``figure=<figure>`` in the store at ``uri`` into ``output``.

    Args:
        figure: the figure's tag (``fig7``), set by ``experiments/<figure>.yaml``.
        uri: the tracking store (default: the project's ``mlflow.db``).
        output: the PNG to write (default: ``figures/<figure>.png``).

    Returns:
        The path written.
    """
    from netviz.figures import grid_figure, save_figure
    from netviz.tracking import default_tracking_uri, sqlite_path

    uri = uri or default_tracking_uri()
    store = sqlite_path(uri)
    if store is not None and not store.is_file():
        raise NetvizError(f"no tracking store at {store}; run `make {figure}` first or give tracking.uri=<the runs' store>")
    runs = latest_sweep(find_runs(uri, {"figure": figure}))
    if not runs:
        raise NetvizError(f"no finished runs tagged figure={figure} in {uri}; run `make {figure}` first")
    varied = varied_params(runs)
    keys = varied or [k for k in DESCRIBED_PARAMS if k in runs[0].params]
    cells, titles = [], []
    for row in layout(runs, varied):
        row_cells, row_titles = [], []
        for run in row:
            images = download_images(uri, run)
            for name, image in images.items():
                row_cells.append(image)
                row_titles.append(cell_title(run, keys, name))
        cells.append(row_cells)
        titles.append(row_titles)
    first = runs[0]
    fixed = "" if not varied else ": " + describe(first, [k for k in DESCRIBED_PARAMS if k in first.params and k not in varied])
    suptitle = f"{figure}, {first.tags.get('technique', '')} with {first.tags.get('model', '')}{fixed}"
    path = save_figure(grid_figure(cells, titles, suptitle=suptitle, cell_inches=2.6), output or Path("figures") / f"{figure}.png")
    return path


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
